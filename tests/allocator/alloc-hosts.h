/* alloc-hosts.h: host shapes built in C for allocator tests, so the pure
 * core is tested without sysfs (the fixture trees are tested through the
 * engine).  The shapes follow tests/fixtures/hosts: reference (2 x 56 x 2,
 * CPU n and n+112 siblings), laptop (1 node, 4 CPUs), epyc-4node (4 x 16 x
 * 2, CPU n and n+64 siblings). */
#pragma once

#include <glib.h>
#include <stdio.h>

#include "allocator.h"
#include "inventory.h"
#include "ledger.h"
#include "policy.h"

typedef struct {
    const char *name;
    guint nodes;
    guint cores_per_node;
    guint threads;               /* 1 or 2 */
    guint64 mem_per_node_kib;
    guint64 pages_1g;            /* per node */
    guint64 pages_2m;
} TestHostShape;

static const TestHostShape test_host_reference = {
    "reference", 2, 56, 2, G_GUINT64_CONSTANT(1) << 30, 900, 16384
};
static const TestHostShape test_host_laptop = {
    "laptop", 1, 2, 2, 16ull << 20, 0, 0
};
static const TestHostShape test_host_epyc = {
    "epyc-4node", 4, 16, 2, 256ull << 20, 200, 8192
};

static void
th_add_pci(KtInventory *inv, const char *addr, int node, const char *physfn)
{
    KtInvPciDev *d = g_new0(KtInvPciDev, 1);

    d->address = g_strdup(addr);
    d->node = node;
    d->physfn = g_strdup(physfn);
    g_ptr_array_add(inv->pci_devs, d);
}

static void
th_add_pf(KtInventory *inv, const char *addr, int node, guint nvfs)
{
    KtInvSriovPf *pf = kt_inv_sriov_pf_new(addr, node);
    guint i;
    guint bus, fn;

    sscanf(addr, "0000:%x:00.%u", &bus, &fn);
    th_add_pci(inv, addr, node, NULL);
    for (i = 0; i < nvfs; i++) {
        char *vf = g_strdup_printf("0000:%02x:%02x.%u", bus, 2 + fn, i);

        th_add_pci(inv, vf, node, addr);
        g_ptr_array_add(pf->vfs, vf);
        g_ptr_array_add(pf->vf_drivers, NULL);
    }
    pf->totalvfs = pf->numvfs = nvfs;
    g_ptr_array_add(inv->sriov_pfs, pf);
}

static void
th_add_gpu(KtInventory *inv, const char *addr, int node)
{
    static const struct { const char *id; guint avail; } types[] = {
        { "nvidia-222", 16 }, { "nvidia-223", 8 }, { "nvidia-228", 2 }, { "nvidia-229", 1 },
    };
    KtInvMdevParent *m = kt_inv_mdev_parent_new(addr, node);
    guint i;

    th_add_pci(inv, addr, node, NULL);
    for (i = 0; i < G_N_ELEMENTS(types); i++) {
        KtInvMdevType *t = kt_inv_mdev_type_new(types[i].id);

        t->available = types[i].avail;
        g_ptr_array_add(m->types, t);
    }
    g_ptr_array_add(inv->mdev_parents, m);
}

/* Builds @shape; the reference host also gets its NICs and GPU. */
static KtInventory *
th_inventory(const TestHostShape *shape)
{
    KtInventory *inv = kt_inventory_new(shape->name);
    guint ncpus = shape->nodes * shape->cores_per_node * shape->threads;
    guint half = shape->nodes * shape->cores_per_node;
    guint i, n;

    for (n = 0; n < shape->nodes; n++) {
        KtInvNode node = { 0 };
        KtInvHugepages hp = { 0 };

        node.id = n;
        node.cpus = kt_cpuset_new();
        node.memory_total_kib = shape->mem_per_node_kib;
        node.memory_free_kib = shape->mem_per_node_kib;
        node.hugepages = g_array_new(FALSE, TRUE, sizeof(KtInvHugepages));
        if (shape->pages_2m) {
            hp.size_kib = 2048;
            hp.total = hp.free = shape->pages_2m;
            g_array_append_val(node.hugepages, hp);
        }
        if (shape->pages_1g) {
            hp.size_kib = 1048576;
            hp.total = hp.free = shape->pages_1g;
            g_array_append_val(node.hugepages, hp);
        }
        g_array_append_val(inv->nodes, node);
    }
    for (i = 0; i < ncpus; i++) {
        KtInvCpu c = { 0 };
        guint core = i % half;

        c.id = i;
        c.node = (int)(core / shape->cores_per_node);
        c.package = c.node;
        c.core = (int)core;
        c.online = true;
        c.siblings = kt_cpuset_new();
        kt_cpuset_add(c.siblings, core);
        if (shape->threads == 2)
            kt_cpuset_add(c.siblings, core + half);
        kt_cpuset_add(inv->online, i);
        kt_cpuset_add(g_array_index(inv->nodes, KtInvNode, c.node).cpus, i);
        g_array_append_val(inv->cpus, c);
    }
    if (g_str_equal(shape->name, "reference")) {
        th_add_pf(inv, "0000:17:00.0", 0, 8);
        th_add_pf(inv, "0000:17:00.1", 0, 8);
        th_add_pf(inv, "0000:98:00.0", 1, 8);
        th_add_pf(inv, "0000:98:00.1", 1, 8);
        th_add_gpu(inv, "0000:ca:00.0", 1);
    }
    return inv;
}

/* The reference policy of DESIGN.md plus test profiles. */
static const char th_policy_reference[] =
    "host:\n"
    "  reserved_cpus: \"0-1,112-113\"\n"
    "  dedicated_cpus: \"28-111,140-223\"\n"
    "  shared_cpus: \"2-27,114-139\"\n"
    "  cpu_allocation_ratio: 8.0\n"
    "  hugepages:\n"
    "    - {size: 1G, per_node: 900}\n"
    "    - {size: 2M, per_node: 16384}\n"
    "  sriov:\n"
    "    - {pf: \"0000:17:00.0\", physnet: datacentre}\n"
    "    - {pf: \"0000:98:00.0\", physnet: datacentre}\n"
    "    - {pf: \"0000:17:00.1\", physnet: storage}\n"
    "    - {pf: \"0000:98:00.1\", physnet: storage}\n"
    "  gpus:\n"
    "    - {pci: \"0000:ca:00.0\"}\n"
    "profiles:\n"
    "  db-dedicated:\n"
    "    cpu: {policy: dedicated, threads: isolate, emulator: isolate}\n"
    "    numa: {nodes: 1}\n"
    "    memory: {hugepages: 1G}\n"
    "    sriov: [{physnet: datacentre, vlan: 100, count: 1}]\n"
    "  iso:\n"
    "    cpu: {policy: dedicated, threads: isolate, emulator: share}\n"
    "    numa: {nodes: 1}\n"
    "  req:\n"
    "    cpu: {policy: dedicated, threads: require, emulator: isolate}\n"
    "    numa: {nodes: 1}\n"
    "  pin:\n"
    "    cpu: {policy: dedicated, threads: prefer}\n"
    "    numa: {nodes: 1}\n"
    "  hpc:\n"
    "    cpu: {policy: dedicated, threads: require, emulator: share}\n"
    "    numa: {nodes: 2}\n"
    "    memory: {hugepages: 1G, need: best-effort}\n"
    "  vdi:\n"
    "    cpu: {policy: shared}\n"
    "    memory: {hugepages: 2M}\n"
    "    vgpu: {type: nvidia-222, count: 1}\n"
    "  ml:\n"
    "    cpu: {policy: dedicated, threads: prefer}\n"
    "    gpu: {count: 1}\n"
    "    override: true\n"
    "  general: {cpu: {policy: shared}}\n"
    "match:\n"
    "  - {flavor: \"db.*\", profile: db-dedicated}\n"
    "  - {flavor: \"iso.*\", profile: iso}\n"
    "  - {flavor: \"req.*\", profile: req}\n"
    "  - {flavor: \"pin.*\", profile: pin}\n"
    "  - {flavor: \"hpc.*\", profile: hpc}\n"
    "  - {flavor: \"vdi.*\", profile: vdi}\n"
    "  - {flavor: \"ml.*\", profile: ml}\n"
    "  - {extra_spec: {\"kvmtune:profile\": \"*\"}}\n"
    "  - {name: \"instance-*\", profile: general}\n"
    "  - {default: none}\n";

static KtPolicy *
th_policy(const char *text)
{
    g_autoptr(GError) err = NULL;
    KtPolicy *p = kt_policy_parse("test-policy.yaml", text, strlen(text), &err);

    g_assert_no_error(err);
    return p;
}

static KtRequest *
th_request(const char *uuid, const char *flavor, guint vcpus, guint64 mem_mib)
{
    KtRequest *req = kt_request_new();

    req->uuid = g_strdup(uuid);
    req->name = g_strdup_printf("instance-%s", uuid);
    req->domain_type = g_strdup("kvm");
    req->vcpus_max = req->vcpus_current = vcpus;
    req->memory_kib = req->current_memory_kib = mem_mib * 1024;
    if (flavor) {
        req->is_nova = true;
        req->flavor_name = g_strdup(flavor);
        req->flavor_vcpus = vcpus;
        req->flavor_memory_mib = mem_mib;
    }
    return req;
}

/* A host under test: its inventory, policy and ledger, and the number of
 * the next request's UUID. */
typedef struct {
    KtInventory *inv;
    KtPolicy *policy;
    KtLedger *ledger;
    guint next;
} TestHost;

static void
th_host_init(TestHost *h, const TestHostShape *shape, const char *policy)
{
    h->inv = th_inventory(shape);
    h->policy = th_policy(policy);
    h->ledger = kt_ledger_new();
    h->next = 0;
}

static void
th_host_clear(TestHost *h)
{
    kt_inventory_free(h->inv);
    kt_policy_free(h->policy);
    kt_ledger_free(h->ledger);
}

/* A request with the host's next UUID. */
static KtRequest *
th_host_request(TestHost *h, const char *flavor, guint vcpus, guint64 mem_mib)
{
    g_autofree char *uuid = g_strdup_printf("00000000-0000-4000-8000-%012u", h->next++);

    return th_request(uuid, flavor, vcpus, mem_mib);
}

/* Places @req through the policy's match rules without booking it; NULL +
 * @error on refusal. */
static KtPlacement *
th_host_place_req(TestHost *h, const KtRequest *req, KtAllocReport *report, GError **error)
{
    const KtPolicyProfile *prof = NULL;

    g_assert_nonnull(kt_allocator_match(h->policy, req, &prof, NULL));
    g_assert_nonnull(prof);
    return kt_allocator_place(h->inv, h->policy, h->ledger, req, prof, report, error);
}

/* Places @req and books it; NULL + @error on refusal. */
static KtPlacement *
th_host_book_req(TestHost *h, const KtRequest *req, KtAllocReport *report, GError **error)
{
    KtPlacement *pl = th_host_place_req(h, req, report, error);

    if (pl)
        g_assert_true(kt_ledger_book(h->ledger, req->uuid, req->flavor_name, pl, NULL, false,
                                     NULL));
    return pl;
}

/* Places a flavor and books it; NULL + @error on refusal. */
static KtPlacement *
th_host_book(TestHost *h, const char *flavor, guint vcpus, guint64 mem_mib, GError **error)
{
    g_autoptr(KtRequest) req = th_host_request(h, flavor, vcpus, mem_mib);

    return th_host_book_req(h, req, NULL, error);
}
