/* bench-inventory: time to load the reference host (the daemon reloads the
 * inventory on SIGHUP and on device hot-plug; target: well under 10 ms).
 *
 * Baseline, measured in the same run: opening and reading every regular file
 * of the fixture's sys/ tree once, i.e. the I/O floor.  The ratio says what
 * parsing, libpci and bookkeeping add on top of it.  Figures: a cold load
 * with the fixture's pci.ids subset, a reload (kt_inventory_reload, names
 * reused) and a cold load with the system's full pci.ids.  Prints TAP; it
 * fails only when even the fastest load or reload misses 10 ms. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inventory.h"

#define ROUNDS 100

static guint
read_tree(const char *dir, char *buf, size_t bufsize)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    guint n = 0;

    if (!d)
        return 0;
    while ((de = readdir(d))) {
        g_autofree char *path = NULL;
        struct stat st;

        if (de->d_name[0] == '.')
            continue;
        path = g_build_filename(dir, de->d_name, NULL);
        if (lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            n += read_tree(path, buf, bufsize);
        } else if (S_ISREG(st.st_mode)) {
            int fd = open(path, O_RDONLY | O_CLOEXEC);

            if (fd >= 0) {
                while (read(fd, buf, bufsize) > 0)
                    ;
                close(fd);
                n++;
            }
        }
    }
    closedir(d);
    return n;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double best_ms;   /* minimum of the last percentiles() call */

static void
percentiles(double *ms, guint n, double *p50, double *p99)
{
    qsort(ms, n, sizeof(double), cmp_double);
    best_ms = ms[0];
    *p50 = ms[n / 2];
    *p99 = ms[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
}

typedef enum {
    LOAD_COLD,      /* kt_inventory_load() */
    LOAD_RELOAD,    /* kt_inventory_reload() of a previous load */
} LoadKind;

/* p50/p99/min of ROUNDS loads of @root, in ms; FALSE after printing a not-ok. */
static gboolean
time_loads(const char *root, LoadKind kind, double *p50, double *p99, double *best)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtInventory) prev = kt_inventory_load(root, &err);
    g_autofree double *ms = g_new(double, ROUNDS);
    guint i;

    if (!prev) {
        printf("not ok - load %s: %s\n", root, err->message);
        return FALSE;
    }
    for (i = 0; i < ROUNDS; i++) {
        g_autoptr(KtInventory) inv = NULL;
        gint64 t0 = g_get_monotonic_time();

        inv = kind == LOAD_RELOAD ? kt_inventory_reload(prev, &err) :
              kt_inventory_load(root, &err);
        ms[i] = (double)(g_get_monotonic_time() - t0) / 1000.0;
        if (!inv) {
            printf("not ok - load %s: %s\n", root, err->message);
            return FALSE;
        }
    }
    percentiles(ms, ROUNDS, p50, p99);
    *best = best_ms;
    return TRUE;
}

int
main(int argc, char **argv)
{
    const char *src = g_getenv("KT_SOURCE_ROOT");
    g_autofree char *root = NULL;
    g_autofree char *sys = NULL;
    g_autofree char *tmp = NULL;
    g_autofree char *tmp_sys = NULL;
    g_autofree char *tmp_proc = NULL;
    g_autofree char *proc = NULL;
    g_autofree char *buf = g_malloc(4096);
    g_autofree double *base_ms = g_new(double, ROUNDS);
    double l50, l99, r50, r99, s50, s99, b50, b99, lmin, rmin, smin;
    guint i, nfiles = 0;
    bool ok;

    root = g_build_filename(src ? src : ".", "tests", "fixtures", "hosts", "reference", NULL);
    sys = g_build_filename(root, "sys", NULL);
    proc = g_build_filename(root, "proc", NULL);
    printf("TAP version 13\n1..3\n");

    for (i = 0; i < ROUNDS; i++) {
        gint64 t0 = g_get_monotonic_time();

        nfiles = read_tree(sys, buf, 4096);
        base_ms[i] = (double)(g_get_monotonic_time() - t0) / 1000.0;
    }
    percentiles(base_ms, ROUNDS, &b50, &b99);
    if (!time_loads(root, LOAD_COLD, &l50, &l99, &lmin) ||
        !time_loads(root, LOAD_RELOAD, &r50, &r99, &rmin))
        return 1;

    /* The same host without its pci.ids subset: libpci falls back to the
     * system's full database, as on a real host. */
    tmp = g_dir_make_tmp("kt-bench-inv-XXXXXX", NULL);
    tmp_sys = g_build_filename(tmp, "sys", NULL);
    tmp_proc = g_build_filename(tmp, "proc", NULL);
    if (!tmp || symlink(sys, tmp_sys) < 0 || symlink(proc, tmp_proc) < 0) {
        printf("not ok - cannot make a temporary root\n");
        return 1;
    }
    ok = time_loads(tmp, LOAD_COLD, &s50, &s99, &smin);
    unlink(tmp_sys);
    unlink(tmp_proc);
    rmdir(tmp);
    if (!ok)
        return 1;

    printf("# baseline: read all %u files of reference/sys once: p50 %.2f ms, p99 %.2f ms\n",
           nfiles, b50, b99);
    printf("# load reference (its pci.ids subset): p50 %.2f ms (%.2fx baseline), "
           "p99 %.2f ms, min %.2f ms\n", l50, l50 / b50, l99, lmin);
    printf("# reload reference (names reused):    p50 %.2f ms (%.2fx baseline), "
           "p99 %.2f ms, min %.2f ms\n", r50, r50 / b50, r99, rmin);
    printf("# load reference, system pci.ids:     p50 %.2f ms (%.2fx baseline), "
           "p99 %.2f ms, min %.2f ms\n", s50, s50 / b50, s99, smin);
    /* Pass/fail on the minimum: on a shared 2-core CI machine the median
     * moves with whatever else runs (the baseline shows how much). */
    printf("%s 1 - load reference: min %.2f ms < 10 ms (p50 %.2f ms)\n",
           lmin < 10.0 ? "ok" : "not ok", lmin, l50);
    printf("%s 2 - reload reference: min %.2f ms < 10 ms (p50 %.2f ms)\n",
           rmin < 10.0 ? "ok" : "not ok", rmin, r50);
    /* Informational: dominated by libpci parsing the distribution's pci.ids,
     * which the daemon pays once (kt_inventory_reload reuses names). */
    printf("ok 3 - cold load with the full pci.ids: p50 %.2f ms # informational\n", s50);
    return lmin < 10.0 && rmin < 10.0 ? 0 : 1;
}
