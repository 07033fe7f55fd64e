/* ledger.c: bookings keyed by domain UUID with running totals.
 *
 * The totals are never stored per booking: a booking's usage is recomputed
 * from its placements when it is added or removed, so add and remove are
 * exact inverses by construction ("release returns exactly what was
 * booked"). */
#include "ledger.h"
#include "kt-error.h"

#include <string.h>

typedef struct {
    guint node;
    guint64 size_kib;
    guint64 count;
} PageCount;

/* What one booking uses (committed and pending merged). */
typedef struct {
    KtCpuset *cpus;
    guint64 memory[KT_LEDGER_MAX_NODES];
    guint shared[KT_LEDGER_MAX_NODES];
    GArray *pages;              /* PageCount */
    GPtrArray *pci;             /* const char*, borrowed, unique */
    GPtrArray *mdev_uuids;      /* const char*, borrowed, unique */
    GPtrArray *mdevs;           /* const KtPlacementMdev*, borrowed, by uuid */
} Usage;

struct _KtLedger {
    GHashTable *bookings;       /* uuid -> KtBooking* */
    KtCpuset *cpus;
    guint64 memory[KT_LEDGER_MAX_NODES];
    guint shared[KT_LEDGER_MAX_NODES];
    GArray *pages;              /* PageCount */
    GHashTable *pci;            /* address -> holder uuid (the booking's) */
    GHashTable *mdev_uuids;     /* mdev uuid -> holder uuid */
    GHashTable *mdev_counts;    /* "parent\ttype" and "parent" -> count */
    char *suspended;
    guint npending;
};

static void
booking_free(KtBooking *b)
{
    if (!b)
        return;
    g_free(b->uuid);
    g_free(b->signature);
    kt_placement_free(b->committed);
    kt_placement_free(b->pending);
    g_ptr_array_unref(b->foreign_pci);
    g_free(b);
}

static Usage *
usage_new(void)
{
    Usage *u = g_new0(Usage, 1);

    u->cpus = kt_cpuset_new();
    u->pages = g_array_new(FALSE, FALSE, sizeof(PageCount));
    u->pci = g_ptr_array_new();
    u->mdev_uuids = g_ptr_array_new();
    u->mdevs = g_ptr_array_new();
    return u;
}

static void
usage_free(Usage *u)
{
    if (!u)
        return;
    kt_cpuset_free(u->cpus);
    g_array_unref(u->pages);
    g_ptr_array_unref(u->pci);
    g_ptr_array_unref(u->mdev_uuids);
    g_ptr_array_unref(u->mdevs);
    g_free(u);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Usage, usage_free)

static PageCount *
pages_find(GArray *pages, guint node, guint64 size_kib, bool create)
{
    guint i;
    PageCount pc = { node, size_kib, 0 };

    for (i = 0; i < pages->len; i++) {
        PageCount *p = &g_array_index(pages, PageCount, i);

        if (p->node == node && p->size_kib == size_kib)
            return p;
    }
    if (!create)
        return NULL;
    g_array_append_val(pages, pc);
    return &g_array_index(pages, PageCount, pages->len - 1);
}

static bool
str_in(GPtrArray *arr, const char *s)
{
    guint i;

    for (i = 0; i < arr->len; i++) {
        if (g_strcmp0(g_ptr_array_index(arr, i), s) == 0)
            return true;
    }
    return false;
}

static void
add_unique(GPtrArray *arr, const char *s)
{
    if (s && !str_in(arr, s))
        g_ptr_array_add(arr, (gpointer)s);
}

/* Spreads @amount over the members of @nodes, the remainder on the first. */
static void
spread(const KtCpuset *nodes, guint64 amount, guint64 *per_node_out)
{
    guint n = kt_cpuset_count(nodes);
    int id;
    bool first = true;

    if (n == 0)
        return;
    for (id = kt_cpuset_first(nodes); id >= 0; id = kt_cpuset_next(nodes, id + 1)) {
        guint64 share = amount / n + (first ? amount % n : 0);

        if (id < KT_LEDGER_MAX_NODES)
            per_node_out[id] += share;
        first = false;
    }
}

static void
usage_of_placement(const KtPlacement *pl, guint64 *memory, guint64 *shared)
{
    guint i;

    if (pl->hugepage_kib == 0 && pl->memory_kib > 0) {
        if (pl->ncells > 0) {
            for (i = 0; i < pl->ncells; i++) {
                if (pl->cells[i].host_node < KT_LEDGER_MAX_NODES)
                    memory[pl->cells[i].host_node] += pl->cells[i].memory_kib;
            }
        } else if (pl->nodes) {
            spread(pl->nodes, pl->memory_kib, memory);
        }
    }
    if (pl->cpu_policy == KT_CPU_POLICY_SHARED) {
        if (pl->ncells > 0) {
            for (i = 0; i < pl->ncells; i++) {
                if (pl->cells[i].host_node < KT_LEDGER_MAX_NODES)
                    shared[pl->cells[i].host_node] += kt_cpuset_count(pl->cells[i].vcpus);
            }
        } else if (pl->nodes) {
            spread(pl->nodes, pl->nvcpus, shared);
        }
    }
}

/* Merges @pl into @u: sets by union, per-node counts by maximum (the
 * committed and pending placements of one domain never run together). */
static void
usage_merge_placement(Usage *u, const KtPlacement *pl)
{
    guint64 memory[KT_LEDGER_MAX_NODES] = { 0 };
    guint64 shared[KT_LEDGER_MAX_NODES] = { 0 };
    guint i;

    if (!pl)
        return;
    if (pl->booked_cpus)
        kt_cpuset_union(u->cpus, pl->booked_cpus);
    if (pl->cpu_policy == KT_CPU_POLICY_DEDICATED && pl->vcpu_pins) {
        for (i = 0; i < pl->nvcpus; i++)
            kt_cpuset_union(u->cpus, pl->vcpu_pins[i]);
    }
    usage_of_placement(pl, memory, shared);
    for (i = 0; i < KT_LEDGER_MAX_NODES; i++) {
        u->memory[i] = MAX(u->memory[i], memory[i]);
        u->shared[i] = MAX(u->shared[i], (guint)shared[i]);
    }
    for (i = 0; pl->hugepage_kib && i < pl->npages; i++) {
        PageCount *p = pages_find(u->pages, pl->pages[i].node, pl->hugepage_kib, true);

        p->count = MAX(p->count, pl->pages[i].count);
    }
    for (i = 0; i < pl->vfs->len; i++)
        add_unique(u->pci, ((KtPlacementVf *)g_ptr_array_index(pl->vfs, i))->vf);
    for (i = 0; i < pl->gpus->len; i++)
        add_unique(u->pci, ((KtPlacementGpu *)g_ptr_array_index(pl->gpus, i))->address);
    for (i = 0; i < pl->mdevs->len; i++) {
        const KtPlacementMdev *m = g_ptr_array_index(pl->mdevs, i);

        if (!m->uuid || str_in(u->mdev_uuids, m->uuid))
            continue;
        g_ptr_array_add(u->mdev_uuids, m->uuid);
        g_ptr_array_add(u->mdevs, (gpointer)m);
    }
}

static Usage *
usage_of_booking(const KtBooking *b)
{
    Usage *u = usage_new();
    guint i;

    usage_merge_placement(u, b->committed);
    usage_merge_placement(u, b->pending);
    for (i = 0; b->foreign_pci && i < b->foreign_pci->len; i++)
        add_unique(u->pci, g_ptr_array_index(b->foreign_pci, i));
    return u;
}

static char *
mdev_key(const char *parent, const char *type)
{
    return type ? g_strconcat(parent ? parent : "", "\t", type, NULL)
                : g_strdup(parent ? parent : "");
}

static void
count_adjust(GHashTable *h, const char *parent, const char *type, int delta)
{
    g_autofree char *key = mdev_key(parent, type);
    guint v = GPOINTER_TO_UINT(g_hash_table_lookup(h, key));

    v = delta > 0 ? v + 1 : (v > 0 ? v - 1 : 0);
    if (v == 0)
        g_hash_table_remove(h, key);
    else
        g_hash_table_insert(h, g_steal_pointer(&key), GUINT_TO_POINTER(v));
}

/* Applies @u to the totals: @sign +1 adds, -1 removes.  @holder must be the
 * booking's own uuid string (the hash tables borrow it). */
static void
totals_apply(KtLedger *l, const Usage *u, const char *holder, int sign)
{
    guint i;

    if (sign > 0)
        kt_cpuset_union(l->cpus, u->cpus);
    else
        kt_cpuset_subtract(l->cpus, u->cpus);
    for (i = 0; i < KT_LEDGER_MAX_NODES; i++) {
        if (sign > 0) {
            l->memory[i] += u->memory[i];
            l->shared[i] += u->shared[i];
        } else {
            l->memory[i] -= MIN(l->memory[i], u->memory[i]);
            l->shared[i] -= MIN(l->shared[i], u->shared[i]);
        }
    }
    for (i = 0; i < u->pages->len; i++) {
        const PageCount *p = &g_array_index(u->pages, PageCount, i);
        PageCount *t = pages_find(l->pages, p->node, p->size_kib, true);

        if (sign > 0)
            t->count += p->count;
        else
            t->count -= MIN(t->count, p->count);
    }
    for (i = 0; i < u->pci->len; i++) {
        if (sign > 0)
            g_hash_table_insert(l->pci, g_strdup(g_ptr_array_index(u->pci, i)), (gpointer)holder);
        else
            g_hash_table_remove(l->pci, g_ptr_array_index(u->pci, i));
    }
    for (i = 0; i < u->mdevs->len; i++) {
        const KtPlacementMdev *m = g_ptr_array_index(u->mdevs, i);

        if (sign > 0)
            g_hash_table_insert(l->mdev_uuids, g_strdup(m->uuid), (gpointer)holder);
        else
            g_hash_table_remove(l->mdev_uuids, m->uuid);
        count_adjust(l->mdev_counts, m->parent, m->type, sign);
        count_adjust(l->mdev_counts, m->parent, NULL, sign);
    }
}

/* Refuses @u when any exclusive resource in it is held by another booking. */
static gboolean
totals_check(KtLedger *l, const Usage *u, const char *uuid, GError **error)
{
    guint i;

    if (kt_cpuset_intersects(l->cpus, u->cpus)) {
        g_autoptr(KtCpuset) both = kt_cpuset_copy(u->cpus);
        g_autofree char *list = NULL;
        int first;

        kt_cpuset_intersect(both, l->cpus);
        list = kt_cpuset_format(both);
        first = kt_cpuset_first(both);
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                    "domain %s: CPUs %s already booked by domain %s",
                    uuid, list, kt_ledger_cpu_holder(l, (guint)first));
        return FALSE;
    }
    for (i = 0; i < u->pci->len; i++) {
        const char *holder = g_hash_table_lookup(l->pci, g_ptr_array_index(u->pci, i));

        if (holder && strcmp(holder, uuid) != 0) {
            g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                        "domain %s: PCI device %s already booked by domain %s",
                        uuid, (const char *)g_ptr_array_index(u->pci, i), holder);
            return FALSE;
        }
    }
    for (i = 0; i < u->mdev_uuids->len; i++) {
        const char *holder = g_hash_table_lookup(l->mdev_uuids,
                                                 g_ptr_array_index(u->mdev_uuids, i));

        if (holder && strcmp(holder, uuid) != 0) {
            g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                        "domain %s: mdev %s already booked by domain %s",
                        uuid, (const char *)g_ptr_array_index(u->mdev_uuids, i), holder);
            return FALSE;
        }
    }
    return TRUE;
}

KtLedger *
kt_ledger_new(void)
{
    KtLedger *l = g_new0(KtLedger, 1);

    l->bookings = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify)booking_free);
    l->cpus = kt_cpuset_new();
    l->pages = g_array_new(FALSE, FALSE, sizeof(PageCount));
    l->pci = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    l->mdev_uuids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    l->mdev_counts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    return l;
}

void
kt_ledger_free(KtLedger *l)
{
    if (!l)
        return;
    g_hash_table_unref(l->bookings);
    kt_cpuset_free(l->cpus);
    g_array_unref(l->pages);
    g_hash_table_unref(l->pci);
    g_hash_table_unref(l->mdev_uuids);
    g_hash_table_unref(l->mdev_counts);
    g_free(l->suspended);
    g_free(l);
}

void
kt_ledger_reset(KtLedger *l)
{
    g_hash_table_remove_all(l->bookings);
    kt_cpuset_free(l->cpus);
    l->cpus = kt_cpuset_new();
    memset(l->memory, 0, sizeof(l->memory));
    memset(l->shared, 0, sizeof(l->shared));
    g_array_set_size(l->pages, 0);
    g_hash_table_remove_all(l->pci);
    g_hash_table_remove_all(l->mdev_uuids);
    g_hash_table_remove_all(l->mdev_counts);
    g_clear_pointer(&l->suspended, g_free);
    l->npending = 0;
}

/* Takes @b's usage out of (sign -1) or into (+1) the totals, unless it is
 * the suspended booking, whose usage is out already. */
static void
booking_account(KtLedger *l, const KtBooking *b, int sign)
{
    g_autoptr(Usage) u = NULL;

    if (l->suspended && strcmp(l->suspended, b->uuid) == 0)
        return;
    u = usage_of_booking(b);
    totals_apply(l, u, b->uuid, sign);
}

gboolean
kt_ledger_book(KtLedger *l, const char *uuid, const char *signature,
               const KtPlacement *pl, const GPtrArray *foreign_pci,
               bool pending, GError **error)
{
    KtBooking *b;
    KtBooking *trial;
    g_autoptr(Usage) u = NULL;
    bool existed;
    guint i;

    g_return_val_if_fail(uuid && pl, FALSE);

    b = g_hash_table_lookup(l->bookings, uuid);
    existed = b != NULL;
    if (!b) {
        b = g_new0(KtBooking, 1);
        b->uuid = g_strdup(uuid);
        b->foreign_pci = g_ptr_array_new_with_free_func(g_free);
    } else {
        booking_account(l, b, -1);
    }

    /* Build the would-be booking beside the old one, check, then swap. */
    trial = g_new0(KtBooking, 1);
    trial->uuid = b->uuid;
    trial->committed = pending ? b->committed : (KtPlacement *)pl;
    trial->pending = pending ? (KtPlacement *)pl : (existed ? b->pending : NULL);
    trial->foreign_pci = foreign_pci ? (GPtrArray *)foreign_pci : b->foreign_pci;
    u = usage_of_booking(trial);
    g_free(trial);

    if (!totals_check(l, u, uuid, error)) {
        if (existed)
            booking_account(l, b, +1);
        else
            booking_free(b);
        return FALSE;
    }

    if (pending) {
        if (!b->pending)
            l->npending++;
        kt_placement_free(b->pending);
        b->pending = kt_placement_copy(pl);
    } else {
        kt_placement_free(b->committed);
        b->committed = kt_placement_copy(pl);
    }
    if (foreign_pci) {
        g_ptr_array_set_size(b->foreign_pci, 0);
        for (i = 0; i < foreign_pci->len; i++)
            g_ptr_array_add(b->foreign_pci, g_strdup(g_ptr_array_index(foreign_pci, i)));
    }
    if (signature) {
        g_free(b->signature);
        b->signature = g_strdup(signature);
    }
    if (!existed)
        g_hash_table_insert(l->bookings, b->uuid, b);
    booking_account(l, b, +1);
    return TRUE;
}

void
kt_ledger_commit(KtLedger *l, const char *uuid)
{
    KtBooking *b = g_hash_table_lookup(l->bookings, uuid);

    if (!b || !b->pending)
        return;
    /* Usage can only shrink (max of two becomes one): recount. */
    booking_account(l, b, -1);
    kt_placement_free(b->committed);
    b->committed = g_steal_pointer(&b->pending);
    l->npending--;
    booking_account(l, b, +1);
}

void
kt_ledger_abort(KtLedger *l, const char *uuid)
{
    KtBooking *b = g_hash_table_lookup(l->bookings, uuid);

    if (!b || !b->pending)
        return;
    if (!b->committed) {
        kt_ledger_release(l, uuid);
        return;
    }
    booking_account(l, b, -1);
    g_clear_pointer(&b->pending, kt_placement_free);
    l->npending--;
    booking_account(l, b, +1);
}

bool
kt_ledger_release(KtLedger *l, const char *uuid)
{
    KtBooking *b = g_hash_table_lookup(l->bookings, uuid);

    if (!b)
        return false;
    booking_account(l, b, -1);
    if (b->pending)
        l->npending--;
    if (l->suspended && strcmp(l->suspended, uuid) == 0)
        g_clear_pointer(&l->suspended, g_free);
    g_hash_table_remove(l->bookings, uuid);
    return true;
}

void
kt_ledger_suspend(KtLedger *l, const char *uuid)
{
    KtBooking *b = g_hash_table_lookup(l->bookings, uuid);

    g_return_if_fail(l->suspended == NULL);
    if (!b)
        return;
    booking_account(l, b, -1);
    l->suspended = g_strdup(uuid);
}

void
kt_ledger_resume(KtLedger *l, const char *uuid)
{
    KtBooking *b;

    if (!l->suspended || strcmp(l->suspended, uuid) != 0)
        return;
    g_clear_pointer(&l->suspended, g_free);
    b = g_hash_table_lookup(l->bookings, uuid);
    if (b)
        booking_account(l, b, +1);
}

const KtBooking *
kt_ledger_lookup(const KtLedger *l, const char *uuid)
{
    return uuid ? g_hash_table_lookup(l->bookings, uuid) : NULL;
}

guint
kt_ledger_size(const KtLedger *l)
{
    return g_hash_table_size(l->bookings);
}

guint
kt_ledger_pending_count(const KtLedger *l)
{
    return l->npending;
}

static gint
cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *
kt_ledger_uuids(const KtLedger *l)
{
    GPtrArray *out = g_ptr_array_new();
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init(&it, l->bookings);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_ptr_array_add(out, key);
    g_ptr_array_sort(out, cmp_str);
    return out;
}

const KtCpuset *
kt_ledger_booked_cpus(const KtLedger *l)
{
    return l->cpus;
}

guint64
kt_ledger_node_memory(const KtLedger *l, guint node)
{
    return node < KT_LEDGER_MAX_NODES ? l->memory[node] : 0;
}

guint
kt_ledger_node_shared_vcpus(const KtLedger *l, guint node)
{
    return node < KT_LEDGER_MAX_NODES ? l->shared[node] : 0;
}

guint64
kt_ledger_node_pages(const KtLedger *l, guint node, guint64 size_kib)
{
    PageCount *p = pages_find(l->pages, node, size_kib, false);

    return p ? p->count : 0;
}

const char *
kt_ledger_pci_holder(const KtLedger *l, const char *address)
{
    return address ? g_hash_table_lookup(l->pci, address) : NULL;
}

const char *
kt_ledger_mdev_holder(const KtLedger *l, const char *mdev_uuid)
{
    return mdev_uuid ? g_hash_table_lookup(l->mdev_uuids, mdev_uuid) : NULL;
}

guint
kt_ledger_mdev_count(const KtLedger *l, const char *parent, const char *type)
{
    g_autofree char *key = mdev_key(parent, type);

    return GPOINTER_TO_UINT(g_hash_table_lookup(l->mdev_counts, key));
}

const char *
kt_ledger_cpu_holder(const KtLedger *l, guint cpu)
{
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, l->bookings);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        KtBooking *b = value;
        g_autoptr(Usage) u = NULL;

        if (l->suspended && strcmp(l->suspended, b->uuid) == 0)
            continue;
        u = usage_of_booking(b);
        if (kt_cpuset_has(u->cpus, cpu))
            return b->uuid;
    }
    return NULL;
}

static bool
placement_eq(const KtPlacement *a, const KtPlacement *b)
{
    if (!a || !b)
        return a == b;
    return kt_placement_equal(a, b);
}

static bool
pages_equal(GArray *a, GArray *b)
{
    guint i;

    for (i = 0; i < a->len; i++) {
        const PageCount *p = &g_array_index(a, PageCount, i);
        const PageCount *q = pages_find(b, p->node, p->size_kib, false);

        if (p->count != (q ? q->count : 0))
            return false;
    }
    for (i = 0; i < b->len; i++) {
        const PageCount *p = &g_array_index(b, PageCount, i);
        const PageCount *q = pages_find(a, p->node, p->size_kib, false);

        if (p->count != (q ? q->count : 0))
            return false;
    }
    return true;
}

static bool
hash_keys_equal(GHashTable *a, GHashTable *b, bool values_are_strings)
{
    GHashTableIter it;
    gpointer k, v;

    if (g_hash_table_size(a) != g_hash_table_size(b))
        return false;
    g_hash_table_iter_init(&it, a);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        gpointer w;

        if (!g_hash_table_lookup_extended(b, k, NULL, &w))
            return false;
        if (values_are_strings ? g_strcmp0(v, w) != 0 : v != w)
            return false;
    }
    return true;
}

bool
kt_ledger_equal(const KtLedger *a, const KtLedger *b)
{
    GHashTableIter it;
    gpointer k, v;

    if (g_hash_table_size(a->bookings) != g_hash_table_size(b->bookings))
        return false;
    g_hash_table_iter_init(&it, a->bookings);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        const KtBooking *x = v;
        const KtBooking *y = g_hash_table_lookup(b->bookings, k);
        guint i;

        if (!y || !placement_eq(x->committed, y->committed) ||
            !placement_eq(x->pending, y->pending) ||
            x->foreign_pci->len != y->foreign_pci->len)
            return false;
        for (i = 0; i < x->foreign_pci->len; i++) {
            if (!str_in(y->foreign_pci, g_ptr_array_index(x->foreign_pci, i)))
                return false;
        }
    }
    return kt_cpuset_equal(a->cpus, b->cpus) &&
           memcmp(a->memory, b->memory, sizeof(a->memory)) == 0 &&
           memcmp(a->shared, b->shared, sizeof(a->shared)) == 0 &&
           pages_equal(a->pages, b->pages) &&
           hash_keys_equal(a->pci, b->pci, true) &&
           hash_keys_equal(a->mdev_uuids, b->mdev_uuids, true) &&
           hash_keys_equal(a->mdev_counts, b->mdev_counts, false);
}
