/* placement.h: KtPlacement, the decision the allocator makes for one domain
 * and the XML engine writes into it.  Pure data; the XML engine also
 * serialises it as <kvmtune:placement> metadata (the ledger's only store).
 *
 * Every part is optional: a part kvmtune does not own (Nova pinned the CPUs
 * itself, the profile has no hugepages) is left unset and the XML engine
 * leaves that part of the domain alone. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "cpuset.h"
#include "kt-enum.h"

#define KT_PLACEMENT_NS "http://kvmtune.org/xmlns/placement/1.0"
#define KT_PLACEMENT_NS_PREFIX "kvmtune"

typedef enum {
    KT_CPU_POLICY_NONE,        /* kvmtune does not touch CPU tuning */
    KT_CPU_POLICY_SHARED,      /* all vCPUs float over @shared_cpus */
    KT_CPU_POLICY_DEDICATED,   /* vCPU i pinned to @vcpu_pins[i] (one CPU) */
    KT_CPU_POLICY_LAST
} KtCpuPolicy;
KT_ENUM_DECL(kt_cpu_policy);

/* Guest NUMA cell i: the vCPUs it holds, its memory and the host node
 * backing it. */
typedef struct {
    KtCpuset *vcpus;
    guint64 memory_kib;
    guint host_node;
} KtPlacementCell;

/* Hugepages booked on one host node. */
typedef struct {
    guint node;
    guint64 count;
} KtPlacementPages;

typedef struct {
    char *pf;          /* PCI address of the PF, "0000:17:00.0" */
    char *vf;          /* PCI address of the VF given to the guest */
    char *mac;         /* "fa:16:3e:…" or NULL: libvirt generates one */
    int vlan;          /* -1: none */
    int trust;         /* -1 unset, 0 off, 1 on */
    int spoofchk;      /* -1 unset, 0 off, 1 on */
    guint node;        /* host node of the PF */
} KtPlacementVf;

typedef struct {
    char *parent;      /* PCI address of the parent GPU */
    char *type;        /* mdev type id, "nvidia-222" */
    char *uuid;        /* lower-case canonical UUID of the mdev */
    guint node;
} KtPlacementMdev;

typedef struct {
    char *address;     /* PCI address of the whole GPU */
    guint node;
} KtPlacementGpu;

typedef struct _KtPlacement KtPlacement;
struct _KtPlacement {
    char *profile;               /* profile name from the policy */
    char *policy_hash;           /* "sha256:<hex>" of the effective policy */
    bool override;               /* replace Nova's own tuning where present */

    KtCpuset *nodes;             /* host NUMA nodes used; NULL: not placed */

    KtCpuPolicy cpu_policy;
    guint nvcpus;                /* guest vCPUs (maximum) */
    KtCpuset **vcpu_pins;        /* [nvcpus] when DEDICATED */
    KtCpuset *shared_cpus;       /* when SHARED */
    KtCpuset *emulator_cpus;     /* emulatorpin; NULL: leave alone */
    KtCpuset *booked_cpus;       /* dedicated CPUs held (pins, emulator,
                                  * idle siblings under threads=isolate) */
    guint threads_per_core;      /* guest SMT shape: 1 or 2; 0: don't write */

    guint ncells;                /* guest NUMA cells; 0: don't write <numa> */
    KtPlacementCell *cells;

    guint64 memory_kib;          /* guest memory booked (per node in cells) */
    guint64 hugepage_kib;        /* page size; 0: no hugepage backing */
    guint npages;
    KtPlacementPages *pages;     /* per host node */

    GPtrArray *vfs;              /* KtPlacementVf*, owned */
    GPtrArray *mdevs;            /* KtPlacementMdev*, owned */
    GPtrArray *gpus;             /* KtPlacementGpu*, owned */
};

KtPlacement *kt_placement_new(void);
void kt_placement_free(KtPlacement *pl);
KtPlacement *kt_placement_copy(const KtPlacement *pl);
bool kt_placement_equal(const KtPlacement *a, const KtPlacement *b);

KtPlacementVf *kt_placement_vf_new(void);        /* vlan/trust/spoofchk = -1 */
void kt_placement_vf_free(KtPlacementVf *vf);
void kt_placement_mdev_free(KtPlacementMdev *m);
void kt_placement_gpu_free(KtPlacementGpu *g);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtPlacement, kt_placement_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtPlacementVf, kt_placement_vf_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtPlacementMdev, kt_placement_mdev_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtPlacementGpu, kt_placement_gpu_free)
