#include "request.h"

static void
pci_dev_free(KtRequestPciDev *d)
{
    if (!d)
        return;
    g_free(d->address);
    g_free(d);
}

static void
mdev_free(KtRequestMdev *m)
{
    if (!m)
        return;
    g_free(m->uuid);
    g_free(m->type);
    g_free(m);
}

KtRequest *
kt_request_new(void)
{
    KtRequest *req = g_new0(KtRequest, 1);

    req->extra_specs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    req->pci_devs = g_ptr_array_new_with_free_func((GDestroyNotify)pci_dev_free);
    req->mdevs = g_ptr_array_new_with_free_func((GDestroyNotify)mdev_free);
    return req;
}

void
kt_request_free(KtRequest *req)
{
    guint i;

    if (!req)
        return;
    g_free(req->uuid);
    g_free(req->name);
    g_free(req->domain_type);
    g_free(req->arch);
    g_free(req->machine);
    g_free(req->nova_ns);
    g_free(req->flavor_name);
    g_free(req->owner_project);
    g_free(req->owner_user);
    g_hash_table_unref(req->extra_specs);
    g_free(req->vcpu_placement);
    kt_cpuset_free(req->vcpu_cpuset);
    for (i = 0; req->vcpupins && i < req->vcpus_max; i++)
        kt_cpuset_free(req->vcpupins[i]);
    g_free(req->vcpupins);
    kt_cpuset_free(req->emulatorpin);
    kt_cpuset_free(req->numatune_nodeset);
    for (i = 0; req->cpu_cells && i < req->ncpu_cells; i++) {
        kt_cpuset_free(req->cpu_cells[i].vcpus);
        kt_cpuset_free(req->cpu_cells[i].memnode);
    }
    g_free(req->cpu_cells);
    g_free(req->cpu_mode);
    g_ptr_array_unref(req->pci_devs);
    g_ptr_array_unref(req->mdevs);
    kt_placement_free(req->placement);
    g_free(req);
}

bool
kt_request_has_cpu_pinning(const KtRequest *req)
{
    return req->nvcpupins > 0 || req->vcpu_cpuset != NULL;
}
