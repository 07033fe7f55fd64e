/* unix-socket: see unix-socket.h. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kt-error.h"
#include "unix-socket.h"

int
kt_unix_socket(const char *path, int flags, struct sockaddr_un *addr, GError **error)
{
    int fd;

    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr->sun_path)) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "socket path too long: %s", path);
        return -1;
    }
    strcpy(addr->sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
    if (fd < 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "socket: %s", g_strerror(errno));
        return -1;
    }
    return fd;
}

int
kt_unix_bind(const char *path, GError **error)
{
    struct sockaddr_un addr;
    int fd = kt_unix_socket(path, SOCK_NONBLOCK, &addr, error);

    if (fd < 0)
        return -1;
    if (unlink(path) < 0 && errno != ENOENT) {
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot remove %s: %s", path,
                    g_strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot bind %s: %s", path,
                    g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}
