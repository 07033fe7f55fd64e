/* test-locality.c: the allocator puts a VM on the NUMA node of the devices
 * it gets (DESIGN.md, Allocator: "prefer the node of the VF/GPU the VM
 * gets"), on the reference host shape with a shared pool on each node as in
 * nova-helper/policy.example.yaml.  Each case is built so that the node
 * the usual rule picks (most free memory for shared VMs, fewest dedicated
 * CPUs left for dedicated ones, node 0 on a tie) is not the device's: the
 * assertions fail when the device preference is missing or counts devices
 * the VM cannot get. */
#include <glib.h>
#include <string.h>

#include "allocator.h"
#include "kt-error.h"
#include "ledger.h"

#include "alloc-hosts.h"

/* The example's pools: node 0 shares 2-27 and dedicates 28-55 (28 cores),
 * node 1 shares 56-81 and dedicates 82-111 (30 cores), siblings +112.  The
 * GPU 0000:ca:00.0 (nvidia-222 x 16, nvidia-223 x 8) is on node 1. */
static const char locality_policy[] =
    "host:\n"
    "  reserved_cpus: \"0-1,112-113\"\n"
    "  dedicated_cpus: \"28-55,140-167,82-111,194-223\"\n"
    "  shared_cpus: \"2-27,114-139,56-81,168-193\"\n"
    "  hugepages:\n"
    "    - {size: 1G, per_node: 900}\n"
    "    - {size: 2M, per_node: 16384}\n"
    "  sriov:\n"
    "    - {pf: \"0000:17:00.1\", physnet: storage}\n"
    "    - {pf: \"0000:98:00.1\", physnet: storage}\n"
    "  gpus:\n"
    "    - {pci: \"0000:ca:00.0\"}\n"
    "profiles:\n"
    "  vdi:\n"
    "    cpu: {policy: shared}\n"
    "    memory: {hugepages: 2M}\n"
    "    vgpu: {type: nvidia-222, count: 1}\n"
    "  vdi-be:\n"
    "    cpu: {policy: shared}\n"
    "    memory: {hugepages: 2M}\n"
    "    vgpu: {type: nvidia-222, count: 1, need: best-effort}\n"
    "  vdi10:\n"
    "    cpu: {policy: shared}\n"
    "    memory: {hugepages: 2M}\n"
    "    vgpu: {type: nvidia-223, count: 1}\n"
    "  vgpu-ded:\n"
    "    cpu: {policy: dedicated, threads: prefer}\n"
    "    numa: {nodes: 1}\n"
    "    vgpu: {type: nvidia-222, count: 1}\n"
    "  ml-be:\n"
    "    cpu: {policy: dedicated, threads: prefer}\n"
    "    numa: {nodes: 1}\n"
    "    gpu: {count: 1, need: best-effort}\n"
    "  storage:\n"
    "    cpu: {policy: shared}\n"
    "    sriov: [{physnet: storage, count: 1}]\n"
    "  general: {cpu: {policy: shared}}\n"
    "match:\n"
    "  - {flavor: \"vdi.*\", profile: vdi}\n"
    "  - {flavor: \"vdibe.*\", profile: vdi-be}\n"
    "  - {flavor: \"vdi10.*\", profile: vdi10}\n"
    "  - {flavor: \"vgpuded.*\", profile: vgpu-ded}\n"
    "  - {flavor: \"mlbe.*\", profile: ml-be}\n"
    "  - {flavor: \"st.*\", profile: storage}\n"
    "  - {default: general}\n";

static int
only_node(const KtPlacement *pl)
{
    g_assert_nonnull(pl->nodes);
    g_assert_cmpuint(kt_cpuset_count(pl->nodes), ==, 1);
    return kt_cpuset_first(pl->nodes);
}

static void
assert_set(const KtCpuset *set, const char *want)
{
    g_autofree char *s = kt_cpuset_format(set);

    g_assert_cmpstr(s, ==, want);
}

/* A shared VM with a vGPU runs on the GPU's node, its pool and its pages
 * there, even when the other node has more free memory: after the first
 * VDI VM node 1 has fewer 2M pages free, and the next ones still go there. */
static void
test_vdi_node_of_gpu(void)
{
    TestHost h;
    guint i;

    th_host_init(&h, &test_host_reference, locality_policy);
    for (i = 0; i < 4; i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(KtPlacement) pl = th_host_book(&h, "vdi.standard", 2, 4096, &err);
        const KtPlacementMdev *m;

        g_assert_no_error(err);
        g_assert_cmpint(only_node(pl), ==, 1);
        g_assert_cmpint(pl->cpu_policy, ==, KT_CPU_POLICY_SHARED);
        assert_set(pl->shared_cpus, "56-81,168-193");
        g_assert_cmpuint(pl->npages, ==, 1);
        g_assert_cmpuint(pl->pages[0].node, ==, 1);
        g_assert_cmpuint(pl->mdevs->len, ==, 1);
        m = g_ptr_array_index(pl->mdevs, 0);
        g_assert_cmpstr(m->parent, ==, "0000:ca:00.0");
        g_assert_cmpuint(m->node, ==, 1);
    }
    th_host_clear(&h);
}

/* A dedicated VM with a vGPU: best fit alone picks node 0 (56 dedicated
 * CPUs against 60); the vGPU pulls it to node 1. */
static void
test_vgpu_dedicated(void)
{
    TestHost h;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPlacement) pl = NULL;
    guint i;

    th_host_init(&h, &test_host_reference, locality_policy);
    pl = th_host_book(&h, "vgpuded.4", 4, 8192, &err);
    g_assert_no_error(err);
    g_assert_cmpint(only_node(pl), ==, 1);
    for (i = 0; i < pl->nvcpus; i++)
        g_assert_cmpint(kt_inventory_cpu(h.inv, kt_cpuset_first(pl->vcpu_pins[i]))->node, ==, 1);
    g_assert_cmpuint(pl->mdevs->len, ==, 1);
    g_assert_cmpuint(((KtPlacementMdev *)g_ptr_array_index(pl->mdevs, 0))->node, ==, 1);
    th_host_clear(&h);
}

/* Only a device the VM can get pulls.  The GPU runs nvidia-223 for another
 * VM (one mdev type per GPU at a time), so a best-effort nvidia-222 VM gets
 * no vGPU and goes where most 2M pages are free: node 0. */
static void
test_vgpu_busy_no_pull(void)
{
    TestHost h;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPlacement) other = NULL;
    g_autoptr(KtPlacement) pl = NULL;
    g_autoptr(KtAllocReport) report = kt_alloc_report_new();
    g_autoptr(KtRequest) req = NULL;

    th_host_init(&h, &test_host_reference, locality_policy);
    other = th_host_book(&h, "vdi10.standard", 2, 4096, &err);
    g_assert_no_error(err);
    g_assert_cmpint(only_node(other), ==, 1);
    req = th_host_request(&h, "vdibe.standard", 2, 4096);
    pl = th_host_book_req(&h, req, report, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(pl->mdevs->len, ==, 0);
    g_assert_cmpuint(report->fallbacks, ==, 1);
    g_assert_cmpint(only_node(pl), ==, 0);
    assert_set(pl->shared_cpus, "2-27,114-139");
    th_host_clear(&h);
}

/* A GPU with vGPUs on it is not free whole: a best-effort whole-GPU VM is
 * placed by best fit (node 0) without one.  With the GPU free, node 1. */
static void
test_gpu_busy_no_pull(void)
{
    TestHost h;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPlacement) free_gpu = NULL;
    g_autoptr(KtPlacement) vdi = NULL;
    g_autoptr(KtPlacement) pl = NULL;
    g_autoptr(KtRequest) probe = NULL;
    const KtPolicyProfile *prof = NULL;

    th_host_init(&h, &test_host_reference, locality_policy);
    /* not booked: only where it would go with the GPU free */
    probe = th_host_request(&h, "mlbe.4", 4, 8192);
    g_assert_nonnull(kt_allocator_match(h.policy, probe, &prof, NULL));
    free_gpu = kt_allocator_place(h.inv, h.policy, h.ledger, probe, prof, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(only_node(free_gpu), ==, 1);
    g_assert_cmpuint(free_gpu->gpus->len, ==, 1);

    vdi = th_host_book(&h, "vdi.standard", 2, 4096, &err);
    g_assert_no_error(err);
    pl = th_host_book(&h, "mlbe.4", 4, 8192, &err);
    g_assert_no_error(err);
    g_assert_cmpuint(pl->gpus->len, ==, 0);
    g_assert_cmpint(only_node(pl), ==, 0);
    th_host_clear(&h);
}

/* A shared VM with a VF goes to the node whose PF has one free: with node
 * 0's storage VFs all booked, node 1 (its pool, its VF). */
static void
test_vf_shared(void)
{
    TestHost h;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPlacement) taken = kt_placement_new();
    g_autoptr(KtPlacement) pl = NULL;
    const KtInvSriovPf *pf;
    const KtPlacementVf *vf;
    guint i;

    th_host_init(&h, &test_host_reference, locality_policy);
    pf = kt_inventory_find_pf(h.inv, "0000:17:00.1");
    for (i = 0; i < pf->vfs->len; i++) {
        KtPlacementVf *v = kt_placement_vf_new();

        v->pf = g_strdup(pf->address);
        v->vf = g_strdup(g_ptr_array_index(pf->vfs, i));
        g_ptr_array_add(taken->vfs, v);
    }
    g_assert_true(kt_ledger_book(h.ledger, "other", NULL, taken, NULL, false, NULL));
    pl = th_host_book(&h, "st.small", 2, 4096, &err);
    g_assert_no_error(err);
    g_assert_cmpint(only_node(pl), ==, 1);
    assert_set(pl->shared_cpus, "56-81,168-193");
    g_assert_cmpuint(pl->vfs->len, ==, 1);
    vf = g_ptr_array_index(pl->vfs, 0);
    g_assert_cmpstr(vf->pf, ==, "0000:98:00.1");
    g_assert_cmpuint(vf->node, ==, 1);
    th_host_clear(&h);
}

/* Devices already in the XML (a VF Nova attached, an existing mdev) pull the
 * VM to their node, even against free memory: node 1 has the less. */
static void
test_xml_devices_pull(void)
{
    TestHost h;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPlacement) a = NULL;
    g_autoptr(KtPlacement) b = NULL;
    g_autoptr(KtPlacement) with_vf = NULL;
    g_autoptr(KtPlacement) with_mdev = NULL;
    g_autoptr(KtRequest) rvf = NULL;
    g_autoptr(KtRequest) rmdev = NULL;
    const char *mdev_uuid = "6f7a1c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
    KtRequestPciDev *d;
    KtRequestMdev *m;
    KtInvMdevParent *par;

    th_host_init(&h, &test_host_reference, locality_policy);
    a = th_host_book(&h, "m1.large", 4, 8192, &err);
    b = th_host_book(&h, "m1.xlarge", 8, 16384, &err);
    g_assert_no_error(err);
    g_assert_cmpint(only_node(a), ==, 0);
    g_assert_cmpint(only_node(b), ==, 1);    /* node 1 now has less free */

    rvf = th_host_request(&h, "m1.small", 2, 2048);
    d = g_new0(KtRequestPciDev, 1);
    d->address = g_strdup(g_ptr_array_index(kt_inventory_find_pf(h.inv, "0000:98:00.0")->vfs, 0));
    d->is_interface = true;
    g_ptr_array_add(rvf->pci_devs, d);
    with_vf = th_host_book_req(&h, rvf, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(only_node(with_vf), ==, 1);
    assert_set(with_vf->shared_cpus, "56-81,168-193");

    par = g_ptr_array_index(h.inv->mdev_parents, 0);
    g_ptr_array_add(par->devices, g_strdup(mdev_uuid));
    rmdev = th_host_request(&h, "m1.small", 2, 2048);
    m = g_new0(KtRequestMdev, 1);
    m->uuid = g_strdup(mdev_uuid);
    g_ptr_array_add(rmdev->mdevs, m);
    with_mdev = th_host_book_req(&h, rmdev, NULL, &err);
    g_assert_no_error(err);
    g_assert_cmpint(only_node(with_mdev), ==, 1);
    th_host_clear(&h);
}

/* No shared CPU on the GPU's node (a policy with one shared pool on node
 * 0): the VM keeps NUMA-local CPUs and memory on node 0 and gets the vGPU
 * from the remote node rather than being refused. */
static void
test_vdi_no_shared_on_gpu_node(void)
{
    static const char pol[] =
        "host:\n"
        "  reserved_cpus: \"0-1,112-113\"\n"
        "  dedicated_cpus: \"28-111,140-223\"\n"
        "  shared_cpus: \"2-27,114-139\"\n"
        "  hugepages: [{size: 2M, per_node: 16384}]\n"
        "  gpus: [{pci: \"0000:ca:00.0\"}]\n"
        "profiles:\n"
        "  vdi:\n"
        "    cpu: {policy: shared}\n"
        "    memory: {hugepages: 2M}\n"
        "    vgpu: {type: nvidia-222, count: 1}\n"
        "match: [{default: vdi}]\n";
    TestHost h;
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPlacement) pl = NULL;

    th_host_init(&h, &test_host_reference, pol);
    pl = th_host_book(&h, "vdi.standard", 2, 4096, &err);
    g_assert_no_error(err);
    g_assert_cmpint(only_node(pl), ==, 0);
    assert_set(pl->shared_cpus, "2-27,114-139");
    g_assert_cmpuint(pl->mdevs->len, ==, 1);
    g_assert_cmpuint(((KtPlacementMdev *)g_ptr_array_index(pl->mdevs, 0))->node, ==, 1);
    th_host_clear(&h);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/locality/vdi-node-of-gpu", test_vdi_node_of_gpu);
    g_test_add_func("/locality/vgpu-dedicated", test_vgpu_dedicated);
    g_test_add_func("/locality/vgpu-busy-no-pull", test_vgpu_busy_no_pull);
    g_test_add_func("/locality/gpu-busy-no-pull", test_gpu_busy_no_pull);
    g_test_add_func("/locality/vf-shared", test_vf_shared);
    g_test_add_func("/locality/xml-devices-pull", test_xml_devices_pull);
    g_test_add_func("/locality/vdi-no-shared-on-gpu-node", test_vdi_no_shared_on_gpu_node);
    return g_test_run();
}
