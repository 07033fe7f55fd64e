/* allocator.h: the placement decision.  Pure: (inventory, policy, ledger,
 * request, profile) -> KtPlacement, or a refusal naming the missing resource
 * and the free amounts per node.  Same inputs, same output.
 *
 * Resource model (per host NUMA node):
 *   dedicated CPUs  policy dedicated_cpus on the node, minus booked ones
 *   shared vCPUs    policy shared_cpus on the node x cpu_allocation_ratio
 *   memory          node total minus every hugepage pool, minus bookings
 *   hugepages       min(policy per_node, pool total) per size, minus bookings
 *   VFs, mdevs, GPUs  by address / (parent, type), minus bookings */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "inventory.h"
#include "ledger.h"
#include "placement.h"
#include "policy.h"
#include "request.h"

/* What the allocator noticed on the way; for `kvmtune explain` and metrics. */
typedef struct {
    GPtrArray *notes;        /* char*: one line per decision ("vCPUs: ...") */
    guint fallbacks;         /* best-effort parts that fell back */
    bool nova_cpus;          /* CPU part left to Nova (booked, not moved) */
    bool nova_memory;        /* hugepages left to Nova (booked) */
} KtAllocReport;

KtAllocReport *kt_alloc_report_new(void);
void kt_alloc_report_free(KtAllocReport *report);

/* Places @req under @profile.  @report may be NULL.  Returns a new placement
 * (profile, policy hash and every part the profile asks for filled in) or
 * NULL + KT_ERROR_NO_CAPACITY ("profile db-dedicated needs 16 isolated cores
 * on one node; free: node0 12, node1 9") / KT_ERROR_INVALID. */
KtPlacement *kt_allocator_place(const KtInventory *inv, const KtPolicy *policy,
                                const KtLedger *ledger, const KtRequest *req,
                                const KtPolicyProfile *profile,
                                KtAllocReport *report, GError **error);

/* The first match rule of @policy that @req satisfies, or NULL.  The profile
 * it names is in *ret_profile (NULL for "none", or when the profile is
 * unknown: then *ret_profile_name says which name was asked for). */
const KtPolicyMatch *kt_allocator_match(const KtPolicy *policy, const KtRequest *req,
                                        const KtPolicyProfile **ret_profile,
                                        const char **ret_profile_name);

/* Capacity and use of one host node, for status and simulate. */
typedef struct {
    guint size_kib;
    guint64 capacity;        /* pages kvmtune may hand out */
    guint64 booked;
} KtNodePages;

typedef struct {
    guint node;
    guint dedicated_total;   /* CPUs in the dedicated pool */
    guint dedicated_booked;
    guint whole_cores_free;  /* cores with every thread free and dedicated */
    guint shared_cpus;
    guint shared_vcpus_capacity;
    guint shared_vcpus_booked;
    guint64 memory_capacity_kib;
    guint64 memory_booked_kib;
    guint npages;
    KtNodePages pages[4];
} KtNodeUsage;

/* One entry per inventory node, in node order.  g_array_unref when done. */
GArray *kt_allocator_node_usage(const KtInventory *inv, const KtPolicy *policy,
                                const KtLedger *ledger);

/* Deterministic name-based UUID (RFC 4122 version 5 layout, SHA-1) from
 * @seed: same seed, same UUID.  Caller frees. */
char *kt_allocator_derive_uuid(const char *seed);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtAllocReport, kt_alloc_report_free)
