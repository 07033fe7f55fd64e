/* domain-priv.h: what the files of the domain XML engine share (domain.c,
 * domain-read.c, domain-apply.c, placement-xml.c).  Not for other modules. */
#pragma once

#include "domain.h"
#include "xml-util.h"

struct _KtDomain {
    xmlDoc *doc;
    char *text;            /* the input, NUL-terminated; the source map points here */
    gsize len;
    bool has_decl;         /* the input began with an XML declaration */
    KtXmlSource src;       /* built by kt_domain_edit(), before the first edit */
    bool src_ready;
};

/* Every entry point that edits or formats the tree calls this first: the
 * source map must see the tree as parsed.  A domain only read (a define no
 * profile matches) never pays for the map. */
void kt_domain_edit(KtDomain *dom);

/* Element order inside <domain>, <devices>, <cputune>, ... as libvirt
 * formats them (virDomainDefFormatInternal and friends). */
extern const char *const kt_domain_order[];
extern const char *const kt_devices_order[];

/* <kvmtune:placement> <-> KtPlacement, on tree nodes.  @kept: the parts of
 * the domain kvmtune left to Nova; @created: elements kvmtune had to create
 * beyond its own parts (<vcpu>); space-separated word lists (README.md),
 * recorded so strip leaves the first and removes the second. */
xmlNode *kt_placement_to_node(const KtPlacement *pl, xmlDoc *doc, const char *kept,
                              const char *created);
KtPlacement *kt_placement_from_node(xmlNode *node, char **ret_kept,
                                    char **ret_created, GError **error);

/* Removes @node when it holds only whitespace; one the input had with
 * attributes stays, emptied.  NULL is a no-op. */
void kt_domain_drop_if_empty(xmlNode *node);

/* The <kvmtune:placement> element inside <metadata>, or NULL. */
xmlNode *kt_domain_find_placement(KtDomain *dom);

/* Size with libvirt's units ("KiB" default, "G", "MB", ...) to KiB,
 * rounding up.  false + @error on an unknown unit or overflow. */
bool kt_domain_scale_kib(guint64 value, const char *unit, guint64 *ret_kib,
                         GError **error);

/* Syntax checks for strings that later become sysfs paths or XML
 * addresses: "0000:41:02.3", canonical lower-case UUID, mdev type id,
 * "52:54:00:aa:bb:cc". */
bool kt_domain_valid_pci(const char *s);
bool kt_domain_valid_uuid(const char *s);
bool kt_domain_valid_mdev_type(const char *s);
bool kt_domain_valid_mac(const char *s);
