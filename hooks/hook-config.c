/* hook-config.c: the hook's paths from its key file and environment; see
 * hook-config.h. */
#include "hook-config.h"

#include <string.h>

#include "kt-error.h"

#ifndef KT_SYSCONFDIR
#define KT_SYSCONFDIR "/etc"
#endif

#define GROUP "hook"
#define TIMEOUT_MS_DEFAULT 15000
#define TIMEOUT_MS_MAX (10 * 60 * 1000)

void
kt_hook_config_free(KtHookConfig *cfg)
{
    if (!cfg)
        return;
    g_free(cfg->file);
    g_free(cfg->sysroot);
    g_free(cfg->control);
    g_free(cfg->policy);
    g_free(cfg->state_dir);
    g_free(cfg->mdevctl_dir);
    g_free(cfg->log);
    g_free(cfg);
}

static char *
find_file(const char *argv0)
{
    const char *env = g_getenv("KVMTUNE_HOOK_CONF");
    g_autofree char *sys = NULL;

    if (env && *env)
        return g_strdup(env);
    if (argv0 && g_path_is_absolute(argv0)) {
        g_autofree char *dir = g_path_get_dirname(argv0);
        g_autofree char *path = g_build_filename(dir, "..", "kvmtune.conf", NULL);

        if (g_file_test(path, G_FILE_TEST_EXISTS))
            return g_steal_pointer(&path);
    }
    sys = g_build_filename(KT_SYSCONFDIR, "kvmtune", "hook.conf", NULL);
    if (g_file_test(sys, G_FILE_TEST_EXISTS))
        return g_steal_pointer(&sys);
    return NULL;
}

/* Environment over file over default; an empty environment value counts as
 * unset so `KVMTUNE_SYSROOT= hook` cannot turn "/" into "". */
static char *
pick(GKeyFile *kf, const char *key, const char *env, const char *def)
{
    const char *e = g_getenv(env);

    if (e && *e)
        return g_strdup(e);
    if (kf) {
        g_autofree char *v = g_key_file_get_string(kf, GROUP, key, NULL);

        if (v && *g_strstrip(v))
            return g_steal_pointer(&v);
    }
    return def ? g_strdup(def) : NULL;
}

KtHookConfig *
kt_hook_config_load(const char *argv0, GError **error)
{
    g_autoptr(KtHookConfig) cfg = g_new0(KtHookConfig, 1);
    g_autoptr(GKeyFile) kf = NULL;
    g_autofree char *timeout = NULL;
    g_autofree char *mdevctl_default = NULL;
    guint64 value;

    cfg->file = find_file(argv0);
    if (cfg->file) {
        g_autoptr(GError) local = NULL;

        kf = g_key_file_new();
        if (!g_key_file_load_from_file(kf, cfg->file, G_KEY_FILE_NONE, &local)) {
            if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
                g_clear_pointer(&kf, g_key_file_unref);
                g_clear_pointer(&cfg->file, g_free);
            } else {
                g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "%s: %s",
                            cfg->file, local->message);
                return NULL;
            }
        }
    }

    cfg->sysroot = pick(kf, "sysroot", "KVMTUNE_SYSROOT", "/");
    cfg->control = pick(kf, "control", "KVMTUNE_CONTROL", "/run/kvmtune/control");
    cfg->policy = pick(kf, "policy", "KVMTUNE_POLICY",
                       KT_SYSCONFDIR "/kvmtune/policy.yaml");
    cfg->state_dir = pick(kf, "state_dir", "KVMTUNE_STATE_DIR", "/run/kvmtune-hook");
    mdevctl_default = g_build_filename(cfg->sysroot, "etc", "mdevctl.d", NULL);
    cfg->mdevctl_dir = pick(kf, "mdevctl_dir", "KVMTUNE_MDEVCTL_DIR", mdevctl_default);
    cfg->log = pick(kf, "log", "KVMTUNE_HOOK_LOG", NULL);

    timeout = pick(kf, "timeout_ms", "KVMTUNE_TIMEOUT_MS", NULL);
    cfg->timeout_ms = TIMEOUT_MS_DEFAULT;
    if (timeout) {
        if (!g_ascii_string_to_unsigned(timeout, 10, 1, TIMEOUT_MS_MAX, &value, NULL)) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                        "%s: timeout_ms '%s' is not a number of milliseconds "
                        "(1..%u)", cfg->file ? cfg->file : "environment",
                        timeout, TIMEOUT_MS_MAX);
            return NULL;
        }
        cfg->timeout_ms = (guint)value;
    }

    if (!g_path_is_absolute(cfg->sysroot) || !g_path_is_absolute(cfg->state_dir)) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                    "%s: sysroot and state_dir must be absolute paths",
                    cfg->file ? cfg->file : "environment");
        return NULL;
    }
    return g_steal_pointer(&cfg);
}
