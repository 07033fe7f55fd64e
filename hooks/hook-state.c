/* hook-state.c: the hook's own records; see hook-state.h. */
#include "hook-state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "kt-error.h"
#include "mdev.h"

#define GROUP "domain"
/* A record lists a domain's mdevs and VFs: a few hundred bytes. */
#define RECORD_MAX (64 * 1024)

struct _KtHookState {
    char *dir;
    char *domains;
    char *vf;
    int lock_fd;
};

KtHookRecord *
kt_hook_record_new(const char *uuid, const char *name)
{
    KtHookRecord *rec = g_new0(KtHookRecord, 1);

    rec->uuid = g_strdup(uuid);
    rec->name = g_strdup(name);
    rec->mdevs = g_ptr_array_new_with_free_func((GDestroyNotify)kt_placement_mdev_free);
    rec->vfs = g_ptr_array_new_with_free_func(g_free);
    return rec;
}

void
kt_hook_record_free(KtHookRecord *rec)
{
    if (!rec)
        return;
    g_free(rec->uuid);
    g_free(rec->name);
    g_ptr_array_unref(rec->mdevs);
    g_ptr_array_unref(rec->vfs);
    g_free(rec);
}

void
kt_hook_record_add_mdev(KtHookRecord *rec, const KtPlacementMdev *m)
{
    KtPlacementMdev *copy = g_new0(KtPlacementMdev, 1);

    copy->parent = g_strdup(m->parent);
    copy->type = g_strdup(m->type);
    copy->uuid = g_strdup(m->uuid);
    copy->node = m->node;
    g_ptr_array_add(rec->mdevs, copy);
}

bool
kt_hook_record_has_mdev(const KtHookRecord *rec, const char *uuid)
{
    guint i;

    for (i = 0; i < rec->mdevs->len; i++) {
        const KtPlacementMdev *m = g_ptr_array_index(rec->mdevs, i);

        if (strcmp(m->uuid, uuid) == 0)
            return true;
    }
    return false;
}

void
kt_hook_state_free(KtHookState *st)
{
    if (!st)
        return;
    if (st->lock_fd >= 0)
        close(st->lock_fd);      /* releases the flock */
    g_free(st->dir);
    g_free(st->domains);
    g_free(st->vf);
    g_free(st);
}

static gboolean
ensure_dir(const char *path, GError **error)
{
    if (g_mkdir_with_parents(path, 0700) < 0) {
        int saved = errno;

        g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot create %s: %s",
                    path, g_strerror(saved));
        return FALSE;
    }
    return TRUE;
}

KtHookState *
kt_hook_state_open(const char *dir, GError **error)
{
    g_autoptr(KtHookState) st = g_new0(KtHookState, 1);
    g_autofree char *lock = NULL;

    st->lock_fd = -1;
    st->dir = g_strdup(dir);
    st->domains = g_build_filename(dir, "domains", NULL);
    st->vf = g_build_filename(dir, "vf", NULL);
    if (!ensure_dir(st->domains, error) || !ensure_dir(st->vf, error))
        return NULL;

    lock = g_build_filename(dir, "lock", NULL);
    st->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (st->lock_fd < 0) {
        int saved = errno;

        g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot open %s: %s",
                    lock, g_strerror(saved));
        return NULL;
    }
    while (flock(st->lock_fd, LOCK_EX) < 0) {
        int saved = errno;

        if (saved == EINTR)
            continue;
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot lock %s: %s",
                    lock, g_strerror(saved));
        return NULL;
    }
    return g_steal_pointer(&st);
}

/* The record file of domain @uuid; NULL + @error unless @uuid is canonical,
 * which also keeps it a plain file name. */
static char *
record_path(KtHookState *st, const char *uuid, GError **error)
{
    g_autofree char *base = NULL;

    if (!kt_mdev_uuid_valid(uuid)) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                    "domain uuid is not canonical");
        return NULL;
    }
    base = g_strconcat(uuid, ".conf", NULL);
    return g_build_filename(st->domains, base, NULL);
}

/* "parent/type/uuid": every part validated, so '/' cannot occur inside. */
static KtPlacementMdev *
mdev_parse(const char *text)
{
    g_auto(GStrv) parts = g_strsplit(text, "/", 4);
    KtPlacementMdev *m;

    if (g_strv_length(parts) != 3 ||
        !kt_mdev_check_names(parts[0], parts[1], parts[2], NULL))
        return NULL;
    m = g_new0(KtPlacementMdev, 1);
    m->parent = g_strdup(parts[0]);
    m->type = g_strdup(parts[1]);
    m->uuid = g_strdup(parts[2]);
    return m;
}

gboolean
kt_hook_state_load(KtHookState *st, const char *uuid, KtHookRecord **ret_rec,
                   GError **error)
{
    g_autofree char *path = NULL;
    g_autofree char *text = NULL;
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(KtHookRecord) rec = NULL;
    g_autoptr(GError) local = NULL;
    g_auto(GStrv) mdevs = NULL;
    g_auto(GStrv) vfs = NULL;
    g_autofree char *name = NULL;
    gsize len = 0;
    gsize i;

    path = record_path(st, uuid, error);
    if (!path)
        return FALSE;
    if (!g_file_get_contents(path, &text, &len, &local)) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            *ret_rec = NULL;
            return TRUE;
        }
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "%s", local->message);
        return FALSE;
    }
    if (len > RECORD_MAX ||
        !g_key_file_load_from_data(kf, text, len, G_KEY_FILE_NONE, &local)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "%s: %s", path,
                    local ? local->message : "too large");
        return FALSE;
    }
    name = g_key_file_get_string(kf, GROUP, "name", NULL);
    rec = kt_hook_record_new(uuid, name);
    mdevs = g_key_file_get_string_list(kf, GROUP, "mdevs", NULL, NULL);
    for (i = 0; mdevs && mdevs[i]; i++) {
        KtPlacementMdev *m = mdev_parse(mdevs[i]);

        if (!m) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                        "%s: bad mdev entry '%s'", path, mdevs[i]);
            return FALSE;
        }
        g_ptr_array_add(rec->mdevs, m);
    }
    vfs = g_key_file_get_string_list(kf, GROUP, "vfs", NULL, NULL);
    for (i = 0; vfs && vfs[i]; i++) {
        if (!kt_pci_address_valid(vfs[i])) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                        "%s: bad VF address '%s'", path, vfs[i]);
            return FALSE;
        }
        g_ptr_array_add(rec->vfs, g_strdup(vfs[i]));
    }
    *ret_rec = g_steal_pointer(&rec);
    return TRUE;
}

gboolean
kt_hook_state_find_name(KtHookState *st, const char *name,
                        KtHookRecord **ret_rec, GError **error)
{
    g_autoptr(GDir) dir = g_dir_open(st->domains, 0, NULL);
    const char *entry;

    while (dir && (entry = g_dir_read_name(dir))) {
        g_autoptr(KtHookRecord) rec = NULL;
        g_autofree char *uuid = NULL;

        if (!g_str_has_suffix(entry, ".conf"))
            continue;
        uuid = g_strndup(entry, strlen(entry) - strlen(".conf"));
        if (!kt_mdev_uuid_valid(uuid))
            continue;
        if (!kt_hook_state_load(st, uuid, &rec, error))
            return FALSE;
        if (rec && rec->name && g_strcmp0(rec->name, name) == 0) {
            *ret_rec = g_steal_pointer(&rec);
            return TRUE;
        }
    }
    *ret_rec = NULL;
    return TRUE;
}

/* Atomic replace (temp file + rename) without fsync: the state lives on
 * tmpfs (/run) and is meant to vanish with a reboot, while an fsync per
 * record would cost the hook milliseconds on a disk-backed test dir. */
/* Writes @text to a new @tmp and renames it over @path.  0 or -errno. */
static int
replace_file(const char *tmp, const char *path, const char *text)
{
    gsize len = strlen(text);
    gsize done = 0;
    int fd;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = n < 0 ? errno : EIO;

            close(fd);
            return -saved;
        }
        done += (gsize)n;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0)
        return -errno;
    return 0;
}

/* Atomic replace (temp file + rename) without fsync: the state lives on
 * tmpfs (/run) and is meant to vanish with a reboot, while an fsync per
 * record would cost the hook milliseconds on a disk-backed directory. */
static gboolean
set_contents(const char *path, const char *text, GError **error)
{
    g_autofree char *tmp = g_strconcat(path, ".tmp", NULL);
    int r = replace_file(tmp, path, text);

    if (r < 0) {
        unlink(tmp);
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot write %s: %s",
                    path, g_strerror(-r));
        return FALSE;
    }
    return TRUE;
}

gboolean
kt_hook_state_save(KtHookState *st, const KtHookRecord *rec, GError **error)
{
    g_autoptr(GKeyFile) kf = g_key_file_new();
    g_autoptr(GPtrArray) mdevs = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *path = NULL;
    g_autofree char *text = NULL;
    guint i;

    path = record_path(st, rec->uuid, error);
    if (!path)
        return FALSE;
    for (i = 0; i < rec->vfs->len; i++) {
        const char *vf = g_ptr_array_index(rec->vfs, i);
        g_autofree char *claim = NULL;

        if (!kt_pci_address_valid(vf)) {
            g_set_error(error, KT_ERROR, KT_ERROR_INVALID,
                        "VF address is not a PCI address");
            return FALSE;
        }
        claim = g_build_filename(st->vf, vf, NULL);
        if (!set_contents(claim, rec->uuid, error))
            return FALSE;
    }
    for (i = 0; i < rec->mdevs->len; i++) {
        const KtPlacementMdev *m = g_ptr_array_index(rec->mdevs, i);

        if (!kt_mdev_check_names(m->parent, m->type, m->uuid, error))
            return FALSE;
        g_ptr_array_add(mdevs, g_strdup_printf("%s/%s/%s", m->parent, m->type, m->uuid));
    }

    g_key_file_set_string(kf, GROUP, "uuid", rec->uuid);
    if (rec->name)
        g_key_file_set_string(kf, GROUP, "name", rec->name);
    g_key_file_set_string_list(kf, GROUP, "mdevs",
                               (const char *const *)mdevs->pdata, mdevs->len);
    g_key_file_set_string_list(kf, GROUP, "vfs",
                               (const char *const *)rec->vfs->pdata, rec->vfs->len);
    text = g_key_file_to_data(kf, NULL, NULL);
    return set_contents(path, text, error);
}

char *
kt_hook_state_vf_owner(KtHookState *st, const char *vf)
{
    g_autofree char *claim = NULL;
    g_autofree char *text = NULL;

    if (!kt_pci_address_valid(vf))
        return NULL;
    claim = g_build_filename(st->vf, vf, NULL);
    if (!g_file_get_contents(claim, &text, NULL, NULL))
        return NULL;
    g_strstrip(text);
    if (!kt_mdev_uuid_valid(text))
        return NULL;
    return g_steal_pointer(&text);
}

gboolean
kt_hook_state_delete(KtHookState *st, const KtHookRecord *rec, GError **error)
{
    g_autofree char *path = NULL;
    guint i;

    path = record_path(st, rec->uuid, error);
    if (!path)
        return FALSE;
    for (i = 0; i < rec->vfs->len; i++) {
        const char *vf = g_ptr_array_index(rec->vfs, i);
        g_autofree char *owner = kt_hook_state_vf_owner(st, vf);

        /* Another domain may have claimed the VF since (after a stale
         * record): its claim is not ours to drop. */
        if (owner && strcmp(owner, rec->uuid) == 0) {
            g_autofree char *claim = g_build_filename(st->vf, vf, NULL);

            if (unlink(claim) < 0 && errno != ENOENT) {
                int saved = errno;

                g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot remove %s: %s",
                            claim, g_strerror(saved));
                return FALSE;
            }
        }
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        int saved = errno;

        g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot remove %s: %s",
                    path, g_strerror(saved));
        return FALSE;
    }
    return TRUE;
}
