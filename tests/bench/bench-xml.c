/* bench-xml: time kvmtune's domain rewrite (parse + apply + format) of one
 * input with one placement.  Prints p50/p99 in microseconds; the baseline
 * (virt-xml doing the same edit) and the ratio are measured by
 * bench-xml.py in the same run.
 *
 *   bench-xml INPUT.xml PLACEMENT.xml [ITERATIONS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domain.h"

static gint64
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gint64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp_i64(const void *a, const void *b)
{
    gint64 x = *(const gint64 *)a;
    gint64 y = *(const gint64 *)b;

    return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
    g_autofree char *xml = NULL;
    g_autofree char *pltext = NULL;
    g_autoptr(KtPlacement) pl = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree gint64 *t = NULL;
    gsize len = 0;
    gsize pllen = 0;
    gsize outlen = 0;
    guint64 iters = 5000;
    guint64 i;

    if (argc < 3) {
        fprintf(stderr, "usage: bench-xml INPUT PLACEMENT [ITERATIONS]\n");
        return 2;
    }
    if (argc > 3 && !g_ascii_string_to_unsigned(argv[3], 10, 1, 10000000, &iters, NULL)) {
        fprintf(stderr, "bench-xml: bad iteration count\n");
        return 2;
    }
    if (!g_file_get_contents(argv[1], &xml, &len, &err) ||
        !g_file_get_contents(argv[2], &pltext, &pllen, &err) ||
        !(pl = kt_placement_parse_xml(pltext, pllen, &err))) {
        fprintf(stderr, "bench-xml: %s\n", err->message);
        return 1;
    }
    t = g_new(gint64, iters);
    for (i = 0; i < iters + 200; i++) {
        gint64 t0 = now_ns();
        g_autofree char *out = kt_domain_rewrite(xml, len, pl, NULL, &err);

        if (!out) {
            fprintf(stderr, "bench-xml: %s\n", err->message);
            return 1;
        }
        if (i >= 200)        /* the first 200 warm caches and the allocator */
            t[i - 200] = now_ns() - t0;
        outlen = strlen(out);
    }
    qsort(t, iters, sizeof(gint64), cmp_i64);
    printf("KT_BENCH iterations=%" G_GUINT64_FORMAT " input_bytes=%" G_GSIZE_FORMAT
           " output_bytes=%" G_GSIZE_FORMAT " p50_us=%.1f p99_us=%.1f min_us=%.1f\n",
           iters, len, outlen, t[iters / 2] / 1000.0, t[iters * 99 / 100] / 1000.0,
           t[0] / 1000.0);
    return 0;
}
