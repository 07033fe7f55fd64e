/* test-domain-props: property tests of the domain XML engine over every
 * golden input (tests/golden/<case>/input.xml) and random placements from
 * a fixed seed (KT_TEST_SEED overrides it):
 *
 *   - apply's output parses, and applying again (after a reparse) changes
 *     nothing;
 *   - the metadata read back is the placement applied (kt_placement_equal);
 *   - applying a second placement over the first and stripping gives,
 *     canonically, the same as stripping the first: nothing of the first
 *     survives;
 *   - for inputs kvmtune never touched and placements without override,
 *     strip(apply(x)) is x, byte for byte on the same tree and canonically
 *     after a reparse. */
#include <string.h>
#include <libxml/c14n.h>
#include <libxml/parser.h>

#include "domain.h"
#include "placement-test.h"

#define ROUNDS 6

static KtPlacement *
random_placement(GRand *r, const KtRequest *req)
{
    KtPlacement *pl = kt_placement_new();
    guint n = req->vcpus_max;
    guint i;

    pl->profile = g_strdup_printf("p%u", g_rand_int_range(r, 0, 100));
    pl->policy_hash = g_strdup("sha256:77");
    pl->override = g_rand_int_range(r, 0, 4) == 0;
    pl->cpu_policy = g_rand_int_range(r, 0, KT_CPU_POLICY_LAST);
    pl->nvcpus = n;
    if (pl->cpu_policy == KT_CPU_POLICY_DEDICATED) {
        guint base = g_rand_int_range(r, 0, 100);

        pl->vcpu_pins = g_new0(KtCpuset *, n);
        pl->booked_cpus = kt_cpuset_new();
        for (i = 0; i < n; i++) {
            pl->vcpu_pins[i] = kt_cpuset_new();
            kt_cpuset_add(pl->vcpu_pins[i], (base + i) % 4000);
            kt_cpuset_add(pl->booked_cpus, (base + i) % 4000);
        }
    } else if (pl->cpu_policy == KT_CPU_POLICY_SHARED) {
        pl->shared_cpus = kt_cpuset_parse(g_rand_boolean(r) ? "2-27,114-139" : "140-165", NULL);
    }
    if (g_rand_boolean(r))
        pl->emulator_cpus = kt_cpuset_parse(g_rand_boolean(r) ? "1" : "0,112", NULL);
    if (g_rand_boolean(r))
        pl->nodes = kt_cpuset_parse(g_rand_boolean(r) ? "0" : "0-1", NULL);
    pl->threads_per_core = g_rand_int_range(r, 0, 3);
    pl->memory_kib = req->memory_kib;
    if (n >= 2 && req->memory_kib >= 2 && g_rand_boolean(r)) {
        kt_test_placement_two_cells(pl, n, req->memory_kib);
    }
    switch (g_rand_int_range(r, 0, 3)) {
    case 1:
        pl->hugepage_kib = 2048;
        break;
    case 2:
        pl->hugepage_kib = 1048576;
        break;
    default:
        break;
    }
    if (pl->hugepage_kib) {
        pl->npages = 1;
        pl->pages = g_new0(KtPlacementPages, 1);
        pl->pages[0].count = req->memory_kib / pl->hugepage_kib;
    }
    for (i = 0; i < (guint)g_rand_int_range(r, 0, 3); i++) {
        KtPlacementVf *vf = kt_placement_vf_new();

        vf->pf = g_strdup("0000:81:00.0");
        vf->vf = g_strdup_printf("0000:81:0%u.%u", g_rand_int_range(r, 0, 10), i);
        if (g_rand_boolean(r))
            vf->mac = g_strdup_printf("fa:16:3e:00:00:%02x", i);
        vf->vlan = g_rand_boolean(r) ? g_rand_int_range(r, 0, 4095) : -1;
        vf->trust = g_rand_int_range(r, -1, 2);
        vf->spoofchk = g_rand_int_range(r, -1, 2);
        g_ptr_array_add(pl->vfs, vf);
    }
    if (g_rand_boolean(r)) {
        KtPlacementMdev *m = g_new0(KtPlacementMdev, 1);

        m->parent = g_strdup("0000:ca:00.0");
        m->type = g_strdup("nvidia-63");
        m->uuid = g_strdup_printf("0badc0de-0000-4000-8000-%012x", g_rand_int(r));
        g_ptr_array_add(pl->mdevs, m);
    }
    if (g_rand_boolean(r)) {
        KtPlacementGpu *g = g_new0(KtPlacementGpu, 1);

        g->address = g_strdup("0000:cb:00.0");
        g_ptr_array_add(pl->gpus, g);
    }
    return pl;
}

static char *
strip_text(const char *xml)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDomain) dom = kt_domain_parse(xml, strlen(xml), &err);

    g_assert_no_error(err);
    kt_domain_strip(dom);
    return kt_domain_format(dom, NULL);
}

static void
check_input(gconstpointer data)
{
    const char *path = data;
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDomain) probe = NULL;
    g_autoptr(KtRequest) req = NULL;
    g_autoptr(GRand) r = NULL;
    const char *seed = g_getenv("KT_TEST_SEED");
    bool untouched;
    gsize len = 0;
    guint round;

    g_assert_true(g_file_get_contents(path, &text, &len, NULL));
    probe = kt_domain_parse(text, len, &err);
    g_assert_no_error(err);
    req = kt_domain_read_request(probe, &err);
    g_assert_no_error(err);
    untouched = !strstr(text, "kvmtune.org/xmlns") && !strstr(text, "ua-kvmtune-");
    r = g_rand_new_with_seed(seed ? (guint32)g_ascii_strtoull(seed, NULL, 10)
                                  : g_str_hash(path) ^ 0x4b54);

    for (round = 0; round < ROUNDS; round++) {
        g_autoptr(KtPlacement) p1 = random_placement(r, req);
        g_autoptr(KtPlacement) p2 = random_placement(r, req);
        g_autoptr(KtDomain) dom = kt_domain_parse(text, len, &err);
        g_autoptr(KtDomain) re = NULL;
        g_autoptr(KtDomain) two = NULL;
        g_autoptr(KtRequest) back = NULL;
        g_autofree char *out = NULL;
        g_autofree char *again = NULL;
        g_autofree char *out2 = NULL;
        g_autofree char *s1 = NULL;
        g_autofree char *s2 = NULL;

        g_assert_no_error(err);
        g_assert_true(kt_domain_apply(dom, p1, NULL, &err));
        g_assert_no_error(err);
        out = kt_domain_format(dom, NULL);

        re = kt_domain_parse(out, strlen(out), &err);
        g_assert_no_error(err);
        back = kt_domain_read_request(re, &err);
        g_assert_no_error(err);
        g_assert_nonnull(back->placement);
        g_assert_true(kt_placement_equal(back->placement, p1));
        g_assert_true(kt_domain_apply(re, p1, NULL, &err));
        again = kt_domain_format(re, NULL);
        g_assert_cmpstr(again, ==, out);

        /* a second placement replaces the first completely */
        two = kt_domain_parse(out, strlen(out), &err);
        g_assert_true(kt_domain_apply(two, p2, NULL, &err));
        g_assert_no_error(err);
        out2 = kt_domain_format(two, NULL);
        if (!p1->override && !p2->override) {
            g_autofree char *c1 = NULL;
            g_autofree char *c2 = NULL;

            s1 = strip_text(out);
            s2 = strip_text(out2);
            c1 = kt_test_canonical(s1);
            c2 = kt_test_canonical(s2);
            g_assert_cmpstr(c2, ==, c1);
        }

        if (untouched && !p1->override) {
            g_autofree char *same = NULL;
            g_autofree char *c_in = kt_test_canonical(text);
            g_autofree char *c_st = NULL;

            kt_domain_strip(dom);
            same = kt_domain_format(dom, NULL);
            g_assert_cmpstr(same, ==, text);
            c_st = kt_test_canonical(s1 ? s1 : (s1 = strip_text(out)));
            g_assert_cmpstr(c_st, ==, c_in);
        }
    }
}

static gint
cmp_path(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
main(int argc, char **argv)
{
    const char *top = g_getenv("KT_SOURCE_ROOT");
    g_autofree char *dir = NULL;
    g_autoptr(GDir) d = NULL;
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    guint i;

    g_test_init(&argc, &argv, NULL);
    if (!top) {
        g_print("1..0 # SKIP KT_SOURCE_ROOT not set (run under meson test)\n");
        return 0;
    }
    dir = g_build_filename(top, "tests", "golden", NULL);
    d = g_dir_open(dir, 0, NULL);
    g_assert_nonnull(d);
    while ((name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, "input.xml", NULL);

        if (!g_str_has_suffix(name, "_FAIL") && g_file_test(p, G_FILE_TEST_EXISTS))
            g_ptr_array_add(paths, g_steal_pointer(&p));
    }
    g_ptr_array_sort(paths, cmp_path);
    for (i = 0; i < paths->len; i++) {
        const char *p = g_ptr_array_index(paths, i);
        g_autofree char *parent = g_path_get_dirname(p);
        g_autofree char *base = g_path_get_basename(parent);
        g_autofree char *tname = g_strdup_printf("/domain-props/%s", base);

        g_test_add_data_func(tname, p, check_input);
    }
    return g_test_run();
}
