/* test-corpus: the domain XML engine on libvirt's own test XML, read in
 * place from ../shared/corpus/libvirt-xml (KT_SHARED_DIR), never copied.
 *
 *   libvirt-tests/  every file reads; a full placement (pins, emulator,
 *                   2 guest cells, 2M pages, a VF, an mdev, a GPU) applies;
 *                   applying again changes nothing; strip gives the input
 *                   back byte for byte on the same tree and canonically
 *                   after a reparse.
 *   invalid/        a clear "line:column" / "line N:" error, or the file
 *                   passes through untouched; never a crash.
 *
 * --out DIR writes every applied output there (corpus-validate.py runs
 * virt-xml-validate on them).  Prints a TAP skip plan when the corpus is
 * absent. */
#include <stdio.h>
#include <string.h>
#include <libxml/c14n.h>

#include "domain.h"
#include "placement-test.h"
#include "kt-error.h"

static KtPlacement *
corpus_placement(const KtRequest *req)
{
    KtPlacement *pl = kt_placement_new();
    guint n = req->vcpus_max;
    guint i;

    pl->profile = g_strdup("corpus");
    pl->policy_hash = g_strdup("sha256:c0");
    pl->nvcpus = n;
    if (n <= 64) {
        pl->cpu_policy = KT_CPU_POLICY_DEDICATED;
        pl->vcpu_pins = g_new0(KtCpuset *, n);
        pl->booked_cpus = kt_cpuset_new();
        for (i = 0; i < n; i++) {
            pl->vcpu_pins[i] = kt_cpuset_new();
            kt_cpuset_add(pl->vcpu_pins[i], 32 + i);
            kt_cpuset_add(pl->booked_cpus, 32 + i);
        }
    } else {
        pl->cpu_policy = KT_CPU_POLICY_SHARED;
        pl->shared_cpus = kt_cpuset_parse("2-27,114-139", NULL);
    }
    pl->emulator_cpus = kt_cpuset_parse("200", NULL);
    pl->threads_per_core = n % 2 == 0 ? 2 : 1;
    pl->memory_kib = req->memory_kib;
    if (n >= 2 && req->memory_kib >= 4096) {
        pl->nodes = kt_cpuset_parse("0-1", NULL);
        kt_test_placement_two_cells(pl, n, req->memory_kib);
    } else {
        pl->nodes = kt_cpuset_parse("0", NULL);
    }
    if (req->memory_kib && req->memory_kib % 4096 == 0) {
        pl->hugepage_kib = 2048;
        pl->npages = 1;
        pl->pages = g_new0(KtPlacementPages, 1);
        pl->pages[0].count = req->memory_kib / 2048;
    }
    {
        KtPlacementVf *vf = kt_placement_vf_new();
        KtPlacementMdev *m = g_new0(KtPlacementMdev, 1);
        KtPlacementGpu *g = g_new0(KtPlacementGpu, 1);

        vf->pf = g_strdup("0000:41:00.0");
        vf->vf = g_strdup("0000:41:0f.7");
        vf->mac = g_strdup("fa:16:3e:c0:c0:01");
        vf->vlan = 300;
        vf->trust = 1;
        g_ptr_array_add(pl->vfs, vf);
        m->parent = g_strdup("0000:ca:00.0");
        m->type = g_strdup("nvidia-63");
        m->uuid = g_strdup("c0c0c0c0-1b54-4048-85b3-a6a62d165c01");
        g_ptr_array_add(pl->mdevs, m);
        g->address = g_strdup("0000:cb:00.0");
        g_ptr_array_add(pl->gpus, g);
    }
    return pl;
}

static char *
canonical(const char *xml)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "c.xml", NULL, XML_PARSE_NONET);
    xmlChar *out = NULL;
    char *r;

    if (!doc)
        return g_strdup("<unparsable>");
    if (xmlC14NDocDumpMemory(doc, NULL, XML_C14N_1_0, NULL, 1, &out) < 0) {
        xmlFreeDoc(doc);
        return g_strdup("<c14n failed>");
    }
    r = g_strdup((const char *)out);
    xmlFree(out);
    xmlFreeDoc(doc);
    return r;
}

/* One libvirt-tests file; NULL on success, else what went wrong. */
static char *
check_good(const char *path, const char *text, gsize len, const char *outdir)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDomain) dom = kt_domain_parse(text, len, &err);
    g_autoptr(KtDomain) redo = NULL;
    g_autoptr(KtRequest) req = NULL;
    g_autoptr(KtPlacement) pl = NULL;
    g_autofree char *out = NULL;
    g_autofree char *again = NULL;
    g_autofree char *same = NULL;
    g_autofree char *after = NULL;
    g_autofree char *c_in = NULL;
    g_autofree char *c_after = NULL;

    if (!dom)
        return g_strdup_printf("parse: %s", err->message);
    {
        g_autofree char *ident = kt_domain_format(dom, NULL);

        if (strcmp(ident, text) != 0)
            return g_strdup("parse + format is not byte-identical");
    }
    req = kt_domain_read_request(dom, &err);
    if (!req)
        return g_strdup_printf("read: %s", err->message);
    pl = corpus_placement(req);
    if (!kt_domain_apply(dom, pl, NULL, &err))
        return g_strdup_printf("apply: %s", err->message);
    out = kt_domain_format(dom, NULL);
    if (outdir) {
        g_autofree char *dir = g_path_get_dirname(path);
        g_autofree char *sub = g_path_get_basename(dir);
        g_autofree char *base = g_path_get_basename(path);
        g_autofree char *flat = g_strdup_printf("%s_%s", sub, base);
        g_autofree char *dst = g_build_filename(outdir, flat, NULL);

        if (!g_file_set_contents(dst, out, -1, &err))
            return g_strdup_printf("write %s: %s", dst, err->message);
    }
    redo = kt_domain_parse(out, strlen(out), &err);
    if (!redo)
        return g_strdup_printf("reparse of output: %s", err->message);
    if (!kt_domain_apply(redo, pl, NULL, &err))
        return g_strdup_printf("second apply: %s", err->message);
    again = kt_domain_format(redo, NULL);
    if (strcmp(again, out) != 0)
        return g_strdup("apply is not idempotent");
    kt_domain_strip(dom);
    same = kt_domain_format(dom, NULL);
    if (strcmp(same, text) != 0)
        return g_strdup("strip(apply(x)) differs from x");
    kt_domain_strip(redo);
    after = kt_domain_format(redo, NULL);
    c_in = canonical(text);
    c_after = canonical(after);
    if (strcmp(c_in, c_after) != 0)
        return g_strdup("strip(parse(apply(x))) not canonically equal to x");
    return NULL;
}

/* One invalid/ file: a located error, or untouched pass-through. */
static char *
check_invalid(const char *text, gsize len, char **ret_note)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDomain) dom = kt_domain_parse(text, len, &err);
    g_autoptr(KtRequest) req = NULL;
    g_autofree char *out = NULL;

    if (!dom) {
        *ret_note = g_strdup_printf("error: %s", err->message);
        return strchr(err->message, ':') ? NULL : g_strdup("error without location");
    }
    out = kt_domain_format(dom, NULL);
    if (strcmp(out, text) != 0)
        return g_strdup("did not pass through untouched");
    req = kt_domain_read_request(dom, &err);
    if (!req) {
        *ret_note = g_strdup_printf("error: %s", err->message);
        return g_str_has_prefix(err->message, "line ") ? NULL
               : g_strdup("error without location");
    }
    *ret_note = g_strdup("passes through untouched");
    return NULL;
}

static void
list_xml(const char *dir, GPtrArray *files)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);

        if (g_file_test(p, G_FILE_TEST_IS_DIR))
            list_xml(p, files);
        else if (g_str_has_suffix(name, ".xml"))
            g_ptr_array_add(files, g_steal_pointer(&p));
    }
}

static gint
cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
main(int argc, char **argv)
{
    const char *shared = g_getenv("KT_SHARED_DIR");
    const char *outdir = NULL;
    g_autofree char *root = NULL;
    g_autofree char *good = NULL;
    g_autofree char *bad = NULL;
    g_autoptr(GPtrArray) gfiles = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) bfiles = g_ptr_array_new_with_free_func(g_free);
    guint failed = 0;
    guint n = 0;
    guint i;

    if (argc == 3 && strcmp(argv[1], "--out") == 0)
        outdir = argv[2];
    root = g_build_filename(shared ? shared : "../shared", "corpus", "libvirt-xml", NULL);
    good = g_build_filename(root, "libvirt-tests", NULL);
    bad = g_build_filename(root, "invalid", NULL);
    if (!g_file_test(good, G_FILE_TEST_IS_DIR)) {
        /* a TAP skip plan with status 0: meson 1.0 reports exit 77 of a
         * TAP test as an error, the plan as SKIP */
        printf("1..0 # SKIP corpus %s absent (set KT_SHARED_DIR)\n", good);
        return 0;
    }
    list_xml(good, gfiles);
    list_xml(bad, bfiles);
    g_ptr_array_sort(gfiles, cmp_str);
    g_ptr_array_sort(bfiles, cmp_str);
    printf("1..%u\n", gfiles->len + bfiles->len);
    for (i = 0; i < gfiles->len + bfiles->len; i++) {
        bool is_good = i < gfiles->len;
        const char *path = is_good ? g_ptr_array_index(gfiles, i)
                                   : g_ptr_array_index(bfiles, i - gfiles->len);
        g_autofree char *text = NULL;
        g_autofree char *why = NULL;
        g_autofree char *note = NULL;
        gsize len = 0;

        n++;
        if (!g_file_get_contents(path, &text, &len, NULL)) {
            why = g_strdup("unreadable");
        } else if (is_good) {
            why = check_good(path, text, len, outdir);
        } else {
            why = check_invalid(text, len, &note);
        }
        if (why) {
            failed++;
            printf("not ok %u - %s: %s\n", n, path + strlen(root) + 1, why);
        } else {
            printf("ok %u - %s%s%s\n", n, path + strlen(root) + 1,
                   note ? " # " : "", note ? note : "");
        }
    }
    return failed ? 1 : 0;
}
