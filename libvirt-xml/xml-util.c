/* xml-util.c: source-preserving serialisation and ordered, indented tree
 * edits on libxml2 trees.  See xml-util.h. */
#include "xml-util.h"
#include "kt-error.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* Source map                                                          */
/* ------------------------------------------------------------------ */

/* The element span a node maps to, or NULL for new or touched nodes.
 * _private holds a pointer into the (never resized after init) array. */
typedef struct {
    KtXmlSpan span;
    bool touched;
} SpanSlot;

static bool
is_name_start(unsigned char c)
{
    return g_ascii_isalpha(c) || c == '_' || c == ':' || c >= 0x80;
}

static bool
is_blank_char(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Finds @needle at or after @pos; returns the offset just past it. */
static bool
skip_past(const char *text, gsize len, gsize *pos, const char *needle)
{
    gsize nlen = strlen(needle);
    const char *hit;

    if (*pos > len)
        return false;
    hit = g_strstr_len(text + *pos, len - *pos, needle);
    if (!hit)
        return false;
    *pos = (gsize)(hit - text) + nlen;
    return true;
}

static bool
has_prefix_at(const char *text, gsize len, gsize pos, const char *prefix)
{
    gsize plen = strlen(prefix);

    return pos + plen <= len && memcmp(text + pos, prefix, plen) == 0;
}

/* Skips a comment, PI or CDATA section that opens at @pos with @open: the
 * offset just past its @close.  The search starts after the opener, which
 * may overlap the closer: "<!-->x-->" is one comment holding ">x". */
static bool
skip_markup(const char *text, gsize len, gsize *pos, const char *open, const char *close)
{
    gsize after;

    if (!has_prefix_at(text, len, *pos, open))
        return false;
    after = *pos + strlen(open);
    if (!skip_past(text, len, &after, close))
        return false;
    *pos = after;
    return true;
}

/* Scans a start or end tag beginning at @pos ('<'); returns the offset
 * just after its '>'.  Quoted attribute values may hold '>'. */
static bool
scan_tag(const char *text, gsize len, gsize *pos)
{
    const char *p = text + *pos + 1;
    const char *end = text + len;

    /* memchr to the next '>' and to a quote before it; a quoted value is
     * skipped whole (it may hold '>') */
    while (p < end) {
        const char *gt = memchr(p, '>', (gsize)(end - p));
        const char *q1;
        const char *q2;
        const char *q;

        if (!gt)
            return false;
        q1 = memchr(p, '\'', (gsize)(gt - p));
        q2 = memchr(p, '"', (gsize)(gt - p));
        q = q1 && (!q2 || q1 < q2) ? q1 : q2;
        if (!q) {
            *pos = (gsize)(gt - text) + 1;
            return true;
        }
        p = memchr(q + 1, *q, (gsize)(end - q - 1));
        if (!p)
            return false;
        p++;
    }
    return false;
}

static void
set_span(KtXmlSource *src, xmlNode *node, const KtXmlSpan *span)
{
    SpanSlot slot = { *span, false };

    g_array_append_val(src->spans, slot);
    /* index + 1; turned into pointers once the array stops growing */
    node->_private = GSIZE_TO_POINTER(src->spans->len);
}

static bool map_children(KtXmlSource *src, xmlNode *first, gsize *pos);

static bool
map_element(KtXmlSource *src, xmlNode *node, gsize *pos)
{
    const char *t = src->text;
    KtXmlSpan span = { 0 };

    if (*pos + 1 >= src->len || t[*pos] != '<' || !is_name_start((unsigned char)t[*pos + 1]))
        return false;
    span.start = *pos;
    if (!scan_tag(t, src->len, pos))
        return false;
    span.len = *pos - span.start;
    span.self_closing = t[*pos - 2] == '/';
    if (span.self_closing) {
        if (node->children)
            return false;
    } else {
        if (!map_children(src, node->children, pos))
            return false;
        if (!has_prefix_at(t, src->len, *pos, "</"))
            return false;
        span.end_start = *pos;
        if (!scan_tag(t, src->len, pos))
            return false;
        span.end_len = *pos - span.end_start;
    }
    set_span(src, node, &span);
    return true;
}

static bool
map_children(KtXmlSource *src, xmlNode *first, gsize *pos)
{
    const char *t = src->text;
    xmlNode *n;

    for (n = first; n; n = n->next) {
        switch (n->type) {
        case XML_ELEMENT_NODE:
            if (!map_element(src, n, pos))
                return false;
            break;
        case XML_TEXT_NODE: {
            KtXmlSpan span = { 0 };
            const char *lt;

            span.start = *pos;
            lt = memchr(t + *pos, '<', src->len - *pos);
            if (!lt)
                return false;
            *pos = (gsize)(lt - t);
            span.len = *pos - span.start;
            if (span.len == 0)
                return false;
            set_span(src, n, &span);
            break;
        }
        case XML_CDATA_SECTION_NODE:
            if (!skip_markup(t, src->len, pos, "<![CDATA[", "]]>"))
                return false;
            break;
        case XML_COMMENT_NODE:
            if (!skip_markup(t, src->len, pos, "<!--", "-->"))
                return false;
            break;
        case XML_PI_NODE:
            if (!skip_markup(t, src->len, pos, "<?", "?>"))
                return false;
            break;
        case XML_ATTRIBUTE_NODE:
        case XML_ENTITY_REF_NODE:
        case XML_ENTITY_NODE:
        case XML_DOCUMENT_NODE:
        case XML_DOCUMENT_TYPE_NODE:
        case XML_DOCUMENT_FRAG_NODE:
        case XML_NOTATION_NODE:
        case XML_HTML_DOCUMENT_NODE:
        case XML_DTD_NODE:
        case XML_ELEMENT_DECL:
        case XML_ATTRIBUTE_DECL:
        case XML_ENTITY_DECL:
        case XML_NAMESPACE_DECL:
        case XML_XINCLUDE_START:
        case XML_XINCLUDE_END:
#ifdef LIBXML_DOCB_ENABLED
        case XML_DOCB_DOCUMENT_NODE:
#endif
        default:
            return false;
        }
    }
    return true;
}

static void
clear_private(xmlNode *node)
{
    xmlNode *n;

    for (n = node; n; n = n->next) {
        n->_private = NULL;
        if (n->type == XML_ELEMENT_NODE)
            clear_private(n->children);
    }
}

static void
resolve_private(KtXmlSource *src, xmlNode *node)
{
    xmlNode *n;

    for (n = node; n; n = n->next) {
        if (n->_private) {
            gsize idx = GPOINTER_TO_SIZE(n->_private) - 1;

            n->_private = &g_array_index(src->spans, SpanSlot, idx);
        }
        if (n->type == XML_ELEMENT_NODE)
            resolve_private(src, n->children);
    }
}

void
kt_xml_source_init(KtXmlSource *src, xmlDoc *doc, const char *text, gsize len)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    gsize pos = 0;
    gsize i;

    memset(src, 0, sizeof(*src));
    src->text = text;
    src->len = len;
    src->quote = '\'';
    src->spans = g_array_sized_new(FALSE, FALSE, sizeof(SpanSlot), 256);
    src->crlf = memchr(text, '\r', len) && g_strstr_len(text, len, "\r\n");
    doc->_private = src;
    if (!root)
        return;

    /* The prolog (declaration, comments, PIs, blanks) is kept verbatim:
     * skip to the first start tag. */
    if (has_prefix_at(text, len, 0, "\xEF\xBB\xBF"))
        pos = 3;
    for (;;) {
        while (pos < len && is_blank_char(text[pos]))
            pos++;
        if (has_prefix_at(text, len, pos, "<?")) {
            if (!skip_markup(text, len, &pos, "<?", "?>"))
                return;
        } else if (has_prefix_at(text, len, pos, "<!--")) {
            if (!skip_markup(text, len, &pos, "<!--", "-->"))
                return;
        } else {
            break;
        }
    }
    src->prolog_len = pos;
    if (!map_element(src, root, &pos)) {
        clear_private(root);
        g_array_set_size(src->spans, 0);
        return;
    }
    src->epilog_start = pos;
    resolve_private(src, root);
    src->mapped = true;

    /* The quote style of the root's first attribute decides new tags. */
    {
        const SpanSlot *rs = root->_private;

        for (i = 0; i < rs->span.len; i++) {
            char c = text[rs->span.start + i];

            if (c == '\'' || c == '"') {
                src->quote = c;
                break;
            }
        }
    }
}

void
kt_xml_source_clear(KtXmlSource *src)
{
    if (src->spans)
        g_array_unref(src->spans);
    src->spans = NULL;
    src->mapped = false;
}

void
kt_xml_node_touch(xmlNode *node)
{
    SpanSlot *slot = node->_private;

    if (slot)
        slot->touched = true;
}

static const KtXmlSpan *
node_span(const xmlNode *node)
{
    const SpanSlot *slot = node->_private;

    if (!slot || slot->touched)
        return NULL;
    return &slot->span;
}

static char
node_quote(const KtXmlSource *src, const xmlNode *node)
{
    const SpanSlot *slot = node->_private;
    gsize i;

    if (slot && src->mapped) {
        for (i = slot->span.start; i < slot->span.start + slot->span.len; i++) {
            if (src->text[i] == '\'' || src->text[i] == '"')
                return src->text[i];
        }
    }
    return src->quote;
}

static void
escape_text(GString *out, const char *s, bool attr, char quote)
{
    /* copy runs that need no escaping in one go */
    while (*s) {
        gsize run = strcspn(s, attr ? "&<>\r\n\t'\"" : "&<>\r");

        g_string_append_len(out, s, run);
        s += run;
        if (!*s)
            break;
        switch (*s) {
        case '&': g_string_append(out, "&amp;"); break;
        case '<': g_string_append(out, "&lt;"); break;
        case '>': g_string_append(out, "&gt;"); break;
        case '\r': g_string_append(out, "&#13;"); break;
        case '\'':
            if (attr && quote == '\'')
                g_string_append(out, "&apos;");
            else
                g_string_append_c(out, *s);
            break;
        case '"':
            if (attr && quote == '"')
                g_string_append(out, "&quot;");
            else
                g_string_append_c(out, *s);
            break;
        case '\n':
            if (attr)
                g_string_append(out, "&#10;");
            else
                g_string_append_c(out, *s);
            break;
        case '\t':
            if (attr)
                g_string_append(out, "&#9;");
            else
                g_string_append_c(out, *s);
            break;
        default:
            g_string_append_c(out, *s);
        }
        s++;
    }
}

static void
append_qname(GString *out, const xmlNode *node)
{
    if (node->ns && node->ns->prefix) {
        g_string_append(out, (const char *)node->ns->prefix);
        g_string_append_c(out, ':');
    }
    g_string_append(out, (const char *)node->name);
}

static void
append_attr(GString *out, const char *prefix, const char *name, const char *value,
            char q)
{
    g_string_append_c(out, ' ');
    if (prefix) {
        g_string_append(out, prefix);
        g_string_append_c(out, ':');
    }
    g_string_append(out, name);
    g_string_append_c(out, '=');
    g_string_append_c(out, q);
    escape_text(out, value, true, q);
    g_string_append_c(out, q);
}

/* The content of @children when it is a single text node, the usual
 * shape of an attribute's value and of a leaf element's text; NULL for
 * anything else (no child, several, CDATA, entity references). */
static const char *
lone_text(const xmlNode *children)
{
    if (children && !children->next && children->type == XML_TEXT_NODE)
        return (const char *)children->content;
    return NULL;
}

static void
append_start_tag(GString *out, const KtXmlSource *src, const xmlNode *node)
{
    char q = node_quote(src, node);
    const xmlNs *ns;
    const xmlAttr *a;

    g_string_append_c(out, '<');
    append_qname(out, node);
    for (ns = node->nsDef; ns; ns = ns->next) {
        append_attr(out, ns->prefix ? "xmlns" : NULL,
                    ns->prefix ? (const char *)ns->prefix : "xmlns",
                    (const char *)ns->href, q);
    }
    for (a = node->properties; a; a = a->next) {
        const char *text = lone_text(a->children);

        /* the common case, one text child: no copy */
        if (text) {
            append_attr(out, a->ns ? (const char *)a->ns->prefix : NULL,
                        (const char *)a->name, text, q);
        } else {
            /* inLine=1: the raw value; we escape it ourselves */
            xmlChar *v = xmlNodeListGetString(node->doc, a->children, 1);

            append_attr(out, a->ns ? (const char *)a->ns->prefix : NULL,
                        (const char *)a->name, v ? (const char *)v : "", q);
            xmlFree(v);
        }
    }
}

static void serialize_nodes(GString *out, const KtXmlSource *src, const xmlNode *first);
static bool is_blank_text(const xmlNode *n);

static void
serialize_element(GString *out, const KtXmlSource *src, const xmlNode *node)
{
    const KtXmlSpan *span = src->mapped ? node_span(node) : NULL;
    const char *t = src->text;

    if (span && span->self_closing && !node->children) {
        g_string_append_len(out, t + span->start, span->len);
        return;
    }
    if (span && span->self_closing) {
        /* "<a x='1'/>" that gained children: "<a x='1'>" */
        gsize l = span->len - 2;

        while (l > 0 && is_blank_char(t[span->start + l - 1]))
            l--;
        g_string_append_len(out, t + span->start, l);
        g_string_append_c(out, '>');
    } else if (span) {
        g_string_append_len(out, t + span->start, span->len);
    } else {
        append_start_tag(out, src, node);
        if (!node->children) {
            g_string_append(out, "/>");
            return;
        }
        g_string_append_c(out, '>');
    }
    serialize_nodes(out, src, node->children);
    if (span && !span->self_closing) {
        g_string_append_len(out, t + span->end_start, span->end_len);
    } else {
        g_string_append(out, "</");
        append_qname(out, node);
        g_string_append_c(out, '>');
    }
}

static void
serialize_nodes(GString *out, const KtXmlSource *src, const xmlNode *first)
{
    const xmlNode *n;

    for (n = first; n; n = n->next) {
        switch (n->type) {
        case XML_ELEMENT_NODE:
            serialize_element(out, src, n);
            break;
        case XML_TEXT_NODE: {
            const KtXmlSpan *span = src->mapped ? node_span(n) : NULL;

            if (span)
                g_string_append_len(out, src->text + span->start, span->len);
            else if (is_blank_text(n))
                g_string_append(out, (const char *)n->content);  /* may hold raw CR */
            else if (n->content)
                escape_text(out, (const char *)n->content, false, 0);
            break;
        }
        case XML_CDATA_SECTION_NODE:
            g_string_append(out, "<![CDATA[");
            if (n->content)
                g_string_append(out, (const char *)n->content);
            g_string_append(out, "]]>");
            break;
        case XML_COMMENT_NODE:
            g_string_append(out, "<!--");
            if (n->content)
                g_string_append(out, (const char *)n->content);
            g_string_append(out, "-->");
            break;
        case XML_PI_NODE:
            g_string_append(out, "<?");
            g_string_append(out, (const char *)n->name);
            if (n->content && *n->content) {
                g_string_append_c(out, ' ');
                g_string_append(out, (const char *)n->content);
            }
            g_string_append(out, "?>");
            break;
        case XML_ENTITY_REF_NODE:
            g_string_append_c(out, '&');
            g_string_append(out, (const char *)n->name);
            g_string_append_c(out, ';');
            break;
        case XML_ATTRIBUTE_NODE:
        case XML_ENTITY_NODE:
        case XML_DOCUMENT_NODE:
        case XML_DOCUMENT_TYPE_NODE:
        case XML_DOCUMENT_FRAG_NODE:
        case XML_NOTATION_NODE:
        case XML_HTML_DOCUMENT_NODE:
        case XML_DTD_NODE:
        case XML_ELEMENT_DECL:
        case XML_ATTRIBUTE_DECL:
        case XML_ENTITY_DECL:
        case XML_NAMESPACE_DECL:
        case XML_XINCLUDE_START:
        case XML_XINCLUDE_END:
#ifdef LIBXML_DOCB_ENABLED
        case XML_DOCB_DOCUMENT_NODE:
#endif
        default:
            break;
        }
    }
}

GString *
kt_xml_source_serialize(const KtXmlSource *src, xmlDoc *doc, bool with_decl)
{
    GString *out = g_string_sized_new(src->len + 4096);
    xmlNode *root = xmlDocGetRootElement(doc);
    const xmlNode *n;

    if (src->mapped && root) {
        g_string_append_len(out, src->text, src->prolog_len);
        serialize_element(out, src, root);
        g_string_append_len(out, src->text + src->epilog_start,
                            src->len - src->epilog_start);
        return out;
    }
    /* Fallback: from the tree alone. */
    if (with_decl)
        g_string_append(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    for (n = doc->children; n; n = n->next) {
        const xmlNode *next = n->next;

        if (n->type == XML_DTD_NODE)
            continue;
        ((xmlNode *)n)->next = NULL;
        serialize_nodes(out, src, n);
        ((xmlNode *)n)->next = (xmlNode *)next;
        g_string_append_c(out, '\n');
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* Safe parsing                                                        */
/* ------------------------------------------------------------------ */

typedef struct {
    bool refused;
    int line;
    int column;
} ParseGuard;

/* SAX hook: a DOCTYPE stops the parser before any declaration in it is
 * read, so no entity is ever defined, let alone expanded. */
static void
refuse_subset(void *ctx, const xmlChar *name, const xmlChar *external_id,
              const xmlChar *system_id)
{
    xmlParserCtxt *ctxt = ctx;
    ParseGuard *guard = ctxt->_private;

    if (!guard->refused) {
        guard->refused = true;
        guard->line = ctxt->input ? ctxt->input->line : 0;
        guard->column = ctxt->input ? ctxt->input->col : 0;
    }
    xmlStopParser(ctxt);
}

static void
refuse_entity(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
              const xmlChar *system_id, xmlChar *content)
{
    refuse_subset(ctx, name, public_id, system_id);
}

static void
quiet_error(void *ctx, xmlError *err)
{
    /* errors are read back with xmlCtxtGetLastError(); never printed */
}

/* One parser context per thread, reused from one parse to the next: a new
 * context builds its dictionary and input buffers again, about 2 us of a
 * 16 us parse of a Nova domain.  Only a context whose last parse succeeded
 * goes back to the cache, and one whose dictionary has grown past
 * PARSER_DICT_MAX names is dropped, so a client sending ever new element
 * names cannot grow a daemon's memory through it. */
#define PARSER_DICT_MAX 2048

static GPrivate parser_cache = G_PRIVATE_INIT((GDestroyNotify)xmlFreeParserCtxt);

static xmlParserCtxt *
parser_take(void)
{
    xmlParserCtxt *ctxt = g_private_get(&parser_cache);

    if (ctxt) {
        g_private_set(&parser_cache, NULL);
        return ctxt;
    }
    ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return NULL;
    ctxt->sax->internalSubset = refuse_subset;
    ctxt->sax->externalSubset = refuse_subset;
    ctxt->sax->entityDecl = refuse_entity;
    ctxt->sax->serror = quiet_error;
    ctxt->sax->error = NULL;
    ctxt->sax->warning = NULL;
    return ctxt;
}

static void
parser_give_back(xmlParserCtxt *ctxt)
{
    ctxt->_private = NULL;
    if (ctxt->dict && xmlDictSize(ctxt->dict) > PARSER_DICT_MAX) {
        xmlFreeParserCtxt(ctxt);
        return;
    }
    g_private_replace(&parser_cache, ctxt);
}

/* 1-based line and column of byte @off of @text. */
static void
line_col(const char *text, gsize off, gsize *ret_line, gsize *ret_col)
{
    gsize line = 1;
    gsize col = 1;
    gsize i;

    for (i = 0; i < off; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            col++;
        }
    }
    *ret_line = line;
    *ret_col = col;
}

xmlDoc *
kt_xml_parse(const char *text, gsize len, GError **error)
{
    g_autoptr(xmlParserCtxt) ctxt = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    const char *bad = NULL;
    ParseGuard guard = { 0 };

    if (len > G_MAXINT) {
        g_set_error_literal(error, KT_ERROR, KT_ERROR_TOO_LARGE, "1:1: XML too large");
        return NULL;
    }
    /* libxml2 stops quietly at a NUL after the root element */
    bad = memchr(text, '\0', len);
    if (bad) {
        gsize line;
        gsize col;

        line_col(text, (gsize)(bad - text), &line, &col);
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "%" G_GSIZE_FORMAT ":%" G_GSIZE_FORMAT ": NUL byte in XML", line, col);
        return NULL;
    }
    ctxt = parser_take();
    if (!ctxt) {
        g_set_error_literal(error, KT_ERROR, KT_ERROR_FAILED, "out of memory");
        return NULL;
    }
    ctxt->_private = &guard;
    /* NONET; deliberately no NOENT, DTDLOAD, DTDATTR or NOBLANKS */
    doc = xmlCtxtReadMemory(ctxt, text, (int)len, "domain.xml", "UTF-8",
                            XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_COMPACT |
                            XML_PARSE_NOWARNING | XML_PARSE_NOERROR);
    if (guard.refused) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "%d:%d: DOCTYPE and entity declarations are not allowed",
                    guard.line, guard.column);
        return NULL;
    }
    /* an undeclared prefix is only a warning to libxml2; libvirt refuses it */
    if (!doc || !ctxt->wellFormed || !ctxt->nsWellFormed) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);

        /* libxml2 refuses bad UTF-8 and NUL too; say it plainly (checked
         * only here: the parse already validated the good path) */
        if (!g_utf8_validate_len(text, len, &bad)) {
            gsize line;
            gsize col;

            line_col(text, (gsize)(bad - text), &line, &col);
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                        "%" G_GSIZE_FORMAT ":%" G_GSIZE_FORMAT ": %s", line, col,
                        *bad ? "invalid UTF-8 byte sequence" : "NUL byte in XML");
            return NULL;
        }
        {
            g_autofree char *msg = g_strstrip(g_strdup(e && e->message ? e->message
                                                                       : "malformed XML"));

            g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "%d:%d: %s",
                        e ? e->line : 0, e ? e->int2 : 0, msg);
        }
        return NULL;
    }
    if (doc->intSubset || doc->extSubset) {
        g_set_error_literal(error, KT_ERROR, KT_ERROR_PARSE,
                            "1:1: DOCTYPE is not allowed");
        return NULL;
    }
    parser_give_back(g_steal_pointer(&ctxt));
    return g_steal_pointer(&doc);
}

/* ------------------------------------------------------------------ */
/* Lookup                                                              */
/* ------------------------------------------------------------------ */

bool
kt_xml_is(const xmlNode *node, const char *name)
{
    return node && node->type == XML_ELEMENT_NODE && !node->ns &&
           strcmp((const char *)node->name, name) == 0;
}

xmlNode *
kt_xml_child(xmlNode *parent, const char *name)
{
    xmlNode *c;

    if (!parent)
        return NULL;
    for (c = parent->children; c; c = c->next) {
        if (kt_xml_is(c, name))
            return c;
    }
    return NULL;
}

xmlNode *
kt_xml_child_next(xmlNode *after, const char *name)
{
    xmlNode *c;

    for (c = after ? after->next : NULL; c; c = c->next) {
        if (kt_xml_is(c, name))
            return c;
    }
    return NULL;
}

xmlNode *
kt_xml_child_ns(xmlNode *parent, const char *ns_uri, const char *name)
{
    xmlNode *c;

    if (!parent)
        return NULL;
    for (c = parent->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && c->ns && c->ns->href &&
            strcmp((const char *)c->ns->href, ns_uri) == 0 &&
            strcmp((const char *)c->name, name) == 0)
            return c;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Whitespace and insertion                                            */
/* ------------------------------------------------------------------ */

static bool
is_blank_text(const xmlNode *n)
{
    const xmlChar *p;

    if (!n || n->type != XML_TEXT_NODE)
        return false;
    for (p = n->content; p && *p; p++) {
        if (!is_blank_char((char)*p))
            return false;
    }
    return true;
}

/* The text right before @node when all of it is blank: the first node of
 * that run of text nodes, or NULL.  A run, not a node: edits can leave two
 * text nodes side by side that a reparse merges into one, and where new
 * nodes go and how they are indented must not depend on that. */
static xmlNode *
prev_blank(xmlNode *node)
{
    xmlNode *p;
    xmlNode *start = NULL;

    for (p = node->prev; p && p->type == XML_TEXT_NODE; p = p->prev) {
        if (!is_blank_text(p))
            return NULL;
        start = p;
    }
    return start;
}

/* The text of the run starting at @ws, up to the next non-text node: the
 * source bytes of the nodes that have them when @raw (a CR LF document
 * keeps its CRs), else the parsed content. */
static char *
run_text(xmlNode *ws, bool raw)
{
    const KtXmlSource *src = ws->doc ? ws->doc->_private : NULL;
    GString *out = g_string_new(NULL);
    xmlNode *n;

    for (n = ws; n && n->type == XML_TEXT_NODE; n = n->next) {
        const KtXmlSpan *span = raw && src && src->mapped ? node_span(n) : NULL;

        if (span)
            g_string_append_len(out, src->text + span->start, span->len);
        else if (n->content)
            g_string_append(out, (const char *)n->content);
    }
    return g_string_free(out, FALSE);
}

/* Text after the last newline of the blank text before @node: its
 * indentation.  NULL when the document does not put it on its own line. */
static char *
indent_of(xmlNode *node)
{
    xmlNode *ws = prev_blank(node);
    g_autofree char *text = NULL;
    const char *nl;
    const char *cr;

    if (!ws)
        return NULL;
    text = run_text(ws, false);
    /* a copied blank keeps raw CRs (copy_blank); the parser turned them
     * into LFs in the original: both end a line */
    nl = strrchr(text, '\n');
    cr = strrchr(text, '\r');
    if (cr > nl)
        nl = cr;
    if (!nl)
        return NULL;
    return g_strdup(nl + 1);
}

/* The document's indentation step, from the root's first child. */
static char *
indent_unit(xmlDoc *doc)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *c;

    for (c = root ? root->children : NULL; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            g_autofree char *ind = indent_of(c);

            if (ind && *ind)
                return g_steal_pointer(&ind);
            break;
        }
    }
    return g_strdup("  ");
}

static xmlNode *
new_text(xmlDoc *doc, const char *s)
{
    return xmlNewDocText(doc, BAD_CAST s);
}

/* A copy of the blank run starting at @ws, as one text node. */
static xmlNode *
copy_blank(xmlNode *ws)
{
    g_autofree char *raw = run_text(ws, true);

    return new_text(ws->doc, raw);
}

static const char *
newline(xmlDoc *doc)
{
    const KtXmlSource *src = doc ? doc->_private : NULL;

    return src && src->crlf ? "\r\n" : "\n";
}

/* Puts @node right after @anchor, with a copy of @anchor's indentation. */
static void
place_after(xmlNode *anchor, xmlNode *node)
{
    xmlNode *ws = prev_blank(anchor);

    xmlAddNextSibling(anchor, node);
    if (ws)
        xmlAddPrevSibling(node, copy_blank(ws));
}

/* Puts @node right before @anchor, indented like it. */
static void
place_before(xmlNode *anchor, xmlNode *node)
{
    xmlNode *ws = prev_blank(anchor);

    xmlAddPrevSibling(anchor, node);
    if (ws)
        xmlAddNextSibling(node, copy_blank(ws));
}

static bool
has_newline_blank_before(xmlNode *node)
{
    xmlNode *ws = prev_blank(node);
    g_autofree char *text = ws ? run_text(ws, false) : NULL;

    return text && strpbrk(text, "\r\n");
}

/* Puts @node as the only child of the blank element @parent. */
static void
place_first(xmlNode *parent, xmlNode *node)
{
    g_autofree char *pind = NULL;
    g_autofree char *unit = NULL;
    g_autofree char *open = NULL;
    g_autofree char *close = NULL;

    kt_xml_make_empty(parent);
    if (parent->parent && parent->parent->type == XML_ELEMENT_NODE)
        pind = indent_of(parent);
    else
        pind = g_strdup("");   /* the root */
    if (!pind || (parent->parent && parent->parent->type == XML_ELEMENT_NODE &&
                  !has_newline_blank_before(parent))) {
        xmlAddChild(parent, node);     /* a one-line document */
        return;
    }
    unit = indent_unit(parent->doc);
    open = g_strconcat(newline(parent->doc), pind, unit, NULL);
    close = g_strconcat(newline(parent->doc), pind, NULL);
    xmlAddChild(parent, new_text(parent->doc, open));
    xmlAddChild(parent, node);
    xmlAddChild(parent, new_text(parent->doc, close));
}

static int
order_of(const char *const *order, const xmlNode *n)
{
    int i;

    if (!order || n->type != XML_ELEMENT_NODE || n->ns)
        return -1;
    for (i = 0; order[i]; i++) {
        /* first byte first: most names differ there */
        if (order[i][0] == n->name[0] && strcmp(order[i], (const char *)n->name) == 0)
            return i;
    }
    return -1;
}

static int
order_index(const char *const *order, const char *name)
{
    int i;

    for (i = 0; order && order[i]; i++) {
        if (strcmp(order[i], name) == 0)
            return i;
    }
    return -1;
}

static void
place(xmlNode *parent, const char *const *order, xmlNode *node)
{
    int idx = order_index(order, (const char *)node->name);
    xmlNode *after = NULL;
    xmlNode *before = NULL;
    xmlNode *last = NULL;
    xmlNode *c;

    for (c = parent->children; c; c = c->next) {
        int ci;

        if (c->type == XML_TEXT_NODE)
            continue;
        last = c;
        ci = order_of(order, c);
        if (idx >= 0 && ci >= 0 && ci <= idx)
            after = c;
        if (idx >= 0 && ci > idx && !before)
            before = c;
    }
    if (idx < 0)
        before = NULL;
    if (after)
        place_after(after, node);
    else if (before)
        place_before(before, node);
    else if (last)
        place_after(last, node);
    else if (kt_xml_is_blank(parent))
        place_first(parent, node);
    else
        xmlAddChild(parent, node);
}

/* Indents the element children of the freshly built @node, recursively,
 * one step deeper than @node itself. */
void
kt_xml_indent_subtree(xmlNode *node, const char *ind, const char *unit)
{
    g_autofree char *inner = g_strconcat(ind, unit, NULL);
    g_autofree char *open = g_strconcat(newline(node->doc), inner, NULL);
    g_autofree char *close = g_strconcat(newline(node->doc), ind, NULL);
    xmlNode *c;
    bool any = false;

    for (c = node->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            any = true;
            break;
        }
    }
    if (!any)
        return;
    for (c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        kt_xml_indent_subtree(c, inner, unit);
        xmlAddPrevSibling(c, new_text(node->doc, open));
    }
    xmlAddChild(node, new_text(node->doc, close));
}

void
kt_xml_child_add(xmlNode *parent, const char *const *order, xmlNode *child)
{
    g_autofree char *ind = NULL;

    place(parent, order, child);
    ind = indent_of(child);
    if (ind) {
        g_autofree char *unit = indent_unit(parent->doc);

        kt_xml_indent_subtree(child, ind, unit);
    }
}

void
kt_xml_sibling_add(xmlNode *anchor, xmlNode *node)
{
    g_autofree char *ind = NULL;

    place_after(anchor, node);
    ind = indent_of(node);
    if (ind) {
        g_autofree char *unit = indent_unit(node->doc);

        kt_xml_indent_subtree(node, ind, unit);
    }
}

xmlNode *
kt_xml_new(xmlDoc *doc, xmlNs *ns, const char *name)
{
    xmlNode *n = xmlNewDocNode(doc, ns, BAD_CAST name, NULL);

    return n;
}

xmlNode *
kt_xml_child_insert(xmlNode *parent, const char *const *order, const char *name)
{
    xmlNode *n = kt_xml_new(parent->doc, NULL, name);

    place(parent, order, n);
    return n;
}

xmlNode *
kt_xml_child_ensure(xmlNode *parent, const char *const *order, const char *name)
{
    xmlNode *n = kt_xml_child(parent, name);

    return n ? n : kt_xml_child_insert(parent, order, name);
}

void
kt_xml_node_remove(xmlNode *node)
{
    xmlNode *ws = prev_blank(node);

    /* "<a>\n  <b/>\n</a>" minus b is "<a>\n</a>": blank, which callers
     * then empty or drop */
    while (ws && ws != node) {
        xmlNode *next = ws->next;

        xmlUnlinkNode(ws);
        xmlFreeNode(ws);
        ws = next;
    }
    xmlUnlinkNode(node);
    xmlFreeNode(node);
}

guint
kt_xml_children_remove(xmlNode *parent, const char *name)
{
    xmlNode *c;
    xmlNode *next;
    guint n = 0;

    if (!parent)
        return 0;
    for (c = parent->children; c; c = next) {
        next = c->next;
        if (kt_xml_is(c, name)) {
            kt_xml_node_remove(c);
            n++;
        }
    }
    return n;
}

bool
kt_xml_is_blank(const xmlNode *node)
{
    const xmlNode *c;

    for (c = node->children; c; c = c->next) {
        if (!is_blank_text(c))
            return false;
    }
    return true;
}

void
kt_xml_make_empty(xmlNode *node)
{
    xmlNode *c;
    xmlNode *next;

    if (!kt_xml_is_blank(node))
        return;
    for (c = node->children; c; c = next) {
        next = c->next;
        xmlUnlinkNode(c);
        xmlFreeNode(c);
    }
}

/* ------------------------------------------------------------------ */
/* Attributes and text                                                 */
/* ------------------------------------------------------------------ */

char *
kt_xml_prop(const xmlNode *node, const char *name)
{
    xmlAttr *a = xmlHasNsProp(node, BAD_CAST name, NULL);
    const char *text;
    xmlChar *v;
    char *r;

    if (!a)
        return NULL;
    /* the usual case, copied once instead of twice */
    text = lone_text(a->children);
    if (text)
        return g_strdup(text);
    v = xmlGetNoNsProp(node, BAD_CAST name);
    if (!v)
        return NULL;
    r = g_strdup((const char *)v);
    xmlFree(v);
    return r;
}

void
kt_xml_prop_set(xmlNode *node, const char *name, const char *value)
{
    xmlAttr *a = xmlHasNsProp(node, BAD_CAST name, NULL);

    if (!a) {
        xmlNewProp(node, BAD_CAST name, BAD_CAST value);
    } else {
        const char *text = lone_text(a->children);

        /* an unchanged value keeps the tag's source bytes */
        if (text && strcmp(text, value) == 0)
            return;
        xmlSetProp(node, BAD_CAST name, BAD_CAST value);
    }
    kt_xml_node_touch(node);
}

void
kt_xml_prop_set_uint(xmlNode *node, const char *name, guint64 value)
{
    char buf[32];

    g_snprintf(buf, sizeof(buf), "%" G_GUINT64_FORMAT, value);
    kt_xml_prop_set(node, name, buf);
}

void
kt_xml_prop_remove(xmlNode *node, const char *name)
{
    xmlAttr *a = xmlHasNsProp(node, BAD_CAST name, NULL);

    if (!a)
        return;
    xmlRemoveProp(a);
    kt_xml_node_touch(node);
}

char *
kt_xml_where(const xmlNode *node)
{
    xmlChar *path = xmlGetNodePath(node);
    char *r = g_strdup_printf("line %ld: %s", xmlGetLineNo(node),
                              path ? (const char *)path : "?");

    xmlFree(path);
    return r;
}

bool
kt_xml_prop_uint(const xmlNode *node, const char *name, guint64 max,
                 guint64 *ret, bool *present, GError **error)
{
    g_autofree char *v = kt_xml_prop(node, name);
    g_autoptr(GError) err = NULL;
    guint64 val = 0;
    const char *s;
    guint base = 10;

    if (present)
        *present = v != NULL;
    if (!v)
        return true;
    s = g_strstrip(v);
    if (g_str_has_prefix(s, "0x") || g_str_has_prefix(s, "0X")) {
        s += 2;
        base = 16;
    }
    if (!g_ascii_string_to_unsigned(s, base, 0, max, &val, &err)) {
        g_autofree char *where = kt_xml_where(node);

        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "%s: attribute '%s': expected a number up to %" G_GUINT64_FORMAT
                    ", got '%s'", where, name, max, v);
        return false;
    }
    *ret = val;
    return true;
}

char *
kt_xml_text(const xmlNode *node)
{
    const char *text = node->type == XML_ELEMENT_NODE ? lone_text(node->children) : NULL;
    xmlChar *c;
    char *r;

    /* the usual case, copied once instead of twice */
    if (text)
        return g_strstrip(g_strdup(text));
    c = xmlNodeGetContent(node);
    if (!c)
        return g_strdup("");
    r = g_strstrip(g_strdup((const char *)c));
    xmlFree(c);
    return r;
}
