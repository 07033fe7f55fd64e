/* domain.h: the domain XML engine.  Parse a libvirt domain definition, read
 * what it asks for (KtRequest), apply a KtPlacement by editing the tree in
 * place, strip kvmtune's parts, and serialise.  Pure: strings in, strings
 * out; no files, no network, no logging.
 *
 * Everything kvmtune does not own (comments, foreign metadata, unknown
 * elements, attribute order, whitespace) is written back byte for byte. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "placement.h"
#include "request.h"

/* libvirt's REMOTE_STRING_MAX: no domain XML may be larger. */
#define KT_DOMAIN_XML_MAX (4 * 1024 * 1024)
#define KT_DOMAIN_XML_MAX_DEPTH 256

typedef struct _KtDomain KtDomain;

/* Parses @xml (@len bytes, need not be NUL-terminated).  No network, no DTD,
 * no entity expansion; size, depth and UTF-8 checked.  NULL + @error
 * ("line:column: what was expected") on failure. */
KtDomain *kt_domain_parse(const char *xml, gsize len, GError **error);
void kt_domain_free(KtDomain *dom);

/* Reads the request; NULL + @error when a required element is unusable. */
KtRequest *kt_domain_read_request(KtDomain *dom, GError **error);

/* What apply kept because the input already had it (Nova wins by default),
 * so the caller can book it instead. */
typedef struct {
    bool kept_cpu_pinning;
    bool kept_numatune;
    bool kept_hugepages;
    bool kept_guest_numa;       /* guest <cpu><numa> cells */
    bool kept_cpu_topology;     /* guest <cpu><topology> */
    bool replaced_cpu_topology; /* the input's topology (Nova's default) gave
                                 * way to the placement's SMT shape; recorded
                                 * in the metadata, strip puts it back */
    guint skipped_devices;      /* VFs/GPUs/mdevs the domain already had */
} KtApplyReport;

/* Writes @pl into the domain (tuning, devices, metadata).  Idempotent;
 * replaces whatever kvmtune wrote before.  @report may be NULL. */
gboolean kt_domain_apply(KtDomain *dom, const KtPlacement *pl,
                         KtApplyReport *report, GError **error);

/* Removes everything kvmtune wrote (tuning it owns, devices it added, its
 * metadata).  A domain kvmtune never touched is unchanged. */
void kt_domain_strip(KtDomain *dom);

/* For a definition arriving from another host (migrate/restore): drops CPU
 * pinning when any pin names a CPU outside @host_cpus, and numatune plus
 * hugepage node sets when any names a node outside @host_nodes, so the
 * allocator can place it here.  Pins valid on this host are kept (Nova's
 * NUMA-aware migration rewrites them for the destination).  Call after
 * kt_domain_strip().  Returns how many elements/attributes were dropped. */
guint kt_domain_drop_foreign_tuning(KtDomain *dom, const KtCpuset *host_cpus,
                                    const KtCpuset *host_nodes);

/* A definition without <uuid> gets the SMBIOS system UUID of its
 * <sysinfo>, else a random one, as libvirt would at define time (kvmtune
 * needs it first, as the key of the booking).  Returns the new UUID, or
 * NULL when a <uuid> element is there already (well-formed or not:
 * libvirt judges that one). */
char *kt_domain_ensure_uuid(KtDomain *dom);

/* Serialises; the XML declaration only if the input had one.  Caller frees. */
char *kt_domain_format(KtDomain *dom, gsize *ret_len);

/* Convenience: parse + apply + format. */
char *kt_domain_rewrite(const char *xml, gsize len, const KtPlacement *pl,
                        KtApplyReport *report, GError **error);

/* The <kvmtune:placement> element alone, as text, and back.  The metadata
 * format is documented in libvirt-xml/README.md. */
char *kt_placement_format_xml(const KtPlacement *pl);
KtPlacement *kt_placement_parse_xml(const char *xml, gsize len, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtDomain, kt_domain_free)
