/* domain-read.c: KtDomain -> KtRequest, what the definition asks for.
 *
 * Read like libvirt reads (relative lookups from the element at hand, typed
 * getters that say where a bad value is) but never change the tree.  Only
 * what the allocator needs is an error when malformed; anything else
 * unusual is left for libvirt to judge. */
#include "domain-priv.h"
#include "kt-error.h"

#include <string.h>

#define NOVA_NS_PREFIX "http://openstack.org/xmlns/libvirt/nova/"
#define MAX_EXTRA_SPECS 512
#define MAX_DEVICES 4096

static bool
fail_at(GError **error, const xmlNode *n, const char *fmt, const char *what)
{
    g_autofree char *where = kt_xml_where(n);
    g_autofree char *msg = g_strdup_printf(fmt, what);

    g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "%s: %s", where, msg);
    return false;
}

/* Unsigned number in an element's text; false + @error when malformed. */
static bool
text_uint(const xmlNode *n, guint64 max, guint64 *ret, GError **error)
{
    g_autofree char *t = kt_xml_text(n);

    if (!g_ascii_string_to_unsigned(t, 10, 0, max, ret, NULL))
        return fail_at(error, n, "expected a number, got '%s'", t);
    return true;
}

/* Size element or attribute pair with its unit, to KiB. */
static bool
text_size_kib(xmlNode *n, guint64 *ret, GError **error)
{
    g_autofree char *unit = kt_xml_prop(n, "unit");
    g_autoptr(GError) err = NULL;
    guint64 v = 0;

    if (!text_uint(n, G_MAXUINT64, &v, error))
        return false;
    if (!kt_domain_scale_kib(v, unit, ret, &err))
        return fail_at(error, n, "%s", err->message);
    return true;
}

static bool
attr_size_kib(xmlNode *n, const char *name, const char *unit_name, guint64 *ret,
              bool *present, GError **error)
{
    g_autofree char *unit = kt_xml_prop(n, unit_name);
    g_autoptr(GError) err = NULL;
    guint64 v = 0;

    if (!kt_xml_prop_uint(n, name, G_MAXUINT64, &v, present, error))
        return false;
    if (!*present)
        return true;
    if (!kt_domain_scale_kib(v, unit, ret, &err))
        return fail_at(error, n, "%s", err->message);
    return true;
}

static bool
attr_set(xmlNode *n, const char *name, KtCpuset **ret, GError **error)
{
    g_autofree char *v = kt_xml_prop(n, name);
    g_autoptr(GError) err = NULL;
    KtCpuset *set;

    if (!v)
        return true;
    set = kt_cpuset_parse(v, &err);
    if (!set) {
        g_autofree char *msg = g_strdup_printf("attribute '%s': %s", name, err->message);

        return fail_at(error, n, "%s", msg);
    }
    kt_cpuset_free(*ret);
    *ret = set;
    return true;
}

static guint
attr_uint_or0(xmlNode *n, const char *name, GError **error, bool *ok)
{
    guint64 v = 0;
    bool present = false;

    if (!kt_xml_prop_uint(n, name, G_MAXUINT, &v, &present, error))
        *ok = false;
    return (guint)v;
}

/* libvirt accepts 32 hex digits with '-' or ' ' between bytes. */
static char *
canonical_uuid(const char *s)
{
    char hex[33];
    guint n = 0;

    for (; *s; s++) {
        if (*s == '-' || *s == ' ')
            continue;
        if (!g_ascii_isxdigit(*s) || n >= 32)
            return NULL;
        hex[n++] = g_ascii_tolower(*s);
    }
    if (n != 32)
        return NULL;
    hex[32] = '\0';
    return g_strdup_printf("%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
                           hex + 16, hex + 20);
}

/* <address domain='0x0000' bus='0x41' slot='0x02' function='0x3'/> */
static char *
pci_address(xmlNode *addr)
{
    guint64 d = 0;
    guint64 b = 0;
    guint64 s = 0;
    guint64 f = 0;
    bool pd = false;
    bool pb = false;
    bool ps = false;
    bool pf = false;

    if (!addr ||
        !kt_xml_prop_uint(addr, "domain", 0xffff, &d, &pd, NULL) ||
        !kt_xml_prop_uint(addr, "bus", 0xff, &b, &pb, NULL) ||
        !kt_xml_prop_uint(addr, "slot", 0x1f, &s, &ps, NULL) ||
        !kt_xml_prop_uint(addr, "function", 7, &f, &pf, NULL) ||
        !pb || !ps || !pf)
        return NULL;
    return g_strdup_printf("%04x:%02x:%02x.%x", (guint)d, (guint)b, (guint)s, (guint)f);
}

static void
add_pci(KtRequest *req, xmlNode *source, bool is_interface)
{
    xmlNode *addr = kt_xml_child(source, "address");
    g_autofree char *type = addr ? kt_xml_prop(addr, "type") : NULL;
    char *a;
    KtRequestPciDev *d;

    if (type && strcmp(type, "pci") != 0)
        return;
    a = pci_address(addr);
    if (!a)
        return;
    d = g_new0(KtRequestPciDev, 1);
    d->address = a;
    d->is_interface = is_interface;
    g_ptr_array_add(req->pci_devs, d);
}

static bool
read_nova(KtRequest *req, xmlNode *inst, GError **error)
{
    xmlNode *flavor = NULL;
    xmlNode *owner = NULL;
    xmlNode *c;
    guint64 v = 0;

    req->is_nova = true;
    req->nova_ns = g_strdup((const char *)inst->ns->href);
    for (c = inst->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || c->ns != inst->ns)
            continue;
        if (strcmp((const char *)c->name, "flavor") == 0)
            flavor = c;
        else if (strcmp((const char *)c->name, "owner") == 0)
            owner = c;
    }
    if (flavor) {
        req->flavor_name = kt_xml_prop(flavor, "name");
        for (c = flavor->children; c; c = c->next) {
            const char *name = (const char *)c->name;

            if (c->type != XML_ELEMENT_NODE)
                continue;
            if (strcmp(name, "vcpus") == 0) {
                if (!text_uint(c, G_MAXUINT, &v, error))
                    return false;
                req->flavor_vcpus = (guint)v;
            } else if (strcmp(name, "memory") == 0) {
                if (!text_uint(c, G_MAXUINT64, &req->flavor_memory_mib, error))
                    return false;
            } else if (strcmp(name, "disk") == 0) {
                if (!text_uint(c, G_MAXUINT, &v, error))
                    return false;
                req->flavor_disk_gib = (guint)v;
            } else if (g_ascii_strcasecmp(name, "extraSpecs") == 0 ||
                       g_ascii_strcasecmp(name, "extra_specs") == 0 ||
                       g_ascii_strcasecmp(name, "extra-specs") == 0) {
                /* Nova >= 2025.2; spelling of the element and of the key
                 * attribute (name= or key=) accepted loosely */
                xmlNode *s;

                for (s = c->children; s; s = s->next) {
                    char *key;

                    if (s->type != XML_ELEMENT_NODE)
                        continue;
                    if (g_hash_table_size(req->extra_specs) >= MAX_EXTRA_SPECS)
                        return fail_at(error, s, "%s", "too many flavor extra specs");
                    key = kt_xml_prop(s, "name");
                    if (!key)
                        key = kt_xml_prop(s, "key");
                    if (key)
                        g_hash_table_replace(req->extra_specs, key, kt_xml_text(s));
                }
            }
        }
    }
    if (owner) {
        for (c = owner->children; c; c = c->next) {
            if (c->type != XML_ELEMENT_NODE)
                continue;
            if (strcmp((const char *)c->name, "user") == 0 && !req->owner_user)
                req->owner_user = kt_xml_prop(c, "uuid");
            else if (strcmp((const char *)c->name, "project") == 0 && !req->owner_project)
                req->owner_project = kt_xml_prop(c, "uuid");
        }
    }
    return true;
}

static bool
read_cputune(KtRequest *req, xmlNode *cputune, GError **error)
{
    xmlNode *c;
    bool ok = true;

    for (c = cputune->children; c && ok; c = c->next) {
        if (kt_xml_is(c, "vcpupin")) {
            guint64 id = 0;
            bool present = false;
            KtCpuset *set = NULL;

            if (!kt_xml_prop_uint(c, "vcpu", G_MAXUINT, &id, &present, error))
                return false;
            if (!present)
                return fail_at(error, c, "%s", "missing attribute 'vcpu'");
            if (!attr_set(c, "cpuset", &set, error))
                return false;
            req->nvcpupins++;
            /* out-of-range pins are libvirt's to reject; we only count them */
            if (id < req->vcpus_max && set) {
                kt_cpuset_free(req->vcpupins[id]);
                req->vcpupins[id] = set;
            } else {
                kt_cpuset_free(set);
            }
        } else if (kt_xml_is(c, "emulatorpin")) {
            ok = attr_set(c, "cpuset", &req->emulatorpin, error);
        } else if (kt_xml_is(c, "iothreadpin")) {
            req->niothreadpins++;
        } else if (kt_xml_is(c, "shares")) {
            guint64 v = 0;

            ok = text_uint(c, G_MAXUINT, &v, error);
            req->cpu_shares = (guint)v;
        }
    }
    return ok;
}

static bool
read_cpu(KtRequest *req, xmlNode *cpu, GError **error)
{
    xmlNode *topo = kt_xml_child(cpu, "topology");
    xmlNode *numa = kt_xml_child(cpu, "numa");
    bool ok = true;

    req->cpu_mode = kt_xml_prop(cpu, "mode");
    if (topo) {
        req->cpu_sockets = attr_uint_or0(topo, "sockets", error, &ok);
        if (ok)
            req->cpu_dies = attr_uint_or0(topo, "dies", error, &ok);
        if (ok)
            req->cpu_cores = attr_uint_or0(topo, "cores", error, &ok);
        if (ok)
            req->cpu_threads = attr_uint_or0(topo, "threads", error, &ok);
        if (!ok)
            return false;
    }
    if (numa) {
        xmlNode *c;

        guint i = 0;

        for (c = kt_xml_child(numa, "cell"); c; c = kt_xml_child_next(c, "cell"))
            req->ncpu_cells++;
        req->cpu_cells = g_new0(KtRequestCell, req->ncpu_cells);
        /* informative (the allocator books Nova's cells from them): what
         * does not parse is left unset, libvirt is the judge of validity */
        for (c = kt_xml_child(numa, "cell"); c; c = kt_xml_child_next(c, "cell"), i++) {
            KtRequestCell *cell = &req->cpu_cells[i];
            g_autoptr(GError) err = NULL;
            bool present = false;
            bool cell_ok = true;

            cell->id = attr_uint_or0(c, "id", &err, &cell_ok);
            g_clear_error(&err);
            if (!cell_ok)
                cell->id = G_MAXUINT;
            if (!attr_set(c, "cpus", &cell->vcpus, &err))
                g_clear_error(&err);
            if (!attr_size_kib(c, "memory", "unit", &cell->memory_kib, &present, &err))
                cell->memory_kib = 0;
        }
    }
    return true;
}

/* <numatune><memnode cellid nodeset>: which host nodes each guest cell's
 * memory comes from (Nova writes one per cell). */
static void
read_memnodes(KtRequest *req, xmlNode *numatune)
{
    xmlNode *m;

    for (m = kt_xml_child(numatune, "memnode"); m; m = kt_xml_child_next(m, "memnode")) {
        g_autoptr(GError) err = NULL;
        bool ok = true;
        guint id = attr_uint_or0(m, "cellid", &err, &ok);
        KtCpuset *set = NULL;
        guint i;

        /* informative too: an unreadable memnode binds nothing */
        if (!ok || !attr_set(m, "nodeset", &set, &err))
            continue;
        for (i = 0; set && i < req->ncpu_cells; i++) {
            if (req->cpu_cells[i].id == id && !req->cpu_cells[i].memnode) {
                req->cpu_cells[i].memnode = g_steal_pointer(&set);
                break;
            }
        }
        kt_cpuset_free(set);
    }
}

/* Sum of the guest NUMA cells' memory: libvirt's <memory> when absent. */
static bool
numa_memory(xmlNode *cpu, guint64 *ret, GError **error)
{
    xmlNode *numa = kt_xml_child(cpu, "numa");
    xmlNode *c;
    guint64 sum = 0;

    for (c = kt_xml_child(numa, "cell"); c; c = kt_xml_child_next(c, "cell")) {
        guint64 kib = 0;
        bool present = false;

        if (!attr_size_kib(c, "memory", "unit", &kib, &present, error))
            return false;
        if (sum > G_MAXUINT64 - kib)
            return fail_at(error, c, "%s", "memory overflows");
        sum += kib;
    }
    *ret = sum;
    return true;
}

static bool
read_devices(KtRequest *req, xmlNode *devices, GError **error)
{
    xmlNode *c;

    for (c = devices ? devices->children : NULL; c; c = c->next) {
        g_autofree char *type = NULL;

        if (req->pci_devs->len + req->mdevs->len >= MAX_DEVICES)
            return fail_at(error, c, "%s", "too many passthrough devices");
        if (kt_xml_is(c, "hostdev")) {
            g_autofree char *mode = kt_xml_prop(c, "mode");
            xmlNode *source = kt_xml_child(c, "source");

            type = kt_xml_prop(c, "type");
            if (mode && strcmp(mode, "subsystem") != 0)
                continue;
            if (g_strcmp0(type, "pci") == 0) {
                add_pci(req, source, false);
            } else if (g_strcmp0(type, "mdev") == 0) {
                xmlNode *addr = kt_xml_child(source, "address");
                g_autofree char *uuid = addr ? kt_xml_prop(addr, "uuid") : NULL;
                char *canon = uuid ? canonical_uuid(uuid) : NULL;

                if (canon) {
                    KtRequestMdev *m = g_new0(KtRequestMdev, 1);

                    m->uuid = canon;
                    g_ptr_array_add(req->mdevs, m);
                }
            }
        } else if (kt_xml_is(c, "interface")) {
            type = kt_xml_prop(c, "type");
            if (g_strcmp0(type, "hostdev") == 0)
                add_pci(req, kt_xml_child(c, "source"), true);
        }
    }
    return true;
}

KtRequest *
kt_domain_read_request(KtDomain *dom, GError **error)
{
    g_autoptr(KtRequest) req = kt_request_new();
    xmlNode *root = xmlDocGetRootElement(dom->doc);
    xmlNode *n;
    xmlNode *meta;
    xmlNode *cpu = kt_xml_child(root, "cpu");
    guint64 v = 0;
    guint i;

    req->domain_type = kt_xml_prop(root, "type");
    if ((n = kt_xml_child(root, "name")))
        req->name = kt_xml_text(n);
    if ((n = kt_xml_child(root, "uuid"))) {
        g_autofree char *t = kt_xml_text(n);

        req->uuid = canonical_uuid(t);
        if (!req->uuid) {
            fail_at(error, n, "malformed UUID '%s'", t);
            return NULL;
        }
    }
    if ((n = kt_xml_child(root, "os")) && (n = kt_xml_child(n, "type"))) {
        req->arch = kt_xml_prop(n, "arch");
        req->machine = kt_xml_prop(n, "machine");
    }

    /* vCPUs: libvirt's default is 1 */
    req->vcpus_max = 1;
    if ((n = kt_xml_child(root, "vcpu"))) {
        bool present = false;

        if (!text_uint(n, 16384, &v, error))
            return NULL;
        if (v == 0) {
            fail_at(error, n, "%s", "a domain needs at least one vCPU");
            return NULL;
        }
        req->vcpus_max = (guint)v;
        req->vcpu_placement = kt_xml_prop(n, "placement");
        if (!attr_set(n, "cpuset", &req->vcpu_cpuset, error) ||
            !kt_xml_prop_uint(n, "current", req->vcpus_max, &v, &present, error))
            return NULL;
        req->vcpus_current = present ? (guint)v : req->vcpus_max;
    } else {
        req->vcpus_current = 1;
    }
    req->vcpupins = g_new0(KtCpuset *, req->vcpus_max);

    /* memory: from <memory>, else the NUMA cells' sum (libvirt allows both) */
    if ((n = kt_xml_child(root, "memory"))) {
        if (!text_size_kib(n, &req->memory_kib, error))
            return NULL;
    } else if (!numa_memory(cpu, &req->memory_kib, error)) {
        return NULL;
    }
    req->current_memory_kib = req->memory_kib;
    if ((n = kt_xml_child(root, "currentMemory")) &&
        !text_size_kib(n, &req->current_memory_kib, error))
        return NULL;

    meta = kt_xml_child(root, "metadata");
    for (n = meta ? meta->children : NULL; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
            g_str_has_prefix((const char *)n->ns->href, NOVA_NS_PREFIX) &&
            strcmp((const char *)n->name, "instance") == 0) {
            if (!read_nova(req, n, error))
                return NULL;
            break;
        }
    }
    if ((n = kt_domain_find_placement(dom))) {
        req->placement = kt_placement_from_node(n, NULL, NULL, error);
        if (!req->placement)
            return NULL;
    }

    if ((n = kt_xml_child(root, "cputune")) && !read_cputune(req, n, error))
        return NULL;
    if ((n = kt_xml_child(root, "numatune"))) {
        xmlNode *mem = kt_xml_child(n, "memory");

        /* an empty <numatune> asks for nothing */
        req->has_numatune = mem || kt_xml_child(n, "memnode");
        if (mem && !attr_set(mem, "nodeset", &req->numatune_nodeset, error))
            return NULL;
    }
    if ((n = kt_xml_child(root, "memoryBacking")) && (n = kt_xml_child(n, "hugepages"))) {
        xmlNode *page = kt_xml_child(n, "page");
        bool present = false;

        req->has_hugepages = true;
        if (page && !attr_size_kib(page, "size", "unit", &req->hugepage_kib,
                                   &present, error))
            return NULL;
    }
    if (cpu && !read_cpu(req, cpu, error))
        return NULL;
    if ((n = kt_xml_child(root, "numatune")))
        read_memnodes(req, n);
    if (!read_devices(req, kt_xml_child(root, "devices"), error))
        return NULL;

    /* libvirt does not carry the mdev type; kvmtune's metadata does */
    for (i = 0; req->placement && i < req->mdevs->len; i++) {
        KtRequestMdev *m = g_ptr_array_index(req->mdevs, i);
        guint j;

        for (j = 0; j < req->placement->mdevs->len; j++) {
            const KtPlacementMdev *pm = g_ptr_array_index(req->placement->mdevs, j);

            if (g_strcmp0(pm->uuid, m->uuid) == 0)
                m->type = g_strdup(pm->type);
        }
    }
    return g_steal_pointer(&req);
}
