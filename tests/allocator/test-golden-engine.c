/* test-golden-engine: golden cases that go policy + host fixture -> XML
 * through the whole engine (match, allocate, apply).
 *
 * A case is a folder tests/golden/<case>/ with input.xml, policy.yaml,
 * host (the name of a tree in tests/fixtures/hosts/) and expected.xml, or
 * for a _FAIL case expected.err (the one-line refusal).  Folders without
 * policy.yaml belong to the XML engine's runner (tests/golden/test-golden.c)
 * and are not listed here.  Each case also checks that defining the output
 * again (a redefinition) reuses the booking and gives the same bytes, and
 * that expected.xml passes virt-xml-validate when it is installed.
 * KT_TEST_REGENERATE=1 rewrites the expected files: review that diff. */
#include <glib.h>
#include <string.h>

#include "engine.h"
#include "golden-util.h"
#include "kt-error.h"
#include "ledger.h"

#ifndef KT_GOLDEN_DIR
#error "KT_GOLDEN_DIR must name tests/golden"
#endif
#ifndef KT_FIXTURE_DIR
#error "KT_FIXTURE_DIR must name tests/fixtures/hosts"
#endif

static char *
case_file(const KtGoldenCase *tc, const char *file)
{
    return g_build_filename(KT_GOLDEN_DIR, tc->name, file, NULL);
}

static char *
read_case(const KtGoldenCase *tc, const char *file, gsize *len)
{
    g_autofree char *dir = case_file(tc, NULL);

    return kt_golden_read(dir, file, len);
}

static void
validate(const KtGoldenCase *tc)
{
    const char *tool = "/usr/bin/virt-xml-validate";
    g_autofree char *path = case_file(tc, "expected.xml");
    const char *argv[] = { tool, path, "domain", NULL };
    g_autofree char *out = NULL;
    g_autofree char *errout = NULL;
    g_autoptr(GError) err = NULL;
    int status = 0;

    if (!g_file_test(tool, G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_message("%s absent: schema not checked", tool);
        return;
    }
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &errout, &status, &err));
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("%s: virt-xml-validate failed:\n%s%s", tc->name, out, errout);
}

static void
run_case(gconstpointer data)
{
    const KtGoldenCase *tc = data;
    g_autofree char *host = NULL;
    g_autofree char *sysroot = NULL;
    g_autofree char *dir = case_file(tc, NULL);
    g_autofree char *policy_path = case_file(tc, "policy.yaml");
    g_autofree char *input = NULL;
    g_autofree char *out = NULL;
    g_autofree char *uuid = NULL;
    g_autoptr(KtInventory) inv = NULL;
    g_autoptr(KtPolicy) policy = NULL;
    g_autoptr(KtEngine) engine = NULL;
    g_autoptr(GError) err = NULL;
    KtVerdict verdict = KT_VERDICT_LAST;
    const char *result;
    gsize len = 0, out_len = 0, hlen = 0;
    gboolean ok;

    host = g_strstrip(read_case(tc, "host", &hlen));
    g_assert_true(g_regex_match_simple("^[a-z0-9-]+$", host, 0, 0));
    sysroot = g_build_filename(KT_FIXTURE_DIR, host, NULL);
    inv = kt_inventory_load(sysroot, &err);
    g_assert_no_error(err);
    policy = kt_policy_load(policy_path, &err);
    g_assert_no_error(err);
    engine = kt_engine_new(inv, policy);
    input = read_case(tc, "input.xml", &len);

    ok = kt_engine_rewrite(engine, input, len, &verdict, &out, &out_len, &uuid, &err);
    if (tc->fail) {
        g_autofree char *line = NULL;

        g_assert_false(ok);
        line = g_strdup_printf("%s\n", err->message);
        kt_golden_check(dir, "expected.err", line, strlen(line));
        return;
    }
    g_assert_no_error(err);
    result = verdict == KT_VERDICT_PASS ? input : out;
    if (verdict == KT_VERDICT_PASS)
        out_len = len;
    kt_golden_check(dir, "expected.xml", result, out_len);
    validate(tc);
    if (verdict != KT_VERDICT_REWRITE)
        return;

    /* A redefinition of what libvirt now holds keeps the booking and the
     * bytes (Nova hard reboot regenerates, virsh edit re-sends). */
    kt_engine_commit(engine, uuid);
    {
        g_autofree char *again = NULL;
        g_autofree char *u2 = NULL;
        gsize again_len = 0;
        const KtBooking *b = kt_ledger_lookup(kt_engine_ledger(engine), uuid);
        g_autoptr(KtPlacement) before = kt_placement_copy(b->committed);

        g_assert_true(kt_engine_rewrite(engine, out, out_len, &verdict, &again, &again_len,
                                        &u2, &err));
        g_assert_no_error(err);
        g_assert_cmpint(verdict, ==, KT_VERDICT_REWRITE);
        kt_engine_commit(engine, u2);
        b = kt_ledger_lookup(kt_engine_ledger(engine), uuid);
        g_assert_true(kt_placement_equal(before, b->committed));
        g_assert_cmpstr(again, ==, out);
    }
}

#define DO_TEST(n) KT_GOLDEN_ADD("/golden-engine/", n, false, run_case)
#define DO_TEST_FAIL(n) KT_GOLDEN_ADD("/golden-engine/", n, true, run_case)

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!g_file_test(KT_FIXTURE_DIR "/reference/sys", G_FILE_TEST_IS_DIR)) {
        g_print("1..0 # SKIP fixture trees absent\n");
        return 77;
    }

    DO_TEST("engine-db-dedicated-ref");
    DO_TEST("engine-db-sriov-port-ref");
    DO_TEST("engine-hpc-two-nodes-ref");
    DO_TEST("engine-vdi-vgpu-ref");
    DO_TEST("engine-general-shared-ref");
    DO_TEST("engine-ml-gpu-override-ref");
    DO_TEST("engine-nova-pinned-ref");
    DO_TEST("engine-nova-pinned-2cell-ref");
    DO_TEST("engine-no-match-ref");
    DO_TEST("engine-general-laptop");
    DO_TEST("engine-wide-epyc");
    DO_TEST_FAIL("engine-db-too-big-ref_FAIL");
    DO_TEST_FAIL("engine-vgpu-none-laptop_FAIL");
    return g_test_run();
}
