/* policy-check.c: does the policy fit this host and agree with Nova?
 *
 * Every finding names the policy key and its file:line:column, so the
 * output of `kvmtune check-policy` (and of Ansible's validate step) points
 * at the line to fix. */
#include <stdarg.h>
#include <string.h>

#include "policy-check.h"
#include "policy-note.h"

typedef struct {
    const KtPolicy *policy;
    const KtInventory *inv;
    GPtrArray *problems;     /* KtPolicyNote* */
    GPtrArray *warnings;     /* KtPolicyNote*, NULL: not wanted */
} Check;

static void add_line(Check *c, GPtrArray *out, const char *key, const char *fmt, va_list ap)
    G_GNUC_PRINTF(4, 0);

static void
add_line(Check *c, GPtrArray *out, const char *key, const char *fmt, va_list ap)
{
    g_autofree char *msg = NULL;
    guint line = 0, column = 0;
    char *text;

    if (!out)
        return;
    msg = g_strdup_vprintf(fmt, ap);
    if (key && kt_policy_locate(c->policy, key, &line, &column))
        text = g_strdup_printf("%s:%u:%u: '%s': %s", c->policy->path, line, column, key, msg);
    else if (key)
        text = g_strdup_printf("%s: '%s': %s", c->policy->path, key, msg);
    else
        text = g_strdup_printf("%s: %s", c->policy->path, msg);
    kt_policy_note_add(out, line, column, text);
}

/* Moves the texts of @findings, in file order, to @out. */
static void
flush(GPtrArray *findings, GPtrArray *out)
{
    guint i;

    kt_policy_notes_sort(findings);
    for (i = 0; i < findings->len; i++) {
        KtPolicyNote *f = findings->pdata[i];

        g_ptr_array_add(out, g_steal_pointer(&f->text));
    }
}

static void problem(Check *c, const char *key, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void warning(Check *c, const char *key, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static void
problem(Check *c, const char *key, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    add_line(c, c->problems, key, fmt, ap);
    va_end(ap);
}

static void
warning(Check *c, const char *key, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    add_line(c, c->warnings, key, fmt, ap);
    va_end(ap);
}

static const char *
cpus_word(const KtCpuset *set)
{
    return kt_cpuset_count(set) == 1 ? "CPU" : "CPUs";
}

static const char *
verb(const KtCpuset *set)
{
    return kt_cpuset_count(set) == 1 ? "is" : "are";
}

/* ---- CPU pools ------------------------------------------------------------- */

static void
check_pools(Check *c)
{
    const KtPolicy *p = c->policy;
    const KtCpuset *pools[3] = { p->reserved_cpus, p->dedicated_cpus, p->shared_cpus };
    static const char *const keys[3] = {
        "host.reserved_cpus", "host.dedicated_cpus", "host.shared_cpus",
    };
    g_autoptr(KtCpuset) exists = kt_cpuset_new();
    g_autoptr(KtCpuset) in_pools = kt_cpuset_new();
    g_autofree char *all = NULL;
    guint i;

    for (i = 0; i < c->inv->cpus->len; i++)
        kt_cpuset_add(exists, g_array_index(c->inv->cpus, KtInvCpu, i).id);
    all = kt_cpuset_format(exists);

    for (i = 0; i < 3; i++) {
        g_autoptr(KtCpuset) missing = kt_cpuset_copy(pools[i]);
        g_autoptr(KtCpuset) offline = kt_cpuset_copy(pools[i]);

        kt_cpuset_union(in_pools, pools[i]);
        kt_cpuset_subtract(missing, exists);
        if (!kt_cpuset_is_empty(missing)) {
            g_autofree char *s = kt_cpuset_format(missing);

            problem(c, keys[i], "%s %s %s not exist on this host (CPUs %s)",
                    cpus_word(missing), s, kt_cpuset_count(missing) == 1 ? "does" : "do", all);
        }
        kt_cpuset_intersect(offline, exists);
        if (c->inv->online)
            kt_cpuset_subtract(offline, c->inv->online);
        if (c->inv->online && !kt_cpuset_is_empty(offline)) {
            g_autofree char *s = kt_cpuset_format(offline);

            problem(c, keys[i], "%s %s %s offline", cpus_word(offline), s, verb(offline));
        }
    }

    /* Isolation keeps host tasks and IRQs off pinned vCPUs; without it
     * "dedicated" is only exclusive among VMs. */
    if (!kt_cpuset_is_empty(p->dedicated_cpus) && c->inv->isolated) {
        g_autoptr(KtCpuset) noiso = kt_cpuset_copy(p->dedicated_cpus);

        kt_cpuset_intersect(noiso, exists);
        kt_cpuset_subtract(noiso, c->inv->isolated);
        if (!kt_cpuset_is_empty(noiso)) {
            g_autofree char *s = kt_cpuset_format(noiso);

            warning(c, "host.dedicated_cpus", "%s %s %s not isolated (isolcpus=): host "
                    "tasks may run on pinned vCPUs", cpus_word(noiso), s, verb(noiso));
        }
    }
    /* The other way round: isolated CPUs are out of the scheduler's load
     * balancing, so floating vCPUs that land on one stay there however
     * busy it gets. */
    if (!kt_cpuset_is_empty(p->shared_cpus) && c->inv->isolated) {
        g_autoptr(KtCpuset) iso = kt_cpuset_copy(p->shared_cpus);

        kt_cpuset_intersect(iso, exists);
        kt_cpuset_intersect(iso, c->inv->isolated);
        if (!kt_cpuset_is_empty(iso)) {
            g_autofree char *s = kt_cpuset_format(iso);

            warning(c, "host.shared_cpus", "%s %s %s isolated (isolcpus=): the scheduler "
                    "does not balance floating vCPUs there", cpus_word(iso), s, verb(iso));
        }
    }
    /* threads: isolate/require take whole cores: a pinned CPU whose SMT
     * sibling sits in another pool can never be part of one. */
    if (!kt_cpuset_is_empty(p->dedicated_cpus)) {
        g_autoptr(KtCpuset) split = kt_cpuset_new();
        int id;

        for (id = kt_cpuset_next(p->dedicated_cpus, 0); id >= 0;
             id = kt_cpuset_next(p->dedicated_cpus, id + 1)) {
            const KtInvCpu *cpu = kt_inventory_cpu(c->inv, id);

            if (cpu && cpu->siblings && !kt_cpuset_is_subset(cpu->siblings, p->dedicated_cpus))
                kt_cpuset_add(split, id);
        }
        if (!kt_cpuset_is_empty(split)) {
            g_autofree char *s = kt_cpuset_format(split);

            warning(c, "host.dedicated_cpus", "%s %s %s SMT siblings outside the pool: "
                    "profiles with threads isolate or require cannot use %s",
                    cpus_word(split), s, kt_cpuset_count(split) == 1 ? "has" : "have",
                    kt_cpuset_count(split) == 1 ? "its core" : "their cores");
        }
    }
    if (!kt_cpuset_is_empty(in_pools) && c->inv->online) {
        g_autoptr(KtCpuset) unused = kt_cpuset_copy(c->inv->online);

        kt_cpuset_subtract(unused, in_pools);
        if (!kt_cpuset_is_empty(unused)) {
            g_autofree char *s = kt_cpuset_format(unused);

            warning(c, NULL, "online %s %s %s in no pool (reserved, dedicated, shared): "
                    "kvmtune never uses them", cpus_word(unused), s, verb(unused));
        }
    }
}

/* ---- hugepages --------------------------------------------------------------- */

static char *
size_text(guint64 kib)
{
    if (kib >= 1048576 && kib % 1048576 == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT "G", kib / 1048576);
    if (kib >= 1024 && kib % 1024 == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT "M", kib / 1024);
    return g_strdup_printf("%" G_GUINT64_FORMAT "K", kib);
}

/* Sizes the host offers on any node, "2M, 1G" (for messages). */
static char *
host_sizes(const KtInventory *inv)
{
    g_autoptr(GArray) sizes = g_array_new(FALSE, FALSE, sizeof(guint64));
    g_autoptr(GString) s = g_string_new(NULL);
    guint i, j, k;

    for (i = 0; i < inv->nodes->len; i++) {
        const KtInvNode *n = &g_array_index(inv->nodes, KtInvNode, i);

        for (j = 0; n->hugepages && j < n->hugepages->len; j++) {
            guint64 kib = g_array_index(n->hugepages, KtInvHugepages, j).size_kib;
            bool seen = false;

            for (k = 0; k < sizes->len; k++)
                seen = seen || g_array_index(sizes, guint64, k) == kib;
            if (!seen)
                g_array_append_val(sizes, kib);
        }
    }
    for (k = 0; k < sizes->len; k++) {
        g_autofree char *t = size_text(g_array_index(sizes, guint64, k));

        g_string_append_printf(s, "%s%s", k ? ", " : "", t);
    }
    return g_strdup(sizes->len ? s->str : "none");
}

static bool
host_has_size(const KtInventory *inv, guint64 kib)
{
    guint i;

    for (i = 0; i < inv->nodes->len; i++) {
        if (kt_inventory_hugepages(inv, g_array_index(inv->nodes, KtInvNode, i).id, kib))
            return true;
    }
    return false;
}

static void
check_hugepages(Check *c)
{
    const KtPolicy *p = c->policy;
    g_autofree char *offered = host_sizes(c->inv);
    guint i, j;

    for (i = 0; i < p->hugepages->len; i++) {
        const KtPolicyHugepages *hp = &g_array_index(p->hugepages, KtPolicyHugepages, i);
        g_autofree char *key = g_strdup_printf("host.hugepages[%u].size", i);
        g_autofree char *sz = size_text(hp->size_kib);

        if (!host_has_size(c->inv, hp->size_kib)) {
            problem(c, key, "the host has no %s hugepages (sizes offered: %s)", sz, offered);
            continue;
        }
        for (j = 0; j < c->inv->nodes->len; j++) {
            const KtInvNode *n = &g_array_index(c->inv->nodes, KtInvNode, j);
            const KtInvHugepages *have = kt_inventory_hugepages(c->inv, n->id, hp->size_kib);
            guint64 total = have ? have->total : 0;

            if (total < hp->per_node)
                warning(c, key, "node %u has %" G_GUINT64_FORMAT " x %s pages reserved, "
                        "the policy hands out up to %" G_GUINT64_FORMAT,
                        n->id, total, sz, hp->per_node);
        }
    }
    for (i = 0; i < p->profiles->len; i++) {
        const KtPolicyProfile *prof = p->profiles->pdata[i];
        g_autofree char *key = NULL;
        g_autofree char *sz = NULL;

        if (prof->hugepage_kib == 0 || host_has_size(c->inv, prof->hugepage_kib))
            continue;
        key = g_strdup_printf("profiles.%s.memory.hugepages", prof->name);
        sz = size_text(prof->hugepage_kib);
        problem(c, key, "the host has no %s hugepages (sizes offered: %s)", sz, offered);
    }
}

/* ---- NUMA, SR-IOV, GPUs ---------------------------------------------------------- */

static void
check_numa(Check *c)
{
    guint nnodes = c->inv->nodes->len;
    guint i;

    for (i = 0; i < c->policy->profiles->len; i++) {
        const KtPolicyProfile *prof = c->policy->profiles->pdata[i];
        g_autofree char *key = NULL;

        if (prof->numa_nodes <= nnodes)
            continue;
        key = g_strdup_printf("profiles.%s.numa.nodes", prof->name);
        problem(c, key, "%u nodes, but the host has %u NUMA node%s", prof->numa_nodes,
                nnodes, nnodes == 1 ? "" : "s");
    }
}

static void
check_sriov(Check *c)
{
    guint i;

    for (i = 0; i < c->policy->sriov_pfs->len; i++) {
        const KtPolicySriovPf *pf = c->policy->sriov_pfs->pdata[i];
        const KtInvSriovPf *have = kt_inventory_find_pf(c->inv, pf->pf);
        g_autofree char *key = g_strdup_printf("host.sriov[%u].pf", i);

        if (!have || have->totalvfs == 0) {
            if (!kt_inventory_find_pci(c->inv, pf->pf))
                problem(c, key, "no PCI device %s on this host", pf->pf);
            else
                problem(c, key, "%s has no SR-IOV (no VFs possible: sriov_totalvfs "
                        "missing or 0)", pf->pf);
            continue;
        }
        if (have->numvfs == 0)
            warning(c, key, "%s has no VFs enabled (sriov_numvfs is 0, up to %u possible)",
                    pf->pf, have->totalvfs);
    }
}

static bool
parent_offers(const KtInvMdevParent *parent, const char *type)
{
    guint i;

    for (i = 0; parent->types && i < parent->types->len; i++) {
        if (strcmp(((KtInvMdevType *)parent->types->pdata[i])->id, type) == 0)
            return true;
    }
    return false;
}

static void
check_gpus(Check *c)
{
    const KtPolicy *p = c->policy;
    guint i, j;

    for (i = 0; i < p->gpus->len; i++) {
        const char *pci = p->gpus->pdata[i];
        g_autofree char *key = g_strdup_printf("host.gpus[%u].pci", i);

        if (!kt_inventory_find_pci(c->inv, pci))
            problem(c, key, "no PCI device %s on this host", pci);
    }
    for (i = 0; i < p->profiles->len; i++) {
        const KtPolicyProfile *prof = p->profiles->pdata[i];
        g_autoptr(GString) offered = g_string_new(NULL);
        g_autofree char *key = NULL;
        bool found = false;

        if (!prof->vgpu_type)
            continue;
        /* Only the listed GPUs are kvmtune's; with none listed, any parent. */
        for (j = 0; j < c->inv->mdev_parents->len; j++) {
            const KtInvMdevParent *parent = c->inv->mdev_parents->pdata[j];
            guint k;

            if (p->gpus->len > 0 &&
                !g_ptr_array_find_with_equal_func(p->gpus, parent->address, g_str_equal, NULL))
                continue;
            found = found || parent_offers(parent, prof->vgpu_type);
            for (k = 0; parent->types && k < parent->types->len; k++) {
                const char *id = ((KtInvMdevType *)parent->types->pdata[k])->id;

                if (!strstr(offered->str, id))
                    g_string_append_printf(offered, "%s%s", offered->len ? ", " : "", id);
            }
        }
        if (found)
            continue;
        key = g_strdup_printf("profiles.%s.vgpu.type", prof->name);
        problem(c, key, "no mdev parent%s offers type '%s' (types offered: %s)",
                p->gpus->len > 0 ? " in 'host.gpus'" : "", prof->vgpu_type,
                offered->len ? offered->str : "none");
    }
}

/* ---- Nova ------------------------------------------------------------------------ */

/* Two allocators handing out the same CPU: kvmtune's pinned or reserved CPUs
 * must stay out of every Nova set, and Nova's pinned set out of kvmtune's
 * shared pool.  Shared with shared is fine: both float VMs there. */
static void
check_nova_set(Check *c, const KtNovaConf *nova, const KtCpuset *set, guint line,
               const char *name, bool nova_dedicated)
{
    const KtPolicy *p = c->policy;
    const KtCpuset *pools[3] = { p->reserved_cpus, p->dedicated_cpus, p->shared_cpus };
    static const char *const keys[3] = {
        "host.reserved_cpus", "host.dedicated_cpus", "host.shared_cpus",
    };
    guint i;

    if (!set)
        return;
    for (i = 0; i < 3; i++) {
        g_autoptr(KtCpuset) both = NULL;
        g_autofree char *s = NULL;

        if (i == 2 && !nova_dedicated)
            continue;
        if (!kt_cpuset_intersects(pools[i], set))
            continue;
        both = kt_cpuset_copy(pools[i]);
        kt_cpuset_intersect(both, set);
        s = kt_cpuset_format(both);
        problem(c, keys[i], "%s %s %s also in Nova's %s (%s:%u)", cpus_word(both), s,
                verb(both), name, nova->path, line);
    }
}

static void
check_nova(Check *c, const KtNovaConf *nova)
{
    check_nova_set(c, nova, nova->cpu_dedicated_set, nova->cpu_dedicated_set_line,
                   "[compute] cpu_dedicated_set", true);
    check_nova_set(c, nova, nova->cpu_shared_set, nova->cpu_shared_set_line,
                   "[compute] cpu_shared_set", false);
    /* The deprecated option serves pinned and floating guests alike. */
    if (!nova->cpu_dedicated_set && !nova->cpu_shared_set)
        check_nova_set(c, nova, nova->vcpu_pin_set, nova->vcpu_pin_set_line,
                       "[DEFAULT] vcpu_pin_set", true);
}

bool
kt_policy_check(const KtPolicy *policy, const KtInventory *inv, const KtNovaConf *nova,
                GPtrArray *problems, GPtrArray *warnings)
{
    g_autoptr(GPtrArray) p = kt_policy_notes_new();
    g_autoptr(GPtrArray) w = kt_policy_notes_new();
    Check c = { policy, inv, p, warnings ? w : NULL };

    check_pools(&c);
    check_hugepages(&c);
    check_numa(&c);
    check_sriov(&c);
    check_gpus(&c);
    if (nova)
        check_nova(&c, nova);
    flush(p, problems);
    if (warnings)
        flush(w, warnings);
    return p->len == 0;
}
