/* hook-config.h: where the qemu hook finds the host, kvmtuned, the policy
 * and its own state.
 *
 * libvirtd runs hooks with a scrubbed environment, so the installed hook
 * reads an optional key file; the environment (tests, manual runs) wins over
 * it key by key.  The first file found is used:
 *
 *   $KVMTUNE_HOOK_CONF
 *   <directory of the hook>/../kvmtune.conf   (/etc/libvirt/hooks/kvmtune.conf:
 *                                              outside qemu.d, so libvirt
 *                                              neither runs nor warns about it)
 *   <sysconfdir>/kvmtune/hook.conf
 *
 *   [hook]
 *   sysroot=/                        KVMTUNE_SYSROOT
 *   control=/run/kvmtune/control     KVMTUNE_CONTROL
 *   policy=/etc/kvmtune/policy.yaml  KVMTUNE_POLICY
 *   state_dir=/run/kvmtune-hook      KVMTUNE_STATE_DIR (not under /run/kvmtune:
 *                                    systemd removes kvmtuned's RuntimeDirectory
 *                                    when the daemon stops, and the hook's records
 *                                    must outlive a daemon restart)
 *   mdevctl_dir=<sysroot>/etc/mdevctl.d  KVMTUNE_MDEVCTL_DIR
 *   log=                             KVMTUNE_HOOK_LOG (one line per call; unset: none)
 *   timeout_ms=15000                 KVMTUNE_TIMEOUT_MS (place-incoming) */
#pragma once

#include <glib.h>

typedef struct {
    char *file;          /* the config file read, or NULL */
    char *sysroot;
    char *control;
    char *policy;
    char *state_dir;
    char *mdevctl_dir;
    char *log;           /* NULL: no log */
    guint timeout_ms;
} KtHookConfig;

/* @argv0 is the hook's own path as libvirt ran it (not resolved: the hook
 * may be a symlink into qemu.d).  NULL + @error when the file is unreadable
 * or malformed; a missing file is not an error. */
KtHookConfig *kt_hook_config_load(const char *argv0, GError **error);
void kt_hook_config_free(KtHookConfig *cfg);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtHookConfig, kt_hook_config_free)
