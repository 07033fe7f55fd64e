/* simulate.c: place a flavor mix until the first refusal (see simulate.h).
 *
 * Each line becomes the request a Nova flavor of that name would give
 * (name instance-<n>, a UUID derived from the line number), is matched
 * through the policy and placed against the ledger of what came before,
 * exactly as kt_engine_rewrite does minus the XML. */
#include "simulate.h"
#include "json-out.h"
#include "kt-error.h"
#include "ledger.h"

#include <string.h>

void
kt_mix_entry_free(KtMixEntry *e)
{
    if (!e)
        return;
    g_free(e->flavor);
    g_free(e);
}

static bool
valid_flavor(const char *s)
{
    const char *p;

    if (!*s || strlen(s) > 255)
        return false;
    for (p = s; *p; p++) {
        if (!g_ascii_isgraph(*p))
            return false;
    }
    return true;
}

GPtrArray *
kt_simulate_parse_mix(const char *path, const char *text, gsize len, GError **error)
{
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)kt_mix_entry_free);
    g_autofree char *copy = g_strndup(text, len);
    g_auto(GStrv) lines = NULL;
    guint i;

    if (memchr(text, '\0', len)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "%s: NUL byte in a text file", path);
        return NULL;
    }
    lines = g_strsplit(copy, "\n", -1);
    for (i = 0; lines[i]; i++) {
        char *hash = strchr(lines[i], '#');
        g_auto(GStrv) words = NULL;
        g_autoptr(GPtrArray) fields = g_ptr_array_new();
        KtMixEntry *e;
        guint64 v, m;
        guint w;

        if (hash)
            *hash = '\0';
        words = g_strsplit_set(g_strstrip(lines[i]), " \t\r", -1);
        for (w = 0; words[w]; w++) {
            if (*words[w])
                g_ptr_array_add(fields, words[w]);
        }
        if (fields->len == 0)
            continue;
        if (i >= KT_SIMULATE_MAX_LINES) {
            g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE, "%s:%u: more than %d lines",
                        path, i + 1, KT_SIMULATE_MAX_LINES);
            return NULL;
        }
        if (fields->len != 3 || !valid_flavor(g_ptr_array_index(fields, 0)) ||
            !g_ascii_string_to_unsigned(g_ptr_array_index(fields, 1), 10, 1, 4096, &v, NULL) ||
            !g_ascii_string_to_unsigned(g_ptr_array_index(fields, 2), 10, 1,
                                        G_GUINT64_CONSTANT(1) << 32, &m, NULL)) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                        "%s:%u: expected '<flavor-name> <vcpus 1-4096> <memory-MiB>'",
                        path, i + 1);
            return NULL;
        }
        e = g_new0(KtMixEntry, 1);
        e->flavor = g_strdup(g_ptr_array_index(fields, 0));
        e->vcpus = (guint)v;
        e->memory_mib = m;
        e->line = i + 1;
        g_ptr_array_add(out, e);
    }
    return g_steal_pointer(&out);
}

static void
flavor_free(KtSimFlavor *f)
{
    g_free(f->name);
    g_free(f);
}

static void
placed_free(KtSimPlaced *p)
{
    g_free(p->flavor);
    kt_placement_free(p->placement);
    g_free(p);
}

void
kt_sim_result_free(KtSimResult *res)
{
    if (!res)
        return;
    g_ptr_array_unref(res->flavors);
    g_ptr_array_unref(res->placements);
    g_free(res->refusal);
    g_free(res->refused_flavor);
    if (res->usage)
        g_array_unref(res->usage);
    g_free(res);
}

static KtSimFlavor *
flavor_get(KtSimResult *res, const char *name)
{
    KtSimFlavor *f;
    guint i;

    for (i = 0; i < res->flavors->len; i++) {
        f = g_ptr_array_index(res->flavors, i);
        if (strcmp(f->name, name) == 0)
            return f;
    }
    f = g_new0(KtSimFlavor, 1);
    f->name = g_strdup(name);
    g_ptr_array_add(res->flavors, f);
    return f;
}

/* Isolate VMs whose pinned CPUs share a core with another VM's vCPU. */
static void
count_shared_siblings(const KtInventory *inv, KtSimResult *res)
{
    g_autoptr(GHashTable) owner = g_hash_table_new(g_direct_hash, g_direct_equal);
    guint i, v;

    for (i = 0; i < res->placements->len; i++) {
        const KtSimPlaced *p = g_ptr_array_index(res->placements, i);

        for (v = 0; p->placement->vcpu_pins && v < p->placement->nvcpus; v++) {
            int c = kt_cpuset_first(p->placement->vcpu_pins[v]);

            if (c >= 0)
                g_hash_table_insert(owner, GINT_TO_POINTER(c + 1), GUINT_TO_POINTER(i + 1));
        }
    }
    for (i = 0; i < res->placements->len; i++) {
        const KtSimPlaced *p = g_ptr_array_index(res->placements, i);
        bool shared = false;

        if (p->threads != KT_THREADS_ISOLATE || !p->placement->vcpu_pins)
            continue;
        for (v = 0; v < p->placement->nvcpus && !shared; v++) {
            int c = kt_cpuset_first(p->placement->vcpu_pins[v]);
            const KtInvCpu *cpu = c >= 0 ? kt_inventory_cpu(inv, c) : NULL;
            int s;

            for (s = cpu && cpu->siblings ? kt_cpuset_first(cpu->siblings) : -1; s >= 0;
                 s = kt_cpuset_next(cpu->siblings, s + 1)) {
                guint o = GPOINTER_TO_UINT(g_hash_table_lookup(owner, GINT_TO_POINTER(s + 1)));

                if (s != c && o && o != i + 1)
                    shared = true;
            }
        }
        res->isolate_shared += shared;
    }
}

KtSimResult *
kt_simulate_run(const KtInventory *inv, const KtPolicy *policy, const GPtrArray *mix)
{
    KtSimResult *res = g_new0(KtSimResult, 1);
    g_autoptr(KtLedger) ledger = kt_ledger_new();
    guint i;

    res->flavors = g_ptr_array_new_with_free_func((GDestroyNotify)flavor_free);
    res->placements = g_ptr_array_new_with_free_func((GDestroyNotify)placed_free);
    for (i = 0; i < mix->len; i++) {
        const KtMixEntry *e = g_ptr_array_index(mix, i);
        g_autoptr(KtRequest) req = kt_request_new();
        g_autoptr(KtAllocReport) rep = kt_alloc_report_new();
        g_autoptr(GError) err = NULL;
        g_autofree char *seed = g_strdup_printf("simulate/%u", i);
        const KtPolicyProfile *prof = NULL;
        KtPlacement *pl;
        KtSimPlaced *sp;

        req->uuid = kt_allocator_derive_uuid(seed);
        req->name = g_strdup_printf("instance-%08x", i + 1);
        req->domain_type = g_strdup("kvm");
        req->vcpus_max = req->vcpus_current = e->vcpus;
        req->memory_kib = req->current_memory_kib = e->memory_mib * 1024;
        req->is_nova = true;
        req->flavor_name = g_strdup(e->flavor);
        req->flavor_vcpus = e->vcpus;
        req->flavor_memory_mib = e->memory_mib;

        kt_allocator_match(policy, req, &prof, NULL);
        if (!prof) {
            res->unmanaged++;
            continue;
        }
        pl = kt_allocator_place(inv, policy, ledger, req, prof, rep, &err);
        if (pl && !kt_ledger_book(ledger, req->uuid, NULL, pl, NULL, false, &err))
            g_clear_pointer(&pl, kt_placement_free);
        if (!pl) {
            res->refusal = g_strdup(err ? err->message : "refused");
            res->refused_flavor = g_strdup(e->flavor);
            res->refused_line = e->line;
            break;
        }
        res->placed++;
        res->fallbacks += rep->fallbacks;
        flavor_get(res, e->flavor)->placed++;
        if (pl->nodes && kt_cpuset_count(pl->nodes) > 1) {
            res->splits++;
            if (prof->numa_nodes == 1)
                res->split_single_node++;
        }
        sp = g_new0(KtSimPlaced, 1);
        sp->flavor = g_strdup(e->flavor);
        sp->placement = pl;
        sp->threads = prof->cpu_policy == KT_CPU_POLICY_DEDICATED ? prof->threads : KT_THREADS_PREFER;
        g_ptr_array_add(res->placements, sp);
    }
    count_shared_siblings(inv, res);
    res->usage = kt_allocator_node_usage(inv, policy, ledger);
    return res;
}

char *
kt_simulate_format_text(const KtSimResult *res)
{
    g_autoptr(GString) s = g_string_new(NULL);
    guint i, j;

    g_string_append_printf(s, "placed: %u VMs", res->placed);
    if (res->unmanaged)
        g_string_append_printf(s, " (+%u matched no profile: left to Nova)", res->unmanaged);
    g_string_append_c(s, '\n');
    for (i = 0; i < res->flavors->len; i++) {
        const KtSimFlavor *f = g_ptr_array_index(res->flavors, i);

        g_string_append_printf(s, "  %-24s %u\n", f->name, f->placed);
    }
    g_string_append_printf(s, "numa splits: %u, isolate VMs sharing a core: %u, "
                           "best-effort fallbacks: %u\n",
                           res->splits, res->isolate_shared, res->fallbacks);
    for (i = 0; res->usage && i < res->usage->len; i++) {
        const KtNodeUsage *u = &g_array_index(res->usage, KtNodeUsage, i);

        g_string_append_printf(s, "node %u: dedicated %u/%u CPUs, shared %u/%u vCPUs, "
                               "memory %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT " MiB",
                               u->node, u->dedicated_booked, u->dedicated_total,
                               u->shared_vcpus_booked, u->shared_vcpus_capacity,
                               u->memory_booked_kib / 1024, u->memory_capacity_kib / 1024);
        for (j = 0; j < u->npages; j++)
            g_string_append_printf(s, ", %uK pages %" G_GUINT64_FORMAT "/%" G_GUINT64_FORMAT,
                                   u->pages[j].size_kib, u->pages[j].booked, u->pages[j].capacity);
        g_string_append_c(s, '\n');
    }
    if (res->refusal)
        g_string_append_printf(s, "refused: line %u (%s): %s\n", res->refused_line,
                               res->refused_flavor, res->refusal);
    else
        g_string_append(s, "refused: none, the whole mix fits\n");
    return g_string_free(g_steal_pointer(&s), FALSE);
}

char *
kt_simulate_format_json(const KtSimResult *res)
{
    g_autoptr(GString) s = g_string_new(NULL);
    guint i, j;

    g_string_append_printf(s, "{\"placed\":%u,\"refusal\":", res->placed);
    kt_json_string(s, res->refusal);
    g_string_append(s, ",\"refused_flavor\":");
    kt_json_string(s, res->refused_flavor);
    g_string_append_printf(s, ",\"refused_line\":%u,\"unmanaged\":%u,\"fallbacks\":%u,"
                           "\"splits\":%u,\"split_single_node\":%u,\"isolate_shared\":%u,"
                           "\"alloc_seconds\":%.6f,\"flavors\":[",
                           res->refused_line, res->unmanaged, res->fallbacks, res->splits,
                           res->split_single_node, res->isolate_shared, res->alloc_seconds);
    for (i = 0; i < res->flavors->len; i++) {
        const KtSimFlavor *f = g_ptr_array_index(res->flavors, i);

        g_string_append(s, i ? ",{\"name\":" : "{\"name\":");
        kt_json_string(s, f->name);
        g_string_append_printf(s, ",\"placed\":%u}", f->placed);
    }
    g_string_append(s, "],\"nodes\":[");
    for (i = 0; res->usage && i < res->usage->len; i++) {
        const KtNodeUsage *u = &g_array_index(res->usage, KtNodeUsage, i);

        g_string_append_printf(s, "%s{\"id\":%u,\"dedicated_total\":%u,\"dedicated_booked\":%u,"
                               "\"shared_vcpus_capacity\":%u,\"shared_vcpus_booked\":%u,"
                               "\"memory_capacity_kib\":%" G_GUINT64_FORMAT
                               ",\"memory_booked_kib\":%" G_GUINT64_FORMAT ",\"hugepages\":[",
                               i ? "," : "", u->node, u->dedicated_total, u->dedicated_booked,
                               u->shared_vcpus_capacity, u->shared_vcpus_booked,
                               u->memory_capacity_kib, u->memory_booked_kib);
        for (j = 0; j < u->npages; j++)
            g_string_append_printf(s, "%s{\"size_kib\":%u,\"capacity\":%" G_GUINT64_FORMAT
                                   ",\"booked\":%" G_GUINT64_FORMAT "}", j ? "," : "",
                                   u->pages[j].size_kib, u->pages[j].capacity, u->pages[j].booked);
        g_string_append(s, "]}");
    }
    g_string_append(s, "],\"placements\":[");
    for (i = 0; i < res->placements->len; i++) {
        const KtSimPlaced *p = g_ptr_array_index(res->placements, i);
        const KtPlacement *pl = p->placement;

        g_string_append(s, i ? ",{\"flavor\":" : "{\"flavor\":");
        kt_json_string(s, p->flavor);
        g_string_append(s, ",\"profile\":");
        kt_json_string(s, pl->profile);
        g_string_append(s, ",\"nodes\":");
        kt_json_cpuset(s, pl->nodes);
        g_string_append(s, ",\"pins\":[");
        for (j = 0; pl->vcpu_pins && j < pl->nvcpus; j++)
            g_string_append_printf(s, j ? ",%d" : "%d", kt_cpuset_first(pl->vcpu_pins[j]));
        g_string_append(s, "],\"booked\":");
        kt_json_cpuset(s, pl->booked_cpus);
        g_string_append_printf(s, ",\"hugepage_kib\":%" G_GUINT64_FORMAT "}", pl->hugepage_kib);
    }
    g_string_append(s, "]}\n");
    return g_string_free(g_steal_pointer(&s), FALSE);
}
