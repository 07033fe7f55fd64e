/* kt-fdio.h: writing a whole buffer to a file descriptor.
 *
 * write() may take less than it is given (a pipe, a socket, a signal);
 * every caller that must hand over all of its bytes loops the same way. */
#pragma once

#include <glib.h>

/* Writes all @len bytes of @data to @fd, retrying on EINTR and short
 * writes.  0 on success, else -errno (-EIO when write() took nothing). */
int kt_write_all(int fd, const void *data, gsize len);
