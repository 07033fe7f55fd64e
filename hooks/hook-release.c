/* hook-release.c: `release end`, undo the host preparation of a domain.
 *
 * Works from the hook's own record alone (not from the placement in the
 * XML): it removes exactly what prepare created, even if the definition
 * changed meanwhile. */
#include "hook-ops.h"

#include "domain.h"
#include "hook-state.h"
#include "kt-error.h"
#include "mdev.h"

gboolean
kt_hook_release(const KtHookConfig *cfg, const char *name, const char *xml,
                gsize len, GError **error)
{
    g_autoptr(KtDomain) dom = NULL;
    g_autoptr(KtRequest) req = NULL;
    g_autoptr(KtHookState) st = NULL;
    g_autoptr(KtHookRecord) rec = NULL;
    g_autoptr(KtHookRecord) left = NULL;
    g_autoptr(GError) first = NULL;
    guint i;

    dom = kt_domain_parse(xml, len, NULL);
    /* A readable domain without a placement was never recorded. */
    if (dom && !g_strstr_len(xml, (gssize)len, KT_PLACEMENT_NS))
        return TRUE;
    if (dom)
        req = kt_domain_read_request(dom, NULL);
    st = kt_hook_state_open(cfg->state_dir, error);
    if (!st)
        return FALSE;
    if (req && kt_mdev_uuid_valid(req->uuid)) {
        if (!kt_hook_state_load(st, req->uuid, &rec, error))
            return FALSE;
    } else if (!kt_hook_state_find_name(st, name, &rec, error)) {
        /* XML we cannot read: the record still knows the domain by name
         * (unique among running domains), and cleaning up matters more. */
        return FALSE;
    }
    if (!rec)
        return TRUE;

    /* An mdev that fails to go away (still open?) stays in the record, so
     * the next prepare of this domain reuses it and its release retries. */
    left = kt_hook_record_new(rec->uuid, rec->name);
    for (i = 0; i < rec->mdevs->len; i++) {
        const KtPlacementMdev *m = g_ptr_array_index(rec->mdevs, i);
        g_autoptr(GError) local = NULL;

        /* Persisted by mdevctl since prepare created it: the admin wants
         * it to stay. */
        if (kt_mdev_mdevctl_defined(cfg->mdevctl_dir, m->parent, m->uuid))
            continue;
        if (!kt_mdev_remove(cfg->sysroot, m->uuid, NULL, &local)) {
            kt_hook_record_add_mdev(left, m);
            if (!first)
                first = g_steal_pointer(&local);
        }
    }
    if (!kt_hook_state_delete(st, rec, error))
        return FALSE;
    if (left->mdevs->len > 0 && !kt_hook_state_save(st, left, error))
        return FALSE;
    if (first) {
        g_propagate_error(error, g_steal_pointer(&first));
        return FALSE;
    }
    return TRUE;
}
