/* fuzz-domain-xml: any bytes through the domain XML engine: parse, read
 * the request, apply a placement, apply again, strip, format.  Never a
 * crash, leak or unbounded allocation; and the engine's promises hold:
 *
 *   - parse fails only with a GError;
 *   - format(parse(x)) is x, or at least canonically x;
 *   - apply's output parses, and applying again changes nothing (for
 *     documents without mixed content in libvirt's own elements: text
 *     beside elements is invalid there, and where new nodes go next to
 *     it is best effort);
 *   - a placement survives <kvmtune:placement> text unchanged.
 *
 * Input: a domain XML, optionally followed by "\n--placement--\n" and a
 * <kvmtune:placement> element to apply; without one a placement is made
 * up from the request (pins, emulator, 2 cells, 2M pages, VF, mdev). */
#include <stdint.h>
#include <string.h>

#include <libxml/c14n.h>
#include <libxml/parser.h>

#include "domain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEP "\n--placement--\n"

static KtPlacement *
made_up_placement(const KtRequest *req)
{
    KtPlacement *pl = kt_placement_new();
    guint n = MIN(req->vcpus_max, 256);
    guint i;

    pl->profile = g_strdup("fuzz");
    pl->nvcpus = req->vcpus_max;
    if (n == req->vcpus_max) {
        pl->cpu_policy = KT_CPU_POLICY_DEDICATED;
        pl->vcpu_pins = g_new0(KtCpuset *, n);
        for (i = 0; i < n; i++) {
            pl->vcpu_pins[i] = kt_cpuset_new();
            kt_cpuset_add(pl->vcpu_pins[i], i % 200);
        }
    } else {
        pl->cpu_policy = KT_CPU_POLICY_SHARED;
        pl->shared_cpus = kt_cpuset_parse("2-27", NULL);
    }
    pl->emulator_cpus = kt_cpuset_parse("201", NULL);
    pl->nodes = kt_cpuset_parse("0-1", NULL);
    pl->threads_per_core = 2;
    if (n >= 2 && n == req->vcpus_max) {
        pl->ncells = 2;
        pl->cells = g_new0(KtPlacementCell, 2);
        pl->cells[0].vcpus = kt_cpuset_new();
        pl->cells[1].vcpus = kt_cpuset_new();
        for (i = 0; i < n; i++)
            kt_cpuset_add(pl->cells[i < n / 2 ? 0 : 1].vcpus, i);
        pl->cells[0].memory_kib = req->memory_kib / 2;
        pl->cells[1].memory_kib = req->memory_kib - req->memory_kib / 2;
    }
    pl->memory_kib = req->memory_kib;
    pl->hugepage_kib = 2048;
    {
        KtPlacementVf *vf = kt_placement_vf_new();
        KtPlacementMdev *m = g_new0(KtPlacementMdev, 1);

        vf->vf = g_strdup("0000:41:02.1");
        vf->vlan = 7;
        g_ptr_array_add(pl->vfs, vf);
        m->uuid = g_strdup("4b20d080-1b54-4048-85b3-a6a62d165c01");
        g_ptr_array_add(pl->mdevs, m);
    }
    return pl;
}

/* Non-blank text beside child elements inside a libvirt (no-namespace)
 * element, anywhere in the document. */
static bool
has_mixed(const xmlNode *n)
{
    const xmlNode *c;
    bool text = false;
    bool elem = false;

    for (c = n->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            elem = true;
            if (has_mixed(c))
                return true;
        } else if (c->type == XML_TEXT_NODE && c->content &&
                   c->content[strspn((const char *)c->content, " \t\r\n")]) {
            text = true;
        }
    }
    return !n->ns && text && elem;
}

static bool
mixed_content(const char *xml, gsize len)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)len, "m.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    bool r;

    if (!doc)
        return true;
    r = has_mixed(xmlDocGetRootElement(doc));
    xmlFreeDoc(doc);
    return r;
}

static char *
canonical(const char *xml, gsize len)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)len, "c.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlChar *out = NULL;
    char *r = NULL;

    if (!doc)
        return NULL;
    if (xmlC14NDocDumpMemory(doc, NULL, 0, NULL, 1, &out) >= 0)
        r = g_strdup((const char *)out);
    xmlFree(out);
    xmlFreeDoc(doc);
    return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *sep;
    gsize xlen = size;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDomain) dom = NULL;
    g_autoptr(KtDomain) again = NULL;
    g_autoptr(KtRequest) req = NULL;
    g_autoptr(KtPlacement) pl = NULL;
    g_autofree char *ident = NULL;
    g_autofree char *out = NULL;
    g_autofree char *out2 = NULL;
    gsize ilen = 0;

    if (size > 256 * 1024)
        return 0;
    sep = g_strstr_len(text, size, SEP);
    if (sep) {
        gsize off = (gsize)(sep - text) + strlen(SEP);

        xlen = (gsize)(sep - text);
        pl = kt_placement_parse_xml(text + off, size - off, NULL);
        if (pl) {
            /* the metadata text round-trips every field */
            g_autofree char *pt = kt_placement_format_xml(pl);
            g_autoptr(KtPlacement) back = kt_placement_parse_xml(pt, strlen(pt), NULL);

            if (!back || !kt_placement_equal(pl, back))
                __builtin_trap();
        }
    }

    dom = kt_domain_parse(text, xlen, &err);
    if (!dom) {
        if (!err)
            __builtin_trap();
        return 0;
    }
    ident = kt_domain_format(dom, &ilen);
    if (ilen != xlen || memcmp(ident, text, xlen) != 0) {
        g_autofree char *a = canonical(text, xlen);
        g_autofree char *b = canonical(ident, ilen);

        if (!a || !b || strcmp(a, b) != 0)
            __builtin_trap();
    }

    req = kt_domain_read_request(dom, &err);
    if (!req) {
        if (!err)
            __builtin_trap();
        return 0;
    }
    if (!pl)
        pl = made_up_placement(req);
    if (!kt_domain_apply(dom, pl, NULL, &err)) {
        if (!err)
            __builtin_trap();
        kt_domain_strip(dom);
        return 0;
    }
    out = kt_domain_format(dom, NULL);
    again = kt_domain_parse(out, strlen(out), &err);
    if (!again)
        __builtin_trap();
    if (kt_domain_apply(again, pl, NULL, NULL)) {
        out2 = kt_domain_format(again, NULL);
        if (strcmp(out, out2) != 0 && !mixed_content(text, xlen))
            __builtin_trap();
    }
    kt_domain_strip(again);
    g_free(kt_domain_format(again, NULL));
    kt_domain_strip(dom);
    g_free(kt_domain_format(dom, NULL));
    return 0;
}
