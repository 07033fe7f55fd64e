/* event-glib.h: libvirt's client event loop on GLib's default main context.
 *
 * libvirt's own GLib implementation (virEventRegisterDefaultImpl) already
 * runs on the default context, but it destroys and recreates a GSource at
 * every timer update, and GLib blocks and unblocks a non-recursive fd
 * source around each dispatch, each time writing the context's wake-up
 * eventfd.  On kvmtuned's monitor connection that meant two eventfd
 * writes, one drain and one extra loop iteration per lifecycle event, paid
 * during every define storm.  This implementation keeps one recursive
 * GSource per fd and one GSource for all timers: an update made on the
 * thread running the loop costs no syscall, and one made on another thread
 * (libvirt's RPC calls from kvmtuned's worker threads) wakes the loop. */
#pragma once

#include <glib.h>

/* Registers the implementation with virEventRegisterImpl, once per
 * process.  The default main context must then be iterated (kvmtuned's
 * main loop does).  Safe to call more than once. */
void kt_event_glib_register(void);
