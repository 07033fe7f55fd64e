/* fuzz-sysfs: the sysfs/procfs text parsers of the inventory
 * (nova-helper/inventory-parse.h) on any bytes.  Each parser must either
 * succeed or set a GError, never both or neither, and what it returns must
 * be consistent (sizes bounded, free <= total, sets re-parse to themselves). */
#include <stdint.h>
#include <string.h>

#include "inventory-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static void
check_set(KtCpuset *set, GError *err)
{
    CHECK((set != NULL) != (err != NULL));
    if (set) {
        g_autofree char *out = kt_cpuset_format(set);
        g_autoptr(KtCpuset) again = kt_sysfs_parse_cpulist(out, NULL);

        CHECK(again && kt_cpuset_equal(set, again));
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = NULL;
    guint64 u = 0, total = 0, free_kib = 0;
    gint64 s = 0;

    /* The inventory never reads more than this from one file. */
    if (size > KT_SYSFS_MAX_FILE)
        return 0;
    text = g_strndup((const char *)data, size);

    {
        g_autoptr(GError) err = NULL;
        gboolean ok = kt_sysfs_parse_uint(text, 65535, &u, &err);

        CHECK(ok == (err == NULL));
        CHECK(!ok || u <= 65535);
    }
    {
        g_autoptr(GError) err = NULL;
        gboolean ok = kt_sysfs_parse_int(text, -1, 1024, &s, &err);

        CHECK(ok == (err == NULL));
        CHECK(!ok || (s >= -1 && s <= 1024));
    }
    {
        g_autoptr(GError) err = NULL;
        g_autoptr(KtCpuset) set = kt_sysfs_parse_cpulist(text, &err);

        check_set(set, err);
    }
    {
        g_autoptr(GError) err = NULL;
        gboolean ok = kt_sysfs_parse_meminfo(text, &total, &free_kib, &err);

        CHECK(ok == (err == NULL));
        CHECK(!ok || free_kib <= total);
    }
    {
        g_autoptr(GError) err = NULL;
        g_autofree guint *dist = NULL;
        guint n = 0;
        gboolean ok = kt_sysfs_parse_distances(text, &dist, &n, &err);

        CHECK(ok == (err == NULL));
        CHECK(!ok || (n >= 1 && n <= 1024 && dist));
    }
    {
        static const char *const keys[] = { "isolcpus", "nohz_full" };
        gsize i;

        for (i = 0; i < G_N_ELEMENTS(keys); i++) {
            g_autoptr(GError) err = NULL;
            g_autoptr(KtCpuset) set = NULL;
            gboolean ok = kt_sysfs_parse_cmdline_cpus(text, keys[i], &set, &err);

            CHECK(ok == (err == NULL));
            CHECK(ok || set == NULL);
        }
    }
    if (kt_sysfs_parse_hugepage_dir(text, &u))
        CHECK(u >= 4 && g_str_has_prefix(text, "hugepages-"));
    if (kt_sysfs_pci_address_valid(text))
        CHECK(strlen(text) == 12 && !strchr(text, '/'));
    if (kt_sysfs_name_valid(text))
        CHECK(!strchr(text, '/') && strcmp(text, "..") != 0);
    return 0;
}
