/* policy.h: KtPolicy, the host policy of /etc/kvmtune/policy.yaml (format in
 * DESIGN.md and nova-helper/policy.example.yaml), parsed with libyaml.
 *
 * Parsing is pure (text in, struct or GError out).  Errors name
 * file:line:column and the key; every error in a file is reported (joined
 * with newlines in one GError), unknown keys are errors. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "cpuset.h"
#include "kt-enum.h"
#include "placement.h"

typedef enum {
    KT_THREADS_PREFER,       /* fill sibling pairs (default) */
    KT_THREADS_ISOLATE,      /* whole cores; the sibling stays idle, booked */
    KT_THREADS_REQUIRE,      /* only cores whose siblings are free, both used */
    KT_THREADS_LAST
} KtThreadPolicy;
KT_ENUM_DECL(kt_thread_policy);

typedef enum {
    KT_EMULATOR_SHARE,       /* the node's shared CPUs */
    KT_EMULATOR_ISOLATE,     /* one dedicated CPU of its own */
    KT_EMULATOR_LAST
} KtEmulatorPolicy;
KT_ENUM_DECL(kt_emulator_policy);

typedef enum {
    KT_NEED_REQUIRED,        /* no capacity: refuse the define */
    KT_NEED_BEST_EFFORT,     /* no capacity: fall back, count it */
    KT_NEED_LAST
} KtNeed;
KT_ENUM_DECL(kt_need);

typedef struct {
    guint64 size_kib;
    guint64 per_node;        /* pages kvmtune may hand out per node */
} KtPolicyHugepages;

typedef struct {
    char *pf;                /* PCI address */
    char *physnet;
} KtPolicySriovPf;

typedef struct {
    char *physnet;
    int vlan;                /* -1 none */
    guint count;             /* default 1 */
    int trust;               /* -1 unset */
    int spoofchk;            /* -1 unset */
} KtPolicySriovReq;

typedef struct {
    char *name;
    bool override;           /* replace Nova's own tuning */

    KtCpuPolicy cpu_policy;  /* NONE: profile has no cpu part */
    KtThreadPolicy threads;
    KtEmulatorPolicy emulator;
    KtNeed cpu_need;

    guint numa_nodes;        /* 0: any (shared: 1 node) */
    KtNeed numa_need;

    guint64 hugepage_kib;    /* 0: none */
    KtNeed memory_need;

    GPtrArray *sriov;        /* KtPolicySriovReq* */
    KtNeed sriov_need;

    char *vgpu_type;         /* NULL: none */
    guint vgpu_count;
    KtNeed vgpu_need;

    guint gpu_count;
    KtNeed gpu_need;
} KtPolicyProfile;

typedef enum {
    KT_MATCH_FLAVOR,         /* glob on the Nova flavor name */
    KT_MATCH_EXTRA_SPEC,     /* key -> glob on the flavor extra spec */
    KT_MATCH_NAME,           /* glob on the domain name */
    KT_MATCH_DEFAULT,        /* always matches */
    KT_MATCH_LAST
} KtMatchKind;

typedef struct {
    KtMatchKind kind;
    char *pattern;           /* glob (flavor/name) or extra spec value glob */
    char *key;               /* extra spec key */
    char *profile;           /* NULL: "none" (pass through); for extra_spec
                              * without profile: the spec's value names it */
    bool profile_from_value; /* extra_spec rule without 'profile' (so NULL
                              * above is not "none") */
    guint line;              /* 1-based, for explain */
} KtPolicyMatch;

typedef struct _KtPolicy KtPolicy;
struct _KtPolicy {
    char *path;                  /* for messages */
    char *hash;                  /* "sha256:<hex>" of the file text */

    KtCpuset *reserved_cpus;
    KtCpuset *dedicated_cpus;
    KtCpuset *shared_cpus;
    double cpu_allocation_ratio; /* shared pool overcommit, default 8.0 */
    GArray *hugepages;           /* KtPolicyHugepages */
    GPtrArray *sriov_pfs;        /* KtPolicySriovPf* */
    GPtrArray *gpus;             /* char* PCI addresses */

    GPtrArray *profiles;         /* KtPolicyProfile* in file order */
    GPtrArray *match;            /* KtPolicyMatch* in file order */

    /* daemon: */
    GArray *allow_uids;          /* uid_t as guint */
    GArray *allow_gids;
    /* hooks: */
    bool hooks_fail_on_daemon_down;   /* on_daemon_down: fail (default) */

    /* Where each key was: "host.dedicated_cpus", "host.sriov[0].pf",
     * "profiles.vdi.memory.hugepages", "match[2]" -> guint[2] {line, column},
     * 1-based.  Read it with kt_policy_locate(). */
    GHashTable *locations;
};

KtPolicy *kt_policy_parse(const char *path, const char *text, gsize len, GError **error);
KtPolicy *kt_policy_load(const char *path, GError **error);   /* edge: reads the file */
void kt_policy_free(KtPolicy *policy);

const KtPolicyProfile *kt_policy_find_profile(const KtPolicy *policy, const char *name);

/* The first match rule that applies to a domain, or NULL when none does.
 * @flavor (Nova flavor name), @name (domain name) and @extra_specs
 * (char* -> char*) may each be NULL.  *ret_profile is the profile to apply,
 * NULL for "none" (pass through).  An extra_spec rule without a profile
 * applies only when the spec's value names a defined profile (or "none"). */
const KtPolicyMatch *kt_policy_match(const KtPolicy *policy, const char *flavor,
                                     const char *name, GHashTable *extra_specs,
                                     const KtPolicyProfile **ret_profile);

/* 1-based line and column of @key (see KtPolicy.locations); false if unknown. */
bool kt_policy_locate(const KtPolicy *policy, const char *key,
                      guint *ret_line, guint *ret_column);

/* "2M", "1G", "2048K", "2MiB", "1048576" (KiB) -> KiB.  Pure. */
gboolean kt_policy_parse_size(const char *text, guint64 *ret_kib, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtPolicy, kt_policy_free)
