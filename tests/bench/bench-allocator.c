/* bench-allocator: decision cost with a full host.  On the reference
 * fixture, 2,240 one-vCPU shared domains are defined through the engine
 * (the DESIGN.md density: 2,240 general VMs), then we time
 *   - kt_allocator_place for a dedicated (isolate, 1G pages, VF) and a
 *     shared flavor: p50/p99 per placement, against the same on an empty
 *     host (baseline in the same run: the ledger's running totals should
 *     make the cost independent of the number of bookings);
 *   - kt_engine_rewrite (parse, read, match, place, apply, format) of a
 *     Nova XML, against parse + format of the same XML (the XML floor).
 * Prints TAP; fails only when a placement at 2,240 bookings costs more
 * than 3x the empty host's. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "domain.h"
#include "engine.h"
#include "ledger.h"

#define BOOKED 2240
#define ROUNDS 2000

static const char policy_text[] =
    "host:\n"
    "  reserved_cpus: \"0-1,112-113\"\n"
    "  dedicated_cpus: \"84-111,196-223\"\n"
    "  shared_cpus: \"2-83,114-195\"\n"
    "  cpu_allocation_ratio: 16.0\n"
    "  hugepages: [{size: 1G, per_node: 900}]\n"
    "  sriov: [{pf: \"0000:17:00.0\", physnet: datacentre}, {pf: \"0000:98:00.0\", physnet: datacentre}]\n"
    "profiles:\n"
    "  db:\n"
    "    cpu: {policy: dedicated, threads: isolate, emulator: isolate}\n"
    "    numa: {nodes: 1}\n"
    "    memory: {hugepages: 1G}\n"
    "    sriov: [{physnet: datacentre, count: 1}]\n"
    "  general: {cpu: {policy: shared}}\n"
    "match:\n"
    "  - {flavor: \"db.*\", profile: db}\n"
    "  - {name: \"instance-*\", profile: general}\n";

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static char *
src_file(const char *rel)
{
    const char *root = g_getenv("KT_SOURCE_ROOT");
    g_autofree char *p = g_build_filename(root ? root : ".", rel, NULL);
    char *text = NULL;

    if (!g_file_get_contents(p, &text, NULL, NULL))
        return NULL;
    return text;
}

static char *
subst(const char *s, const char *from, const char *to)
{
    g_auto(GStrv) parts = g_strsplit(s, from, -1);

    return g_strjoinv(to, parts);
}

/* p50/p99 in µs of @rounds calls of kt_allocator_place. */
static void
time_place(const KtInventory *inv, const KtPolicy *pol, const KtLedger *l,
           const KtRequest *req, double *p50, double *p99)
{
    const KtPolicyProfile *prof = NULL;
    g_autofree double *t = g_new(double, ROUNDS);
    guint i;

    kt_allocator_match(pol, req, &prof, NULL);
    for (i = 0; i < ROUNDS; i++) {
        gint64 t0 = g_get_monotonic_time();
        g_autoptr(KtPlacement) pl = kt_allocator_place(inv, pol, l, req, prof, NULL, NULL);

        t[i] = (double)(g_get_monotonic_time() - t0);
        g_assert_nonnull(pl);
    }
    qsort(t, ROUNDS, sizeof(double), cmp_double);
    *p50 = t[ROUNDS / 2];
    *p99 = t[ROUNDS * 99 / 100];
}

int
main(void)
{
    g_autofree char *sysroot = NULL;
    g_autofree char *db_xml = src_file("tests/golden/engine-db-dedicated-ref/input.xml");
    g_autofree char *gen_xml = src_file("tests/golden/engine-general-shared-ref/input.xml");
    g_autoptr(KtInventory) inv = NULL;
    g_autoptr(KtPolicy) pol = NULL;
    g_autoptr(KtEngine) engine = NULL;
    g_autoptr(KtLedger) empty = kt_ledger_new();
    g_autoptr(KtRequest) db = NULL;
    g_autoptr(KtRequest) gen = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *small = NULL;
    g_autofree double *t = g_new(double, ROUNDS);
    g_autofree double *f = g_new(double, ROUNDS);
    double e50, e99, b50, b99, s50, s99, se50, se99;
    const char *root = g_getenv("KT_SOURCE_ROOT");
    gint64 t0;
    double fill_s;
    bool ok;
    guint i;

    sysroot = g_build_filename(root ? root : ".", "tests/fixtures/hosts/reference", NULL);
    if (!db_xml || !gen_xml || !g_file_test(sysroot, G_FILE_TEST_IS_DIR)) {
        printf("1..0 # SKIP fixture or golden inputs absent\n");
        return 77;
    }
    inv = kt_inventory_load(sysroot, &err);
    g_assert_no_error(err);
    pol = kt_policy_parse("bench-policy.yaml", policy_text, strlen(policy_text), &err);
    g_assert_no_error(err);
    engine = kt_engine_new(inv, pol);

    /* 2,240 one-vCPU general VMs, defined through the engine. */
    small = subst(gen_xml, "<vcpu>2</vcpu>", "<vcpu>1</vcpu>");
    {
        g_autofree char *tmp = subst(small, "<memory>4194304</memory>", "<memory>65536</memory>");

        g_free(small);
        small = g_steal_pointer(&tmp);
    }
    t0 = g_get_monotonic_time();
    for (i = 0; i < BOOKED; i++) {
        g_autofree char *uuid = g_strdup_printf("6f1e2d3c-4b5a-4978-8a1b-%012x", 0x10000 + i);
        g_autofree char *x = subst(small, "6f1e2d3c-4b5a-4978-8a1b-000000000004", uuid);
        g_autofree char *out = NULL;
        g_autofree char *u = NULL;
        KtVerdict v;
        gsize len;

        if (!kt_engine_rewrite(engine, x, strlen(x), &v, &out, &len, &u, &err))
            g_error("define %u: %s", i, err->message);
        g_assert_cmpint(v, ==, KT_VERDICT_REWRITE);
        kt_engine_commit(engine, u);
    }
    fill_s = (g_get_monotonic_time() - t0) / 1e6;
    g_assert_cmpuint(kt_ledger_size(kt_engine_ledger(engine)), ==, BOOKED);

    {
        g_autoptr(KtDomain) d1 = kt_domain_parse(db_xml, strlen(db_xml), &err);
        g_autoptr(KtDomain) d2 = kt_domain_parse(small, strlen(small), &err);

        db = kt_domain_read_request(d1, &err);
        gen = kt_domain_read_request(d2, &err);
        g_assert_no_error(err);
    }
    time_place(inv, pol, empty, db, &e50, &e99);
    time_place(inv, pol, kt_engine_ledger(engine), db, &b50, &b99);
    time_place(inv, pol, empty, gen, &se50, &se99);
    time_place(inv, pol, kt_engine_ledger(engine), gen, &s50, &s99);

    /* Engine rewrite at 2,240 bookings vs the XML floor (parse + format). */
    for (i = 0; i < ROUNDS; i++) {
        g_autofree char *out = NULL;
        g_autofree char *u = NULL;
        g_autofree char *fmt = NULL;
        KtVerdict v;
        gsize len;
        gint64 a = g_get_monotonic_time();
        g_autoptr(KtDomain) d = NULL;

        g_assert_true(kt_engine_rewrite(engine, db_xml, strlen(db_xml), &v, &out, &len, &u, NULL));
        t[i] = (double)(g_get_monotonic_time() - a);
        kt_engine_abort(engine, u);
        a = g_get_monotonic_time();
        d = kt_domain_parse(db_xml, strlen(db_xml), NULL);
        fmt = kt_domain_format(d, NULL);
        f[i] = (double)(g_get_monotonic_time() - a);
    }
    qsort(t, ROUNDS, sizeof(double), cmp_double);
    qsort(f, ROUNDS, sizeof(double), cmp_double);

    ok = b50 <= 3 * MAX(e50, 1.0);
    printf("1..1\n");
    printf("# %u shared domains defined through the engine in %.3f s (%.1f us each)\n",
           BOOKED, fill_s, fill_s * 1e6 / BOOKED);
    printf("# allocator, db (8 vCPUs isolate, 1G pages, VF): p50 %.1f us p99 %.1f us at %u booked;"
           " empty host p50 %.1f us p99 %.1f us; ratio %.2fx\n",
           b50, b99, BOOKED, e50, e99, b50 / MAX(e50, 1.0));
    printf("# allocator, shared 1 vCPU: p50 %.1f us p99 %.1f us at %u booked;"
           " empty host p50 %.1f us p99 %.1f us; ratio %.2fx\n",
           s50, s99, BOOKED, se50, se99, s50 / MAX(se50, 1.0));
    printf("# engine rewrite of a Nova XML at %u booked: p50 %.1f us p99 %.1f us;"
           " parse+format floor p50 %.1f us; ratio %.2fx\n",
           BOOKED, t[ROUNDS / 2], t[ROUNDS * 99 / 100], f[ROUNDS / 2],
           t[ROUNDS / 2] / MAX(f[ROUNDS / 2], 1.0));
    printf("%s 1 - placement at %u bookings within 3x of the empty host\n",
           ok ? "ok" : "not ok", BOOKED);
    return ok ? 0 : 1;
}
