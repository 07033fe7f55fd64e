/* allocator.c: inventory + policy + ledger + request -> placement.
 *
 * The decision runs in three steps:
 *   1. shape: from the profile and what Nova already did, decide which parts
 *      kvmtune places (CPUs dedicated/shared/none, hugepages, devices) and
 *      over how many host nodes;
 *   2. nodes: try every set of that many nodes, keep those where CPUs, pages
 *      and memory fit, and pick by device locality first, then best fit
 *      (dedicated: fewest CPUs left; shared: most memory left, which spreads
 *      general VMs over the nodes);
 *   3. devices: VFs, mdevs and GPUs, preferring the chosen nodes.
 * A best-effort part that does not fit is retried in a weaker shape (more
 * nodes, no hugepages, shared CPUs, no device) and counted.
 *
 * Everything iterates in id or file order so the result is deterministic. */
#include "allocator.h"
#include "kt-error.h"

#include <string.h>

#define MAX_THREADS_PER_CORE 8
#define MAX_NODE_SETS 4096
#define FIT_MAX_NODES 16        /* node sets larger than this are not tried */

typedef struct {
    guint id;
    KtCpuset *cpus;          /* online CPUs of the node */
    KtCpuset *dedicated;     /* dedicated pool on the node */
    KtCpuset *free_ded;      /* ... not booked */
    KtCpuset *shared;        /* shared pool on the node */
    guint64 mem_cap;         /* KiB of non-hugepage memory */
    guint64 mem_free;
    guint shared_cap;        /* vCPUs */
    guint shared_free;
} Node;

typedef struct {
    guint threads[MAX_THREADS_PER_CORE];
    guint nthreads;
    guint nfree;
    guint free[MAX_THREADS_PER_CORE];
    bool whole;              /* every thread dedicated and free */
} Core;

typedef struct {
    const KtInventory *inv;
    const KtPolicy *policy;
    const KtLedger *ledger;
    const KtRequest *req;
    const KtPolicyProfile *profile;
    KtAllocReport *report;
    Node *nodes;
    guint nnodes;
    KtCpuset *ded_pool;
    KtCpuset *shared_pool;
    bool affinity_decided;   /* device locality, not fit, chose the nodes */
} Ctx;

/* The shape being tried. */
typedef struct {
    KtCpuPolicy cpu;         /* NONE: CPUs are not ours (or not asked) */
    KtThreadPolicy threads;
    bool emu_isolate;
    guint nnodes;            /* host nodes to use */
    guint64 page_kib;        /* 0: normal memory */
    bool check_memory;       /* false when Nova placed memory itself */
    KtCpuset *fixed_nodes;   /* Nova already chose these (borrowed) */
} Shape;

/* CPUs chosen on one node. */
typedef struct {
    GArray *pins;            /* guint host CPU per vCPU of this node */
    int emulator;            /* -1: none */
    KtCpuset *booked;
    bool paired;             /* vCPUs laid in whole sibling groups */
    guint threads_per_core;
} Pick;

static void
pick_clear(Pick *p)
{
    if (p->pins)
        g_array_unref(p->pins);
    kt_cpuset_free(p->booked);
    memset(p, 0, sizeof(*p));
    p->emulator = -1;
}

KtAllocReport *
kt_alloc_report_new(void)
{
    KtAllocReport *r = g_new0(KtAllocReport, 1);

    r->notes = g_ptr_array_new_with_free_func(g_free);
    return r;
}

void
kt_alloc_report_free(KtAllocReport *r)
{
    if (!r)
        return;
    g_ptr_array_unref(r->notes);
    g_free(r);
}

G_GNUC_PRINTF(2, 3) static void
note(Ctx *ctx, const char *fmt, ...)
{
    va_list ap;

    if (!ctx->report)
        return;
    va_start(ap, fmt);
    g_ptr_array_add(ctx->report->notes, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

static char *
size_name(guint64 kib)
{
    if (kib >= 1048576 && kib % 1048576 == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT "G", kib / 1048576);
    if (kib >= 1024 && kib % 1024 == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT "M", kib / 1024);
    return g_strdup_printf("%" G_GUINT64_FORMAT "K", kib);
}

/* ---- host model ---------------------------------------------------------- */

static guint64
pages_capacity(const Ctx *ctx, guint node, guint64 size_kib)
{
    const KtInvHugepages *hp = kt_inventory_hugepages(ctx->inv, node, size_kib);
    guint64 cap;
    guint i;

    if (!hp)
        return 0;
    /* The pool total, not its free count: the ledger already holds what
     * running domains use, and counting both would book those pages twice. */
    cap = hp->total;
    for (i = 0; ctx->policy->hugepages && i < ctx->policy->hugepages->len; i++) {
        const KtPolicyHugepages *ph = &g_array_index(ctx->policy->hugepages,
                                                     KtPolicyHugepages, i);

        if (ph->size_kib == size_kib)
            cap = MIN(cap, ph->per_node);
    }
    return cap;
}

static guint64
pages_free(const Ctx *ctx, guint node, guint64 size_kib)
{
    guint64 cap = pages_capacity(ctx, node, size_kib);
    guint64 used = kt_ledger_node_pages(ctx->ledger, node, size_kib);

    return cap > used ? cap - used : 0;
}

static void
ctx_init(Ctx *ctx)
{
    g_autoptr(KtCpuset) online = NULL;
    double ratio = ctx->policy->cpu_allocation_ratio > 0 ? ctx->policy->cpu_allocation_ratio : 8.0;
    guint i, j;

    if (ctx->inv->online) {
        online = kt_cpuset_copy(ctx->inv->online);
    } else {
        online = kt_cpuset_new();
        for (i = 0; i < ctx->inv->nodes->len; i++)
            kt_cpuset_union(online, g_array_index(ctx->inv->nodes, KtInvNode, i).cpus);
    }
    kt_cpuset_subtract(online, ctx->policy->reserved_cpus);

    ctx->ded_pool = kt_cpuset_new();
    if (ctx->policy->dedicated_cpus) {
        kt_cpuset_union(ctx->ded_pool, ctx->policy->dedicated_cpus);
        kt_cpuset_intersect(ctx->ded_pool, online);
    }
    ctx->shared_pool = kt_cpuset_copy(ctx->policy->shared_cpus ? ctx->policy->shared_cpus : online);
    kt_cpuset_intersect(ctx->shared_pool, online);
    kt_cpuset_subtract(ctx->shared_pool, ctx->ded_pool);

    ctx->nnodes = ctx->inv->nodes->len;
    ctx->nodes = g_new0(Node, ctx->nnodes);
    for (i = 0; i < ctx->nnodes; i++) {
        const KtInvNode *in = &g_array_index(ctx->inv->nodes, KtInvNode, i);
        Node *n = &ctx->nodes[i];
        guint64 huge = 0;
        guint64 used;
        guint used_shared;

        n->id = in->id;
        n->cpus = kt_cpuset_copy(in->cpus);
        n->dedicated = kt_cpuset_copy(ctx->ded_pool);
        kt_cpuset_intersect(n->dedicated, n->cpus);
        n->free_ded = kt_cpuset_copy(n->dedicated);
        kt_cpuset_subtract(n->free_ded, kt_ledger_booked_cpus(ctx->ledger));
        n->shared = kt_cpuset_copy(ctx->shared_pool);
        kt_cpuset_intersect(n->shared, n->cpus);

        for (j = 0; in->hugepages && j < in->hugepages->len; j++) {
            const KtInvHugepages *hp = &g_array_index(in->hugepages, KtInvHugepages, j);

            huge += hp->total * hp->size_kib;
        }
        n->mem_cap = in->memory_total_kib > huge ? in->memory_total_kib - huge : 0;
        used = kt_ledger_node_memory(ctx->ledger, n->id);
        n->mem_free = n->mem_cap > used ? n->mem_cap - used : 0;
        n->shared_cap = (guint)(kt_cpuset_count(n->shared) * ratio);
        used_shared = kt_ledger_node_shared_vcpus(ctx->ledger, n->id);
        n->shared_free = n->shared_cap > used_shared ? n->shared_cap - used_shared : 0;
    }
}

static void
ctx_clear(Ctx *ctx)
{
    guint i;

    for (i = 0; i < ctx->nnodes; i++) {
        kt_cpuset_free(ctx->nodes[i].cpus);
        kt_cpuset_free(ctx->nodes[i].dedicated);
        kt_cpuset_free(ctx->nodes[i].free_ded);
        kt_cpuset_free(ctx->nodes[i].shared);
    }
    g_free(ctx->nodes);
    kt_cpuset_free(ctx->ded_pool);
    kt_cpuset_free(ctx->shared_pool);
}

static int
node_index(const Ctx *ctx, guint id)
{
    guint i;

    for (i = 0; i < ctx->nnodes; i++) {
        if (ctx->nodes[i].id == id)
            return (int)i;
    }
    return -1;
}

static int
cpu_node(const Ctx *ctx, guint cpu)
{
    const KtInvCpu *c = kt_inventory_cpu(ctx->inv, cpu);
    guint i;

    if (c && c->node >= 0)
        return c->node;
    for (i = 0; i < ctx->nnodes; i++) {
        if (kt_cpuset_has(ctx->nodes[i].cpus, cpu))
            return (int)ctx->nodes[i].id;
    }
    return -1;
}

/* Cores of @n's dedicated pool, ascending by first thread. */
static GArray *
node_cores(const Ctx *ctx, const Node *n)
{
    GArray *cores = g_array_new(FALSE, TRUE, sizeof(Core));
    g_autoptr(KtCpuset) seen = kt_cpuset_new();
    int c;

    for (c = kt_cpuset_first(n->dedicated); c >= 0; c = kt_cpuset_next(n->dedicated, c + 1)) {
        const KtInvCpu *ic;
        Core core = { 0 };
        int t;

        if (kt_cpuset_has(seen, c))
            continue;
        ic = kt_inventory_cpu(ctx->inv, c);
        core.whole = true;
        if (ic && ic->siblings && kt_cpuset_has(ic->siblings, c)) {
            for (t = kt_cpuset_first(ic->siblings); t >= 0; t = kt_cpuset_next(ic->siblings, t + 1)) {
                if (core.nthreads == MAX_THREADS_PER_CORE)
                    break;
                kt_cpuset_add(seen, t);
                core.threads[core.nthreads++] = t;
                if (kt_cpuset_has(n->free_ded, t))
                    core.free[core.nfree++] = t;
                else
                    core.whole = false;
            }
        } else {
            kt_cpuset_add(seen, c);
            core.threads[core.nthreads++] = c;
            if (kt_cpuset_has(n->free_ded, c))
                core.free[core.nfree++] = c;
            else
                core.whole = false;
        }
        if (core.nfree > 0)
            g_array_append_val(cores, core);
    }
    return cores;
}

static guint
count_whole(GArray *cores)
{
    guint i, n = 0;

    for (i = 0; i < cores->len; i++)
        n += g_array_index(cores, Core, i).whole;
    return n;
}

/* Free units in the thread policy's currency: whole cores for isolate and
 * require, CPUs for prefer. */
static guint
node_free_units(const Ctx *ctx, const Node *n, KtThreadPolicy threads)
{
    g_autoptr(GArray) cores = NULL;

    if (threads == KT_THREADS_PREFER)
        return kt_cpuset_count(n->free_ded);
    cores = node_cores(ctx, n);
    return count_whole(cores);
}

static guint
units_needed(KtThreadPolicy threads, guint k, bool emu, guint tpc)
{
    switch (threads) {
    case KT_THREADS_ISOLATE:
        return k + (emu ? 1 : 0);
    case KT_THREADS_REQUIRE:
        return (k + (emu ? 1 : 0) + tpc - 1) / tpc;
    case KT_THREADS_PREFER:
    case KT_THREADS_LAST:
    default:
        return k + (emu ? 1 : 0);
    }
}

static guint
threads_per_core(const Ctx *ctx)
{
    const KtInvCpu *c;
    int first = kt_cpuset_first(ctx->ded_pool);

    if (first < 0)
        return 1;
    c = kt_inventory_cpu(ctx->inv, first);
    return c && c->siblings ? MAX(1, kt_cpuset_count(c->siblings)) : 1;
}

static void
pick_add(Pick *p, guint cpu)
{
    g_array_append_val(p->pins, cpu);
    kt_cpuset_add(p->booked, cpu);
}

static void
core_book(Pick *p, const Core *core)
{
    guint t;

    for (t = 0; t < core->nthreads; t++)
        kt_cpuset_add(p->booked, core->threads[t]);
}

/* Chooses @k dedicated CPUs (and the emulator's) on @n.  FALSE when the
 * node has too few in the thread policy's currency. */
static bool
pick_cpus(const Ctx *ctx, const Node *n, guint k, KtThreadPolicy threads,
          bool emu, Pick *p)
{
    g_autoptr(GArray) cores = node_cores(ctx, n);
    guint i, t;

    pick_clear(p);
    p->pins = g_array_new(FALSE, FALSE, sizeof(guint));
    p->booked = kt_cpuset_new();

    if (threads == KT_THREADS_ISOLATE) {
        /* Whole cores; vCPU on the first thread, siblings idle but booked
         * so no other VM's vCPU shares the core's caches and ports. */
        guint need = k + (emu ? 1 : 0);
        guint got = 0;

        if (count_whole(cores) < need)
            return false;
        for (i = 0; i < cores->len && got < need; i++) {
            const Core *core = &g_array_index(cores, Core, i);

            if (!core->whole)
                continue;
            if (got < k)
                pick_add(p, core->threads[0]);
            else
                p->emulator = core->threads[0];
            core_book(p, core);
            got++;
        }
        p->threads_per_core = 1;
        return true;
    }

    if (threads == KT_THREADS_REQUIRE) {
        /* Whole cores only, every thread used; an odd tail is the
         * emulator's or stays idle but booked. */
        guint tpc = 0;
        guint placed = 0;
        guint need;

        for (i = 0; i < cores->len; i++)
            tpc = MAX(tpc, g_array_index(cores, Core, i).nthreads);
        tpc = MAX(tpc, 1);
        need = (k + (emu ? 1 : 0) + tpc - 1) / tpc;
        if (count_whole(cores) < need)
            return false;
        for (i = 0; i < cores->len && (placed < k || (emu && p->emulator < 0)); i++) {
            const Core *core = &g_array_index(cores, Core, i);

            if (!core->whole)
                continue;
            for (t = 0; t < core->nthreads; t++) {
                if (placed < k) {
                    pick_add(p, core->threads[t]);
                    placed++;
                } else if (emu && p->emulator < 0) {
                    p->emulator = core->threads[t];
                }
            }
            core_book(p, core);
        }
        p->paired = k % tpc == 0;
        p->threads_per_core = p->paired ? tpc : 1;
        return true;
    }

    /* prefer: sibling groups from whole cores; the odd tail goes first to
     * threads of cores already half used (best fit: it keeps whole cores
     * whole for the next VM), then to the next whole core. */
    {
        guint total = kt_cpuset_count(n->free_ded);
        guint tpc = 1;
        guint placed = 0;
        bool used_whole_only = true;
        g_autoptr(GArray) tail = g_array_new(FALSE, FALSE, sizeof(guint));
        g_autoptr(KtCpuset) taken = kt_cpuset_new();

        if (total < k + (emu ? 1 : 0))
            return false;
        for (i = 0; i < cores->len; i++) {
            const Core *core = &g_array_index(cores, Core, i);

            tpc = MAX(tpc, core->nthreads);
        }
        for (i = 0; i < cores->len && k - placed >= tpc; i++) {
            const Core *core = &g_array_index(cores, Core, i);

            if (!core->whole || core->nthreads != tpc)
                continue;
            for (t = 0; t < core->nthreads; t++) {
                pick_add(p, core->threads[t]);
                kt_cpuset_add(taken, core->threads[t]);
            }
            placed += core->nthreads;
        }
        /* Tail candidates: half-used cores' free threads, then the rest. */
        for (i = 0; i < cores->len; i++) {
            const Core *core = &g_array_index(cores, Core, i);

            for (t = 0; !core->whole && t < core->nfree; t++)
                g_array_append_val(tail, core->free[t]);
        }
        for (i = 0; i < cores->len; i++) {
            const Core *core = &g_array_index(cores, Core, i);

            for (t = 0; core->whole && t < core->nfree; t++) {
                if (!kt_cpuset_has(taken, core->free[t]))
                    g_array_append_val(tail, core->free[t]);
            }
        }
        for (i = 0; i < tail->len && (placed < k || (emu && p->emulator < 0)); i++) {
            guint cpu = g_array_index(tail, guint, i);

            if (placed < k) {
                pick_add(p, cpu);
                placed++;
                used_whole_only = false;
            } else {
                p->emulator = (int)cpu;
                kt_cpuset_add(p->booked, cpu);
            }
        }
        if (placed < k || (emu && p->emulator < 0))
            return false;
        p->paired = used_whole_only && k % tpc == 0;
        p->threads_per_core = p->paired ? tpc : 1;
        return true;
    }
}

/* ---- shapes and node sets ------------------------------------------------ */

typedef struct {
    guint idx[FIT_MAX_NODES];   /* indices into ctx->nodes */
    guint n;
    Pick picks[FIT_MAX_NODES];
    guint vcpus[FIT_MAX_NODES];
    guint64 mem[FIT_MAX_NODES];
    guint64 pages[FIT_MAX_NODES];
    gint64 affinity;
    guint64 leftover;        /* dedicated: CPUs left; shared: memory left */
} Fit;

static void
fit_clear(Fit *f)
{
    guint i;

    for (i = 0; i < f->n; i++)
        pick_clear(&f->picks[i]);
}

/* Splits vCPUs and memory evenly over @n nodes.  Memory per cell is a
 * whole number of pages (or MiB); the last cell takes the rest so the cells
 * sum to the domain memory. */
static void
split(Fit *f, guint nvcpus, guint64 mem_kib, guint64 page_kib)
{
    guint64 unit = page_kib ? page_kib : 1024;
    guint64 base = (mem_kib / f->n) / unit * unit;
    guint i;

    for (i = 0; i < f->n; i++) {
        f->vcpus[i] = nvcpus / f->n + (i < nvcpus % f->n ? 1 : 0);
        f->mem[i] = i + 1 < f->n ? base : mem_kib - base * (f->n - 1);
        f->pages[i] = page_kib ? (f->mem[i] + page_kib - 1) / page_kib : 0;
    }
}

static guint mdev_free(const Ctx *ctx, const KtPlacement *pl, const KtInvMdevParent *par,
                       const KtInvMdevType *t);
static bool in_request(const KtRequest *req, const char *address);

/* Device locality of node @id: passthrough devices already in the XML pull
 * hard, requested devices free on the node pull softly.  Only a device the
 * VM can still get pulls: a node whose GPU is out (whole, or running another
 * mdev type) or has no free instance of the type is no closer to the VM than
 * any other, and best fit decides. */
static gint64
node_affinity(const Ctx *ctx, guint id)
{
    const KtRequest *req = ctx->req;
    const KtPolicyProfile *prof = ctx->profile;
    gint64 a = 0;
    guint i, j;

    for (i = 0; i < req->pci_devs->len; i++) {
        const KtRequestPciDev *d = g_ptr_array_index(req->pci_devs, i);

        if (kt_inventory_pci_node(ctx->inv, d->address) == (int)id)
            a += 1000;
    }
    for (i = 0; i < req->mdevs->len; i++) {
        const KtRequestMdev *m = g_ptr_array_index(req->mdevs, i);

        for (j = 0; m->uuid && j < ctx->inv->mdev_parents->len; j++) {
            const KtInvMdevParent *par = g_ptr_array_index(ctx->inv->mdev_parents, j);

            if (par->node == (int)id && par->devices) {
                guint d;

                for (d = 0; d < par->devices->len; d++) {
                    if (g_ascii_strcasecmp(g_ptr_array_index(par->devices, d), m->uuid) == 0)
                        a += 1000;
                }
            }
        }
    }
    for (i = 0; prof->sriov && i < prof->sriov->len; i++) {
        const KtPolicySriovReq *sr = g_ptr_array_index(prof->sriov, i);
        guint free_here = 0;

        for (j = 0; ctx->policy->sriov_pfs && j < ctx->policy->sriov_pfs->len; j++) {
            const KtPolicySriovPf *ppf = g_ptr_array_index(ctx->policy->sriov_pfs, j);
            const KtInvSriovPf *pf;
            guint v;

            if (g_strcmp0(ppf->physnet, sr->physnet) != 0)
                continue;
            pf = kt_inventory_find_pf(ctx->inv, ppf->pf);
            if (!pf || pf->node != (int)id || !pf->vfs)
                continue;
            for (v = 0; v < pf->vfs->len; v++) {
                if (!kt_ledger_pci_holder(ctx->ledger, g_ptr_array_index(pf->vfs, v)))
                    free_here++;
            }
        }
        a += MIN(free_here, MAX(sr->count, 1));
    }
    if (prof->vgpu_type) {
        guint free_here = 0;

        for (j = 0; j < ctx->inv->mdev_parents->len; j++) {
            const KtInvMdevParent *par = g_ptr_array_index(ctx->inv->mdev_parents, j);
            guint t;

            if (par->node != (int)id || in_request(ctx->req, par->address))
                continue;
            for (t = 0; t < par->types->len; t++) {
                const KtInvMdevType *ty = g_ptr_array_index(par->types, t);

                if (g_strcmp0(ty->id, prof->vgpu_type) == 0)
                    free_here += mdev_free(ctx, NULL, par, ty);
            }
        }
        a += 2 * (gint64)MIN(free_here, MAX(prof->vgpu_count, 1));
    }
    if (prof->gpu_count) {
        guint free_here = 0;

        for (j = 0; ctx->policy->gpus && j < ctx->policy->gpus->len; j++) {
            const char *addr = g_ptr_array_index(ctx->policy->gpus, j);

            if (kt_inventory_pci_node(ctx->inv, addr) == (int)id &&
                !kt_ledger_pci_holder(ctx->ledger, addr) &&
                kt_ledger_mdev_count(ctx->ledger, addr, NULL) == 0 &&
                !in_request(ctx->req, addr))
                free_here++;
        }
        a += 2 * (gint64)MIN(free_here, prof->gpu_count);
    }
    return a;
}

/* Checks one node set; fills @f on success. */
static bool
fit_try(const Ctx *ctx, const Shape *s, Fit *f)
{
    guint i;

    split(f, ctx->req->vcpus_max, ctx->req->memory_kib, s->page_kib);
    f->affinity = 0;
    f->leftover = 0;
    for (i = 0; i < f->n; i++) {
        const Node *n = &ctx->nodes[f->idx[i]];
        bool emu = s->emu_isolate && i == 0;

        f->affinity += node_affinity(ctx, n->id);
        if (s->cpu == KT_CPU_POLICY_DEDICATED) {
            if (!pick_cpus(ctx, n, f->vcpus[i], s->threads, emu, &f->picks[i]))
                return false;
            f->leftover += kt_cpuset_count(n->free_ded) - kt_cpuset_count(f->picks[i].booked);
        } else if (s->cpu == KT_CPU_POLICY_SHARED) {
            if (n->shared_free < f->vcpus[i] || kt_cpuset_is_empty(n->shared))
                return false;
        }
        if (s->check_memory) {
            if (s->page_kib) {
                if (pages_free(ctx, n->id, s->page_kib) < f->pages[i])
                    return false;
            } else if (n->mem_free < f->mem[i]) {
                return false;
            }
        }
        if (s->cpu != KT_CPU_POLICY_DEDICATED) {
            guint64 pf = s->page_kib ? pages_free(ctx, n->id, s->page_kib) : 0;
            guint64 left = s->page_kib ? (pf - MIN(pf, f->pages[i])) * s->page_kib
                                       : n->mem_free - MIN(n->mem_free, f->mem[i]);

            f->leftover += left;
        }
    }
    return true;
}

/* Is @a a better choice than @b? */
static bool
fit_better(const Shape *s, const Fit *a, const Fit *b)
{
    if (a->affinity != b->affinity)
        return a->affinity > b->affinity;
    if (s->cpu == KT_CPU_POLICY_DEDICATED)
        return a->leftover < b->leftover;       /* best fit */
    return a->leftover > b->leftover;           /* most free memory */
}

typedef struct {
    const Ctx *ctx;
    const Shape *s;
    Fit best;
    bool found;
    guint tried;
    guint idx[FIT_MAX_NODES];
    GString *trace;          /* candidates, for explain; NULL when unused */
    gint64 min_aff, max_aff; /* over the sets that fit */
} Search;

static void
trace_leaf(Search *se, const Fit *f, bool fits)
{
    const Ctx *ctx = se->ctx;
    guint i;

    if (!se->trace)
        return;
    g_string_append(se->trace, se->trace->len ? "; node" : "node");
    for (i = 0; i < f->n; i++)
        g_string_append_printf(se->trace, i ? "+%u" : "%u", ctx->nodes[f->idx[i]].id);
    if (!fits)
        g_string_append(se->trace, " does not fit");
    else if (se->s->cpu == KT_CPU_POLICY_DEDICATED)
        g_string_append_printf(se->trace, " fits, %" G_GUINT64_FORMAT " dedicated CPUs left",
                               f->leftover);
    else
        g_string_append_printf(se->trace, " fits, %" G_GUINT64_FORMAT " MiB left",
                               f->leftover / 1024);
    if (fits && f->affinity)
        g_string_append_printf(se->trace, ", device locality %" G_GINT64_FORMAT, f->affinity);
}

/* Evaluates the node set in se->idx; kept when better than the best. */
G_GNUC_NO_INLINE static void
search_leaf(Search *se, guint depth)
{
    const Ctx *ctx = se->ctx;
    Fit f = { .n = depth };
    bool fits;
    guint i;

    se->tried++;
    memcpy(f.idx, se->idx, sizeof(guint) * depth);
    for (i = 0; se->s->fixed_nodes && i < depth; i++) {
        if (!kt_cpuset_has(se->s->fixed_nodes, ctx->nodes[f.idx[i]].id))
            return;
    }
    for (i = 0; i < depth; i++)
        f.picks[i].emulator = -1;
    fits = fit_try(ctx, se->s, &f);
    trace_leaf(se, &f, fits);
    if (fits) {
        se->min_aff = se->found ? MIN(se->min_aff, f.affinity) : f.affinity;
        se->max_aff = se->found ? MAX(se->max_aff, f.affinity) : f.affinity;
    }
    if (fits && (!se->found || fit_better(se->s, &f, &se->best))) {
        if (se->found)
            fit_clear(&se->best);
        se->best = f;
        se->found = true;
    } else {
        fit_clear(&f);
    }
}

static void
search_sets(Search *se, guint start, guint depth)
{
    const Ctx *ctx = se->ctx;
    guint i;

    if (se->tried >= MAX_NODE_SETS)
        return;
    if (depth == se->s->nnodes) {
        search_leaf(se, depth);
        return;
    }
    for (i = start; i < ctx->nnodes; i++) {
        se->idx[depth] = i;
        search_sets(se, i + 1, depth + 1);
    }
}

/* ---- refusal messages ---------------------------------------------------- */

/* CPUs: fills @freelist and clears ok[] of nodes short of CPUs; returns
 * what is missing when fewer than s->nnodes nodes remain, else NULL. */
static char *
shortfall_cpus(const Ctx *ctx, const Shape *s, guint k, bool *ok, GString *freelist)
{
    guint need = s->cpu == KT_CPU_POLICY_DEDICATED
                 ? units_needed(s->threads, k, s->emu_isolate, threads_per_core(ctx)) : k;
    guint nok = 0;
    guint i;

    if (s->cpu == KT_CPU_POLICY_NONE)
        return NULL;
    for (i = 0; i < ctx->nnodes; i++) {
        const Node *n = &ctx->nodes[i];
        guint have;

        if (s->cpu == KT_CPU_POLICY_DEDICATED)
            have = node_free_units(ctx, n, s->threads);
        else
            have = kt_cpuset_is_empty(n->shared) ? 0 : n->shared_free;
        g_string_append_printf(freelist, "%snode%u %u", i ? ", " : "", n->id, have);
        if (have < need)
            ok[i] = false;
        nok += ok[i];
    }
    if (nok >= s->nnodes)
        return NULL;
    if (s->cpu == KT_CPU_POLICY_SHARED)
        return g_strdup_printf("%u shared vCPUs", k);
    return g_strdup_printf(s->threads == KT_THREADS_ISOLATE ? "%u isolated cores"
                           : s->threads == KT_THREADS_REQUIRE ? "%u whole free cores"
                           : "%u dedicated CPUs", need);
}

/* Memory or hugepages, on the nodes still ok[]; as shortfall_cpus(). */
static char *
shortfall_memory(const Ctx *ctx, const Shape *s, const Fit *f, bool *ok, GString *freelist)
{
    g_autofree char *sz = s->page_kib ? size_name(s->page_kib) : NULL;
    guint nok = 0;
    guint i;

    for (i = 0; i < ctx->nnodes; i++) {
        const Node *n = &ctx->nodes[i];

        if (s->page_kib) {
            guint64 have = pages_free(ctx, n->id, s->page_kib);

            g_string_append_printf(freelist, "%snode%u %" G_GUINT64_FORMAT,
                                   i ? ", " : "", n->id, have);
            if (have < f->pages[0])
                ok[i] = false;
        } else {
            g_string_append_printf(freelist, "%snode%u %" G_GUINT64_FORMAT " MiB",
                                   i ? ", " : "", n->id, n->mem_free / 1024);
            if (n->mem_free < f->mem[0])
                ok[i] = false;
        }
        nok += ok[i];
    }
    if (nok >= s->nnodes)
        return NULL;
    if (s->page_kib)
        return g_strdup_printf("%" G_GUINT64_FORMAT " x %s hugepages", f->pages[0], sz);
    return g_strdup_printf("%" G_GUINT64_FORMAT " MiB memory", f->mem[0] / 1024);
}

/* Names the first resource no node set can provide (CPUs, then memory or
 * pages on the nodes that had the CPUs), with the free amount per node. */
static void
set_refusal(const Ctx *ctx, const Shape *s, GError **error)
{
    g_autoptr(GString) freelist = g_string_new(NULL);
    g_autofree char *what = NULL;
    g_autofree char *on = NULL;
    g_autofree bool *ok = g_new0(bool, ctx->nnodes);
    Fit f = { .n = s->nnodes };
    guint i;

    split(&f, ctx->req->vcpus_max, ctx->req->memory_kib, s->page_kib);
    on = s->nnodes == 1 ? g_strdup("on one node")
                        : g_strdup_printf("on each of %u nodes", s->nnodes);
    for (i = 0; i < ctx->nnodes; i++)
        ok[i] = !s->fixed_nodes || kt_cpuset_has(s->fixed_nodes, ctx->nodes[i].id);

    what = shortfall_cpus(ctx, s, f.vcpus[0], ok, freelist);
    if (!what) {
        g_string_truncate(freelist, 0);
        what = shortfall_memory(ctx, s, &f, ok, freelist);
    }
    if (!what)      /* each fits somewhere, never together */
        what = g_strdup_printf("%u vCPUs and %" G_GUINT64_FORMAT " MiB together",
                               f.vcpus[0], f.mem[0] / 1024);
    g_set_error(error, KT_ERROR, KT_ERROR_NO_CAPACITY,
                "profile %s needs %s %s; free: %s",
                ctx->profile->name, what, on, freelist->str);
}

/* ---- assembling the placement -------------------------------------------- */

/* Says which SMT shape the guest is given (apply writes it as the guest
 * <cpu><topology> unless Nova's topology wins) and why it is 1 thread when
 * the host has more: vCPU pairs can only mirror cores when every node's
 * share of vCPUs fills whole cores. */
static void
topology_note(Ctx *ctx, const Shape *s, const Fit *f, const KtPlacement *pl)
{
    guint host_tpc = threads_per_core(ctx);
    guint i;

    if (pl->threads_per_core > 1) {
        note(ctx, "topology: guest threads=%u: each vCPU pair sits on the sibling threads "
             "of one core", pl->threads_per_core);
        return;
    }
    if (host_tpc <= 1) {
        note(ctx, "topology: guest threads=1: the host has no SMT");
        return;
    }
    if (s->threads == KT_THREADS_ISOLATE) {
        note(ctx, "topology: guest threads=1: threads=isolate gives each vCPU a core of its own");
        return;
    }
    for (i = 0; i < f->n; i++) {
        if (f->picks[i].pins->len % host_tpc != 0) {
            note(ctx, "topology: guest threads=1 (fallback): %u vCPUs on node %u do not "
                 "fill whole %u-thread cores, so vCPU pairs cannot mirror them",
                 f->picks[i].pins->len, ctx->nodes[f->idx[i]].id, host_tpc);
            return;
        }
    }
    note(ctx, "topology: guest threads=1 (fallback): not enough whole cores free, "
         "some vCPUs share a core with another domain's");
}

static void
fill_cpus(Ctx *ctx, const Shape *s, const Fit *f, KtPlacement *pl)
{
    guint i, j, v = 0;
    bool paired = true;
    guint tpc = 0;

    pl->nodes = kt_cpuset_new();
    for (i = 0; i < f->n; i++)
        kt_cpuset_add(pl->nodes, ctx->nodes[f->idx[i]].id);
    pl->cpu_policy = s->cpu;
    pl->nvcpus = ctx->req->vcpus_max;

    if (s->cpu == KT_CPU_POLICY_DEDICATED) {
        pl->vcpu_pins = g_new0(KtCpuset *, pl->nvcpus);
        pl->booked_cpus = kt_cpuset_new();
        for (i = 0; i < f->n; i++) {
            const Pick *p = &f->picks[i];
            g_autofree char *list = NULL;

            for (j = 0; j < p->pins->len; j++) {
                pl->vcpu_pins[v] = kt_cpuset_new();
                kt_cpuset_add(pl->vcpu_pins[v], g_array_index(p->pins, guint, j));
                v++;
            }
            kt_cpuset_union(pl->booked_cpus, p->booked);
            if (p->emulator >= 0) {
                pl->emulator_cpus = kt_cpuset_new();
                kt_cpuset_add(pl->emulator_cpus, p->emulator);
            }
            paired = paired && p->threads_per_core > 1;
            tpc = tpc ? MIN(tpc, p->threads_per_core) : p->threads_per_core;
            list = kt_cpuset_format(p->booked);
            note(ctx, "cpus: node %u: %u vCPUs pinned, threads=%s, CPUs booked %s",
                 ctx->nodes[f->idx[i]].id, p->pins->len,
                 kt_thread_policy_to_string(s->threads), list);
        }
        pl->threads_per_core = paired ? tpc : 1;
        topology_note(ctx, s, f, pl);
        if (s->emu_isolate && pl->emulator_cpus) {
            g_autofree char *e = kt_cpuset_format(pl->emulator_cpus);

            note(ctx, "emulator: isolate: own dedicated CPU %s", e);
        }
    } else if (s->cpu == KT_CPU_POLICY_SHARED) {
        g_autofree char *list = NULL;

        pl->shared_cpus = kt_cpuset_new();
        for (i = 0; i < f->n; i++)
            kt_cpuset_union(pl->shared_cpus, ctx->nodes[f->idx[i]].shared);
        list = kt_cpuset_format(pl->shared_cpus);
        note(ctx, "cpus: shared: %u vCPUs float over the node's shared CPUs %s "
             "(overcommit up to %.1f:1)", pl->nvcpus, list,
             ctx->policy->cpu_allocation_ratio > 0 ? ctx->policy->cpu_allocation_ratio : 8.0);
    }
    if (s->cpu != KT_CPU_POLICY_NONE && (s->cpu == KT_CPU_POLICY_SHARED || !s->emu_isolate)) {
        /* emulator=share: the node's shared CPUs keep QEMU's own threads
         * local without taking a dedicated CPU. */
        g_autoptr(KtCpuset) emu = kt_cpuset_new();
        g_autofree char *list = NULL;

        bool local = true;

        for (i = 0; i < f->n; i++)
            kt_cpuset_union(emu, ctx->nodes[f->idx[i]].shared);
        if (kt_cpuset_is_empty(emu)) {
            kt_cpuset_union(emu, ctx->shared_pool);
            local = false;
        }
        if (!kt_cpuset_is_empty(emu)) {
            list = kt_cpuset_format(emu);
            pl->emulator_cpus = g_steal_pointer(&emu);
            if (s->cpu == KT_CPU_POLICY_DEDICATED)
                note(ctx, "emulator: share: %s %s", local ? "shared CPUs of the VM's nodes"
                     : "the whole shared pool (the VM's nodes have no shared CPU)", list);
        }
    }

    /* Guest NUMA cells mirror the host nodes used. */
    if (s->cpu == KT_CPU_POLICY_DEDICATED || (s->cpu == KT_CPU_POLICY_SHARED && f->n > 1)) {
        v = 0;
        pl->ncells = f->n;
        pl->cells = g_new0(KtPlacementCell, f->n);
        for (i = 0; i < f->n; i++) {
            pl->cells[i].vcpus = kt_cpuset_new();
            for (j = 0; j < f->vcpus[i]; j++)
                kt_cpuset_add(pl->cells[i].vcpus, v++);
            pl->cells[i].memory_kib = f->mem[i];
            pl->cells[i].host_node = ctx->nodes[f->idx[i]].id;
        }
    }
    pl->memory_kib = ctx->req->memory_kib;
}

static void
fill_memory(Ctx *ctx, const Shape *s, const Fit *f, KtPlacement *pl)
{
    guint i;

    if (!s->page_kib) {
        for (i = 0; i < f->n; i++) {
            const Node *n = &ctx->nodes[f->idx[i]];

            note(ctx, "memory: %" G_GUINT64_FORMAT " MiB on node %u (%" G_GUINT64_FORMAT
                 " MiB free before)", f->mem[i] / 1024, n->id, n->mem_free / 1024);
        }
        return;
    }
    pl->hugepage_kib = s->page_kib;
    pl->npages = f->n;
    pl->pages = g_new0(KtPlacementPages, f->n);
    for (i = 0; i < f->n; i++) {
        const Node *n = &ctx->nodes[f->idx[i]];
        g_autofree char *sz = size_name(s->page_kib);

        pl->pages[i].node = n->id;
        pl->pages[i].count = f->pages[i];
        note(ctx, "memory: %" G_GUINT64_FORMAT " x %s hugepages on node %u (%" G_GUINT64_FORMAT
             " of %" G_GUINT64_FORMAT " free before)%s", f->pages[i], sz, n->id,
             pages_free(ctx, n->id, s->page_kib), pages_capacity(ctx, n->id, s->page_kib),
             s->check_memory ? "" : ", chosen by Nova");
    }
}

/* ---- devices ------------------------------------------------------------- */

static bool
in_request(const KtRequest *req, const char *address)
{
    guint i;

    for (i = 0; i < req->pci_devs->len; i++) {
        const KtRequestPciDev *d = g_ptr_array_index(req->pci_devs, i);

        if (g_ascii_strcasecmp(d->address, address) == 0)
            return true;
    }
    return false;
}

static bool
pci_taken(const Ctx *ctx, const KtPlacement *pl, const char *address)
{
    guint i;

    if (kt_ledger_pci_holder(ctx->ledger, address))
        return true;
    for (i = 0; i < pl->vfs->len; i++) {
        if (g_strcmp0(((KtPlacementVf *)g_ptr_array_index(pl->vfs, i))->vf, address) == 0)
            return true;
    }
    for (i = 0; i < pl->gpus->len; i++) {
        if (g_strcmp0(((KtPlacementGpu *)g_ptr_array_index(pl->gpus, i))->address, address) == 0)
            return true;
    }
    return false;
}

/* Locally administered unicast MAC derived from the domain and the VF
 * index, so a redefinition gives the guest the same address. */
static char *
derive_mac(const char *uuid, guint index)
{
    g_autofree char *seed = g_strdup_printf("%s/vf/%u", uuid ? uuid : "", index);
    g_autoptr(GChecksum) ck = g_checksum_new(G_CHECKSUM_SHA256);
    guint8 d[32];
    gsize len = sizeof(d);

    g_checksum_update(ck, (const guchar *)seed, -1);
    g_checksum_get_digest(ck, d, &len);
    return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x",
                           (d[0] & 0xfc) | 0x02, d[1], d[2], d[3], d[4], d[5]);
}

char *
kt_allocator_derive_uuid(const char *seed)
{
    g_autoptr(GChecksum) ck = g_checksum_new(G_CHECKSUM_SHA1);
    guint8 d[20];
    gsize len = sizeof(d);

    g_checksum_update(ck, (const guchar *)"kvmtune/", -1);
    g_checksum_update(ck, (const guchar *)seed, -1);
    g_checksum_get_digest(ck, d, &len);
    d[6] = (d[6] & 0x0f) | 0x50;
    d[8] = (d[8] & 0x3f) | 0x80;
    return g_strdup_printf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                           "%02x%02x%02x%02x%02x%02x",
                           d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9],
                           d[10], d[11], d[12], d[13], d[14], d[15]);
}

/* Appends "nodeN count" per node into @out. */
static void
free_per_node(const Ctx *ctx, GString *out, const guint *per_node)
{
    guint i;

    for (i = 0; i < ctx->nnodes; i++)
        g_string_append_printf(out, "%snode%u %u", i ? ", " : "", ctx->nodes[i].id, per_node[i]);
}

static gboolean
need_failed(Ctx *ctx, KtNeed need, const char *part, GError **error, const char *fmt, ...)
    G_GNUC_PRINTF(5, 6);

static gboolean
need_failed(Ctx *ctx, KtNeed need, const char *part, GError **error, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (need == KT_NEED_REQUIRED) {
        g_set_error(error, KT_ERROR, KT_ERROR_NO_CAPACITY, "profile %s needs %s",
                    ctx->profile->name, msg);
        return FALSE;
    }
    if (ctx->report)
        ctx->report->fallbacks++;
    note(ctx, "%s: best-effort, skipped: no capacity for %s", part, msg);
    return TRUE;
}

static gboolean
place_vfs(Ctx *ctx, KtPlacement *pl, GError **error)
{
    const KtPolicyProfile *prof = ctx->profile;
    guint r, pass, j, v;
    guint index = 0;

    for (r = 0; prof->sriov && r < prof->sriov->len; r++) {
        const KtPolicySriovReq *sr = g_ptr_array_index(prof->sriov, r);
        guint want = MAX(sr->count, 1);
        guint got = 0;

        /* pass 0: PFs on the VM's nodes; pass 1: any node. */
        for (pass = 0; pass < 2 && got < want; pass++) {
            for (j = 0; ctx->policy->sriov_pfs && j < ctx->policy->sriov_pfs->len && got < want; j++) {
                const KtPolicySriovPf *ppf = g_ptr_array_index(ctx->policy->sriov_pfs, j);
                const KtInvSriovPf *pf;
                bool local;

                if (g_strcmp0(ppf->physnet, sr->physnet) != 0)
                    continue;
                pf = kt_inventory_find_pf(ctx->inv, ppf->pf);
                if (!pf || !pf->vfs)
                    continue;
                local = pf->node < 0 || !pl->nodes || kt_cpuset_has(pl->nodes, pf->node);
                if ((pass == 0) != local)
                    continue;
                for (v = 0; v < pf->vfs->len && got < want; v++) {
                    const char *addr = g_ptr_array_index(pf->vfs, v);
                    KtPlacementVf *vf;

                    if (pci_taken(ctx, pl, addr) || in_request(ctx->req, addr))
                        continue;
                    vf = kt_placement_vf_new();
                    vf->pf = g_strdup(pf->address);
                    vf->vf = g_strdup(addr);
                    vf->mac = derive_mac(ctx->req->uuid, index++);
                    vf->vlan = sr->vlan;
                    vf->trust = sr->trust;
                    vf->spoofchk = sr->spoofchk;
                    vf->node = pf->node < 0 ? 0 : (guint)pf->node;
                    g_ptr_array_add(pl->vfs, vf);
                    note(ctx, "sriov: VF %s of PF %s (physnet %s, node %d%s)", addr, pf->address,
                         sr->physnet, pf->node, local ? ", local" : ", remote: no local VF free");
                    got++;
                }
            }
        }
        if (got < want) {
            g_autofree guint *per = g_new0(guint, ctx->nnodes);
            g_autoptr(GString) fl = g_string_new(NULL);

            for (j = 0; ctx->policy->sriov_pfs && j < ctx->policy->sriov_pfs->len; j++) {
                const KtPolicySriovPf *ppf = g_ptr_array_index(ctx->policy->sriov_pfs, j);
                const KtInvSriovPf *pf = kt_inventory_find_pf(ctx->inv, ppf->pf);
                int ni;

                if (!pf || !pf->vfs || g_strcmp0(ppf->physnet, sr->physnet) != 0)
                    continue;
                ni = node_index(ctx, pf->node < 0 ? 0 : (guint)pf->node);
                for (v = 0; ni >= 0 && v < pf->vfs->len; v++) {
                    if (!kt_ledger_pci_holder(ctx->ledger, g_ptr_array_index(pf->vfs, v)))
                        per[ni]++;
                }
            }
            free_per_node(ctx, fl, per);
            if (!need_failed(ctx, prof->sriov_need, "sriov", error,
                             "%u VFs on physnet %s; free: %s", want, sr->physnet, fl->str))
                return FALSE;
        }
    }
    return TRUE;
}

static guint
mdev_free(const Ctx *ctx, const KtPlacement *pl, const KtInvMdevParent *par,
          const KtInvMdevType *t)
{
    guint booked = kt_ledger_mdev_count(ctx->ledger, par->address, t->id);
    guint any = kt_ledger_mdev_count(ctx->ledger, par->address, NULL);
    guint i;

    /* A parent runs one mdev type at a time (NVIDIA time-sliced vGPU), and a
     * GPU handed out whole has no mdevs. */
    if (any > booked || kt_ledger_pci_holder(ctx->ledger, par->address))
        return 0;
    for (i = 0; pl && i < pl->mdevs->len; i++) {
        const KtPlacementMdev *m = g_ptr_array_index(pl->mdevs, i);

        if (g_strcmp0(m->parent, par->address) == 0)
            booked++;
    }
    return t->available > booked ? t->available - booked : 0;
}

static gboolean
place_mdevs(Ctx *ctx, KtPlacement *pl, GError **error)
{
    const KtPolicyProfile *prof = ctx->profile;
    guint want = MAX(prof->vgpu_count, 1);
    guint got = 0;
    guint pass, j, t;

    if (!prof->vgpu_type)
        return TRUE;
    for (pass = 0; pass < 2 && got < want; pass++) {
        for (j = 0; j < ctx->inv->mdev_parents->len && got < want; j++) {
            const KtInvMdevParent *par = g_ptr_array_index(ctx->inv->mdev_parents, j);
            bool local = par->node < 0 || !pl->nodes || kt_cpuset_has(pl->nodes, par->node);

            if ((pass == 0) != local)
                continue;
            for (t = 0; t < par->types->len && got < want; t++) {
                const KtInvMdevType *ty = g_ptr_array_index(par->types, t);

                if (g_strcmp0(ty->id, prof->vgpu_type) != 0)
                    continue;
                while (got < want && mdev_free(ctx, pl, par, ty) > 0) {
                    KtPlacementMdev *m = g_new0(KtPlacementMdev, 1);
                    g_autofree char *seed = g_strdup_printf("%s/mdev/%u",
                                                            ctx->req->uuid ? ctx->req->uuid : "",
                                                            pl->mdevs->len);

                    m->parent = g_strdup(par->address);
                    m->type = g_strdup(ty->id);
                    m->uuid = kt_allocator_derive_uuid(seed);
                    m->node = par->node < 0 ? 0 : (guint)par->node;
                    g_ptr_array_add(pl->mdevs, m);
                    note(ctx, "vgpu: mdev %s of type %s on %s (node %d%s)", m->uuid, ty->id,
                         par->address, par->node, local ? ", local" : ", remote");
                    got++;
                }
            }
        }
    }
    if (got < want) {
        g_autofree guint *per = g_new0(guint, ctx->nnodes);
        g_autoptr(GString) fl = g_string_new(NULL);

        for (j = 0; j < ctx->inv->mdev_parents->len; j++) {
            const KtInvMdevParent *par = g_ptr_array_index(ctx->inv->mdev_parents, j);
            int ni = node_index(ctx, par->node < 0 ? 0 : (guint)par->node);

            for (t = 0; ni >= 0 && t < par->types->len; t++) {
                const KtInvMdevType *ty = g_ptr_array_index(par->types, t);

                if (g_strcmp0(ty->id, prof->vgpu_type) == 0)
                    per[ni] += mdev_free(ctx, pl, par, ty);
            }
        }
        free_per_node(ctx, fl, per);
        g_ptr_array_set_size(pl->mdevs, pl->mdevs->len - got);
        return need_failed(ctx, prof->vgpu_need, "vgpu", error,
                           "%u mdevs of type %s; free: %s", want, prof->vgpu_type, fl->str);
    }
    return TRUE;
}

static gboolean
place_gpus(Ctx *ctx, KtPlacement *pl, GError **error)
{
    const KtPolicyProfile *prof = ctx->profile;
    guint got = 0;
    guint pass, j;

    if (prof->gpu_count == 0)
        return TRUE;
    for (pass = 0; pass < 2 && got < prof->gpu_count; pass++) {
        for (j = 0; ctx->policy->gpus && j < ctx->policy->gpus->len && got < prof->gpu_count; j++) {
            const char *addr = g_ptr_array_index(ctx->policy->gpus, j);
            int node = kt_inventory_pci_node(ctx->inv, addr);
            bool local = node < 0 || !pl->nodes || kt_cpuset_has(pl->nodes, node);
            KtPlacementGpu *g;

            if ((pass == 0) != local || pci_taken(ctx, pl, addr) ||
                kt_ledger_mdev_count(ctx->ledger, addr, NULL) > 0 || in_request(ctx->req, addr))
                continue;
            g = g_new0(KtPlacementGpu, 1);
            g->address = g_strdup(addr);
            g->node = node < 0 ? 0 : (guint)node;
            g_ptr_array_add(pl->gpus, g);
            note(ctx, "gpu: whole GPU %s (node %d%s)", addr, node, local ? ", local" : ", remote");
            got++;
        }
    }
    if (got < prof->gpu_count) {
        g_autofree guint *per = g_new0(guint, ctx->nnodes);
        g_autoptr(GString) fl = g_string_new(NULL);

        for (j = 0; ctx->policy->gpus && j < ctx->policy->gpus->len; j++) {
            const char *addr = g_ptr_array_index(ctx->policy->gpus, j);
            int node = kt_inventory_pci_node(ctx->inv, addr);
            int ni = node_index(ctx, node < 0 ? 0 : (guint)node);

            if (ni >= 0 && !kt_ledger_pci_holder(ctx->ledger, addr) &&
                kt_ledger_mdev_count(ctx->ledger, addr, NULL) == 0)
                per[ni]++;
        }
        free_per_node(ctx, fl, per);
        g_ptr_array_set_size(pl->gpus, pl->gpus->len - got);
        return need_failed(ctx, prof->gpu_need, "gpu", error,
                           "%u whole GPUs; free: %s", prof->gpu_count, fl->str);
    }
    return TRUE;
}

/* ---- Nova's own tuning --------------------------------------------------- */

/* CPUs Nova pinned one vCPU each to (hw:cpu_policy=dedicated), plus a
 * single emulator CPU outside the shared pool.  Float sets are not
 * bookings: they are Nova's shared pool. */
static KtCpuset *
nova_pinned_cpus(const Ctx *ctx)
{
    const KtRequest *req = ctx->req;
    KtCpuset *set = kt_cpuset_new();
    guint i;

    for (i = 0; req->vcpupins && i < req->vcpus_max; i++) {
        if (req->vcpupins[i] && kt_cpuset_count(req->vcpupins[i]) == 1)
            kt_cpuset_union(set, req->vcpupins[i]);
    }
    if (!kt_cpuset_is_empty(set) && req->emulatorpin &&
        kt_cpuset_count(req->emulatorpin) == 1 &&
        !kt_cpuset_is_subset(req->emulatorpin, ctx->shared_pool))
        kt_cpuset_union(set, req->emulatorpin);
    return set;
}

/* Nova pinned the domain and the profile does not override: the placement
 * records Nova's decision as given, because the metadata is the ledger's
 * only store.  Every vCPU on one CPU (hw:cpu_policy=dedicated) becomes the
 * placement's pins; guest cells bound to one host node each (numatune
 * memnode) become its cells, so memory and pages are booked per node as
 * Nova split them (hw:numa_mem.N may be uneven), not evenly. */
static void
record_nova(Ctx *ctx, KtPlacement *pl)
{
    const KtRequest *req = ctx->req;
    guint64 sum = 0;
    guint i;

    for (i = 0; req->vcpupins && i < req->vcpus_max; i++) {
        if (!req->vcpupins[i] || kt_cpuset_count(req->vcpupins[i]) != 1)
            break;
    }
    if (req->vcpupins && i == req->vcpus_max && pl->cpu_policy == KT_CPU_POLICY_NONE) {
        pl->cpu_policy = KT_CPU_POLICY_DEDICATED;
        pl->nvcpus = req->vcpus_max;
        pl->vcpu_pins = g_new0(KtCpuset *, pl->nvcpus);
        for (i = 0; i < pl->nvcpus; i++)
            pl->vcpu_pins[i] = kt_cpuset_copy(req->vcpupins[i]);
        if (req->emulatorpin && !kt_cpuset_is_empty(req->emulatorpin) && !pl->emulator_cpus)
            pl->emulator_cpus = kt_cpuset_copy(req->emulatorpin);
        note(ctx, "cpus: Nova's pins recorded as given (one CPU per vCPU)");
    }

    if (pl->ncells || req->ncpu_cells == 0 || !req->cpu_cells ||
        req->ncpu_cells > 1024 /* the metadata's list cap */)
        return;
    for (i = 0; i < req->ncpu_cells; i++) {
        const KtRequestCell *c = &req->cpu_cells[i];

        if (c->id != i || !c->vcpus || kt_cpuset_is_empty(c->vcpus) ||
            kt_cpuset_last(c->vcpus) >= (int)req->vcpus_max || c->memory_kib == 0 ||
            !c->memnode || kt_cpuset_count(c->memnode) != 1)
            return;
        sum += c->memory_kib;
    }
    if (sum != req->memory_kib)
        return;
    pl->ncells = req->ncpu_cells;
    pl->cells = g_new0(KtPlacementCell, pl->ncells);
    for (i = 0; i < pl->ncells; i++) {
        pl->cells[i].vcpus = kt_cpuset_copy(req->cpu_cells[i].vcpus);
        pl->cells[i].memory_kib = req->cpu_cells[i].memory_kib;
        pl->cells[i].host_node = (guint)kt_cpuset_first(req->cpu_cells[i].memnode);
        if (!pl->nodes)
            pl->nodes = kt_cpuset_new();
        kt_cpuset_add(pl->nodes, pl->cells[i].host_node);
    }
    note(ctx, "numa: Nova's %u guest cells recorded as given", pl->ncells);
    if (!pl->hugepage_kib)
        return;
    /* pages per host node from Nova's cells */
    g_free(pl->pages);
    pl->pages = NULL;
    pl->npages = 0;
    for (i = 0; i < pl->ncells; i++) {
        guint64 count = (pl->cells[i].memory_kib + pl->hugepage_kib - 1) / pl->hugepage_kib;
        guint j;

        for (j = 0; j < pl->npages && pl->pages[j].node != pl->cells[i].host_node; j++)
            ;
        if (j == pl->npages) {
            pl->pages = g_renew(KtPlacementPages, pl->pages, pl->npages + 1);
            /* zeroed padding too: kt_placement_equal() compares with memcmp */
            memset(&pl->pages[j], 0, sizeof(pl->pages[j]));
            pl->pages[j].node = pl->cells[i].host_node;
            pl->npages++;
        }
        pl->pages[j].count += count;
    }
}

/* ---- the decision -------------------------------------------------------- */

static bool
attempt(Ctx *ctx, const Shape *s, Fit *ret_fit)
{
    Search se = { .ctx = ctx, .s = s };
    g_autoptr(GString) trace = ctx->report ? g_string_new(NULL) : NULL;

    if (s->nnodes == 0 || s->nnodes > ctx->nnodes || s->nnodes > FIT_MAX_NODES)
        return false;
    se.trace = trace;
    search_sets(&se, 0, 0);
    if (!se.found)
        return false;
    ctx->affinity_decided = se.max_aff != se.min_aff;
    note(ctx, "numa: candidates: %s", trace ? trace->str : "");
    *ret_fit = se.best;
    return true;
}

KtPlacement *
kt_allocator_place(const KtInventory *inv, const KtPolicy *policy,
                   const KtLedger *ledger, const KtRequest *req,
                   const KtPolicyProfile *profile,
                   KtAllocReport *report, GError **error)
{
    Ctx ctx = { inv, policy, ledger, req, profile, report, NULL, 0, NULL, NULL, false };
    g_autoptr(KtPlacement) pl = kt_placement_new();
    g_autoptr(KtCpuset) nova_cpus = NULL;
    g_autoptr(KtCpuset) nova_nodes = kt_cpuset_new();
    Shape want = { 0 };
    Fit fit = { 0 };
    bool found = false;
    bool nova_owns_cpus, nova_owns_pages;
    gboolean ok = TRUE;
    guint n;
    int c;

    g_return_val_if_fail(inv && policy && ledger && req && profile, NULL);

    if (req->vcpus_max == 0 || req->memory_kib == 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                    "domain %s: no vCPUs or no memory to place", req->name ? req->name : "?");
        return NULL;
    }
    if (req->vcpus_max >= KT_CPUSET_MAX) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "domain %s: %u vCPUs, more than %d",
                    req->name ? req->name : "?", req->vcpus_max, KT_CPUSET_MAX - 1);
        return NULL;
    }
    if (inv->nodes->len == 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "inventory has no NUMA node");
        return NULL;
    }
    ctx_init(&ctx);

    pl->profile = g_strdup(profile->name);
    pl->policy_hash = g_strdup(policy->hash);
    pl->override = profile->override;

    /* Step 1: the shape. */
    nova_owns_cpus = kt_request_has_cpu_pinning(req) && !profile->override;
    nova_owns_pages = req->has_hugepages && !profile->override;
    want.cpu = nova_owns_cpus ? KT_CPU_POLICY_NONE : profile->cpu_policy;
    want.threads = profile->threads;
    want.emu_isolate = profile->emulator == KT_EMULATOR_ISOLATE;
    want.nnodes = profile->numa_nodes ? profile->numa_nodes : 1;
    want.page_kib = nova_owns_pages ? (req->hugepage_kib ? req->hugepage_kib : 2048)
                                    : profile->hugepage_kib;
    want.check_memory = true;
    if (nova_owns_cpus) {
        nova_cpus = nova_pinned_cpus(&ctx);
        for (c = kt_cpuset_first(nova_cpus); c >= 0; c = kt_cpuset_next(nova_cpus, c + 1)) {
            int nd = cpu_node(&ctx, c);

            if (nd >= 0)
                kt_cpuset_add(nova_nodes, nd);
        }
        if (report)
            report->nova_cpus = true;
        note(&ctx, "cpus: Nova pinned this domain itself; its CPUs are booked, not moved%s",
             kt_cpuset_is_empty(nova_cpus) ? " (float set only: nothing to book)" : "");
    }
    if (req->has_numatune && req->numatune_nodeset && !profile->override)
        kt_cpuset_union(nova_nodes, req->numatune_nodeset);
    if (nova_owns_pages) {
        if (report)
            report->nova_memory = true;
        note(&ctx, "memory: Nova set hugepages itself; its pages are booked, not moved");
    }
    if (!kt_cpuset_is_empty(nova_nodes)) {
        want.fixed_nodes = nova_nodes;
        want.nnodes = kt_cpuset_count(nova_nodes);
        want.check_memory = false;    /* Nova's choice stands; book it */
    }

    if (want.nnodes > MIN(ctx.nnodes, FIT_MAX_NODES) &&
        (want.fixed_nodes || profile->numa_need == KT_NEED_REQUIRED)) {
        g_set_error(error, KT_ERROR, KT_ERROR_NO_CAPACITY,
                    "profile %s needs %u NUMA nodes; the host has %u", profile->name,
                    want.nnodes, ctx.nnodes);
        ctx_clear(&ctx);
        return NULL;
    }
    if (want.nnodes > MIN(ctx.nnodes, FIT_MAX_NODES)) {
        if (report)
            report->fallbacks++;
        note(&ctx, "numa: best-effort: %u nodes asked, the host has %u", want.nnodes, ctx.nnodes);
        want.nnodes = MIN(ctx.nnodes, FIT_MAX_NODES);
    }

    /* Step 2: nodes, weakening best-effort parts one at a time. */
    found = attempt(&ctx, &want, &fit);
    if (!found) {
        set_refusal(&ctx, &want, error);
        if (profile->numa_nodes == 0 || profile->numa_need == KT_NEED_BEST_EFFORT) {
            Shape s = want;

            for (n = want.nnodes + 1; !found && !want.fixed_nodes && n <= ctx.nnodes; n++) {
                s.nnodes = n;
                found = attempt(&ctx, &s, &fit);
                if (found) {
                    want = s;
                    if (profile->numa_nodes) {
                        if (report)
                            report->fallbacks++;
                        note(&ctx, "numa: best-effort: %u nodes did not fit, split over %u",
                             profile->numa_nodes, n);
                    }
                }
            }
        }
        if (!found && want.page_kib && !nova_owns_pages &&
            profile->memory_need == KT_NEED_BEST_EFFORT) {
            Shape s = want;

            s.page_kib = 0;
            found = attempt(&ctx, &s, &fit);
            if (found) {
                want = s;
                if (report)
                    report->fallbacks++;
                note(&ctx, "memory: best-effort: no hugepages free, normal memory instead");
            }
        }
        if (!found && want.cpu == KT_CPU_POLICY_DEDICATED &&
            profile->cpu_need == KT_NEED_BEST_EFFORT) {
            Shape s = want;

            s.cpu = KT_CPU_POLICY_SHARED;
            s.emu_isolate = false;
            found = attempt(&ctx, &s, &fit);
            if (found) {
                want = s;
                if (report)
                    report->fallbacks++;
                note(&ctx, "cpus: best-effort: no dedicated CPUs free, shared CPUs instead");
            }
        }
        if (!found) {
            ctx_clear(&ctx);
            return NULL;
        }
        g_clear_error(error);
    }

    {
        g_autofree char *nodes = NULL;
        guint i;

        fill_cpus(&ctx, &want, &fit, pl);
        fill_memory(&ctx, &want, &fit, pl);
        nodes = kt_cpuset_format(pl->nodes);
        note(&ctx, "numa: host node%s %s (%s)", fit.n > 1 ? "s" : "", nodes,
             want.fixed_nodes ? "where Nova put it"
             : ctx.affinity_decided && fit.affinity >= 1000 ? "where its passthrough devices are"
             : ctx.affinity_decided ? "closest to its devices"
             : want.cpu == KT_CPU_POLICY_DEDICATED ? "best fit: fewest dedicated CPUs left"
             : "most free memory");
        for (i = 0; i < fit.n; i++)
            pick_clear(&fit.picks[i]);
    }
    if (nova_cpus && !kt_cpuset_is_empty(nova_cpus)) {
        if (!pl->booked_cpus)
            pl->booked_cpus = kt_cpuset_new();
        kt_cpuset_union(pl->booked_cpus, nova_cpus);
    }
    if (nova_owns_cpus)
        record_nova(&ctx, pl);

    /* Step 3: devices. */
    ok = place_vfs(&ctx, pl, error) && place_mdevs(&ctx, pl, error) &&
         place_gpus(&ctx, pl, error);
    ctx_clear(&ctx);
    if (!ok)
        return NULL;
    return g_steal_pointer(&pl);
}

/* ---- matching ------------------------------------------------------------ */

/* One matcher for every caller (engine, simulate, Proxmox): the policy's. */
const KtPolicyMatch *
kt_allocator_match(const KtPolicy *policy, const KtRequest *req,
                   const KtPolicyProfile **ret_profile, const char **ret_profile_name)
{
    const KtPolicyMatch *m = kt_policy_match(policy, req->flavor_name, req->name,
                                             req->extra_specs, ret_profile);

    if (ret_profile_name) {
        if (!m)
            *ret_profile_name = NULL;
        else if (m->profile)
            *ret_profile_name = m->profile;
        else
            *ret_profile_name = *ret_profile ? (*ret_profile)->name : "none";
    }
    return m;
}

/* ---- usage --------------------------------------------------------------- */

GArray *
kt_allocator_node_usage(const KtInventory *inv, const KtPolicy *policy,
                        const KtLedger *ledger)
{
    Ctx ctx = { inv, policy, ledger, NULL, NULL, NULL, NULL, 0, NULL, NULL, false };
    GArray *out = g_array_new(FALSE, TRUE, sizeof(KtNodeUsage));
    guint i, j;

    ctx_init(&ctx);
    for (i = 0; i < ctx.nnodes; i++) {
        const Node *n = &ctx.nodes[i];
        const KtInvNode *in = &g_array_index(inv->nodes, KtInvNode, i);
        KtNodeUsage u = { 0 };
        g_autoptr(GArray) cores = node_cores(&ctx, n);

        u.node = n->id;
        u.dedicated_total = kt_cpuset_count(n->dedicated);
        u.dedicated_booked = u.dedicated_total - kt_cpuset_count(n->free_ded);
        u.whole_cores_free = count_whole(cores);
        u.shared_cpus = kt_cpuset_count(n->shared);
        u.shared_vcpus_capacity = n->shared_cap;
        u.shared_vcpus_booked = kt_ledger_node_shared_vcpus(ledger, n->id);
        u.memory_capacity_kib = n->mem_cap;
        u.memory_booked_kib = kt_ledger_node_memory(ledger, n->id);
        for (j = 0; in->hugepages && j < in->hugepages->len && u.npages < G_N_ELEMENTS(u.pages); j++) {
            const KtInvHugepages *hp = &g_array_index(in->hugepages, KtInvHugepages, j);

            u.pages[u.npages].size_kib = (guint)hp->size_kib;
            u.pages[u.npages].capacity = pages_capacity(&ctx, n->id, hp->size_kib);
            u.pages[u.npages].booked = kt_ledger_node_pages(ledger, n->id, hp->size_kib);
            u.npages++;
        }
        g_array_append_val(out, u);
    }
    ctx_clear(&ctx);
    return out;
}
