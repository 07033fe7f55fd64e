/* Suite 'inventory': every modelled host in tests/fixtures/hosts/ loads to
 * the figures tests/fixtures/gen-hosts.py wrote, field by field; every
 * broken host gives an error naming the file or a degraded inventory with a
 * warning; the live host agrees with libnuma. */
#include <numa.h>
#include <string.h>

#include "inventory.h"
#include "inventory-parse.h"
#include "kt-error.h"

#define GIB_KIB (G_GUINT64_CONSTANT(1024) * 1024)

static char *
host_path(const char *name)
{
    const char *src = g_getenv("KT_SOURCE_ROOT");

    return g_build_filename(src ? src : ".", "tests", "fixtures", "hosts", name, NULL);
}

static KtInventory *
load_ok(const char *name)
{
    g_autofree char *root = host_path(name);
    g_autoptr(GError) err = NULL;
    KtInventory *inv = kt_inventory_load(root, &err);

    g_assert_no_error(err);
    g_assert_nonnull(inv);
    return inv;
}

static void
assert_set(const KtCpuset *set, const char *want)
{
    g_autofree char *got = kt_cpuset_format(set);

    g_assert_cmpstr(got, ==, want);
}

static void
assert_no_warnings(const KtInventory *inv)
{
    guint i;

    for (i = 0; i < inv->warnings->len; i++)
        g_test_message("unexpected warning: %s", (char *)g_ptr_array_index(inv->warnings, i));
    g_assert_cmpuint(inv->warnings->len, ==, 0);
}

/* Exactly one warning contains every one of the NULL-terminated needles. */
static void
assert_warning(const KtInventory *inv, ...)
{
    guint i, hits = 0;

    for (i = 0; i < inv->warnings->len; i++) {
        const char *w = g_ptr_array_index(inv->warnings, i);
        const char *needle;
        bool all = true;
        va_list ap;

        va_start(ap, inv);
        while ((needle = va_arg(ap, const char *)))
            all = all && strstr(w, needle) != NULL;
        va_end(ap);
        g_test_message("warning: %s", w);
        if (all)
            hits++;
    }
    g_assert_cmpuint(hits, ==, 1);
}

static void
assert_node(const KtInventory *inv, guint id, const char *cpus, guint64 total, guint64 free_kib)
{
    const KtInvNode *n = kt_inventory_node(inv, id);

    g_assert_nonnull(n);
    g_assert_cmpuint(n->id, ==, id);
    assert_set(n->cpus, cpus);
    g_assert_cmpuint(n->memory_total_kib, ==, total);
    g_assert_cmpuint(n->memory_free_kib, ==, free_kib);
}

static void
assert_pool(const KtInventory *inv, guint node, guint64 size, guint64 total, guint64 free_n)
{
    const KtInvHugepages *h = kt_inventory_hugepages(inv, node, size);

    g_assert_nonnull(h);
    g_assert_cmpuint(h->size_kib, ==, size);
    g_assert_cmpuint(h->total, ==, total);
    g_assert_cmpuint(h->free, ==, free_n);
    g_assert_cmpuint(h->surplus, ==, 0);
}

static void
assert_distances(const KtInventory *inv, guint node, const guint *want, guint n)
{
    const KtInvNode *nd = kt_inventory_node(inv, node);
    guint i;

    g_assert_cmpuint(nd->ndistances, ==, n);
    for (i = 0; i < n; i++)
        g_assert_cmpuint(nd->distances[i], ==, want[i]);
}

static void
assert_pci(const KtInventory *inv, const char *addr, int node, guint32 cls,
           guint16 vendor, guint16 device, const char *vname, const char *dname,
           const char *driver, const char *physfn)
{
    const KtInvPciDev *d = kt_inventory_find_pci(inv, addr);

    g_assert_nonnull(d);
    g_assert_cmpstr(d->address, ==, addr);
    g_assert_cmpint(d->node, ==, node);
    g_assert_cmphex(d->class_code, ==, cls);
    g_assert_cmphex(d->vendor_id, ==, vendor);
    g_assert_cmphex(d->device_id, ==, device);
    g_assert_cmpstr(d->vendor_name, ==, vname);
    g_assert_cmpstr(d->device_name, ==, dname);
    g_assert_cmpstr(d->driver, ==, driver);
    g_assert_cmpstr(d->physfn, ==, physfn);
    g_assert_cmpint(d->iommu_group, >=, 0);
    g_assert_cmpint(kt_inventory_pci_node(inv, addr), ==, node);
}

static void
assert_unique_iommu_groups(const KtInventory *inv)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
    guint i;

    for (i = 0; i < inv->pci_devs->len; i++) {
        const KtInvPciDev *d = g_ptr_array_index(inv->pci_devs, i);

        g_assert_cmpint(d->iommu_group, >=, 0);
        g_assert_false(g_hash_table_contains(seen, GINT_TO_POINTER(d->iommu_group + 1)));
        g_hash_table_add(seen, GINT_TO_POINTER(d->iommu_group + 1));
        if (i > 0)
            g_assert_cmpstr(((KtInvPciDev *)g_ptr_array_index(inv->pci_devs, i - 1))->address,
                            <, d->address);
    }
}

/* VFs @first.. of a PF, @n of them, addresses in virtfn order. */
static void
assert_pf(const KtInventory *inv, const char *addr, int node, const char *netdev,
          const char *link, guint total, const char *const *vfs, const char *const *drivers,
          guint n)
{
    const KtInvSriovPf *pf = kt_inventory_find_pf(inv, addr);
    guint i;

    g_assert_nonnull(pf);
    g_assert_cmpstr(pf->address, ==, addr);
    g_assert_cmpint(pf->node, ==, node);
    g_assert_cmpstr(pf->netdev, ==, netdev);
    g_assert_cmpstr(pf->link_state, ==, link);
    g_assert_cmpuint(pf->totalvfs, ==, total);
    g_assert_cmpuint(pf->numvfs, ==, n);
    g_assert_cmpuint(pf->vfs->len, ==, n);
    g_assert_cmpuint(pf->vf_drivers->len, ==, n);
    for (i = 0; i < n; i++) {
        const KtInvPciDev *vf = kt_inventory_find_pci(inv, vfs[i]);

        g_assert_cmpstr(g_ptr_array_index(pf->vfs, i), ==, vfs[i]);
        g_assert_cmpstr(g_ptr_array_index(pf->vf_drivers, i), ==, drivers[i]);
        g_assert_nonnull(vf);
        g_assert_cmpstr(vf->physfn, ==, addr);
        g_assert_cmpint(vf->node, ==, node);
    }
}

/* --- reference --------------------------------------------------------------- */

static void
test_reference(void)
{
    g_autoptr(KtInventory) inv = load_ok("reference");
    static const guint d0[] = { 10, 21 }, d1[] = { 21, 10 };
    const guint64 pools_kib = 16384 * 2048 + 900 * G_GUINT64_CONSTANT(1048576);
    const guint64 tib = 1024 * GIB_KIB;
    const char *vfio8[8], *mix8[8], *mlx8[8];
    char *vfs[4][8];
    guint i, p;

    assert_no_warnings(inv);
    g_assert_false(inv->numa_checked);

    g_assert_cmpuint(inv->nodes->len, ==, 2);
    assert_node(inv, 0, "0-55,112-167", tib, tib - pools_kib - 8 * GIB_KIB);
    assert_node(inv, 1, "56-111,168-223", tib, tib - pools_kib - 4 * GIB_KIB);
    g_assert_cmpuint(kt_inventory_node(inv, 0)->memory_free_kib, ==, 88080384);
    assert_distances(inv, 0, d0, 2);
    assert_distances(inv, 1, d1, 2);
    for (i = 0; i < 2; i++) {
        g_assert_cmpuint(kt_inventory_node(inv, i)->hugepages->len, ==, 2);
        g_assert_cmpuint(g_array_index(kt_inventory_node(inv, i)->hugepages,
                                       KtInvHugepages, 0).size_kib, ==, 2048);
        assert_pool(inv, i, 2048, 16384, 16384);
        assert_pool(inv, i, 1048576, 900, 900);
    }
    g_assert_null(kt_inventory_hugepages(inv, 0, 4));
    g_assert_null(kt_inventory_node(inv, 2));

    g_assert_cmpuint(inv->cpus->len, ==, 224);
    assert_set(inv->online, "0-223");
    /* exactly the example policy's dedicated pool: node 1's shared CPUs
     * 56-81,168-193 are not isolated */
    assert_set(inv->isolated, "28-55,82-111,140-167,194-223");
    assert_set(inv->nohz_full, "28-55,82-111,140-167,194-223");
    for (i = 0; i < 224; i++) {
        const KtInvCpu *c = kt_inventory_cpu(inv, i);
        guint first = i % 112;
        g_autofree char *sib = g_strdup_printf("%u,%u", first, first + 112);
        bool iso = (first >= 28 && first <= 55) || first >= 82;

        g_assert_nonnull(c);
        g_assert_cmpuint(c->id, ==, i);
        g_assert_cmpint(c->node, ==, first < 56 ? 0 : 1);
        g_assert_cmpint(c->package, ==, first < 56 ? 0 : 1);
        g_assert_cmpint(c->core, ==, (int)(first % 56));
        assert_set(c->siblings, sib);
        g_assert_true(c->online);
        g_assert_cmpint(c->isolated, ==, iso);
        g_assert_cmpint(c->nohz_full, ==, iso);
    }
    g_assert_null(kt_inventory_cpu(inv, 224));

    /* 6 VT-d functions, 13 root ports, BMC bridge + VGA, I210, 4 PFs,
     * 32 VFs, 8 NVMe, 1 GPU. */
    g_assert_cmpuint(inv->pci_devs->len, ==, 67);
    assert_unique_iommu_groups(inv);
    assert_pci(inv, "0000:17:00.0", 0, 0x020000, 0x15b3, 0x101d, "Mellanox Technologies",
               "MT2892 Family [ConnectX-6 Dx]", "mlx5_core", NULL);
    assert_pci(inv, "0000:98:00.1", 1, 0x020000, 0x15b3, 0x101d, "Mellanox Technologies",
               "MT2892 Family [ConnectX-6 Dx]", "mlx5_core", NULL);
    assert_pci(inv, "0000:17:00.2", 0, 0x020000, 0x15b3, 0x101e, "Mellanox Technologies",
               "ConnectX Family mlx5Gen Virtual Function", "vfio-pci", "0000:17:00.0");
    assert_pci(inv, "0000:ca:00.0", 1, 0x030200, 0x10de, 0x20b5, "NVIDIA Corporation",
               "GA100 [A100 PCIe 80GB]", "nvidia", NULL);
    assert_pci(inv, "0000:03:00.0", 0, 0x030000, 0x1a03, 0x2000, "ASPEED Technology, Inc.",
               "ASPEED Graphics Family", "ast", NULL);
    assert_pci(inv, "0000:04:00.0", 0, 0x020000, 0x8086, 0x1533, "Intel Corporation",
               "I210 Gigabit Network Connection", "igb", NULL);
    assert_pci(inv, "0000:02:00.0", 0, 0x060400, 0x1a03, 0x1150, "ASPEED Technology, Inc.",
               "AST1150 PCI-to-PCI Bridge", NULL, NULL);
    for (i = 0; i < 8; i++) {
        static const char *const nvme[] = {
            "0000:31:00.0", "0000:32:00.0", "0000:33:00.0", "0000:34:00.0",
            "0000:b1:00.0", "0000:b2:00.0", "0000:b3:00.0", "0000:b4:00.0",
        };

        assert_pci(inv, nvme[i], i < 4 ? 0 : 1, 0x010802, 0x144d, 0xa80a,
                   "Samsung Electronics Co Ltd", "NVMe SSD Controller PM9A1/PM9A3/980PRO",
                   "nvme", NULL);
    }
    g_assert_null(kt_inventory_find_pci(inv, "0000:17:02.2"));
    g_assert_cmpint(kt_inventory_pci_node(inv, "0000:ff:00.0"), ==, -1);

    /* VFs: PF function f of bus B has B:(2+8f+i)/8.(2+8f+i)%8, i = 0..7. */
    for (p = 0; p < 4; p++) {
        guint bus = p < 2 ? 0x17 : 0x98, fn = p % 2;

        for (i = 0; i < 8; i++) {
            guint slot = 2 + fn * 8 + i;

            vfs[p][i] = g_strdup_printf("0000:%02x:%02x.%u", bus, slot / 8, slot % 8);
        }
    }
    for (i = 0; i < 8; i++) {
        vfio8[i] = "vfio-pci";
        mlx8[i] = "mlx5_core";
        mix8[i] = i < 4 ? "mlx5_core" : "vfio-pci";
    }
    g_assert_cmpuint(inv->sriov_pfs->len, ==, 4);
    assert_pf(inv, "0000:17:00.0", 0, "ens1f0np0", "up", 127, (const char *const *)vfs[0],
              vfio8, 8);
    assert_pf(inv, "0000:17:00.1", 0, "ens1f1np1", "up", 127, (const char *const *)vfs[1],
              mix8, 8);
    assert_pf(inv, "0000:98:00.0", 1, "ens5f0np0", "up", 127, (const char *const *)vfs[2],
              vfio8, 8);
    assert_pf(inv, "0000:98:00.1", 1, "ens5f1np1", "down", 127, (const char *const *)vfs[3],
              mlx8, 8);
    g_assert_cmpstr(vfs[0][0], ==, "0000:17:00.2");
    g_assert_cmpstr(vfs[1][7], ==, "0000:17:02.1");
    for (p = 0; p < 4; p++) {
        for (i = 0; i < 8; i++)
            g_free(vfs[p][i]);
    }

    g_assert_cmpuint(inv->mdev_parents->len, ==, 1);
    {
        const KtInvMdevParent *m = kt_inventory_find_mdev_parent(inv, "0000:ca:00.0");
        static const char *const ids[] = { "nvidia-222", "nvidia-223", "nvidia-228", "nvidia-229" };
        static const char *const names[] = { "GRID A100D-5C", "GRID A100D-10C",
                                             "GRID A100D-40C", "GRID A100D-80C" };
        static const guint avail[] = { 16, 8, 2, 1 };

        g_assert_nonnull(m);
        g_assert_cmpint(m->node, ==, 1);
        g_assert_cmpuint(m->devices->len, ==, 0);
        g_assert_cmpuint(m->types->len, ==, 4);
        for (i = 0; i < 4; i++) {
            const KtInvMdevType *t = g_ptr_array_index(m->types, i);

            g_assert_cmpstr(t->id, ==, ids[i]);
            g_assert_cmpstr(t->name, ==, names[i]);
            g_assert_cmpstr(t->device_api, ==, "vfio-pci");
            g_assert_cmpuint(t->available, ==, avail[i]);
            g_assert_cmpuint(t->devices->len, ==, 0);
        }
    }
}

static void
test_reload(void)
{
    g_autoptr(KtInventory) inv = load_ok("reference");
    g_autoptr(KtInventory) again = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *a = NULL;
    g_autofree char *b = NULL;

    again = kt_inventory_reload(inv, &err);
    g_assert_no_error(err);
    a = kt_inventory_format_json(inv);
    b = kt_inventory_format_json(again);
    g_assert_cmpstr(a, ==, b);
    g_assert_cmpstr(kt_inventory_find_pci(again, "0000:ca:00.0")->device_name, ==,
                    "GA100 [A100 PCIe 80GB]");
}

/* --- laptop ------------------------------------------------------------------ */

static void
test_laptop(void)
{
    g_autoptr(KtInventory) inv = load_ok("laptop");
    static const guint d0[] = { 10 };
    guint i;

    assert_no_warnings(inv);
    g_assert_cmpuint(inv->nodes->len, ==, 1);
    assert_node(inv, 0, "0-3", 16110852, 9437184);
    assert_distances(inv, 0, d0, 1);
    assert_pool(inv, 0, 2048, 0, 0);
    assert_pool(inv, 0, 1048576, 0, 0);
    g_assert_cmpuint(inv->cpus->len, ==, 4);
    for (i = 0; i < 4; i++) {
        const KtInvCpu *c = kt_inventory_cpu(inv, i);
        g_autofree char *sib = g_strdup_printf("%u,%u", i % 2, i % 2 + 2);

        g_assert_cmpint(c->node, ==, 0);
        g_assert_cmpint(c->package, ==, 0);
        g_assert_cmpint(c->core, ==, (int)(i % 2));
        assert_set(c->siblings, sib);
        g_assert_true(c->online);
        g_assert_false(c->isolated);
        g_assert_false(c->nohz_full);
    }
    assert_set(inv->isolated, "");
    assert_set(inv->nohz_full, "");
    g_assert_cmpuint(inv->pci_devs->len, ==, 7);
    assert_unique_iommu_groups(inv);
    for (i = 0; i < inv->pci_devs->len; i++)
        g_assert_cmpint(((KtInvPciDev *)g_ptr_array_index(inv->pci_devs, i))->node, ==, -1);
    assert_pci(inv, "0000:02:00.0", -1, 0x028000, 0x8086, 0x2725, "Intel Corporation",
               "Wi-Fi 6 AX210/AX211/AX411 160MHz", "iwlwifi", NULL);
    assert_pci(inv, "0000:01:00.0", -1, 0x010802, 0x1c5c, 0x174a, "SK hynix",
               "Gold P31/PC711 NVMe Solid State Drive", "nvme", NULL);
    g_assert_cmpuint(inv->sriov_pfs->len, ==, 0);
    g_assert_cmpuint(inv->mdev_parents->len, ==, 0);
}

/* --- no-numa ----------------------------------------------------------------- */

static void
test_no_numa(void)
{
    g_autoptr(KtInventory) inv = load_ok("no-numa");

    g_assert_cmpuint(inv->nodes->len, ==, 1);
    assert_node(inv, 0, "0-1", 8151020, 6291456);
    g_assert_cmpuint(kt_inventory_node(inv, 0)->ndistances, ==, 0);
    assert_pool(inv, 0, 2048, 256, 200);
    g_assert_cmpuint(kt_inventory_node(inv, 0)->hugepages->len, ==, 1);
    g_assert_cmpint(kt_inventory_cpu(inv, 0)->node, ==, 0);
    g_assert_cmpint(kt_inventory_cpu(inv, 1)->node, ==, 0);
    g_assert_cmpint(kt_inventory_cpu(inv, 1)->core, ==, 1);
    g_assert_cmpuint(inv->pci_devs->len, ==, 2);
    assert_pci(inv, "0000:00:03.0", -1, 0x020000, 0x1af4, 0x1041, "Red Hat, Inc.",
               "Virtio 1.0 network device", "virtio-pci", NULL);
    assert_warning(inv, "no NUMA nodes; one node 0 assumed", NULL);
    g_assert_cmpuint(inv->warnings->len, ==, 1);
}

/* --- epyc-4node -------------------------------------------------------------- */

static void
test_epyc(void)
{
    g_autoptr(KtInventory) inv = load_ok("epyc-4node");
    static const char *const cpus[] = { "0-15,64-79", "16-31,80-95", "32-47,96-111",
                                        "48-63,112-127" };
    static const guint64 free_kib[] = { 56623104, 122683392, 54525952, 120586240 };
    static const guint64 free_2m[] = { 4096, 3000, 4096, 1024 };
    static const guint64 total_1g[] = { 64, 0, 64, 0 }, free_1g[] = { 64, 0, 10, 0 };
    static const char *const vf41[] = { "0000:41:01.0", "0000:41:01.1", "0000:41:01.2",
                                        "0000:41:01.3" };
    static const char *const vfc1[] = { "0000:c1:00.2", "0000:c1:00.3", "0000:c1:00.4",
                                        "0000:c1:00.5" };
    static const char *const iavf4[] = { "iavf", "iavf", "iavf", "iavf" };
    static const char *const vfio4[] = { "vfio-pci", "vfio-pci", "vfio-pci", "vfio-pci" };
    const KtInvMdevParent *m;
    const KtInvMdevType *t;
    guint i, j;

    assert_no_warnings(inv);
    g_assert_cmpuint(inv->nodes->len, ==, 4);
    for (i = 0; i < 4; i++) {
        guint d[4];

        assert_node(inv, i, cpus[i], 128 * GIB_KIB, free_kib[i]);
        for (j = 0; j < 4; j++)
            d[j] = i == j ? 10 : 12;
        assert_distances(inv, i, d, 4);
        assert_pool(inv, i, 2048, 4096, free_2m[i]);
        assert_pool(inv, i, 1048576, total_1g[i], free_1g[i]);
    }
    g_assert_cmpuint(inv->cpus->len, ==, 128);
    for (i = 0; i < 128; i++) {
        const KtInvCpu *c = kt_inventory_cpu(inv, i);
        g_autofree char *sib = g_strdup_printf("%u,%u", i % 64, i % 64 + 64);

        g_assert_cmpint(c->node, ==, (int)((i % 64) / 16));
        g_assert_cmpint(c->package, ==, 0);
        g_assert_cmpint(c->core, ==, (int)(i % 64));
        assert_set(c->siblings, sib);
        g_assert_cmpint(c->isolated, ==, (i % 64) >= 8 && (i % 64) < 16);
        g_assert_false(c->nohz_full);
    }
    assert_set(inv->isolated, "8-15,72-79");
    assert_set(inv->nohz_full, "");

    g_assert_cmpuint(inv->pci_devs->len, ==, 19);
    assert_unique_iommu_groups(inv);
    assert_pci(inv, "0000:41:00.0", 0, 0x020000, 0x8086, 0x1592, "Intel Corporation",
               "Ethernet Controller E810-C for QSFP", "ice", NULL);
    assert_pci(inv, "0000:c1:00.0", 2, 0x020000, 0x15b3, 0x1017, "Mellanox Technologies",
               "MT27800 Family [ConnectX-5]", "mlx5_core", NULL);
    assert_pci(inv, "0000:41:01.3", 0, 0x020000, 0x8086, 0x1889, "Intel Corporation",
               "Ethernet Adaptive Virtual Function", "iavf", "0000:41:00.0");
    g_assert_cmpuint(inv->sriov_pfs->len, ==, 2);
    assert_pf(inv, "0000:41:00.0", 0, "enp65s0f0", "up", 256, vf41, iavf4, 4);
    assert_pf(inv, "0000:c1:00.0", 2, "enp193s0f0np0", "down", 8, vfc1, vfio4, 4);

    g_assert_cmpuint(inv->mdev_parents->len, ==, 1);
    m = kt_inventory_find_mdev_parent(inv, "0000:e1:00.0");
    g_assert_nonnull(m);
    g_assert_cmpint(m->node, ==, 3);
    g_assert_cmpuint(m->types->len, ==, 1);
    t = g_ptr_array_index(m->types, 0);
    g_assert_cmpstr(t->id, ==, "nvidia-63");
    g_assert_cmpstr(t->name, ==, "GRID T4-4Q");
    g_assert_cmpuint(t->available, ==, 3);
    g_assert_cmpuint(t->devices->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(t->devices, 0), ==, "4b20d080-1b54-4048-85b3-a6a62d165c01");
    g_assert_cmpuint(m->devices->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(m->devices, 0), ==, "4b20d080-1b54-4048-85b3-a6a62d165c01");
}

/* --- broken hosts ------------------------------------------------------------- */

static void
test_broken_numa_node(void)
{
    g_autoptr(KtInventory) inv = load_ok("broken-numa-node");

    g_assert_cmpint(kt_inventory_pci_node(inv, "0000:17:00.0"), ==, -1);
    g_assert_cmpint(kt_inventory_find_pf(inv, "0000:17:00.0")->node, ==, -1);
    g_assert_cmpint(kt_inventory_pci_node(inv, "0000:16:02.0"), ==, 0);
    assert_warning(inv, "0000:17:00.0/numa_node", "-1 on a 2-node host", NULL);
}

static void
test_broken_offline_cpus(void)
{
    g_autoptr(KtInventory) inv = load_ok("broken-offline-cpus");
    const KtInvCpu *c3 = kt_inventory_cpu(inv, 3), *c6 = kt_inventory_cpu(inv, 6);

    g_assert_cmpuint(inv->cpus->len, ==, 8);
    assert_set(inv->online, "0-2,4-5,7");
    assert_node(inv, 0, "0-2", 16 * GIB_KIB, 16 * GIB_KIB - GIB_KIB - 2 * GIB_KIB);
    assert_node(inv, 1, "4-5,7", 16 * GIB_KIB, 16 * GIB_KIB - GIB_KIB - 3 * GIB_KIB);
    g_assert_false(c3->online);
    g_assert_false(c6->online);
    g_assert_cmpint(c3->node, ==, 0);
    g_assert_cmpint(c6->node, ==, 1);
    g_assert_cmpint(c3->package, ==, -1);
    g_assert_cmpint(c3->core, ==, -1);
    assert_set(c3->siblings, "");
    g_assert_true(kt_inventory_cpu(inv, 7)->online);
    g_assert_cmpint(kt_inventory_cpu(inv, 7)->core, ==, 3);
    assert_warning(inv, "CPUs 3,6 are offline", NULL);
}

static void
test_broken_no_hugepages(void)
{
    g_autoptr(KtInventory) inv = load_ok("broken-no-hugepages");

    assert_pool(inv, 0, 2048, 512, 512);
    g_assert_cmpuint(kt_inventory_node(inv, 1)->hugepages->len, ==, 0);
    g_assert_null(kt_inventory_hugepages(inv, 1, 2048));
    assert_warning(inv, "node1/hugepages: missing", NULL);
}

static void
test_broken_sriov_zero(void)
{
    g_autoptr(KtInventory) inv = load_ok("broken-sriov-zero");
    const KtInvSriovPf *pf = kt_inventory_find_pf(inv, "0000:17:00.0");

    g_assert_nonnull(pf);
    g_assert_cmpuint(pf->totalvfs, ==, 8);
    g_assert_cmpuint(pf->numvfs, ==, 0);
    g_assert_cmpuint(pf->vfs->len, ==, 0);
    assert_warning(inv, "0000:17:00.0/sriov_numvfs", "no VFs enabled", NULL);
}

static void
test_broken_unreadable(void)
{
    g_autofree char *root = host_path("broken-unreadable");
    g_autoptr(GError) err = NULL;
    g_autoptr(KtInventory) inv = kt_inventory_load(root, &err);

    g_assert_null(inv);
    g_assert_error(err, KT_ERROR, KT_ERROR_IO);
    g_assert_nonnull(strstr(err->message, "node1/meminfo"));
    g_test_message("error: %s", err->message);
}

static void
test_broken_bad_number(void)
{
    g_autoptr(KtInventory) inv = load_ok("broken-bad-number");

    g_assert_null(kt_inventory_find_pf(inv, "0000:17:00.0"));
    g_assert_cmpuint(inv->sriov_pfs->len, ==, 0);
    g_assert_nonnull(kt_inventory_find_pci(inv, "0000:17:00.2"));
    assert_warning(inv, "0000:17:00.0/sriov_numvfs", "'2x'", "not used", NULL);
}

static void
test_broken_bad_cpulist(void)
{
    g_autofree char *root = host_path("broken-bad-cpulist");
    g_autoptr(GError) err = NULL;
    g_autoptr(KtInventory) inv = kt_inventory_load(root, &err);

    g_assert_null(inv);
    g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
    g_assert_nonnull(strstr(err->message, "node0/cpulist"));
    g_test_message("error: %s", err->message);
}

static void
test_broken_dangling_virtfn(void)
{
    g_autoptr(KtInventory) inv = load_ok("broken-dangling-virtfn");
    const KtInvSriovPf *pf = kt_inventory_find_pf(inv, "0000:17:00.0");

    g_assert_nonnull(pf);
    g_assert_cmpuint(pf->numvfs, ==, 1);
    g_assert_cmpuint(pf->vfs->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(pf->vfs, 0), ==, "0000:17:00.2");
    g_assert_null(kt_inventory_find_pci(inv, "0000:17:00.3"));
    assert_warning(inv, "virtfn1", "0000:17:00.3", NULL);
    assert_warning(inv, "2 VFs enabled but 1 usable", NULL);
}

static void
test_broken_bad_cmdline(void)
{
    g_autoptr(KtInventory) inv = load_ok("broken-bad-cmdline");

    assert_set(inv->isolated, "");
    assert_set(inv->nohz_full, "2-3");
    g_assert_false(kt_inventory_cpu(inv, 2)->isolated);
    g_assert_true(kt_inventory_cpu(inv, 2)->nohz_full);
    assert_warning(inv, "proc/cmdline", "isolcpus=", NULL);
}

static void
test_broken_bad_pci_class(void)
{
    g_autoptr(KtInventory) inv = load_ok("broken-bad-pci-class");

    g_assert_null(kt_inventory_find_pci(inv, "0000:16:00.0"));
    g_assert_nonnull(kt_inventory_find_pci(inv, "0000:16:02.0"));
    g_assert_nonnull(kt_inventory_find_pf(inv, "0000:17:00.0"));
    g_assert_cmpuint(inv->pci_devs->len, ==, 4);
    assert_warning(inv, "0000:16:00.0/class", "'0x08zz00'", "not used", NULL);
}

static void
test_missing_root(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtInventory) inv = kt_inventory_load("/nonexistent/kvmtune-root", &err);

    g_assert_null(inv);
    g_assert_error(err, KT_ERROR, KT_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(err->message, "/nonexistent/kvmtune-root/sys/devices/system/cpu/present"));
}

/* --- live host vs libnuma ------------------------------------------------------ */

static void
test_live_libnuma(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtInventory) inv = NULL;
    g_autoptr(GPtrArray) mismatches = g_ptr_array_new_with_free_func(g_free);
    struct bitmask *mask;
    int n, max;
    guint i;

    if (numa_available() < 0) {
        g_test_skip("libnuma: NUMA not available on this host");
        return;
    }
    inv = kt_inventory_load("/", &err);
    g_assert_no_error(err);
    for (i = 0; i < inv->warnings->len; i++)
        g_test_message("live warning: %s", (char *)g_ptr_array_index(inv->warnings, i));
    g_assert_true(inv->numa_checked);
    g_assert_true(kt_inventory_check_libnuma(inv, mismatches, &err));
    g_assert_cmpuint(mismatches->len, ==, 0);

    /* And independently of kt_inventory_check_libnuma(). */
    max = numa_max_node();
    mask = numa_allocate_cpumask();
    for (n = 0; n <= max; n++) {
        const KtInvNode *node = kt_inventory_node(inv, (guint)n);
        long long size = numa_node_size64(n, NULL);
        guint c, count = 0;

        if (numa_node_to_cpus(n, mask) < 0 || !node)
            continue;
        for (c = 0; c < mask->size; c++) {
            if (numa_bitmask_isbitset(mask, c)) {
                count++;
                g_assert_true(kt_cpuset_has(node->cpus, c));
                g_assert_cmpint(kt_inventory_cpu(inv, c)->node, ==, n);
            }
        }
        g_assert_cmpuint(count, ==, kt_cpuset_count(node->cpus));
        g_assert_cmpuint((guint64)size / 1024, ==, node->memory_total_kib);
    }
    numa_free_cpumask(mask);
    g_assert_cmpuint(inv->nodes->len, <=, (guint)max + 1);
    for (i = 0; i < inv->cpus->len; i++) {
        const KtInvCpu *c = &g_array_index(inv->cpus, KtInvCpu, i);

        if (c->online)
            g_assert_cmpint(numa_node_of_cpu((int)c->id), ==, c->node);
    }
}

/* --- parsers --------------------------------------------------------------------- */

static void
test_parse_numbers(void)
{
    guint64 u = 0;
    gint64 s = 0;

    g_assert_true(kt_sysfs_parse_uint("16384\n", G_MAXUINT64, &u, NULL));
    g_assert_cmpuint(u, ==, 16384);
    g_assert_true(kt_sysfs_parse_uint("0x15b3\n", 0xffff, &u, NULL));
    g_assert_cmpuint(u, ==, 0x15b3);
    g_assert_false(kt_sysfs_parse_uint("", 10, &u, NULL));
    g_assert_false(kt_sysfs_parse_uint("+5", 10, &u, NULL));
    g_assert_false(kt_sysfs_parse_uint("-1", 10, &u, NULL));
    g_assert_false(kt_sysfs_parse_uint("11", 10, &u, NULL));
    g_assert_false(kt_sysfs_parse_uint("1 2", 10, &u, NULL));
    g_assert_false(kt_sysfs_parse_uint("0x", 10, &u, NULL));
    g_assert_false(kt_sysfs_parse_uint("2x", 10, &u, NULL));
    g_assert_false(kt_sysfs_parse_uint("99999999999999999999999", G_MAXUINT64, &u, NULL));
    g_assert_cmpuint(u, ==, 0x15b3);    /* untouched on failure */
    g_assert_true(kt_sysfs_parse_int("-1\n", -1, 10, &s, NULL));
    g_assert_cmpint(s, ==, -1);
    g_assert_false(kt_sysfs_parse_int("-2", -1, 10, &s, NULL));
    g_assert_false(kt_sysfs_parse_int("--1", -1, 10, &s, NULL));
    g_assert_false(kt_sysfs_parse_int("+1", -1, 10, &s, NULL));
}

static void
test_parse_meminfo(void)
{
    guint64 t = 0, f = 0;
    g_autoptr(GError) err = NULL;

    g_assert_true(kt_sysfs_parse_meminfo("Node 0 MemTotal:  100 kB\nNode 0 MemFree:   40 kB\n"
                                         "Node 0 HugePages_Total:     0\n", &t, &f, NULL));
    g_assert_cmpuint(t, ==, 100);
    g_assert_cmpuint(f, ==, 40);
    g_assert_true(kt_sysfs_parse_meminfo("MemTotal: 5 kB\nMemFree: 5 kB\n", &t, &f, NULL));
    g_assert_false(kt_sysfs_parse_meminfo("Node 0 MemTotal: 100 kB\n", &t, &f, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
    g_assert_false(kt_sysfs_parse_meminfo("MemTotal: 1 kB\nMemFree: 2 kB\n", &t, &f, NULL));
    g_assert_false(kt_sysfs_parse_meminfo("MemTotal: x kB\nMemFree: 2 kB\n", &t, &f, NULL));
    g_assert_false(kt_sysfs_parse_meminfo("MemTotal: 3 MB\nMemFree: 2 kB\n", &t, &f, NULL));
    g_assert_false(kt_sysfs_parse_meminfo("MemTotal: 3\nMemFree: 2 kB\n", &t, &f, NULL));
}

static void
test_parse_cmdline(void)
{
    g_autoptr(KtCpuset) a = NULL;
    g_autoptr(KtCpuset) b = NULL;
    g_autoptr(KtCpuset) c = NULL;
    g_autoptr(KtCpuset) d = NULL;
    KtCpuset *e = NULL;

    g_assert_true(kt_sysfs_parse_cmdline_cpus("ro isolcpus=managed_irq,domain,2-5,8 q",
                                              "isolcpus", &a, NULL));
    assert_set(a, "2-5,8");
    g_assert_true(kt_sysfs_parse_cmdline_cpus("isolcpus=1 isolcpus=3", "isolcpus", &b, NULL));
    assert_set(b, "3");
    g_assert_true(kt_sysfs_parse_cmdline_cpus("x nohz_full=1-2 -- nohz_full=7", "nohz_full",
                                              &c, NULL));
    assert_set(c, "1-2");
    g_assert_true(kt_sysfs_parse_cmdline_cpus("isolcpus=domain", "isolcpus", &d, NULL));
    assert_set(d, "");
    g_assert_true(kt_sysfs_parse_cmdline_cpus("ro quiet", "isolcpus", &e, NULL));
    g_assert_null(e);
    g_assert_false(kt_sysfs_parse_cmdline_cpus("isolcpus=bogus,1", "isolcpus", &e, NULL));
    g_assert_false(kt_sysfs_parse_cmdline_cpus("nohz_full=1-x", "nohz_full", &e, NULL));
    g_assert_false(kt_sysfs_parse_cmdline_cpus("nohz_full=0-7,^2", "nohz_full", &e, NULL));
    g_assert_null(e);
}

static void
test_parse_misc(void)
{
    guint64 sz = 0;
    g_autofree guint *dist = NULL;
    guint n = 0;

    g_assert_true(kt_sysfs_parse_hugepage_dir("hugepages-2048kB", &sz));
    g_assert_cmpuint(sz, ==, 2048);
    g_assert_true(kt_sysfs_parse_hugepage_dir("hugepages-1048576kB", &sz));
    g_assert_cmpuint(sz, ==, 1048576);
    g_assert_false(kt_sysfs_parse_hugepage_dir("hugepages-kB", &sz));
    g_assert_false(kt_sysfs_parse_hugepage_dir("hugepages-2MB", &sz));
    g_assert_false(kt_sysfs_parse_hugepage_dir("hugepages--1kB", &sz));
    g_assert_true(kt_sysfs_parse_distances("10 21\n", &dist, &n, NULL));
    g_assert_cmpuint(n, ==, 2);
    g_assert_cmpuint(dist[1], ==, 21);
    g_assert_true(kt_sysfs_pci_address_valid("0000:17:00.0"));
    g_assert_false(kt_sysfs_pci_address_valid("0000:17:00.8"));
    g_assert_false(kt_sysfs_pci_address_valid("0000:17:00.0/.."));
    g_assert_false(kt_sysfs_pci_address_valid("0000:1G:00.0"));
    g_assert_false(kt_sysfs_pci_address_valid("../../../etc"));
    g_assert_true(kt_sysfs_name_valid("nvidia-222"));
    g_assert_false(kt_sysfs_name_valid(".."));
    g_assert_false(kt_sysfs_name_valid("a/b"));
    g_assert_false(kt_sysfs_name_valid(""));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/inventory/reference", test_reference);
    g_test_add_func("/inventory/reload", test_reload);
    g_test_add_func("/inventory/laptop", test_laptop);
    g_test_add_func("/inventory/epyc-4node", test_epyc);
    g_test_add_func("/inventory/no-numa", test_no_numa);
    g_test_add_func("/inventory/broken/numa-node", test_broken_numa_node);
    g_test_add_func("/inventory/broken/offline-cpus", test_broken_offline_cpus);
    g_test_add_func("/inventory/broken/no-hugepages", test_broken_no_hugepages);
    g_test_add_func("/inventory/broken/sriov-zero", test_broken_sriov_zero);
    g_test_add_func("/inventory/broken/unreadable", test_broken_unreadable);
    g_test_add_func("/inventory/broken/bad-number", test_broken_bad_number);
    g_test_add_func("/inventory/broken/bad-cpulist", test_broken_bad_cpulist);
    g_test_add_func("/inventory/broken/dangling-virtfn", test_broken_dangling_virtfn);
    g_test_add_func("/inventory/broken/bad-cmdline", test_broken_bad_cmdline);
    g_test_add_func("/inventory/broken/bad-pci-class", test_broken_bad_pci_class);
    g_test_add_func("/inventory/broken/missing-root", test_missing_root);
    g_test_add_func("/inventory/live/libnuma", test_live_libnuma);
    g_test_add_func("/inventory/parse/numbers", test_parse_numbers);
    g_test_add_func("/inventory/parse/meminfo", test_parse_meminfo);
    g_test_add_func("/inventory/parse/cmdline", test_parse_cmdline);
    g_test_add_func("/inventory/parse/misc", test_parse_misc);
    return g_test_run();
}
