/* xml-util.h: libxml2 helpers for editing a document in place without
 * reformatting it.  Pure; no I/O.
 *
 * Two halves:
 *  - a source map (KtXmlSource) that ties every element and text node of a
 *    parsed tree to the bytes it came from, and a serialiser that writes
 *    those bytes back for every node nobody touched, so the output differs
 *    from the input only where the tree was edited;
 *  - tree helpers that find, create and remove children in a given order
 *    and indent new nodes with a copy of their neighbours' whitespace. */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <libxml/tree.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlParserCtxt, xmlFreeParserCtxt)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathContext, xmlXPathFreeContext)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlXPathObject, xmlXPathFreeObject)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlBuffer, xmlBufferFree)

/* Parses @text (@len bytes) with no network, no DTD, no entity
 * declarations (a DOCTYPE is refused outright: billion laughs, XXE), UTF-8
 * only.  NULL + @error "line:column: message" on failure. */
xmlDoc *kt_xml_parse(const char *text, gsize len, GError **error);

/* Adds blank text around the element children of a freshly built @node,
 * recursively, one @unit deeper than @ind (its own indentation). */
void kt_xml_indent_subtree(xmlNode *node, const char *ind, const char *unit);

/* Bytes of the source one node came from.  For an element: its start tag
 * (with "/>" when self-closing) and its end tag; for a text node: the raw
 * run, character references and all. */
typedef struct {
    gsize start;
    gsize len;
    gsize end_start;
    gsize end_len;
    bool self_closing;
} KtXmlSpan;

typedef struct {
    const char *text;      /* the source, borrowed from the owner */
    gsize len;
    GArray *spans;         /* KtXmlSpan; node->_private holds index + 1 */
    gsize prolog_len;      /* bytes before the root's start tag */
    gsize epilog_start;    /* first byte after the root's end tag */
    char quote;            /* attribute quote the document uses: ' or " */
    bool crlf;             /* lines end in CR LF: new blanks do too */
    bool mapped;           /* false: map failed, serialise from the tree */
} KtXmlSource;

/* Builds the map of @doc, parsed from @text/@len.  Never fails: on any
 * mismatch between source and tree it leaves ->mapped false and the
 * serialiser falls back to writing from the tree alone.  @src must stay
 * where it is while @doc lives (doc->_private points to it, so the edit
 * helpers can copy raw blanks and the newline style). */
void kt_xml_source_init(KtXmlSource *src, xmlDoc *doc, const char *text, gsize len);
void kt_xml_source_clear(KtXmlSource *src);

/* Writes the document: untouched nodes from their source bytes, edited or
 * new ones from the tree, in the document's quote style. */
GString *kt_xml_source_serialize(const KtXmlSource *src, xmlDoc *doc, bool with_decl);

/* Forgets @node's source bytes so the serialiser rebuilds its start tag
 * (call after changing its attributes or name). */
void kt_xml_node_touch(xmlNode *node);

/* Children without namespace (libvirt's own elements). */
xmlNode *kt_xml_child(xmlNode *parent, const char *name);
xmlNode *kt_xml_child_next(xmlNode *after, const char *name);
/* Children in namespace @ns_uri. */
xmlNode *kt_xml_child_ns(xmlNode *parent, const char *ns_uri, const char *name);
bool kt_xml_is(const xmlNode *node, const char *name);      /* element, no ns */

/* Ordered insertion: @order is a NULL-terminated list of element names in
 * the order libvirt formats them.  The new child goes after the last
 * existing child that sorts at or before it, indented like its siblings. */
xmlNode *kt_xml_child_insert(xmlNode *parent, const char *const *order,
                             const char *name);
/* Finds @name or inserts it as above. */
xmlNode *kt_xml_child_ensure(xmlNode *parent, const char *const *order,
                             const char *name);
/* Appends @child (already built, unlinked) after the last element child,
 * or in the order of @order when given; indents it and its subtree. */
void kt_xml_child_add(xmlNode *parent, const char *const *order, xmlNode *child);

/* Puts the freshly built @node right after its sibling @anchor, indented
 * the same (O(1): for long runs such as one <vcpupin> per vCPU). */
void kt_xml_sibling_add(xmlNode *anchor, xmlNode *node);

/* Unlinks and frees @node together with the whitespace that indents it. */
void kt_xml_node_remove(xmlNode *node);
/* Removes every no-namespace child called @name; returns how many. */
guint kt_xml_children_remove(xmlNode *parent, const char *name);
/* True when @node has no element, comment, PI or non-blank text child. */
bool kt_xml_is_blank(const xmlNode *node);
/* Drops the whitespace children of a blank element so it becomes empty. */
void kt_xml_make_empty(xmlNode *node);

/* Attribute helpers (no namespace).  _get returns a copy or NULL. */
char *kt_xml_prop(const xmlNode *node, const char *name);
void kt_xml_prop_set(xmlNode *node, const char *name, const char *value);
void kt_xml_prop_set_uint(xmlNode *node, const char *name, guint64 value);
void kt_xml_prop_remove(xmlNode *node, const char *name);
/* Parses an unsigned decimal (or 0x-prefixed hex) attribute into @ret.
 * Absent: true, @ret untouched, *@present false.  Malformed or above @max:
 * false + @error. */
bool kt_xml_prop_uint(const xmlNode *node, const char *name, guint64 max,
                      guint64 *ret, bool *present, GError **error);
/* The text content, stripped; caller frees. */
char *kt_xml_text(const xmlNode *node);

/* "line N: <path>" prefix for errors about @node. */
char *kt_xml_where(const xmlNode *node);

/* Element node in no namespace (or @ns) for the tree of @doc. */
xmlNode *kt_xml_new(xmlDoc *doc, xmlNs *ns, const char *name);
