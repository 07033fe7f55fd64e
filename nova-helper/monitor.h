/* monitor.h: KtMonitor, kvmtuned's own libvirt connection (libvirt C API).
 *
 * It sees what the proxy cannot: domains defined, undefined, started and
 * stopped by other clients, libvirtd restarts, and the domain list the
 * ledger is rebuilt from.  libvirt's event loop runs on the default main
 * context (event-glib.h), which must be the one the monitor is created on
 * and kvmtuned's loop iterates; every libvirt call that may block runs in a
 * GTask worker; all callbacks are delivered on that main context. */
#pragma once

#include <gio/gio.h>
#include <stdbool.h>

typedef struct _KtMonitor KtMonitor;

typedef struct {
    char *uuid;
    char *name;
    bool exists;
    bool persistent;
    bool active;
    char *xml;           /* VIR_DOMAIN_XML_INACTIVE; NULL when !exists */
} KtDomainState;

void kt_domain_state_free(KtDomainState *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtDomainState, kt_domain_state_free)

typedef struct {
    /* The connection is open (first time or after a reconnect). */
    void (*connected)(gpointer data);
    /* libvirtd went away; the monitor reconnects with backoff. */
    void (*disconnected)(gpointer data);
    /* kt_monitor_rebuild result: KtDomainState* of every domain, or NULL
     * with @error. */
    void (*rebuilt)(gpointer data, GPtrArray *domains, const GError *error);
    /* A lifecycle event (virDomainEventType, detail). */
    void (*event)(gpointer data, const char *uuid, const char *name, int event,
                  int detail);
    /* kt_monitor_reconcile result; @st->exists false when libvirt has no
     * such domain.  NULL @st: libvirtd unreachable. */
    void (*reconciled)(gpointer data, const KtDomainState *st, int tag);
    gpointer data;
} KtMonitorOps;

/* Starts connecting to @uri (retrying with backoff until it works). */
KtMonitor *kt_monitor_new(const char *uri, const KtMonitorOps *ops);
void kt_monitor_free(KtMonitor *mon);

bool kt_monitor_connected(KtMonitor *mon);
/* Lists every domain with its inactive XML, in a worker thread. */
void kt_monitor_rebuild(KtMonitor *mon);
/* Looks one UUID up, in a worker thread; @tag comes back with the result. */
void kt_monitor_reconcile(KtMonitor *mon, const char *uuid, int tag);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtMonitor, kt_monitor_free)
