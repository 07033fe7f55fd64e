/* busy-poll.c: adaptive busy polling for the GLib main loop (busy-poll.h). */
#include "busy-poll.h"

#include <sched.h>

/* The first window after an idle period: a quarter of the default maximum,
 * so a caller's stream of calls is caught again after two misses, not
 * five (KVM starts at 10 us; its waits are not a relay's round trips). */
#define KT_BUSY_POLL_START_US 50

static KtBusyPollStats state;
static KtBusyPollGate gate_fn;
static gpointer gate_data;

guint
kt_busy_poll_next_window(guint window_us, guint max_us, gboolean hit, guint64 block_us)
{
    if (hit || max_us == 0)
        return MIN(window_us, max_us);
    if (block_us > max_us)
        return 0;      /* idle, or waiting on something slow: stop (KVM's default) */
    if (block_us > window_us) {
        /* a longer window would have caught this event */
        guint next = window_us ? window_us * 2 : KT_BUSY_POLL_START_US;

        return MIN(next, max_us);
    }
    return window_us;
}

static gint
busy_poll(GPollFD *fds, guint nfds, gint timeout_ms)
{
    gint64 start, now, block_start;
    gint ret;

    if (timeout_ms == 0)
        return g_poll(fds, nfds, timeout_ms);
    if (gate_fn && !gate_fn(gate_data)) {
        state.gated++;
        return g_poll(fds, nfds, timeout_ms);
    }

    start = now = g_get_monotonic_time();
    if (state.window_us > 0) {
        /* a timer due inside the window bounds the spin too */
        gint64 limit = state.window_us;

        if (timeout_ms > 0)
            limit = MIN(limit, (gint64)timeout_ms * 1000);
        do {
            ret = g_poll(fds, nfds, 0);
            now = g_get_monotonic_time();
            if (ret != 0) {
                state.hits++;
                state.spin_us += (guint64)(now - start);
                return ret;
            }
            /* a thread woken onto this CPU (libvirtd's, say) runs first:
             * polling must not delay the very reply it waits for */
            sched_yield();
        } while (now - start < limit);
        state.spin_us += (guint64)(now - start);
        if (timeout_ms > 0) {
            timeout_ms -= (gint)((now - start) / 1000);
            if (timeout_ms <= 0)
                return 0;
        }
    }
    block_start = now;
    ret = g_poll(fds, nfds, timeout_ms);
    now = g_get_monotonic_time();
    /* a timer firing is not an event anyone was waiting for */
    if (ret > 0) {
        state.misses++;
        state.window_us = kt_busy_poll_next_window(state.window_us, state.max_us, FALSE,
                                                   (guint64)(now - block_start));
    } else if (ret == 0) {
        state.window_us = kt_busy_poll_next_window(state.window_us, state.max_us, FALSE,
                                                   G_MAXUINT64);
    }
    return ret;
}

void
kt_busy_poll_install(GMainContext *ctx, guint max_us, KtBusyPollGate gate, gpointer data)
{
    state = (KtBusyPollStats){ .max_us = max_us };
    gate_fn = gate;
    gate_data = data;
    g_main_context_set_poll_func(ctx, max_us ? busy_poll : g_poll);
}

void
kt_busy_poll_stats(KtBusyPollStats *stats)
{
    *stats = state;
}
