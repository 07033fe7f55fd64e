/* inventory-parse.h: the text formats the inventory reads from sysfs and
 * procfs, parsed without I/O (so fuzz-sysfs can feed them any bytes).
 *
 * Every parser is strict: a value that is not exactly what the kernel writes
 * (trailing newline allowed) gives KT_ERROR_PARSE rather than a guessed number.
 * Messages say what was wrong; the caller prefixes the file name. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "cpuset.h"

/* Longest sysfs/procfs file the inventory reads (bytes); larger is an error. */
#define KT_SYSFS_MAX_FILE (64 * 1024)

/* A decimal or 0x-hex unsigned number <= @max, surrounded by optional
 * whitespace ("16384\n", "0x15b3\n"). */
gboolean kt_sysfs_parse_uint(const char *text, guint64 max, guint64 *ret, GError **error);
/* A decimal signed number in [@min, @max] ("-1\n"). */
gboolean kt_sysfs_parse_int(const char *text, gint64 min, gint64 max, gint64 *ret,
                            GError **error);
/* A cpulist as the kernel writes it ("0-55,112-167\n", "\n" is empty). */
KtCpuset *kt_sysfs_parse_cpulist(const char *text, GError **error);

/* MemTotal and MemFree, in KiB, from nodeN/meminfo ("Node 0 MemTotal: N kB")
 * or /proc/meminfo ("MemTotal: N kB"); both must be present. */
gboolean kt_sysfs_parse_meminfo(const char *text, guint64 *ret_total_kib,
                                guint64 *ret_free_kib, GError **error);

/* nodeN/distance: "10 21\n" -> {10, 21}; at most 1024 entries.  *@ret_dist
 * is g_free()d by the caller. */
gboolean kt_sysfs_parse_distances(const char *text, guint **ret_dist, guint *ret_n,
                                  GError **error);

/* "hugepages-2048kB" -> 2048.  FALSE (no error) for any other name. */
bool kt_sysfs_parse_hugepage_dir(const char *name, guint64 *ret_size_kib);

/* The CPU list of the last @key= parameter ("isolcpus", "nohz_full") on the
 * kernel command line @cmdline; arguments after " -- " belong to init and are
 * ignored.  isolcpus flags ("domain,managed_irq,2-5") are skipped.  *@ret is
 * NULL when the parameter is absent. */
gboolean kt_sysfs_parse_cmdline_cpus(const char *cmdline, const char *key,
                                     KtCpuset **ret, GError **error);

/* "0000:17:00.0": domain:bus:device.function in lowercase hex, as sysfs names
 * PCI functions.  Checked before an address becomes part of a path. */
bool kt_sysfs_pci_address_valid(const char *addr);
/* A single path component we may join to a sysfs path: 1-255 bytes of
 * printable ASCII without '/', not "." or "..". */
bool kt_sysfs_name_valid(const char *name);
