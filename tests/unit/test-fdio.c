/* Unit tests for kt_write_all: a buffer far larger than a pipe's capacity
 * goes through whole while another thread reads and a timer interrupts the
 * writer (a blocking write returns short only when a signal lands after
 * some bytes went through), and a write to a pipe nobody reads any more
 * reports -EPIPE. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include "kt-fdio.h"

#define BIG (16 * 1024 * 1024)

static void
on_alarm(int sig)
{
    (void)sig;
}

static gpointer
drain(gpointer data)
{
    int fd = GPOINTER_TO_INT(data);
    GByteArray *got = g_byte_array_new();
    guint8 buf[4096];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0)
        g_byte_array_append(got, buf, (guint)n);
    return got;
}

static void
test_short_writes(void)
{
    g_autofree guint8 *data = g_malloc(BIG);
    g_autoptr(GByteArray) got = NULL;
    GThread *reader;
    int p[2];
    gsize i;
    struct sigaction sa = { .sa_handler = on_alarm };    /* no SA_RESTART */
    struct itimerval every_ms = { { 0, 1000 }, { 0, 1000 } };
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    sigset_t alarm_set;

    for (i = 0; i < BIG; i++)
        data[i] = (guint8)(i * 7 + i / 251);
    g_assert_cmpint(pipe(p), ==, 0);
    /* only the writer may take the alarm: the reader starts with it blocked */
    sigemptyset(&alarm_set);
    sigaddset(&alarm_set, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alarm_set, NULL);
    reader = g_thread_new("drain", drain, GINT_TO_POINTER(p[0]));
    pthread_sigmask(SIG_UNBLOCK, &alarm_set, NULL);
    sigaction(SIGALRM, &sa, NULL);
    setitimer(ITIMER_REAL, &every_ms, NULL);
    g_assert_cmpint(kt_write_all(p[1], data, BIG), ==, 0);
    setitimer(ITIMER_REAL, &off, NULL);
    close(p[1]);
    got = g_thread_join(reader);
    close(p[0]);
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
