/* pve-book.c: the state directory of Proxmox bookings. */
#include "pve-book.h"
#include "domain.h"
#include "kt-error.h"
#include "pve-file.h"
#include "pve-vm.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static char *
book_path(const char *dir, guint vmid)
{
    g_autofree char *name = g_strdup_printf("%u.xml", vmid);

    return g_build_filename(dir, name, NULL);
}

int
kt_pve_book_lock(const char *dir, GError **error)
{
    g_autofree char *path = g_build_filename(dir, ".lock", NULL);

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot create %s: %s",
                    dir, g_strerror(errno));
        return -1;
    }
    /* Placement takes milliseconds; 30 s only guards against a hung peer. */
    return kt_pve_file_lock(path, 30, error);
}

static KtPlacement *
load_file(const char *path, GError **error)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    KtPlacement *pl;
    gsize len = 0;

    if (!kt_pve_file_read(path, KT_PVE_BOOK_MAX, &text, &len, error))
        return NULL;
    pl = kt_placement_parse_xml(text, len, &err);
    if (!pl) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "booking %s: %s", path, err->message);
        return NULL;
    }
    return pl;
}

/* "<vmid>.xml" -> vmid, 0 for any other name (temp files, .lock). */
static guint
vmid_of(const char *name)
{
    g_autofree char *num = NULL;
    guint64 vmid;

    if (!g_str_has_suffix(name, ".xml"))
        return 0;
    num = g_strndup(name, strlen(name) - strlen(".xml"));
    if (!g_ascii_string_to_unsigned(num, 10, 1, KT_PVE_MAX_VMID, &vmid, NULL))
        return 0;
    return (guint)vmid;
}

GHashTable *
kt_pve_book_load_all(const char *dir, GError **error)
{
    g_autoptr(GHashTable) all =
        g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                              (GDestroyNotify)kt_placement_free);
    g_autoptr(GDir) d = NULL;
    g_autoptr(GError) err = NULL;
    const char *name;

    d = g_dir_open(dir, 0, &err);
    if (!d) {
        if (g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return g_steal_pointer(&all);
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "%s", err->message);
        return NULL;
    }
    while ((name = g_dir_read_name(d))) {
        guint vmid = vmid_of(name);
        g_autofree char *path = NULL;
        KtPlacement *pl;

        if (vmid == 0)
            continue;
        if (g_hash_table_size(all) >= KT_PVE_BOOK_MAX_VMS) {
            g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                        "%s: more than %d bookings", dir, KT_PVE_BOOK_MAX_VMS);
            return NULL;
        }
        path = g_build_filename(dir, name, NULL);
        if (!(pl = load_file(path, error)))
            return NULL;
        g_hash_table_insert(all, GUINT_TO_POINTER(vmid), pl);
    }
    return g_steal_pointer(&all);
}

KtPlacement *
kt_pve_book_load(const char *dir, guint vmid, GError **error)
{
    g_autofree char *path = book_path(dir, vmid);

    return load_file(path, error);
}

gboolean
kt_pve_book_save(const char *dir, guint vmid, const KtPlacement *pl, GError **error)
{
    g_autofree char *path = book_path(dir, vmid);
    g_autofree char *xml = kt_placement_format_xml(pl);
    g_autofree char *text = g_strconcat(xml, "\n", NULL);

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot create %s: %s",
                    dir, g_strerror(errno));
        return FALSE;
    }
    return kt_pve_file_write_atomic(path, text, strlen(text), 0644, error);
}

gboolean
kt_pve_book_remove(const char *dir, guint vmid, GError **error)
{
    g_autofree char *path = book_path(dir, vmid);

    return kt_pve_file_remove(path, error);
}

static gint
cmp_uint(gconstpointer a, gconstpointer b)
{
    guint x = GPOINTER_TO_UINT(*(gconstpointer const *)a);
    guint y = GPOINTER_TO_UINT(*(gconstpointer const *)b);

    return (x > y) - (x < y);
}

KtLedger *
kt_pve_book_ledger(GHashTable *bookings, GError **error)
{
    g_autoptr(KtLedger) ledger = kt_ledger_new();
    g_autoptr(GPtrArray) vmids = g_ptr_array_new();
    GHashTableIter it;
    gpointer key;
    guint i;

    g_hash_table_iter_init(&it, bookings);
    while (g_hash_table_iter_next(&it, &key, NULL))
        g_ptr_array_add(vmids, key);

    /* Sorted, so a double booking is always reported against the same VM. */
    g_ptr_array_sort(vmids, cmp_uint);
    for (i = 0; i < vmids->len; i++) {
        gpointer vmid = g_ptr_array_index(vmids, i);
        g_autofree char *id = kt_pve_vm_booking_id(GPOINTER_TO_UINT(vmid));

        if (!kt_ledger_book(ledger, id, NULL, g_hash_table_lookup(bookings, vmid),
                            NULL, FALSE, error))
            return NULL;
    }
    return g_steal_pointer(&ledger);
}
