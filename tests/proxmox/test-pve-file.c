/* test-pve-file: bounded reads, atomic replacement and locks of the
 * Proxmox edge, in a temp directory. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kt-error.h"
#include "pve-file.h"

static char *
temp_dir(void)
{
    char *dir = g_dir_make_tmp("kt-pve-file-XXXXXX", NULL);

    g_assert_nonnull(dir);
    return dir;
}

static void
remove_tree(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);

        g_remove(p);
    }
    g_rmdir(dir);
}

static guint
count_entries(const char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    guint n = 0;

    while (d && g_dir_read_name(d))
        n++;
    return n;
}

static void
test_write_atomic(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *path = g_build_filename(dir, "100.conf", NULL);
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;
    struct stat st;
    gsize len = 0;

    /* New file: the given mode. */
    g_assert_true(kt_pve_file_write_atomic(path, "cores: 1\n", 9, 0640, &err));
    g_assert_no_error(err);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0640);

    /* Existing file: replaced, its mode kept, no temp file left. */
    g_assert_cmpint(chmod(path, 0600), ==, 0);
    g_assert_true(kt_pve_file_write_atomic(path, "cores: 2\n", 9, 0644, &err));
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0600);
    g_assert_true(kt_pve_file_read(path, 100, &data, &len, &err));
    g_assert_cmpstr(data, ==, "cores: 2\n");
    g_assert_cmpuint(count_entries(dir), ==, 1);

    /* A temp file left by a crashed run with our pid is replaced. */
    {
        g_autofree char *stale = g_strdup_printf("%s.tmp.%ld", path, (long)getpid());

        g_assert_true(g_file_set_contents(stale, "junk", -1, NULL));
        g_assert_true(kt_pve_file_write_atomic(path, "cores: 3\n", 9, 0644, NULL));
        g_assert_cmpuint(count_entries(dir), ==, 1);
    }
    remove_tree(dir);
}

static void
test_write_fails_cleanly(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *path = g_build_filename(dir, "missing", "100.conf", NULL);
    g_autofree char *target = g_build_filename(dir, "dir-in-the-way", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) err2 = NULL;

    g_assert_false(kt_pve_file_write_atomic(path, "x", 1, 0644, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_NOT_FOUND);

    /* rename() onto a directory fails: the temp file must not stay. */
    g_assert_cmpint(g_mkdir(target, 0755), ==, 0);
    g_assert_false(kt_pve_file_write_atomic(target, "x", 1, 0644, &err2));
    g_assert_error(err2, KT_ERROR, KT_ERROR_IO);
    g_assert_cmpuint(count_entries(dir), ==, 1);
    g_rmdir(target);
    remove_tree(dir);
}

static void
test_read_bounds(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *path = g_build_filename(dir, "big", NULL);
    g_autofree char *missing = g_build_filename(dir, "nope", NULL);
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) err2 = NULL;
    gsize len = 0;

    g_assert_true(g_file_set_contents(path, "0123456789", -1, NULL));
    g_assert_true(kt_pve_file_read(path, 10, &data, &len, NULL));
    g_assert_cmpuint(len, ==, 10);
    g_assert_false(kt_pve_file_read(path, 9, &data, &len, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_TOO_LARGE);
    g_assert_false(kt_pve_file_read(missing, 9, &data, &len, &err2));
    g_assert_error(err2, KT_ERROR, KT_ERROR_NOT_FOUND);
    g_assert_true(kt_pve_file_remove(missing, NULL));
    remove_tree(dir);
}

static void
test_lock_timeout(void)
{
    g_autofree char *dir = temp_dir();
    g_autofree char *path = g_build_filename(dir, ".lock", NULL);
    g_autoptr(GError) err = NULL;
    gint64 start;
    int held, second, third;

    held = kt_pve_file_lock(path, 1, NULL);
    g_assert_cmpint(held, >=, 0);
    /* flock() locks belong to the open file: a second open in the same
     * process conflicts, as another process would. */
    start = g_get_monotonic_time();
    second = kt_pve_file_lock(path, 1, &err);
    g_assert_cmpint(second, ==, -1);
    g_assert_error(err, KT_ERROR, KT_ERROR_IO);
    g_assert_nonnull(strstr(err->message, "timed out"));
    g_assert_cmpint(g_get_monotonic_time() - start, >=, G_USEC_PER_SEC / 2);
    close(held);
    third = kt_pve_file_lock(path, 1, NULL);
    g_assert_cmpint(third, >=, 0);
    close(third);
    remove_tree(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pve-file/write-atomic", test_write_atomic);
    g_test_add_func("/pve-file/write-fails-cleanly", test_write_fails_cleanly);
    g_test_add_func("/pve-file/read-bounds", test_read_bounds);
    g_test_add_func("/pve-file/lock-timeout", test_lock_timeout);
    return g_test_run();
}
