/* relay-floor: the cheapest possible proxy, as a baseline for bench-proxy.
 *
 *   relay-floor LISTEN_PATH UPSTREAM_PATH
 *
 * Accepts on LISTEN_PATH and, for each client, opens one connection to
 * UPSTREAM_PATH and copies bytes both ways on a thread of its own, blocking,
 * without decoding anything: no frames, no events, no rewrite, no main loop.
 * Whatever a define costs through it is the price of one more process on the
 * path on this machine (two more wake-ups and copies per call), a floor that
 * no proxy, kvmtuned included, can go below.  Prints "ready" once listening;
 * runs until killed.  Not for production: no FD passing, no limits. */
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "kt-fdio.h"

typedef struct {
    int client;
    int upstream;
} Pair;

static gpointer
relay_thread(gpointer data)
{
    Pair *pair = data;
    struct pollfd pfd[2] = {
        { .fd = pair->client, .events = POLLIN },
        { .fd = pair->upstream, .events = POLLIN },
    };
    g_autofree char *buf = g_malloc(65536);
    bool open = true;

    while (open) {
        if (poll(pfd, 2, -1) < 0) {
            open = errno == EINTR;
            continue;
        }
        for (int i = 0; i < 2 && open; i++) {
            ssize_t n;

            if (!pfd[i].revents)
                continue;
            n = read(pfd[i].fd, buf, 65536);
            if (n < 0 && errno == EINTR)
                continue;
            open = n > 0 && kt_write_all(pfd[1 - i].fd, buf, (gsize)n) == 0;
        }
    }
    close(pair->client);
    close(pair->upstream);
    g_free(pair);
    return NULL;
}

static int
unix_socket(const char *path, bool listen_on)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    strcpy(sa.sun_path, path);
    if (listen_on) {
        unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
            close(fd);
            return -1;
        }
    } else if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int
main(int argc, char **argv)
{
    int lfd;

    if (argc != 3) {
        fprintf(stderr, "usage: relay-floor LISTEN_PATH UPSTREAM_PATH\n");
        return 2;
    }
    if ((lfd = unix_socket(argv[1], true)) < 0) {
        fprintf(stderr, "relay-floor: cannot listen on %s: %s\n", argv[1], g_strerror(errno));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        Pair *pair;

        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            fprintf(stderr, "relay-floor: accept: %s\n", g_strerror(errno));
            return 1;
        }
        pair = g_new0(Pair, 1);
        pair->client = cfd;
        if ((pair->upstream = unix_socket(argv[2], false)) < 0) {
            fprintf(stderr, "relay-floor: cannot connect to %s: %s\n", argv[2],
                    g_strerror(errno));
            close(cfd);
            g_free(pair);
            continue;
        }
        g_thread_unref(g_thread_new("relay", relay_thread, pair));
    }
}
