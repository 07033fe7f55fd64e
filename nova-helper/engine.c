/* engine.c: match -> allocate -> apply, with the booking pending until the
 * caller knows libvirt's answer.  See engine.h.
 *
 * A domain's "signature" (flavor name, vCPUs, memory, profile) decides
 * whether a redefinition keeps its booking: Nova's hard reboot regenerates
 * the whole XML without our metadata, and must get the same CPUs back; a
 * resize changes the signature and re-places (with the domain's own
 * resources counted as free, so a resize in place is possible). */
#include "engine.h"
#include "allocator.h"
#include "domain.h"
#include "json-out.h"
#include "kt-error.h"
#include "ledger.h"

#include <string.h>

struct _KtEngine {
    const KtInventory *inv;
    const KtPolicy *policy;
    KtLedger *ledger;
    KtEngineCounters counters;
};

KtEngine *
kt_engine_new(const KtInventory *inv, const KtPolicy *policy)
{
    KtEngine *e;

    g_return_val_if_fail(inv && policy, NULL);
    e = g_new0(KtEngine, 1);
    e->inv = inv;
    e->policy = policy;
    e->ledger = kt_ledger_new();
    return e;
}

void
kt_engine_free(KtEngine *e)
{
    if (!e)
        return;
    kt_ledger_free(e->ledger);
    g_free(e);
}

const KtLedger *
kt_engine_ledger(const KtEngine *e)
{
    return e->ledger;
}

const KtEngineCounters *
kt_engine_counters(const KtEngine *e)
{
    return &e->counters;
}

void
kt_engine_set_policy(KtEngine *e, const KtInventory *inv, const KtPolicy *policy)
{
    g_return_if_fail(inv && policy);
    e->inv = inv;
    e->policy = policy;
}

static char *
signature(const KtRequest *req, const char *profile)
{
    return g_strdup_printf("%s|%u|%" G_GUINT64_FORMAT "|%s",
                           req->flavor_name ? req->flavor_name : "",
                           req->vcpus_max, req->memory_kib, profile ? profile : "");
}

/* PCI devices the XML holds that are not part of @pl (Nova's SR-IOV ports,
 * PCI aliases, an admin's hostdev): booked so nobody else gets them. */
static GPtrArray *
foreign_pci(const KtRequest *req, const KtPlacement *pl)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    guint i, j;

    for (i = 0; i < req->pci_devs->len; i++) {
        const KtRequestPciDev *d = g_ptr_array_index(req->pci_devs, i);
        bool ours = false;

        for (j = 0; pl && j < pl->vfs->len && !ours; j++)
            ours = g_strcmp0(((KtPlacementVf *)g_ptr_array_index(pl->vfs, j))->vf, d->address) == 0;
        for (j = 0; pl && j < pl->gpus->len && !ours; j++)
            ours = g_strcmp0(((KtPlacementGpu *)g_ptr_array_index(pl->gpus, j))->address,
                             d->address) == 0;
        if (!ours)
            g_ptr_array_add(out, g_strdup(d->address));
    }
    return out;
}

/* The CPUs a domain without kvmtune metadata pinned one vCPU each to:
 * Nova's hw:cpu_policy=dedicated.  NULL when there are none. */
static KtPlacement *
nova_booking(const KtEngine *e, const KtRequest *req)
{
    g_autoptr(KtPlacement) pl = kt_placement_new();
    guint i;
    int c;

    pl->booked_cpus = kt_cpuset_new();
    for (i = 0; req->vcpupins && i < req->vcpus_max; i++) {
        if (req->vcpupins[i] && kt_cpuset_count(req->vcpupins[i]) == 1)
            kt_cpuset_union(pl->booked_cpus, req->vcpupins[i]);
    }
    if (kt_cpuset_is_empty(pl->booked_cpus))
        return NULL;
    pl->nodes = kt_cpuset_new();
    for (c = kt_cpuset_first(pl->booked_cpus); c >= 0; c = kt_cpuset_next(pl->booked_cpus, c + 1)) {
        const KtInvCpu *cpu = kt_inventory_cpu(e->inv, c);

        if (cpu && cpu->node >= 0)
            kt_cpuset_add(pl->nodes, cpu->node);
    }
    pl->nvcpus = req->vcpus_max;
    return g_steal_pointer(&pl);
}

/* Nova pinned the domain itself and now pins it elsewhere with the same
 * flavor (evacuate, unshelve, a hard reboot after a Nova-side repin): the
 * booking recorded Nova's old pins, so it is re-placed from the new XML
 * rather than reused. */
static bool
nova_moved(const KtRequest *req, const KtPolicyProfile *profile, const KtPlacement *booked)
{
    guint i;

    if (profile->override || !kt_request_has_cpu_pinning(req) || !booked->vcpu_pins ||
        booked->nvcpus != req->vcpus_max || !req->vcpupins)
        return false;
    for (i = 0; i < req->vcpus_max; i++) {
        if (req->vcpupins[i] && booked->vcpu_pins[i] &&
            !kt_cpuset_equal(req->vcpupins[i], booked->vcpu_pins[i]))
            return true;
    }
    return false;
}

/* Everything one decision needs, shared by rewrite and explain. */
typedef struct {
    KtRequest *req;
    const KtPolicyMatch *rule;
    const KtPolicyProfile *profile;
    const char *profile_name;
    char *signature;
    KtPlacement *placement;
    const char *how;          /* "new", "reused", "re-placed", "metadata" */
    KtAllocReport *report;
} Decision;

static void
decision_clear(Decision *d)
{
    kt_request_free(d->req);
    g_free(d->signature);
    kt_placement_free(d->placement);
    kt_alloc_report_free(d->report);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Decision, decision_clear)

/* Matches and, when a profile applies, places (nothing booked).  FALSE +
 * @error on refusal; TRUE with d->placement NULL on pass-through. */
static gboolean
decide(KtEngine *e, KtDomain *dom, Decision *d, GError **error)
{
    const KtBooking *b;

    d->report = kt_alloc_report_new();
    d->req = kt_domain_read_request(dom, error);
    if (!d->req)
        return FALSE;
    d->rule = kt_allocator_match(e->policy, d->req, &d->profile, &d->profile_name);
    if (!d->profile)
        return TRUE;
    if (!d->req->uuid) {
        /* Nova always sends one; virsh users often do not */
        d->req->uuid = kt_domain_ensure_uuid(dom);
        if (!d->req->uuid)
            return TRUE;      /* a malformed <uuid>: libvirt refuses it */
    }
    d->signature = signature(d->req, d->profile->name);

    b = kt_ledger_lookup(e->ledger, d->req->uuid);
    if (b && b->signature && strcmp(b->signature, d->signature) == 0 &&
        (b->pending || b->committed) &&
        !nova_moved(d->req, d->profile, b->pending ? b->pending : b->committed)) {
        /* Same flavor: Nova's hard reboot or an edit.  Keep the booking. */
        d->placement = kt_placement_copy(b->pending ? b->pending : b->committed);
        d->how = "reused";
        return TRUE;
    }
    if (!b && d->req->placement && d->req->placement->profile &&
        strcmp(d->req->placement->profile, d->profile->name) == 0 &&
        d->req->placement->nvcpus == d->req->vcpus_max &&
        d->req->placement->memory_kib == d->req->memory_kib) {
        /* The XML carries a placement of ours (virsh edit, a define of a
         * dumped XML): keep it when it is still free. */
        g_autoptr(GPtrArray) foreign = foreign_pci(d->req, d->req->placement);

        if (kt_ledger_book(e->ledger, d->req->uuid, d->signature, d->req->placement,
                           foreign, true, NULL)) {
            kt_ledger_abort(e->ledger, d->req->uuid);
            d->placement = kt_placement_copy(d->req->placement);
            d->how = "metadata";
            return TRUE;
        }
    }
    if (b)
        kt_ledger_suspend(e->ledger, d->req->uuid);
    d->placement = kt_allocator_place(e->inv, e->policy, e->ledger, d->req, d->profile,
                                      d->report, error);
    if (b)
        kt_ledger_resume(e->ledger, d->req->uuid);
    d->how = b ? "re-placed" : "new";
    return d->placement != NULL;
}

gboolean
kt_engine_rewrite(KtEngine *e, const char *xml, gsize len,
                  KtVerdict *ret_verdict, char **ret_xml, gsize *ret_len,
                  char **ret_uuid, GError **error)
{
    g_auto(Decision) d = { 0 };
    g_autoptr(KtDomain) dom = NULL;
    g_autoptr(GPtrArray) foreign = NULL;
    g_autofree char *out = NULL;
    KtApplyReport rep = { 0 };
    gsize out_len = 0;

    dom = kt_domain_parse(xml, len, error);
    if (!dom || !decide(e, dom, &d, error)) {
        e->counters.refusals++;
        return FALSE;
    }
    if (!d.placement) {
        /* Pass-through; still book what Nova pinned itself and the devices
         * the XML brings, so kvmtune never hands them to another domain. */
        g_autoptr(KtPlacement) nova = d.req->uuid ? nova_booking(e, d.req) : NULL;

        foreign = foreign_pci(d.req, NULL);
        if (d.req->uuid && (nova || foreign->len > 0)) {
            g_autoptr(KtPlacement) empty = kt_placement_new();

            kt_ledger_book(e->ledger, d.req->uuid, NULL, nova ? nova : empty, foreign,
                           false, NULL);
        }
        e->counters.passes++;
        *ret_verdict = KT_VERDICT_PASS;
        *ret_xml = NULL;
        if (ret_len)
            *ret_len = 0;
        if (ret_uuid)
            *ret_uuid = g_strdup(d.req->uuid);
        return TRUE;
    }

    foreign = foreign_pci(d.req, d.placement);
    if (!kt_ledger_book(e->ledger, d.req->uuid, d.signature, d.placement, foreign, true, error)) {
        e->counters.refusals++;
        return FALSE;
    }
    if (!kt_domain_apply(dom, d.placement, &rep, error)) {
        kt_ledger_abort(e->ledger, d.req->uuid);
        e->counters.refusals++;
        return FALSE;
    }
    out = kt_domain_format(dom, &out_len);
    e->counters.rewrites++;
    e->counters.fallbacks += d.report->fallbacks;
    if (g_strcmp0(d.how, "reused") == 0)
        e->counters.reused++;
    *ret_verdict = KT_VERDICT_REWRITE;
    *ret_xml = g_steal_pointer(&out);
    if (ret_len)
        *ret_len = out_len;
    if (ret_uuid)
        *ret_uuid = g_strdup(d.req->uuid);
    return TRUE;
}

void
kt_engine_commit(KtEngine *e, const char *uuid)
{
    if (uuid)
        kt_ledger_commit(e->ledger, uuid);
}

void
kt_engine_abort(KtEngine *e, const char *uuid)
{
    if (uuid)
        kt_ledger_abort(e->ledger, uuid);
}

void
kt_engine_release(KtEngine *e, const char *uuid)
{
    if (uuid)
        kt_ledger_release(e->ledger, uuid);
}

void
kt_engine_reset(KtEngine *e)
{
    kt_ledger_reset(e->ledger);
}

gboolean
kt_engine_load_domain(KtEngine *e, const char *xml, gsize len, GError **error)
{
    g_autoptr(KtDomain) dom = kt_domain_parse(xml, len, error);
    g_autoptr(KtRequest) req = NULL;
    g_autoptr(KtPlacement) nova = NULL;
    g_autoptr(GPtrArray) foreign = NULL;
    g_autofree char *sig = NULL;
    const KtPlacement *pl;

    if (!dom || !(req = kt_domain_read_request(dom, error)))
        return FALSE;
    if (!req->uuid) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                    "domain %s has no <uuid>", req->name ? req->name : "?");
        return FALSE;
    }
    pl = req->placement;
    if (!pl)
        pl = nova = nova_booking(e, req);
    foreign = foreign_pci(req, pl);
    if (!pl && foreign->len == 0)
        return TRUE;
    if (!pl)
        pl = nova = kt_placement_new();
    sig = req->placement ? signature(req, req->placement->profile) : NULL;
    return kt_ledger_book(e->ledger, req->uuid, sig, pl, foreign, false, error);
}

/* ---- explain ------------------------------------------------------------- */

static const char *
match_kind(KtMatchKind k)
{
    switch (k) {
    case KT_MATCH_FLAVOR:
        return "flavor";
    case KT_MATCH_EXTRA_SPEC:
        return "extra_spec";
    case KT_MATCH_NAME:
        return "name";
    case KT_MATCH_DEFAULT:
        return "default";
    case KT_MATCH_LAST:
    default:
        return "?";
    }
}

static void
explain_profile(GString *s, const KtPolicyProfile *p)
{
    guint i;

    g_string_append_printf(s, "profile %s:", p->name);
    if (p->cpu_policy == KT_CPU_POLICY_DEDICATED)
        g_string_append_printf(s, " cpu dedicated (threads %s, emulator %s, %s)",
                               kt_thread_policy_to_string(p->threads),
                               kt_emulator_policy_to_string(p->emulator),
                               kt_need_to_string(p->cpu_need));
    else if (p->cpu_policy == KT_CPU_POLICY_SHARED)
        g_string_append(s, " cpu shared");
    if (p->numa_nodes)
        g_string_append_printf(s, ", numa nodes %u (%s)", p->numa_nodes,
                               kt_need_to_string(p->numa_need));
    if (p->hugepage_kib)
        g_string_append_printf(s, ", hugepages %" G_GUINT64_FORMAT " KiB (%s)", p->hugepage_kib,
                               kt_need_to_string(p->memory_need));
    for (i = 0; p->sriov && i < p->sriov->len; i++) {
        const KtPolicySriovReq *r = g_ptr_array_index(p->sriov, i);

        g_string_append_printf(s, ", sriov %s x%u", r->physnet, MAX(r->count, 1));
    }
    if (p->vgpu_type)
        g_string_append_printf(s, ", vgpu %s x%u", p->vgpu_type, MAX(p->vgpu_count, 1));
    if (p->gpu_count)
        g_string_append_printf(s, ", gpu x%u", p->gpu_count);
    if (p->override)
        g_string_append(s, ", override Nova's own tuning");
    g_string_append_c(s, '\n');
}

char *
kt_engine_explain(KtEngine *e, const char *xml, gsize len, GError **error)
{
    g_auto(Decision) d = { 0 };
    g_autoptr(KtDomain) dom = kt_domain_parse(xml, len, error);
    g_autoptr(GString) s = g_string_new(NULL);
    g_autoptr(GError) refusal = NULL;
    guint i;

    if (!dom)
        return NULL;
    if (!decide(e, dom, &d, &refusal) && !d.req) {
        g_propagate_error(error, g_steal_pointer(&refusal));
        return NULL;
    }
    g_string_append_printf(s, "domain: %s (uuid %s)\n", d.req->name ? d.req->name : "?",
                           d.req->uuid ? d.req->uuid : "none");
    if (d.req->is_nova)
        g_string_append_printf(s, "nova flavor: %s (%u vCPUs, %" G_GUINT64_FORMAT " MiB)\n",
                               d.req->flavor_name ? d.req->flavor_name : "?",
                               d.req->flavor_vcpus, d.req->flavor_memory_mib);
    else
        g_string_append(s, "nova flavor: none (not a Nova domain)\n");
    g_string_append_printf(s, "size: %u vCPUs, %" G_GUINT64_FORMAT " MiB\n",
                           d.req->vcpus_max, d.req->memory_kib / 1024);
    if (!d.rule) {
        g_string_append_printf(s, "rule: none of the %u match rules of %s matched\n",
                               e->policy->match ? e->policy->match->len : 0,
                               e->policy->path ? e->policy->path : "the policy");
    } else {
        g_string_append_printf(s, "rule: %s:%u: %s", e->policy->path ? e->policy->path : "policy",
                               d.rule->line, match_kind(d.rule->kind));
        if (d.rule->key)
            g_string_append_printf(s, " \"%s\"", d.rule->key);
        if (d.rule->pattern)
            g_string_append_printf(s, " \"%s\"", d.rule->pattern);
        g_string_append_printf(s, " -> profile %s\n", d.profile_name ? d.profile_name : "none");
    }
    if (!d.profile) {
        if (d.profile_name && g_strcmp0(d.profile_name, "none") != 0)
            g_string_append_printf(s, "profile %s is not defined in the policy\n", d.profile_name);
        g_string_append(s, "result: pass through, the XML is forwarded unchanged\n");
        return g_string_free(g_steal_pointer(&s), FALSE);
    }
    explain_profile(s, d.profile);
    if (!d.req->uuid) {
        g_string_append(s, "result: pass through: the domain has no <uuid> to book under\n");
        return g_string_free(g_steal_pointer(&s), FALSE);
    }
    if (refusal) {
        for (i = 0; d.report && i < d.report->notes->len; i++)
            g_string_append_printf(s, "  %s\n",
                                   (const char *)g_ptr_array_index(d.report->notes, i));
        g_string_append_printf(s, "result: refused (%s): %s\n",
                               kt_error_code_to_string(refusal->code), refusal->message);
        return g_string_free(g_steal_pointer(&s), FALSE);
    }
    if (g_strcmp0(d.how, "reused") == 0)
        g_string_append(s, "booking: reuses this UUID's booking (same flavor and size)\n");
    else if (g_strcmp0(d.how, "metadata") == 0)
        g_string_append(s, "booking: keeps the placement recorded in the XML (still free)\n");
    else if (g_strcmp0(d.how, "re-placed") == 0)
        g_string_append(s, "booking: re-placed: flavor or size changed since the last define\n");
    else
        g_string_append(s, "booking: new\n");
    for (i = 0; i < d.report->notes->len; i++)
        g_string_append_printf(s, "  %s\n", (const char *)g_ptr_array_index(d.report->notes, i));
    if (d.report->fallbacks)
        g_string_append_printf(s, "best-effort fallbacks: %u\n", d.report->fallbacks);
    {
        g_autofree char *meta = kt_placement_format_xml(d.placement);

        g_string_append_printf(s, "placement:\n%s\n", meta ? meta : "");
    }
    g_string_append(s, "result: rewrite (dry run: nothing booked)\n");
    return g_string_free(g_steal_pointer(&s), FALSE);
}

/* ---- status -------------------------------------------------------------- */

static void
count_devices(const KtLedger *l, guint *vfs, guint *mdevs, guint *gpus)
{
    g_autoptr(GPtrArray) uuids = kt_ledger_uuids(l);
    guint i;

    *vfs = *mdevs = *gpus = 0;
    for (i = 0; i < uuids->len; i++) {
        const KtBooking *b = kt_ledger_lookup(l, g_ptr_array_index(uuids, i));
        const KtPlacement *pl = b->pending ? b->pending : b->committed;

        if (!pl)
            continue;
        *vfs += pl->vfs->len;
        *mdevs += pl->mdevs->len;
        *gpus += pl->gpus->len;
    }
}

/* "2M", "1G": page sizes the way the policy and the kernel name them. */
static char *
page_size_name(guint64 kib)
{
    if (kib >= 1048576 && kib % 1048576 == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT "G", kib / 1048576);
    if (kib >= 1024 && kib % 1024 == 0)
        return g_strdup_printf("%" G_GUINT64_FORMAT "M", kib / 1024);
    return g_strdup_printf("%" G_GUINT64_FORMAT "K", kib);
}

char *
kt_engine_status_text(KtEngine *e)
{
    g_autoptr(GArray) usage = kt_allocator_node_usage(e->inv, e->policy, e->ledger);
    g_autoptr(GString) s = g_string_new(NULL);
    guint vfs, mdevs, gpus;
    guint i, j;

    count_devices(e->ledger, &vfs, &mdevs, &gpus);
    g_string_append_printf(s, "bookings: %u (%u pending)\n", kt_ledger_size(e->ledger),
                           kt_ledger_pending_count(e->ledger));
    g_string_append_printf(s, "decisions: %" G_GUINT64_FORMAT " rewritten (%" G_GUINT64_FORMAT
                           " reused), %" G_GUINT64_FORMAT " passed, %" G_GUINT64_FORMAT
                           " refused, %" G_GUINT64_FORMAT " best-effort fallbacks\n",
                           e->counters.rewrites, e->counters.reused, e->counters.passes,
                           e->counters.refusals, e->counters.fallbacks);
    for (i = 0; i < usage->len; i++) {
        const KtNodeUsage *u = &g_array_index(usage, KtNodeUsage, i);

        g_string_append_printf(s, "node %u:\n", u->node);
        g_string_append_printf(s, "  dedicated CPUs  %u booked of %u (%u whole cores free)\n",
                               u->dedicated_booked, u->dedicated_total, u->whole_cores_free);
        g_string_append_printf(s, "  shared vCPUs    %u booked of %u (%u shared CPUs)\n",
                               u->shared_vcpus_booked, u->shared_vcpus_capacity, u->shared_cpus);
        g_string_append_printf(s, "  memory          %" G_GUINT64_FORMAT " MiB booked of %"
                               G_GUINT64_FORMAT " MiB\n", u->memory_booked_kib / 1024,
                               u->memory_capacity_kib / 1024);
        for (j = 0; j < u->npages; j++) {
            g_autofree char *size = page_size_name(u->pages[j].size_kib);
            g_autofree char *label = g_strdup_printf("hugepages %s", size);

            g_string_append_printf(s, "  %-16s%" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
                                   " pages booked\n", label, u->pages[j].booked,
                                   u->pages[j].capacity);
        }
    }
    g_string_append_printf(s, "devices: %u VFs, %u mdevs, %u whole GPUs booked\n",
                           vfs, mdevs, gpus);
    return g_string_free(g_steal_pointer(&s), FALSE);
}

char *
kt_engine_status_json(KtEngine *e)
{
    g_autoptr(GArray) usage = kt_allocator_node_usage(e->inv, e->policy, e->ledger);
    g_autoptr(GPtrArray) uuids = kt_ledger_uuids(e->ledger);
    g_autoptr(GString) s = g_string_new(NULL);
    guint vfs, mdevs, gpus;
    guint i, j;

    count_devices(e->ledger, &vfs, &mdevs, &gpus);
    g_string_append_printf(s, "{\"bookings\":%u,\"pending\":%u,", kt_ledger_size(e->ledger),
                           kt_ledger_pending_count(e->ledger));
    g_string_append_printf(s, "\"counters\":{\"rewrites\":%" G_GUINT64_FORMAT
                           ",\"reused\":%" G_GUINT64_FORMAT ",\"passes\":%" G_GUINT64_FORMAT
                           ",\"refusals\":%" G_GUINT64_FORMAT ",\"fallbacks\":%" G_GUINT64_FORMAT "},",
                           e->counters.rewrites, e->counters.reused, e->counters.passes,
                           e->counters.refusals, e->counters.fallbacks);
    g_string_append(s, "\"nodes\":[");
    for (i = 0; i < usage->len; i++) {
        const KtNodeUsage *u = &g_array_index(usage, KtNodeUsage, i);

        g_string_append_printf(s, "%s{\"id\":%u,\"dedicated_cpus\":{\"total\":%u,\"booked\":%u,"
                               "\"whole_cores_free\":%u},\"shared\":{\"cpus\":%u,"
                               "\"vcpus_capacity\":%u,\"vcpus_booked\":%u},"
                               "\"memory_kib\":{\"capacity\":%" G_GUINT64_FORMAT
                               ",\"booked\":%" G_GUINT64_FORMAT "},\"hugepages\":[",
                               i ? "," : "", u->node, u->dedicated_total, u->dedicated_booked,
                               u->whole_cores_free, u->shared_cpus, u->shared_vcpus_capacity,
                               u->shared_vcpus_booked, u->memory_capacity_kib,
                               u->memory_booked_kib);
        for (j = 0; j < u->npages; j++)
            g_string_append_printf(s, "%s{\"size_kib\":%u,\"capacity\":%" G_GUINT64_FORMAT
                                   ",\"booked\":%" G_GUINT64_FORMAT "}", j ? "," : "",
                                   u->pages[j].size_kib, u->pages[j].capacity,
                                   u->pages[j].booked);
        g_string_append(s, "]}");
    }
    g_string_append_printf(s, "],\"devices\":{\"vfs\":%u,\"mdevs\":%u,\"gpus\":%u},", vfs, mdevs,
                           gpus);
    g_string_append(s, "\"domains\":[");
    for (i = 0; i < uuids->len; i++) {
        const KtBooking *b = kt_ledger_lookup(e->ledger, g_ptr_array_index(uuids, i));
        const KtPlacement *pl = b->pending ? b->pending : b->committed;
        g_autofree char *nodes = pl && pl->nodes ? kt_cpuset_format(pl->nodes) : NULL;

        g_string_append(s, i ? ",{\"uuid\":" : "{\"uuid\":");
        kt_json_string(s, b->uuid);
        g_string_append(s, ",\"state\":");
        kt_json_string(s, b->pending ? "pending" : "committed");
        g_string_append(s, ",\"profile\":");
        kt_json_string(s, pl ? pl->profile : NULL);
        g_string_append(s, ",\"nodes\":");
        kt_json_string(s, nodes);
        g_string_append_c(s, '}');
    }
    g_string_append(s, "]}\n");
    return g_string_free(g_steal_pointer(&s), FALSE);
}
