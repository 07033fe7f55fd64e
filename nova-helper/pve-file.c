/* pve-file.c: bounded reads, atomic writes and locks for the Proxmox edge. */
#include "pve-file.h"
#include "kt-error.h"
#include "kt-fdio.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static gboolean
io_error(GError **error, int err, const char *what, const char *path)
{
    g_set_error(error, KT_ERROR, err == ENOENT ? KT_ERROR_NOT_FOUND : KT_ERROR_IO,
                "%s %s: %s", what, path, g_strerror(err));
    return FALSE;
}

gboolean
kt_pve_file_read(const char *path, gsize max, char **ret_data, gsize *ret_len,
                 GError **error)
{
    g_autoptr(GString) buf = g_string_new(NULL);
    char chunk[2048];
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return io_error(error, errno, "cannot open", path);
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;

            close(fd);
            return io_error(error, err, "cannot read", path);
        }
        if (n == 0)
            break;
        if (buf->len + (gsize)n > max) {
            close(fd);
            g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                        "%s: larger than %" G_GSIZE_FORMAT " bytes", path, max);
            return FALSE;
        }
        g_string_append_len(buf, chunk, n);
    }
    close(fd);
    if (ret_len)
        *ret_len = buf->len;
    *ret_data = g_string_free(g_steal_pointer(&buf), FALSE);
    return TRUE;
}

/* fsync the directory so the rename itself survives a crash.  Some FUSE
 * file systems (pmxcfs) reject fsync on a directory: that is fine, they
 * commit on rename. */
static void
sync_dir(const char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return;
    (void)fsync(fd);
    close(fd);
}

gboolean
kt_pve_file_write_atomic(const char *path, const char *data, gsize len,
                         mode_t mode, GError **error)
{
    g_autofree char *tmp = g_strdup_printf("%s.tmp.%ld", path, (long)getpid());
    struct stat st;
    bool have_old = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    int fd;
    int r;

    if (have_old)
        mode = st.st_mode & 07777;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0 && errno == EEXIST) {
        /* Left by a crashed run with our pid: it is ours to replace. */
        (void)unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    }
    if (fd < 0)
        return io_error(error, errno, "cannot create", tmp);
    if (have_old) {
        /* Best effort: Proxmox configs are root:www-data 0640. */
        if (fchown(fd, st.st_uid, st.st_gid) < 0) {
            /* not root, or pmxcfs: its own permissions apply */
        }
        (void)fchmod(fd, mode);
    }
    r = kt_write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0) {
        (void)unlink(tmp);
        return io_error(error, -r, "cannot write", path);
    }
    sync_dir(path);
    return TRUE;
}

gboolean
kt_pve_file_remove(const char *path, GError **error)
{
    if (unlink(path) < 0 && errno != ENOENT)
        return io_error(error, errno, "cannot remove", path);
    sync_dir(path);
    return TRUE;
}

static void
on_alarm(int sig)
{
    /* Only interrupts flock(). */
}

int
kt_pve_file_lock(const char *path, guint timeout_s, GError **error)
{
    struct sigaction sa, old_sa;
    int fd;
    int r;

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        io_error(error, errno, "cannot open lock file", path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return fd;
    if (errno != EWOULDBLOCK) {
        io_error(error, errno, "cannot lock", path);
        close(fd);
        return -1;
    }

    /* Block with a deadline: SIGALRM without SA_RESTART makes flock()
     * return EINTR, like Proxmox's own lock_file() timeout. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, &old_sa);
    alarm(timeout_s > 0 ? timeout_s : 1);
    r = flock(fd, LOCK_EX);
    if (r < 0)
        r = -errno;
    alarm(0);
    sigaction(SIGALRM, &old_sa, NULL);
    if (r < 0) {
        if (r == -EINTR)
            g_set_error(error, KT_ERROR, KT_ERROR_IO,
                        "cannot lock %s: timed out after %u s", path, timeout_s);
        else
            io_error(error, -r, "cannot lock", path);
        close(fd);
        return -1;
    }
    return fd;
}
