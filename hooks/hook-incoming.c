/* hook-incoming.c: `migrate begin` (destination) and `restore begin`: the
 * only operations whose output libvirt uses.  The pins an incoming domain
 * carries were chosen on another host (or before a save) and mean nothing
 * here, so kvmtuned, which holds this host's ledger, re-places it.
 *
 * Also the best-effort notification sent at reconnect. */
#include "hook-ops.h"

#include <errno.h>
#include <string.h>

#include "control.h"
#include "domain.h"
#include "kt-error.h"
#include "policy.h"

#define NOTIFY_TIMEOUT_MS 200

/* What hooks.on_daemon_down says; a missing or broken policy means the
 * default (fail): passing a domain through unplaced must be asked for. */
static bool
fail_on_daemon_down(const KtHookConfig *cfg)
{
    g_autoptr(KtPolicy) policy = NULL;

    if (!g_file_test(cfg->policy, G_FILE_TEST_EXISTS))
        return true;
    policy = kt_policy_load(cfg->policy, NULL);
    if (!policy)
        return true;
    return policy->hooks_fail_on_daemon_down;
}

gboolean
kt_hook_incoming(const KtHookConfig *cfg, const char *xml, gsize len,
                 char **ret_xml, bool *ret_passthrough, GError **error)
{
    g_autoptr(GVariant) reply = NULL;
    g_autoptr(GError) local = NULL;
    g_autoptr(KtDomain) check = NULL;
    g_autofree char *text = NULL;
    GVariantBuilder b;
    const char *out = NULL;

    if (!g_utf8_validate(xml, (gssize)len, NULL) || memchr(xml, '\0', len)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "incoming domain XML is not UTF-8 text");
        return FALSE;
    }
    text = g_strndup(xml, len);

    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&b, "{sv}", "op", g_variant_new_string("place-incoming"));
    g_variant_builder_add(&b, "{sv}", "xml", g_variant_new_string(text));
    reply = kt_control_call(cfg->control, g_variant_builder_end(&b),
                            cfg->timeout_ms, &local);
    if (!reply) {
        /* KT_ERROR_IO is "could not reach kvmtuned or no answer in time";
         * any other code is kvmtuned's refusal and stands. */
        if (!g_error_matches(local, KT_ERROR, KT_ERROR_IO)) {
            g_set_error(error, KT_ERROR, local->domain == KT_ERROR ? local->code :
                        KT_ERROR_FAILED, "kvmtuned refused the incoming domain: %s",
                        local->message);
            return FALSE;
        }
        if (fail_on_daemon_down(cfg)) {
            g_set_error(error, KT_ERROR, KT_ERROR_IO,
                        "kvmtuned is unreachable (%s); refusing the incoming "
                        "domain because its placement on this host cannot be "
                        "decided (policy hooks.on_daemon_down: fail)",
                        local->message);
            return FALSE;
        }
        *ret_xml = g_steal_pointer(&text);
        if (ret_passthrough)
            *ret_passthrough = true;
        return TRUE;
    }

    if (!g_variant_lookup(reply, "xml", "&s", &out)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "kvmtuned's reply to place-incoming has no 'xml'");
        return FALSE;
    }
    /* libvirt would reject garbage with a worse message; say who made it. */
    check = kt_domain_parse(out, strlen(out), &local);
    if (!check) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "kvmtuned returned unusable XML: %s", local->message);
        return FALSE;
    }
    *ret_xml = g_strdup(out);
    if (ret_passthrough)
        *ret_passthrough = false;
    return TRUE;
}

void
kt_hook_notify(const KtHookConfig *cfg, const char *event, const char *name,
               const char *xml, gsize len)
{
    g_autoptr(KtDomain) dom = NULL;
    g_autoptr(KtRequest) req = NULL;
    g_autoptr(GVariant) reply = NULL;
    GVariantBuilder b;

    /* No socket, no daemon: don't pay for a connect attempt. */
    if (!g_file_test(cfg->control, G_FILE_TEST_EXISTS))
        return;
    dom = kt_domain_parse(xml, len, NULL);
    if (dom)
        req = kt_domain_read_request(dom, NULL);
    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&b, "{sv}", "op", g_variant_new_string("notify"));
    g_variant_builder_add(&b, "{sv}", "event", g_variant_new_string(event));
    if (name && g_utf8_validate(name, -1, NULL))
        g_variant_builder_add(&b, "{sv}", "name", g_variant_new_string(name));
    if (req && req->uuid)
        g_variant_builder_add(&b, "{sv}", "uuid", g_variant_new_string(req->uuid));
    reply = kt_control_call(cfg->control, g_variant_builder_end(&b),
                            NOTIFY_TIMEOUT_MS, NULL);
}
