/* test-engine-corpus: the engine over the shared real-world libvirt XML
 * corpus (KT_SHARED_DIR/corpus/libvirt-xml, read in place; skipped when
 * absent), on the reference fixture, under a shared, a dedicated (isolate,
 * 1G pages, VF) and a vGPU profile matched by default.  Every file gives a
 * verdict or a GError, never a crash; a rewritten one rebuilds the same
 * ledger from its metadata and is stable when defined again. */
#include <glib.h>
#include <string.h>

#include "engine.h"
#include "kt-error.h"
#include "ledger.h"

static const char *const profiles[] = {
    "  p: {cpu: {policy: shared}}\n",
    "  p:\n"
    "    cpu: {policy: dedicated, threads: isolate, emulator: isolate}\n"
    "    numa: {nodes: 1}\n"
    "    memory: {hugepages: 1G}\n"
    "    sriov: [{physnet: datacentre, vlan: 100}]\n",
    "  p:\n"
    "    cpu: {policy: shared}\n"
    "    memory: {hugepages: 2M, need: best-effort}\n"
    "    vgpu: {type: nvidia-222}\n",
};

static GPtrArray *files;
static KtInventory *inv;

static void
collect(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *n;

    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, n, NULL);

        if (g_file_test(p, G_FILE_TEST_IS_DIR))
            collect(p);
        else if (g_str_has_suffix(n, ".xml"))
            g_ptr_array_add(files, g_steal_pointer(&p));
    }
}

static void
run_profile(gconstpointer data)
{
    const char *prof = data;
    g_autofree char *text = g_strconcat(
        "host:\n"
        "  reserved_cpus: \"0-1,112-113\"\n"
        "  dedicated_cpus: \"28-111,140-223\"\n"
        "  shared_cpus: \"2-27,114-139\"\n"
        "  sriov: [{pf: \"0000:17:00.0\", physnet: datacentre},"
        " {pf: \"0000:98:00.0\", physnet: datacentre}]\n"
        "  gpus: [{pci: \"0000:ca:00.0\"}]\n"
        "profiles:\n", prof, "match: [{default: p}]\n", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPolicy) policy = kt_policy_parse("corpus.yaml", text, strlen(text), &err);
    guint i, rewritten = 0, passed = 0, refused = 0;

    g_assert_no_error(err);
    for (i = 0; i < files->len; i++) {
        const char *path = g_ptr_array_index(files, i);
        g_autoptr(KtEngine) e = kt_engine_new(inv, policy);
        g_autoptr(KtEngine) fresh = kt_engine_new(inv, policy);
        g_autofree char *xml = NULL;
        g_autofree char *out = NULL;
        g_autofree char *again = NULL;
        g_autofree char *uuid = NULL;
        g_autofree char *u2 = NULL;
        g_autoptr(GError) e1 = NULL;
        KtVerdict v = KT_VERDICT_LAST;
        gsize len = 0, out_len = 0, again_len = 0;

        g_assert_true(g_file_get_contents(path, &xml, &len, NULL));
        if (!kt_engine_rewrite(e, xml, len, &v, &out, &out_len, &uuid, &e1)) {
            g_assert_nonnull(e1);
            g_assert_true(e1->domain == KT_ERROR);
            refused++;
            continue;
        }
        if (v == KT_VERDICT_PASS) {
            passed++;
            continue;
        }
        rewritten++;
        kt_engine_commit(e, uuid);
        if (!kt_engine_load_domain(fresh, out, out_len, &e1))
            g_error("%s: rewritten XML does not load back: %s", path, e1->message);
        if (!kt_ledger_equal(kt_engine_ledger(fresh), kt_engine_ledger(e)))
            g_error("%s: the ledger rebuilt from the output differs", path);
        if (!kt_engine_rewrite(e, out, out_len, &v, &again, &again_len, &u2, &e1))
            g_error("%s: redefining the output failed: %s", path, e1->message);
        if (g_strcmp0(again, out) != 0)
            g_error("%s: redefining the output changed it", path);
    }
    g_test_message("%u files: %u rewritten, %u passed, %u refused", files->len, rewritten,
                   passed, refused);
    g_assert_cmpuint(rewritten, >, 0);
}

int
main(int argc, char **argv)
{
    const char *shared = g_getenv("KT_SHARED_DIR");
    const char *root = g_getenv("KT_SOURCE_ROOT");
    g_autofree char *corpus = g_build_filename(shared ? shared : "../shared", "corpus",
                                               "libvirt-xml", NULL);
    g_autofree char *sysroot = g_build_filename(root ? root : ".", "tests", "fixtures",
                                                "hosts", "reference", NULL);
    g_autoptr(GError) err = NULL;
    int rc;

    g_test_init(&argc, &argv, NULL);
    if (!g_file_test(corpus, G_FILE_TEST_IS_DIR)) {
        g_print("1..0 # SKIP corpus %s absent\n", corpus);
        return 0;   /* meson reports a TAP skip plan as SKIP, exit 77 as ERROR */
    }
    files = g_ptr_array_new_with_free_func(g_free);
    collect(corpus);
    inv = kt_inventory_load(sysroot, &err);
    g_assert_no_error(err);
    g_test_add_data_func("/engine-corpus/shared", profiles[0], run_profile);
    g_test_add_data_func("/engine-corpus/dedicated", profiles[1], run_profile);
    g_test_add_data_func("/engine-corpus/vgpu", profiles[2], run_profile);
    rc = g_test_run();
    kt_inventory_free(inv);
    g_ptr_array_unref(files);
    return rc;
}
