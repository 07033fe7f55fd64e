/* test-allocator.c: the placement decision and the ledger, on host shapes
 * built in C (alloc-hosts.h).  Property tests are seeded (KT_TEST_SEED). */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "allocator.h"
#include "kt-error.h"
#include "ledger.h"
#include "simulate.h"

#include "alloc-hosts.h"

/* Places a flavor through the policy's match rules without booking it;
 * NULL + @error on refusal. */
static KtPlacement *
host_place(TestHost *h, const char *flavor, guint vcpus, guint64 mem_mib, char **ret_uuid,
           GError **error)
{
    g_autoptr(KtRequest) req = th_host_request(h, flavor, vcpus, mem_mib);
    KtPlacement *pl = th_host_place_req(h, req, NULL, error);

    if (pl && ret_uuid)
        *ret_uuid = g_strdup(req->uuid);
    return pl;
}

static guint
sibling_of(const KtInventory *inv, guint cpu)
{
    const KtInvCpu *c = kt_inventory_cpu(inv, cpu);
    int s;

    for (s = kt_cpuset_first(c->siblings); s >= 0; s = kt_cpuset_next(c->siblings, s + 1)) {
        if ((guint)s != cpu)
            return s;
    }
    return cpu;
}

static guint
node_of(const KtInventory *inv, guint cpu)
{
    return (guint)kt_inventory_cpu(inv, cpu)->node;
}

static void
test_db_dedicated(void)
{
    TestHost h;
    g_autoptr(KtPlacement) pl = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtCpuset) pins = kt_cpuset_new();
    const KtPlacementVf *vf;
    guint node, i;

    th_host_init(&h, &test_host_reference, th_policy_reference);
    pl = host_place(&h, "db.large", 8, 16384, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(kt_cpuset_count(pl->nodes), ==, 1);
    node = kt_cpuset_first(pl->nodes);
    g_assert_cmpint(pl->cpu_policy, ==, KT_CPU_POLICY_DEDICATED);
    g_assert_cmpuint(pl->nvcpus, ==, 8);
    for (i = 0; i < 8; i++) {
        guint cpu = kt_cpuset_first(pl->vcpu_pins[i]);

        g_assert_cmpuint(kt_cpuset_count(pl->vcpu_pins[i]), ==, 1);
        g_assert_true(kt_cpuset_has(h.policy->dedicated_cpus, cpu));
        g_assert_cmpuint(node_of(h.inv, cpu), ==, node);
        /* isolate: the sibling is booked and idle */
        g_assert_true(kt_cpuset_has(pl->booked_cpus, sibling_of(h.inv, cpu)));
        kt_cpuset_add(pins, cpu);
    }
    for (i = 0; i < 8; i++)
        g_assert_false(kt_cpuset_has(pins, sibling_of(h.inv, kt_cpuset_first(pl->vcpu_pins[i]))));
    /* emulator isolate: a CPU of its own, not a vCPU's sibling */
    g_assert_cmpuint(kt_cpuset_count(pl->emulator_cpus), ==, 1);
    g_assert_false(kt_cpuset_intersects(pl->emulator_cpus, pins));
    g_assert_false(kt_cpuset_has(pins, sibling_of(h.inv, kt_cpuset_first(pl->emulator_cpus))));
    g_assert_cmpuint(kt_cpuset_count(pl->booked_cpus), ==, 18);
    g_assert_cmpuint(pl->threads_per_core, ==, 1);
    g_assert_cmpuint(pl->ncells, ==, 1);
    g_assert_cmpuint(pl->cells[0].host_node, ==, node);
    g_assert_cmpuint(pl->cells[0].memory_kib, ==, 16384 * 1024);
    g_assert_cmpuint(pl->hugepage_kib, ==, 1048576);
    g_assert_cmpuint(pl->npages, ==, 1);
    g_assert_cmpuint(pl->pages[0].count, ==, 16);
    g_assert_cmpuint(pl->pages[0].node, ==, node);
    g_assert_cmpuint(pl->vfs->len, ==, 1);
    vf = g_ptr_array_index(pl->vfs, 0);
    g_assert_cmpint(vf->vlan, ==, 100);
    g_assert_cmpuint(vf->node, ==, node);
    g_assert_true(g_str_equal(vf->pf, node == 0 ? "0000:17:00.0" : "0000:98:00.0"));
    g_assert_cmpstr(pl->profile, ==, "db-dedicated");
    g_assert_cmpstr(pl->policy_hash, ==, h.policy->hash);
    th_host_clear(&h);
}

/* Isolate until refused: never two VMs on one core, never split, and the
 * refusal names the cores free per node. */
static void
test_isolate_fill(void)
{
    TestHost h;
    g_autoptr(GError) err = NULL;
    guint placed = 0;

    th_host_init(&h, &test_host_reference, th_policy_reference);
    for (;;) {
        g_autoptr(KtPlacement) pl = th_host_book(&h, "iso.16", 16, 4096, &err);

        if (!pl)
            break;
        g_assert_cmpuint(kt_cpuset_count(pl->nodes), ==, 1);
        placed++;
    }
    /* node0 has 28 dedicated cores, node1 56: 1 + 3 VMs of 16 */
    g_assert_cmpuint(placed, ==, 4);
    g_assert_error(err, KT_ERROR, KT_ERROR_NO_CAPACITY);
    g_assert_cmpstr(err->message, ==,
                    "profile iso needs 16 isolated cores on one node; free: node0 12, node1 8");
    th_host_clear(&h);
}

static void
test_require(void)
{
    TestHost h;
    g_autoptr(KtPlacement) pl = NULL;
    g_autoptr(GError) err = NULL;
    guint i;

    th_host_init(&h, &test_host_reference, th_policy_reference);
    pl = host_place(&h, "req.4", 4, 4096, NULL, &err);
    g_assert_no_error(err);
    for (i = 0; i < 4; i += 2) {
        guint a = kt_cpuset_first(pl->vcpu_pins[i]);
        guint b = kt_cpuset_first(pl->vcpu_pins[i + 1]);

        g_assert_cmpuint(sibling_of(h.inv, a), ==, b);
    }
    g_assert_cmpuint(pl->threads_per_core, ==, 2);
    /* 4 vCPUs + emulator = 3 whole cores, all 6 threads booked */
    g_assert_cmpuint(kt_cpuset_count(pl->booked_cpus), ==, 6);
    g_assert_cmpuint(kt_cpuset_count(pl->emulator_cpus), ==, 1);
    th_host_clear(&h);
}

/* prefer: an odd tail lands on a half-used core before breaking a whole one. */
static void
test_prefer_best_fit(void)
{
    TestHost h;
    g_autoptr(KtPlacement) a = NULL;
    g_autoptr(KtPlacement) b = NULL;
    g_autoptr(GError) err = NULL;
    guint tail;

    th_host_init(&h, &test_host_reference, th_policy_reference);
    a = th_host_book(&h, "pin.3", 3, 1024, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(kt_cpuset_count(a->booked_cpus), ==, 3);
    g_assert_cmpuint(a->threads_per_core, ==, 1);
    tail = kt_cpuset_first(a->vcpu_pins[2]);
    b = th_host_book(&h, "pin.1", 1, 1024, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(kt_cpuset_first(b->vcpu_pins[0]), ==, sibling_of(h.inv, tail));
    th_host_clear(&h);
}

static void
test_hpc_two_nodes(void)
{
    TestHost h;
    g_autoptr(KtPlacement) pl = NULL;
    g_autoptr(GError) err = NULL;
    guint i;

    th_host_init(&h, &test_host_reference, th_policy_reference);
    pl = host_place(&h, "hpc.16", 16, 65536, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(kt_cpuset_count(pl->nodes), ==, 2);
    g_assert_cmpuint(pl->ncells, ==, 2);
    for (i = 0; i < 2; i++) {
        int v;
        KtCpuset *cell = pl->cells[i].vcpus;

        g_assert_cmpuint(kt_cpuset_count(cell), ==, 8);
        g_assert_cmpuint(pl->cells[i].memory_kib, ==, 32 * 1048576);
        g_assert_cmpuint(pl->pages[i].count, ==, 32);
        for (v = kt_cpuset_first(cell); v >= 0; v = kt_cpuset_next(cell, v + 1))
            g_assert_cmpuint(node_of(h.inv, kt_cpuset_first(pl->vcpu_pins[v])), ==,
                             pl->cells[i].host_node);
    }
    g_assert_cmpuint(pl->threads_per_core, ==, 2);
    th_host_clear(&h);
}

/* Shared: the node's shared CPUs, overcommit capped by the ratio. */
static void
test_shared_overcommit(void)
{
    TestHost h;
    g_autoptr(GError) err = NULL;
    guint placed = 0;

    th_host_init(&h, &test_host_reference, th_policy_reference);
    for (;;) {
        g_autoptr(KtPlacement) pl = th_host_book(&h, NULL, 1, 128, &err);

        if (!pl)
            break;
        if (placed == 0) {
            g_autofree char *s = kt_cpuset_format(pl->shared_cpus);

            g_assert_cmpstr(s, ==, "2-27,114-139");
            g_assert_cmpint(pl->cpu_policy, ==, KT_CPU_POLICY_SHARED);
            g_assert_cmpuint(pl->ncells, ==, 0);
        }
        placed++;
    }
    g_assert_cmpuint(placed, ==, 52 * 8);
    g_assert_error(err, KT_ERROR, KT_ERROR_NO_CAPACITY);
    g_assert_cmpstr(err->message, ==,
                    "profile general needs 1 shared vCPUs on one node; free: node0 0, node1 0");
    th_host_clear(&h);
}

/* Shared VMs go where most memory is free. */
static void
test_shared_spread(void)
{
    static const char pol[] =
        "host: {reserved_cpus: \"0-1,112-113\", shared_cpus: \"2-111,114-223\"}\n"
        "profiles: {general: {cpu: {policy: shared}}}\n"
        "match: [{default: general}]\n";
    TestHost h;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPlacement) a = NULL;
    g_autoptr(KtPlacement) b = NULL;
    g_autoptr(KtPlacement) c = NULL;

    th_host_init(&h, &test_host_reference, pol);
    a = th_host_book(&h, "m1.large", 4, 8192, &err);
    b = th_host_book(&h, "m1.large", 4, 8192, &err);
    c = th_host_book(&h, "m1.small", 1, 1024, &err);
    g_assert_no_error(err);
    g_assert_cmpint(kt_cpuset_first(a->nodes), ==, 0);
    g_assert_cmpint(kt_cpuset_first(b->nodes), ==, 1);
    g_assert_cmpint(kt_cpuset_first(c->nodes), ==, 0);
    th_host_clear(&h);
}

static void
test_vdi_mdev(void)
{
    TestHost h;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtRequest) req = th_request("11111111-2222-4333-8444-555555555555", "vdi.x", 2, 4096);
    g_autoptr(KtPlacement) p1 = NULL;
    g_autoptr(KtPlacement) p2 = NULL;
    const KtPolicyProfile *prof = NULL;
    const KtPlacementMdev *m;
    guint placed = 0;

    th_host_init(&h, &test_host_reference, th_policy_reference);
    kt_allocator_match(h.policy, req, &prof, NULL);
    p1 = kt_allocator_place(h.inv, h.policy, h.ledger, req, prof, NULL, &err);
    p2 = kt_allocator_place(h.inv, h.policy, h.ledger, req, prof, NULL, &err);
    g_assert_no_error(err);
    g_assert_true(kt_placement_equal(p1, p2));
    g_assert_cmpuint(p1->mdevs->len, ==, 1);
    m = g_ptr_array_index(p1->mdevs, 0);
    g_assert_cmpstr(m->parent, ==, "0000:ca:00.0");
    g_assert_cmpstr(m->type, ==, "nvidia-222");
    g_assert_cmpuint(strlen(m->uuid), ==, 36);
    g_assert_cmpint(m->uuid[14], ==, '5');
    g_assert_cmpuint(p1->hugepage_kib, ==, 2048);
    g_assert_cmpuint(p1->pages[0].count, ==, 2048);

    for (;;) {
        g_autoptr(KtPlacement) pl = th_host_book(&h, "vdi.small", 2, 1024, &err);

        if (!pl)
            break;
        placed++;
    }
    g_assert_cmpuint(placed, ==, 16);
    g_assert_error(err, KT_ERROR, KT_ERROR_NO_CAPACITY);
    g_assert_cmpstr(err->message, ==,
                    "profile vdi needs 1 mdevs of type nvidia-222; free: node0 0, node1 0");
    th_host_clear(&h);
}

static void
test_gpu_whole(void)
{
    TestHost h;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPlacement) pl = NULL;
    g_autoptr(KtPlacement) none = NULL;

    th_host_init(&h, &test_host_reference, th_policy_reference);
    pl = th_host_book(&h, "ml.8", 8, 8192, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(pl->gpus->len, ==, 1);
    g_assert_cmpint(kt_cpuset_first(pl->nodes), ==, 1);    /* pulled to the GPU's node */
    /* the GPU is out whole: no vGPU from it */
    none = th_host_book(&h, "vdi.small", 2, 2048, &err);
    g_assert_null(none);
    g_assert_error(err, KT_ERROR, KT_ERROR_NO_CAPACITY);
    th_host_clear(&h);
}

/* Nova pinned the domain itself: its CPUs are booked, not moved. */
static void
test_nova_wins(void)
{
    TestHost h;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtRequest) req = th_request("aaaaaaaa-0000-4000-8000-000000000001", "iso.2", 2, 1024);
    g_autoptr(KtPlacement) pl = NULL;
    const KtPolicyProfile *prof = NULL;
    g_autoptr(KtAllocReport) rep = kt_alloc_report_new();
    guint i;

    th_host_init(&h, &test_host_reference, th_policy_reference);
    req->vcpupins = g_new0(KtCpuset *, 2);
    req->nvcpupins = 2;
    for (i = 0; i < 2; i++) {
        req->vcpupins[i] = kt_cpuset_new();
        kt_cpuset_add(req->vcpupins[i], 56 + i);
    }
    kt_allocator_match(h.policy, req, &prof, NULL);
    pl = kt_allocator_place(h.inv, h.policy, h.ledger, req, prof, rep, &err);
    g_assert_no_error(err);
    g_assert_true(rep->nova_cpus);
    /* recorded as given: the metadata is the ledger's only store */
    g_assert_cmpint(pl->cpu_policy, ==, KT_CPU_POLICY_DEDICATED);
    g_assert_nonnull(pl->vcpu_pins);
    g_assert_cmpint(kt_cpuset_first(pl->vcpu_pins[0]), ==, 56);
    g_assert_cmpint(kt_cpuset_first(pl->vcpu_pins[1]), ==, 57);
    g_assert_cmpuint(pl->threads_per_core, ==, 0);
    g_assert_true(kt_cpuset_has(pl->booked_cpus, 56));
    g_assert_true(kt_cpuset_has(pl->booked_cpus, 57));
    g_assert_cmpint(kt_cpuset_first(pl->nodes), ==, 1);
    g_assert_true(kt_ledger_book(h.ledger, req->uuid, NULL, pl, NULL, false, &err));
    /* nobody else gets 56/57 */
    for (i = 0; i < 20; i++) {
        g_autoptr(KtPlacement) o = th_host_book(&h, "pin.4", 4, 1024, &err);

        g_assert_nonnull(o);
        g_assert_false(kt_cpuset_has(o->booked_cpus, 56));
        g_assert_false(kt_cpuset_has(o->booked_cpus, 57));
    }
    th_host_clear(&h);
}

/* The guest's SMT shape mirrors the pins: vCPU pairs on sibling threads
 * give threads=2; an odd count per node cannot mirror whole cores and
 * falls back to threads=1, said in explain; isolate is threads=1. */
static void
test_topology_shape(void)
{
    static const struct {
        const char *flavor;
        guint vcpus;
        guint threads;
        const char *note;
    } cases[] = {
        { "pin.4", 4, 2, "topology: guest threads=2" },
        { "pin.3", 3, 1, "topology: guest threads=1 (fallback): 3 vCPUs on node " },
        { "iso.4", 4, 1, "topology: guest threads=1: threads=isolate" },
        { "hpc.6", 6, 1, "topology: guest threads=1 (fallback): 3 vCPUs on node " },
        { "hpc.8", 8, 2, "topology: guest threads=2" },
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        TestHost h;
        g_autoptr(GError) err = NULL;
        g_autoptr(KtRequest) req = th_request("aaaaaaaa-0000-4000-8000-000000000009",
                                              cases[i].flavor, cases[i].vcpus, 8192);
        g_autoptr(KtAllocReport) rep = kt_alloc_report_new();
        g_autoptr(KtPlacement) pl = NULL;
        const KtPolicyProfile *prof = NULL;
        bool said = false;
        guint j;

        th_host_init(&h, &test_host_reference, th_policy_reference);
        kt_allocator_match(h.policy, req, &prof, NULL);
        pl = kt_allocator_place(h.inv, h.policy, h.ledger, req, prof, rep, &err);
        g_assert_no_error(err);
        g_assert_cmpuint(pl->threads_per_core, ==, cases[i].threads);
        for (j = 0; j < rep->notes->len; j++)
            said = said || strstr(g_ptr_array_index(rep->notes, j), cases[i].note) != NULL;
        if (!said) {
            for (j = 0; j < rep->notes->len; j++)
                g_test_message("%s", (const char *)g_ptr_array_index(rep->notes, j));
        }
        g_assert_true(said);
        /* pairs: vCPU 2k and 2k+1 on the two threads of one core */
        for (j = 0; cases[i].threads == 2 && j < pl->nvcpus; j += 2)
            g_assert_cmpuint(sibling_of(h.inv, kt_cpuset_first(pl->vcpu_pins[j])), ==,
                             (guint)kt_cpuset_first(pl->vcpu_pins[j + 1]));
        th_host_clear(&h);
    }
}

static void
test_laptop(void)
{
    static const char pol[] =
        "host: {reserved_cpus: \"0\", dedicated_cpus: \"3\", shared_cpus: \"1-2\"}\n"
        "profiles: {general: {cpu: {policy: shared}}, db: {cpu: {policy: dedicated}}}\n"
        "match: [{flavor: \"db.*\", profile: db}, {default: general}]\n";
    TestHost h;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPlacement) a = NULL;
    g_autoptr(KtPlacement) b = NULL;

    th_host_init(&h, &test_host_laptop, pol);
    a = th_host_book(&h, "m1.small", 2, 2048, &err);
    g_assert_no_error(err);
    g_assert_cmpint(kt_cpuset_first(a->nodes), ==, 0);
    b = th_host_book(&h, "db.small", 2, 2048, &err);
    g_assert_null(b);
    g_assert_error(err, KT_ERROR, KT_ERROR_NO_CAPACITY);
    g_assert_nonnull(strstr(err->message, "2 dedicated CPUs on one node; free: node0 1"));
    th_host_clear(&h);
}

static void
test_epyc_four_nodes(void)
{
    static const char pol[] =
        "host: {reserved_cpus: \"0,64\", dedicated_cpus: \"8-63,72-127\", shared_cpus: \"1-7,65-71\"}\n"
        "profiles:\n"
        "  wide: {cpu: {policy: dedicated, threads: prefer}, numa: {nodes: 4}}\n"
        "  one: {cpu: {policy: dedicated, threads: isolate}, numa: {nodes: 1}}\n"
        "match: [{flavor: \"wide.*\", profile: wide}, {flavor: \"one.*\", profile: one}]\n";
    TestHost h;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPlacement) w = NULL;
    g_autoptr(KtPlacement) o = NULL;
    guint i;

    th_host_init(&h, &test_host_epyc, pol);
    w = th_host_book(&h, "wide.16", 16, 16384, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(w->ncells, ==, 4);
    for (i = 0; i < 4; i++) {
        g_assert_cmpuint(kt_cpuset_count(w->cells[i].vcpus), ==, 4);
        g_assert_cmpuint(w->cells[i].memory_kib, ==, 4 * 1048576);
    }
    /* node 0 has 8 dedicated cores left after the wide VM's 2: best fit */
    o = th_host_book(&h, "one.6", 6, 1024, &err);
    g_assert_no_error(err);
    g_assert_cmpint(kt_cpuset_first(o->nodes), ==, 0);
    th_host_clear(&h);
}

/* Same inputs, same output, with bookings in between. */
static void
test_deterministic(void)
{
    TestHost h1, h2;
    guint i;

    th_host_init(&h1, &test_host_reference, th_policy_reference);
    th_host_init(&h2, &test_host_reference, th_policy_reference);
    for (i = 0; i < 30; i++) {
        static const char *const fl[] = { "db.a", "iso.b", "pin.c", "hpc.d", "vdi.e", "m1" };
        static const guint vc[] = { 4, 2, 3, 8, 2, 1 };
        g_autoptr(KtPlacement) a = th_host_book(&h1, fl[i % 6], vc[i % 6], 2048, NULL);
        g_autoptr(KtPlacement) b = th_host_book(&h2, fl[i % 6], vc[i % 6], 2048, NULL);

        g_assert_true((a == NULL) == (b == NULL));
        if (a)
            g_assert_true(kt_placement_equal(a, b));
    }
    th_host_clear(&h1);
    th_host_clear(&h2);
}

/* Counted resources never exceed what the host can give: no hugepage,
 * no MiB and no shared vCPU slot is handed out twice. */
static void
assert_within_capacity(TestHost *h)
{
    g_autoptr(GArray) usage = kt_allocator_node_usage(h->inv, h->policy, h->ledger);
    guint i, j;

    for (i = 0; i < usage->len; i++) {
        const KtNodeUsage *u = &g_array_index(usage, KtNodeUsage, i);

        g_assert_cmpuint(u->dedicated_booked, <=, u->dedicated_total);
        g_assert_cmpuint(u->shared_vcpus_booked, <=, u->shared_vcpus_capacity);
        g_assert_cmpuint(u->memory_booked_kib, <=, u->memory_capacity_kib);
        for (j = 0; j < u->npages; j++)
            g_assert_cmpuint(u->pages[j].booked, <=, u->pages[j].capacity);
    }
}

/* Property: random define / redefine / undefine / abort sequences.  After
 * every step the ledger equals one rebuilt from scratch out of the
 * committed placements, nothing is booked twice (ledger refuses it), and
 * releasing everything returns to the empty ledger. */
static void
test_ledger_property(void)
{
    static const char *const flavors[] = {
        "db.a", "iso.b", "req.c", "pin.d", "hpc.e", "vdi.f", "ml.g", "m1.h",
    };
    guint64 seed = (guint32)g_test_rand_int();
    const char *env = g_getenv("KT_TEST_SEED");
    guint round;

    if (env)
        seed = g_ascii_strtoull(env, NULL, 10);
    g_test_message("seed %" G_GUINT64_FORMAT " (set KT_TEST_SEED to replay)", seed);

    for (round = 0; round < 4; round++) {
        g_autoptr(GRand) rnd = g_rand_new_with_seed((guint32)(seed + round));
        g_autoptr(GPtrArray) live = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(KtLedger) empty = kt_ledger_new();
        TestHost h;
        guint step;

        th_host_init(&h, &test_host_reference, th_policy_reference);
        for (step = 0; step < 300; step++) {
            guint op = g_rand_int_range(rnd, 0, 10);

            if (op < 6 || live->len == 0) {
                const char *fl = flavors[g_rand_int_range(rnd, 0, G_N_ELEMENTS(flavors))];
                guint vc = 1u << g_rand_int_range(rnd, 0, 5);
                g_autofree char *uuid = NULL;
                g_autoptr(KtPlacement) pl = host_place(&h, fl, vc, 1024u * vc, &uuid, NULL);

                if (!pl)
                    continue;
                g_assert_true(kt_ledger_book(h.ledger, uuid, fl, pl, NULL, true, NULL));
                if (op == 5) {
                    kt_ledger_abort(h.ledger, uuid);
                    g_assert_null(kt_ledger_lookup(h.ledger, uuid));
                } else {
                    kt_ledger_commit(h.ledger, uuid);
                    g_ptr_array_add(live, g_steal_pointer(&uuid));
                }
            } else if (op < 8) {
                guint i = g_rand_int_range(rnd, 0, live->len);

                g_assert_true(kt_ledger_release(h.ledger, g_ptr_array_index(live, i)));
                g_ptr_array_remove_index(live, i);
            } else {
                /* redefine (resize): re-place with its own resources free */
                guint i = g_rand_int_range(rnd, 0, live->len);
                const char *uuid = g_ptr_array_index(live, i);
                const KtBooking *b = kt_ledger_lookup(h.ledger, uuid);
                g_autoptr(KtRequest) req = th_request(uuid, "pin.x", 2, 2048);
                const KtPolicyProfile *prof = NULL;
                g_autoptr(KtPlacement) pl = NULL;
                g_autoptr(KtPlacement) before = kt_placement_copy(b->committed);

                kt_allocator_match(h.policy, req, &prof, NULL);
                kt_ledger_suspend(h.ledger, uuid);
                pl = kt_allocator_place(h.inv, h.policy, h.ledger, req, prof, NULL, NULL);
                kt_ledger_resume(h.ledger, uuid);
                if (!pl)
                    continue;
                g_assert_true(kt_ledger_book(h.ledger, uuid, "pin.x", pl, NULL, true, NULL));
                if (g_rand_boolean(rnd)) {
                    kt_ledger_commit(h.ledger, uuid);
                } else {
                    kt_ledger_abort(h.ledger, uuid);
                    g_assert_true(kt_placement_equal(kt_ledger_lookup(h.ledger, uuid)->committed,
                                                     before));
                }
            }

            if (step % 25 == 0 || step == 299) {
                g_autoptr(KtLedger) rebuilt = kt_ledger_new();
                g_autoptr(GPtrArray) uuids = kt_ledger_uuids(h.ledger);
                guint i;

                g_assert_cmpuint(uuids->len, ==, live->len);
                for (i = 0; i < uuids->len; i++) {
                    const KtBooking *b = kt_ledger_lookup(h.ledger, g_ptr_array_index(uuids, i));

                    g_assert_null(b->pending);
                    g_assert_true(kt_ledger_book(rebuilt, b->uuid, b->signature, b->committed,
                                                 NULL, false, NULL));
                }
                g_assert_true(kt_ledger_equal(rebuilt, h.ledger));
                assert_within_capacity(&h);
            }
        }
        while (live->len > 0) {
            g_assert_true(kt_ledger_release(h.ledger, g_ptr_array_index(live, 0)));
            g_ptr_array_remove_index(live, 0);
        }
        g_assert_true(kt_ledger_equal(empty, h.ledger));
        th_host_clear(&h);
    }
}

static void
test_ledger_double_booking(void)
{
    g_autoptr(KtLedger) l = kt_ledger_new();
    g_autoptr(KtPlacement) a = kt_placement_new();
    g_autoptr(KtPlacement) b = kt_placement_new();
    g_autoptr(GError) err = NULL;
    KtPlacementVf *vf = kt_placement_vf_new();

    a->booked_cpus = kt_cpuset_parse("4-5", NULL);
    b->booked_cpus = kt_cpuset_parse("5-6", NULL);
    g_assert_true(kt_ledger_book(l, "a", NULL, a, NULL, false, &err));
    g_assert_false(kt_ledger_book(l, "b", NULL, b, NULL, false, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_INVALID);
    g_assert_cmpstr(err->message, ==, "domain b: CPUs 5 already booked by domain a");
    g_clear_error(&err);
    g_assert_null(kt_ledger_lookup(l, "b"));

    kt_cpuset_free(b->booked_cpus);
    b->booked_cpus = kt_cpuset_parse("6", NULL);
    vf->vf = g_strdup("0000:17:02.0");
    g_ptr_array_add(a->vfs, vf);
    g_assert_true(kt_ledger_book(l, "a", NULL, a, NULL, false, &err));
    g_ptr_array_add(b->vfs, kt_placement_vf_new());
    ((KtPlacementVf *)g_ptr_array_index(b->vfs, 0))->vf = g_strdup("0000:17:02.0");
    g_assert_false(kt_ledger_book(l, "b", NULL, b, NULL, false, &err));
    g_assert_cmpstr(err->message, ==,
                    "domain b: PCI device 0000:17:02.0 already booked by domain a");
    /* rebooking the same uuid with the same resources is fine */
    g_assert_true(kt_ledger_book(l, "a", NULL, a, NULL, true, NULL));
    g_assert_cmpuint(kt_ledger_pending_count(l), ==, 1);
    kt_ledger_commit(l, "a");
    g_assert_cmpuint(kt_ledger_pending_count(l), ==, 0);
    g_assert_cmpstr(kt_ledger_pci_holder(l, "0000:17:02.0"), ==, "a");
}

/* The only free VFs decide the node, over best fit. */
static void
test_vf_pulls_node(void)
{
    TestHost h;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPlacement) taken = kt_placement_new();
    g_autoptr(KtPlacement) pl = NULL;
    const KtInvSriovPf *pf;
    guint i;

    th_host_init(&h, &test_host_reference, th_policy_reference);
    pf = kt_inventory_find_pf(h.inv, "0000:17:00.0");
    for (i = 0; i < pf->vfs->len; i++) {
        KtPlacementVf *vf = kt_placement_vf_new();

        vf->pf = g_strdup(pf->address);
        vf->vf = g_strdup(g_ptr_array_index(pf->vfs, i));
        g_ptr_array_add(taken->vfs, vf);
    }
    g_assert_true(kt_ledger_book(h.ledger, "other", NULL, taken, NULL, false, NULL));
    /* best fit alone would pick node 0 (28 cores against 56) */
    pl = host_place(&h, "db.small", 2, 2048, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(kt_cpuset_first(pl->nodes), ==, 1);
    g_assert_cmpstr(((KtPlacementVf *)g_ptr_array_index(pl->vfs, 0))->pf, ==, "0000:98:00.0");
    th_host_clear(&h);
}

/* More nodes than the host has: refused (required) or capped (best-effort). */
static void
test_too_many_nodes(void)
{
    static const char pol[] =
        "host: {reserved_cpus: \"0-1,112-113\", dedicated_cpus: \"28-111,140-223\"}\n"
        "profiles:\n"
        "  four: {cpu: {policy: dedicated}, numa: {nodes: 4}}\n"
        "  soft: {cpu: {policy: dedicated}, numa: {nodes: 4, need: best-effort}}\n"
        "match: [{flavor: \"four.*\", profile: four}, {flavor: \"soft.*\", profile: soft}]\n";
    TestHost h;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPlacement) a = NULL;
    g_autoptr(KtPlacement) b = NULL;

    th_host_init(&h, &test_host_reference, pol);
    a = host_place(&h, "four.8", 8, 1024, NULL, &err);
    g_assert_null(a);
    g_assert_error(err, KT_ERROR, KT_ERROR_NO_CAPACITY);
    g_assert_cmpstr(err->message, ==, "profile four needs 4 NUMA nodes; the host has 2");
    g_clear_error(&err);
    b = host_place(&h, "soft.8", 8, 1024, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(b->ncells, ==, 2);
    th_host_clear(&h);
}

static void
test_simulate(void)
{
    static const char mix_text[] =
        "# flavor vcpus MiB\n"
        "db.a 4 4096\n"
        "\n"
        "x1.unmatched 2 2048   # Nova's own\n"
        "iso.b 16 1024\n"
        "iso.b 16 1024\n"
        "iso.b 16 1024\n"
        "iso.b 16 1024\n"
        "iso.b 16 1024\n"
        "iso.b 16 1024\n";
    static const char pol[] =
        "host: {reserved_cpus: \"0-1,112-113\", dedicated_cpus: \"28-111,140-223\","
        " shared_cpus: \"2-27,114-139\", hugepages: [{size: 1G, per_node: 900}],"
        " sriov: [{pf: \"0000:17:00.0\", physnet: datacentre}]}\n"
        "profiles:\n"
        "  db: {cpu: {policy: dedicated, threads: isolate}, numa: {nodes: 1}}\n"
        "  iso: {cpu: {policy: dedicated, threads: isolate}, numa: {nodes: 1}}\n"
        "match: [{flavor: \"db.*\", profile: db}, {flavor: \"iso.*\", profile: iso},"
        " {default: none}]\n";
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) mix = kt_simulate_parse_mix("mix", mix_text, strlen(mix_text), &err);
    g_autoptr(KtSimResult) res = NULL;
    g_autofree char *json = NULL;
    g_autofree char *text = NULL;
    TestHost h;

    g_assert_no_error(err);
    g_assert_cmpuint(mix->len, ==, 8);
    th_host_init(&h, &test_host_reference, pol);
    res = kt_simulate_run(h.inv, h.policy, mix);
    g_assert_cmpuint(res->unmanaged, ==, 1);
    /* 4 + 16 isolated cores on node0 (28), then 3 x 16 on node1 (56) */
    g_assert_cmpuint(res->placed, ==, 5);
    g_assert_cmpuint(res->refused_line, ==, 9);
    g_assert_cmpuint(res->splits, ==, 0);
    g_assert_cmpuint(res->isolate_shared, ==, 0);
    g_assert_cmpstr(res->refusal, ==,
                    "profile iso needs 16 isolated cores on one node; free: node0 8, node1 8");
    json = kt_simulate_format_json(res);
    g_assert_true(g_str_has_prefix(json, "{\"placed\":5,\"refusal\":\"profile iso needs"));
    text = kt_simulate_format_text(res);
    g_assert_nonnull(strstr(text, "placed: 5 VMs"));

    g_assert_null(kt_simulate_parse_mix("m", "db.a four 10\n", 12, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
    g_assert_cmpstr(err->message, ==, "m:1: expected '<flavor-name> <vcpus 1-4096> <memory-MiB>'");
    th_host_clear(&h);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/allocator/db-dedicated", test_db_dedicated);
    g_test_add_func("/allocator/topology-shape", test_topology_shape);
    g_test_add_func("/allocator/isolate-fill", test_isolate_fill);
    g_test_add_func("/allocator/require", test_require);
    g_test_add_func("/allocator/prefer-best-fit", test_prefer_best_fit);
    g_test_add_func("/allocator/hpc-two-nodes", test_hpc_two_nodes);
    g_test_add_func("/allocator/shared-overcommit", test_shared_overcommit);
    g_test_add_func("/allocator/shared-spread", test_shared_spread);
    g_test_add_func("/allocator/vdi-mdev", test_vdi_mdev);
    g_test_add_func("/allocator/gpu-whole", test_gpu_whole);
    g_test_add_func("/allocator/nova-wins", test_nova_wins);
    g_test_add_func("/allocator/laptop", test_laptop);
    g_test_add_func("/allocator/epyc-four-nodes", test_epyc_four_nodes);
    g_test_add_func("/allocator/deterministic", test_deterministic);
    g_test_add_func("/allocator/vf-pulls-node", test_vf_pulls_node);
    g_test_add_func("/allocator/too-many-nodes", test_too_many_nodes);
    g_test_add_func("/allocator/simulate", test_simulate);
    g_test_add_func("/ledger/double-booking", test_ledger_double_booking);
    g_test_add_func("/ledger/property", test_ledger_property);
    return g_test_run();
}
