/* pve-apply.h: a KtPlacement written into a Proxmox VM config as the
 * native options Proxmox applies at the next boot.  Pure; no I/O.
 *
 *   affinity: <cpus>            every CPU the VM's threads may use (Proxmox
 *                               has no per-vCPU pinning; the hookscript's
 *                               post-start pins each thread inside it)
 *   numa: 1, numaN: cpus=..,hostnodes=..,memory=..,policy=bind
 *   hugepages: 2 | 1024         page size in MiB
 *   hostpciN: <parent>,mdev=<type> / <gpu> / <vf>
 *
 * Only these keys are touched; a part the placement leaves unset (cpu
 * policy none, no hugepages, no cells) leaves its keys alone. */
#pragma once

#include <glib.h>

#include "placement.h"
#include "pve-conf.h"
#include "pve-vm.h"

/* Edits @conf (the config @vm was read from).  Idempotent.  FALSE + @error
 * (KT_ERROR_UNSUPPORTED for a hugepage size Proxmox lacks, KT_ERROR_NO_CAPACITY
 * when no hostpci slot is free) leaves @conf partly edited: format it only
 * on success. */
gboolean kt_pve_apply_placement(KtPveConf *conf, const KtPveVm *vm,
                                const KtPlacement *pl, GError **error);

/* Proxmox's list syntax for a set: "0-3;8" (';' between ranges). */
char *kt_pve_format_list(const KtCpuset *set);
