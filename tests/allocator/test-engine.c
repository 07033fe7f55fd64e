/* test-engine.c: the engine on the fixture hosts with the example policy
 * and Nova-generated XML (the engine-* golden inputs): rewrite,
 * redefine, resize, refusal, and the property that a ledger rebuilt from
 * the resulting XMLs equals the live one. */
#include <glib.h>
#include <string.h>

#include "domain.h"
#include "engine.h"
#include "kt-error.h"
#include "ledger.h"

typedef struct {
    KtInventory *inv;
    KtPolicy *policy;
    KtEngine *engine;
} Fix;

static char *
src_path(const char *rel)
{
    const char *root = g_getenv("KT_SOURCE_ROOT");

    return g_build_filename(root ? root : ".", rel, NULL);
}

static void
fix_init(Fix *f, const char *host)
{
    g_autofree char *rel = g_strdup_printf("tests/fixtures/hosts/%s", host);
    g_autofree char *sysroot = src_path(rel);
    g_autofree char *pol = src_path("nova-helper/policy.example.yaml");
    g_autoptr(GError) err = NULL;

    f->inv = kt_inventory_load(sysroot, &err);
    g_assert_no_error(err);
    f->policy = kt_policy_load(pol, &err);
    g_assert_no_error(err);
    f->engine = kt_engine_new(f->inv, f->policy);
}

static void
fix_clear(Fix *f)
{
    kt_engine_free(f->engine);
    kt_policy_free(f->policy);
    kt_inventory_free(f->inv);
}

static char *
input(const char *name, gsize *len)
{
    g_autofree char *rel = g_strdup_printf("tests/golden/%s/input.xml", name);
    g_autofree char *p = src_path(rel);
    char *text = NULL;

    g_assert_true(g_file_get_contents(p, &text, len, NULL));
    return text;
}

/* Replaces every @from by @to. */
static char *
subst(const char *s, const char *from, const char *to)
{
    g_auto(GStrv) parts = g_strsplit(s, from, -1);

    return g_strjoinv(to, parts);
}

static char *
rewrite_ok(KtEngine *e, const char *xml, KtVerdict want)
{
    KtVerdict v = KT_VERDICT_LAST;
    g_autofree char *uuid = NULL;
    g_autoptr(GError) err = NULL;
    char *out = NULL;
    gsize out_len = 0;

    g_assert_true(kt_engine_rewrite(e, xml, strlen(xml), &v, &out, &out_len, &uuid, &err));
    g_assert_no_error(err);
    g_assert_cmpint(v, ==, want);
    if (v == KT_VERDICT_REWRITE) {
        g_assert_cmpuint(out_len, ==, strlen(out));
        kt_engine_commit(e, uuid);
    }
    return out;
}

static void
assert_rebuild_equal(Fix *f, GHashTable *xmls)
{
    g_autoptr(KtEngine) fresh = kt_engine_new(f->inv, f->policy);
    GHashTableIter it;
    gpointer v;

    g_hash_table_iter_init(&it, xmls);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        g_autoptr(GError) err = NULL;

        g_assert_true(kt_engine_load_domain(fresh, v, strlen(v), &err));
        g_assert_no_error(err);
    }
    g_assert_true(kt_ledger_equal(kt_engine_ledger(fresh), kt_engine_ledger(f->engine)));
}

static void
test_rewrite_and_rebuild(void)
{
    Fix f;
    gsize len;
    g_autofree char *in = input("engine-db-dedicated-ref", &len);
    g_autofree char *out = NULL;
    g_autofree char *again = NULL;
    g_autoptr(GHashTable) xmls = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

    fix_init(&f, "reference");
    out = rewrite_ok(f.engine, in, KT_VERDICT_REWRITE);
    g_assert_nonnull(strstr(out, "kvmtune:placement"));
    g_assert_nonnull(strstr(out, "<vcpupin"));
    g_assert_cmpuint(kt_ledger_size(kt_engine_ledger(f.engine)), ==, 1);
    g_hash_table_insert(xmls, g_strdup("1"), g_strdup(out));
    assert_rebuild_equal(&f, xmls);

    /* Nova hard reboot: the same Nova XML again gets the same placement */
    again = rewrite_ok(f.engine, in, KT_VERDICT_REWRITE);
    g_assert_cmpstr(again, ==, out);
    g_assert_cmpuint(kt_engine_counters(f.engine)->reused, ==, 1);
    g_assert_cmpuint(kt_ledger_size(kt_engine_ledger(f.engine)), ==, 1);

    kt_engine_release(f.engine, "6f1e2d3c-4b5a-4978-8a1b-000000000001");
    g_assert_cmpuint(kt_ledger_size(kt_engine_ledger(f.engine)), ==, 0);
    fix_clear(&f);
}

static void
test_pass_through(void)
{
    Fix f;
    gsize len;
    g_autofree char *in = input("engine-no-match-ref", &len);
    g_autofree char *out = NULL;

    fix_init(&f, "reference");
    out = rewrite_ok(f.engine, in, KT_VERDICT_PASS);
    g_assert_null(out);
    g_assert_cmpuint(kt_ledger_size(kt_engine_ledger(f.engine)), ==, 0);
    fix_clear(&f);
}

static void
test_resize_and_abort(void)
{
    Fix f;
    gsize len;
    g_autofree char *in = input("engine-db-dedicated-ref", &len);
    g_autofree char *out = NULL;
    g_autofree char *bigger = NULL;
    g_autofree char *out2 = NULL;
    g_autofree char *uuid = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPlacement) before = NULL;
    const char *u = "6f1e2d3c-4b5a-4978-8a1b-000000000001";
    KtVerdict v;
    gsize out_len;

    fix_init(&f, "reference");
    out = rewrite_ok(f.engine, in, KT_VERDICT_REWRITE);
    before = kt_placement_copy(kt_ledger_lookup(kt_engine_ledger(f.engine), u)->committed);
    bigger = subst(in, "<vcpu>8</vcpu>", "<vcpu>12</vcpu>");
    g_assert_true(kt_engine_rewrite(f.engine, bigger, strlen(bigger), &v, &out2, &out_len,
                                    &uuid, &err));
    g_assert_no_error(err);
    g_assert_nonnull(kt_ledger_lookup(kt_engine_ledger(f.engine), u)->pending);
    g_assert_cmpuint(kt_ledger_lookup(kt_engine_ledger(f.engine), u)->pending->nvcpus, ==, 12);
    /* libvirt said no: the old booking stands */
    kt_engine_abort(f.engine, uuid);
    g_assert_null(kt_ledger_lookup(kt_engine_ledger(f.engine), u)->pending);
    g_assert_true(kt_placement_equal(kt_ledger_lookup(kt_engine_ledger(f.engine), u)->committed,
                                     before));
    fix_clear(&f);
}

static void
test_refusal(void)
{
    Fix f;
    gsize len;
    g_autofree char *in = input("engine-db-dedicated-ref", &len);
    g_autoptr(GError) err = NULL;
    guint i;

    fix_init(&f, "reference");
    for (i = 0; i < 100; i++) {
        g_autofree char *uuid = g_strdup_printf("6f1e2d3c-4b5a-4978-8a1b-%012x", 0x100 + i);
        g_autofree char *x = subst(in, "6f1e2d3c-4b5a-4978-8a1b-000000000001", uuid);
        g_autofree char *out = NULL;
        g_autofree char *u = NULL;
        KtVerdict v;
        gsize out_len;

        if (!kt_engine_rewrite(f.engine, x, strlen(x), &v, &out, &out_len, &u, &err))
            break;
        kt_engine_commit(f.engine, u);
    }
    /* 8 vCPUs + emulator = 9 isolated cores; 32 VFs on datacentre? no: 16 */
    g_assert_error(err, KT_ERROR, KT_ERROR_NO_CAPACITY);
    g_test_message("refused after %u: %s", i, err->message);
    g_assert_true(g_str_has_prefix(err->message, "profile db-dedicated needs "));
    g_assert_nonnull(strstr(err->message, "free: node0 "));
    g_assert_cmpuint(kt_ledger_size(kt_engine_ledger(f.engine)), ==, i);
    fix_clear(&f);
}

/* Property: random define / redefine / resize / undefine through the engine;
 * the ledger rebuilt from the current XMLs always equals the live one. */
static void
test_property_rebuild(void)
{
    static const char *const cases[] = {
        "engine-db-dedicated-ref", "engine-hpc-two-nodes-ref", "engine-vdi-vgpu-ref",
        "engine-general-shared-ref", "engine-ml-gpu-override-ref", "engine-nova-pinned-ref",
        "engine-db-sriov-port-ref", "engine-no-match-ref",
    };
    static const char *const base_uuid[] = {
        "6f1e2d3c-4b5a-4978-8a1b-000000000001", "6f1e2d3c-4b5a-4978-8a1b-000000000002",
        "6f1e2d3c-4b5a-4978-8a1b-000000000003", "6f1e2d3c-4b5a-4978-8a1b-000000000004",
        "6f1e2d3c-4b5a-4978-8a1b-000000000005", "6f1e2d3c-4b5a-4978-8a1b-000000000007",
        "6f1e2d3c-4b5a-4978-8a1b-000000000008", "6f1e2d3c-4b5a-4978-8a1b-000000000006",
    };
    guint32 seed = (guint32)g_test_rand_int();
    const char *env = g_getenv("KT_TEST_SEED");
    g_autoptr(GRand) rnd = NULL;
    g_autoptr(GHashTable) xmls = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autoptr(GPtrArray) inputs = g_ptr_array_new_with_free_func(g_free);
    Fix f;
    guint i, step, serial = 0x1000;

    if (env)
        seed = (guint32)g_ascii_strtoull(env, NULL, 10);
    g_test_message("seed %u (set KT_TEST_SEED to replay)", seed);
    rnd = g_rand_new_with_seed(seed);
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        gsize len;

        g_ptr_array_add(inputs, input(cases[i], &len));
    }
    fix_init(&f, "reference");
    for (step = 0; step < 200; step++) {
        guint op = g_rand_int_range(rnd, 0, 10);

        if (op < 6 || g_hash_table_size(xmls) == 0) {
            guint c = g_rand_int_range(rnd, 0, G_N_ELEMENTS(cases));
            g_autofree char *uuid = g_strdup_printf("6f1e2d3c-4b5a-4978-8a1b-%012x", serial++);
            g_autofree char *x = subst(g_ptr_array_index(inputs, c), base_uuid[c], uuid);
            g_autofree char *out = NULL;
            g_autofree char *u = NULL;
            g_autoptr(GError) err = NULL;
            KtVerdict v;
            gsize out_len;

            if (!kt_engine_rewrite(f.engine, x, strlen(x), &v, &out, &out_len, &u, &err)) {
                /* Only the inputs that bring their own CPUs (Nova's pins) or
                 * devices (a Nova SR-IOV port) can collide with a copy of
                 * themselves; anything else must be a clean refusal. */
                if (g_error_matches(err, KT_ERROR, KT_ERROR_INVALID))
                    g_assert_true(strstr(cases[c], "nova-pinned") ||
                                  strstr(cases[c], "sriov-port"));
                else
                    g_assert_error(err, KT_ERROR, KT_ERROR_NO_CAPACITY);
                continue;
            }
            if (op == 5 && v == KT_VERDICT_REWRITE) {
                kt_engine_abort(f.engine, u);       /* libvirt refused it */
                continue;
            }
            kt_engine_commit(f.engine, u);
            g_hash_table_insert(xmls, g_strdup(uuid),
                                v == KT_VERDICT_REWRITE ? g_steal_pointer(&out) : g_strdup(x));
        } else if (op < 8) {
            g_autoptr(GList) keys = g_list_sort(g_hash_table_get_keys(xmls), (GCompareFunc)strcmp);
            const char *k = g_list_nth_data(keys, g_rand_int_range(rnd, 0, g_list_length(keys)));
            g_autofree char *key = g_strdup(k);

            kt_engine_release(f.engine, key);
            g_hash_table_remove(xmls, key);
        } else {
            /* redefine the current XML as is (virsh edit without change) */
            g_autoptr(GList) keys = g_list_sort(g_hash_table_get_keys(xmls), (GCompareFunc)strcmp);
            const char *k = g_list_nth_data(keys, g_rand_int_range(rnd, 0, g_list_length(keys)));
            const char *cur = g_hash_table_lookup(xmls, k);
            g_autofree char *out = NULL;
            g_autofree char *u = NULL;
            g_autoptr(GError) err = NULL;
            const KtBooking *b = kt_ledger_lookup(kt_engine_ledger(f.engine), k);
            g_autoptr(KtPlacement) before = b && b->committed ? kt_placement_copy(b->committed)
                                                              : NULL;
            KtVerdict v;
            gsize out_len;

            g_assert_true(kt_engine_rewrite(f.engine, cur, strlen(cur), &v, &out, &out_len, &u,
                                            &err));
            kt_engine_commit(f.engine, u);
            if (v == KT_VERDICT_REWRITE) {
                /* the booking is reused as is */
                b = kt_ledger_lookup(kt_engine_ledger(f.engine), k);
                g_assert_true(kt_placement_equal(b->committed, before));
                g_hash_table_insert(xmls, g_strdup(k), g_steal_pointer(&out));
            }
        }
        if (step % 20 == 19)
            assert_rebuild_equal(&f, xmls);
    }
    assert_rebuild_equal(&f, xmls);
    fix_clear(&f);
}

static void
test_status(void)
{
    Fix f;
    gsize len;
    g_autofree char *in = input("engine-hpc-two-nodes-ref", &len);
    g_autofree char *out = NULL;
    g_autofree char *json = NULL;
    g_autofree char *text = NULL;

    fix_init(&f, "reference");
    out = rewrite_ok(f.engine, in, KT_VERDICT_REWRITE);
    json = kt_engine_status_json(f.engine);
    text = kt_engine_status_text(f.engine);
    g_assert_true(g_str_has_prefix(json, "{\"bookings\":1,\"pending\":0,"));
    g_assert_nonnull(strstr(json, "\"profile\":\"hpc\""));
    g_assert_nonnull(strstr(text, "node 1:"));
    /* page sizes named as in the policy, counts in pages */
    g_assert_nonnull(strstr(text, "\n  hugepages 2M    0 of 16384 pages booked\n"));
    g_assert_nonnull(strstr(text, "\n  hugepages 1G    "));
    g_assert_nonnull(strstr(text, " of 900 pages booked\n"));
    g_assert_null(strstr(text, "KiB pages"));
    fix_clear(&f);
}

/* Nova pinned the domain itself (hw:cpu_policy=dedicated, two guest cells
 * split unevenly, 1G pages, an isolated emulator CPU) and db-dedicated
 * matches without override: apply keeps Nova's tuning, and the booking is
 * Nova's: its pins, its nodes, its pages per node, and the same after a
 * restart (a fresh engine rebuilding from the rewritten XML alone). */
static void
test_nova_pinned_rebuild(void)
{
    Fix f;
    gsize len;
    g_autofree char *in = input("engine-nova-pinned-2cell-ref", &len);
    g_autofree char *out = NULL;
    g_autofree char *json = NULL;
    g_autofree char *fresh_json = NULL;
    g_autofree char *booked = NULL;
    g_autoptr(KtEngine) fresh = NULL;
    g_autoptr(GError) err = NULL;
    const char *uuid = "6f1e2d3c-4b5a-4978-8a1b-00000000000d";
    const KtBooking *b;

    fix_init(&f, "reference");
    out = rewrite_ok(f.engine, in, KT_VERDICT_REWRITE);
    /* Nova's tuning is untouched */
    g_assert_nonnull(strstr(out, "<vcpupin vcpu=\"1\" cpuset=\"142\"/>"));
    g_assert_nonnull(strstr(out, "<emulatorpin cpuset=\"31\"/>"));
    g_assert_nonnull(strstr(out, "<memnode cellid=\"1\" mode=\"strict\" nodeset=\"1\"/>"));
    g_assert_nonnull(strstr(out, "<cell id=\"1\" cpus=\"2-5\" memory=\"6291456\"/>"));

    booked = kt_cpuset_format(kt_ledger_booked_cpus(kt_engine_ledger(f.engine)));
    g_assert_cmpstr(booked, ==, "30-31,90-91,142,202-203");
    g_assert_cmpuint(kt_ledger_node_pages(kt_engine_ledger(f.engine), 0, 1048576), ==, 2);
    g_assert_cmpuint(kt_ledger_node_pages(kt_engine_ledger(f.engine), 1, 1048576), ==, 6);
    b = kt_ledger_lookup(kt_engine_ledger(f.engine), uuid);
    g_assert_nonnull(b);
    g_assert_nonnull(b->committed);

    fresh = kt_engine_new(f.inv, f.policy);
    g_assert_true(kt_engine_load_domain(fresh, out, strlen(out), &err));
    g_assert_no_error(err);
    g_assert_true(kt_ledger_equal(kt_engine_ledger(fresh), kt_engine_ledger(f.engine)));
    /* the status document, less the counters (the fresh engine rewrote nothing) */
    json = kt_engine_status_json(f.engine);
    fresh_json = kt_engine_status_json(fresh);
    g_assert_nonnull(strstr(json, "\"nodes\":["));
    g_assert_cmpstr(strstr(fresh_json, "\"nodes\":["), ==, strstr(json, "\"nodes\":["));
    g_free(booked);
    booked = kt_cpuset_format(kt_ledger_booked_cpus(kt_engine_ledger(fresh)));
    g_assert_cmpstr(booked, ==, "30-31,90-91,142,202-203");
    g_assert_cmpuint(kt_ledger_node_pages(kt_engine_ledger(fresh), 0, 1048576), ==, 2);
    g_assert_cmpuint(kt_ledger_node_pages(kt_engine_ledger(fresh), 1, 1048576), ==, 6);

    /* Nova repins the same flavor (evacuate back, unshelve): the booking
     * follows Nova's new pins instead of keeping the old ones */
    {
        g_autofree char *moved = subst(in, "cpuset=\"142\"", "cpuset=\"143\"");
        g_autofree char *out2 = rewrite_ok(f.engine, moved, KT_VERDICT_REWRITE);

        g_free(booked);
        booked = kt_cpuset_format(kt_ledger_booked_cpus(kt_engine_ledger(f.engine)));
        g_assert_cmpstr(booked, ==, "30-31,90-91,143,202-203");
        g_assert_nonnull(strstr(out2, "<kvmtune:vcpu id=\"1\" cpus=\"143\"/>"));
    }
    fix_clear(&f);
}

int
main(int argc, char **argv)
{
    g_autofree char *probe = src_path("tests/fixtures/hosts/reference/sys");

    g_test_init(&argc, &argv, NULL);
    if (!g_file_test(probe, G_FILE_TEST_IS_DIR)) {
        g_print("1..0 # SKIP fixture tree %s absent\n", probe);
        return 77;
    }
    g_test_add_func("/engine/rewrite-and-rebuild", test_rewrite_and_rebuild);
    g_test_add_func("/engine/pass-through", test_pass_through);
    g_test_add_func("/engine/resize-and-abort", test_resize_and_abort);
    g_test_add_func("/engine/refusal", test_refusal);
    g_test_add_func("/engine/status", test_status);
    g_test_add_func("/engine/property-rebuild", test_property_rebuild);
    g_test_add_func("/engine/nova-pinned-rebuild", test_nova_pinned_rebuild);
    return g_test_run();
}
