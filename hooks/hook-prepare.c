/* hook-prepare.c: `prepare begin`, host preparation before QEMU starts.
 *
 * Order matters for "leave nothing behind": every check that can fail
 * (names, hugepages, VFs, GPUs, mdev capacity) runs before anything is
 * written; the record of what we are about to create is written before the
 * first `create` (a crash in between still lets release clean up); only a
 * failing `create` has to be undone. */
#include "hook-ops.h"

#include <string.h>

#include "domain.h"
#include "hook-host.h"
#include "hook-state.h"
#include "kt-error.h"
#include "mdev.h"

static gboolean
check_names(const KtPlacement *pl, GError **error)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    guint i;

    for (i = 0; i < pl->mdevs->len; i++) {
        const KtPlacementMdev *m = g_ptr_array_index(pl->mdevs, i);

        if (!kt_mdev_check_names(m->parent, m->type, m->uuid, error))
            return FALSE;
        if (!g_hash_table_add(seen, m->uuid)) {
            g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                        "placement names mdev %s twice", m->uuid);
            return FALSE;
        }
    }
    for (i = 0; i < pl->vfs->len; i++) {
        const KtPlacementVf *vf = g_ptr_array_index(pl->vfs, i);

        if (!kt_pci_address_valid(vf->vf) || (vf->pf && !kt_pci_address_valid(vf->pf))) {
            g_autofree char *esc = g_strescape(kt_pci_address_valid(vf->vf) ? vf->pf :
                                               vf->vf ? vf->vf : "(none)", NULL);

            g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                        "placement VF address '%s' is not a PCI address", esc);
            return FALSE;
        }
        if (!g_hash_table_add(seen, vf->vf)) {
            g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                        "placement names VF %s twice", vf->vf);
            return FALSE;
        }
    }
    for (i = 0; i < pl->gpus->len; i++) {
        const KtPlacementGpu *g = g_ptr_array_index(pl->gpus, i);

        if (!kt_pci_address_valid(g->address)) {
            g_autofree char *esc = g_strescape(g->address ? g->address : "(none)", NULL);

            g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                        "placement GPU address '%s' is not a PCI address", esc);
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean
check_hugepages(const KtHookConfig *cfg, const KtPlacement *pl, GError **error)
{
    g_autoptr(GHashTable) need = NULL;
    GHashTableIter it;
    gpointer key, value;
    guint i;

    if (pl->hugepage_kib == 0 || pl->npages == 0)
        return TRUE;
    /* Sum per node: a placement may list one node more than once. */
    need = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    for (i = 0; i < pl->npages; i++) {
        guint64 *count = g_hash_table_lookup(need, GUINT_TO_POINTER(pl->pages[i].node));

        if (!count) {
            count = g_new0(guint64, 1);
            g_hash_table_insert(need, GUINT_TO_POINTER(pl->pages[i].node), count);
        }
        *count += pl->pages[i].count;
    }
    g_hash_table_iter_init(&it, need);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        guint node = GPOINTER_TO_UINT(key);
        guint64 count = *(guint64 *)value;
        guint64 free_pages = 0;

        if (count == 0)
            continue;
        if (!kt_hook_host_free_hugepages(cfg->sysroot, node, pl->hugepage_kib,
                                         &free_pages, error))
            return FALSE;
        if (free_pages < count) {
            g_set_error(error, KT_ERROR, KT_ERROR_NO_CAPACITY,
                        "node %u: %" G_GUINT64_FORMAT " x %" G_GUINT64_FORMAT
                        " KiB hugepages needed, %" G_GUINT64_FORMAT " free",
                        node, count, pl->hugepage_kib, free_pages);
            return FALSE;
        }
    }
    return TRUE;
}

/* VFs and whole GPUs: present, and neither claimed by another domain's
 * prepare nor assigned to another running domain. */
static gboolean
check_pci(const KtHookConfig *cfg, KtHookState *st, const KtPlacement *pl,
          const char *uuid, GError **error)
{
    g_autoptr(GHashTable) running = NULL;
    guint i;

    if (pl->vfs->len == 0 && pl->gpus->len == 0)
        return TRUE;
    running = kt_hook_host_running_pci(cfg->sysroot, uuid);
    for (i = 0; i < pl->vfs->len + pl->gpus->len; i++) {
        const char *addr;
        const char *what;
        const char *user;
        g_autofree char *owner = NULL;

        if (i < pl->vfs->len) {
            const KtPlacementVf *vf = g_ptr_array_index(pl->vfs, i);

            if (!kt_hook_host_check_vf(cfg->sysroot, vf->pf, vf->vf, error))
                return FALSE;
            addr = vf->vf;
            what = "VF";
        } else {
            const KtPlacementGpu *g = g_ptr_array_index(pl->gpus, i - pl->vfs->len);
            g_autofree char *dev = g_build_filename(cfg->sysroot, "sys", "bus", "pci",
                                                    "devices", g->address, NULL);

            addr = g->address;
            what = "GPU";
            if (!g_file_test(dev, G_FILE_TEST_IS_DIR)) {
                g_set_error(error, KT_ERROR, KT_ERROR_NOT_FOUND,
                            "GPU %s does not exist on this host", addr);
                return FALSE;
            }
        }
        owner = kt_hook_state_vf_owner(st, addr);
        if (owner && strcmp(owner, uuid) != 0) {
            g_set_error(error, KT_ERROR, KT_ERROR_NO_CAPACITY,
                        "%s %s is held by domain %s", what, addr, owner);
            return FALSE;
        }
        user = g_hash_table_lookup(running, addr);
        if (user) {
            g_set_error(error, KT_ERROR, KT_ERROR_NO_CAPACITY,
                        "%s %s is in use by running domain '%s'", what, addr, user);
            return FALSE;
        }
    }
    return TRUE;
}

/* Decides which mdevs to create (appended to @create) and which existing
 * ones stay ours from an earlier record (@keep); checks capacity. */
static gboolean
plan_mdevs(const KtHookConfig *cfg, const KtPlacement *pl, const KtHookRecord *old,
           GPtrArray *create, GPtrArray *keep, GError **error)
{
    g_autoptr(GHashTable) need = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                       g_free, NULL);
    guint i;

    for (i = 0; i < pl->mdevs->len; i++) {
        KtPlacementMdev *m = g_ptr_array_index(pl->mdevs, i);
        g_autofree char *key = NULL;
        guint wanted;
        guint available = 0;

        if (kt_mdev_exists(cfg->sysroot, m->uuid)) {
            /* Created by someone else (mdevctl, an admin) or by our own
             * earlier prepare: only the latter is ours to remove. */
            if (old && kt_hook_record_has_mdev(old, m->uuid))
                g_ptr_array_add(keep, m);
            continue;
        }
        key = g_strdup_printf("%s/%s", m->parent, m->type);
        wanted = GPOINTER_TO_UINT(g_hash_table_lookup(need, key)) + 1;
        if (!kt_mdev_available(cfg->sysroot, m->parent, m->type, &available, error))
            return FALSE;
        if (available < wanted) {
            g_set_error(error, KT_ERROR, KT_ERROR_NO_CAPACITY,
                        "GPU %s: %u x mdev type %s needed, %u available",
                        m->parent, wanted, m->type, available);
            return FALSE;
        }
        g_hash_table_replace(need, g_steal_pointer(&key), GUINT_TO_POINTER(wanted));
        g_ptr_array_add(create, m);
    }
    return TRUE;
}

static bool
placement_has_mdev(const KtPlacement *pl, const char *uuid)
{
    guint i;

    for (i = 0; i < pl->mdevs->len; i++) {
        const KtPlacementMdev *m = g_ptr_array_index(pl->mdevs, i);

        if (strcmp(m->uuid, uuid) == 0)
            return true;
    }
    return false;
}

/* Undo for a failed create: remove what this call made, put the record
 * back as it was.  Errors here are secondary to the one being reported. */
static void
undo(const KtHookConfig *cfg, KtHookState *st, GPtrArray *created,
     const KtHookRecord *rec, const KtHookRecord *old)
{
    guint i;

    for (i = 0; i < created->len; i++) {
        const KtPlacementMdev *m = g_ptr_array_index(created, i);

        kt_mdev_remove(cfg->sysroot, m->uuid, NULL, NULL);
    }
    kt_hook_state_delete(st, rec, NULL);
    if (old)
        kt_hook_state_save(st, old, NULL);
}

gboolean
kt_hook_prepare(const KtHookConfig *cfg, const char *name, const char *xml,
                gsize len, GError **error)
{
    g_autoptr(KtDomain) dom = NULL;
    g_autoptr(KtRequest) req = NULL;
    g_autoptr(KtHookState) st = NULL;
    g_autoptr(KtHookRecord) old = NULL;
    g_autoptr(KtHookRecord) rec = NULL;
    g_autoptr(GPtrArray) create = g_ptr_array_new();
    g_autoptr(GPtrArray) keep = g_ptr_array_new();
    g_autoptr(GPtrArray) created = g_ptr_array_new();
    const KtPlacement *pl;
    guint i;

    /* Not a kvmtune domain: done, without trusting our parser with it (a
     * parse error must never stop a guest kvmtune does not manage). */
    if (!g_strstr_len(xml, (gssize)len, KT_PLACEMENT_NS))
        return TRUE;
    dom = kt_domain_parse(xml, len, error);
    if (!dom)
        return FALSE;
    req = kt_domain_read_request(dom, error);
    if (!req)
        return FALSE;
    pl = req->placement;
    if (!pl)
        return TRUE;            /* not a kvmtune domain */
    if (!kt_mdev_uuid_valid(req->uuid)) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                    "domain '%s' has no canonical <uuid>", name);
        return FALSE;
    }
    if (!check_names(pl, error))
        return FALSE;

    /* Held until return: concurrent prepares of two domains must not both
     * see the same VF or the last mdev instance as free. */
    st = kt_hook_state_open(cfg->state_dir, error);
    if (!st)
        return FALSE;
    if (!kt_hook_state_load(st, req->uuid, &old, error) ||
        !check_hugepages(cfg, pl, error) ||
        !check_pci(cfg, st, pl, req->uuid, error) ||
        !plan_mdevs(cfg, pl, old, create, keep, error))
        return FALSE;

    /* A record left by a prepare whose release never came (libvirtd died):
     * its mdevs that still exist stay ours even if this placement no
     * longer names them, so release removes them; its claims are
     * replaced by this placement's. */
    for (i = 0; old && i < old->mdevs->len; i++) {
        KtPlacementMdev *om = g_ptr_array_index(old->mdevs, i);

        if (!placement_has_mdev(pl, om->uuid) && kt_mdev_exists(cfg->sysroot, om->uuid))
            g_ptr_array_add(keep, om);
    }
    if (old && !kt_hook_state_delete(st, old, error))
        return FALSE;

    rec = kt_hook_record_new(req->uuid, req->name ? req->name : name);
    for (i = 0; i < keep->len; i++)
        kt_hook_record_add_mdev(rec, g_ptr_array_index(keep, i));
    for (i = 0; i < create->len; i++)
        kt_hook_record_add_mdev(rec, g_ptr_array_index(create, i));
    for (i = 0; i < pl->vfs->len; i++) {
        const KtPlacementVf *vf = g_ptr_array_index(pl->vfs, i);

        g_ptr_array_add(rec->vfs, g_strdup(vf->vf));
    }
    for (i = 0; i < pl->gpus->len; i++) {
        const KtPlacementGpu *g = g_ptr_array_index(pl->gpus, i);

        g_ptr_array_add(rec->vfs, g_strdup(g->address));
    }
    if (!kt_hook_state_save(st, rec, error)) {
        kt_hook_state_delete(st, rec, NULL);
        if (old)
            kt_hook_state_save(st, old, NULL);
        return FALSE;
    }

    for (i = 0; i < create->len; i++) {
        const KtPlacementMdev *m = g_ptr_array_index(create, i);

        if (!kt_mdev_create(cfg->sysroot, m->parent, m->type, m->uuid, error)) {
            undo(cfg, st, created, rec, old);
            return FALSE;
        }
        g_ptr_array_add(created, (gpointer)m);
    }
    return TRUE;
}
