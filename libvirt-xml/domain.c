/* domain.c: parse and serialise a domain definition (KtDomain).
 *
 * Parsing refuses everything that could make a hostile XML expensive or
 * reach outside the string: no network, no DTD (and so no entity
 * declarations: billion laughs, XXE), a size cap, a depth cap, UTF-8 only.
 * Serialising writes the input's bytes back for every node nobody edited
 * (xml-util.c). */
#include "domain-priv.h"
#include "kt-error.h"

#include <string.h>

const char *const kt_domain_order[] = {
    "name", "uuid", "genid", "title", "description", "metadata",
    "maxMemory", "memory", "currentMemory", "blkiotune", "memtune",
    "memoryBacking", "vcpu", "vcpus", "iothreads", "iothreadids",
    "defaultiothread", "cputune", "numatune", "resource", "sysinfo",
    "bootloader", "bootloader_args", "os", "idmap", "features", "cpu",
    "clock", "on_poweroff", "on_reboot", "on_crash", "on_lockfailure", "pm",
    "perf", "devices", "seclabel", "keywrap", "launchSecurity",
    NULL,
};

const char *const kt_devices_order[] = {
    "emulator", "disk", "controller", "lease", "filesystem", "interface",
    "smartcard", "serial", "parallel", "console", "channel", "input", "tpm",
    "graphics", "sound", "audio", "video", "hostdev", "redirdev",
    "redirfilter", "hub", "watchdog", "memballoon", "rng", "panic", "shmem",
    "memory", "iommu", "vsock", "crypto",
    NULL,
};

static bool
check_depth(xmlNode *root, GError **error)
{
    xmlNode *n = root;
    guint depth = 1;

    /* iterative walk: a deep tree must not cost us stack */
    while (n) {
        if (depth > KT_DOMAIN_XML_MAX_DEPTH) {
            g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                        "%ld:1: elements nested deeper than %d",
                        xmlGetLineNo(n), KT_DOMAIN_XML_MAX_DEPTH);
            return false;
        }
        if (n->type == XML_ELEMENT_NODE && n->children) {
            n = n->children;
            depth++;
            continue;
        }
        while (n && !n->next && n != root) {
            n = n->parent;
            depth--;
        }
        if (!n || n == root)
            break;
        n = n->next;
    }
    return true;
}

KtDomain *
kt_domain_parse(const char *xml, gsize len, GError **error)
{
    g_autoptr(KtDomain) dom = NULL;
    xmlNode *root;
    gsize start = 0;

    if (len > KT_DOMAIN_XML_MAX) {
        g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                    "1:1: domain XML of %" G_GSIZE_FORMAT " bytes exceeds the limit of %d",
                    len, KT_DOMAIN_XML_MAX);
        return NULL;
    }
    dom = g_new0(KtDomain, 1);
    dom->text = g_strndup(xml, len);
    dom->len = len;
    if (len >= 3 && memcmp(xml, "\xEF\xBB\xBF", 3) == 0)
        start = 3;
    dom->has_decl = len - start >= 5 && memcmp(xml + start, "<?xml", 5) == 0;
    dom->doc = kt_xml_parse(xml, len, error);
    if (!dom->doc)
        return NULL;
    root = xmlDocGetRootElement(dom->doc);
    if (!root || !kt_xml_is(root, "domain")) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                    "%ld:1: expected root element <domain>, got <%s>",
                    root ? xmlGetLineNo(root) : 1L,
                    root ? (const char *)root->name : "");
        return NULL;
    }
    if (!check_depth(root, error))
        return NULL;
    return g_steal_pointer(&dom);
}

void
kt_domain_edit(KtDomain *dom)
{
    if (dom->src_ready)
        return;
    kt_xml_source_init(&dom->src, dom->doc, dom->text, dom->len);
    dom->src_ready = true;
}

void
kt_domain_free(KtDomain *dom)
{
    if (!dom)
        return;
    kt_xml_source_clear(&dom->src);
    if (dom->doc)
        xmlFreeDoc(dom->doc);
    g_free(dom->text);
    g_free(dom);
}

/* <sysinfo type='smbios'><system><entry name='uuid'>: libvirt takes the
 * domain's UUID from there when <uuid> is missing (and refuses the two
 * differing), so kvmtune must pick the same one. */
static char *
sysinfo_uuid(xmlNode *root)
{
    xmlNode *si;

    for (si = kt_xml_child(root, "sysinfo"); si; si = kt_xml_child_next(si, "sysinfo")) {
        xmlNode *sys = kt_xml_child(si, "system");
        xmlNode *e;

        for (e = sys ? kt_xml_child(sys, "entry") : NULL; e; e = kt_xml_child_next(e, "entry")) {
            g_autofree char *name = kt_xml_prop(e, "name");
            g_autofree char *text = NULL;

            if (g_strcmp0(name, "uuid") != 0)
                continue;
            text = kt_xml_text(e);
            return g_uuid_string_is_valid(text) ? g_ascii_strdown(text, -1) : NULL;
        }
    }
    return NULL;
}

char *
kt_domain_ensure_uuid(KtDomain *dom)
{
    xmlNode *root = xmlDocGetRootElement(dom->doc);
    g_autofree char *uuid = NULL;
    xmlNode *n;

    kt_domain_edit(dom);
    if (!root || kt_xml_child(root, "uuid"))
        return NULL;
    uuid = sysinfo_uuid(root);
    if (!uuid)
        uuid = g_uuid_string_random();
    n = kt_xml_child_insert(root, kt_domain_order, "uuid");
    xmlNodeAddContent(n, BAD_CAST uuid);
    return g_steal_pointer(&uuid);
}

char *
kt_domain_format(KtDomain *dom, gsize *ret_len)
{
    GString *out;

    kt_domain_edit(dom);
    out = kt_xml_source_serialize(&dom->src, dom->doc, dom->has_decl);

    if (ret_len)
        *ret_len = out->len;
    return g_string_free(out, FALSE);
}

char *
kt_domain_rewrite(const char *xml, gsize len, const KtPlacement *pl,
                  KtApplyReport *report, GError **error)
{
    g_autoptr(KtDomain) dom = kt_domain_parse(xml, len, error);

    if (!dom || !kt_domain_apply(dom, pl, report, error))
        return NULL;
    return kt_domain_format(dom, NULL);
}

xmlNode *
kt_domain_find_placement(KtDomain *dom)
{
    xmlNode *root = xmlDocGetRootElement(dom->doc);
    xmlNode *meta = kt_xml_child(root, "metadata");

    return kt_xml_child_ns(meta, KT_PLACEMENT_NS, "placement");
}

bool
kt_domain_scale_kib(guint64 value, const char *unit, guint64 *ret_kib,
                    GError **error)
{
    static const struct {
        const char *name;
        guint64 bytes;
    } units[] = {
        { "b", 1 }, { "bytes", 1 },
        { "KB", 1000ULL }, { "k", 1024ULL }, { "KiB", 1024ULL },
        { "MB", 1000ULL * 1000 }, { "M", 1ULL << 20 }, { "MiB", 1ULL << 20 },
        { "GB", 1000ULL * 1000 * 1000 }, { "G", 1ULL << 30 }, { "GiB", 1ULL << 30 },
        { "TB", 1000ULL * 1000 * 1000 * 1000 }, { "T", 1ULL << 40 },
        { "TiB", 1ULL << 40 },
        { "PB", 1000ULL * 1000 * 1000 * 1000 * 1000 }, { "P", 1ULL << 50 },
        { "PiB", 1ULL << 50 },
        { "EB", 1000ULL * 1000 * 1000 * 1000 * 1000 * 1000 }, { "E", 1ULL << 60 },
        { "EiB", 1ULL << 60 },
    };
    guint64 bytes = 1024;
    gsize i;

    if (unit && *unit) {
        bytes = 0;
        for (i = 0; i < G_N_ELEMENTS(units); i++) {
            /* libvirt compares units case-insensitively */
            if (g_ascii_strcasecmp(units[i].name, unit) == 0) {
                bytes = units[i].bytes;
                break;
            }
        }
        if (bytes == 0) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "unknown unit '%s'", unit);
            return false;
        }
    }
    if (bytes % 1024 == 0 && value <= G_MAXUINT64 / (bytes / 1024)) {
        *ret_kib = value * (bytes / 1024);
        return true;
    }
    if (bytes % 1024 != 0 && value <= (G_MAXUINT64 - 1023) / bytes) {
        /* decimal units and bytes: round up to whole KiB */
        *ret_kib = (value * bytes + 1023) / 1024;
        return true;
    }
    g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "size %" G_GUINT64_FORMAT " %s is too large",
                value, unit ? unit : "KiB");
    return false;
}
