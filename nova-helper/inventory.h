/* inventory.h: KtInventory, the host as kvmtune sees it, read from sysfs
 * under a root directory (tests use fixture trees in tests/fixtures/hosts/).
 *
 * Loading is an edge (it reads files); the struct itself is plain data the
 * pure allocator consumes.  Reading is tolerant where the kernel is (a
 * missing optional file gives a warning in @warnings and a degraded value),
 * strict where a wrong number would follow (unparsable cpulist: error). */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "cpuset.h"

typedef struct {
    guint64 size_kib;        /* 2048, 1048576 */
    guint64 total;
    guint64 free;
    guint64 surplus;
} KtInvHugepages;

typedef struct {
    guint id;
    KtCpuset *cpus;          /* online CPUs of the node */
    guint64 memory_total_kib;
    guint64 memory_free_kib;
    guint *distances;        /* [ndistances], indexed by node position */
    guint ndistances;
    GArray *hugepages;       /* KtInvHugepages, sorted by size */
} KtInvNode;

typedef struct {
    guint id;
    int node;                /* -1 when unknown */
    int package;
    int core;
    KtCpuset *siblings;      /* thread_siblings_list, includes itself */
    bool online;
    bool isolated;           /* isolated file or isolcpus= */
    bool nohz_full;
} KtInvCpu;

typedef struct {
    char *address;           /* "0000:17:00.0" */
    int node;                /* -1 when the kernel says so */
    guint32 class_code;      /* 0x020000 */
    guint16 vendor_id, device_id;
    char *vendor_name;       /* from libpci's name database, or NULL */
    char *device_name;
    char *driver;            /* bound driver name or NULL */
    int iommu_group;         /* -1 when none */
    char *physfn;            /* for a VF: its PF address, else NULL */
} KtInvPciDev;

typedef struct {
    char *address;
    int node;
    char *netdev;            /* "ens1f0" or NULL */
    char *link_state;        /* "up"/"down" (operstate) or NULL */
    guint totalvfs, numvfs;
    GPtrArray *vfs;          /* char* VF addresses, by virtfn index */
    GPtrArray *vf_drivers;   /* char* driver of each VF or NULL ("vfio-pci", "mlx5_core") */
} KtInvSriovPf;

typedef struct {
    char *id;                /* "nvidia-222" */
    char *name;              /* "GRID A100-4C" or NULL */
    char *device_api;        /* "vfio-pci" */
    guint available;         /* available_instances */
    GPtrArray *devices;      /* char* uuids of existing mdevs of this type */
} KtInvMdevType;

typedef struct {
    char *address;
    int node;
    GPtrArray *types;        /* KtInvMdevType* */
    GPtrArray *devices;      /* char* uuids of existing mdevs on this parent */
} KtInvMdevParent;

typedef struct _KtInventory KtInventory;
struct _KtInventory {
    char *sysroot;
    GArray *nodes;           /* KtInvNode, sorted by id; a non-NUMA host has one node 0 */
    GArray *cpus;            /* KtInvCpu, sorted by id (online and offline) */
    KtCpuset *online;
    KtCpuset *isolated;
    GPtrArray *pci_devs;     /* KtInvPciDev* */
    GPtrArray *sriov_pfs;    /* KtInvSriovPf* */
    GPtrArray *mdev_parents; /* KtInvMdevParent* */
    GPtrArray *warnings;     /* char*: degraded reads, one line each */
    KtCpuset *nohz_full;     /* nohz_full= on the kernel command line (empty if none) */
    bool numa_checked;       /* live host: cross-checked with libnuma */
};

/* Reads the host under @sysroot ("/" for the live host). */
KtInventory *kt_inventory_load(const char *sysroot, GError **error);
/* Reads the host again under @previous's root (SIGHUP, hot-plug), reusing
 * its PCI vendor/device names for ids it already had, so an unchanged host
 * does not make libpci parse all of pci.ids again (~10 ms).  @previous is
 * not modified; the caller frees both. */
KtInventory *kt_inventory_reload(const KtInventory *previous, GError **error);
void kt_inventory_free(KtInventory *inv);
/* An empty inventory of @sysroot (no nodes, CPUs or devices) whose arrays
 * free their items as a loaded one's do; for hosts built in code (allocator
 * tests).  The item constructors below give a PF, mdev parent or mdev type
 * with empty arrays, ready for the inventory's arrays to own. */
KtInventory *kt_inventory_new(const char *sysroot);
KtInvSriovPf *kt_inv_sriov_pf_new(const char *address, int node);
KtInvMdevParent *kt_inv_mdev_parent_new(const char *address, int node);
KtInvMdevType *kt_inv_mdev_type_new(const char *id);

const KtInvNode *kt_inventory_node(const KtInventory *inv, guint id);   /* NULL if absent */
const KtInvCpu *kt_inventory_cpu(const KtInventory *inv, guint id);
const KtInvSriovPf *kt_inventory_find_pf(const KtInventory *inv, const char *address);
const KtInvMdevParent *kt_inventory_find_mdev_parent(const KtInventory *inv, const char *address);
const KtInvPciDev *kt_inventory_find_pci(const KtInventory *inv, const char *address);
/* Node of a PCI device (PF, VF, GPU) or -1. */
int kt_inventory_pci_node(const KtInventory *inv, const char *address);
/* Hugepage pool of @node for @size_kib, or NULL. */
const KtInvHugepages *kt_inventory_hugepages(const KtInventory *inv, guint node, guint64 size_kib);

/* Live host only: compares @inv with what libnuma reports (nodes, CPUs per
 * node, MemTotal per node) and appends one line per difference to
 * @mismatches.  FALSE + @error when libnuma says NUMA is unavailable.
 * kt_inventory_load() runs it itself for "/" and turns lines into warnings. */
gboolean kt_inventory_check_libnuma(const KtInventory *inv, GPtrArray *mismatches,
                                    GError **error);

/* Human table / stable JSON (schema in nova-helper/README.md). Caller frees. */
char *kt_inventory_format_text(const KtInventory *inv);
/* The table with each PF's physnet (@pf_physnets: PF address -> physnet,
 * from the policy's host.sriov; NULL or a missing address: not shown). */
char *kt_inventory_format_text_physnets(const KtInventory *inv, GHashTable *pf_physnets);
char *kt_inventory_format_json(const KtInventory *inv);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtInventory, kt_inventory_free)
