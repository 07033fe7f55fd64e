/* hook-host.c: host facts for the prepare checks; see hook-host.h. */
#include "hook-host.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "domain.h"
#include "xml-util.h"
#include "kt-error.h"
#include "mdev.h"
#include "placement.h"

#define ATTR_MAX 64
#define STATUS_MAX (2 * KT_DOMAIN_XML_MAX)

gboolean
kt_hook_host_free_hugepages(const char *sysroot, guint node, guint64 size_kib,
                            guint64 *ret_free, GError **error)
{
    g_autofree char *nodedir = g_strdup_printf("node%u", node);
    g_autofree char *pool = g_strdup_printf("hugepages-%" G_GUINT64_FORMAT "kB", size_kib);
    g_autofree char *dir = g_build_filename(sysroot, "sys", "devices", "system",
                                            "node", nodedir, NULL);
    g_autofree char *path = NULL;
    char buf[ATTR_MAX];
    guint64 value;
    ssize_t n;
    int fd;

    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, KT_ERROR, KT_ERROR_NOT_FOUND,
                    "host has no NUMA node %u", node);
        return FALSE;
    }
    path = g_build_filename(dir, "hugepages", pool, "free_hugepages", NULL);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_NOT_FOUND,
                    "node %u has no %" G_GUINT64_FORMAT " KiB hugepage pool",
                    node, size_kib);
        return FALSE;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "%s: read failed", path);
        return FALSE;
    }
    buf[n] = '\0';
    g_strstrip(buf);
    if (!g_ascii_string_to_unsigned(buf, 10, 0, G_MAXUINT64, &value, NULL)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "%s: '%s' is not a page count", path, buf);
        return FALSE;
    }
    *ret_free = value;
    return TRUE;
}

gboolean
kt_hook_host_check_vf(const char *sysroot, const char *pf, const char *vf,
                      GError **error)
{
    g_autofree char *dev = NULL;
    g_autofree char *physfn = NULL;
    g_autofree char *target = NULL;
    g_autofree char *base = NULL;

    if (!kt_pci_address_valid(vf) || (pf && !kt_pci_address_valid(pf))) {
        g_autofree char *esc = g_strescape(kt_pci_address_valid(vf) ? pf : vf, NULL);

        g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                    "'%s' is not a PCI address", esc);
        return FALSE;
    }
    dev = g_build_filename(sysroot, "sys", "bus", "pci", "devices", vf, NULL);
    if (!g_file_test(dev, G_FILE_TEST_IS_DIR)) {
        g_set_error(error, KT_ERROR, KT_ERROR_NOT_FOUND,
                    "VF %s does not exist on this host", vf);
        return FALSE;
    }
    physfn = g_build_filename(dev, "physfn", NULL);
    target = g_file_read_link(physfn, NULL);
    if (!target) {
        g_set_error(error, KT_ERROR, KT_ERROR_NOT_FOUND,
                    "%s is not an SR-IOV virtual function", vf);
        return FALSE;
    }
    base = g_path_get_basename(target);
    if (pf && strcmp(base, pf) != 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                    "VF %s belongs to %s, not to %s", vf, base, pf);
        return FALSE;
    }
    return TRUE;
}

/* "0x41" or "41" -> value <= @max. */
static bool
hex_attr(xmlNode *node, const char *name, guint64 max, guint64 *ret)
{
    g_autofree char *text = (char *)xmlGetProp(node, BAD_CAST name);
    const char *s = text;

    if (!s)
        return false;
    if (g_str_has_prefix(s, "0x") || g_str_has_prefix(s, "0X"))
        s += 2;
    return g_ascii_string_to_unsigned(s, 16, 0, max, ret, NULL);
}

static char *
address_from_xml(xmlNode *node)
{
    guint64 domain, bus, slot, function;

    if (!hex_attr(node, "domain", 0xffffffff, &domain))
        domain = 0;
    if (!hex_attr(node, "bus", 0xff, &bus) ||
        !hex_attr(node, "slot", 0x1f, &slot) ||
        !hex_attr(node, "function", 7, &function))
        return NULL;
    return g_strdup_printf("%04" G_GINT64_MODIFIER "x:%02" G_GINT64_MODIFIER
                           "x:%02" G_GINT64_MODIFIER "x.%" G_GINT64_MODIFIER "x",
                           domain, bus, slot, function);
}

/* Value of the XPath expression @expr (a string() call), or NULL. */
static char *
xpath_string(xmlXPathContext *ctxt, const char *expr)
{
    g_autoptr(xmlXPathObject) obj = xmlXPathEvalExpression(BAD_CAST expr, ctxt);

    if (!obj || !obj->stringval || !*obj->stringval)
        return NULL;
    return g_strstrip(g_strdup((const char *)obj->stringval));
}

static void
scan_status(GHashTable *used, const char *path, const char *self_uuid)
{
    g_autofree char *text = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autoptr(xmlXPathObject) devs = NULL;
    g_autoptr(xmlXPathObject) vfs = NULL;
    g_autofree char *raw_uuid = NULL;
    g_autofree char *uuid = NULL;
    g_autofree char *name = NULL;
    const char *who;
    gsize len = 0;
    GStatBuf sb;
    int i;

    /* A status file is a domain XML plus libvirt's runtime state: bound it
     * before reading, as any input. */
    if (g_stat(path, &sb) < 0 || sb.st_size > STATUS_MAX ||
        !g_file_get_contents(path, &text, &len, NULL) || len > STATUS_MAX)
        return;
    /* Most guests have no PCI passthrough: skip their XML without parsing. */
    if (!strstr(text, "hostdev") && !strstr(text, KT_PLACEMENT_NS))
        return;
    doc = xmlReadMemory(text, (int)len, path, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc || !(ctxt = xmlXPathNewContext(doc)))
        return;
    xmlXPathRegisterNs(ctxt, BAD_CAST "kt", BAD_CAST KT_PLACEMENT_NS);
    raw_uuid = xpath_string(ctxt, "string(/domstatus/domain/uuid | /domain/uuid)");
    name = xpath_string(ctxt, "string(/domstatus/domain/name | /domain/name)");
    if (!raw_uuid)
        return;
    uuid = g_ascii_strdown(raw_uuid, -1);
    if (self_uuid && strcmp(uuid, self_uuid) == 0)
        return;
    who = name ? name : uuid;

    devs = xmlXPathEvalExpression(
        BAD_CAST "//devices/hostdev[@type='pci']/source/address | "
                 "//devices/interface[@type='hostdev']/source/address",
        ctxt);
    for (i = 0; devs && devs->nodesetval && i < devs->nodesetval->nodeNr; i++) {
        char *addr = address_from_xml(devs->nodesetval->nodeTab[i]);

        if (addr)
            g_hash_table_replace(used, addr, g_strdup(who));
    }
    vfs = xmlXPathEvalExpression(BAD_CAST "//metadata/kt:placement/kt:vf/@vf", ctxt);
    for (i = 0; vfs && vfs->nodesetval && i < vfs->nodesetval->nodeNr; i++) {
        g_autofree char *addr = (char *)xmlNodeGetContent(vfs->nodesetval->nodeTab[i]);

        if (addr && kt_pci_address_valid(addr))
            g_hash_table_replace(used, g_strdup(addr), g_strdup(who));
    }
}

GHashTable *
kt_hook_host_running_pci(const char *sysroot, const char *self_uuid)
{
    GHashTable *used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    g_autofree char *dir = g_build_filename(sysroot, "run", "libvirt", "qemu", NULL);
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *entry;

    if (!d)
        return used;
    while ((entry = g_dir_read_name(d))) {
        g_autofree char *path = NULL;

        if (!g_str_has_suffix(entry, ".xml"))
            continue;
        path = g_build_filename(dir, entry, NULL);
        scan_status(used, path, self_uuid);
    }
    return used;
}
