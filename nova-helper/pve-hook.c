/* pve-hook.c: Proxmox hookscript phases and pve-apply (edge). */
#include "pve-hook.h"
#include "allocator.h"
#include "inventory.h"
#include "kt-error.h"
#include "policy.h"
#include "pve-apply.h"
#include "pve-book.h"
#include "pve-conf.h"
#include "pve-file.h"
#include "pve-pin.h"
#include "pve-vm.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

KT_ENUM_IMPL(kt_pve_phase, KT_PVE_PHASE_LAST,
             "pre-start", "post-start", "pre-stop", "post-stop");

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}
#define AUTO_FD __attribute__((cleanup(close_fd)))

/* Everything a placement needs, read once per run. */
typedef struct {
    KtPveConf *conf;
    KtPveVm *vm;
    KtPolicy *policy;
    const KtPolicyProfile *profile;   /* NULL: the VM is left alone */
    char *reason;                     /* which tag or rule chose the profile */
} VmContext;

static void
vm_context_clear(VmContext *ctx)
{
    kt_pve_conf_free(ctx->conf);
    kt_pve_vm_free(ctx->vm);
    kt_policy_free(ctx->policy);
    g_free(ctx->reason);
    memset(ctx, 0, sizeof(*ctx));
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VmContext, vm_context_clear)

static char *
conf_path(const KtPveEnv *env, guint vmid)
{
    g_autofree char *name = g_strdup_printf("%u.conf", vmid);

    return g_build_filename(env->pve_root, "qemu-server", name, NULL);
}

static gboolean
load_context(const KtPveEnv *env, guint vmid, VmContext *ctx, GError **error)
{
    g_autofree char *path = conf_path(env, vmid);
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    gsize len = 0;

    if (!kt_pve_file_read(path, KT_PVE_CONF_MAX, &text, &len, error))
        return FALSE;
    if (!(ctx->conf = kt_pve_conf_parse(text, len, &err))) {
        g_set_error(error, KT_ERROR, err->code, "%s: %s", path, err->message);
        return FALSE;
    }
    if (!(ctx->vm = kt_pve_vm_from_conf_next_start(ctx->conf, vmid, error)))
        return FALSE;
    if (!(ctx->policy = kt_policy_load(env->policy_path, error)))
        return FALSE;
    return kt_pve_vm_find_profile(ctx->vm, ctx->policy, &ctx->profile, &ctx->reason, error);
}

/* The boot time from <proc>/stat "btime", 0 when unknown. */
static gint64
boot_time(const KtPveEnv *env)
{
    g_autofree char *path = g_build_filename(env->proc_root, "stat", NULL);
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    guint i;

    if (!kt_pve_file_read(path, 1024 * 1024, &text, NULL, NULL))
        return 0;
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i]; i++) {
        guint64 t;

        if (g_str_has_prefix(lines[i], "btime ") &&
            g_ascii_string_to_unsigned(lines[i] + strlen("btime "), 10, 0,
                                       G_MAXINT64, &t, NULL))
            return (gint64)t;
    }
    return 0;
}

/* Bookings written before this boot belong to VMs the reboot stopped
 * without a post-stop: they hold nothing any more. */
static gboolean
drop_stale_bookings(const KtPveEnv *env, GHashTable *bookings, GError **error)
{
    gint64 btime = boot_time(env);
    GHashTableIter it;
    gpointer key;

    if (btime == 0)
        return TRUE;
    g_hash_table_iter_init(&it, bookings);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        g_autofree char *name = g_strdup_printf("%u.xml", GPOINTER_TO_UINT(key));
        g_autofree char *path = g_build_filename(env->state_dir, name, NULL);
        struct stat st;

        if (stat(path, &st) == 0 && st.st_mtime < btime) {
            if (!kt_pve_book_remove(env->state_dir, GPOINTER_TO_UINT(key), error))
                return FALSE;
            g_hash_table_iter_remove(&it);
        }
    }
    return TRUE;
}

static const char *
page_label(guint64 kib)
{
    if (kib == 2048)
        return "2M";
    if (kib == 1048576)
        return "1G";
    return "?";
}

/* The pages the placement needs must be free now: QEMU allocates them
 * at start, and a VM that cannot get them fails halfway through. */
static gboolean
check_hugepages(const KtInventory *inv, const KtPveVm *vm, const KtPlacement *pl,
                GError **error)
{
    guint i;

    if (pl->hugepage_kib == 0)
        return TRUE;
    for (i = 0; i < pl->npages; i++) {
        const KtPlacementPages *p = &pl->pages[i];
        const KtInvHugepages *hp = kt_inventory_hugepages(inv, p->node, pl->hugepage_kib);
        guint64 free_pages = hp ? hp->free : 0;

        if (free_pages < p->count) {
            g_set_error(error, KT_ERROR, KT_ERROR_NO_CAPACITY,
                        "VM %u: node %u: %" G_GUINT64_FORMAT " x %s hugepages needed, %"
                        G_GUINT64_FORMAT " free", vm->vmid, p->node, p->count,
                        page_label(pl->hugepage_kib), free_pages);
            return FALSE;
        }
    }
    return TRUE;
}

/* Proxmox creates the mdev of a "hostpciN: <parent>,mdev=<type>" line
 * itself, with a uuid made of N and the VMID: the booking names that
 * device rather than one the allocator would derive. */
static void
adopt_proxmox_mdevs(const KtPveVm *vm, KtPlacement *pl)
{
    guint32 used = 0;
    guint i, j;

    for (i = 0; pl->mdevs && i < pl->mdevs->len; i++) {
        KtPlacementMdev *m = g_ptr_array_index(pl->mdevs, i);

        for (j = 0; j < vm->hostpci->len; j++) {
            const KtPveHostpci *h = g_ptr_array_index(vm->hostpci, j);

            if ((used & (1u << h->index)) || !h->mdev || !h->address ||
                strcmp(h->address, m->parent) != 0 || strcmp(h->mdev, m->type) != 0)
                continue;
            used |= 1u << h->index;
            g_free(m->uuid);
            m->uuid = kt_pve_mdev_uuid(vm->vmid, h->index);
            break;
        }
    }
}

/* The placement step: inventory minus @others -> placement for the VM. */
static KtPlacement *
place_vm(const KtPveEnv *env, const VmContext *ctx, GHashTable *others,
         KtPveKeep keep, KtInventory **ret_inv, GError **error)
{
    g_autoptr(KtInventory) inv = NULL;
    g_autoptr(KtLedger) ledger = NULL;
    g_autoptr(KtRequest) req = NULL;
    g_autoptr(GError) err = NULL;
    KtPlacement *pl;

    if (!(inv = kt_inventory_load(env->sysroot, error)))
        return NULL;
    if (!(ledger = kt_pve_book_ledger(others, error)))
        return NULL;
    req = kt_pve_vm_to_request(ctx->vm, keep);
    pl = kt_allocator_place(inv, ctx->policy, ledger, req, ctx->profile, NULL, &err);
    if (!pl) {
        g_set_error(error, KT_ERROR, err->code, "VM %u (%s): %s",
                    ctx->vm->vmid, ctx->vm->name, err->message);
        return NULL;
    }
    if (ret_inv)
        *ret_inv = g_steal_pointer(&inv);
    return pl;
}

/* "vCPUs 0->2 1->3, emulator 1, nodes 0, 2M x 512" for the task log. */
static char *
describe(const KtPlacement *pl)
{
    g_autoptr(GString) out = g_string_new(NULL);
    guint i;

    if (pl->cpu_policy == KT_CPU_POLICY_DEDICATED && pl->vcpu_pins) {
        g_string_append(out, "vCPUs");
        for (i = 0; i < pl->nvcpus; i++) {
            g_autofree char *c = pl->vcpu_pins[i] ? kt_cpuset_format(pl->vcpu_pins[i]) : NULL;

            g_string_append_printf(out, " %u->%s", i, c ? c : "-");
        }
    } else if (pl->cpu_policy == KT_CPU_POLICY_SHARED && pl->shared_cpus) {
        g_autofree char *c = kt_cpuset_format(pl->shared_cpus);

        g_string_append_printf(out, "vCPUs shared on %s", c);
    } else {
        g_string_append(out, "CPUs left alone");
    }
    if (pl->emulator_cpus) {
        g_autofree char *c = kt_cpuset_format(pl->emulator_cpus);

        g_string_append_printf(out, ", emulator %s", c);
    }
    if (pl->nodes && !kt_cpuset_is_empty(pl->nodes)) {
        g_autofree char *c = kt_cpuset_format(pl->nodes);

        g_string_append_printf(out, ", nodes %s", c);
    }
    if (pl->hugepage_kib > 0) {
        guint64 n = 0;

        for (i = 0; i < pl->npages; i++)
            n += pl->pages[i].count;
        g_string_append_printf(out, ", %s x %" G_GUINT64_FORMAT,
                               page_label(pl->hugepage_kib), n);
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

static gboolean
pre_start(const KtPveEnv *env, guint vmid, char **ret_message, GError **error)
{
    g_auto(VmContext) ctx = { 0 };
    g_autoptr(GHashTable) bookings = NULL;
    g_autoptr(KtPlacement) pl = NULL;
    g_autoptr(KtInventory) inv = NULL;
    g_autofree char *what = NULL;
    AUTO_FD int lock = -1;

    if (!load_context(env, vmid, &ctx, error))
        return FALSE;
    if ((lock = kt_pve_book_lock(env->state_dir, error)) < 0)
        return FALSE;
    if (!(bookings = kt_pve_book_load_all(env->state_dir, error)) ||
        !drop_stale_bookings(env, bookings, error))
        return FALSE;
    /* A booking of this VM left by a start that never got to post-stop
     * is replaced, never counted against itself. */
    g_hash_table_remove(bookings, GUINT_TO_POINTER(vmid));

    if (!ctx.profile) {
        if (!kt_pve_book_remove(env->state_dir, vmid, error))
            return FALSE;
        *ret_message = g_strdup_printf("VM %u (%s): no profile (%s), left alone",
                                       vmid, ctx.vm->name, ctx.reason);
        return TRUE;
    }
    /* Memory cannot move once QEMU runs, so NUMA nodes and hugepages the
     * config already has (pve-apply, or the admin) are kept; the CPUs are
     * placed afresh and pinned at post-start. */
    pl = place_vm(env, &ctx, bookings, KT_PVE_KEEP_MEMORY, &inv, error);
    if (!pl || !check_hugepages(inv, ctx.vm, pl, error))
        return FALSE;
    adopt_proxmox_mdevs(ctx.vm, pl);
    if (!kt_pve_book_save(env->state_dir, vmid, pl, error))
        return FALSE;
    what = describe(pl);
    *ret_message = g_strdup_printf("VM %u (%s): profile %s (%s): %s",
                                   vmid, ctx.vm->name, ctx.profile->name, ctx.reason, what);
    return TRUE;
}

static gboolean
post_start(const KtPveEnv *env, guint vmid, char **ret_message, GError **error)
{
    g_autoptr(KtPlacement) pl = NULL;
    g_autoptr(GPtrArray) threads = NULL;
    g_autoptr(GPtrArray) pins = NULL;
    g_autoptr(GError) err = NULL;
    guint nvcpu = 0;
    guint i;
    pid_t pid;

    pl = kt_pve_book_load(env->state_dir, vmid, &err);
    if (!pl) {
        if (!g_error_matches(err, KT_ERROR, KT_ERROR_NOT_FOUND)) {
            g_propagate_error(error, g_steal_pointer(&err));
            return FALSE;
        }
        *ret_message = g_strdup_printf("VM %u: not booked, nothing to pin", vmid);
        return TRUE;
    }
    if (!kt_pve_find_qemu(env->run_dir, env->proc_root, vmid, &pid, error))
        return FALSE;
    if (!(threads = kt_pve_list_threads(env->proc_root, pid, error)))
        return FALSE;
    if (!kt_pve_pin_plan(threads, pl, &pins, error) || !kt_pve_pin_apply(pins, error))
        return FALSE;
    for (i = 0; i < pins->len; i++) {
        const KtPvePin *p = g_ptr_array_index(pins, i);

        if (p->vcpu >= 0)
            nvcpu++;
    }
    *ret_message = g_strdup_printf("VM %u: pinned %u vCPU threads and %u other threads of pid %ld",
                                   vmid, nvcpu, pins->len - nvcpu, (long)pid);
    return TRUE;
}

static gboolean
post_stop(const KtPveEnv *env, guint vmid, char **ret_message, GError **error)
{
    g_autofree char *name = g_strdup_printf("%u.xml", vmid);
    g_autofree char *path = g_build_filename(env->state_dir, name, NULL);
    AUTO_FD int lock = -1;
    bool had;

    if ((lock = kt_pve_book_lock(env->state_dir, error)) < 0)
        return FALSE;
    had = g_file_test(path, G_FILE_TEST_EXISTS);
    if (!kt_pve_book_remove(env->state_dir, vmid, error))
        return FALSE;
    *ret_message = g_strdup_printf(had ? "VM %u: booking released" : "VM %u: not booked",
                                   vmid);
    return TRUE;
}

gboolean
kt_pve_hook_run(const KtPveEnv *env, guint vmid, KtPvePhase phase,
                char **ret_message, GError **error)
{
    g_autofree char *message = NULL;
    gboolean ok = FALSE;

    switch (phase) {
    case KT_PVE_PHASE_PRE_START:
        ok = pre_start(env, vmid, &message, error);
        break;
    case KT_PVE_PHASE_POST_START:
        ok = post_start(env, vmid, &message, error);
        break;
    case KT_PVE_PHASE_PRE_STOP:
        message = g_strdup_printf("VM %u: nothing to do before stop", vmid);
        ok = TRUE;
        break;
    case KT_PVE_PHASE_POST_STOP:
        ok = post_stop(env, vmid, &message, error);
        break;
    case KT_PVE_PHASE_LAST:
        g_return_val_if_reached(FALSE);
    }
    if (ok && ret_message)
        *ret_message = g_steal_pointer(&message);
    return ok;
}

/* Keys pve-apply writes that [PENDING] sets or deletes too: Proxmox applies
 * the pending value at the next start, over what pve-apply wrote.  "" when
 * none; caller frees. */
static char *
pending_conflicts(const KtPveConf *conf)
{
    static const char *const prefixes[] = { "affinity", "numa", "hugepages", "hostpci" };
    g_autoptr(GPtrArray) keys = kt_pve_conf_list_keys_in(conf, "PENDING");
    const char *deleted = kt_pve_conf_get_in(conf, "PENDING", "delete");
    g_autoptr(GString) out = g_string_new(NULL);
    guint i;
    gsize k;

    for (i = 0; i < keys->len; i++) {
        const char *key = g_ptr_array_index(keys, i);

        for (k = 0; k < G_N_ELEMENTS(prefixes); k++) {
            if (g_str_has_prefix(key, prefixes[k])) {
                g_string_append_printf(out, "%s%s", out->len ? ", " : "", key);
                break;
            }
        }
    }
    for (k = 0; deleted && k < G_N_ELEMENTS(prefixes); k++) {
        if (strstr(deleted, prefixes[k])) {
            g_string_append_printf(out, "%sdelete: %s", out->len ? ", " : "", deleted);
            break;
        }
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}

gboolean
kt_pve_apply(const KtPveEnv *env, guint vmid, bool dry_run, char **ret_config,
             bool *ret_changed, char **ret_message, GError **error)
{
    g_auto(VmContext) ctx = { 0 };
    g_autoptr(GHashTable) bookings = NULL;
    g_autoptr(KtPlacement) pl = NULL;
    const KtPlacement *held;
    g_autofree char *lock_name = g_strdup_printf("lock-%u.conf", vmid);
    g_autofree char *lock_path = g_build_filename(env->lock_dir, lock_name, NULL);
    g_autofree char *path = conf_path(env, vmid);
    g_autofree char *old_text = NULL;
    g_autofree char *new_text = NULL;
    g_autofree char *what = NULL;
    g_autofree char *conflicts = NULL;
    AUTO_FD int conf_lock = -1;
    AUTO_FD int book_lock = -1;
    gsize new_len = 0;
    bool changed;

    /* Proxmox's own per-VM config lock, so `qm set` cannot interleave. */
    if (!dry_run) {
        if (g_mkdir_with_parents(env->lock_dir, 0755) < 0 ||
            (conf_lock = kt_pve_file_lock(lock_path, 10, error)) < 0) {
            if (error && !*error)
                g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot create %s", env->lock_dir);
            return FALSE;
        }
    }
    if (!load_context(env, vmid, &ctx, error))
        return FALSE;
    if (!ctx.profile) {
        if (ret_config)
            *ret_config = kt_pve_conf_format(ctx.conf, NULL);
        if (ret_changed)
            *ret_changed = false;
        if (ret_message)
            *ret_message = g_strdup_printf("VM %u (%s): no profile (%s), config unchanged",
                                           vmid, ctx.vm->name, ctx.reason);
        return TRUE;
    }

    if ((book_lock = kt_pve_book_lock(env->state_dir, error)) < 0)
        return FALSE;
    if (!(bookings = kt_pve_book_load_all(env->state_dir, error)))
        return FALSE;
    /* A running VM keeps what it holds; otherwise place it afresh on what
     * the bookings leave free, replacing what an earlier pve-apply wrote. */
    held = g_hash_table_lookup(bookings, GUINT_TO_POINTER(vmid));
    pl = held ? kt_placement_copy(held)
              : place_vm(env, &ctx, bookings, KT_PVE_KEEP_NONE, NULL, error);
    if (!pl)
        return FALSE;
    close_fd(&book_lock);

    old_text = kt_pve_conf_format(ctx.conf, NULL);
    if (!kt_pve_apply_placement(ctx.conf, ctx.vm, pl, error))
        return FALSE;
    new_text = kt_pve_conf_format(ctx.conf, &new_len);
    changed = strcmp(old_text, new_text) != 0;
    if (changed && !dry_run &&
        !kt_pve_file_write_atomic(path, new_text, new_len, 0640, error))
        return FALSE;

    what = describe(pl);
    conflicts = pending_conflicts(ctx.conf);
    if (ret_message)
        *ret_message = g_strdup_printf("VM %u (%s): profile %s (%s): %s%s%s%s",
                                       vmid, ctx.vm->name, ctx.profile->name, ctx.reason, what,
                                       !changed ? "; config already up to date" :
                                       dry_run ? "; dry run, config not written" :
                                       "; config written",
                                       conflicts[0] ? "; note: [PENDING] overrides " : "",
                                       conflicts);
    if (ret_changed)
        *ret_changed = changed;
    if (ret_config)
        *ret_config = g_steal_pointer(&new_text);
    return TRUE;
}
