/* Unit tests for event-glib.c: libvirt's event API (virEventAddHandle and
 * friends) served by kvmtuned's GLib implementation on the default main
 * context, as libvirt's RPC client uses it. */
#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>
#include <libvirt/libvirt.h>

#include "event-glib.h"

typedef struct {
    int calls;
    int last_events;
    int last_watch;
    bool drain;
    int frees;
    int arm_timer;        /* >0: arm this timer at interval 0 from the callback */
} Probe;

static void
on_handle(int watch, int fd, int events, void *opaque)
{
    Probe *p = opaque;
    char c;

    p->calls++;
    p->last_events = events;
    p->last_watch = watch;
    if (p->drain && (events & VIR_EVENT_HANDLE_READABLE))
        g_assert_cmpint(read(fd, &c, 1), ==, 1);
    if (p->arm_timer > 0)
        virEventUpdateTimeout(p->arm_timer, 0);
}

static void
on_free(void *opaque)
{
    Probe *p = opaque;

    p->frees++;
}

static void
on_timer(int timer, void *opaque)
{
    Probe *p = opaque;

    p->calls++;
    p->last_watch = timer;
}

/* Iterates until @done says so or 2 s pass; false on the timeout. */
static bool
iterate_until(bool (*done)(Probe *), Probe *p)
{
    gint64 end = g_get_monotonic_time() + 2 * G_USEC_PER_SEC;

    while (!done(p)) {
        if (g_get_monotonic_time() > end)
            return false;
        g_main_context_iteration(NULL, FALSE);
        g_usleep(100);
    }
    return true;
}

static bool
called(Probe *p)
{
    return p->calls > 0;
}

static bool
freed(Probe *p)
{
    return p->frees > 0;
}

static void
drain_context(void)
{
    while (g_main_context_iteration(NULL, FALSE))
        ;
}

static void
make_pipe(int fds[2])
{
    g_assert_cmpint(pipe2(fds, O_CLOEXEC | O_NONBLOCK), ==, 0);
}

static void
test_handle(void)
{
    Probe p = { .drain = true };
    int fds[2];
    int watch;

    make_pipe(fds);
    watch = virEventAddHandle(fds[0], VIR_EVENT_HANDLE_READABLE, on_handle, &p, on_free);
    g_assert_cmpint(watch, >, 0);
    drain_context();
    g_assert_cmpint(p.calls, ==, 0);

    g_assert_cmpint(write(fds[1], "x", 1), ==, 1);
    g_assert_true(iterate_until(called, &p));
    g_assert_cmpint(p.last_watch, ==, watch);
    g_assert_cmpint(p.last_events, ==, VIR_EVENT_HANDLE_READABLE);

    /* events 0: not told, even with data waiting */
    virEventUpdateHandle(watch, 0);
    p.calls = 0;
    g_assert_cmpint(write(fds[1], "y", 1), ==, 1);
    drain_context();
    g_usleep(10000);
    drain_context();
    g_assert_cmpint(p.calls, ==, 0);
    /* asked again: told at once about what is already there */
    virEventUpdateHandle(watch, VIR_EVENT_HANDLE_READABLE);
    g_assert_true(iterate_until(called, &p));

    /* the free callback never runs inside the remove call */
    g_assert_cmpint(virEventRemoveHandle(watch), ==, 0);
    g_assert_cmpint(p.frees, ==, 0);
    g_assert_true(iterate_until(freed, &p));
    g_assert_cmpint(p.frees, ==, 1);
    g_assert_cmpint(virEventRemoveHandle(watch), ==, -1);
    drain_context();
    g_assert_cmpint(p.frees, ==, 1);
    close(fds[0]);
    close(fds[1]);
}

/* A socket libvirt does not want to hear about (events 0) that hangs up
 * must not keep the loop spinning: the fd leaves the poll set. */
static void
test_hangup_while_disabled(void)
{
    Probe p = { 0 };
    int fds[2];
    int watch;

    make_pipe(fds);
    watch = virEventAddHandle(fds[0], VIR_EVENT_HANDLE_READABLE, on_handle, &p, NULL);
    drain_context();
    virEventUpdateHandle(watch, 0);
    close(fds[1]);
    drain_context();
    g_assert_false(g_main_context_pending(NULL));
    g_assert_cmpint(p.calls, ==, 0);
    /* asked again, the hang-up is reported */
    virEventUpdateHandle(watch, VIR_EVENT_HANDLE_READABLE);
    g_assert_true(iterate_until(called, &p));
    g_assert_true(p.last_events & VIR_EVENT_HANDLE_HANGUP);
    virEventRemoveHandle(watch);
    drain_context();
    close(fds[0]);
}

static void
test_timers(void)
{
    Probe p = { 0 };
    Probe off = { 0 };
    gint64 t0;
    int timer;
    int never;
    int i;

    /* interval 0: fires on every iteration until changed */
    timer = virEventAddTimeout(0, on_timer, &p, on_free);
    g_assert_cmpint(timer, >, 0);
    for (i = 0; i < 5; i++)
        g_main_context_iteration(NULL, FALSE);
    g_assert_cmpint(p.calls, ==, 5);
    g_assert_cmpint(p.last_watch, ==, timer);

    /* -1: never */
    virEventUpdateTimeout(timer, -1);
    p.calls = 0;
    drain_context();
    g_assert_cmpint(p.calls, ==, 0);

    /* 30 ms: not before, and again 30 ms later */
    t0 = g_get_monotonic_time();
    virEventUpdateTimeout(timer, 30);
    g_main_context_iteration(NULL, TRUE);
    while (p.calls < 2)
        g_main_context_iteration(NULL, TRUE);
    g_assert_cmpint(g_get_monotonic_time() - t0, >=, 60000);

    never = virEventAddTimeout(-1, on_timer, &off, NULL);
    virEventUpdateTimeout(timer, -1);
    drain_context();
    g_assert_cmpint(off.calls, ==, 0);

    g_assert_cmpint(virEventRemoveTimeout(timer), ==, 0);
    g_assert_cmpint(p.frees, ==, 0);
    g_assert_true(iterate_until(freed, &p));
    g_assert_cmpint(virEventRemoveTimeout(timer), ==, -1);
    g_assert_cmpint(virEventRemoveTimeout(never), ==, 0);
    drain_context();
}

/* libvirt flushes the events a message brought from a timer of interval 0
 * armed while reading it: it fires in the same iteration as the read. */
static void
test_timer_armed_by_handle(void)
{
    Probe t = { 0 };
    Probe h = { .drain = true };
    int fds[2];
    int watch;

    make_pipe(fds);
    h.arm_timer = virEventAddTimeout(-1, on_timer, &t, NULL);
    watch = virEventAddHandle(fds[0], VIR_EVENT_HANDLE_READABLE, on_handle, &h, NULL);
    drain_context();
    g_assert_cmpint(write(fds[1], "x", 1), ==, 1);
    while (!h.calls)
        g_main_context_iteration(NULL, TRUE);
    g_assert_cmpint(t.calls, >=, 1);
    virEventUpdateTimeout(h.arm_timer, -1);
    virEventRemoveHandle(watch);
    virEventRemoveTimeout(h.arm_timer);
    drain_context();
    close(fds[0]);
    close(fds[1]);
}

typedef struct {
    int timer;
    int watch;
} Foreign;

static gpointer
foreign_thread(gpointer data)
{
    Foreign *f = data;

    g_usleep(50000);     /* the main thread is asleep in poll by now */
    if (f->timer)
        virEventUpdateTimeout(f->timer, 0);
    else
        virEventUpdateHandle(f->watch, VIR_EVENT_HANDLE_READABLE);
    return NULL;
}

static gboolean
give_up(gpointer data)
{
    *(bool *)data = true;
    return G_SOURCE_REMOVE;
}

/* Updates from another thread (libvirt's RPC calls from kvmtuned's
 * workers) wake a loop blocked in poll. */
static void
test_foreign_thread_wakes_loop(void)
{
    Probe t = { 0 };
    Probe h = { .drain = true };
    Foreign f = { 0 };
    bool late = false;
    guint guard;
    GThread *th;
    int fds[2];

    f.timer = virEventAddTimeout(-1, on_timer, &t, NULL);
    drain_context();
    guard = g_timeout_add_seconds(5, give_up, &late);
    th = g_thread_new("foreign", foreign_thread, &f);
    while (!t.calls && !late)
        g_main_context_iteration(NULL, TRUE);
    g_thread_join(th);
    g_assert_false(late);
    virEventRemoveTimeout(f.timer);

    make_pipe(fds);
    g_assert_cmpint(write(fds[1], "x", 1), ==, 1);
    f.timer = 0;
    f.watch = virEventAddHandle(fds[0], 0, on_handle, &h, NULL);
    drain_context();
    th = g_thread_new("foreign", foreign_thread, &f);
    while (!h.calls && !late)
        g_main_context_iteration(NULL, TRUE);
    g_thread_join(th);
    g_assert_false(late);
    g_source_remove(guard);
    virEventRemoveHandle(f.watch);
    drain_context();
    close(fds[0]);
    close(fds[1]);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    kt_event_glib_register();
    kt_event_glib_register();     /* a second call changes nothing */
    g_test_add_func("/event-glib/handle", test_handle);
    g_test_add_func("/event-glib/hangup-while-disabled", test_hangup_while_disabled);
    g_test_add_func("/event-glib/timers", test_timers);
    g_test_add_func("/event-glib/timer-armed-by-handle", test_timer_armed_by_handle);
    g_test_add_func("/event-glib/foreign-thread-wakes-loop", test_foreign_thread_wakes_loop);
    return g_test_run();
}
