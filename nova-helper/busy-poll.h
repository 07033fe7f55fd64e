/* busy-poll.h: adaptive busy polling for kvmtuned's main loop.
 *
 * Every frame kvmtuned relays costs two wake-ups that a direct connection
 * does not pay (client -> kvmtuned, libvirtd -> kvmtuned).  On a virtual
 * machine a cross-CPU wake-up of a sleeping task is an IPI and a halt exit,
 * 10-20 us each, which is most of a small call's cost.  Like KVM's
 * halt-polling, the main loop polls without sleeping for a short window
 * before it blocks, so a reply that is about to arrive is picked up by a
 * running thread.  The window adapts (KVM's rule): it grows when a block
 * ended soon after the window ran out (a slightly longer poll would have
 * caught it) and drops to nothing when the loop sat idle for longer than
 * the maximum, so an idle daemon burns nothing and a daemon waiting on
 * slow defines stops polling.
 *
 * Polling only pays while CPUs sit idle between the hops of one caller's
 * calls; with several calls in flight the host is busy and a polling
 * daemon would take CPU time from libvirtd.  A gate supplied by the daemon
 * says when polling is worth it (kvmtuned: one call in flight, or a reply
 * just relayed to a caller whose next call is likely to follow).
 *
 * One poll function per process (GPollFunc carries no user data). */
#pragma once

#include <glib.h>

typedef struct {
    guint max_us;         /* 0: busy polling off */
    guint window_us;      /* current window */
    guint64 hits;         /* polls that found an event within the window */
    guint64 misses;       /* polls that ran out and then blocked */
    guint64 spin_us;      /* total time spent polling without sleeping */
    guint64 gated;        /* sleeps without polling because the gate said no */
} KtBusyPollStats;

/* TRUE: polling before sleeping is worth it now. */
typedef gboolean (*KtBusyPollGate)(gpointer data);

/* Installs the adaptive poll function on @ctx with a window of at most
 * @max_us microseconds; 0 restores g_poll.  @gate (may be NULL: always)
 * runs on the loop's thread before each poll.  Call before the loop runs. */
void kt_busy_poll_install(GMainContext *ctx, guint max_us, KtBusyPollGate gate,
                          gpointer gate_data);

/* Counters since install (main-loop thread only). */
void kt_busy_poll_stats(KtBusyPollStats *stats);

/* The adaptation rule, pure: the next window after a poll that found an
 * event while polling (@hit) or blocked for @block_us. */
guint kt_busy_poll_next_window(guint window_us, guint max_us, gboolean hit, guint64 block_us);
