/* unix-socket: the AF_UNIX stream sockets of kvmtuned's two servers (the
 * libvirt proxy, the control socket) and their clients (the proxy's
 * upstream connection to libvirtd, `kvmtune` talking to kvmtuned). */
#pragma once

#include <sys/un.h>

#include <glib.h>

/* A close-on-exec AF_UNIX stream socket (@flags: 0 or SOCK_NONBLOCK) and,
 * in @addr, the address of @path for connect() or bind(); -1 + @error when
 * @path does not fit sun_path or socket() fails. */
int kt_unix_socket(const char *path, int flags, struct sockaddr_un *addr, GError **error);

/* A non-blocking socket bound to @path, after removing what is there (a
 * socket left by an earlier run); -1 + @error.  The caller sets the
 * file's owner and mode and calls listen(). */
int kt_unix_bind(const char *path, GError **error);
