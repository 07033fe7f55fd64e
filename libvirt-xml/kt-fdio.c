/* kt-fdio.c: writing a whole buffer to a file descriptor (kt-fdio.h). */
#include "kt-fdio.h"

#include <errno.h>
#include <unistd.h>

int
kt_write_all(int fd, const void *data, gsize len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        /* nothing taken and no error: retrying would spin */
        if (n == 0)
            return -EIO;
        p += n;
        len -= (gsize)n;
    }
    return 0;
}
