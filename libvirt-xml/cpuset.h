/* cpuset.h: sets of small non-negative ids (host CPUs, NUMA nodes, vCPUs) in
 * libvirt's list syntax: "0-3,8,^2".  Pure; no I/O.
 *
 * Ids are bounded by KT_CPUSET_MAX so hostile text cannot make us allocate
 * without limit (libvirt caps cpumasks the same way). */
#pragma once

#include <glib.h>
#include <stdbool.h>

#define KT_CPUSET_MAX 16384

typedef struct _KtCpuset KtCpuset;

KtCpuset *kt_cpuset_new(void);
/* Parses "0-3,8,^2" (whitespace around items allowed, "" is empty).
 * Returns NULL and sets @error on malformed text or ids >= KT_CPUSET_MAX. */
KtCpuset *kt_cpuset_parse(const char *str, GError **error);
KtCpuset *kt_cpuset_copy(const KtCpuset *set);
void kt_cpuset_free(KtCpuset *set);              /* NULL is a no-op */

/* "0-3,8" with ranges collapsed, "" when empty; caller frees. */
char *kt_cpuset_format(const KtCpuset *set);

void kt_cpuset_add(KtCpuset *set, guint id);     /* id < KT_CPUSET_MAX */
void kt_cpuset_remove(KtCpuset *set, guint id);
bool kt_cpuset_has(const KtCpuset *set, guint id);
guint kt_cpuset_count(const KtCpuset *set);
bool kt_cpuset_is_empty(const KtCpuset *set);
bool kt_cpuset_equal(const KtCpuset *a, const KtCpuset *b);
/* Next member >= @from, or -1. Iterate: for (i = kt_cpuset_next(s, 0); i >= 0; i = kt_cpuset_next(s, i + 1)) */
int kt_cpuset_next(const KtCpuset *set, guint from);
int kt_cpuset_first(const KtCpuset *set);        /* -1 when empty */
int kt_cpuset_last(const KtCpuset *set);         /* -1 when empty */

/* In-place set algebra on @dst. */
void kt_cpuset_union(KtCpuset *dst, const KtCpuset *src);
void kt_cpuset_intersect(KtCpuset *dst, const KtCpuset *src);
void kt_cpuset_subtract(KtCpuset *dst, const KtCpuset *src);
bool kt_cpuset_intersects(const KtCpuset *a, const KtCpuset *b);
bool kt_cpuset_is_subset(const KtCpuset *sub, const KtCpuset *super);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtCpuset, kt_cpuset_free)
