/* placement-xml.c: KtPlacement <-> <kvmtune:placement> metadata.
 *
 * This element is the ledger's only store (DESIGN.md, "State"): the daemon
 * rebuilds every booking from it, so every field of KtPlacement round-trips
 * and everything read back is checked as hostile input (a user can define a
 * domain with any metadata).  Format: libvirt-xml/README.md. */
#include "domain-priv.h"
#include "kt-error.h"

#include <string.h>

/* Bounds on what one placement may list, far above any real host. */
#define MAX_VCPUS 4096
#define MAX_ITEMS 1024

bool
kt_domain_valid_pci(const char *s)
{
    static const char shape[] = "hhhh:hh:hh.d";
    gsize i;

    if (!s || strlen(s) != sizeof(shape) - 1)
        return false;
    for (i = 0; shape[i]; i++) {
        char c = s[i];

        if (shape[i] == 'h' && !(g_ascii_isdigit(c) || (c >= 'a' && c <= 'f')))
            return false;
        if (shape[i] == 'd' && !(c >= '0' && c <= '7'))
            return false;
        if ((shape[i] == ':' || shape[i] == '.') && c != shape[i])
            return false;
    }
    return true;
}

bool
kt_domain_valid_uuid(const char *s)
{
    gsize i;

    if (!s || strlen(s) != 36)
        return false;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!(g_ascii_isdigit(s[i]) || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

bool
kt_domain_valid_mdev_type(const char *s)
{
    gsize i;

    if (!s || !*s || strlen(s) > 64 || s[0] == '.')
        return false;
    for (i = 0; s[i]; i++) {
        if (!g_ascii_isalnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    }
    return true;
}

bool
kt_domain_valid_mac(const char *s)
{
    gsize i;

    if (!s || strlen(s) != 17)
        return false;
    for (i = 0; i < 17; i++) {
        if (i % 3 == 2) {
            if (s[i] != ':')
                return false;
        } else if (!g_ascii_isxdigit(s[i])) {
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

static void
set_str(xmlNode *n, const char *name, const char *value)
{
    if (value)
        xmlNewProp(n, BAD_CAST name, BAD_CAST value);
}

static void
set_uint(xmlNode *n, const char *name, guint64 value)
{
    char buf[32];

    g_snprintf(buf, sizeof(buf), "%" G_GUINT64_FORMAT, value);
    xmlNewProp(n, BAD_CAST name, BAD_CAST buf);
}

static void
set_set(xmlNode *n, const char *name, const KtCpuset *set)
{
    g_autofree char *s = NULL;

    if (!set)
        return;
    s = kt_cpuset_format(set);
    xmlNewProp(n, BAD_CAST name, BAD_CAST s);
}

static void
set_tristate(xmlNode *n, const char *name, int v)
{
    if (v >= 0)
        xmlNewProp(n, BAD_CAST name, BAD_CAST (v ? "yes" : "no"));
}

static xmlNode *
add(xmlNode *parent, const char *name)
{
    return xmlNewChild(parent, parent->ns, BAD_CAST name, NULL);
}

xmlNode *
kt_placement_to_node(const KtPlacement *pl, xmlDoc *doc, const char *kept,
                     const char *created)
{
    xmlNode *root = xmlNewDocNode(doc, NULL, BAD_CAST "placement", NULL);
    xmlNs *ns = xmlNewNs(root, BAD_CAST KT_PLACEMENT_NS, BAD_CAST KT_PLACEMENT_NS_PREFIX);
    xmlNode *n;
    guint i;

    xmlSetNs(root, ns);
    set_str(root, "profile", pl->profile);
    set_str(root, "policy", pl->policy_hash);
    if (pl->override)
        set_str(root, "override", "yes");
    if (kept && *kept)
        set_str(root, "kept", kept);
    if (created && *created)
        set_str(root, "created", created);

    if (pl->nodes)
        set_set(add(root, "numa"), "nodes", pl->nodes);

    if (pl->cpu_policy != KT_CPU_POLICY_NONE || pl->nvcpus || pl->vcpu_pins ||
        pl->shared_cpus || pl->emulator_cpus || pl->booked_cpus ||
        pl->threads_per_core) {
        n = add(root, "cpus");
        set_str(n, "policy", kt_cpu_policy_to_string(pl->cpu_policy));
        if (pl->nvcpus)
            set_uint(n, "vcpus", pl->nvcpus);
        if (pl->threads_per_core)
            set_uint(n, "threads", pl->threads_per_core);
        set_set(n, "shared", pl->shared_cpus);
        set_set(n, "emulator", pl->emulator_cpus);
        set_set(n, "booked", pl->booked_cpus);
        if (pl->vcpu_pins) {
            for (i = 0; i < pl->nvcpus; i++) {
                xmlNode *pin = add(n, "vcpu");

                set_uint(pin, "id", i);
                set_set(pin, "cpus", pl->vcpu_pins[i]);
            }
        }
    }

    for (i = 0; i < pl->ncells; i++) {
        n = add(root, "cell");
        set_uint(n, "id", i);
        set_set(n, "vcpus", pl->cells[i].vcpus);
        set_uint(n, "memory", pl->cells[i].memory_kib);
        set_uint(n, "node", pl->cells[i].host_node);
    }

    if (pl->memory_kib || pl->hugepage_kib) {
        n = add(root, "memory");
        set_uint(n, "size", pl->memory_kib);
        if (pl->hugepage_kib)
            set_uint(n, "pagesize", pl->hugepage_kib);
    }
    for (i = 0; i < pl->npages; i++) {
        n = add(root, "hugepages");
        set_uint(n, "size", pl->hugepage_kib);
        set_uint(n, "node", pl->pages[i].node);
        set_uint(n, "count", pl->pages[i].count);
    }
    for (i = 0; i < pl->vfs->len; i++) {
        const KtPlacementVf *vf = g_ptr_array_index(pl->vfs, i);

        n = add(root, "vf");
        set_str(n, "pf", vf->pf);
        set_str(n, "vf", vf->vf);
        set_str(n, "mac", vf->mac);
        if (vf->vlan >= 0)
            set_uint(n, "vlan", (guint64)vf->vlan);
        set_tristate(n, "trust", vf->trust);
        set_tristate(n, "spoofchk", vf->spoofchk);
        set_uint(n, "node", vf->node);
    }
    for (i = 0; i < pl->mdevs->len; i++) {
        const KtPlacementMdev *m = g_ptr_array_index(pl->mdevs, i);

        n = add(root, "mdev");
        set_str(n, "parent", m->parent);
        set_str(n, "type", m->type);
        set_str(n, "uuid", m->uuid);
        set_uint(n, "node", m->node);
    }
    for (i = 0; i < pl->gpus->len; i++) {
        const KtPlacementGpu *g = g_ptr_array_index(pl->gpus, i);

        n = add(root, "gpu");
        set_str(n, "address", g->address);
        set_uint(n, "node", g->node);
    }
    return root;
}

char *
kt_placement_format_xml(const KtPlacement *pl)
{
    g_autoptr(xmlDoc) doc = xmlNewDoc(BAD_CAST "1.0");
    xmlNode *root = kt_placement_to_node(pl, doc, NULL, NULL);
    KtXmlSource src;
    GString *out;

    xmlDocSetRootElement(doc, root);
    kt_xml_indent_subtree(root, "", "  ");
    memset(&src, 0, sizeof(src));
    src.quote = '"';
    out = kt_xml_source_serialize(&src, doc, false);
    return g_string_free(out, FALSE);
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

static bool
bad(GError **error, const xmlNode *n, const char *attr, const char *what)
{
    g_autofree char *where = kt_xml_where(n);

    g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                "%s: kvmtune placement attribute '%s': %s", where, attr, what);
    return false;
}

static bool
get_uint(const xmlNode *n, const char *name, guint64 max, bool required,
         guint64 *ret, GError **error)
{
    bool present = false;

    if (!kt_xml_prop_uint(n, name, max, ret, &present, error))
        return false;
    if (!present && required)
        return bad(error, n, name, "missing");
    return true;
}

static bool
get_set(const xmlNode *n, const char *name, bool required, KtCpuset **ret,
        GError **error)
{
    g_autofree char *v = kt_xml_prop(n, name);
    g_autoptr(GError) err = NULL;
    KtCpuset *set;

    if (!v) {
        if (required)
            return bad(error, n, name, "missing");
        return true;
    }
    set = kt_cpuset_parse(v, &err);
    if (!set)
        return bad(error, n, name, err->message);
    kt_cpuset_free(*ret);
    *ret = set;
    return true;
}

static bool
get_str(const xmlNode *n, const char *name, bool (*valid)(const char *),
        bool required, char **ret, GError **error)
{
    g_autofree char *v = kt_xml_prop(n, name);

    if (!v) {
        if (required)
            return bad(error, n, name, "missing");
        return true;
    }
    if (valid && !valid(v))
        return bad(error, n, name, "malformed value");
    if (strlen(v) > 1024)
        return bad(error, n, name, "too long");
    g_free(*ret);
    *ret = g_steal_pointer(&v);
    return true;
}

static bool
get_tristate(const xmlNode *n, const char *name, int *ret, GError **error)
{
    g_autofree char *v = kt_xml_prop(n, name);

    if (!v)
        *ret = -1;
    else if (strcmp(v, "yes") == 0)
        *ret = 1;
    else if (strcmp(v, "no") == 0)
        *ret = 0;
    else
        return bad(error, n, name, "expected 'yes' or 'no'");
    return true;
}

static bool
is_kt(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, KT_PLACEMENT_NS) == 0 &&
           (!name || strcmp((const char *)n->name, name) == 0);
}

static bool
read_cpus(KtPlacement *pl, xmlNode *n, GError **error)
{
    g_autofree char *policy = kt_xml_prop(n, "policy");
    guint64 v = 0;
    xmlNode *c;
    int p;

    p = policy ? kt_cpu_policy_from_string(policy) : KT_CPU_POLICY_NONE;
    if (p < 0)
        return bad(error, n, "policy", "expected none, shared or dedicated");
    pl->cpu_policy = p;
    if (!get_uint(n, "vcpus", MAX_VCPUS, false, &v, error))
        return false;
    pl->nvcpus = (guint)v;
    v = 0;
    if (!get_uint(n, "threads", 8, false, &v, error))
        return false;
    pl->threads_per_core = (guint)v;
    if (!get_set(n, "shared", false, &pl->shared_cpus, error) ||
        !get_set(n, "emulator", false, &pl->emulator_cpus, error) ||
        !get_set(n, "booked", false, &pl->booked_cpus, error))
        return false;

    for (c = n->children; c; c = c->next) {
        guint64 id = 0;

        if (!is_kt(c, "vcpu"))
            continue;
        if (!pl->vcpu_pins)
            pl->vcpu_pins = g_new0(KtCpuset *, MAX(pl->nvcpus, 1));
        if (!get_uint(c, "id", MAX_VCPUS, true, &id, error))
            return false;
        if (id >= pl->nvcpus)
            return bad(error, c, "id", "not below the cpus' vcpus count");
        if (pl->vcpu_pins[id])
            return bad(error, c, "id", "vCPU listed twice");
        if (!get_set(c, "cpus", false, &pl->vcpu_pins[id], error))
            return false;
    }
    return true;
}

static bool
read_child(KtPlacement *pl, xmlNode *c, GArray *cells, GArray *pages,
           GHashTable *seen, GError **error)
{
    const char *name = (const char *)c->name;
    guint64 v = 0;

    /* single-valued parts: a second one would mix two placements (and a
     * second <cpus> would index pins sized by the first) */
    if (strcmp(name, "numa") == 0 || strcmp(name, "cpus") == 0 ||
        strcmp(name, "memory") == 0) {
        if (g_hash_table_contains(seen, name))
            return bad(error, c, name, "element listed twice");
        g_hash_table_add(seen, (gpointer)name);
    }
    if (strcmp(name, "numa") == 0)
        return get_set(c, "nodes", true, &pl->nodes, error);
    if (strcmp(name, "cpus") == 0)
        return read_cpus(pl, c, error);
    if (strcmp(name, "cell") == 0) {
        KtPlacementCell cell = { 0 };
        guint64 id = 0;

        if (cells->len >= MAX_ITEMS)
            return bad(error, c, "id", "too many cells");
        if (!get_uint(c, "id", MAX_ITEMS, true, &id, error))
            return false;
        if (id != cells->len)
            return bad(error, c, "id", "cells must be listed in order from 0");
        if (!get_uint(c, "memory", G_MAXUINT64, true, &cell.memory_kib, error) ||
            !get_uint(c, "node", KT_CPUSET_MAX - 1, true, &v, error))
            return false;
        cell.host_node = (guint)v;
        if (!get_set(c, "vcpus", false, &cell.vcpus, error))
            return false;
        g_array_append_val(cells, cell);
        return true;
    }
    if (strcmp(name, "memory") == 0) {
        return get_uint(c, "size", G_MAXUINT64, false, &pl->memory_kib, error) &&
               get_uint(c, "pagesize", G_MAXUINT64, false, &pl->hugepage_kib, error);
    }
    if (strcmp(name, "hugepages") == 0) {
        KtPlacementPages p = { 0 };

        if (pages->len >= MAX_ITEMS)
            return bad(error, c, "node", "too many hugepage entries");
        if (!get_uint(c, "node", KT_CPUSET_MAX - 1, true, &v, error) ||
            !get_uint(c, "count", G_MAXUINT64, true, &p.count, error))
            return false;
        p.node = (guint)v;
        g_array_append_val(pages, p);
        return true;
    }
    if (strcmp(name, "vf") == 0) {
        g_autoptr(KtPlacementVf) vf = kt_placement_vf_new();

        if (pl->vfs->len >= MAX_ITEMS)
            return bad(error, c, "vf", "too many VFs");
        if (!get_str(c, "pf", kt_domain_valid_pci, false, &vf->pf, error) ||
            !get_str(c, "vf", kt_domain_valid_pci, true, &vf->vf, error) ||
            !get_str(c, "mac", kt_domain_valid_mac, false, &vf->mac, error) ||
            !get_tristate(c, "trust", &vf->trust, error) ||
            !get_tristate(c, "spoofchk", &vf->spoofchk, error))
            return false;
        if (xmlHasProp(c, BAD_CAST "vlan")) {
            if (!get_uint(c, "vlan", 4095, true, &v, error))
                return false;
            vf->vlan = (int)v;
        }
        if (!get_uint(c, "node", KT_CPUSET_MAX - 1, false, &v, error))
            return false;
        vf->node = (guint)v;
        g_ptr_array_add(pl->vfs, g_steal_pointer(&vf));
        return true;
    }
    if (strcmp(name, "mdev") == 0) {
        g_autoptr(KtPlacementMdev) m = g_new0(KtPlacementMdev, 1);

        if (pl->mdevs->len >= MAX_ITEMS)
            return bad(error, c, "uuid", "too many mdevs");
        if (!get_str(c, "parent", kt_domain_valid_pci, false, &m->parent, error) ||
            !get_str(c, "type", kt_domain_valid_mdev_type, false, &m->type, error) ||
            !get_str(c, "uuid", kt_domain_valid_uuid, true, &m->uuid, error) ||
            !get_uint(c, "node", KT_CPUSET_MAX - 1, false, &v, error))
            return false;
        m->node = (guint)v;
        g_ptr_array_add(pl->mdevs, g_steal_pointer(&m));
        return true;
    }
    if (strcmp(name, "gpu") == 0) {
        g_autoptr(KtPlacementGpu) g = g_new0(KtPlacementGpu, 1);

        if (pl->gpus->len >= MAX_ITEMS)
            return bad(error, c, "address", "too many GPUs");
        if (!get_str(c, "address", kt_domain_valid_pci, true, &g->address, error) ||
            !get_uint(c, "node", KT_CPUSET_MAX - 1, false, &v, error))
            return false;
        g->node = (guint)v;
        g_ptr_array_add(pl->gpus, g_steal_pointer(&g));
        return true;
    }
    /* unknown children: a newer kvmtune wrote them; ignore */
    return true;
}

KtPlacement *
kt_placement_from_node(xmlNode *node, char **ret_kept, char **ret_created,
                       GError **error)
{
    g_autoptr(KtPlacement) pl = kt_placement_new();
    g_autoptr(GArray) cells = g_array_new(FALSE, TRUE, sizeof(KtPlacementCell));
    g_autoptr(GArray) pages = g_array_new(FALSE, TRUE, sizeof(KtPlacementPages));
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    g_autofree char *override = NULL;
    g_autofree char *kept = NULL;
    g_autofree char *created = NULL;
    xmlNode *c;
    guint i;
    bool ok = true;

    if (!is_kt(node, "placement")) {
        g_autofree char *where = kt_xml_where(node);

        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "%s: expected <kvmtune:placement> in namespace %s", where,
                    KT_PLACEMENT_NS);
        return NULL;
    }
    if (!get_str(node, "profile", NULL, false, &pl->profile, error) ||
        !get_str(node, "policy", NULL, false, &pl->policy_hash, error) ||
        !get_str(node, "kept", NULL, false, &kept, error) ||
        !get_str(node, "created", NULL, false, &created, error))
        return NULL;
    override = kt_xml_prop(node, "override");
    if (override && strcmp(override, "yes") != 0 && strcmp(override, "no") != 0) {
        bad(error, node, "override", "expected 'yes' or 'no'");
        return NULL;
    }
    pl->override = override && strcmp(override, "yes") == 0;

    for (c = node->children; c && ok; c = c->next) {
        if (is_kt(c, NULL))
            ok = read_child(pl, c, cells, pages, seen, error);
    }
    if (!ok) {
        for (i = 0; i < cells->len; i++)
            kt_cpuset_free(g_array_index(cells, KtPlacementCell, i).vcpus);
        return NULL;
    }
    pl->ncells = cells->len;
    pl->cells = (KtPlacementCell *)g_array_free(g_steal_pointer(&cells), pl->ncells == 0);
    pl->npages = pages->len;
    pl->pages = (KtPlacementPages *)g_array_free(g_steal_pointer(&pages), pl->npages == 0);
    if (ret_kept)
        *ret_kept = g_steal_pointer(&kept);
    if (ret_created)
        *ret_created = g_steal_pointer(&created);
    return g_steal_pointer(&pl);
}

KtPlacement *
kt_placement_parse_xml(const char *xml, gsize len, GError **error)
{
    g_autoptr(xmlDoc) doc = NULL;

    if (len > KT_DOMAIN_XML_MAX) {
        g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                    "1:1: placement XML of %" G_GSIZE_FORMAT " bytes is too large", len);
        return NULL;
    }
    doc = kt_xml_parse(xml, len, error);
    if (!doc)
        return NULL;
    return kt_placement_from_node(xmlDocGetRootElement(doc), NULL, NULL, error);
}
