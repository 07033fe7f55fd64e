/* bench-inventory: time to load the reference host (the daemon reloads the
 * inventory on SIGHUP and on device hot-plug; target: well under 10 ms).
 *
 * Baseline, measured in the same run: opening and reading every regular file
 * of the fixture's sys/ tree once, i.e. the I/O floor.  The ratio says what
 * parsing, libpci and bookkeeping add on top of it.  Prints TAP; the test
 * fails only when the p50 misses the 10 ms target. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inventory.h"

#define ROUNDS 200

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

static void
percentiles(double *ms, guint n, double *p50, double *p99)
{
    qsort(ms, n, sizeof(double), cmp_double);
    *p50 = ms[n / 2];
    *p99 = ms[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
}

int
main(int argc, char **argv)
{
    const char *src = g_getenv("KT_SOURCE_ROOT");
    g_autofree char *root = NULL;
    g_autofree char *sys = NULL;
    double load_ms[ROUNDS], base_ms[ROUNDS];
    double l50, l99, b50, b99;
    guint i, nfiles = 0;
    g_autofree char *buf = g_malloc(4096);

    root = g_build_filename(src ? src : ".", "tests", "fixtures", "hosts", "reference", NULL);
    sys = g_build_filename(root, "sys", NULL);
    printf("TAP version 13\n1..1\n");
    for (i = 0; i < ROUNDS; i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(KtInventory) inv = NULL;
        gint64 t0, t1, t2;

        t0 = g_get_monotonic_time();
        inv = kt_inventory_load(root, &err);
        t1 = g_get_monotonic_time();
        nfiles = read_tree(sys, buf, 4096);
        t2 = g_get_monotonic_time();
        if (!inv) {
            printf("not ok 1 - load reference: %s\n", err->message);
            return 1;
        }
        load_ms[i] = (double)(t1 - t0) / 1000.0;
        base_ms[i] = (double)(t2 - t1) / 1000.0;
    }
    percentiles(load_ms, ROUNDS, &l50, &l99);
    percentiles(base_ms, ROUNDS, &b50, &b99);
    printf("# inventory load (reference, %d rounds): p50 %.2f ms, p99 %.2f ms\n",
           ROUNDS, l50, l99);
    printf("# baseline: read all %u files of its sys/ once: p50 %.2f ms, p99 %.2f ms\n",
           nfiles, b50, b99);
    printf("# ratio load/baseline: p50 %.2fx, p99 %.2fx; target p50 < 10 ms\n",
           l50 / b50, l99 / b99);
    printf("%s 1 - reference loads in %.2f ms (p50)\n", l50 < 10.0 ? "ok" : "not ok", l50);
    return l50 < 10.0 ? 0 : 1;
}
