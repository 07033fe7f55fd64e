/* pve-vm.c: a Proxmox VM config read into the engine's vocabulary. */
#include "pve-vm.h"
#include "kt-error.h"

#include <string.h>

/* Proxmox caps sockets at 4, cores at 128 and memory far below this; the
 * bounds here only keep products and unit conversions from overflowing. */
#define MAX_SOCKETS 64
#define MAX_CORES 1024
#define MAX_MEMORY_MIB (G_GUINT64_CONSTANT(1) << 32)

void
kt_pve_hostpci_free(KtPveHostpci *h)
{
    if (!h)
        return;
    g_free(h->key);
    g_free(h->address);
    g_free(h->mapping);
    g_free(h->mdev);
    g_free(h);
}

static void
numa_cell_free(gpointer data)
{
    KtPveNumaCell *c = data;

    kt_cpuset_free(c->cpus);
    kt_cpuset_free(c->hostnodes);
    g_free(c);
}

void
kt_pve_vm_free(KtPveVm *vm)
{
    if (!vm)
        return;
    g_free(vm->name);
    g_free(vm->uuid);
    kt_cpuset_free(vm->affinity);
    g_ptr_array_unref(vm->numa_cells);
    g_ptr_array_unref(vm->hostpci);
    g_ptr_array_unref(vm->tags);
    g_free(vm);
}

guint
kt_pve_vm_max_vcpus(const KtPveVm *vm)
{
    return vm->sockets * vm->cores;
}

char *
kt_pve_vm_booking_id(guint vmid)
{
    return g_strdup_printf("pve:%u", vmid);
}

char *
kt_pve_mdev_uuid(guint vmid, guint index)
{
    return g_strdup_printf("%08u-0000-0000-0000-%012u", index, vmid);
}

static gboolean
parse_uint(guint vmid, const char *key, const char *text, guint64 min, guint64 max,
           guint64 *ret, GError **error)
{
    g_autoptr(GError) err = NULL;

    if (!g_ascii_string_to_unsigned(text, 10, min, max, ret, &err)) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "VM %u: key '%s': %s",
                    vmid, key, err->message);
        return FALSE;
    }
    return TRUE;
}

/* The value of @name in a Proxmox property string "a=1,b=2" (first match),
 * or, for @name NULL, a leading element without '='.  Caller frees. */
static char *
prop_get(const char *value, const char *name)
{
    g_auto(GStrv) parts = g_strsplit(value, ",", 64);
    gsize n = name ? strlen(name) : 0;
    guint i;

    for (i = 0; parts[i]; i++) {
        const char *p = parts[i];

        if (!name) {
            if (i == 0 && !strchr(p, '='))
                return g_strdup(p);
            continue;
        }
        if (strncmp(p, name, n) == 0 && p[n] == '=')
            return g_strdup(p + n + 1);
    }
    return NULL;
}

/* "[domain:]bus:dev[.func]" -> "dddd:bb:dd.f" (lower-case). */
static char *
pci_canon(const char *id, bool *ret_all_functions)
{
    g_auto(GStrv) parts = g_strsplit(id, ":", 4);
    guint n = g_strv_length(parts);
    guint64 dom = 0, bus, dev, fn = 0;
    const char *devfn;
    const char *dot;
    g_autofree char *devpart = NULL;

    if (n < 2 || n > 3)
        return NULL;
    if (n == 3 && (strlen(parts[0]) != 4 ||
                   !g_ascii_string_to_unsigned(parts[0], 16, 0, 0xffff, &dom, NULL)))
        return NULL;
    if (strlen(parts[n - 2]) != 2 ||
        !g_ascii_string_to_unsigned(parts[n - 2], 16, 0, 0xff, &bus, NULL))
        return NULL;
    devfn = parts[n - 1];
    dot = strchr(devfn, '.');
    devpart = dot ? g_strndup(devfn, dot - devfn) : g_strdup(devfn);
    if (strlen(devpart) != 2 ||
        !g_ascii_string_to_unsigned(devpart, 16, 0, 0x1f, &dev, NULL))
        return NULL;
    if (dot && (strlen(dot + 1) != 1 ||
                !g_ascii_string_to_unsigned(dot + 1, 16, 0, 7, &fn, NULL)))
        return NULL;
    *ret_all_functions = dot == NULL;
    return g_strdup_printf("%04x:%02x:%02x.%x", (guint)dom, (guint)bus, (guint)dev, (guint)fn);
}

KtPveHostpci *
kt_pve_hostpci_parse(const char *key, const char *value, GError **error)
{
    g_autoptr(KtPveHostpci) h = g_new0(KtPveHostpci, 1);
    g_autofree char *host = NULL;
    guint64 index = 0;

    if (!g_str_has_prefix(key, "hostpci") ||
        !g_ascii_string_to_unsigned(key + strlen("hostpci"), 10, 0,
                                    KT_PVE_MAX_HOSTPCI - 1, &index, NULL)) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "'%s' is not a hostpci key", key);
        return NULL;
    }
    h->key = g_strdup(key);
    h->index = (guint)index;
    h->mapping = prop_get(value, "mapping");
    h->mdev = prop_get(value, "mdev");
    host = prop_get(value, "host");
    if (!host)
        host = prop_get(value, NULL);
    if (host) {
        /* Several devices ("01:00.0;02:00.0") share one guest slot; the
         * first one decides the NUMA node. */
        g_auto(GStrv) ids = g_strsplit(host, ";", 2);

        h->address = ids[0] ? pci_canon(ids[0], &h->all_functions) : NULL;
        if (!h->address) {
            g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                        "%s: '%s' is not a PCI address", key, host);
            return NULL;
        }
    } else if (!h->mapping) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                    "%s: neither a host device nor a mapping", key);
        return NULL;
    }
    if (h->mdev && !h->mdev[0]) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "%s: empty mdev type", key);
        return NULL;
    }
    return g_steal_pointer(&h);
}

/* Proxmox lists ("0-3;8-9") use ';' where our cpusets use ','. */
static KtCpuset *
parse_pve_list(const char *text, GError **error)
{
    g_autofree char *list = g_strdup(text);

    g_strdelimit(list, ";", ',');
    return kt_cpuset_parse(list, error);
}

static void
numa_cell_free_ptr(KtPveNumaCell *c)
{
    numa_cell_free(c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtPveNumaCell, numa_cell_free_ptr)

static KtPveNumaCell *
parse_numa_cell(guint vmid, const char *key, guint index, const char *value,
                GError **error)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *cpus = prop_get(value, "cpus");
    g_autofree char *hostnodes = prop_get(value, "hostnodes");
    g_autofree char *memory = prop_get(value, "memory");
    g_autoptr(KtPveNumaCell) c = g_new0(KtPveNumaCell, 1);
    bool ok = true;

    c->index = index;
    if (cpus)
        ok = (c->cpus = parse_pve_list(cpus, &err)) != NULL;
    if (ok && hostnodes)
        ok = (c->hostnodes = parse_pve_list(hostnodes, &err)) != NULL;
    if (ok && memory)
        ok = g_ascii_string_to_unsigned(memory, 10, 1, MAX_MEMORY_MIB,
                                        &c->memory_mib, &err);
    if (!ok) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "VM %u: key '%s': %s",
                    vmid, key, err->message);
        return NULL;
    }
    if (!c->cpus)
        c->cpus = kt_cpuset_new();
    return g_steal_pointer(&c);
}

static gint
cmp_hostpci(gconstpointer a, gconstpointer b)
{
    const KtPveHostpci *x = *(KtPveHostpci *const *)a;
    const KtPveHostpci *y = *(KtPveHostpci *const *)b;

    return (gint)x->index - (gint)y->index;
}

static gint
cmp_numa(gconstpointer a, gconstpointer b)
{
    const KtPveNumaCell *x = *(KtPveNumaCell *const *)a;
    const KtPveNumaCell *y = *(KtPveNumaCell *const *)b;

    return (gint)x->index - (gint)y->index;
}

/* The running config, or the one the next start will use. */
typedef struct {
    const KtPveConf *conf;
    bool pending;
} View;

static bool
pending_deletes(const KtPveConf *conf, const char *key)
{
    const char *list = kt_pve_conf_get_in(conf, "PENDING", "delete");
    g_auto(GStrv) keys = NULL;
    guint i;

    if (!list)
        return false;
    keys = g_strsplit_set(list, ",;", -1);
    for (i = 0; keys[i]; i++) {
        const char *k = g_strstrip(keys[i]);

        if (k[0] == '!')      /* "!key": force delete */
            k++;
        if (strcmp(k, key) == 0)
            return true;
    }
    return false;
}

static const char *
view_get(const View *v, const char *key)
{
    const char *value;

    if (v->pending) {
        if ((value = kt_pve_conf_get_in(v->conf, "PENDING", key)))
            return value;
        if (pending_deletes(v->conf, key))
            return NULL;
    }
    return kt_pve_conf_get(v->conf, key);
}

static GPtrArray *
view_keys(const View *v)
{
    GPtrArray *keys = kt_pve_conf_list_keys(v->conf);
    g_autoptr(GPtrArray) pending = NULL;
    guint i, j;

    if (!v->pending)
        return keys;
    for (i = 0; i < keys->len;) {
        if (pending_deletes(v->conf, g_ptr_array_index(keys, i)))
            g_ptr_array_remove_index(keys, i);
        else
            i++;
    }
    pending = kt_pve_conf_list_keys_in(v->conf, "PENDING");
    for (i = 0; i < pending->len; i++) {
        const char *k = g_ptr_array_index(pending, i);
        bool seen = strcmp(k, "delete") == 0;

        for (j = 0; j < keys->len && !seen; j++)
            seen = strcmp(g_ptr_array_index(keys, j), k) == 0;
        if (!seen)
            g_ptr_array_add(keys, (gpointer)k);
    }
    return keys;
}

static KtPveVm *
vm_from_view(const View *view, guint vmid, GError **error)
{
    g_autoptr(KtPveVm) vm = g_new0(KtPveVm, 1);
    g_autoptr(GPtrArray) keys = NULL;
    const char *v;
    guint64 n;
    guint i;

    vm->vmid = vmid;
    vm->sockets = 1;
    vm->cores = 1;
    vm->memory_mib = 512;
    vm->numa_cells = g_ptr_array_new_with_free_func(numa_cell_free);
    vm->hostpci = g_ptr_array_new_with_free_func((GDestroyNotify)kt_pve_hostpci_free);
    vm->tags = g_ptr_array_new_with_free_func(g_free);

    v = view_get(view, "name");
    vm->name = v ? g_strdup(v) : g_strdup_printf("VM %u", vmid);

    if ((v = view_get(view, "smbios1"))) {
        g_autofree char *uuid = prop_get(v, "uuid");

        if (uuid && g_uuid_string_is_valid(uuid))
            vm->uuid = g_ascii_strdown(uuid, -1);
    }
    if ((v = view_get(view, "sockets"))) {
        if (!parse_uint(vmid, "sockets", v, 1, MAX_SOCKETS, &n, error))
            return NULL;
        vm->sockets = (guint)n;
    }
    if ((v = view_get(view, "cores"))) {
        if (!parse_uint(vmid, "cores", v, 1, MAX_CORES, &n, error))
            return NULL;
        vm->cores = (guint)n;
    }
    vm->vcpus = kt_pve_vm_max_vcpus(vm);
    if ((v = view_get(view, "vcpus"))) {
        if (!parse_uint(vmid, "vcpus", v, 1, kt_pve_vm_max_vcpus(vm), &n, error))
            return NULL;
        vm->vcpus = (guint)n;
    }
    if ((v = view_get(view, "memory"))) {
        /* "4096" or, since PVE 8.1, a property string "current=4096". */
        g_autofree char *current = strchr(v, '=') ? prop_get(v, "current") : g_strdup(v);

        if (!parse_uint(vmid, "memory", current ? current : "", 16, MAX_MEMORY_MIB,
                        &vm->memory_mib, error))
            return NULL;
    }
    if ((v = view_get(view, "numa")))
        vm->numa = strcmp(v, "1") == 0;
    if ((v = view_get(view, "hugepages"))) {
        if (strcmp(v, "2") == 0) {
            vm->hugepage_kib = 2048;
        } else if (strcmp(v, "1024") == 0) {
            vm->hugepage_kib = 1048576;
        } else if (strcmp(v, "any") == 0) {
            vm->hugepages_any = true;
        } else {
            g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                        "VM %u: key 'hugepages': '%s' is not any, 2 or 1024", vmid, v);
            return NULL;
        }
    }
    if ((v = view_get(view, "affinity"))) {
        g_autoptr(GError) err = NULL;

        if (!(vm->affinity = kt_cpuset_parse(v, &err))) {
            g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                        "VM %u: key 'affinity': %s", vmid, err->message);
            return NULL;
        }
    }
    if ((v = view_get(view, "tags"))) {
        g_auto(GStrv) tags = g_strsplit_set(v, ";, ", -1);

        for (i = 0; tags[i]; i++) {
            if (tags[i][0])
                g_ptr_array_add(vm->tags, g_strdup(tags[i]));
        }
    }

    keys = view_keys(view);
    for (i = 0; i < keys->len; i++) {
        const char *key = g_ptr_array_index(keys, i);
        guint64 index;

        if (g_str_has_prefix(key, "hostpci") &&
            g_ascii_string_to_unsigned(key + strlen("hostpci"), 10, 0,
                                       KT_PVE_MAX_HOSTPCI - 1, &index, NULL)) {
            g_autoptr(GError) err = NULL;
            KtPveHostpci *h = kt_pve_hostpci_parse(key, view_get(view, key), &err);

            if (!h) {
                g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "VM %u: %s", vmid, err->message);
                return NULL;
            }
            g_ptr_array_add(vm->hostpci, h);
        } else if (g_str_has_prefix(key, "numa") &&
                   g_ascii_string_to_unsigned(key + strlen("numa"), 10, 0,
                                              KT_PVE_MAX_NUMA - 1, &index, NULL) &&
                   strcmp(key, "numa") != 0) {
            KtPveNumaCell *c = parse_numa_cell(vmid, key, (guint)index,
                                               view_get(view, key), error);

            if (!c)
                return NULL;
            g_ptr_array_add(vm->numa_cells, c);
        }
    }
    g_ptr_array_sort(vm->hostpci, cmp_hostpci);
    g_ptr_array_sort(vm->numa_cells, cmp_numa);
    return g_steal_pointer(&vm);
}

KtPveVm *
kt_pve_vm_from_conf(const KtPveConf *conf, guint vmid, GError **error)
{
    View view = { conf, false };

    return vm_from_view(&view, vmid, error);
}

KtPveVm *
kt_pve_vm_from_conf_next_start(const KtPveConf *conf, guint vmid, GError **error)
{
    View view = { conf, true };

    return vm_from_view(&view, vmid, error);
}

KtRequest *
kt_pve_vm_to_request(const KtPveVm *vm, KtPveKeep keep)
{
    g_autoptr(KtRequest) req = kt_request_new();
    guint i;

    req->uuid = vm->uuid ? g_strdup(vm->uuid) : NULL;
    req->name = g_strdup(vm->name);
    req->domain_type = g_strdup("kvm");
    req->vcpus_max = kt_pve_vm_max_vcpus(vm);
    req->vcpus_current = vm->vcpus;
    req->memory_kib = vm->memory_mib * 1024;
    req->current_memory_kib = req->memory_kib;
    req->cpu_sockets = vm->sockets;
    req->cpu_cores = vm->cores;
    req->cpu_threads = 1;

    if ((keep & KT_PVE_KEEP_CPUS) && vm->affinity) {
        /* Proxmox's affinity applies to the whole process: every vCPU
         * may run anywhere in it, which is what <vcpu cpuset> says. */
        req->vcpu_cpuset = kt_cpuset_copy(vm->affinity);
        req->vcpu_placement = g_strdup("static");
    }
    if (keep & KT_PVE_KEEP_MEMORY) {
        if (vm->hugepage_kib > 0 || vm->hugepages_any) {
            req->has_hugepages = true;
            req->hugepage_kib = vm->hugepage_kib;
        }
        if (vm->numa && vm->numa_cells->len > 0) {
            req->ncpu_cells = vm->numa_cells->len;
            for (i = 0; i < vm->numa_cells->len; i++) {
                const KtPveNumaCell *c = g_ptr_array_index(vm->numa_cells, i);

                if (!c->hostnodes)
                    continue;
                if (!req->numatune_nodeset)
                    req->numatune_nodeset = kt_cpuset_new();
                kt_cpuset_union(req->numatune_nodeset, c->hostnodes);
                req->has_numatune = true;
            }
        }
    }

    for (i = 0; i < vm->hostpci->len; i++) {
        const KtPveHostpci *h = g_ptr_array_index(vm->hostpci, i);

        if (h->mdev) {
            KtRequestMdev *m = g_new0(KtRequestMdev, 1);

            m->uuid = kt_pve_mdev_uuid(vm->vmid, h->index);
            m->type = g_strdup(h->mdev);
            g_ptr_array_add(req->mdevs, m);
        } else if (h->address) {
            KtRequestPciDev *d = g_new0(KtRequestPciDev, 1);

            d->address = g_strdup(h->address);
            g_ptr_array_add(req->pci_devs, d);
        }
    }
    return g_steal_pointer(&req);
}

gboolean
kt_pve_vm_find_profile(const KtPveVm *vm, const KtPolicy *policy,
                       const KtPolicyProfile **ret_profile, char **ret_reason,
                       GError **error)
{
    const KtPolicyProfile *profile = NULL;
    const KtPolicyMatch *rule;
    guint i;

    for (i = 0; i < vm->tags->len; i++) {
        const char *tag = g_ptr_array_index(vm->tags, i);
        const char *name;

        if (!g_str_has_prefix(tag, "kvmtune-"))
            continue;
        name = tag + strlen("kvmtune-");
        if (strcmp(name, "none") != 0 && !(profile = kt_policy_find_profile(policy, name))) {
            g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                        "VM %u: tag '%s' names no profile of policy %s",
                        vm->vmid, tag, policy->path ? policy->path : "(inline)");
            return FALSE;
        }
        *ret_profile = profile;
        if (ret_reason)
            *ret_reason = g_strdup_printf("tag '%s'", tag);
        return TRUE;
    }

    /* No flavor and no extra specs: only name and default rules apply. */
    rule = kt_policy_match(policy, NULL, vm->name, NULL, &profile);
    *ret_profile = rule ? profile : NULL;
    if (ret_reason) {
        if (rule)
            *ret_reason = g_strdup_printf("%s:%u: match rule", policy->path ? policy->path : "policy",
                                          rule->line);
        else
            *ret_reason = g_strdup("no tag kvmtune-<profile> and no match rule");
    }
    return TRUE;
}
