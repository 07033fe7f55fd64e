/* Unit tests for busy-poll: the adaptation rule, and the poll function on a
 * real main context fed through a pipe by another thread.  The live cases
 * use a 10 ms maximum so that a loaded machine still has its events arrive
 * inside the window; they assert what the counters say, not timings. */
#include <unistd.h>

#include <glib-unix.h>

#include "busy-poll.h"

static void
test_rule(void)
{
    /* an event caught while polling keeps the window */
    g_assert_cmpuint(kt_busy_poll_next_window(80, 200, TRUE, 0), ==, 80);
    /* a block longer than the maximum: idle or slow, stop polling */
    g_assert_cmpuint(kt_busy_poll_next_window(80, 200, FALSE, 5000), ==, 0);
    g_assert_cmpuint(kt_busy_poll_next_window(200, 200, FALSE, 201), ==, 0);
    g_assert_cmpuint(kt_busy_poll_next_window(0, 200, FALSE, G_MAXUINT64), ==, 0);
    /* a short block a longer window would have caught: grow, from a start */
    g_assert_cmpuint(kt_busy_poll_next_window(0, 200, FALSE, 60), ==, 50);
    g_assert_cmpuint(kt_busy_poll_next_window(50, 200, FALSE, 60), ==, 100);
    g_assert_cmpuint(kt_busy_poll_next_window(0, 20, FALSE, 15), ==, 20);
    g_assert_cmpuint(kt_busy_poll_next_window(160, 200, FALSE, 190), ==, 200);
    /* shorter than the window (a race): leave it */
    g_assert_cmpuint(kt_busy_poll_next_window(80, 200, FALSE, 30), ==, 80);
    /* off */
    g_assert_cmpuint(kt_busy_poll_next_window(0, 0, FALSE, 50), ==, 0);
    g_assert_cmpuint(kt_busy_poll_next_window(0, 0, TRUE, 0), ==, 0);
}

typedef struct {
    int fds[2];
    guint writes;
    guint gap_us;
    guint seen;
} Feed;

static gpointer
feeder(gpointer data)
{
    Feed *f = data;
    guint i;

    for (i = 0; i < f->writes; i++) {
        g_usleep(f->gap_us);
        g_assert_cmpint(write(f->fds[1], "x", 1), ==, 1);
    }
    return NULL;
}

static gboolean
on_readable(gint fd, GIOCondition cond, gpointer data)
{
    Feed *f = data;
    char c;

    (void)cond;
    if (read(fd, &c, 1) == 1)
        f->seen++;
    return G_SOURCE_CONTINUE;
}

static gboolean gate_open;

static gboolean
gate(gpointer data)
{
    (void)data;
    return gate_open;
}

/* Runs @writes events @gap_us apart through a fresh context. */
static void
run_feed(guint max_us, guint writes, guint gap_us, KtBusyPollStats *stats)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    Feed f = { .writes = writes, .gap_us = gap_us };
    GSource *src;
    GThread *th;

    g_assert_cmpint(pipe(f.fds), ==, 0);
    src = g_unix_fd_source_new(f.fds[0], G_IO_IN);
    g_source_set_callback(src, G_SOURCE_FUNC(on_readable), &f, NULL);
    g_source_attach(src, ctx);
    kt_busy_poll_install(ctx, max_us, gate, NULL);
    th = g_thread_new("feeder", feeder, &f);
    while (f.seen < writes)
        g_main_context_iteration(ctx, TRUE);
    g_thread_join(th);
    kt_busy_poll_stats(stats);
    kt_busy_poll_install(ctx, 0, NULL, NULL);
    g_source_destroy(src);
    g_source_unref(src);
    close(f.fds[0]);
    close(f.fds[1]);
}

static void
test_catches_close_events(void)
{
    KtBusyPollStats st;

    gate_open = TRUE;
    run_feed(10000, 200, 100, &st);
    /* the window grew from nothing and then caught events while polling */
    g_assert_cmpuint(st.max_us, ==, 10000);
    g_assert_cmpuint(st.hits, >, 0);
    g_assert_cmpuint(st.spin_us, >, 0);
    g_assert_cmpuint(st.gated, ==, 0);
    g_assert_cmpuint(st.window_us, <=, 10000);
}

static gboolean
on_timeout(gpointer data)
{
    (*(guint *)data)++;
    return G_SOURCE_CONTINUE;
}

static void
test_idle_shrinks(void)
{
    g_autoptr(GMainContext) ctx = g_main_context_new();
    KtBusyPollStats st;
    GSource *src;
    guint ticks = 0;

    gate_open = TRUE;
    /* grow the window first */
    run_feed(10000, 50, 100, &st);
    g_assert_cmpuint(st.window_us, >, 0);
    /* then only a 30 ms timer: the poll runs out, the window drops to 0 */
    src = g_timeout_source_new(30);
    g_source_set_callback(src, on_timeout, &ticks, NULL);
    g_source_attach(src, ctx);
    kt_busy_poll_install(ctx, 10000, gate, NULL);
    while (ticks < 20)
        g_main_context_iteration(ctx, TRUE);
    kt_busy_poll_stats(&st);
    g_assert_cmpuint(st.window_us, ==, 0);
    g_assert_cmpuint(st.hits, ==, 0);
    kt_busy_poll_install(ctx, 0, NULL, NULL);
    g_source_destroy(src);
    g_source_unref(src);
}

static void
test_gate_closed(void)
{
    KtBusyPollStats st;

    gate_open = FALSE;
    run_feed(10000, 50, 100, &st);
    g_assert_cmpuint(st.hits, ==, 0);
    g_assert_cmpuint(st.spin_us, ==, 0);
    g_assert_cmpuint(st.gated, >=, 50);
}

static void
test_off(void)
{
    KtBusyPollStats st;

    gate_open = TRUE;
    run_feed(0, 50, 100, &st);
    g_assert_cmpuint(st.hits + st.misses + st.gated + st.spin_us, ==, 0);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/busy-poll/rule", test_rule);
    g_test_add_func("/busy-poll/catches-close-events", test_catches_close_events);
    g_test_add_func("/busy-poll/idle-shrinks", test_idle_shrinks);
    g_test_add_func("/busy-poll/gate-closed", test_gate_closed);
    g_test_add_func("/busy-poll/off", test_off);
    return g_test_run();
}
