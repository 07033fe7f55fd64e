#include "placement.h"

#include <string.h>

KT_ENUM_IMPL(kt_cpu_policy, KT_CPU_POLICY_LAST, "none", "shared", "dedicated");

KtPlacementVf *
kt_placement_vf_new(void)
{
    KtPlacementVf *vf = g_new0(KtPlacementVf, 1);

    vf->vlan = -1;
    vf->trust = -1;
    vf->spoofchk = -1;
    return vf;
}

void
kt_placement_vf_free(KtPlacementVf *vf)
{
    if (!vf)
        return;
    g_free(vf->pf);
    g_free(vf->vf);
    g_free(vf->mac);
    g_free(vf);
}

void
kt_placement_mdev_free(KtPlacementMdev *m)
{
    if (!m)
        return;
    g_free(m->parent);
    g_free(m->type);
    g_free(m->uuid);
    g_free(m);
}

void
kt_placement_gpu_free(KtPlacementGpu *g)
{
    if (!g)
        return;
    g_free(g->address);
    g_free(g);
}

KtPlacement *
kt_placement_new(void)
{
    KtPlacement *pl = g_new0(KtPlacement, 1);

    pl->vfs = g_ptr_array_new_with_free_func((GDestroyNotify)kt_placement_vf_free);
    pl->mdevs = g_ptr_array_new_with_free_func((GDestroyNotify)kt_placement_mdev_free);
    pl->gpus = g_ptr_array_new_with_free_func((GDestroyNotify)kt_placement_gpu_free);
    return pl;
}

void
kt_placement_free(KtPlacement *pl)
{
    guint i;

    if (!pl)
        return;
    g_free(pl->profile);
    g_free(pl->policy_hash);
    kt_cpuset_free(pl->nodes);
    for (i = 0; pl->vcpu_pins && i < pl->nvcpus; i++)
        kt_cpuset_free(pl->vcpu_pins[i]);
    g_free(pl->vcpu_pins);
    kt_cpuset_free(pl->shared_cpus);
    kt_cpuset_free(pl->emulator_cpus);
    kt_cpuset_free(pl->booked_cpus);
    for (i = 0; i < pl->ncells; i++)
        kt_cpuset_free(pl->cells[i].vcpus);
    g_free(pl->cells);
    g_free(pl->pages);
    g_ptr_array_unref(pl->vfs);
    g_ptr_array_unref(pl->mdevs);
    g_ptr_array_unref(pl->gpus);
    g_free(pl);
}

static KtCpuset *
copy_set(const KtCpuset *s)
{
    return s ? kt_cpuset_copy(s) : NULL;
}

KtPlacement *
kt_placement_copy(const KtPlacement *pl)
{
    KtPlacement *c = kt_placement_new();
    guint i;

    c->profile = g_strdup(pl->profile);
    c->policy_hash = g_strdup(pl->policy_hash);
    c->override = pl->override;
    c->nodes = copy_set(pl->nodes);
    c->cpu_policy = pl->cpu_policy;
    c->nvcpus = pl->nvcpus;
    if (pl->vcpu_pins) {
        c->vcpu_pins = g_new0(KtCpuset *, pl->nvcpus);
        for (i = 0; i < pl->nvcpus; i++)
            c->vcpu_pins[i] = copy_set(pl->vcpu_pins[i]);
    }
    c->shared_cpus = copy_set(pl->shared_cpus);
    c->emulator_cpus = copy_set(pl->emulator_cpus);
    c->booked_cpus = copy_set(pl->booked_cpus);
    c->threads_per_core = pl->threads_per_core;
    c->ncells = pl->ncells;
    c->cells = g_new0(KtPlacementCell, pl->ncells);
    for (i = 0; i < pl->ncells; i++) {
        c->cells[i] = pl->cells[i];
        c->cells[i].vcpus = copy_set(pl->cells[i].vcpus);
    }
    c->memory_kib = pl->memory_kib;
    c->hugepage_kib = pl->hugepage_kib;
    c->npages = pl->npages;
    c->pages = g_memdup2(pl->pages, sizeof(KtPlacementPages) * pl->npages);
    for (i = 0; i < pl->vfs->len; i++) {
        const KtPlacementVf *s = g_ptr_array_index(pl->vfs, i);
        KtPlacementVf *d = g_memdup2(s, sizeof(*s));

        d->pf = g_strdup(s->pf);
        d->vf = g_strdup(s->vf);
        d->mac = g_strdup(s->mac);
        g_ptr_array_add(c->vfs, d);
    }
    for (i = 0; i < pl->mdevs->len; i++) {
        const KtPlacementMdev *s = g_ptr_array_index(pl->mdevs, i);
        KtPlacementMdev *d = g_memdup2(s, sizeof(*s));

        d->parent = g_strdup(s->parent);
        d->type = g_strdup(s->type);
        d->uuid = g_strdup(s->uuid);
        g_ptr_array_add(c->mdevs, d);
    }
    for (i = 0; i < pl->gpus->len; i++) {
        const KtPlacementGpu *s = g_ptr_array_index(pl->gpus, i);
        KtPlacementGpu *d = g_memdup2(s, sizeof(*s));

        d->address = g_strdup(s->address);
        g_ptr_array_add(c->gpus, d);
    }
    return c;
}

static bool
set_eq(const KtCpuset *a, const KtCpuset *b)
{
    if (!a || !b)
        return a == b;
    return kt_cpuset_equal(a, b);
}

bool
kt_placement_equal(const KtPlacement *a, const KtPlacement *b)
{
    guint i;

    if (g_strcmp0(a->profile, b->profile) != 0 ||
        g_strcmp0(a->policy_hash, b->policy_hash) != 0 ||
        a->override != b->override ||
        !set_eq(a->nodes, b->nodes) ||
        a->cpu_policy != b->cpu_policy ||
        a->nvcpus != b->nvcpus ||
        (a->vcpu_pins == NULL) != (b->vcpu_pins == NULL) ||
        !set_eq(a->shared_cpus, b->shared_cpus) ||
        !set_eq(a->emulator_cpus, b->emulator_cpus) ||
        !set_eq(a->booked_cpus, b->booked_cpus) ||
        a->threads_per_core != b->threads_per_core ||
        a->ncells != b->ncells ||
        a->memory_kib != b->memory_kib ||
        a->hugepage_kib != b->hugepage_kib ||
        a->npages != b->npages ||
        a->vfs->len != b->vfs->len ||
        a->mdevs->len != b->mdevs->len ||
        a->gpus->len != b->gpus->len)
        return false;
    for (i = 0; a->vcpu_pins && i < a->nvcpus; i++) {
        if (!set_eq(a->vcpu_pins[i], b->vcpu_pins[i]))
            return false;
    }
    for (i = 0; i < a->ncells; i++) {
        if (!set_eq(a->cells[i].vcpus, b->cells[i].vcpus) ||
            a->cells[i].memory_kib != b->cells[i].memory_kib ||
            a->cells[i].host_node != b->cells[i].host_node)
            return false;
    }
    if (a->npages && memcmp(a->pages, b->pages, sizeof(KtPlacementPages) * a->npages) != 0)
        return false;
    for (i = 0; i < a->vfs->len; i++) {
        const KtPlacementVf *x = g_ptr_array_index(a->vfs, i);
        const KtPlacementVf *y = g_ptr_array_index(b->vfs, i);

        if (g_strcmp0(x->pf, y->pf) || g_strcmp0(x->vf, y->vf) ||
            g_strcmp0(x->mac, y->mac) || x->vlan != y->vlan ||
            x->trust != y->trust || x->spoofchk != y->spoofchk || x->node != y->node)
            return false;
    }
    for (i = 0; i < a->mdevs->len; i++) {
        const KtPlacementMdev *x = g_ptr_array_index(a->mdevs, i);
        const KtPlacementMdev *y = g_ptr_array_index(b->mdevs, i);

        if (g_strcmp0(x->parent, y->parent) || g_strcmp0(x->type, y->type) ||
            g_strcmp0(x->uuid, y->uuid) || x->node != y->node)
            return false;
    }
    for (i = 0; i < a->gpus->len; i++) {
        const KtPlacementGpu *x = g_ptr_array_index(a->gpus, i);
        const KtPlacementGpu *y = g_ptr_array_index(b->gpus, i);

        if (g_strcmp0(x->address, y->address) || x->node != y->node)
            return false;
    }
    return true;
}
