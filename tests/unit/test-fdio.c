/* Unit tests for kt_write_all: a buffer far larger than a pipe's capacity
 * goes through whole while another thread reads it and interrupts the
 * writer with a signal after each of its first reads (a blocking write
 * returns short only when a signal lands after some bytes went through;
 * the interruptions are bounded, so a slow machine or valgrind still ends),
 * and a write to a pipe nobody reads any more reports -EPIPE. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "kt-fdio.h"

#define BIG (4 * 1024 * 1024)
#define INTERRUPTS 500

typedef struct {
    int fd;
    pthread_t writer;
} Drain;

static void
on_signal(int sig)
{
    (void)sig;
}

static gpointer
drain(gpointer data)
{
    Drain *dr = data;
    GByteArray *got = g_byte_array_new();
    g_autofree guint8 *buf = g_malloc(4096);
    guint reads = 0;
    ssize_t n;

    while ((n = read(dr->fd, buf, 4096)) > 0) {
        g_byte_array_append(got, buf, (guint)n);
        if (reads++ < INTERRUPTS)
            pthread_kill(dr->writer, SIGUSR1);
    }
    return got;
}

static void
test_short_writes(void)
{
    g_autofree guint8 *data = g_malloc(BIG);
    g_autoptr(GByteArray) got = NULL;
    struct sigaction sa = { .sa_handler = on_signal };    /* no SA_RESTART */
    struct sigaction old;
    GThread *reader;
    Drain dr;
    int p[2];
    gsize i;

    for (i = 0; i < BIG; i++)
        data[i] = (guint8)(i * 7 + i / 251);
    g_assert_cmpint(pipe(p), ==, 0);
    sigaction(SIGUSR1, &sa, &old);
    dr.fd = p[0];
    dr.writer = pthread_self();
    reader = g_thread_new("drain", drain, &dr);
    g_assert_cmpint(kt_write_all(p[1], data, BIG), ==, 0);
    close(p[1]);
    got = g_thread_join(reader);
    close(p[0]);
    sigaction(SIGUSR1, &old, NULL);
    g_assert_cmpmem(got->data, got->len, data, BIG);
}

static void
test_error(void)
{
    int p[2];

    g_assert_cmpint(pipe(p), ==, 0);
    close(p[0]);
    g_assert_cmpint(kt_write_all(p[1], "x", 1), ==, -EPIPE);
    close(p[1]);
    g_assert_cmpint(kt_write_all(p[1], "x", 1), ==, -EBADF);
    /* nothing to write is no write at all */
    g_assert_cmpint(kt_write_all(-1, "", 0), ==, 0);
}

int
main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/fdio/short-writes", test_short_writes);
    g_test_add_func("/fdio/error", test_error);
    return g_test_run();
}
