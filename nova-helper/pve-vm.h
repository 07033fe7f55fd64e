/* pve-vm.h: KtPveVm, what a Proxmox VM's running config asks for (cores,
 * sockets, memory, NUMA, hugepages, affinity, hostpci, tags), and its
 * translation into the engine's vocabulary: a KtRequest for the allocator
 * and a profile from the policy.  Pure; no I/O. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "cpuset.h"
#include "policy.h"
#include "pve-conf.h"
#include "request.h"

/* Proxmox's limits: hostpci0..15, numa0..7 (guest NUMA cells). */
#define KT_PVE_MAX_HOSTPCI 16
#define KT_PVE_MAX_NUMA 8
#define KT_PVE_MAX_VMID 999999999u

typedef struct {
    char *key;             /* "hostpci0" */
    guint index;           /* 0 for hostpci0 */
    char *address;         /* first host device, "0000:ca:00.0"; NULL with mapping= */
    bool all_functions;    /* "01:00": every function of the device */
    char *mapping;         /* mapping=<name> (cluster resource mapping) */
    char *mdev;            /* mdev=<type> */
} KtPveHostpci;

typedef struct {
    KtCpuset *cpus;        /* guest vCPUs */
    KtCpuset *hostnodes;   /* NULL when unset */
    guint64 memory_mib;
    guint index;
} KtPveNumaCell;

typedef struct _KtPveVm KtPveVm;
struct _KtPveVm {
    guint vmid;
    char *name;            /* name:, else "VM <vmid>" as Proxmox shows it */
    char *uuid;            /* smbios1 uuid=, lower-case; NULL when absent */
    guint sockets, cores;  /* defaults 1 */
    guint vcpus;           /* vcpus: (current), else sockets * cores */
    guint64 memory_mib;    /* memory: or memory: current=..., default 512 */
    bool numa;             /* numa: 1 */
    guint64 hugepage_kib;  /* hugepages: 2 -> 2048, 1024 -> 1048576; 0: none */
    bool hugepages_any;    /* hugepages: any */
    KtCpuset *affinity;    /* affinity:, NULL when unset */
    GPtrArray *numa_cells; /* KtPveNumaCell*, by index */
    GPtrArray *hostpci;    /* KtPveHostpci*, by index */
    GPtrArray *tags;       /* char*, as written */
};

/* Reads the running config of VM @vmid.  NULL + @error (KT_ERROR_INVALID,
 * "VM 101: key 'cores': ...") when a key kvmtune needs is malformed. */
KtPveVm *kt_pve_vm_from_conf(const KtPveConf *conf, guint vmid, GError **error);
/* The config the VM's next start will use: Proxmox applies [PENDING]
 * (its values, and its "delete: key,!key" list) after the pre-start hook
 * and before QEMU starts, so placement must read it this way. */
KtPveVm *kt_pve_vm_from_conf_next_start(const KtPveConf *conf, guint vmid,
                                        GError **error);
void kt_pve_vm_free(KtPveVm *vm);

/* vCPU slots: sockets * cores (Proxmox's maxcpus). */
guint kt_pve_vm_max_vcpus(const KtPveVm *vm);

/* The ledger key of the VM: "pve:<vmid>". Caller frees. */
char *kt_pve_vm_booking_id(guint vmid);

/* Which of the options kvmtune writes count as the VM's own tuning, which
 * the allocator keeps and books instead of replacing. */
typedef enum {
    KT_PVE_KEEP_NONE = 0,
    KT_PVE_KEEP_CPUS = 1 << 0,      /* affinity */
    KT_PVE_KEEP_MEMORY = 1 << 1,    /* numaN hostnodes, hugepages */
} KtPveKeep;

/* The engine's request; options outside @keep are ignored so a new
 * placement can replace them. */
KtRequest *kt_pve_vm_to_request(const KtPveVm *vm, KtPveKeep keep);

/* The profile for the VM: the first tag "kvmtune-<profile>" ("kvmtune-none":
 * no tuning), else the policy's match rules on the VM name (flavor and
 * extra_spec rules never match: Proxmox has no flavors).  TRUE with
 * *ret_profile NULL when the VM is left alone.  *ret_reason (may be NULL)
 * says which tag or rule decided; caller frees.  FALSE + @error
 * (KT_ERROR_INVALID) when a tag names a profile the policy lacks. */
gboolean kt_pve_vm_find_profile(const KtPveVm *vm, const KtPolicy *policy,
                                const KtPolicyProfile **ret_profile,
                                char **ret_reason, GError **error);

/* Parses one hostpci value ("0000:01:00.0,pcie=1", "host=02:00;03:00",
 * "mapping=gpu,mdev=nvidia-63"); NULL + @error when malformed. */
KtPveHostpci *kt_pve_hostpci_parse(const char *key, const char *value, GError **error);
void kt_pve_hostpci_free(KtPveHostpci *h);

/* Proxmox's mdev uuid for hostpci<index> of @vmid
 * ("00000000-0000-0000-0000-000000000101" for hostpci0 of VM 101). */
char *kt_pve_mdev_uuid(guint vmid, guint index);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtPveVm, kt_pve_vm_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtPveHostpci, kt_pve_hostpci_free)
