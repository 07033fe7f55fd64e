/* simulate.h: capacity planning.  Places a stream of flavors on an empty
 * host (inventory + policy) until the first refusal, as the engine would at
 * define time, and reports what fit.  Pure apart from parsing the mix text.
 *
 * Mix file: one VM per line in arrival order, `<flavor-name> <vcpus>
 * <memory-MiB>`; `#` starts a comment; blank lines are ignored. */
#pragma once

#include <glib.h>

#include "allocator.h"
#include "inventory.h"
#include "policy.h"

#define KT_SIMULATE_MAX_LINES 100000

typedef struct {
    char *flavor;
    guint vcpus;
    guint64 memory_mib;
    guint line;
} KtMixEntry;

typedef struct {
    char *name;
    guint placed;
} KtSimFlavor;

typedef struct {
    char *flavor;
    KtPlacement *placement;
    KtThreadPolicy threads;      /* of the profile (isolate is checked) */
} KtSimPlaced;

typedef struct {
    guint placed;                /* VMs kvmtune placed */
    guint unmanaged;             /* lines no profile matched (Nova's own) */
    guint fallbacks;             /* best-effort parts that fell back */
    guint splits;                /* placed VMs spanning more than one node */
    guint split_single_node;     /* ... whose profile asked for one node */
    guint isolate_shared;        /* isolate VMs sharing a core with another VM */
    GPtrArray *flavors;          /* KtSimFlavor*, first-seen order */
    GPtrArray *placements;       /* KtSimPlaced*, arrival order */
    char *refusal;               /* NULL: the whole mix fit */
    char *refused_flavor;
    guint refused_line;
    GArray *usage;               /* KtNodeUsage at the end */
    double alloc_seconds;        /* time in the allocator (set by the caller) */
} KtSimResult;

/* Parses the mix; NULL + KT_ERROR_PARSE naming "path:line" on bad lines. */
GPtrArray *kt_simulate_parse_mix(const char *path, const char *text, gsize len,
                                 GError **error);
void kt_mix_entry_free(KtMixEntry *e);

/* Runs the mix.  Never fails: a refusal ends the run and is recorded. */
KtSimResult *kt_simulate_run(const KtInventory *inv, const KtPolicy *policy,
                             const GPtrArray *mix);
void kt_sim_result_free(KtSimResult *res);

char *kt_simulate_format_text(const KtSimResult *res);
/* Stable JSON: at least "placed" and "refusal" (schema in
 * nova-helper/README.md). */
char *kt_simulate_format_json(const KtSimResult *res);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtSimResult, kt_sim_result_free)
