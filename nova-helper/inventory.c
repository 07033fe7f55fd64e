/* inventory.c: reads KtInventory from sysfs under a root directory (edge).
 *
 * What is booked by the allocator (CPUs, node memory, hugepage counts) is read
 * strictly: an unreadable or malformed file there is an error naming it.  What
 * only describes devices (numa_node, SR-IOV and mdev attributes) degrades: the
 * device or field is left out or marked unknown and a line goes to
 * inv->warnings, so a half-broken NIC does not take the whole host down but
 * is never booked on a guessed number either. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <pci/pci.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inventory.h"
#include "inventory-parse.h"
#include "kt-error.h"

typedef struct {
    char *root;          /* sysroot without trailing '/'; "" for "/" */
    KtInventory *inv;
    const KtInventory *previous;  /* reload: names to reuse, or NULL */
} Loader;

static char *path_of(const Loader *l, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void warn(Loader *l, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static char *
path_of(const Loader *l, const char *fmt, ...)
{
    g_autofree char *rel = NULL;
    va_list ap;

    va_start(ap, fmt);
    rel = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return g_strconcat(l->root, "/", rel, NULL);
}

static void
warn(Loader *l, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_ptr_array_add(l->inv->warnings, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

/* Whole file as a NUL-terminated string, at most KT_SYSFS_MAX_FILE bytes.
 * KT_ERROR_NOT_FOUND when it does not exist, so callers can tell an absent
 * optional file from a broken one. */
static gboolean
read_file(const char *path, char **ret_text, GError **error)
{
    g_autofree char *buf = NULL;
    size_t len = 0, cap = 4096;
    struct stat st;
    int fd;

    /* O_NONBLOCK and the S_ISREG check: a FIFO or device node planted in a
     * modelled root must not block or stream; sysfs and procfs attributes
     * are regular files. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;

        g_set_error(error, KT_ERROR, e == ENOENT ? KT_ERROR_NOT_FOUND : KT_ERROR_IO,
                    "%s: %s", path, g_strerror(e));
        return FALSE;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        const char *why = "not a regular file";

        if (fstat(fd, &st) < 0)
            why = g_strerror(errno);
        else if (S_ISDIR(st.st_mode))
            why = g_strerror(EISDIR);
        close(fd);
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "%s: %s", path, why);
        return FALSE;
    }
    buf = g_malloc(cap);
    for (;;) {
        ssize_t n;

        if (len == cap - 1) {
            if (cap > KT_SYSFS_MAX_FILE) {
                close(fd);
                g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                            "%s: larger than %d bytes", path, KT_SYSFS_MAX_FILE);
                return FALSE;
            }
            cap *= 2;
            buf = g_realloc(buf, cap);
        }
        n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;

            close(fd);
            g_set_error(error, KT_ERROR, KT_ERROR_IO, "%s: %s", path, g_strerror(e));
            return FALSE;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (len > KT_SYSFS_MAX_FILE) {
        g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                    "%s: larger than %d bytes", path, KT_SYSFS_MAX_FILE);
        return FALSE;
    }
    if (memchr(buf, '\0', len)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "%s: binary content", path);
        return FALSE;
    }
    buf[len] = '\0';
    *ret_text = g_steal_pointer(&buf);
    return TRUE;
}

static gboolean
read_uint(const char *path, guint64 max, guint64 *ret, GError **error)
{
    g_autofree char *text = NULL;

    if (!read_file(path, &text, error))
        return FALSE;
    if (!kt_sysfs_parse_uint(text, max, ret, error)) {
        g_prefix_error(error, "%s: ", path);
        return FALSE;
    }
    return TRUE;
}

static KtCpuset *
read_cpulist(const char *path, GError **error)
{
    g_autofree char *text = NULL;
    KtCpuset *set;

    if (!read_file(path, &text, error))
        return NULL;
    set = kt_sysfs_parse_cpulist(text, error);
    if (!set)
        g_prefix_error(error, "%s: ", path);
    return set;
}

/* One short word ("up", "vfio-pci", "GRID A100D-5C"): trimmed, printable,
 * at most 256 bytes; NULL (with @error) otherwise. */
static char *
read_word(const char *path, GError **error)
{
    g_autofree char *text = NULL;
    size_t i, len;

    if (!read_file(path, &text, error))
        return NULL;
    g_strstrip(text);
    len = strlen(text);
    if (len == 0 || len > 256) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "%s: empty or overlong value", path);
        return NULL;
    }
    for (i = 0; i < len; i++) {
        if (!g_ascii_isprint(text[i])) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "%s: unprintable value", path);
            return NULL;
        }
    }
    return g_steal_pointer(&text);
}

/* Last component of a symlink's target ("../../../bus/pci/drivers/nvme" ->
 * "nvme"), validated as a path component; NULL + KT_ERROR_NOT_FOUND if there
 * is no link. */
static char *
read_link_name(const char *path, GError **error)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *target = g_file_read_link(path, &err);
    g_autofree char *base = NULL;

    if (!target) {
        g_set_error(error, KT_ERROR,
                    g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT) ?
                    KT_ERROR_NOT_FOUND : KT_ERROR_IO,
                    "%s: %s", path, err->message);
        return NULL;
    }
    base = g_path_get_basename(target);
    if (!kt_sysfs_name_valid(base)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "%s: bad link target", path);
        return NULL;
    }
    return g_steal_pointer(&base);
}

static gint
cmp_strp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of a directory that pass @keep (NULL: all but dot
 * files); NULL + KT_ERROR_NOT_FOUND when it does not exist.  At most 65536
 * entries: no real sysfs directory we read comes close. */
static GPtrArray *
list_dir(const char *path, bool (*keep)(const char *name), GError **error)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    DIR *dir = opendir(path);
    struct dirent *de;

    if (!dir) {
        int e = errno;

        g_set_error(error, KT_ERROR, e == ENOENT ? KT_ERROR_NOT_FOUND : KT_ERROR_IO,
                    "%s: %s", path, g_strerror(e));
        return NULL;
    }
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.' || (keep && !keep(de->d_name)) ||
            !kt_sysfs_name_valid(de->d_name))
            continue;
        if (names->len >= 65536) {
            closedir(dir);
            g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                        "%s: more than 65536 entries", path);
            return NULL;
        }
        g_ptr_array_add(names, g_strdup(de->d_name));
    }
    closedir(dir);
    g_ptr_array_sort(names, cmp_strp);
    return g_steal_pointer(&names);
}

/* --- memory management -------------------------------------------------- */

static void
node_clear(gpointer p)
{
    KtInvNode *n = p;

    kt_cpuset_free(n->cpus);
    g_free(n->distances);
    if (n->hugepages)
        g_array_unref(n->hugepages);
}

static void
cpu_clear(gpointer p)
{
    KtInvCpu *c = p;

    kt_cpuset_free(c->siblings);
}

static void
pci_dev_free(gpointer p)
{
    KtInvPciDev *d = p;

    g_free(d->address);
    g_free(d->vendor_name);
    g_free(d->device_name);
    g_free(d->driver);
    g_free(d->physfn);
    g_free(d);
}

static void
sriov_pf_free(gpointer p)
{
    KtInvSriovPf *pf = p;

    g_free(pf->address);
    g_free(pf->netdev);
    g_free(pf->link_state);
    g_ptr_array_unref(pf->vfs);
    g_ptr_array_unref(pf->vf_drivers);
    g_free(pf);
}

static void
mdev_type_free(gpointer p)
{
    KtInvMdevType *t = p;

    g_free(t->id);
    g_free(t->name);
    g_free(t->device_api);
    g_ptr_array_unref(t->devices);
    g_free(t);
}

static void
mdev_parent_free(gpointer p)
{
    KtInvMdevParent *m = p;

    g_free(m->address);
    g_ptr_array_unref(m->types);
    g_ptr_array_unref(m->devices);
    g_free(m);
}

KtInvSriovPf *
kt_inv_sriov_pf_new(const char *address, int node)
{
    KtInvSriovPf *pf = g_new0(KtInvSriovPf, 1);

    pf->address = g_strdup(address);
    pf->node = node;
    pf->vfs = g_ptr_array_new_with_free_func(g_free);
    pf->vf_drivers = g_ptr_array_new_with_free_func(g_free);
    return pf;
}

KtInvMdevParent *
kt_inv_mdev_parent_new(const char *address, int node)
{
    KtInvMdevParent *m = g_new0(KtInvMdevParent, 1);

    m->address = g_strdup(address);
    m->node = node;
    m->types = g_ptr_array_new_with_free_func(mdev_type_free);
    m->devices = g_ptr_array_new_with_free_func(g_free);
    return m;
}

KtInvMdevType *
kt_inv_mdev_type_new(const char *id)
{
    KtInvMdevType *t = g_new0(KtInvMdevType, 1);

    t->id = g_strdup(id);
    t->devices = g_ptr_array_new_with_free_func(g_free);
    return t;
}

KtInventory *
kt_inventory_new(const char *sysroot)
{
    KtInventory *inv = g_new0(KtInventory, 1);

    inv->sysroot = g_strdup(sysroot);
    inv->nodes = g_array_new(FALSE, TRUE, sizeof(KtInvNode));
    g_array_set_clear_func(inv->nodes, node_clear);
    inv->cpus = g_array_new(FALSE, TRUE, sizeof(KtInvCpu));
    g_array_set_clear_func(inv->cpus, cpu_clear);
    inv->online = kt_cpuset_new();
    inv->isolated = kt_cpuset_new();
    inv->nohz_full = kt_cpuset_new();
    inv->pci_devs = g_ptr_array_new_with_free_func(pci_dev_free);
    inv->sriov_pfs = g_ptr_array_new_with_free_func(sriov_pf_free);
    inv->mdev_parents = g_ptr_array_new_with_free_func(mdev_parent_free);
    inv->warnings = g_ptr_array_new_with_free_func(g_free);
    return inv;
}

void
kt_inventory_free(KtInventory *inv)
{
    if (!inv)
        return;
    g_free(inv->sysroot);
    g_array_unref(inv->nodes);
    g_array_unref(inv->cpus);
    kt_cpuset_free(inv->online);
    kt_cpuset_free(inv->isolated);
    kt_cpuset_free(inv->nohz_full);
    g_ptr_array_unref(inv->pci_devs);
    g_ptr_array_unref(inv->sriov_pfs);
    g_ptr_array_unref(inv->mdev_parents);
    g_ptr_array_unref(inv->warnings);
    g_free(inv);
}

/* --- queries -------------------------------------------------------------- */

const KtInvNode *
kt_inventory_node(const KtInventory *inv, guint id)
{
    guint i;

    for (i = 0; i < inv->nodes->len; i++) {
        const KtInvNode *n = &g_array_index(inv->nodes, KtInvNode, i);

        if (n->id == id)
            return n;
    }
    return NULL;
}

const KtInvCpu *
kt_inventory_cpu(const KtInventory *inv, guint id)
{
    guint lo = 0, hi = inv->cpus->len;

    /* Sorted by id, and usually dense: try the direct index first. */
    if (id < inv->cpus->len && g_array_index(inv->cpus, KtInvCpu, id).id == id)
        return &g_array_index(inv->cpus, KtInvCpu, id);
    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        const KtInvCpu *c = &g_array_index(inv->cpus, KtInvCpu, mid);

        if (c->id == id)
            return c;
        if (c->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static gpointer
find_by_address(GPtrArray *arr, const char *address)
{
    guint i;

    /* Every element type starts with its char *address. */
    for (i = 0; i < arr->len; i++) {
        char *const *addr = g_ptr_array_index(arr, i);

        if (strcmp(*addr, address) == 0)
            return g_ptr_array_index(arr, i);
    }
    return NULL;
}

const KtInvSriovPf *
kt_inventory_find_pf(const KtInventory *inv, const char *address)
{
    return find_by_address(inv->sriov_pfs, address);
}

const KtInvMdevParent *
kt_inventory_find_mdev_parent(const KtInventory *inv, const char *address)
{
    return find_by_address(inv->mdev_parents, address);
}

const KtInvPciDev *
kt_inventory_find_pci(const KtInventory *inv, const char *address)
{
    return find_by_address(inv->pci_devs, address);
}

int
kt_inventory_pci_node(const KtInventory *inv, const char *address)
{
    const KtInvPciDev *d = kt_inventory_find_pci(inv, address);

    return d ? d->node : -1;
}

const KtInvHugepages *
kt_inventory_hugepages(const KtInventory *inv, guint node, guint64 size_kib)
{
    const KtInvNode *n = kt_inventory_node(inv, node);
    guint i;

    if (!n)
        return NULL;
    for (i = 0; i < n->hugepages->len; i++) {
        const KtInvHugepages *h = &g_array_index(n->hugepages, KtInvHugepages, i);

        if (h->size_kib == size_kib)
            return h;
    }
    return NULL;
}

/* --- CPUs ------------------------------------------------------------------- */

static KtInvCpu *
cpu_mut(KtInventory *inv, guint id)
{
    return (KtInvCpu *)kt_inventory_cpu(inv, id);
}

static bool
is_node_link(const char *name)
{
    guint64 v;

    return g_str_has_prefix(name, "node") && name[4] &&
           g_ascii_string_to_unsigned(name + 4, 10, 0, KT_CPUSET_MAX - 1, &v, NULL);
}

/* Node of an offline CPU: its nodeN link, which stays while the node's
 * cpulist (online CPUs only) no longer names it. */
static int
offline_cpu_node(Loader *l, guint id)
{
    g_autofree char *dir = path_of(l, "sys/devices/system/cpu/cpu%u", id);
    g_autoptr(GPtrArray) names = list_dir(dir, is_node_link, NULL);
    guint64 v = 0;

    if (!names || names->len != 1)
        return -1;
    if (!g_ascii_string_to_unsigned((char *)g_ptr_array_index(names, 0) + 4, 10, 0,
                                    KT_CPUSET_MAX - 1, &v, NULL))
        return -1;
    return (int)v;
}

static gboolean
load_cpu_topology(Loader *l, KtInvCpu *c, GError **error)
{
    g_autofree char *topo = path_of(l, "sys/devices/system/cpu/cpu%u/topology", c->id);
    g_autofree char *pkg_path = g_strconcat(topo, "/physical_package_id", NULL);
    g_autofree char *core_path = g_strconcat(topo, "/core_id", NULL);
    g_autofree char *sib_path = g_strconcat(topo, "/thread_siblings_list", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    gint64 v = 0;

    if (!read_file(pkg_path, &text, &err)) {
        if (!g_error_matches(err, KT_ERROR, KT_ERROR_NOT_FOUND)) {
            g_propagate_error(error, g_steal_pointer(&err));
            return FALSE;
        }
        warn(l, "%s: missing; package, core and siblings of CPU %u unknown", topo, c->id);
        return TRUE;
    }
    /* physical_package_id is -1 where firmware does not say. */
    if (!kt_sysfs_parse_int(text, -1, G_MAXINT, &v, error)) {
        g_prefix_error(error, "%s: ", pkg_path);
        return FALSE;
    }
    c->package = (int)v;
    g_clear_pointer(&text, g_free);
    if (!read_file(core_path, &text, error))
        return FALSE;
    if (!kt_sysfs_parse_int(text, -1, G_MAXINT, &v, error)) {
        g_prefix_error(error, "%s: ", core_path);
        return FALSE;
    }
    c->core = (int)v;
    kt_cpuset_free(c->siblings);
    c->siblings = read_cpulist(sib_path, error);
    if (!c->siblings)
        return FALSE;
    if (!kt_cpuset_has(c->siblings, c->id)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "%s: does not contain CPU %u itself", sib_path, c->id);
        return FALSE;
    }
    return TRUE;
}

static gboolean
load_cpus(Loader *l, GError **error)
{
    KtInventory *inv = l->inv;
    g_autofree char *present_path = path_of(l, "sys/devices/system/cpu/present");
    g_autofree char *online_path = path_of(l, "sys/devices/system/cpu/online");
    g_autofree char *isolated_path = path_of(l, "sys/devices/system/cpu/isolated");
    g_autofree char *cmdline_path = path_of(l, "proc/cmdline");
    g_autoptr(KtCpuset) present = NULL;
    g_autoptr(KtCpuset) extra = NULL;
    g_autoptr(KtCpuset) isolated = NULL;
    g_autoptr(KtCpuset) isolcpus = NULL;
    g_autoptr(KtCpuset) nohz = NULL;
    g_autofree char *cmdline = NULL;
    g_autoptr(GError) err = NULL;
    guint i;
    int id;

    present = read_cpulist(present_path, error);
    if (!present)
        return FALSE;
    kt_cpuset_free(inv->online);
    inv->online = read_cpulist(online_path, error);
    if (!inv->online)
        return FALSE;
    extra = kt_cpuset_copy(inv->online);
    kt_cpuset_subtract(extra, present);
    if (!kt_cpuset_is_empty(extra)) {
        g_autofree char *s = kt_cpuset_format(extra);

        warn(l, "%s: CPUs %s are online but not present; ignored", online_path, s);
        kt_cpuset_intersect(inv->online, present);
    }

    for (id = kt_cpuset_first(present); id >= 0; id = kt_cpuset_next(present, id + 1)) {
        KtInvCpu c = { 0 };

        c.id = (guint)id;
        c.node = c.package = c.core = -1;
        c.siblings = kt_cpuset_new();
        c.online = kt_cpuset_has(inv->online, c.id);
        g_array_append_val(inv->cpus, c);
    }
    for (i = 0; i < inv->cpus->len; i++) {
        KtInvCpu *c = &g_array_index(inv->cpus, KtInvCpu, i);

        if (c->online && !load_cpu_topology(l, c, error))
            return FALSE;
        if (!c->online)
            c->node = offline_cpu_node(l, c->id);
    }
    {
        g_autoptr(KtCpuset) offline = kt_cpuset_copy(present);
        g_autofree char *s = NULL;

        kt_cpuset_subtract(offline, inv->online);
        if (!kt_cpuset_is_empty(offline)) {
            s = kt_cpuset_format(offline);
            warn(l, "%s: CPUs %s are offline; they are listed but never used", online_path, s);
        }
    }

    /* Isolation: the kernel's own view (isolated: isolcpus domain CPUs) and
     * the command line, which also carries nohz_full. */
    isolated = read_cpulist(isolated_path, &err);
    if (!isolated) {
        if (!g_error_matches(err, KT_ERROR, KT_ERROR_NOT_FOUND))
            warn(l, "%s; isolated CPUs taken from the command line only", err->message);
        g_clear_error(&err);
        isolated = kt_cpuset_new();
    }
    if (read_file(cmdline_path, &cmdline, &err)) {
        if (!kt_sysfs_parse_cmdline_cpus(cmdline, "isolcpus", &isolcpus, &err)) {
            warn(l, "%s: %s; ignored", cmdline_path, err->message);
            g_clear_error(&err);
        }
        if (!kt_sysfs_parse_cmdline_cpus(cmdline, "nohz_full", &nohz, &err)) {
            warn(l, "%s: %s; ignored", cmdline_path, err->message);
            g_clear_error(&err);
        }
    } else {
        warn(l, "%s; isolcpus= and nohz_full= unknown", err->message);
        g_clear_error(&err);
    }
    if (isolcpus)
        kt_cpuset_union(isolated, isolcpus);
    kt_cpuset_intersect(isolated, present);
    kt_cpuset_free(inv->isolated);
    inv->isolated = g_steal_pointer(&isolated);
    if (nohz) {
        kt_cpuset_intersect(nohz, present);
        kt_cpuset_free(inv->nohz_full);
        inv->nohz_full = g_steal_pointer(&nohz);
    }
    for (i = 0; i < inv->cpus->len; i++) {
        KtInvCpu *c = &g_array_index(inv->cpus, KtInvCpu, i);

        c->isolated = kt_cpuset_has(inv->isolated, c->id);
        c->nohz_full = kt_cpuset_has(inv->nohz_full, c->id);
    }
    return TRUE;
}

/* --- NUMA nodes and hugepages ---------------------------------------------------- */

static gint
cmp_hugepages(gconstpointer a, gconstpointer b)
{
    const KtInvHugepages *x = a, *y = b;

    return x->size_kib < y->size_kib ? -1 : x->size_kib > y->size_kib;
}

static bool
is_hugepage_dir(const char *name)
{
    guint64 v;

    return kt_sysfs_parse_hugepage_dir(name, &v);
}

/* Pools in @dir (nodeN/hugepages or /sys/kernel/mm/hugepages).  Counts are
 * booked by the allocator, so a bad one is an error; a missing directory
 * is a warning and no pools. */
static gboolean
load_hugepages(Loader *l, const char *dir, GArray *pools, GError **error)
{
    g_autoptr(GPtrArray) names = NULL;
    g_autoptr(GError) err = NULL;
    guint i;

    names = list_dir(dir, is_hugepage_dir, &err);
    if (!names) {
        if (!g_error_matches(err, KT_ERROR, KT_ERROR_NOT_FOUND)) {
            g_propagate_error(error, g_steal_pointer(&err));
            return FALSE;
        }
        warn(l, "%s: missing; no hugepage pools on this node", dir);
        return TRUE;
    }
    for (i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        g_autofree char *nr = g_strconcat(dir, "/", name, "/nr_hugepages", NULL);
        g_autofree char *fr = g_strconcat(dir, "/", name, "/free_hugepages", NULL);
        g_autofree char *su = g_strconcat(dir, "/", name, "/surplus_hugepages", NULL);
        KtInvHugepages h = { 0 };

        kt_sysfs_parse_hugepage_dir(name, &h.size_kib);
        if (!read_uint(nr, G_MAXUINT32, &h.total, error) ||
            !read_uint(fr, G_MAXUINT32, &h.free, error) ||
            !read_uint(su, G_MAXUINT32, &h.surplus, error))
            return FALSE;
        if (h.free > h.total) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                        "%s: %" G_GUINT64_FORMAT " free exceeds %" G_GUINT64_FORMAT " total",
                        fr, h.free, h.total);
            return FALSE;
        }
        g_array_append_val(pools, h);
    }
    g_array_sort(pools, cmp_hugepages);
    return TRUE;
}

static gboolean
load_node(Loader *l, guint id, GError **error)
{
    g_autofree char *dir = path_of(l, "sys/devices/system/node/node%u", id);
    g_autofree char *cpulist = g_strconcat(dir, "/cpulist", NULL);
    g_autofree char *meminfo = g_strconcat(dir, "/meminfo", NULL);
    g_autofree char *distance = g_strconcat(dir, "/distance", NULL);
    g_autofree char *hugedir = g_strconcat(dir, "/hugepages", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    KtInvNode n = { 0 };
    KtInvNode *np;

    n.id = id;
    n.hugepages = g_array_new(FALSE, TRUE, sizeof(KtInvHugepages));
    g_array_append_val(l->inv->nodes, n);
    np = &g_array_index(l->inv->nodes, KtInvNode, l->inv->nodes->len - 1);

    np->cpus = read_cpulist(cpulist, error);
    if (!np->cpus)
        return FALSE;
    if (!read_file(meminfo, &text, error))
        return FALSE;
    if (!kt_sysfs_parse_meminfo(text, &np->memory_total_kib, &np->memory_free_kib, error)) {
        g_prefix_error(error, "%s: ", meminfo);
        return FALSE;
    }
    g_clear_pointer(&text, g_free);
    if (!read_file(distance, &text, &err) ||
        !kt_sysfs_parse_distances(text, &np->distances, &np->ndistances, &err)) {
        warn(l, "%s%s%s; distances of node %u unknown",
             g_error_matches(err, KT_ERROR, KT_ERROR_PARSE) ? distance : "",
             g_error_matches(err, KT_ERROR, KT_ERROR_PARSE) ? ": " : "", err->message, id);
        g_clear_error(&err);
    }
    return load_hugepages(l, hugedir, np->hugepages, error);
}

/* A kernel without CONFIG_NUMA has no node directory: one node 0 with every
 * online CPU, /proc/meminfo and the global hugepage pools. */
static gboolean
load_single_node(Loader *l, GError **error)
{
    g_autofree char *meminfo = path_of(l, "proc/meminfo");
    g_autofree char *hugedir = path_of(l, "sys/kernel/mm/hugepages");
    g_autofree char *text = NULL;
    KtInvNode n = { 0 };
    KtInvNode *np;

    n.hugepages = g_array_new(FALSE, TRUE, sizeof(KtInvHugepages));
    n.cpus = kt_cpuset_copy(l->inv->online);
    g_array_append_val(l->inv->nodes, n);
    np = &g_array_index(l->inv->nodes, KtInvNode, 0);
    if (!read_file(meminfo, &text, error))
        return FALSE;
    if (!kt_sysfs_parse_meminfo(text, &np->memory_total_kib, &np->memory_free_kib, error)) {
        g_prefix_error(error, "%s: ", meminfo);
        return FALSE;
    }
    warn(l, "%s: no NUMA nodes; one node 0 assumed", l->root[0] ? l->root : "/");
    return load_hugepages(l, hugedir, np->hugepages, error);
}

static gboolean
load_nodes(Loader *l, GError **error)
{
    KtInventory *inv = l->inv;
    g_autofree char *nodedir = path_of(l, "sys/devices/system/node");
    g_autofree char *online_path = path_of(l, "sys/devices/system/node/online");
    g_autoptr(KtCpuset) ids = NULL;
    guint i;
    int id;

    if (!g_file_test(nodedir, G_FILE_TEST_IS_DIR)) {
        if (!load_single_node(l, error))
            return FALSE;
    } else {
        ids = read_cpulist(online_path, error);
        if (!ids)
            return FALSE;
        if (kt_cpuset_is_empty(ids)) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "%s: no online node", online_path);
            return FALSE;
        }
        for (id = kt_cpuset_first(ids); id >= 0; id = kt_cpuset_next(ids, id + 1)) {
            if (!load_node(l, (guint)id, error))
                return FALSE;
        }
    }

    /* Each online CPU belongs to exactly one node. */
    for (i = 0; i < inv->nodes->len; i++) {
        KtInvNode *n = &g_array_index(inv->nodes, KtInvNode, i);
        int c;

        if (n->ndistances != 0 && n->ndistances != inv->nodes->len) {
            warn(l, "node %u: %u distances for %u nodes; distances unknown",
                 n->id, n->ndistances, inv->nodes->len);
            g_clear_pointer(&n->distances, g_free);
            n->ndistances = 0;
        }
        for (c = kt_cpuset_first(n->cpus); c >= 0; c = kt_cpuset_next(n->cpus, c + 1)) {
            KtInvCpu *cpu = cpu_mut(inv, (guint)c);

            if (!cpu || !cpu->online) {
                g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                            "%s/node%u/cpulist: CPU %d is not an online CPU",
                            nodedir, n->id, c);
                return FALSE;
            }
            if (cpu->node >= 0) {
                g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                            "%s/node%u/cpulist: CPU %d is also in node %d",
                            nodedir, n->id, c, cpu->node);
                return FALSE;
            }
            cpu->node = (int)n->id;
        }
    }
    for (i = 0; i < inv->cpus->len; i++) {
        const KtInvCpu *c = &g_array_index(inv->cpus, KtInvCpu, i);

        if (c->online && c->node < 0)
            warn(l, "CPU %u is online but in no node's cpulist; it is never used", c->id);
    }
    return TRUE;
}

/* --- PCI devices (libpci) ------------------------------------------------------ */

/* libpci reports fatal errors through a callback that must not return and
 * has no user-data pointer: it jumps back to load_pci() through this
 * per-thread context, which load_pci() sets for the duration of the scan. */
typedef struct {
    jmp_buf jump;
    char message[512];
    Loader *loader;
} PciCtx;

static __thread PciCtx *pci_ctx;

static G_GNUC_NORETURN G_GNUC_PRINTF(1, 2) void
pci_error_cb(char *msg, ...)
{
    va_list ap;

    va_start(ap, msg);
    g_vsnprintf(pci_ctx->message, sizeof(pci_ctx->message), msg, ap);
    va_end(ap);
    longjmp(pci_ctx->jump, 1);
}

static G_GNUC_PRINTF(1, 2) void
pci_warning_cb(char *msg, ...)
{
    g_autofree char *text = NULL;
    va_list ap;

    va_start(ap, msg);
    text = g_strdup_vprintf(msg, ap);
    va_end(ap);
    warn(pci_ctx->loader, "libpci: %s", text);
}

static G_GNUC_PRINTF(1, 2) void
pci_debug_cb(char *msg, ...)
{
}

/* numa_node read here rather than through libpci, which parses it with
 * strtol and would turn a garbled file into node 0. */
static int
read_pci_numa_node(Loader *l, const char *devdir, const char *addr)
{
    g_autofree char *path = g_strconcat(devdir, "/numa_node", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    gint64 v = -1;

    if (!read_file(path, &text, &err)) {
        if (!g_error_matches(err, KT_ERROR, KT_ERROR_NOT_FOUND))
            warn(l, "%s; NUMA node of %s unknown", err->message, addr);
        return -1;
    }
    if (!kt_sysfs_parse_int(text, -1, KT_CPUSET_MAX - 1, &v, &err)) {
        warn(l, "%s: %s; NUMA node of %s unknown", path, err->message, addr);
        return -1;
    }
    if (v >= 0 && !kt_inventory_node(l->inv, (guint)v)) {
        warn(l, "%s: node %d is not an online node; NUMA node of %s unknown",
             path, (int)v, addr);
        return -1;
    }
    if (v < 0 && l->inv->nodes->len > 1)
        warn(l, "%s: -1 on a %u-node host (firmware gives no locality); "
             "%s is treated as on no node", path, l->inv->nodes->len, addr);
    return (int)v;
}

/* vendor, device and class, read strictly here: libpci parses them with
 * strtol, which would turn a garbled file into id 0 or class 0, and treats
 * an unreadable one as fatal for the whole scan. */
static bool
read_pci_ident(Loader *l, const char *devices, const char *addr, guint16 *ret_vendor,
               guint16 *ret_device, guint32 *ret_class)
{
    static const char *const files[] = { "vendor", "device", "class" };
    static const guint64 max[] = { 0xffff, 0xffff, 0xffffff };
    guint64 v[3] = { 0 };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *path = g_strconcat(devices, "/", addr, "/", files[i], NULL);
        g_autoptr(GError) err = NULL;

        if (!read_uint(path, max[i], &v[i], &err)) {
            warn(l, "%s; PCI device %s not used", err->message, addr);
            return false;
        }
    }
    *ret_vendor = (guint16)v[0];
    *ret_device = (guint16)v[1];
    *ret_class = (guint32)v[2];
    return true;
}

/* Names @previous found for this vendor:device (either may be NULL: not in
 * the database then either).  FALSE when @previous never saw the ids. */
static bool
previous_names(const KtInventory *previous, guint16 vendor, guint16 device,
               const char **ret_vname, const char **ret_dname)
{
    guint i;

    for (i = 0; previous && i < previous->pci_devs->len; i++) {
        const KtInvPciDev *p = g_ptr_array_index(previous->pci_devs, i);

        if (p->vendor_id == vendor && p->device_id == device) {
            *ret_vname = p->vendor_name;
            *ret_dname = p->device_name;
            return true;
        }
    }
    return false;
}

/* libpci calls here (pci_fill_info, pci_lookup_name) happen before anything
 * is allocated, so a jump out of them leaks nothing. */
static void
load_pci_dev(Loader *l, struct pci_access *pacc, struct pci_dev *d, const char *devices)
{
    char addr[32], vbuf[256], dbuf[256];
    const char *vname, *dname, *group, *driver;
    g_autofree char *devdir = NULL;
    g_autofree char *physfn_path = NULL;
    g_autoptr(GError) err = NULL;
    guint16 vendor = 0, device = 0;
    guint32 cls = 0;
    KtInvPciDev *dev;

    g_snprintf(addr, sizeof(addr), "%04x:%02x:%02x.%u",
               (unsigned)d->domain, d->bus, d->dev, d->func);
    if (!kt_sysfs_pci_address_valid(addr)) {
        warn(l, "%s/%s: not a PCI address; skipped", devices, addr);
        return;
    }
    if (!read_pci_ident(l, devices, addr, &vendor, &device, &cls))
        return;
    pci_fill_info(d, PCI_FILL_IOMMU_GROUP | PCI_FILL_DRIVER);
    /* The first lookup makes libpci parse all of pci.ids (about 10 ms for
     * the full database); a reload asks only for ids it has not seen. */
    if (!previous_names(l->previous, vendor, device, &vname, &dname)) {
        vname = pci_lookup_name(pacc, vbuf, sizeof(vbuf),
                                PCI_LOOKUP_VENDOR | PCI_LOOKUP_NO_NUMBERS | PCI_LOOKUP_NO_HWDB,
                                vendor);
        dname = pci_lookup_name(pacc, dbuf, sizeof(dbuf),
                                PCI_LOOKUP_DEVICE | PCI_LOOKUP_NO_NUMBERS | PCI_LOOKUP_NO_HWDB,
                                vendor, device);
    }
    group = pci_get_string_property(d, PCI_FILL_IOMMU_GROUP);
    driver = pci_get_string_property(d, PCI_FILL_DRIVER);

    devdir = g_strconcat(devices, "/", addr, NULL);
    dev = g_new0(KtInvPciDev, 1);
    dev->address = g_strdup(addr);
    g_ptr_array_add(l->inv->pci_devs, dev);
    dev->vendor_id = vendor;
    dev->device_id = device;
    dev->class_code = cls;
    dev->vendor_name = g_strdup(vname);
    dev->device_name = g_strdup(dname);
    dev->driver = driver && kt_sysfs_name_valid(driver) ? g_strdup(driver) : NULL;
    dev->iommu_group = -1;
    if (group) {
        guint64 g = 0;

        if (kt_sysfs_parse_uint(group, G_MAXINT, &g, NULL))
            dev->iommu_group = (int)g;
        else
            warn(l, "%s/iommu_group: '%.40s' is not a group number; IOMMU group unknown",
                 devdir, group);
    }
    dev->node = read_pci_numa_node(l, devdir, dev->address);

    physfn_path = g_strconcat(devdir, "/physfn", NULL);
    dev->physfn = read_link_name(physfn_path, &err);
    if (!dev->physfn && !g_error_matches(err, KT_ERROR, KT_ERROR_NOT_FOUND))
        warn(l, "%s; PF of %s unknown", err->message, dev->address);
    if (dev->physfn && !kt_sysfs_pci_address_valid(dev->physfn)) {
        warn(l, "%s: '%s' is not a PCI address; PF of %s unknown",
             physfn_path, dev->physfn, dev->address);
        g_clear_pointer(&dev->physfn, g_free);
    }
}

static gint
cmp_address(gconstpointer a, gconstpointer b)
{
    char *const *x = *(void *const *)a;
    char *const *y = *(void *const *)b;

    return strcmp(*x, *y);
}

static gboolean
load_pci(Loader *l, GError **error)
{
    g_autofree char *bus = path_of(l, "sys/bus/pci");
    g_autofree char *devices = path_of(l, "sys/bus/pci/devices");
    g_autofree char *ids = NULL;
    struct pci_access *pacc;
    struct pci_dev *d;
    /* On the heap: locals changed between setjmp and longjmp are
     * indeterminate afterwards, memory behind an unchanged pointer is not. */
    g_autofree PciCtx *ctx = g_new0(PciCtx, 1);

    if (!g_file_test(devices, G_FILE_TEST_IS_DIR)) {
        warn(l, "%s: missing; no PCI devices", devices);
        return TRUE;
    }
    /* Names come from the root's own pci.ids when it has one (fixtures ship
     * a subset; a chroot its distribution's), else libpci's default. */
    ids = path_of(l, "usr/share/misc/pci.ids");
    if (!g_file_test(ids, G_FILE_TEST_IS_REGULAR)) {
        g_free(ids);
        ids = path_of(l, "usr/share/hwdata/pci.ids");
        if (!g_file_test(ids, G_FILE_TEST_IS_REGULAR))
            g_clear_pointer(&ids, g_free);
    }

    ctx->loader = l;
    pacc = pci_alloc();
    pacc->error = pci_error_cb;
    pacc->warning = pci_warning_cb;
    pacc->debug = pci_debug_cb;
    /* Only sysfs: the other methods (port I/O, /proc/bus/pci) would read the
     * live machine whatever the root says. */
    pacc->method = PCI_ACCESS_SYS_BUS_PCI;
    pci_set_param(pacc, (char *)"sysfs.path", bus);
    if (ids)
        pci_set_name_list_path(pacc, ids, 0);
    pci_ctx = ctx;
    if (setjmp(ctx->jump) != 0) {
        pci_cleanup(pacc);
        pci_ctx = NULL;
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "libpci: %s", ctx->message);
        return FALSE;
    }
    pci_init(pacc);
    pci_scan_bus(pacc);
    for (d = pacc->devices; d; d = d->next)
        load_pci_dev(l, pacc, d, devices);
    pci_cleanup(pacc);
    pci_ctx = NULL;
    g_ptr_array_sort(l->inv->pci_devs, cmp_address);
    return TRUE;
}

/* --- SR-IOV ------------------------------------------------------------------- */

/* The PF's netdev: the first name under net/ (a PF has one). */
static void
load_pf_netdev(Loader *l, KtInvSriovPf *pf, const char *devdir)
{
    g_autofree char *netdir = g_strconcat(devdir, "/net", NULL);
    g_autoptr(GPtrArray) names = list_dir(netdir, NULL, NULL);
    g_autofree char *oper = NULL;
    g_autoptr(GError) err = NULL;

    if (!names || names->len == 0)
        return;
    pf->netdev = g_strdup(g_ptr_array_index(names, 0));
    oper = g_strconcat(netdir, "/", pf->netdev, "/operstate", NULL);
    pf->link_state = read_word(oper, &err);
    if (!pf->link_state && !g_error_matches(err, KT_ERROR, KT_ERROR_NOT_FOUND))
        warn(l, "%s; link state of %s unknown", err->message, pf->address);
}

static void
load_pf(Loader *l, const KtInvPciDev *dev, const char *devices)
{
    g_autofree char *devdir = g_strconcat(devices, "/", dev->address, NULL);
    g_autofree char *total_path = g_strconcat(devdir, "/sriov_totalvfs", NULL);
    g_autofree char *num_path = g_strconcat(devdir, "/sriov_numvfs", NULL);
    g_autoptr(GError) err = NULL;
    guint64 total = 0, num = 0;
    KtInvSriovPf *pf;
    guint i;

    if (!read_uint(total_path, 65535, &total, &err)) {
        if (!g_error_matches(err, KT_ERROR, KT_ERROR_NOT_FOUND))
            warn(l, "%s; SR-IOV PF %s not used", err->message, dev->address);
        return;
    }
    if (!read_uint(num_path, 65535, &num, &err)) {
        warn(l, "%s; SR-IOV PF %s not used", err->message, dev->address);
        return;
    }
    if (num > total) {
        warn(l, "%s: %" G_GUINT64_FORMAT " VFs exceed sriov_totalvfs %" G_GUINT64_FORMAT
             "; SR-IOV PF %s not used", num_path, num, total, dev->address);
        return;
    }
    pf = kt_inv_sriov_pf_new(dev->address, dev->node);
    pf->totalvfs = (guint)total;
    g_ptr_array_add(l->inv->sriov_pfs, pf);
    load_pf_netdev(l, pf, devdir);
    if (num == 0)
        warn(l, "%s: 0; SR-IOV PF %s has no VFs enabled", num_path, dev->address);

    for (i = 0; i < num; i++) {
        g_autofree char *link = g_strdup_printf("%s/virtfn%u", devdir, i);
        g_autofree char *vf_addr = read_link_name(link, &err);
        const KtInvPciDev *vf;

        if (!vf_addr) {
            warn(l, "%s; VF %u of %s not used", err->message, i, dev->address);
            g_clear_error(&err);
            continue;
        }
        vf = kt_sysfs_pci_address_valid(vf_addr) ?
             kt_inventory_find_pci(l->inv, vf_addr) : NULL;
        if (!vf) {
            warn(l, "%s: points at %s, which is not a PCI device; VF %u of %s not used",
                 link, vf_addr, i, dev->address);
            continue;
        }
        if (!vf->physfn || strcmp(vf->physfn, dev->address) != 0) {
            warn(l, "%s: %s does not name %s as its physfn; VF not used",
                 link, vf_addr, dev->address);
            continue;
        }
        g_ptr_array_add(pf->vfs, g_steal_pointer(&vf_addr));
        g_ptr_array_add(pf->vf_drivers, g_strdup(vf->driver));
    }
    pf->numvfs = pf->vfs->len;
    if (pf->numvfs != num)
        warn(l, "%s: %" G_GUINT64_FORMAT " VFs enabled but %u usable",
             num_path, num, pf->numvfs);
}

static void
load_sriov(Loader *l)
{
    g_autofree char *devices = path_of(l, "sys/bus/pci/devices");
    guint i;

    for (i = 0; i < l->inv->pci_devs->len; i++) {
        const KtInvPciDev *dev = g_ptr_array_index(l->inv->pci_devs, i);

        /* A VF has no SR-IOV capability of its own; skip the failed open. */
        if (!dev->physfn)
            load_pf(l, dev, devices);
    }
}

/* --- mdev parents ---------------------------------------------------------------- */

static KtInvMdevType *
load_mdev_type(Loader *l, const char *typesdir, const char *id)
{
    g_autofree char *dir = g_strconcat(typesdir, "/", id, NULL);
    g_autofree char *avail_path = g_strconcat(dir, "/available_instances", NULL);
    g_autofree char *name_path = g_strconcat(dir, "/name", NULL);
    g_autofree char *api_path = g_strconcat(dir, "/device_api", NULL);
    g_autofree char *devs_path = g_strconcat(dir, "/devices", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) devs = NULL;
    guint64 avail = 0;
    KtInvMdevType *t;

    if (!read_uint(avail_path, G_MAXUINT32, &avail, &err)) {
        warn(l, "%s; mdev type %s not used", err->message, id);
        return NULL;
    }
    t = g_new0(KtInvMdevType, 1);
    t->id = g_strdup(id);
    t->available = (guint)avail;
    t->name = read_word(name_path, NULL);
    t->device_api = read_word(api_path, NULL);
    /* devices/ is empty until an mdev of the type exists (and absent in a
     * git checkout of a fixture, which keeps no empty directories). */
    devs = list_dir(devs_path, NULL, NULL);
    t->devices = devs ? g_steal_pointer(&devs) : g_ptr_array_new_with_free_func(g_free);
    return t;
}

static gint
cmp_mdev_type(gconstpointer a, gconstpointer b)
{
    const KtInvMdevType *x = *(void *const *)a;
    const KtInvMdevType *y = *(void *const *)b;

    return strcmp(x->id, y->id);
}

static void
load_mdev(Loader *l)
{
    g_autofree char *busdir = path_of(l, "sys/class/mdev_bus");
    g_autoptr(GPtrArray) parents = NULL;
    g_autoptr(GError) err = NULL;
    guint i, j, k;

    parents = list_dir(busdir, NULL, &err);
    if (!parents) {
        if (!g_error_matches(err, KT_ERROR, KT_ERROR_NOT_FOUND))
            warn(l, "%s; no mdev parents", err->message);
        return;
    }
    for (i = 0; i < parents->len; i++) {
        const char *addr = g_ptr_array_index(parents, i);
        g_autofree char *typesdir = g_strconcat(busdir, "/", addr, "/mdev_supported_types", NULL);
        g_autoptr(GPtrArray) types = list_dir(typesdir, NULL, &err);
        KtInvMdevParent *m;

        if (!types) {
            warn(l, "%s; mdev parent %s not used", err->message, addr);
            g_clear_error(&err);
            continue;
        }
        m = kt_inv_mdev_parent_new(addr, kt_inventory_pci_node(l->inv, addr));
        g_ptr_array_add(l->inv->mdev_parents, m);
        for (j = 0; j < types->len; j++) {
            KtInvMdevType *t = load_mdev_type(l, typesdir, g_ptr_array_index(types, j));

            if (!t)
                continue;
            g_ptr_array_add(m->types, t);
            for (k = 0; k < t->devices->len; k++)
                g_ptr_array_add(m->devices, g_strdup(g_ptr_array_index(t->devices, k)));
        }
        g_ptr_array_sort(m->types, cmp_mdev_type);
        g_ptr_array_sort(m->devices, cmp_strp);
    }
}

/* --- libnuma cross-check ----------------------------------------------------- */

gboolean
kt_inventory_check_libnuma(const KtInventory *inv, GPtrArray *mismatches, GError **error)
{
    struct bitmask *mask;
    int max, n;
    guint i;

    if (numa_available() < 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_UNSUPPORTED,
                    "libnuma: NUMA is not available on this host");
        return FALSE;
    }
    max = numa_max_node();
    mask = numa_allocate_cpumask();
    for (n = 0; n <= max; n++) {
        const KtInvNode *node = kt_inventory_node(inv, (guint)n);
        g_autoptr(KtCpuset) cpus = kt_cpuset_new();
        long long size;

        if (numa_node_to_cpus(n, mask) < 0) {
            if (node)
                g_ptr_array_add(mismatches,
                                g_strdup_printf("node %d: libnuma has no CPU mask for it", n));
            continue;
        }
        for (i = 0; i < mask->size && i < KT_CPUSET_MAX; i++) {
            if (numa_bitmask_isbitset(mask, i))
                kt_cpuset_add(cpus, i);
        }
        size = numa_node_size64(n, NULL);
        if (!node) {
            if (!kt_cpuset_is_empty(cpus) || size > 0)
                g_ptr_array_add(mismatches,
                                g_strdup_printf("node %d: known to libnuma, not to the inventory", n));
            continue;
        }
        if (!kt_cpuset_equal(cpus, node->cpus)) {
            g_autofree char *a = kt_cpuset_format(cpus);
            g_autofree char *b = kt_cpuset_format(node->cpus);

            g_ptr_array_add(mismatches,
                            g_strdup_printf("node %d: libnuma CPUs %s, inventory %s", n, a, b));
        }
        if (size < 0 || (guint64)size / 1024 != node->memory_total_kib)
            g_ptr_array_add(mismatches,
                            g_strdup_printf("node %d: libnuma MemTotal %lld KiB, inventory %"
                                            G_GUINT64_FORMAT " KiB",
                                            n, size < 0 ? -1 : size / 1024, node->memory_total_kib));
    }
    numa_free_cpumask(mask);
    for (i = 0; i < inv->nodes->len; i++) {
        const KtInvNode *node = &g_array_index(inv->nodes, KtInvNode, i);

        if ((int)node->id > max)
            g_ptr_array_add(mismatches,
                            g_strdup_printf("node %u: beyond libnuma's highest node %d",
                                            node->id, max));
    }
    return TRUE;
}

/* --- load ------------------------------------------------------------------------ */

static bool
is_live_root(const char *sysroot)
{
    g_autofree char *real = realpath(sysroot, NULL);

    return real && strcmp(real, "/") == 0;
}

static KtInventory *
inventory_load(const char *sysroot, const KtInventory *previous, GError **error)
{
    g_autoptr(KtInventory) inv = NULL;
    Loader l;
    size_t len;

    g_return_val_if_fail(sysroot && sysroot[0], NULL);

    inv = kt_inventory_new(sysroot);
    l.inv = inv;
    l.previous = previous;
    l.root = g_strdup(sysroot);
    len = strlen(l.root);
    while (len > 0 && l.root[len - 1] == '/')
        l.root[--len] = '\0';

    if (!load_cpus(&l, error) || !load_nodes(&l, error) || !load_pci(&l, error)) {
        g_free(l.root);
        return NULL;
    }
    load_sriov(&l);
    load_mdev(&l);
    g_ptr_array_sort(inv->sriov_pfs, cmp_address);
    g_ptr_array_sort(inv->mdev_parents, cmp_address);

    if (is_live_root(sysroot)) {
        g_autoptr(GPtrArray) mismatches = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) err = NULL;
        guint i;

        if (kt_inventory_check_libnuma(inv, mismatches, &err)) {
            inv->numa_checked = true;
            for (i = 0; i < mismatches->len; i++)
                warn(&l, "libnuma disagrees: %s", (char *)g_ptr_array_index(mismatches, i));
        } else {
            warn(&l, "%s; not cross-checked", err->message);
        }
    }
    g_free(l.root);
    return g_steal_pointer(&inv);
}

KtInventory *
kt_inventory_load(const char *sysroot, GError **error)
{
    return inventory_load(sysroot, NULL, error);
}

KtInventory *
kt_inventory_reload(const KtInventory *previous, GError **error)
{
    g_return_val_if_fail(previous, NULL);

    return inventory_load(previous->sysroot, previous, error);
}
