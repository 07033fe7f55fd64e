/* domain-apply.c: write a KtPlacement into a domain, and take it out again.
 *
 * Apply first strips what kvmtune wrote before (so applying twice is
 * applying once), then looks at what the definition still has: tuning that
 * Nova (or an admin) wrote wins unless the placement says override, and is
 * reported so the caller can book it.  It only ever touches the parts it
 * owns, each created where libvirt would format it and indented like its
 * neighbours; the <kvmtune:placement> metadata records which parts those
 * were ("kept" lists the ones left to Nova), which is what strip reads. */
#include "domain-priv.h"
#include "kt-error.h"

#include <string.h>

#define ALIAS_PREFIX "ua-kvmtune-"

static const char *const cputune_order[] = {
    "shares", "period", "quota", "global_period", "global_quota",
    "emulator_period", "emulator_quota", "iothread_period", "iothread_quota",
    "vcpupin", "emulatorpin", "iothreadpin", "vcpusched", "iothreadsched",
    "emulatorsched", "cachetune", "memorytune", NULL,
};
static const char *const numatune_order[] = { "memory", "memnode", NULL };
static const char *const membacking_order[] = {
    "hugepages", "nosharepages", "locked", "source", "access", "allocation",
    "discard", NULL,
};
static const char *const cpu_order[] = {
    "model", "vendor", "topology", "cache", "maxphysaddr", "feature", "numa", NULL,
};

/* Parts of a domain kvmtune may own; the words of the "kept" attribute. */
typedef enum {
    PART_CPU_PINNING,
    PART_NUMATUNE,
    PART_HUGEPAGES,
    PART_GUEST_NUMA,
    PART_CPU_TOPOLOGY,
    PART_LAST
} Part;

static const char *const part_names[PART_LAST] = {
    "cpu-pinning", "numatune", "hugepages", "guest-numa", "cpu-topology",
};

static bool
part_written(const KtPlacement *pl, Part p)
{
    switch (p) {
    case PART_CPU_PINNING:
        return pl->cpu_policy != KT_CPU_POLICY_NONE || pl->emulator_cpus;
    case PART_NUMATUNE:
        return pl->nodes != NULL;
    case PART_HUGEPAGES:
        return pl->hugepage_kib != 0;
    case PART_GUEST_NUMA:
        return pl->ncells != 0;
    case PART_CPU_TOPOLOGY:
        return pl->threads_per_core != 0;
    case PART_LAST:
    default:
        return false;
    }
}

static bool
has_word(const char *list, const char *word)
{
    g_auto(GStrv) words = NULL;
    guint i;

    if (!list)
        return false;
    words = g_strsplit(list, " ", -1);
    for (i = 0; words[i]; i++) {
        if (strcmp(words[i], word) == 0)
            return true;
    }
    return false;
}

/* Removes @node when nothing but blanks is left in it and it carries no
 * attribute: an owned container (cputune, numatune, ...) kvmtune emptied.
 * A container the input had with attributes stays, emptied. */
void
kt_domain_drop_if_empty(xmlNode *node)
{
    if (!node || !kt_xml_is_blank(node))
        return;
    if (node->properties) {
        kt_xml_make_empty(node);
        return;
    }
    kt_xml_node_remove(node);
}

/* <cpu><topology> attributes libvirt knows: the only ones a record of a
 * replaced topology may carry (the metadata is hostile input). */
static const char *const topology_attrs[] = {
    "sockets", "dies", "clusters", "cores", "threads", NULL,
};

static bool
is_topology_attr(const char *name)
{
    guint i;

    for (i = 0; topology_attrs[i]; i++) {
        if (strcmp(topology_attrs[i], name) == 0)
            return true;
    }
    return false;
}

/* The <kvmtune:topology> child of the placement: the input's own
 * <cpu><topology> that apply replaced (Nova writes one for every guest),
 * so that strip can put it back. */
static xmlNode *
topology_record(xmlNode *placement)
{
    xmlNode *c;

    for (c = placement ? placement->children : NULL; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && c->ns && c->ns->href &&
            strcmp((const char *)c->ns->href, KT_PLACEMENT_NS) == 0 &&
            strcmp((const char *)c->name, "topology") == 0)
            return c;
    }
    return NULL;
}

/* What a topology record may hold, and so what strip writes back: known
 * attributes with plain numbers (the metadata is hostile input). */
static bool
topology_attr_restorable(const xmlAttr *a, const char *value)
{
    return !a->ns && value && is_topology_attr((const char *)a->name) &&
           g_ascii_string_to_unsigned(value, 10, 1, 65535, NULL, NULL);
}

/* Records the topology apply replaces.  Nothing restorable, no record: an
 * empty one would be written once and, restoring nothing, never again,
 * and apply would stop being idempotent. */
static void
record_topology(xmlNode *placement, xmlNode *topo)
{
    xmlNode *rec = xmlNewChild(placement, placement->ns, BAD_CAST "topology", NULL);
    xmlAttr *a;

    for (a = topo->properties; a; a = a->next) {
        g_autofree char *v = kt_xml_prop(topo, (const char *)a->name);

        if (topology_attr_restorable(a, v))
            kt_xml_prop_set(rec, (const char *)a->name, v);
    }
    if (!rec->properties) {
        xmlUnlinkNode(rec);
        xmlFreeNode(rec);
    }
}

/* Writes back the topology @record says apply replaced, attributes in
 * their order. */
static void
restore_topology(xmlNode *cpu, xmlNode *record)
{
    xmlNode *topo;
    xmlAttr *a;

    if (!record)
        return;
    topo = kt_xml_new(cpu->doc, NULL, "topology");
    for (a = record->properties; a; a = a->next) {
        g_autofree char *v = kt_xml_prop(record, (const char *)a->name);

        if (topology_attr_restorable(a, v))
            kt_xml_prop_set(topo, (const char *)a->name, v);
    }
    if (!topo->properties) {
        xmlFreeNode(topo);
        return;
    }
    kt_xml_child_add(cpu, cpu_order, topo);
}

static void
remove_part(xmlNode *root, const KtPlacement *pl, Part p, bool drop, const char *created,
            xmlNode *record)
{
    xmlNode *n;

    switch (p) {
    case PART_CPU_PINNING:
        /* only what the placement wrote: an emulator-only placement left
         * the vCPU pins (Nova's, under override) alone */
        if (pl->cpu_policy != KT_CPU_POLICY_NONE && (n = kt_xml_child(root, "vcpu"))) {
            kt_xml_prop_remove(n, "cpuset");
            /* kvmtune wrote <vcpu>1</vcpu>, libvirt's default, to hold cpuset */
            if (has_word(created, "vcpu"))
                kt_xml_node_remove(n);
        }
        if ((n = kt_xml_child(root, "cputune"))) {
            if (pl->cpu_policy != KT_CPU_POLICY_NONE)
                kt_xml_children_remove(n, "vcpupin");
            if (pl->emulator_cpus)
                kt_xml_children_remove(n, "emulatorpin");
            if (drop)
                kt_domain_drop_if_empty(n);
        }
        break;
    case PART_NUMATUNE:
        if ((n = kt_xml_child(root, "numatune"))) {
            kt_xml_children_remove(n, "memory");
            kt_xml_children_remove(n, "memnode");
            if (drop)
                kt_domain_drop_if_empty(n);
        }
        break;
    case PART_HUGEPAGES:
        if ((n = kt_xml_child(root, "memoryBacking"))) {
            kt_xml_children_remove(n, "hugepages");
            if (drop)
                kt_domain_drop_if_empty(n);
        }
        break;
    case PART_GUEST_NUMA:
        if ((n = kt_xml_child(root, "cpu"))) {
            kt_xml_children_remove(n, "numa");
            if (drop)
                kt_domain_drop_if_empty(n);
        }
        break;
    case PART_CPU_TOPOLOGY:
        if ((n = kt_xml_child(root, "cpu"))) {
            kt_xml_children_remove(n, "topology");
            restore_topology(n, record);
            if (drop)
                kt_domain_drop_if_empty(n);
        }
        break;
    case PART_LAST:
    default:
        break;
    }
}

static bool
is_kvmtune_device(xmlNode *dev)
{
    xmlNode *alias = kt_xml_child(dev, "alias");
    g_autofree char *name = alias ? kt_xml_prop(alias, "name") : NULL;

    return name && g_str_has_prefix(name, ALIAS_PREFIX);
}

/* @drop_containers false: leave emptied containers where they are, so
 * that apply refills them in place (a container Nova put in its own order
 * must not move on the second apply). */
static void
strip(KtDomain *dom, bool drop_containers)
{
    xmlNode *root = xmlDocGetRootElement(dom->doc);
    xmlNode *node = kt_domain_find_placement(dom);
    xmlNode *devices = kt_xml_child(root, "devices");
    xmlNode *c;
    xmlNode *next;

    if (node) {
        g_autofree char *kept = NULL;
        g_autofree char *created = NULL;
        g_autoptr(KtPlacement) pl = kt_placement_from_node(node, &kept, &created, NULL);
        xmlNode *meta = node->parent;
        int p;

        /* unreadable metadata: we cannot tell what was ours; keep tuning */
        for (p = 0; pl && p < PART_LAST; p++) {
            if (part_written(pl, p) && !has_word(kept, part_names[p]))
                remove_part(root, pl, p, drop_containers, created, topology_record(node));
        }
        /* all of them: a hand-made definition may carry more than one */
        while (node) {
            kt_xml_node_remove(node);
            node = kt_domain_find_placement(dom);
        }
        if (drop_containers && kt_xml_is_blank(meta))
            kt_xml_node_remove(meta);
    }
    for (c = devices ? devices->children : NULL; c; c = next) {
        next = c->next;
        if ((kt_xml_is(c, "interface") || kt_xml_is(c, "hostdev")) &&
            is_kvmtune_device(c))
            kt_xml_node_remove(c);
    }
    if (drop_containers)
        kt_domain_drop_if_empty(devices);
}

void
kt_domain_strip(KtDomain *dom)
{
    kt_domain_edit(dom);
    strip(dom, true);
}

static bool
has_kvmtune_devices(xmlNode *root)
{
    xmlNode *devices = kt_xml_child(root, "devices");
    xmlNode *c;

    for (c = devices ? devices->children : NULL; c; c = c->next) {
        if ((kt_xml_is(c, "interface") || kt_xml_is(c, "hostdev")) &&
            is_kvmtune_device(c))
            return true;
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Writing the parts                                                   */
/* ------------------------------------------------------------------ */

static void
set_cpuset(xmlNode *n, const char *name, const KtCpuset *set)
{
    g_autofree char *s = kt_cpuset_format(set);

    kt_xml_prop_set(n, name, s);
}

static xmlNode *
new_child(xmlNode *parent, const char *name)
{
    return xmlNewChild(parent, NULL, BAD_CAST name, NULL);
}

static void
write_cpu_pinning(xmlNode *root, const KtPlacement *pl, guint nvcpus,
                  GString *created)
{
    g_autoptr(KtCpuset) all = kt_cpuset_new();
    xmlNode *vcpu = kt_xml_child(root, "vcpu");
    xmlNode *cputune;
    guint i;

    if (pl->cpu_policy != KT_CPU_POLICY_NONE) {
        for (i = 0; i < nvcpus; i++) {
            if (pl->cpu_policy == KT_CPU_POLICY_DEDICATED)
                kt_cpuset_union(all, pl->vcpu_pins[i]);
            else
                kt_cpuset_union(all, pl->shared_cpus);
        }
        if (!vcpu) {
            vcpu = kt_xml_child_insert(root, kt_domain_order, "vcpu");
            xmlNodeAddContent(vcpu, BAD_CAST "1");
            g_string_append(created, "vcpu");
        }
        {
            g_autofree char *placement = kt_xml_prop(vcpu, "placement");

            if (placement && strcmp(placement, "static") != 0)
                kt_xml_prop_set(vcpu, "placement", "static");
        }
        set_cpuset(vcpu, "cpuset", all);
    }

    cputune = kt_xml_child_ensure(root, kt_domain_order, "cputune");
    if (pl->cpu_policy != KT_CPU_POLICY_NONE)
        kt_xml_children_remove(cputune, "vcpupin");
    if (pl->emulator_cpus)
        kt_xml_children_remove(cputune, "emulatorpin");
    if (pl->cpu_policy != KT_CPU_POLICY_NONE) {
        g_autofree char *shared = pl->shared_cpus ? kt_cpuset_format(pl->shared_cpus) : NULL;
        xmlNode *prev = NULL;

        for (i = 0; i < nvcpus; i++) {
            xmlNode *pin = kt_xml_new(root->doc, NULL, "vcpupin");

            kt_xml_prop_set_uint(pin, "vcpu", i);
            if (pl->cpu_policy == KT_CPU_POLICY_DEDICATED)
                set_cpuset(pin, "cpuset", pl->vcpu_pins[i]);
            else
                kt_xml_prop_set(pin, "cpuset", shared);
            /* each after the previous: linear in the vCPU count */
            if (prev)
                kt_xml_sibling_add(prev, pin);
            else
                kt_xml_child_add(cputune, cputune_order, pin);
            prev = pin;
        }
    }
    if (pl->emulator_cpus) {
        xmlNode *pin = kt_xml_new(root->doc, NULL, "emulatorpin");

        set_cpuset(pin, "cpuset", pl->emulator_cpus);
        kt_xml_child_add(cputune, cputune_order, pin);
    }
}

static void
write_numatune(xmlNode *root, const KtPlacement *pl, bool with_memnodes)
{
    xmlNode *nt = kt_xml_child_ensure(root, kt_domain_order, "numatune");
    xmlNode *mem;
    xmlNode *prev;
    guint i;

    kt_xml_children_remove(nt, "memory");
    kt_xml_children_remove(nt, "memnode");
    mem = kt_xml_new(root->doc, NULL, "memory");
    kt_xml_prop_set(mem, "mode", "strict");
    set_cpuset(mem, "nodeset", pl->nodes);
    kt_xml_child_add(nt, numatune_order, mem);
    prev = mem;
    for (i = 0; with_memnodes && i < pl->ncells; i++) {
        xmlNode *mn = kt_xml_new(root->doc, NULL, "memnode");

        kt_xml_prop_set_uint(mn, "cellid", i);
        kt_xml_prop_set(mn, "mode", "strict");
        kt_xml_prop_set_uint(mn, "nodeset", pl->cells[i].host_node);
        kt_xml_sibling_add(prev, mn);
        prev = mn;
    }
}

static void
write_hugepages(xmlNode *root, const KtPlacement *pl, guint guest_cells)
{
    xmlNode *mb = kt_xml_child_ensure(root, kt_domain_order, "memoryBacking");
    xmlNode *hp;
    xmlNode *page;

    kt_xml_children_remove(mb, "hugepages");
    hp = kt_xml_new(root->doc, NULL, "hugepages");
    page = new_child(hp, "page");
    kt_xml_prop_set_uint(page, "size", pl->hugepage_kib);
    kt_xml_prop_set(page, "unit", "KiB");
    /* page nodeset names guest cells; libvirt wants it only with guest NUMA */
    if (guest_cells > 0) {
        g_autofree char *ns = guest_cells == 1 ? g_strdup("0")
                                               : g_strdup_printf("0-%u", guest_cells - 1);

        kt_xml_prop_set(page, "nodeset", ns);
    }
    kt_xml_child_add(mb, membacking_order, hp);
}

/* True when @cells (vCPU sets) hold whole guest cores of @threads vCPUs:
 * vCPUs t*k .. t*k+t-1 in one cell, as the allocator pins sibling pairs. */
static bool
cells_hold_whole_cores(KtCpuset *const *cells, guint ncells, guint threads)
{
    guint i;
    int v;

    for (i = 0; i < ncells; i++) {
        if (!cells[i] || kt_cpuset_count(cells[i]) % threads != 0)
            return false;
        for (v = kt_cpuset_first(cells[i]); v >= 0; v = kt_cpuset_next(cells[i], v + 1)) {
            guint t;

            for (t = 0; t < threads; t++) {
                if (!kt_cpuset_has(cells[i], (guint)v - (guint)v % threads + t))
                    return false;
            }
        }
    }
    return true;
}

/* True when cell i is exactly vCPUs [i*n, (i+1)*n): one socket per cell. */
static bool
cells_are_sockets(KtCpuset *const *cells, guint ncells, guint nvcpus)
{
    guint n = ncells ? nvcpus / ncells : 0;
    guint i;

    if (ncells == 0 || nvcpus % ncells != 0)
        return false;
    for (i = 0; i < ncells; i++) {
        if (!cells[i] || kt_cpuset_count(cells[i]) != n ||
            kt_cpuset_first(cells[i]) != (int)(i * n) ||
            kt_cpuset_last(cells[i]) != (int)((i + 1) * n - 1))
            return false;
    }
    return true;
}

/* sockets x cores x threads == vCPUs (libvirt's rule), threads as the
 * placement paired vCPUs on sibling threads, one socket per guest cell
 * when the cells split evenly; threads=1 when a cell would cut a core. */
static void
write_topology(xmlNode *root, const KtPlacement *pl, guint nvcpus,
               KtCpuset *const *cells, guint ncells)
{
    xmlNode *cpu = kt_xml_child_ensure(root, kt_domain_order, "cpu");
    xmlNode *topo;
    guint threads = pl->threads_per_core;
    guint sockets = ncells ? ncells : 1;

    if (threads == 0 || nvcpus % threads != 0 ||
        !cells_hold_whole_cores(cells, ncells, threads))
        threads = 1;
    if (ncells == 0 || !cells_are_sockets(cells, ncells, nvcpus) ||
        (nvcpus / threads) % sockets != 0)
        sockets = 1;
    kt_xml_children_remove(cpu, "topology");
    topo = kt_xml_new(root->doc, NULL, "topology");
    kt_xml_prop_set_uint(topo, "sockets", sockets);
    kt_xml_prop_set_uint(topo, "cores", nvcpus / threads / sockets);
    kt_xml_prop_set_uint(topo, "threads", threads);
    kt_xml_child_add(cpu, cpu_order, topo);
}

static void
write_guest_numa(xmlNode *root, const KtPlacement *pl)
{
    xmlNode *cpu = kt_xml_child_ensure(root, kt_domain_order, "cpu");
    xmlNode *numa;
    guint i;

    kt_xml_children_remove(cpu, "numa");
    numa = kt_xml_new(root->doc, NULL, "numa");
    for (i = 0; i < pl->ncells; i++) {
        xmlNode *cell = new_child(numa, "cell");

        kt_xml_prop_set_uint(cell, "id", i);
        set_cpuset(cell, "cpus", pl->cells[i].vcpus);
        kt_xml_prop_set_uint(cell, "memory", pl->cells[i].memory_kib);
        kt_xml_prop_set(cell, "unit", "KiB");
    }
    kt_xml_child_add(cpu, cpu_order, numa);
}

/* <address type='pci' domain='0x0000' bus='0x41' slot='0x02' function='0x3'/> */
static void
add_pci_address(xmlNode *parent, const char *pci, bool with_type)
{
    xmlNode *addr = new_child(parent, "address");
    char buf[8];

    if (with_type)
        kt_xml_prop_set(addr, "type", "pci");
    g_snprintf(buf, sizeof(buf), "0x%.4s", pci);
    kt_xml_prop_set(addr, "domain", buf);
    g_snprintf(buf, sizeof(buf), "0x%.2s", pci + 5);
    kt_xml_prop_set(addr, "bus", buf);
    g_snprintf(buf, sizeof(buf), "0x%.2s", pci + 8);
    kt_xml_prop_set(addr, "slot", buf);
    g_snprintf(buf, sizeof(buf), "0x%.1s", pci + 11);
    kt_xml_prop_set(addr, "function", buf);
}

static void
add_alias(xmlNode *dev, const char *kind, guint i)
{
    xmlNode *alias = new_child(dev, "alias");
    g_autofree char *name = g_strdup_printf(ALIAS_PREFIX "%s%u", kind, i);

    kt_xml_prop_set(alias, "name", name);
}

static bool
has_device(const KtRequest *req, const char *address, const char *mdev_uuid)
{
    guint i;

    for (i = 0; address && i < req->pci_devs->len; i++) {
        const KtRequestPciDev *d = g_ptr_array_index(req->pci_devs, i);

        if (strcmp(d->address, address) == 0)
            return true;
    }
    for (i = 0; mdev_uuid && i < req->mdevs->len; i++) {
        const KtRequestMdev *m = g_ptr_array_index(req->mdevs, i);

        if (strcmp(m->uuid, mdev_uuid) == 0)
            return true;
    }
    return false;
}

static void
write_devices(xmlNode *root, const KtPlacement *pl, const KtRequest *req,
              KtApplyReport *report)
{
    xmlNode *devices;
    guint i;

    if (pl->vfs->len + pl->mdevs->len + pl->gpus->len == 0)
        return;
    devices = kt_xml_child_ensure(root, kt_domain_order, "devices");
    for (i = 0; i < pl->vfs->len; i++) {
        const KtPlacementVf *vf = g_ptr_array_index(pl->vfs, i);
        xmlNode *iface;
        xmlNode *src;

        if (has_device(req, vf->vf, NULL)) {
            report->skipped_devices++;
            continue;
        }
        iface = kt_xml_new(root->doc, NULL, "interface");
        kt_xml_prop_set(iface, "type", "hostdev");
        kt_xml_prop_set(iface, "managed", "yes");
        if (vf->trust >= 0)
            kt_xml_prop_set(iface, "trustGuestRxFilters", vf->trust ? "yes" : "no");
        if (vf->mac)
            kt_xml_prop_set(new_child(iface, "mac"), "address", vf->mac);
        src = new_child(iface, "source");
        add_pci_address(src, vf->vf, true);
        if (vf->vlan >= 0)
            kt_xml_prop_set_uint(new_child(new_child(iface, "vlan"), "tag"), "id",
                                 (guint64)vf->vlan);
        add_alias(iface, "vf", i);
        kt_xml_child_add(devices, kt_devices_order, iface);
    }
    for (i = 0; i < pl->mdevs->len; i++) {
        const KtPlacementMdev *m = g_ptr_array_index(pl->mdevs, i);
        xmlNode *hd;

        if (has_device(req, NULL, m->uuid)) {
            report->skipped_devices++;
            continue;
        }
        hd = kt_xml_new(root->doc, NULL, "hostdev");
        kt_xml_prop_set(hd, "mode", "subsystem");
        kt_xml_prop_set(hd, "type", "mdev");
        kt_xml_prop_set(hd, "model", "vfio-pci");
        kt_xml_prop_set(new_child(new_child(hd, "source"), "address"), "uuid", m->uuid);
        add_alias(hd, "mdev", i);
        kt_xml_child_add(devices, kt_devices_order, hd);
    }
    for (i = 0; i < pl->gpus->len; i++) {
        const KtPlacementGpu *g = g_ptr_array_index(pl->gpus, i);
        xmlNode *hd;

        if (has_device(req, g->address, NULL)) {
            report->skipped_devices++;
            continue;
        }
        hd = kt_xml_new(root->doc, NULL, "hostdev");
        kt_xml_prop_set(hd, "mode", "subsystem");
        kt_xml_prop_set(hd, "type", "pci");
        kt_xml_prop_set(hd, "managed", "yes");
        add_pci_address(new_child(hd, "source"), g->address, false);
        add_alias(hd, "gpu", i);
        kt_xml_child_add(devices, kt_devices_order, hd);
    }
}

/* ------------------------------------------------------------------ */
/* Checks                                                              */
/* ------------------------------------------------------------------ */

static bool
invalid(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static bool
invalid(GError **error, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_set_error_literal(error, KT_ERROR, KT_ERROR_INVALID, msg);
    return false;
}

static bool
check_placement(const KtPlacement *pl, const KtRequest *req, GError **error)
{
    guint64 sum = 0;
    guint i;

    if (pl->cpu_policy == KT_CPU_POLICY_DEDICATED) {
        if (pl->nvcpus != req->vcpus_max || !pl->vcpu_pins)
            return invalid(error, "placement pins %u vCPUs, the domain has %u",
                           pl->vcpu_pins ? pl->nvcpus : 0, req->vcpus_max);
        for (i = 0; i < pl->nvcpus; i++) {
            if (!pl->vcpu_pins[i] || kt_cpuset_is_empty(pl->vcpu_pins[i]))
                return invalid(error, "placement has no host CPU for vCPU %u", i);
        }
    }
    if (pl->cpu_policy == KT_CPU_POLICY_SHARED &&
        (!pl->shared_cpus || kt_cpuset_is_empty(pl->shared_cpus)))
        return invalid(error, "shared placement without shared CPUs");
    if (pl->emulator_cpus && kt_cpuset_is_empty(pl->emulator_cpus))
        return invalid(error, "empty emulator cpuset");
    if (pl->nodes && kt_cpuset_is_empty(pl->nodes))
        return invalid(error, "empty NUMA node set");
    for (i = 0; i < pl->ncells; i++) {
        if (!pl->cells[i].vcpus || kt_cpuset_is_empty(pl->cells[i].vcpus))
            return invalid(error, "guest NUMA cell %u has no vCPUs", i);
        if (kt_cpuset_last(pl->cells[i].vcpus) >= (int)req->vcpus_max)
            return invalid(error, "guest NUMA cell %u names a vCPU beyond %u",
                           i, req->vcpus_max);
        sum += pl->cells[i].memory_kib;
    }
    if (pl->ncells && sum != req->memory_kib)
        return invalid(error, "guest NUMA cells hold %" G_GUINT64_FORMAT
                       " KiB, the domain has %" G_GUINT64_FORMAT " KiB",
                       sum, req->memory_kib);
    for (i = 0; i < pl->vfs->len; i++) {
        const KtPlacementVf *vf = g_ptr_array_index(pl->vfs, i);

        if (!kt_domain_valid_pci(vf->vf) || (vf->pf && !kt_domain_valid_pci(vf->pf)))
            return invalid(error, "VF %u: malformed PCI address", i);
        if (vf->mac && !kt_domain_valid_mac(vf->mac))
            return invalid(error, "VF %u: malformed MAC address", i);
        if (vf->vlan > 4095)
            return invalid(error, "VF %u: VLAN %d out of range", i, vf->vlan);
    }
    for (i = 0; i < pl->mdevs->len; i++) {
        const KtPlacementMdev *m = g_ptr_array_index(pl->mdevs, i);

        if (!kt_domain_valid_uuid(m->uuid) ||
            (m->type && !kt_domain_valid_mdev_type(m->type)) ||
            (m->parent && !kt_domain_valid_pci(m->parent)))
            return invalid(error, "mdev %u: malformed uuid, type or parent", i);
    }
    for (i = 0; i < pl->gpus->len; i++) {
        const KtPlacementGpu *g = g_ptr_array_index(pl->gpus, i);

        if (!kt_domain_valid_pci(g->address))
            return invalid(error, "GPU %u: malformed PCI address", i);
    }
    return true;
}

static bool
has_cpu_pinning(const KtRequest *req, const KtDomain *dom)
{
    xmlNode *root = xmlDocGetRootElement(dom->doc);
    xmlNode *vcpu = kt_xml_child(root, "vcpu");
    g_autofree char *placement = vcpu ? kt_xml_prop(vcpu, "placement") : NULL;

    return kt_request_has_cpu_pinning(req) || req->emulatorpin ||
           g_strcmp0(placement, "auto") == 0;
}

static bool
has_topology(const KtRequest *req)
{
    return req->cpu_sockets || req->cpu_dies || req->cpu_cores || req->cpu_threads;
}

/* Flavor extra specs or image properties that ask Nova for a topology
 * (hw:cpu_sockets, hw:cpu_max_threads, hw_cpu_cores, ...). */
static bool
topology_asked(const KtRequest *req)
{
    static const char *const prefixes[] = {
        "hw:cpu_sockets", "hw:cpu_cores", "hw:cpu_threads", "hw:cpu_max_",
        "hw_cpu_sockets", "hw_cpu_cores", "hw_cpu_threads", "hw_cpu_max_", NULL,
    };
    GHashTableIter it;
    gpointer key;
    guint i;

    g_hash_table_iter_init(&it, req->extra_specs);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        for (i = 0; prefixes[i]; i++) {
            if (g_str_has_prefix(key, prefixes[i]))
                return true;
        }
    }
    return false;
}

/* Nova writes a <topology> for every guest: sockets=vCPUs cores=1
 * threads=1 unless the flavor or image asked for another.  That default
 * says nothing about the guest, so kvmtune replaces it with the SMT shape
 * of its placement (and records it, for strip).  It keeps the input's
 * topology when Nova pinned the CPUs itself (its topology belongs to its
 * pinning), when the flavor/image asked for one (extra specs in the
 * metadata, or any shape other than Nova's default: image properties are
 * never in the XML), and when the domain is not Nova's (an admin or
 * virt-install wrote it on purpose). */
static bool
keep_topology(const KtRequest *req, bool nova_pinned)
{
    bool nova_default;

    if (!has_topology(req))
        return false;
    if (nova_pinned || !req->is_nova || topology_asked(req))
        return true;
    nova_default = req->cpu_sockets == req->vcpus_max && req->cpu_cores == 1 &&
                   req->cpu_threads == 1 && req->cpu_dies <= 1;
    return !nova_default;
}

gboolean
kt_domain_apply(KtDomain *dom, const KtPlacement *pl, KtApplyReport *ret_report,
                GError **error)
{
    xmlNode *root = xmlDocGetRootElement(dom->doc);
    g_autoptr(KtRequest) req = NULL;
    g_autoptr(GString) kept = g_string_new(NULL);
    g_autoptr(GString) created = g_string_new(NULL);
    KtApplyReport report = { 0 };
    bool keep[PART_LAST] = { false };
    xmlNode *replaced_topology = NULL;
    xmlNode *meta;
    xmlNode *node;
    int p;

    kt_domain_edit(dom);
    /* Check against the domain as the caller gave it, before any edit. */
    req = kt_domain_read_request(dom, error);
    if (!req || !check_placement(pl, req, error))
        return FALSE;

    /* what kvmtune wrote before goes first; then look again at what the
     * definition itself asks for */
    if (req->placement || kt_domain_find_placement(dom) || has_kvmtune_devices(root)) {
        strip(dom, false);
        kt_request_free(g_steal_pointer(&req));
        req = kt_domain_read_request(dom, error);
        if (!req)
            return FALSE;
    }

    if (!pl->override) {
        keep[PART_CPU_PINNING] = has_cpu_pinning(req, dom);
        keep[PART_NUMATUNE] = req->has_numatune;
        keep[PART_HUGEPAGES] = req->has_hugepages;
        keep[PART_GUEST_NUMA] = req->ncpu_cells > 0;
        keep[PART_CPU_TOPOLOGY] = keep_topology(req, keep[PART_CPU_PINNING]);
    }
    for (p = 0; p < PART_LAST; p++) {
        keep[p] = keep[p] && part_written(pl, p);
        if (keep[p]) {
            if (kept->len)
                g_string_append_c(kept, ' ');
            g_string_append(kept, part_names[p]);
        }
    }
    report.kept_cpu_pinning = keep[PART_CPU_PINNING];
    report.kept_numatune = keep[PART_NUMATUNE];
    report.kept_hugepages = keep[PART_HUGEPAGES];
    report.kept_guest_numa = keep[PART_GUEST_NUMA];
    report.kept_cpu_topology = keep[PART_CPU_TOPOLOGY];

    /* In libvirt's order, so each insertion finds its neighbours. */
    if (part_written(pl, PART_HUGEPAGES) && !keep[PART_HUGEPAGES])
        write_hugepages(root, pl, keep[PART_GUEST_NUMA] ? req->ncpu_cells : pl->ncells);
    if (part_written(pl, PART_CPU_PINNING) && !keep[PART_CPU_PINNING])
        write_cpu_pinning(root, pl, req->vcpus_max, created);
    if (part_written(pl, PART_NUMATUNE) && !keep[PART_NUMATUNE])
        /* memnode per guest cell: ours, or the input's when they match */
        write_numatune(root, pl, part_written(pl, PART_GUEST_NUMA) &&
                       (!keep[PART_GUEST_NUMA] || req->ncpu_cells == pl->ncells));
    if (part_written(pl, PART_CPU_TOPOLOGY) && !keep[PART_CPU_TOPOLOGY]) {
        xmlNode *cpu = kt_xml_child(root, "cpu");
        xmlNode *old = kt_xml_child(cpu, "topology");
        g_autofree KtCpuset **cells = NULL;
        guint ncells, i;

        /* the cells the guest will have: Nova's when kept, else ours */
        if (keep[PART_GUEST_NUMA]) {
            ncells = req->cpu_cells ? req->ncpu_cells : 0;
            cells = g_new0(KtCpuset *, ncells + 1);
            for (i = 0; i < ncells; i++)
                cells[i] = req->cpu_cells[i].vcpus;
        } else {
            ncells = pl->ncells;
            cells = g_new0(KtCpuset *, ncells + 1);
            for (i = 0; i < ncells; i++)
                cells[i] = pl->cells[i].vcpus;
        }
        if (old) {
            replaced_topology = xmlCopyNode(old, 2);
            report.replaced_cpu_topology = true;
        }
        write_topology(root, pl, req->vcpus_max, cells, ncells);
    }
    if (part_written(pl, PART_GUEST_NUMA) && !keep[PART_GUEST_NUMA])
        write_guest_numa(root, pl);
    write_devices(root, pl, req, &report);
    kt_domain_drop_if_empty(kt_xml_child(root, "cputune"));
    kt_domain_drop_if_empty(kt_xml_child(root, "numatune"));
    kt_domain_drop_if_empty(kt_xml_child(root, "memoryBacking"));
    kt_domain_drop_if_empty(kt_xml_child(root, "cpu"));
    kt_domain_drop_if_empty(kt_xml_child(root, "devices"));

    meta = kt_xml_child_ensure(root, kt_domain_order, "metadata");
    node = kt_placement_to_node(pl, dom->doc, kept->str, created->str);
    if (replaced_topology) {
        record_topology(node, replaced_topology);
        xmlFreeNode(replaced_topology);
    }
    kt_xml_child_add(meta, NULL, node);

    if (ret_report)
        *ret_report = report;
    return TRUE;
}
