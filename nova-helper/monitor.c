/* monitor.c: kvmtuned's own libvirt connection (see monitor.h). */
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "monitor.h"
#include "event-glib.h"
#include "kt-error.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 8000

struct _KtMonitor {
    char *uri;
    KtMonitorOps ops;
    GMainContext *main_ctx;
    /* Two connections, both main thread only, both NULL when down: @conn
     * carries the lifecycle events and keepalives and is read by the main
     * loop alone; @rpc serves the lookups and listings the GTask workers
     * make.  On one shared connection a worker waiting for its reply read
     * every event message that arrived meanwhile and woke the main loop
     * for each (about 16 wake-ups per define+undefine by another client). */
    virConnectPtr conn;
    virConnectPtr rpc;
    int lifecycle_id;
    guint generation;            /* bumped on every (dis)connect */
    guint backoff_ms;
    guint retry_id;
    bool connecting;
    bool freeing;
    /* read by close_cb, which runs on whichever thread saw the connection
     * close (a worker's RPC call, too) */
    gint alive;
};

static void
silence_libvirt(void *data, virErrorPtr err)
{
    /* errors are read with virGetLastErrorMessage where they matter */
}

void
kt_domain_state_free(KtDomainState *st)
{
    if (!st)
        return;
    g_free(st->uuid);
    g_free(st->name);
    g_free(st->xml);
    g_free(st);
}

/* @persistent/@active < 0: ask libvirt (one call each) */
static KtDomainState *
state_from_domain(virDomainPtr dom, int persistent, int active)
{
    KtDomainState *st = g_new0(KtDomainState, 1);
    char uuid[VIR_UUID_STRING_BUFLEN];

    if (virDomainGetUUIDString(dom, uuid) == 0)
        st->uuid = g_strdup(uuid);
    st->name = g_strdup(virDomainGetName(dom));
    st->exists = true;
    st->persistent = persistent < 0 ? virDomainIsPersistent(dom) == 1 : persistent;
    st->active = active < 0 ? virDomainIsActive(dom) == 1 : active;
    {
        char *xml = virDomainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);

        if (xml) {
            st->xml = g_strdup(xml);
            free(xml);
        } else {
            /* gone between the lookup and now */
            st->exists = false;
        }
    }
    return st;
}

/* ---- connect / reconnect ------------------------------------------------ */

static void schedule_connect(KtMonitor *mon);

/* Runs on the main loop: kt_event_glib_register() dispatches every libvirt
 * callback there (events a worker thread's RPC call reads off the socket
 * are queued by libvirt and flushed from a loop timer). */
static int
lifecycle_cb(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
    KtMonitor *mon = opaque;
    char uuid[VIR_UUID_STRING_BUFLEN];

    if (!mon->ops.event || mon->freeing)
        return 0;
    mon->ops.event(mon->ops.data,
                   virDomainGetUUIDString(dom, uuid) == 0 ? uuid : NULL,
                   virDomainGetName(dom), event, detail);
    return 0;
}

typedef struct {
    virConnectPtr events;
    virConnectPtr rpc;
    int lifecycle_id;            /* on @events; -1 none */
    char *warning;               /* what the connect thread could not set up */
} ConnPair;

/* Deregistering and closing are RPCs (CONNECT_CLOSE, ...): with libvirtd
 * hung they wait until keepalive gives up, up to 20 s, so after a lost
 * connection they run in a worker (close_pair_thread), never on the main
 * loop, which serves every proxy client. */
static void
conn_pair_close(ConnPair *pair)
{
    if (pair->events && pair->lifecycle_id >= 0)
        virConnectDomainEventDeregisterAny(pair->events, pair->lifecycle_id);
    pair->lifecycle_id = -1;
    g_clear_pointer(&pair->events, virConnectClose);
    g_clear_pointer(&pair->rpc, virConnectClose);
}

static void
conn_pair_free(gpointer p)
{
    ConnPair *pair = p;

    conn_pair_close(pair);
    g_free(pair->warning);
    g_free(pair);
}

static void
close_pair_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    conn_pair_close(data);
    g_task_return_boolean(task, TRUE);
}

typedef struct {
    KtMonitor *mon;
    guint generation;
} CloseMsg;

static gboolean
closed_on_main(gpointer p)
{
    CloseMsg *m = p;
    KtMonitor *mon = m->mon;

    if (mon->freeing || m->generation != mon->generation || !mon->conn)
        return G_SOURCE_REMOVE;
    g_message("lost the libvirt connection to %s; reconnecting", mon->uri);
    {
        ConnPair *old = g_new0(ConnPair, 1);
        g_autoptr(GTask) task = g_task_new(NULL, NULL, NULL, NULL);

        old->events = g_steal_pointer(&mon->conn);
        old->rpc = g_steal_pointer(&mon->rpc);
        old->lifecycle_id = mon->lifecycle_id;
        mon->lifecycle_id = -1;
        g_task_set_task_data(task, old, conn_pair_free);
        g_task_run_in_thread(task, close_pair_thread);
    }
    mon->generation++;
    if (mon->ops.disconnected)
        mon->ops.disconnected(mon->ops.data);
    mon->backoff_ms = BACKOFF_MIN_MS;
    schedule_connect(mon);
    return G_SOURCE_REMOVE;
}

/* Any thread: the main loop's, or a worker's whose RPC call saw the close.
 * Always deferred to an idle, never run in place: closed_on_main closes the
 * connection, which libvirt must not see from inside its own callback. */
static void
close_cb(virConnectPtr conn, int reason, void *opaque)
{
    KtMonitor *mon = opaque;
    CloseMsg *m = g_new0(CloseMsg, 1);
    g_autoptr(GSource) idle = g_idle_source_new();

    m->mon = mon;
    m->generation = (guint)g_atomic_int_get(&mon->alive);
    g_source_set_callback(idle, closed_on_main, m, g_free);
    g_source_attach(idle, mon->main_ctx);
}

/* A libvirtd behind SASL: libvirt fills the credentials from its auth.conf
 * ($LIBVIRT_AUTH_FILE, else /etc/libvirt/auth.conf) before asking the
 * callback; a daemon has nobody to ask, so whatever is still missing fails
 * the connect (libvirt's default callback would prompt on stdin).  The
 * types are the default callback's: offering USERNAME would make SASL ask
 * for an authorization id that auth.conf does not hold. */
static int auth_credtypes[] = {
    VIR_CRED_AUTHNAME, VIR_CRED_PASSPHRASE, VIR_CRED_REALM,
    VIR_CRED_NOECHOPROMPT, VIR_CRED_ECHOPROMPT,
};

static int
auth_no_prompt(virConnectCredentialPtr cred, unsigned int ncred, void *data)
{
    unsigned int i;

    /* libvirt hands over every credential, those auth.conf filled too */
    for (i = 0; i < ncred; i++) {
        if (!cred[i].result)
            return -1;
    }
    return 0;
}

/* Everything that talks to libvirtd happens here, in a worker: opening,
 * and registering for events, which is an RPC as well.  A libvirtd slow to
 * answer (starting up, or hung) must not stall the main loop. */
static void
connect_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    KtMonitor *mon = data;
    virConnectAuth auth = {
        .credtype = auth_credtypes, .ncredtype = G_N_ELEMENTS(auth_credtypes),
        .cb = auth_no_prompt,
    };
    ConnPair *pair = g_new0(ConnPair, 1);

    pair->lifecycle_id = -1;
    if (!(pair->events = virConnectOpenAuth(mon->uri, &auth, 0)) ||
        !(pair->rpc = virConnectOpenAuth(mon->uri, &auth, 0))) {
        g_task_return_new_error(task, KT_ERROR, KT_ERROR_IO, "%s",
                                virGetLastErrorMessage());
        conn_pair_free(pair);
        return;
    }
    /* on both: a libvirtd that hangs closes them after 20 s, which also
     * fails a worker's RPC blocked on @rpc instead of leaving it waiting */
    virConnectSetKeepAlive(pair->events, 5, 3);
    virConnectSetKeepAlive(pair->rpc, 5, 3);
    pair->lifecycle_id = virConnectDomainEventRegisterAny(
        pair->events, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        VIR_DOMAIN_EVENT_CALLBACK(lifecycle_cb), mon, NULL);
    if (pair->lifecycle_id < 0)
        pair->warning = g_strdup_printf("cannot register for domain events: %s",
                                        virGetLastErrorMessage());
    /* either closing means libvirtd went away: both are reopened */
    if (virConnectRegisterCloseCallback(pair->events, close_cb, mon, NULL) < 0 ||
        virConnectRegisterCloseCallback(pair->rpc, close_cb, mon, NULL) < 0)
        pair->warning = g_strdup_printf("cannot register a close callback: %s",
                                        virGetLastErrorMessage());
    g_task_return_pointer(task, pair, conn_pair_free);
}

static void
connect_done(GObject *source, GAsyncResult *res, gpointer data)
{
    KtMonitor *mon = data;
    g_autoptr(GError) err = NULL;
    ConnPair *pair = g_task_propagate_pointer(G_TASK(res), &err);
    virConnectPtr conn;

    mon->connecting = false;
    if (mon->freeing) {
        if (pair)
            conn_pair_free(pair);
        return;
    }
    if (!pair) {
        if (mon->backoff_ms <= BACKOFF_MIN_MS)
            g_message("cannot connect to %s: %s (retrying)%s", mon->uri, err->message,
                      strstr(err->message, "auth") ?
                      "; kvmtuned's credentials for libvirtd go in libvirt's auth.conf "
                      "($LIBVIRT_AUTH_FILE or /etc/libvirt/auth.conf)" : "");
        mon->backoff_ms = MIN(mon->backoff_ms * 2, BACKOFF_MAX_MS);
        schedule_connect(mon);
        return;
    }
    if (pair->warning)
        g_warning("%s", pair->warning);
    conn = mon->conn = g_steal_pointer(&pair->events);
    mon->rpc = g_steal_pointer(&pair->rpc);
    mon->lifecycle_id = pair->lifecycle_id;
    pair->lifecycle_id = -1;
    conn_pair_free(pair);
    mon->generation++;
    g_atomic_int_set(&mon->alive, (gint)mon->generation);
    mon->backoff_ms = BACKOFF_MIN_MS;
    g_message("connected to %s", mon->uri);
    if (!virConnectIsAlive(conn) || !virConnectIsAlive(mon->rpc)) {
        /* closed before @alive named this generation: its close callback
         * was ignored as stale, so take the loss from here (no RPC) */
        close_cb(conn, VIR_CONNECT_CLOSE_REASON_EOF, mon);
        return;
    }
    if (mon->ops.connected)
        mon->ops.connected(mon->ops.data);
}

static gboolean
connect_now(gpointer data)
{
    KtMonitor *mon = data;
    g_autoptr(GTask) task = NULL;

    mon->retry_id = 0;
    if (mon->connecting || mon->conn || mon->freeing)
        return G_SOURCE_REMOVE;
    mon->connecting = true;
    task = g_task_new(NULL, NULL, connect_done, mon);
    g_task_set_task_data(task, mon, NULL);
    g_task_run_in_thread(task, connect_thread);
    return G_SOURCE_REMOVE;
}

static void
schedule_connect(KtMonitor *mon)
{
    if (mon->retry_id || mon->connecting)
        return;
    mon->retry_id = g_timeout_add(mon->backoff_ms, connect_now, mon);
}

KtMonitor *
kt_monitor_new(const char *uri, const KtMonitorOps *ops)
{
    KtMonitor *mon = g_new0(KtMonitor, 1);

    kt_event_glib_register();
    virSetErrorFunc(NULL, silence_libvirt);
    mon->uri = g_strdup(uri);
    mon->ops = *ops;
    mon->main_ctx = g_main_context_ref_thread_default();
    mon->lifecycle_id = -1;
    mon->backoff_ms = BACKOFF_MIN_MS;
    mon->retry_id = g_idle_add(connect_now, mon);
    return mon;
}

void
kt_monitor_free(KtMonitor *mon)
{
    if (!mon)
        return;
    mon->freeing = true;
    if (mon->retry_id)
        g_source_remove(mon->retry_id);
    if (mon->conn) {
        virConnectUnregisterCloseCallback(mon->conn, close_cb);
        virConnectUnregisterCloseCallback(mon->rpc, close_cb);
        if (mon->lifecycle_id >= 0)
            virConnectDomainEventDeregisterAny(mon->conn, mon->lifecycle_id);
        virConnectClose(mon->conn);
        virConnectClose(mon->rpc);
    }
    /* Worker tasks in flight still point at @mon; kvmtuned frees the
     * monitor only on its way out, so leak the struct rather than race. */
    g_main_context_unref(mon->main_ctx);
    g_free(mon->uri);
}

bool
kt_monitor_connected(KtMonitor *mon)
{
    return mon->conn != NULL;
}

/* ---- rebuild and reconcile ------------------------------------------------ */

typedef struct {
    virConnectPtr conn;
    guint generation;
    char *uuid;
    int tag;
} Job;

static void
job_free(gpointer p)
{
    Job *j = p;

    virConnectClose(j->conn);
    g_free(j->uuid);
    g_free(j);
}

static Job *
job_new(KtMonitor *mon, const char *uuid, int tag)
{
    Job *j = g_new0(Job, 1);

    virConnectRef(mon->rpc);
    j->conn = mon->rpc;
    j->generation = mon->generation;
    j->uuid = g_strdup(uuid);
    j->tag = tag;
    return j;
}

#define REBUILD_THREADS 4

/* UUIDs of the domains a listing with @flags returns; NULL on error. */
static GHashTable *
list_uuids(virConnectPtr conn, unsigned int flags)
{
    virDomainPtr *doms = NULL;
    GHashTable *set;
    int n = virConnectListAllDomains(conn, &doms, flags);
    int i;

    if (n < 0)
        return NULL;
    set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (i = 0; i < n; i++) {
        char uuid[VIR_UUID_STRING_BUFLEN];

        if (virDomainGetUUIDString(doms[i], uuid) == 0)
            g_hash_table_add(set, g_strdup(uuid));
        virDomainFree(doms[i]);
    }
    free(doms);
    return set;
}

typedef struct {
    virDomainPtr *doms;
    KtDomainState **states;
    GHashTable *transient;
    GHashTable *active;
    int first;
    int step;
    int n;
} Slice;

static gpointer
fetch_slice(gpointer data)
{
    Slice *s = data;
    int i;

    for (i = s->first; i < s->n; i += s->step) {
        char uuid[VIR_UUID_STRING_BUFLEN] = "";

        virDomainGetUUIDString(s->doms[i], uuid);
        s->states[i] = state_from_domain(s->doms[i],
                                         !g_hash_table_contains(s->transient, uuid),
                                         g_hash_table_contains(s->active, uuid));
    }
    return NULL;
}

/* One listing, two filtered listings for the persistent/active flags, and
 * the XML of every domain fetched by a few threads at once (libvirtd
 * serves them in parallel): 2,240 domains in well under a second. */
static void
rebuild_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    Job *j = data;
    virDomainPtr *doms = NULL;
    g_autoptr(GHashTable) transient = NULL;
    g_autoptr(GHashTable) active = NULL;
    g_autofree KtDomainState **states = NULL;
    GThread *threads[REBUILD_THREADS];
    Slice slices[REBUILD_THREADS];
    GPtrArray *out;
    int nthreads;
    int n;
    int i;

    gint64 t0 = g_get_monotonic_time();

    n = virConnectListAllDomains(j->conn, &doms, 0);
    if (n < 0 ||
        !(transient = list_uuids(j->conn, VIR_CONNECT_LIST_DOMAINS_TRANSIENT)) ||
        !(active = list_uuids(j->conn, VIR_CONNECT_LIST_DOMAINS_ACTIVE))) {
        g_task_return_new_error(task, KT_ERROR, KT_ERROR_IO, "cannot list domains: %s",
                                virGetLastErrorMessage());
        for (i = 0; i < n; i++)
            virDomainFree(doms[i]);
        free(doms);
        return;
    }
    states = g_new0(KtDomainState *, MAX(n, 1));
    nthreads = CLAMP(n / 64, 1, REBUILD_THREADS);
    for (i = 0; i < nthreads; i++) {
        slices[i] = (Slice) {
            .doms = doms, .states = states, .transient = transient, .active = active,
            .first = i, .step = nthreads, .n = n,
        };
        threads[i] = g_thread_new("kt-rebuild", fetch_slice, &slices[i]);
    }
    for (i = 0; i < nthreads; i++)
        g_thread_join(threads[i]);
    g_debug("rebuild: %d domains listed and fetched by %d threads in %.1f ms", n, nthreads,
            (double)(g_get_monotonic_time() - t0) / 1000.0);

    out = g_ptr_array_new_with_free_func((GDestroyNotify)kt_domain_state_free);
    for (i = 0; i < n; i++) {
        if (states[i]->exists)
            g_ptr_array_add(out, states[i]);
        else
            kt_domain_state_free(states[i]);
        virDomainFree(doms[i]);
    }
    free(doms);
    g_task_return_pointer(task, out, (GDestroyNotify)g_ptr_array_unref);
}

static void
rebuild_done(GObject *source, GAsyncResult *res, gpointer data)
{
    KtMonitor *mon = data;
    g_autoptr(GError) err = NULL;
    Job *j = g_task_get_task_data(G_TASK(res));
    g_autoptr(GPtrArray) doms = g_task_propagate_pointer(G_TASK(res), &err);

    if (mon->freeing)
        return;
    if (j->generation != mon->generation)
        return;     /* a reconnect started another rebuild */
    if (mon->ops.rebuilt)
        mon->ops.rebuilt(mon->ops.data, doms, err);
    g_clear_pointer(&doms, g_ptr_array_unref);
#ifdef __GLIBC__
    /* every domain's XML was held at once, partly in the fetch threads'
     * malloc arenas: give those megabytes back rather than keep them */
    malloc_trim(0);
#endif
}

void
kt_monitor_rebuild(KtMonitor *mon)
{
    g_autoptr(GTask) task = NULL;

    if (!mon->conn)
        return;
    task = g_task_new(NULL, NULL, rebuild_done, mon);
    g_task_set_task_data(task, job_new(mon, NULL, 0), job_free);
    g_task_run_in_thread(task, rebuild_thread);
}

static void
reconcile_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
    Job *j = data;
    virDomainPtr dom = virDomainLookupByUUIDString(j->conn, j->uuid);
    KtDomainState *st;

    if (!dom) {
        virErrorPtr e = virGetLastError();

        if (!e || e->code != VIR_ERR_NO_DOMAIN) {
            g_task_return_new_error(task, KT_ERROR, KT_ERROR_IO, "lookup of %s: %s",
                                    j->uuid, virGetLastErrorMessage());
            return;
        }
        st = g_new0(KtDomainState, 1);
        st->uuid = g_strdup(j->uuid);
    } else {
        st = state_from_domain(dom, -1, -1);
        virDomainFree(dom);
    }
    g_task_return_pointer(task, st, (GDestroyNotify)kt_domain_state_free);
}

static void
reconcile_done(GObject *source, GAsyncResult *res, gpointer data)
{
    KtMonitor *mon = data;
    g_autoptr(GError) err = NULL;
    Job *j = g_task_get_task_data(G_TASK(res));
    g_autoptr(KtDomainState) st = g_task_propagate_pointer(G_TASK(res), &err);

    if (mon->freeing)
        return;
    if (err)
        g_message("reconcile: %s", err->message);
    if (mon->ops.reconciled)
        mon->ops.reconciled(mon->ops.data, st, j->tag);
}

void
kt_monitor_reconcile(KtMonitor *mon, const char *uuid, int tag)
{
    g_autoptr(GTask) task = NULL;

    if (!mon->conn) {
        /* the rebuild after the reconnect covers it */
        if (mon->ops.reconciled)
            mon->ops.reconciled(mon->ops.data, NULL, tag);
        return;
    }
    task = g_task_new(NULL, NULL, reconcile_done, mon);
    g_task_set_task_data(task, job_new(mon, uuid, tag), job_free);
    g_task_run_in_thread(task, reconcile_thread);
}
