/* pve-hook.h: the Proxmox hookscript phases and `kvmtune pve-apply`, the
 * edge that reads the VM config, the policy, the host and the bookings,
 * calls the pure modules and writes the result.
 *
 *   pre-start   place the VM on what the other bookings leave free, check
 *               the free hugepages, book it; FALSE refuses the start
 *   post-start  pin the QEMU threads to the booking
 *   pre-stop    nothing
 *   post-stop   release the booking
 *
 * Proxmox runs the hookscript while it holds the VM's config lock, so no
 * phase takes that lock; pve-apply does (Proxmox's own lock file). */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct {
    const char *pve_root;     /* /etc/pve: configs in qemu-server/<vmid>.conf */
    const char *run_dir;      /* /var/run: pid files in qemu-server/<vmid>.pid */
    const char *state_dir;    /* /var/lib/kvmtune/pve: bookings */
    const char *lock_dir;     /* /var/lock/qemu-server: Proxmox's config locks */
    const char *policy_path;  /* /etc/kvmtune/policy.yaml */
    const char *sysroot;      /* / : the host's sysfs */
    const char *proc_root;    /* /proc */
} KtPveEnv;

typedef enum {
    KT_PVE_PHASE_PRE_START,
    KT_PVE_PHASE_POST_START,
    KT_PVE_PHASE_PRE_STOP,
    KT_PVE_PHASE_POST_STOP,
    KT_PVE_PHASE_LAST
} KtPvePhase;
#include "kt-enum.h"
KT_ENUM_DECL(kt_pve_phase);      /* "pre-start", "post-start", ... */

/* Runs one phase for VM @vmid.  *ret_message (may be NULL) is one line for
 * Proxmox's task log saying what was done; caller frees.  FALSE + @error:
 * KT_ERROR_NO_CAPACITY when the host cannot hold the VM (pre-start refuses),
 * other codes for broken input or I/O. */
gboolean kt_pve_hook_run(const KtPveEnv *env, guint vmid, KtPvePhase phase,
                         char **ret_message, GError **error);

/* Writes the native options of @vmid's placement into its config for the
 * next boot (the VM's current booking when it has one, else a fresh
 * placement on what the bookings leave free; nothing is booked).  With
 * @dry_run the file is left alone.  *ret_config (may be NULL) is the new
 * config text, *ret_changed whether it differs from the old one. */
gboolean kt_pve_apply(const KtPveEnv *env, guint vmid, bool dry_run,
                      char **ret_config, bool *ret_changed, char **ret_message,
                      GError **error);
