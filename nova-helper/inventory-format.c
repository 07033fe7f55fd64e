/* inventory-format.c: KtInventory as a human table and as the stable JSON
 * document described in nova-helper/README.md ("Inventory JSON schema").
 * Pure: structs in, text out.
 *
 * JSON is written by hand (no JSON library among our dependencies); every
 * string goes through json_string(), which escapes per RFC 8259. */
#include <string.h>

#include "inventory.h"
#include "json-out.h"

#define KT_INVENTORY_JSON_VERSION 1

/* --- JSON ------------------------------------------------------------------ */

static void
json_string(GString *out, const char *s)
{
    const unsigned char *p;

    if (!s) {
        g_string_append(out, "null");
        return;
    }
    g_string_append_c(out, '"');
    for (p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            g_string_append(out, "\\\"");
            break;
        case '\\':
            g_string_append(out, "\\\\");
            break;
        case '\n':
            g_string_append(out, "\\n");
            break;
        case '\r':
            g_string_append(out, "\\r");
            break;
        case '\t':
            g_string_append(out, "\\t");
            break;
        default:
            /* Control characters as \u00XX; bytes >= 0x80 are passed
             * through when the string is valid UTF-8 (checked below). */
            if (*p < 0x20 || *p == 0x7f)
                g_string_append_printf(out, "\\u%04x", *p);
            else
                g_string_append_c(out, (char)*p);
            break;
        }
    }
    g_string_append_c(out, '"');
}

/* Strings from sysfs are bytes; JSON needs UTF-8.  Invalid sequences become
 * U+FFFD rather than producing an unparsable document. */
static void
json_text(GString *out, const char *s)
{
    g_autofree char *valid = NULL;

    if (s && !g_utf8_validate(s, -1, NULL)) {
        valid = g_utf8_make_valid(s, -1);
        s = valid;
    }
    json_string(out, s);
}

static void
json_strv(GString *out, const GPtrArray *arr)
{
    guint i;

    g_string_append_c(out, '[');
    for (i = 0; arr && i < arr->len; i++) {
        if (i)
            g_string_append_c(out, ',');
        json_text(out, g_ptr_array_index(arr, i));
    }
    g_string_append_c(out, ']');
}

static const char *
json_bool(bool b)
{
    return b ? "true" : "false";
}

static void
json_nodes(GString *out, const KtInventory *inv)
{
    guint i, j;

    g_string_append(out, "  \"nodes\": [");
    for (i = 0; i < inv->nodes->len; i++) {
        const KtInvNode *n = &g_array_index(inv->nodes, KtInvNode, i);

        g_string_append_printf(out, "%s\n    {\"id\": %u, \"cpus\": ", i ? "," : "", n->id);
        kt_json_cpuset(out, n->cpus);
        g_string_append_printf(out, ",\n     \"memory_total_kib\": %" G_GUINT64_FORMAT
                               ", \"memory_free_kib\": %" G_GUINT64_FORMAT ", \"distances\": [",
                               n->memory_total_kib, n->memory_free_kib);
        for (j = 0; j < n->ndistances; j++)
            g_string_append_printf(out, "%s%u", j ? "," : "", n->distances[j]);
        g_string_append(out, "],\n     \"hugepages\": [");
        for (j = 0; j < n->hugepages->len; j++) {
            const KtInvHugepages *h = &g_array_index(n->hugepages, KtInvHugepages, j);

            g_string_append_printf(out, "%s{\"size_kib\": %" G_GUINT64_FORMAT
                                   ", \"total\": %" G_GUINT64_FORMAT
                                   ", \"free\": %" G_GUINT64_FORMAT
                                   ", \"surplus\": %" G_GUINT64_FORMAT "}",
                                   j ? ", " : "", h->size_kib, h->total, h->free, h->surplus);
        }
        g_string_append(out, "]}");
    }
    g_string_append(out, "\n  ],\n");
}

static void
json_cpus(GString *out, const KtInventory *inv)
{
    guint i;

    g_string_append(out, "  \"cpus\": [");
    for (i = 0; i < inv->cpus->len; i++) {
        const KtInvCpu *c = &g_array_index(inv->cpus, KtInvCpu, i);

        g_string_append_printf(out, "%s\n    {\"id\": %u, \"node\": %d, \"package\": %d, "
                               "\"core\": %d, \"siblings\": ",
                               i ? "," : "", c->id, c->node, c->package, c->core);
        kt_json_cpuset(out, c->siblings);
        g_string_append_printf(out, ", \"online\": %s, \"isolated\": %s, \"nohz_full\": %s}",
                               json_bool(c->online), json_bool(c->isolated),
                               json_bool(c->nohz_full));
    }
    g_string_append(out, "\n  ],\n");
}

static void
json_pci(GString *out, const KtInventory *inv)
{
    guint i;

    g_string_append(out, "  \"pci_devices\": [");
    for (i = 0; i < inv->pci_devs->len; i++) {
        const KtInvPciDev *d = g_ptr_array_index(inv->pci_devs, i);

        g_string_append_printf(out, "%s\n    {\"address\": ", i ? "," : "");
        json_text(out, d->address);
        g_string_append_printf(out, ", \"node\": %d, \"class\": \"0x%06x\", "
                               "\"vendor_id\": \"0x%04x\", \"device_id\": \"0x%04x\",\n"
                               "     \"vendor_name\": ",
                               d->node, d->class_code, d->vendor_id, d->device_id);
        json_text(out, d->vendor_name);
        g_string_append(out, ", \"device_name\": ");
        json_text(out, d->device_name);
        g_string_append(out, ",\n     \"driver\": ");
        json_text(out, d->driver);
        g_string_append_printf(out, ", \"iommu_group\": %d, \"physfn\": ", d->iommu_group);
        json_text(out, d->physfn);
        g_string_append_c(out, '}');
    }
    g_string_append(out, "\n  ],\n");
}

static void
json_sriov(GString *out, const KtInventory *inv)
{
    guint i;

    g_string_append(out, "  \"sriov_pfs\": [");
    for (i = 0; i < inv->sriov_pfs->len; i++) {
        const KtInvSriovPf *pf = g_ptr_array_index(inv->sriov_pfs, i);

        g_string_append_printf(out, "%s\n    {\"address\": ", i ? "," : "");
        json_text(out, pf->address);
        g_string_append_printf(out, ", \"node\": %d, \"netdev\": ", pf->node);
        json_text(out, pf->netdev);
        g_string_append(out, ", \"link_state\": ");
        json_text(out, pf->link_state);
        g_string_append_printf(out, ", \"totalvfs\": %u, \"numvfs\": %u,\n     \"vfs\": ",
                               pf->totalvfs, pf->numvfs);
        json_strv(out, pf->vfs);
        g_string_append(out, ",\n     \"vf_drivers\": ");
        json_strv(out, pf->vf_drivers);
        g_string_append_c(out, '}');
    }
    g_string_append(out, "\n  ],\n");
}

static void
json_mdev(GString *out, const KtInventory *inv)
{
    guint i, j;

    g_string_append(out, "  \"mdev_parents\": [");
    for (i = 0; i < inv->mdev_parents->len; i++) {
        const KtInvMdevParent *m = g_ptr_array_index(inv->mdev_parents, i);

        g_string_append_printf(out, "%s\n    {\"address\": ", i ? "," : "");
        json_text(out, m->address);
        g_string_append_printf(out, ", \"node\": %d, \"devices\": ", m->node);
        json_strv(out, m->devices);
        g_string_append(out, ", \"types\": [");
        for (j = 0; j < m->types->len; j++) {
            const KtInvMdevType *t = g_ptr_array_index(m->types, j);

            g_string_append(out, j ? ",\n       {\"id\": " : "\n       {\"id\": ");
            json_text(out, t->id);
            g_string_append(out, ", \"name\": ");
            json_text(out, t->name);
            g_string_append(out, ", \"device_api\": ");
            json_text(out, t->device_api);
            g_string_append_printf(out, ", \"available\": %u, \"devices\": ", t->available);
            json_strv(out, t->devices);
            g_string_append_c(out, '}');
        }
        g_string_append(out, "]}");
    }
    g_string_append(out, "\n  ],\n");
}

char *
kt_inventory_format_json(const KtInventory *inv)
{
    GString *out = g_string_sized_new(64 * 1024);

    g_string_append_printf(out, "{\n  \"version\": %d,\n  \"sysroot\": ",
                           KT_INVENTORY_JSON_VERSION);
    json_text(out, inv->sysroot);
    g_string_append(out, ",\n  \"online\": ");
    kt_json_cpuset(out, inv->online);
    g_string_append(out, ",\n  \"isolated\": ");
    kt_json_cpuset(out, inv->isolated);
    g_string_append(out, ",\n  \"nohz_full\": ");
    kt_json_cpuset(out, inv->nohz_full);
    g_string_append_printf(out, ",\n  \"numa_checked\": %s,\n", json_bool(inv->numa_checked));
    json_nodes(out, inv);
    json_cpus(out, inv);
    json_pci(out, inv);
    json_sriov(out, inv);
    json_mdev(out, inv);
    g_string_append(out, "  \"warnings\": ");
    json_strv(out, inv->warnings);
    g_string_append(out, "\n}\n");
    return g_string_free(out, FALSE);
}

/* --- human table --------------------------------------------------------------- */

static char *
size_text(guint64 kib)
{
    if (kib >= 1024 * 1024 && kib % (1024 * 1024) == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT "G", kib / (1024 * 1024));
    if (kib >= 1024 && kib % 1024 == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT "M", kib / 1024);
    return g_strdup_printf("%" G_GUINT64_FORMAT "K", kib);
}

static char *
gib_text(guint64 kib)
{
    return g_strdup_printf("%.1f GiB", (double)kib / (1024.0 * 1024.0));
}

static guint
count_cores(const KtInventory *inv, const KtCpuset *cpus)
{
    g_autoptr(KtCpuset) seen = kt_cpuset_new();
    guint cores = 0;
    int i;

    /* A core is counted at its lowest-numbered thread. */
    for (i = kt_cpuset_first(cpus); i >= 0; i = kt_cpuset_next(cpus, (guint)i + 1)) {
        const KtInvCpu *c = kt_inventory_cpu(inv, (guint)i);

        if (kt_cpuset_has(seen, (guint)i))
            continue;
        cores++;
        if (c && c->siblings)
            kt_cpuset_union(seen, c->siblings);
    }
    return cores;
}

static const char *
or_dash(const char *s)
{
    return s ? s : "-";
}

static bool
is_bridge_or_vf(const KtInvPciDev *d)
{
    guint32 cls = d->class_code >> 8;

    return d->physfn || cls == 0x0600 || cls == 0x0604 || cls == 0x0880;
}

static void
text_devices(GString *out, const KtInventory *inv, int node, GHashTable *physnets)
{
    guint i, j;

    for (i = 0; i < inv->sriov_pfs->len; i++) {
        const KtInvSriovPf *pf = g_ptr_array_index(inv->sriov_pfs, i);
        const KtInvPciDev *d = kt_inventory_find_pci(inv, pf->address);
        const char *physnet;
        guint vfio = 0;

        if (pf->node != node)
            continue;
        for (j = 0; j < pf->vf_drivers->len; j++) {
            const char *drv = g_ptr_array_index(pf->vf_drivers, j);

            if (drv && strcmp(drv, "vfio-pci") == 0)
                vfio++;
        }
        physnet = physnets ? g_hash_table_lookup(physnets, pf->address) : NULL;
        g_string_append_printf(out, "  SR-IOV PF  %s %s (%s) %s: %u/%u VFs, %u on vfio-pci%s%s\n",
                               pf->address, or_dash(pf->netdev), or_dash(pf->link_state),
                               or_dash(d ? d->device_name : NULL), pf->numvfs, pf->totalvfs,
                               vfio, physnet ? ", physnet " : "", physnet ? physnet : "");
    }
    for (i = 0; i < inv->mdev_parents->len; i++) {
        const KtInvMdevParent *m = g_ptr_array_index(inv->mdev_parents, i);
        const KtInvPciDev *d = kt_inventory_find_pci(inv, m->address);

        if (m->node != node)
            continue;
        g_string_append_printf(out, "  GPU        %s %s, %u mdev(s) created\n", m->address,
                               or_dash(d ? d->device_name : NULL), m->devices->len);
        for (j = 0; j < m->types->len; j++) {
            const KtInvMdevType *t = g_ptr_array_index(m->types, j);

            g_string_append_printf(out, "             %-12s %-20s %u free\n",
                                   t->id, or_dash(t->name), t->available);
        }
    }
    for (i = 0; i < inv->pci_devs->len; i++) {
        const KtInvPciDev *d = g_ptr_array_index(inv->pci_devs, i);

        if (d->node != node || is_bridge_or_vf(d) || kt_inventory_find_pf(inv, d->address) ||
            kt_inventory_find_mdev_parent(inv, d->address))
            continue;
        /* Display controllers (class 0x03) are what whole-GPU passthrough
         * hands out: call them GPUs like the mdev parents above. */
        g_string_append_printf(out, "  %-10s %s %s %s [%s]\n",
                               (d->class_code >> 16) == 0x03 ? "GPU" : "device", d->address,
                               or_dash(d->vendor_name), or_dash(d->device_name),
                               or_dash(d->driver));
    }
}

char *
kt_inventory_format_text(const KtInventory *inv)
{
    return kt_inventory_format_text_physnets(inv, NULL);
}

char *
kt_inventory_format_text_physnets(const KtInventory *inv, GHashTable *pf_physnets)
{
    GString *out = g_string_new(NULL);
    g_autofree char *online = kt_cpuset_format(inv->online);
    g_autofree char *isolated = kt_cpuset_format(inv->isolated);
    g_autofree char *nohz = kt_cpuset_format(inv->nohz_full);
    bool orphans = false;
    guint i, j;

    g_string_append_printf(out, "Host %s: %u NUMA node(s), %u CPUs online (%s), %u cores\n",
                           inv->sysroot, inv->nodes->len, kt_cpuset_count(inv->online),
                           online, count_cores(inv, inv->online));
    g_string_append_printf(out, "Isolated CPUs: %s; nohz_full: %s\n",
                           isolated[0] ? isolated : "none", nohz[0] ? nohz : "none");
    for (i = 0; i < inv->nodes->len; i++) {
        const KtInvNode *n = &g_array_index(inv->nodes, KtInvNode, i);
        g_autofree char *cpus = kt_cpuset_format(n->cpus);
        g_autofree char *total = gib_text(n->memory_total_kib);
        g_autofree char *free_mem = gib_text(n->memory_free_kib);

        g_string_append_printf(out, "\nNode %u\n  CPUs       %s (%u CPUs, %u cores)\n",
                               n->id, cpus, kt_cpuset_count(n->cpus), count_cores(inv, n->cpus));
        g_string_append_printf(out, "  memory     %s total, %s free\n", total, free_mem);
        if (n->hugepages->len == 0)
            g_string_append(out, "  hugepages  none\n");
        for (j = 0; j < n->hugepages->len; j++) {
            const KtInvHugepages *h = &g_array_index(n->hugepages, KtInvHugepages, j);
            g_autofree char *sz = size_text(h->size_kib);

            g_string_append_printf(out, "  hugepages  %-5s %" G_GUINT64_FORMAT " total, %"
                                   G_GUINT64_FORMAT " free, %" G_GUINT64_FORMAT " surplus\n",
                                   sz, h->total, h->free, h->surplus);
        }
        if (n->ndistances) {
            g_string_append(out, "  distances ");
            for (j = 0; j < n->ndistances; j++)
                g_string_append_printf(out, " %u", n->distances[j]);
            g_string_append_c(out, '\n');
        }
        text_devices(out, inv, (int)n->id, pf_physnets);
    }
    for (i = 0; i < inv->pci_devs->len; i++) {
        const KtInvPciDev *d = g_ptr_array_index(inv->pci_devs, i);

        if (d->node < 0 && !is_bridge_or_vf(d))
            orphans = true;
    }
    if (orphans) {
        g_string_append(out, "\nNo NUMA node\n");
        text_devices(out, inv, -1, pf_physnets);
    }
    if (inv->warnings->len) {
        g_string_append_printf(out, "\nWarnings (%u)\n", inv->warnings->len);
        for (i = 0; i < inv->warnings->len; i++)
            g_string_append_printf(out, "  %s\n", (char *)g_ptr_array_index(inv->warnings, i));
    }
    return g_string_free(out, FALSE);
}
