/* Unit tests for kt_policy_check() (policy against a fixture host and a
 * nova.conf) and the nova.conf reader.
 *
 * Check cases live in tests/policy-data/check/<case>.{yaml,host,nova.conf}
 * with the expected output in <case>.out (problems, then "warning: " lines);
 * KT_TEST_REGENERATE=1 rewrites the .out files. */
#include <string.h>
#include <sys/wait.h>

#include "kt-error.h"
#include "nova-conf.h"
#include "policy-check.h"

static char *
src_path(const char *first, ...) G_GNUC_NULL_TERMINATED;

static char *
src_path(const char *first, ...)
{
    const char *src = g_getenv("KT_SOURCE_ROOT");
    g_autoptr(GPtrArray) parts = g_ptr_array_new();
    const char *p;
    va_list ap;

    g_ptr_array_add(parts, (char *)(src ? src : "."));
    va_start(ap, first);
    for (p = first; p; p = va_arg(ap, const char *))
        g_ptr_array_add(parts, (char *)p);
    va_end(ap);
    g_ptr_array_add(parts, NULL);
    return g_build_filenamev((char **)parts->pdata);
}

static void
run_check_case(gconstpointer data)
{
    const char *name = data;
    g_autofree char *base = src_path("tests", "policy-data", "check", name, NULL);
    g_autofree char *yaml = g_strconcat(base, ".yaml", NULL);
    g_autofree char *hostf = g_strconcat(base, ".host", NULL);
    g_autofree char *novaf = g_strconcat(base, ".nova.conf", NULL);
    g_autofree char *outf = g_strconcat(base, ".out", NULL);
    g_autofree char *bare = g_strconcat(name, ".yaml", NULL);
    g_autofree char *bare_nova = g_strconcat(name, ".nova.conf", NULL);
    g_autofree char *text = NULL;
    g_autofree char *host = NULL;
    g_autofree char *sysroot = NULL;
    g_autofree char *want = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPolicy) policy = NULL;
    g_autoptr(KtInventory) inv = NULL;
    g_autoptr(KtNovaConf) nova = NULL;
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) got = g_string_new(NULL);
    bool ok;
    guint i;

    g_assert_true(g_file_get_contents(yaml, &text, &len, NULL));
    policy = kt_policy_parse(bare, text, len, &err);
    g_assert_no_error(err);
    g_clear_pointer(&text, g_free);

    g_assert_true(g_file_get_contents(hostf, &host, NULL, NULL));
    g_strstrip(host);
    sysroot = src_path("tests", "fixtures", "hosts", host, NULL);
    inv = kt_inventory_load(sysroot, &err);
    g_assert_no_error(err);

    if (g_file_get_contents(novaf, &text, &len, NULL)) {
        nova = kt_nova_conf_parse(bare_nova, text, len, &err);
        g_assert_no_error(err);
    }

    ok = kt_policy_check(policy, inv, nova, problems, warnings);
    g_assert_true(ok == (problems->len == 0));
    for (i = 0; i < problems->len; i++)
        g_string_append_printf(got, "%s\n", (char *)problems->pdata[i]);
    for (i = 0; i < warnings->len; i++)
        g_string_append_printf(got, "warning: %s\n", (char *)warnings->pdata[i]);
    if (g_getenv("KT_TEST_REGENERATE")) {
        g_assert_true(g_file_set_contents(outf, got->str, -1, NULL));
        return;
    }
    g_assert_true(g_file_get_contents(outf, &want, NULL, NULL));
    g_assert_cmpstr(got->str, ==, want);
}

#define DO_TEST_CHECK(name) \
    g_test_add_data_func("/policy-check/" name, name, run_check_case)

/* ---- nova.conf ------------------------------------------------------------ */

static KtNovaConf *
nova_ok(const char *text)
{
    g_autoptr(GError) err = NULL;
    KtNovaConf *c = kt_nova_conf_parse("nova.conf", text, strlen(text), &err);

    g_assert_no_error(err);
    g_assert_nonnull(c);
    return c;
}

static void
assert_set(const KtCpuset *set, const char *want)
{
    g_autofree char *s = NULL;

    if (!want) {
        g_assert_null(set);
        return;
    }
    g_assert_nonnull(set);
    s = kt_cpuset_format(set);
    g_assert_cmpstr(s, ==, want);
}

static void
test_nova_conf(void)
{
    g_autoptr(KtNovaConf) a = nova_ok(
        "# comment\n"
        "[DEFAULT]\n"
        "vcpu_pin_set=4-7\n"
        "[compute]\n"
        "cpu_dedicated_set : 8-15\n"
        "cpu_shared_set = \"0-3,\n"
        "\n"
        "[compute]\n"
        "cpu_shared_set = 0-1,\n"
        "    2-3,\n"
        "\t16\n"
        "[libvirt]\n"
        "connection_uri = qemu+unix:///system?socket=/run/kvmtune/libvirt-sock\n");
    g_autoptr(KtNovaConf) b = nova_ok("");
    g_autoptr(KtNovaConf) c = nova_ok("[compute]\ncpu_dedicated_set =\n[Compute]\n");

    assert_set(a->cpu_dedicated_set, "8-15");
    g_assert_cmpuint(a->cpu_dedicated_set_line, ==, 5);
    /* the last assignment wins, continuation lines join */
    assert_set(a->cpu_shared_set, "0-3,16");
    g_assert_cmpuint(a->cpu_shared_set_line, ==, 9);
    assert_set(a->vcpu_pin_set, "4-7");
    g_assert_cmpstr(a->connection_uri, ==, "qemu+unix:///system?socket=/run/kvmtune/libvirt-sock");
    assert_set(b->cpu_dedicated_set, NULL);
    assert_set(b->cpu_shared_set, NULL);
    g_assert_null(b->connection_uri);
    /* an empty value means unset, as in Nova */
    assert_set(c->cpu_dedicated_set, NULL);
}

static void
test_nova_conf_errors(void)
{
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        { "[compute]\ncpu_dedicated_set = 4-x\n",
          "nova.conf:2: [compute] cpu_dedicated_set: cpu list '4-x': " },
        { "  indented = 1\n", "nova.conf:1: continuation line without an assignment" },
        { "[compute\n", "nova.conf:1: malformed section header" },
        { "[compute]\njust words\n", "nova.conf:2: expected 'key = value'" },
        { "[compute]\n= 3\n", "nova.conf:2: expected 'key = value'" },
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(KtNovaConf) conf = kt_nova_conf_parse("nova.conf", cases[i].text,
                                                        strlen(cases[i].text), &err);

        g_assert_null(conf);
        g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
        g_assert_true(g_str_has_prefix(err->message, cases[i].msg));
    }
    {
        g_autofree char *big = g_malloc(2 * 1024 * 1024);
        g_autoptr(GError) err = NULL;
        g_autoptr(KtNovaConf) conf = NULL;

        memset(big, '#', 2 * 1024 * 1024);
        conf = kt_nova_conf_parse("nova.conf", big, 2 * 1024 * 1024, &err);
        g_assert_null(conf);
        g_assert_error(err, KT_ERROR, KT_ERROR_TOO_LARGE);
    }
}

/* ---- the CLI: exit codes and output lines --------------------------------------- */

static int
run_cli(const char *const *args, char **ret_out, char **ret_err)
{
    const char *build = g_getenv("KT_BUILD_ROOT");
    g_autofree char *exe = g_build_filename(build ? build : ".", "nova-helper", "kvmtune", NULL);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_autoptr(GError) err = NULL;
    int status = -1;
    guint i;

    g_ptr_array_add(argv, exe);
    g_ptr_array_add(argv, (char *)"check-policy");
    for (i = 0; args[i]; i++)
        g_ptr_array_add(argv, (char *)args[i]);
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               ret_out, ret_err, &status, &err));
    g_assert_no_error(err);
    g_assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void
test_cli(void)
{
    const char *build = g_getenv("KT_BUILD_ROOT");
    g_autofree char *exe = g_build_filename(build ? build : ".", "nova-helper", "kvmtune", NULL);
    g_autofree char *ref = src_path("tests", "fixtures", "hosts", "reference", NULL);
    g_autofree char *example = src_path("nova-helper", "policy.example.yaml", NULL);
    g_autofree char *many = src_path("tests", "policy-data", "many-errors.yaml", NULL);
    g_autofree char *nova = src_path("tests", "policy-data", "check",
                                     "nova-overlap.nova.conf", NULL);
    g_autofree char *swapped = src_path("tests", "policy-data", "check",
                                        "shared-isolated.yaml", NULL);
    g_autofree char *out = NULL;
    g_autofree char *errs = NULL;
    g_auto(GStrv) lines = NULL;

    if (!g_file_test(exe, G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("kvmtune not built");
        return;
    }
    {
        const char *a[] = { "--sysroot", ref, "--no-nova-conf", example, NULL };

        g_assert_cmpint(run_cli(a, &out, &errs), ==, 0);
        g_assert_cmpstr(errs, ==, "");
        g_assert_true(g_str_has_suffix(out, "(5 profiles, 7 match rules)\n"));
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&errs, g_free);
    }
    {
        /* every problem, one line each, with the file's own path */
        const char *a[] = { "--sysroot", ref, "--no-nova-conf", many, NULL };

        g_assert_cmpint(run_cli(a, &out, &errs), ==, 1);
        lines = g_strsplit(errs, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 9);
        g_assert_true(g_str_has_prefix(lines[0], many));
        g_assert_nonnull(strstr(lines[0], "many-errors.yaml:4:19: 'host.dedicated_cpus'"));
        g_clear_pointer(&lines, g_strfreev);
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&errs, g_free);
    }
    {
        const char *a[] = { "--sysroot", ref, "--nova-conf", nova, "-q", example, NULL };

        g_assert_cmpint(run_cli(a, &out, &errs), ==, 1);
        g_assert_cmpstr(out, ==, "");
        lines = g_strsplit(errs, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 3);
        g_assert_nonnull(strstr(lines[0], "policy.example.yaml:23:18: 'host.reserved_cpus': "
                                "CPUs 0-1 are also in Nova's [compute] cpu_shared_set"));
        g_assert_nonnull(strstr(lines[1], "'host.shared_cpus': CPUs 120-130,168-171 are also "
                                "in Nova's [compute] cpu_dedicated_set"));
        g_clear_pointer(&lines, g_strfreev);
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&errs, g_free);
    }
    {
        /* warnings do not fail the check; one line each, on stderr */
        const char *a[] = { "--sysroot", ref, "--no-nova-conf", swapped, NULL };

        g_assert_cmpint(run_cli(a, &out, &errs), ==, 0);
        lines = g_strsplit(errs, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 3);
        g_assert_true(g_str_has_prefix(lines[1], "warning: "));
        g_assert_true(g_str_has_prefix(lines[1] + strlen("warning: "), swapped));
        g_assert_nonnull(strstr(lines[1], "shared-isolated.yaml:8:16: 'host.shared_cpus': "
                                "CPUs 82-111,194-223 are isolated (isolcpus=)"));
        g_clear_pointer(&lines, g_strfreev);
        g_clear_pointer(&out, g_free);
        g_clear_pointer(&errs, g_free);
    }
    {
        const char *bad[][3] = {
            { NULL }, { "--bogus", "x", NULL }, { "a", "b", NULL },
            { "--sysroot", NULL }, { "/nonexistent/policy.yaml", NULL },
        };
        guint i;

        for (i = 0; i < G_N_ELEMENTS(bad); i++) {
            g_assert_cmpint(run_cli(bad[i], &out, &errs), ==, 1);
            g_assert_cmpstr(errs, !=, "");
            g_clear_pointer(&out, g_free);
            g_clear_pointer(&errs, g_free);
        }
    }
    {
        const char *a[] = { "--help", NULL };

        g_assert_cmpint(run_cli(a, &out, &errs), ==, 0);
        g_assert_nonnull(strstr(out, "EXIT STATUS"));
        g_assert_nonnull(strstr(out, "--nova-conf FILE"));
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/nova-conf/parse", test_nova_conf);
    g_test_add_func("/nova-conf/errors", test_nova_conf_errors);

    DO_TEST_CHECK("example-reference");
    DO_TEST_CHECK("example-laptop");
    DO_TEST_CHECK("bad-host");
    DO_TEST_CHECK("nova-overlap");
    DO_TEST_CHECK("nova-ok");
    DO_TEST_CHECK("broken-offline");
    DO_TEST_CHECK("split-siblings");
    DO_TEST_CHECK("shared-isolated");
    DO_TEST_CHECK("shared-isolated-sysfs");
    g_test_add_func("/policy-check/cli", test_cli);

    return g_test_run();
}
