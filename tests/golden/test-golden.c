/* test-golden: table-driven golden tests of the domain XML engine, in the
 * manner of libvirt's qemuxml2xmltest.
 *
 * Each case is a folder tests/golden/<case>/ with input.xml, what to apply
 * (placement.xml: a <kvmtune:placement> element) and expected.xml, or, for
 * a DO_TEST_FAIL case, expected.err (the one-line error).  Besides the
 * byte-exact comparison every case checks that applying the output again
 * changes nothing, and, for an input kvmtune never touched and a placement
 * without override, that strip gives the input back: byte for byte on the
 * same tree, canonically after a reparse.
 *
 * KT_TEST_REGENERATE=1 rewrites expected.xml / expected.err (review the
 * diff).  Inputs come from gen-inputs.py (Nova, virt-install) or are
 * hand-written. */
#include <string.h>
#include <libxml/c14n.h>

#include "domain.h"
#include "golden-util.h"
#include "placement-test.h"
#include "kt-error.h"

#ifndef KT_GOLDEN_DIR
# error "KT_GOLDEN_DIR must be set by the build"
#endif

/* What to apply for a case.  The one place that knows the case formats:
 * placement.xml today; the allocator's policy.yaml + host fixture branch
 * goes here (place the request read from @input with them). */
static KtPlacement *
load_placement(const char *dir, KtDomain *input, GError **error)
{
    g_autofree char *path = g_build_filename(dir, "placement.xml", NULL);
    g_autofree char *text = NULL;
    gsize len = 0;

    if (!g_file_get_contents(path, &text, &len, error))
        return NULL;
    return kt_placement_parse_xml(text, len, error);
}

static void
run_case(gconstpointer data)
{
    const KtGoldenCase *tc = data;
    g_autofree char *dir = g_build_filename(KT_GOLDEN_DIR, tc->name, NULL);
    g_autofree char *input = NULL;
    g_autofree char *out = NULL;
    g_autofree char *again = NULL;
    g_autoptr(KtDomain) dom = NULL;
    g_autoptr(KtDomain) redo = NULL;
    g_autoptr(KtPlacement) pl = NULL;
    g_autoptr(GError) err = NULL;
    KtApplyReport report = { 0 };
    bool untouched;
    gsize len = 0;

    input = kt_golden_read(dir, "input.xml", &len);
    untouched = !strstr(input, "http://kvmtune.org/xmlns/placement/1.0") &&
                !strstr(input, "ua-kvmtune-");

    dom = kt_domain_parse(input, len, &err);
    if (dom)
        pl = load_placement(dir, dom, &err);
    if (pl && !kt_domain_apply(dom, pl, &report, &err))
        g_clear_pointer(&pl, kt_placement_free);

    if (tc->fail) {
        g_autofree char *line = NULL;

        if (!err) {
            g_test_message("expected an error");
            g_test_fail();
            return;
        }
        line = g_strdup_printf("%s\n", err->message);
        kt_golden_check(dir, "expected.err", line, strlen(line));
        return;
    }
    if (err) {
        g_test_message("%s: %s", tc->name, err->message);
        g_test_fail();
        return;
    }
    out = kt_domain_format(dom, NULL);
    kt_golden_check(dir, "expected.xml", out, strlen(out));

    /* idempotent: applying to the output changes nothing */
    redo = kt_domain_parse(out, strlen(out), &err);
    g_assert_no_error(err);
    g_assert_true(kt_domain_apply(redo, pl, NULL, &err));
    again = kt_domain_format(redo, NULL);
    g_assert_cmpstr(again, ==, out);

    if (untouched && !pl->override) {
        g_autofree char *same = NULL;
        g_autofree char *after = NULL;
        g_autofree char *c_in = NULL;
        g_autofree char *c_after = NULL;

        kt_domain_strip(dom);
        same = kt_domain_format(dom, NULL);
        g_assert_cmpstr(same, ==, input);
        kt_domain_strip(redo);
        after = kt_domain_format(redo, NULL);
        c_in = kt_test_canonical(input);
        c_after = kt_test_canonical(after);
        g_assert_cmpstr(c_after, ==, c_in);
    }
}

#define DO_TEST(n) KT_GOLDEN_ADD("/golden/", n, false, run_case)
#define DO_TEST_FAIL(n) KT_GOLDEN_ADD("/golden/", n, true, run_case)

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    /* Nova output (gen-inputs.py, nova.virt.libvirt.config) */
    DO_TEST("nova-shared-small");
    DO_TEST("nova-shared-medium");
    DO_TEST("nova-shared-large");
    DO_TEST("nova-shared-nonuma");
    DO_TEST("nova-shared-2m-pages");
    DO_TEST("nova-shared-2node");
    DO_TEST("nova-db-pinned-4");
    DO_TEST("nova-db-pinned-8-smt");
    DO_TEST("nova-db-pinned-noemu");
    DO_TEST("nova-db-pinned-2m");
    DO_TEST("nova-db-2node-16");
    DO_TEST("nova-hpc-2node-smt-uneven");
    DO_TEST("nova-novapinned-kept");
    DO_TEST("nova-novapinned-override");
    DO_TEST("nova-novahugepages-kept");
    DO_TEST("nova-vhostuser-membacking");
    DO_TEST("nova-sriov-1vf");
    DO_TEST("nova-sriov-2vf-shared");
    DO_TEST("nova-sriov-port-exists");
    DO_TEST("nova-vgpu-mdev");
    DO_TEST("nova-vgpu-mdev-exists");
    DO_TEST("nova-gpu-passthrough");
    DO_TEST("nova-full-bench");
    DO_TEST("nova-ns10-shared");
    DO_TEST("nova-extra-specs-profile");
    DO_TEST("nova-profile-only-metadata");

    /* virt-install --print-xml (gen-inputs.py) */
    DO_TEST("virtinst-basic");
    DO_TEST("virtinst-cpu-host-passthrough");
    DO_TEST("virtinst-numa-cells");
    DO_TEST("virtinst-cputune-kept");
    DO_TEST("virtinst-hugepages-kept");
    DO_TEST("virtinst-network-sriov");
    DO_TEST("virtinst-numatune-kept");
    DO_TEST("virtinst-gpu");

    /* hand-written edge cases */
    DO_TEST("edge-comments-cdata");
    DO_TEST("edge-foreign-metadata");
    DO_TEST("edge-no-devices-no-metadata");
    DO_TEST("edge-one-line");
    DO_TEST("edge-tabs-crlf");
    DO_TEST("edge-xml-declaration");
    DO_TEST("edge-cputune-shares-only");
    DO_TEST("edge-vcpu-placement-auto");
    DO_TEST("edge-reapply-new-placement");
    DO_TEST("edge-memory-units");
    DO_TEST("edge-nova-ns10-pinned");
    DO_TEST_FAIL("edge-billion-laughs_FAIL");
    DO_TEST_FAIL("edge-xxe_FAIL");
    DO_TEST_FAIL("edge-bad-utf8_FAIL");
    DO_TEST_FAIL("edge-vcpu-mismatch_FAIL");
    DO_TEST_FAIL("edge-cell-memory-sum_FAIL");
    DO_TEST_FAIL("edge-bad-placement-pci_FAIL");
    DO_TEST_FAIL("edge-malformed_FAIL");

    return g_test_run();
}
