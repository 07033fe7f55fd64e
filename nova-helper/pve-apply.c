/* pve-apply.c: KtPlacement -> Proxmox native options. */
#include "pve-apply.h"
#include "kt-error.h"

#include <string.h>

char *
kt_pve_format_list(const KtCpuset *set)
{
    char *text = kt_cpuset_format(set);

    g_strdelimit(text, ",", ';');
    return text;
}

/* The CPUs the whole QEMU process may use: the vCPU pins (or the shared
 * pool) and the emulator set.  NULL when the placement leaves CPUs alone. */
static KtCpuset *
process_cpus(const KtPlacement *pl)
{
    g_autoptr(KtCpuset) cpus = kt_cpuset_new();
    guint i;

    switch (pl->cpu_policy) {
    case KT_CPU_POLICY_DEDICATED:
        for (i = 0; i < pl->nvcpus && pl->vcpu_pins; i++) {
            if (pl->vcpu_pins[i])
                kt_cpuset_union(cpus, pl->vcpu_pins[i]);
        }
        break;
    case KT_CPU_POLICY_SHARED:
        if (pl->shared_cpus)
            kt_cpuset_union(cpus, pl->shared_cpus);
        break;
    case KT_CPU_POLICY_NONE:
    case KT_CPU_POLICY_LAST:
        return NULL;
    }
    if (pl->emulator_cpus)
        kt_cpuset_union(cpus, pl->emulator_cpus);
    if (kt_cpuset_is_empty(cpus))
        return NULL;
    return g_steal_pointer(&cpus);
}

static gboolean
set_numa(KtPveConf *conf, const KtPveVm *vm, const KtPlacement *pl, GError **error)
{
    guint ncells = 0;
    guint i;

    if (pl->ncells > 0) {
        for (i = 0; i < pl->ncells && i < KT_PVE_MAX_NUMA; i++) {
            const KtPlacementCell *c = &pl->cells[i];
            g_autofree char *cpus = kt_pve_format_list(c->vcpus);
            g_autofree char *key = g_strdup_printf("numa%u", i);
            g_autofree char *value =
                g_strdup_printf("cpus=%s,hostnodes=%u,memory=%" G_GUINT64_FORMAT ",policy=bind",
                                cpus, c->host_node, c->memory_kib / 1024);

            if (!kt_pve_conf_set(conf, key, value, error))
                return FALSE;
        }
        if (pl->ncells > KT_PVE_MAX_NUMA) {
            g_set_error(error, KT_ERROR, KT_ERROR_UNSUPPORTED,
                        "VM %u: %u guest NUMA cells, Proxmox allows %d",
                        vm->vmid, pl->ncells, KT_PVE_MAX_NUMA);
            return FALSE;
        }
        ncells = pl->ncells;
    } else if (pl->nodes && !kt_cpuset_is_empty(pl->nodes)) {
        /* One guest cell bound to the chosen host node(s). */
        g_autofree char *nodes = kt_pve_format_list(pl->nodes);
        guint max = kt_pve_vm_max_vcpus(vm);
        g_autofree char *cpus = max > 1 ? g_strdup_printf("0-%u", max - 1) : g_strdup("0");
        g_autofree char *value =
            g_strdup_printf("cpus=%s,hostnodes=%s,memory=%" G_GUINT64_FORMAT ",policy=bind",
                            cpus, nodes, vm->memory_mib);

        if (!kt_pve_conf_set(conf, "numa0", value, error))
            return FALSE;
        ncells = 1;
    } else {
        return TRUE;
    }
    for (i = ncells; i < KT_PVE_MAX_NUMA; i++) {
        g_autofree char *key = g_strdup_printf("numa%u", i);

        kt_pve_conf_remove(conf, key);
    }
    return kt_pve_conf_set(conf, "numa", "1", error);
}

static gboolean
set_hugepages(KtPveConf *conf, const KtPveVm *vm, const KtPlacement *pl, GError **error)
{
    const char *size;

    if (pl->hugepage_kib == 0)
        return TRUE;
    if (pl->hugepage_kib == 2048) {
        size = "2";
    } else if (pl->hugepage_kib == 1048576) {
        size = "1024";
    } else {
        g_set_error(error, KT_ERROR, KT_ERROR_UNSUPPORTED,
                    "VM %u: Proxmox has no %" G_GUINT64_FORMAT " KiB hugepages (2 MiB or 1 GiB only)",
                    vm->vmid, pl->hugepage_kib);
        return FALSE;
    }
    /* Proxmox refuses to start a VM with hugepages but without numa. */
    return kt_pve_conf_set(conf, "hugepages", size, error) &&
           kt_pve_conf_set(conf, "numa", "1", error);
}

static const KtPveHostpci *
find_hostpci(const GPtrArray *list, const char *address)
{
    guint i;

    for (i = 0; i < list->len; i++) {
        const KtPveHostpci *h = g_ptr_array_index(list, i);

        if (h->address && strcmp(h->address, address) == 0)
            return h;
    }
    return NULL;
}

/* @value with its mdev= element set to @type (other elements kept). */
static char *
with_mdev(const char *value, const char *type)
{
    g_auto(GStrv) parts = g_strsplit(value, ",", 64);
    g_autoptr(GString) out = g_string_new(NULL);
    bool done = false;
    guint i;

    for (i = 0; parts[i]; i++) {
        if (out->len > 0)
            g_string_append_c(out, ',');
        if (g_str_has_prefix(parts[i], "mdev=")) {
            if (done) {
                g_string_truncate(out, out->len - 1);
                continue;
            }
            g_string_append_printf(out, "mdev=%s", type);
            done = true;
        } else {
            g_string_append(out, parts[i]);
        }
    }
    if (!done)
        g_string_append_printf(out, ",mdev=%s", type);
    return g_string_free(g_steal_pointer(&out), FALSE);
}

static gboolean
add_hostpci(KtPveConf *conf, const KtPveVm *vm, const char *value, GError **error)
{
    guint i;

    for (i = 0; i < KT_PVE_MAX_HOSTPCI; i++) {
        g_autofree char *key = g_strdup_printf("hostpci%u", i);

        if (!kt_pve_conf_get(conf, key))
            return kt_pve_conf_set(conf, key, value, error);
    }
    g_set_error(error, KT_ERROR, KT_ERROR_NO_CAPACITY,
                "VM %u: no free hostpci slot for %s (Proxmox allows %d)",
                vm->vmid, value, KT_PVE_MAX_HOSTPCI);
    return FALSE;
}

static gboolean
set_devices(KtPveConf *conf, const KtPveVm *vm, const KtPlacement *pl, GError **error)
{
    guint i;

    for (i = 0; pl->mdevs && i < pl->mdevs->len; i++) {
        const KtPlacementMdev *m = g_ptr_array_index(pl->mdevs, i);
        const KtPveHostpci *h = find_hostpci(vm->hostpci, m->parent);

        if (h) {
            g_autofree char *value = with_mdev(kt_pve_conf_get(conf, h->key), m->type);

            if (!kt_pve_conf_set(conf, h->key, value, error))
                return FALSE;
        } else {
            g_autofree char *value = g_strdup_printf("%s,mdev=%s", m->parent, m->type);

            if (!add_hostpci(conf, vm, value, error))
                return FALSE;
        }
    }
    for (i = 0; pl->gpus && i < pl->gpus->len; i++) {
        const KtPlacementGpu *g = g_ptr_array_index(pl->gpus, i);

        if (!find_hostpci(vm->hostpci, g->address) &&
            !add_hostpci(conf, vm, g->address, error))
            return FALSE;
    }
    for (i = 0; pl->vfs && i < pl->vfs->len; i++) {
        const KtPlacementVf *vf = g_ptr_array_index(pl->vfs, i);

        if (!find_hostpci(vm->hostpci, vf->vf) && !add_hostpci(conf, vm, vf->vf, error))
            return FALSE;
    }
    return TRUE;
}

gboolean
kt_pve_apply_placement(KtPveConf *conf, const KtPveVm *vm, const KtPlacement *pl,
                       GError **error)
{
    g_autoptr(KtCpuset) cpus = process_cpus(pl);

    if (cpus) {
        g_autofree char *text = kt_cpuset_format(cpus);

        if (!kt_pve_conf_set(conf, "affinity", text, error))
            return FALSE;
    }
    return set_numa(conf, vm, pl, error) &&
           set_hugepages(conf, vm, pl, error) &&
           set_devices(conf, vm, pl, error);
}
