/* Unit tests for KtPolicy: the shipped example parses to exact values, every
 * error class is reported with its exact file:line:column (golden .err files
 * in tests/policy-data/, KT_TEST_REGENERATE=1 rewrites them), all errors of a
 * file come together, and hostile YAML is refused cleanly. */
#include <string.h>

#include "kt-error.h"
#include "policy.h"

static char *
data_path(const char *name)
{
    const char *src = g_getenv("KT_SOURCE_ROOT");

    return g_build_filename(src ? src : ".", "tests", "policy-data", name, NULL);
}

static char *
cpus(const KtCpuset *set)
{
    return kt_cpuset_format(set);
}

static void
assert_cpus(const KtCpuset *set, const char *want)
{
    g_autofree char *s = cpus(set);

    g_assert_cmpstr(s, ==, want);
}

static KtPolicy *
parse_ok(const char *text)
{
    g_autoptr(GError) err = NULL;
    KtPolicy *p = kt_policy_parse("t.yaml", text, strlen(text), &err);

    g_assert_no_error(err);
    g_assert_nonnull(p);
    return p;
}

static char *
parse_fail(const char *text)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPolicy) p = kt_policy_parse("t.yaml", text, strlen(text), &err);

    g_assert_null(p);
    g_assert_nonnull(err);
    g_assert_true(err->domain == KT_ERROR);
    return g_strdup(err->message);
}

static void
test_example(void)
{
    const char *src = g_getenv("KT_SOURCE_ROOT");
    g_autofree char *path = g_build_filename(src ? src : ".", "nova-helper",
                                             "policy.example.yaml", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPolicy) p = kt_policy_load(path, &err);
    const KtPolicyProfile *db, *hpc, *vdi, *ml, *gen;
    const KtPolicySriovReq *r;
    const KtPolicyMatch *m;
    guint line = 0, col = 0;

    g_assert_no_error(err);
    g_assert_true(g_str_has_prefix(p->hash, "sha256:"));
    g_assert_cmpuint(strlen(p->hash), ==, 7 + 64);
    assert_cpus(p->reserved_cpus, "0-1,112-113");
    assert_cpus(p->dedicated_cpus, "28-55,82-111,140-167,194-223");
    assert_cpus(p->shared_cpus, "2-27,56-81,114-139,168-193");
    g_assert_cmpfloat(p->cpu_allocation_ratio, ==, 8.0);
    g_assert_cmpuint(p->hugepages->len, ==, 2);
    g_assert_cmpuint(g_array_index(p->hugepages, KtPolicyHugepages, 0).size_kib, ==, 1048576);
    g_assert_cmpuint(g_array_index(p->hugepages, KtPolicyHugepages, 0).per_node, ==, 900);
    g_assert_cmpuint(g_array_index(p->hugepages, KtPolicyHugepages, 1).size_kib, ==, 2048);
    g_assert_cmpuint(g_array_index(p->hugepages, KtPolicyHugepages, 1).per_node, ==, 16384);
    g_assert_cmpuint(p->sriov_pfs->len, ==, 4);
    g_assert_cmpstr(((KtPolicySriovPf *)p->sriov_pfs->pdata[0])->pf, ==, "0000:17:00.0");
    g_assert_cmpstr(((KtPolicySriovPf *)p->sriov_pfs->pdata[0])->physnet, ==, "datacentre");
    g_assert_cmpstr(((KtPolicySriovPf *)p->sriov_pfs->pdata[3])->pf, ==, "0000:98:00.1");
    g_assert_cmpstr(((KtPolicySriovPf *)p->sriov_pfs->pdata[3])->physnet, ==, "storage");
    g_assert_cmpuint(p->gpus->len, ==, 1);
    g_assert_cmpstr(p->gpus->pdata[0], ==, "0000:ca:00.0");

    g_assert_cmpuint(p->profiles->len, ==, 5);
    db = kt_policy_find_profile(p, "db-dedicated");
    g_assert_nonnull(db);
    g_assert_true(db == p->profiles->pdata[0]);
    g_assert_cmpint(db->cpu_policy, ==, KT_CPU_POLICY_DEDICATED);
    g_assert_cmpint(db->threads, ==, KT_THREADS_ISOLATE);
    g_assert_cmpint(db->emulator, ==, KT_EMULATOR_ISOLATE);
    g_assert_cmpint(db->cpu_need, ==, KT_NEED_REQUIRED);
    g_assert_cmpuint(db->numa_nodes, ==, 1);
    g_assert_cmpuint(db->hugepage_kib, ==, 1048576);
    g_assert_cmpint(db->memory_need, ==, KT_NEED_REQUIRED);
    g_assert_cmpuint(db->sriov->len, ==, 1);
    r = db->sriov->pdata[0];
    g_assert_cmpstr(r->physnet, ==, "datacentre");
    g_assert_cmpint(r->vlan, ==, 100);
    g_assert_cmpuint(r->count, ==, 1);
    g_assert_cmpint(r->trust, ==, -1);
    g_assert_cmpint(r->spoofchk, ==, 1);
    g_assert_null(db->vgpu_type);
    g_assert_cmpuint(db->gpu_count, ==, 0);
    g_assert_false(db->override);

    hpc = kt_policy_find_profile(p, "hpc");
    g_assert_cmpint(hpc->threads, ==, KT_THREADS_REQUIRE);
    g_assert_cmpint(hpc->emulator, ==, KT_EMULATOR_SHARE);
    g_assert_cmpuint(hpc->numa_nodes, ==, 2);
    g_assert_cmpint(hpc->memory_need, ==, KT_NEED_BEST_EFFORT);

    vdi = kt_policy_find_profile(p, "vdi");
    g_assert_cmpint(vdi->cpu_policy, ==, KT_CPU_POLICY_SHARED);
    g_assert_cmpuint(vdi->numa_nodes, ==, 0);
    g_assert_cmpuint(vdi->hugepage_kib, ==, 2048);
    g_assert_cmpstr(vdi->vgpu_type, ==, "nvidia-222");
    g_assert_cmpuint(vdi->vgpu_count, ==, 1);

    ml = kt_policy_find_profile(p, "ml-gpu");
    g_assert_cmpint(ml->threads, ==, KT_THREADS_PREFER);
    g_assert_cmpuint(ml->gpu_count, ==, 1);
    g_assert_true(ml->override);

    gen = kt_policy_find_profile(p, "general");
    g_assert_cmpint(gen->cpu_policy, ==, KT_CPU_POLICY_SHARED);
    g_assert_cmpuint(gen->hugepage_kib, ==, 0);
    g_assert_cmpuint(gen->sriov->len, ==, 0);
    g_assert_null(kt_policy_find_profile(p, "none"));

    g_assert_cmpuint(p->match->len, ==, 7);
    m = p->match->pdata[0];
    g_assert_cmpint(m->kind, ==, KT_MATCH_FLAVOR);
    g_assert_cmpstr(m->pattern, ==, "db.*");
    g_assert_cmpstr(m->profile, ==, "db-dedicated");
    m = p->match->pdata[4];
    g_assert_cmpint(m->kind, ==, KT_MATCH_EXTRA_SPEC);
    g_assert_cmpstr(m->key, ==, "kvmtune:profile");
    g_assert_cmpstr(m->pattern, ==, "*");
    g_assert_null(m->profile);
    m = p->match->pdata[5];
    g_assert_cmpint(m->kind, ==, KT_MATCH_NAME);
    g_assert_cmpstr(m->profile, ==, "general");
    m = p->match->pdata[6];
    g_assert_cmpint(m->kind, ==, KT_MATCH_DEFAULT);
    g_assert_null(m->profile);
    g_assert_cmpuint(m->line, >, ((KtPolicyMatch *)p->match->pdata[5])->line);

    /* the example leaves the gate to the socket permissions */
    g_assert_cmpuint(p->allow_uids->len, ==, 0);
    g_assert_cmpuint(p->allow_gids->len, ==, 0);
    g_assert_true(p->hooks_fail_on_daemon_down);

    g_assert_true(kt_policy_locate(p, "host.dedicated_cpus", &line, &col));
    g_assert_cmpuint(col, ==, 19);
    g_assert_true(kt_policy_locate(p, "profiles.vdi.memory.hugepages", &line, &col));
    g_assert_true(kt_policy_locate(p, "host.sriov[2].pf", &line, &col));
    g_assert_false(kt_policy_locate(p, "host.nothing", &line, &col));
}

/* The example of DESIGN.md is the contract: it must parse as written. */
static void
test_design_example(void)
{
    static const char text[] =
        "host:\n"
        "  reserved_cpus: \"0-1,112-113\"        # host OS, never given to VMs\n"
        "  dedicated_cpus: \"28-111,140-223\"     # pinned, exclusive\n"
        "  shared_cpus: \"2-27,114-139\"          # overcommit pool\n"
        "  hugepages: [{size: 1G, per_node: 900}]\n"
        "  sriov: [{pf: \"0000:41:00.0\", physnet: datacentre}]\n"
        "  gpus: [{pci: \"0000:ca:00.0\"}]\n"
        "profiles:\n"
        "  db-dedicated:\n"
        "    cpu: {policy: dedicated, threads: isolate, emulator: isolate}\n"
        "    numa: {nodes: 1}\n"
        "    memory: {hugepages: 1G}\n"
        "    sriov: [{physnet: datacentre, vlan: 100, count: 1}]\n"
        "  vdi:\n"
        "    cpu: {policy: shared}\n"
        "    memory: {hugepages: 2M}\n"
        "    vgpu: {type: nvidia-63, count: 1}\n"
        "  general: {cpu: {policy: shared}}     # NUMA-local shared placement only\n"
        "match:\n"
        "  - {flavor: \"db.*\", profile: db-dedicated}\n"
        "  - {flavor: \"vdi.*\", profile: vdi}\n"
        "  - {extra_spec: {\"kvmtune:profile\": \"*\"}}   # Nova >= 2025.2\n"
        "  - {name: \"instance-*\", profile: general}   # plain libvirt / non-Nova\n"
        "  - {default: none}\n";
    g_autoptr(KtPolicy) p = parse_ok(text);

    g_assert_cmpuint(p->profiles->len, ==, 3);
    g_assert_cmpuint(p->match->len, ==, 5);
    g_assert_cmpstr(kt_policy_find_profile(p, "vdi")->vgpu_type, ==, "nvidia-63");
    g_assert_cmpfloat(p->cpu_allocation_ratio, ==, 8.0);
}

static void
test_empty(void)
{
    const char *texts[] = { "", "# nothing\n", "---\n", "~\n", "{}\n" };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(texts); i++) {
        g_autoptr(KtPolicy) p = parse_ok(texts[i]);

        g_assert_cmpuint(p->profiles->len, ==, 0);
        g_assert_true(kt_cpuset_is_empty(p->dedicated_cpus));
        g_assert_null(kt_policy_match(p, "m1.small", "instance-1", NULL, NULL));
    }
}

static void
test_sizes(void)
{
    static const struct {
        const char *text;
        guint64 kib;
    } ok[] = {
        { "2M", 2048 }, { "1G", 1048576 }, { "2048K", 2048 }, { "2048", 2048 },
        { "2MiB", 2048 }, { "1gib", 1048576 }, { "2MB", 2048 }, { "1T", 1073741824 },
        { "4k", 4 },
    };
    static const char *const bad[] = {
        "", "M", "2X", "-2M", "2 M", "2Mi", "0", "0M", "1.5G", "99999999999999999999",
        "18014398509481984G", "2MBs",
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(ok); i++) {
        guint64 kib = 0;
        g_autoptr(GError) err = NULL;

        g_assert_true(kt_policy_parse_size(ok[i].text, &kib, &err));
        g_assert_no_error(err);
        g_assert_cmpuint(kib, ==, ok[i].kib);
    }
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        guint64 kib = 7;
        g_autoptr(GError) err = NULL;

        g_assert_false(kt_policy_parse_size(bad[i], &kib, &err));
        g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
        g_assert_cmpuint(kib, ==, 7);
    }
}

static void
test_match(void)
{
    static const char text[] =
        "host: {dedicated_cpus: \"4-7\"}\n"
        "profiles:\n"
        "  db: {cpu: {policy: dedicated}}\n"
        "  web: {cpu: {policy: shared}}\n"
        "match:\n"
        "  - {flavor: \"db.*\", profile: db}\n"
        "  - {flavor: \"tiny\", profile: none}\n"
        "  - {extra_spec: {\"kvmtune:profile\": \"*\"}}\n"
        "  - {extra_spec: {\"hw:tier\": \"gold*\"}, profile: db}\n"
        "  - {extra_spec: {\"hw:tier\": \"bronze\"}, profile: none}\n"
        "  - {name: \"web-?\", profile: web}\n"
        "  - {default: web}\n";
    g_autoptr(KtPolicy) p = parse_ok(text);
    g_autoptr(GHashTable) specs = g_hash_table_new(g_str_hash, g_str_equal);
    const KtPolicyProfile *prof = NULL;
    const KtPolicyMatch *m;

    m = kt_policy_match(p, "db.large", "x", NULL, &prof);
    g_assert_true(m == p->match->pdata[0]);
    g_assert_cmpstr(prof->name, ==, "db");

    m = kt_policy_match(p, "tiny", "x", NULL, &prof);
    g_assert_true(m == p->match->pdata[1]);
    g_assert_null(prof);

    /* the spec's value names the profile */
    g_hash_table_insert(specs, (char *)"kvmtune:profile", (char *)"web");
    m = kt_policy_match(p, "m1.small", "x", specs, &prof);
    g_assert_true(m == p->match->pdata[2]);
    g_assert_cmpstr(prof->name, ==, "web");

    /* an unknown profile name in the spec does not match: next rules apply */
    g_hash_table_insert(specs, (char *)"kvmtune:profile", (char *)"nosuch");
    g_hash_table_insert(specs, (char *)"hw:tier", (char *)"golden");
    m = kt_policy_match(p, "m1.small", "x", specs, &prof);
    g_assert_true(m == p->match->pdata[3]);
    g_assert_cmpstr(prof->name, ==, "db");

    g_hash_table_insert(specs, (char *)"kvmtune:profile", (char *)"none");
    m = kt_policy_match(p, "m1.small", "x", specs, &prof);
    g_assert_true(m == p->match->pdata[2]);
    g_assert_null(prof);

    /* "profile: none" on an extra_spec rule is none, not "the value" */
    g_hash_table_remove(specs, "kvmtune:profile");
    g_hash_table_insert(specs, (char *)"hw:tier", (char *)"bronze");
    m = kt_policy_match(p, "m1.small", "x", specs, &prof);
    g_assert_true(m == p->match->pdata[4]);
    g_assert_false(m->profile_from_value);
    g_assert_null(prof);
    g_assert_true(((KtPolicyMatch *)p->match->pdata[2])->profile_from_value);

    m = kt_policy_match(p, NULL, "web-1", NULL, &prof);
    g_assert_true(m == p->match->pdata[5]);
    m = kt_policy_match(p, NULL, "web-10", NULL, &prof);
    g_assert_true(m == p->match->pdata[6]);
    g_assert_cmpstr(prof->name, ==, "web");
}

static void
test_hash(void)
{
    g_autoptr(KtPolicy) a = parse_ok("host: {shared_cpus: \"0-3\"}\n");
    g_autoptr(KtPolicy) b = parse_ok("host: {shared_cpus: \"0-3\"}  \n");
    g_autoptr(KtPolicy) e = parse_ok("");

    g_assert_cmpstr(a->hash, !=, b->hash);
    /* sha256 of the empty string */
    g_assert_cmpstr(e->hash, ==, "sha256:e3b0c44298fc1c149afbf4c8996fb924"
                    "27ae41e4649b934ca495991b7852b855");
}

/* ---- golden error cases ---------------------------------------------------- */

static void
run_fail_case(gconstpointer data)
{
    const char *name = data;
    g_autofree char *file = g_strconcat(name, ".yaml", NULL);
    g_autofree char *in = data_path(file);
    g_autofree char *errname = g_strconcat(name, ".err", NULL);
    g_autofree char *errpath = data_path(errname);
    g_autofree char *text = NULL;
    g_autofree char *want = NULL;
    g_autofree char *got = NULL;
    gsize len = 0;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPolicy) p = NULL;

    g_assert_true(g_file_get_contents(in, &text, &len, NULL));
    /* the bare file name keeps messages independent of the checkout */
    p = kt_policy_parse(file, text, len, &err);
    g_assert_null(p);
    g_assert_nonnull(err);
    got = g_strconcat(err->message, "\n", NULL);
    if (g_getenv("KT_TEST_REGENERATE")) {
        g_assert_true(g_file_set_contents(errpath, got, -1, NULL));
        return;
    }
    g_assert_true(g_file_get_contents(errpath, &want, NULL, NULL));
    g_assert_cmpstr(got, ==, want);
}

#define DO_TEST_FAIL(name) \
    g_test_add_data_func("/policy/fail/" name, name, run_fail_case)

/* ---- hostile input ---------------------------------------------------------- */

static void
test_hostile(void)
{
    g_autoptr(GString) s = g_string_new(NULL);
    g_autofree char *msg = NULL;
    guint i;

    /* billion laughs: refused at the first alias, nothing expanded */
    g_string_assign(s, "a: &a [x, x, x, x, x, x, x, x, x]\n");
    for (i = 0; i < 9; i++)
        g_string_append_printf(s, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n",
                               'b' + i, 'b' + i, 'a' + i, 'a' + i, 'a' + i, 'a' + i,
                               'a' + i, 'a' + i, 'a' + i, 'a' + i);
    msg = parse_fail(s->str);
    g_assert_cmpstr(msg, ==, "t.yaml:2:8: YAML aliases (*a) are not supported in a policy");
    g_clear_pointer(&msg, g_free);

    /* deep nesting, flow and block */
    g_string_truncate(s, 0);
    for (i = 0; i < 10000; i++)
        g_string_append_c(s, '[');
    msg = parse_fail(s->str);
    g_assert_cmpstr(msg, ==, "t.yaml:1:17: nesting deeper than 16 levels");
    g_clear_pointer(&msg, g_free);
    g_string_truncate(s, 0);
    for (i = 0; i < 40; i++)
        g_string_append_printf(s, "%*sk%u:\n", (int)(i * 2), "", i);
    msg = parse_fail(s->str);
    g_assert_true(g_str_has_prefix(msg, "t.yaml:"));
    g_assert_nonnull(strstr(msg, "nesting deeper than 16 levels"));
    g_clear_pointer(&msg, g_free);

    /* a huge scalar */
    g_string_assign(s, "host: {shared_cpus: \"");
    for (i = 0; i < 70000; i++)
        g_string_append_c(s, '1');
    g_string_append(s, "\"}\n");
    msg = parse_fail(s->str);
    g_assert_cmpstr(msg, ==, "t.yaml:1:21: scalar of 70000 bytes, the limit is 65536");
    g_clear_pointer(&msg, g_free);

    /* a document past 1 MiB */
    g_string_truncate(s, 0);
    while (s->len <= 1024 * 1024)
        g_string_append(s, "# padding padding padding padding padding padding padding\n");
    msg = parse_fail(s->str);
    g_assert_true(g_str_has_prefix(msg, "t.yaml: policy is "));
    g_assert_nonnull(strstr(msg, "the limit is 1048576"));
    g_clear_pointer(&msg, g_free);

    /* too many profiles / rules */
    g_string_assign(s, "profiles:\n");
    for (i = 0; i < 300; i++)
        g_string_append_printf(s, "  p%u: {cpu: {policy: shared}}\n", i);
    msg = parse_fail(s->str);
    g_assert_cmpstr(msg, ==, "t.yaml:2:3: 'profiles' has 300 entries, the limit is 256");
    g_clear_pointer(&msg, g_free);
    g_string_assign(s, "match:\n");
    for (i = 0; i < 1100; i++)
        g_string_append(s, "  - {default: none}\n");
    msg = parse_fail(s->str);
    g_assert_cmpstr(msg, ==, "t.yaml:2:3: 'match' has 1100 entries, the limit is 1024");
    g_clear_pointer(&msg, g_free);

    /* many nodes */
    g_string_assign(s, "x: [");
    for (i = 0; i < 70000; i++)
        g_string_append(s, "1,");
    g_string_append(s, "]\n");
    msg = parse_fail(s->str);
    g_assert_nonnull(strstr(msg, "more than 65536 YAML nodes"));
    g_clear_pointer(&msg, g_free);

    /* error flood: capped, with a count of the rest */
    g_string_assign(s, "profiles:\n");
    for (i = 0; i < 150; i++)
        g_string_append_printf(s, "  p%u: {bogus: 1}\n", i);
    msg = parse_fail(s->str);
    g_assert_nonnull(strstr(msg, "t.yaml: 50 more errors not shown"));
    g_clear_pointer(&msg, g_free);

    /* binary junk, NUL bytes, invalid UTF-8 */
    {
        static const char junk[] = "host: {\x00\xff\xfe}";
        g_autoptr(GError) err = NULL;
        g_autoptr(KtPolicy) p = kt_policy_parse("t.yaml", junk, sizeof(junk) - 1, &err);

        g_assert_null(p);
        g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/policy/example", test_example);
    g_test_add_func("/policy/design-example", test_design_example);
    g_test_add_func("/policy/empty", test_empty);
    g_test_add_func("/policy/sizes", test_sizes);
    g_test_add_func("/policy/match", test_match);
    g_test_add_func("/policy/hash", test_hash);
    g_test_add_func("/policy/hostile", test_hostile);

    DO_TEST_FAIL("unknown-key-top");
    DO_TEST_FAIL("unknown-key-profile");
    DO_TEST_FAIL("duplicate-key");
    DO_TEST_FAIL("bad-cpulist");
    DO_TEST_FAIL("pool-overlap");
    DO_TEST_FAIL("bad-enum");
    DO_TEST_FAIL("threads-with-shared");
    DO_TEST_FAIL("bad-size");
    DO_TEST_FAIL("size-not-power-of-two");
    DO_TEST_FAIL("bad-pci");
    DO_TEST_FAIL("missing-key");
    DO_TEST_FAIL("undefined-profile");
    DO_TEST_FAIL("rule-two-kinds");
    DO_TEST_FAIL("default-with-profile");
    DO_TEST_FAIL("physnet-unknown");
    DO_TEST_FAIL("gpu-count");
    DO_TEST_FAIL("bad-ratio");
    DO_TEST_FAIL("bad-need");
    DO_TEST_FAIL("wrong-kind");
    DO_TEST_FAIL("bad-profile-name");
    DO_TEST_FAIL("syntax-error");
    DO_TEST_FAIL("alias");
    DO_TEST_FAIL("two-documents");
    DO_TEST_FAIL("bad-ids");
    DO_TEST_FAIL("dedicated-empty-pool");
    DO_TEST_FAIL("not-a-mapping");
    DO_TEST_FAIL("many-errors");

    return g_test_run();
}
