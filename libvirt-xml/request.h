/* request.h: KtRequest, what a domain definition asks for, as read from its
 * XML by kt_domain_read_request() (domain.h).  Pure data.
 *
 * The allocator decides from this alone; "existing tuning" tells it what Nova
 * (or an admin) already pinned so it can book that instead of moving it. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "cpuset.h"
#include "placement.h"

typedef struct {
    char *address;       /* "0000:17:02.3" (domain:bus:slot.function, lower-case hex) */
    bool is_interface;   /* <interface type='hostdev'> rather than <hostdev> */
} KtRequestPciDev;

typedef struct {
    char *uuid;
    char *type;          /* mdev type when given in the XML (libvirt does not
                          * carry it; NULL unless kvmtune metadata says) */
} KtRequestMdev;

/* A guest NUMA cell as the input has it (<cpu><numa><cell>), with the host
 * nodes <numatune><memnode cellid=> binds it to. */
typedef struct {
    guint id;
    KtCpuset *vcpus;     /* cpus=; NULL when absent */
    guint64 memory_kib;
    KtCpuset *memnode;   /* memnode nodeset= for this cell id; NULL: none */
} KtRequestCell;

typedef struct _KtRequest KtRequest;
struct _KtRequest {
    char *uuid;                  /* canonical lower-case, from <uuid>; may be NULL */
    char *name;
    char *domain_type;           /* "kvm", "qemu", ... */
    char *arch;                  /* <os><type arch=> or NULL */
    char *machine;
    guint vcpus_max;             /* <vcpu> text */
    guint vcpus_current;         /* <vcpu current=>, else vcpus_max */
    guint64 memory_kib;          /* <memory> with unit honoured */
    guint64 current_memory_kib;  /* <currentMemory>, else memory_kib */

    /* Nova metadata (<nova:instance>, namespace 1.0 or 1.1). */
    bool is_nova;
    char *nova_ns;               /* the namespace URI seen */
    char *flavor_name;
    guint flavor_vcpus;
    guint64 flavor_memory_mib;
    guint flavor_disk_gib;
    char *owner_project;         /* project uuid */
    char *owner_user;            /* user uuid */
    GHashTable *extra_specs;     /* char* -> char*, flavor extra specs; never NULL */

    /* Tuning already present in the input. */
    char *vcpu_placement;        /* <vcpu placement=> */
    KtCpuset *vcpu_cpuset;       /* <vcpu cpuset=> */
    KtCpuset **vcpupins;         /* [vcpus_max]: <vcpupin> per vCPU or NULL */
    guint nvcpupins;             /* how many <vcpupin> elements */
    KtCpuset *emulatorpin;
    guint niothreadpins;
    guint cpu_shares;            /* 0: unset */
    bool has_numatune;
    KtCpuset *numatune_nodeset;
    bool has_hugepages;          /* <memoryBacking><hugepages> */
    guint64 hugepage_kib;        /* first <page size>, 0 when default size */
    char *cpu_mode;              /* <cpu mode=> */
    guint cpu_sockets, cpu_dies, cpu_cores, cpu_threads;   /* 0: unset */
    guint ncpu_cells;            /* guest <numa><cell> count */
    KtRequestCell *cpu_cells;    /* [ncpu_cells], in document order */

    /* Devices. */
    GPtrArray *pci_devs;         /* KtRequestPciDev*, <hostdev type='pci'> and <interface type='hostdev'> */
    GPtrArray *mdevs;            /* KtRequestMdev* */

    /* A kvmtune placement already recorded in <metadata>, or NULL. */
    KtPlacement *placement;
};

KtRequest *kt_request_new(void);
void kt_request_free(KtRequest *req);
/* True when the input already pins vCPUs (vcpupin or <vcpu cpuset>). */
bool kt_request_has_cpu_pinning(const KtRequest *req);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtRequest, kt_request_free)
