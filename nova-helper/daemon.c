/* daemon.c: kvmtuned's wiring (see daemon.h).
 *
 * Ownership of a booking's life: the proxy reports libvirt's answer to a
 * rewritten define (commit / abort) and undefine (release); everything the
 * proxy cannot see (other clients, lost connections, libvirtd restarts,
 * transient domains stopping) is settled by asking libvirt through the
 * monitor and booking what libvirt really holds (reconcile).  The engine is
 * touched on the main thread only. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <glib-unix.h>

#include "daemon.h"
#include "busy-poll.h"
#include "control.h"
#include "kt-error.h"
#include "monitor.h"
#include "proxy.h"
#include "domain.h"
#include "engine.h"
#include "inventory.h"
#include "policy.h"

/* what a reconcile was asked for */
enum {
    RC_EVENT,          /* lifecycle event from another client */
    RC_LOST_DEFINE,    /* proxy connection died with a define pending */
    RC_LOST_UNDEFINE,  /* ... with an undefine pending */
    RC_ORPHAN,         /* answer for a booking a rebuild/reload dropped */
    RC_NOTIFY,         /* hook notification */
};

#define RECENT_TTL_US (120 * G_USEC_PER_SEC)

struct _KtDaemon {
    KtDaemonOptions opts;
    GMainLoop *loop;
    KtProxy *proxy;
    KtControlServer *control;
    KtMonitor *monitor;
    KtPolicy *policy;
    KtInventory *inv;
    KtEngine *engine;
    bool engine_new;         /* made by the last load_config: rebuild it */
    GArray *allow_uids;
    GArray *allow_gids;
    bool ledger_ready;
    bool sent_ready;
    bool quitting;
    int exit_status;
    /* uuid -> Recent: operations the proxy saw libvirt accept, whose
     * lifecycle events need no lookup */
    GHashTable *recent;
    GHashTable *incoming;         /* uuid -> GSource id: placed for an incoming
                                   * domain, not yet seen in libvirt */
    GHashTable *active;           /* UUIDs of running domains, from the rebuild
                                   * and STARTED/STOPPED events */
    /* uuids whose pending booking a rebuild or reload dropped */
    GHashTable *orphans;
    /* uuids whose DEFINED/STARTED event came while the proxy still waited
     * for libvirt's reply: no event left to skip after the commit */
    GHashTable *early;
    /* A rebuild lists libvirt at some moment and is applied later: what
     * changed in between (answers, events, lookups) would be overwritten by
     * the older snapshot.  Those UUIDs are looked up again afterwards, and
     * lookups issued before the rebuild started (older epoch) are redone. */
    bool rebuilding;
    guint epoch;
    GHashTable *touched;
    guint prune_id;
    guint signal_ids[4];
    /* counters for status */
    guint64 n_rewrite;
    guint64 n_pass;
    guint64 n_refused;
    /* CPU time spent in the engine (parse, decide, apply, format) for defines
     * through the proxy: the part of a define's cost that is kvmtune's own
     * work rather than relaying; `kvmtune status` shows its mean */
    guint64 engine_us;
    guint64 n_engine;
    guint64 n_reconcile;
    guint n_domains;
    guint n_load_errors;
    double rebuild_ms;
    gint64 rebuild_start;
};

/* ---- sd_notify --------------------------------------------------------- */

void
kt_daemon_notify(const char *state)
{
    const char *path = g_getenv("NOTIFY_SOCKET");
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    socklen_t len;
    int fd;

    if (!path || !*path || strlen(path) >= sizeof(addr.sun_path))
        return;
    if (path[0] != '/' && path[0] != '@')
        return;
    memcpy(addr.sun_path, path, strlen(path));
    if (path[0] == '@')
        addr.sun_path[0] = '\0';     /* abstract namespace */
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, len) < 0)
        g_debug("sd_notify: %s", g_strerror(errno));
    close(fd);
}

/* ---- engine glue --------------------------------------------------------- */

/* Lifecycle events the proxy's own operations cause, and which kvmtuned
 * therefore need not look up again: a define or create shows up as
 * DEFINED or STARTED, an undefine as UNDEFINED. */
#define EV_BIT(e) (1u << (e))
#define RECENT_DEFINE (EV_BIT(0) | EV_BIT(2))
#define RECENT_UNDEFINE EV_BIT(1)

typedef struct {
    gint64 expires;
    guint events;
} Recent;

static void
recent_add(KtDaemon *d, const char *uuid, guint events)
{
    Recent *r = g_hash_table_lookup(d->recent, uuid);

    if (!r) {
        r = g_new0(Recent, 1);
        g_hash_table_insert(d->recent, g_strdup(uuid), r);
    }
    r->expires = g_get_monotonic_time() + RECENT_TTL_US;
    r->events |= events;
}

/* TRUE (and forgotten) when @event was expected for @uuid. */
static bool
recent_take(KtDaemon *d, const char *uuid, int event)
{
    Recent *r = g_hash_table_lookup(d->recent, uuid);

    if (!r || !(r->events & EV_BIT(event)))
        return false;
    /* DEFINED and STARTED stand for the same define: either one uses it */
    r->events &= ~((RECENT_DEFINE & EV_BIT(event)) ? RECENT_DEFINE : EV_BIT(event));
    if (!r->events)
        g_hash_table_remove(d->recent, uuid);
    return true;
}

static gboolean
prune_recent(gpointer data)
{
    KtDaemon *d = data;
    GHashTableIter iter;
    gpointer value;
    gint64 now = g_get_monotonic_time();

    g_hash_table_iter_init(&iter, d->recent);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        if (((Recent *)value)->expires < now)
            g_hash_table_iter_remove(&iter);
    }
    return G_SOURCE_CONTINUE;
}

static void
engine_abort(KtDaemon *d, const char *uuid)
{
    if (d->engine)
        kt_engine_abort(d->engine, uuid);
}

static void
engine_commit(KtDaemon *d, const char *uuid)
{
    if (d->engine)
        kt_engine_commit(d->engine, uuid);
}

static void
engine_release(KtDaemon *d, const char *uuid)
{
    if (d->engine)
        kt_engine_release(d->engine, uuid);
}

static void
engine_load(KtDaemon *d, const KtDomainState *st)
{
    g_autoptr(GError) err = NULL;

    if (!d->engine || !st->xml)
        return;
    if (!kt_engine_load_domain(d->engine, st->xml, strlen(st->xml), &err)) {
        d->n_load_errors++;
        g_message("ledger: domain %s (%s): %s", st->name ? st->name : "?", st->uuid,
                  err->message);
    }
}

#define RC_KIND_BITS 4
#define RC_KIND_MASK ((1 << RC_KIND_BITS) - 1)

static void reconcile(KtDaemon *d, const char *uuid, int tag);

static void
touch(KtDaemon *d, const char *uuid)
{
    if (d->rebuilding)
        g_hash_table_add(d->touched, g_strdup(uuid));
}

/* Books what libvirt really holds for one UUID. */
static void
on_reconciled(gpointer data, const KtDomainState *st, int packed)
{
    KtDaemon *d = data;
    int tag = packed & RC_KIND_MASK;
    guint epoch = (guint)packed >> RC_KIND_BITS;

    if (!st || !st->uuid || d->quitting)
        return;     /* libvirtd unreachable: the rebuild after reconnect covers it */
    if (d->rebuilding) {
        touch(d, st->uuid);     /* may predate the snapshot: redo after it */
        return;
    }
    if (epoch != (d->epoch & ((guint)G_MAXINT >> RC_KIND_BITS))) {
        reconcile(d, st->uuid, tag);    /* looked up before the last rebuild */
        return;
    }
    d->n_reconcile++;
    if (tag == RC_EVENT && kt_proxy_uuid_pending(d->proxy, st->uuid))
        return;     /* the proxy will see libvirt's answer itself */
    if (tag == RC_LOST_DEFINE || tag == RC_ORPHAN)
        engine_abort(d, st->uuid);
    if (st->exists && st->active)
        g_hash_table_add(d->active, g_strdup(st->uuid));
    else
        g_hash_table_remove(d->active, st->uuid);
    if (st->exists) {
        g_debug("reconcile %s: defined in libvirt, booking its placement", st->uuid);
        engine_load(d, st);
    } else {
        g_debug("reconcile %s: not in libvirt, releasing", st->uuid);
        engine_release(d, st->uuid);
    }
}

static void
reconcile(KtDaemon *d, const char *uuid, int tag)
{
    if (d->quitting)
        return;
    touch(d, uuid);
    kt_monitor_reconcile(d->monitor, uuid,
                         tag | (int)((d->epoch & ((guint)G_MAXINT >> RC_KIND_BITS))
                                     << RC_KIND_BITS));
}

/* ---- proxy ops ------------------------------------------------------------ */

/* CPU time, not wall time: on a busy host the scheduler may preempt a
 * rewrite, and that wait is not the engine's cost */
static gint64
thread_cpu_us(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
        return 0;
    return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static gboolean
op_rewrite(gpointer data, const char *xml, gsize len, bool *ret_rewrite, char **ret_xml,
           gsize *ret_len, char **ret_uuid, GError **error)
{
    KtDaemon *d = data;
    KtVerdict verdict = KT_VERDICT_PASS;
    g_autofree char *out = NULL;
    g_autofree char *uuid = NULL;
    gsize out_len = 0;
    gint64 t0;
    gboolean ok;

    if (!d->engine) {
        *ret_rewrite = false;
        d->n_pass++;
        return TRUE;
    }
    if (!d->ledger_ready) {
        d->n_refused++;
        g_set_error(error, KT_ERROR, KT_ERROR_FAILED,
                    "ledger not rebuilt yet (no connection to libvirtd), try again");
        return FALSE;
    }
    t0 = thread_cpu_us();
    ok = kt_engine_rewrite(d->engine, xml, len, &verdict, &out, &out_len, &uuid, error);
    d->engine_us += (guint64)(thread_cpu_us() - t0);
    d->n_engine++;
    if (!ok) {
        d->n_refused++;
        return FALSE;
    }
    if (verdict != KT_VERDICT_REWRITE) {
        *ret_rewrite = false;
        *ret_uuid = g_steal_pointer(&uuid);
        d->n_pass++;
        return TRUE;
    }
    d->n_rewrite++;
    *ret_rewrite = true;
    *ret_xml = g_steal_pointer(&out);
    *ret_len = out_len;
    *ret_uuid = g_steal_pointer(&uuid);
    return TRUE;
}

static void
op_resolved(gpointer data, KtProxyPendingKind kind, const char *uuid, bool ok)
{
    KtDaemon *d = data;
    bool early = g_hash_table_remove(d->early, uuid);

    touch(d, uuid);
    if (g_hash_table_remove(d->orphans, uuid)) {
        /* its booking went with a rebuild or reload: ask libvirt */
        reconcile(d, uuid, RC_ORPHAN);
        return;
    }
    switch (kind) {
    case KT_PROXY_PENDING_DEFINE:
    case KT_PROXY_PENDING_CREATE:
        if (ok) {
            engine_commit(d, uuid);
            if (!early)
                recent_add(d, uuid, RECENT_DEFINE);
        } else {
            engine_abort(d, uuid);
        }
        break;
    case KT_PROXY_PENDING_UNDEFINE:
        if (!ok)
            break;
        if (g_hash_table_contains(d->active, uuid)) {
            /* a running domain stays as a transient one: book what libvirt
             * holds until it stops */
            reconcile(d, uuid, RC_EVENT);
            break;
        }
        engine_release(d, uuid);
        if (!early)
            recent_add(d, uuid, RECENT_UNDEFINE);
        break;
    case KT_PROXY_PENDING_PASS:
        /* the engine booked Nova's own pins at once; libvirt said no, so
         * book whatever libvirt really holds for this UUID */
        if (ok && !early)
            recent_add(d, uuid, RECENT_DEFINE);
        else if (!ok)
            reconcile(d, uuid, RC_EVENT);
        break;
    case KT_PROXY_PENDING_LAST:
    default:
        break;
    }
}

static void
op_lost(gpointer data, KtProxyPendingKind kind, const char *uuid)
{
    KtDaemon *d = data;

    if (d->quitting)
        return;
    g_hash_table_remove(d->orphans, uuid);
    g_hash_table_remove(d->early, uuid);
    g_message("connection lost before libvirt answered the %s of %s: reconciling",
              kt_proxy_pending_kind_to_string(kind), uuid);
    switch (kind) {
    case KT_PROXY_PENDING_UNDEFINE:
        reconcile(d, uuid, RC_LOST_UNDEFINE);
        break;
    case KT_PROXY_PENDING_PASS:
        reconcile(d, uuid, RC_EVENT);
        break;
    case KT_PROXY_PENDING_DEFINE:
    case KT_PROXY_PENDING_CREATE:
    case KT_PROXY_PENDING_LAST:
    default:
        reconcile(d, uuid, RC_LOST_DEFINE);
        break;
    }
}

static bool
in_array(GArray *a, guint v)
{
    guint i;

    for (i = 0; a && i < a->len; i++) {
        if (g_array_index(a, guint, i) == v)
            return true;
    }
    return false;
}

static bool
op_allow_peer(gpointer data, int fd, uid_t uid, gid_t gid, pid_t pid)
{
    KtDaemon *d = data;
    gid_t groups[256];
    socklen_t len = sizeof(groups);
    guint i;

    if (uid == 0)
        return true;
    if ((!d->allow_uids || d->allow_uids->len == 0) &&
        (!d->allow_gids || d->allow_gids->len == 0))
        return true;    /* no list: the socket's mode and group are the gate */
    if (in_array(d->allow_uids, uid) || in_array(d->allow_gids, gid))
        return true;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
        for (i = 0; i < len / sizeof(gid_t); i++) {
            if (in_array(d->allow_gids, groups[i]))
                return true;
        }
    }
    return false;
}

/* ---- monitor ops ------------------------------------------------------------ */

static void
mark_orphans(KtDaemon *d)
{
    g_autoptr(GPtrArray) uuids = kt_proxy_pending_uuids(d->proxy);
    guint i;

    for (i = 0; i < uuids->len; i++)
        g_hash_table_add(d->orphans, g_strdup(uuids->pdata[i]));
}

static void
on_connected(gpointer data)
{
    KtDaemon *d = data;

    d->rebuild_start = g_get_monotonic_time();
    d->epoch++;
    d->rebuilding = true;
    g_hash_table_remove_all(d->touched);
    kt_monitor_rebuild(d->monitor);
}

static void
on_disconnected(gpointer data)
{
    KtDaemon *d = data;

    /* libvirtd restarts: defines are refused until the ledger is rebuilt */
    d->ledger_ready = false;
}

static gboolean
retry_rebuild(gpointer data)
{
    KtDaemon *d = data;

    if (kt_monitor_connected(d->monitor))
        on_connected(d);
    return G_SOURCE_REMOVE;
}

/* systemd socket activation (sd_listen_fds(3) without libsystemd): the
 * proxy socket is fd 3 when LISTEN_PID is us. */
static int
activated_fd(void)
{
    const char *pid = g_getenv("LISTEN_PID");
    const char *fds = g_getenv("LISTEN_FDS");

    if (!pid || !fds || g_ascii_strtoull(pid, NULL, 10) != (guint64)getpid() ||
        g_ascii_strtoull(fds, NULL, 10) < 1)
        return -1;
    g_unsetenv("LISTEN_PID");
    g_unsetenv("LISTEN_FDS");
    g_unsetenv("LISTEN_FDNAMES");
    return 3;
}

static gboolean
start_proxy(KtDaemon *d, GError **error)
{
    KtProxyConfig pcfg = { 0 };
    KtProxyOps pops = {
        .rewrite = op_rewrite,
        .resolved = op_resolved,
        .lost = op_lost,
        .allow_peer = op_allow_peer,
        .data = d,
    };
    int fd = activated_fd();

    pcfg.listen_path = d->opts.listen_path;
    pcfg.listen_mode = d->opts.listen_mode ? d->opts.listen_mode : 0660;
    pcfg.listen_group = *d->opts.listen_group ? d->opts.listen_group : NULL;
    pcfg.upstream_path = d->opts.upstream_path;
    pcfg.set_identity = d->opts.set_identity;
    if (fd >= 0) {
        d->proxy = kt_proxy_new_from_fd(fd, &pcfg, &pops, error);
        g_message("listening on the socket systemd passed (fd %d)", fd);
    } else {
        d->proxy = kt_proxy_new(&pcfg, &pops, error);
        if (d->proxy)
            g_message("listening on %s (upstream %s)", d->opts.listen_path,
                      d->opts.upstream_path);
    }
    return d->proxy != NULL;
}

static void
on_rebuilt(gpointer data, GPtrArray *domains, const GError *error)
{
    KtDaemon *d = data;
    gint64 fetched = g_get_monotonic_time();
    guint i;

    if (!domains) {
        g_warning("ledger rebuild failed: %s; retrying in 1 s", error->message);
        g_timeout_add_seconds(1, retry_rebuild, d);
        return;
    }
    if (d->engine)
        kt_engine_reset(d->engine);
    d->n_load_errors = 0;
    g_hash_table_remove_all(d->active);
    for (i = 0; i < domains->len; i++) {
        const KtDomainState *st = domains->pdata[i];

        engine_load(d, st);
        if (st->active)
            g_hash_table_add(d->active, g_strdup(st->uuid));
    }
    mark_orphans(d);
    d->rebuilding = false;
    {
        GHashTable *again = g_steal_pointer(&d->touched);
        GHashTableIter iter;
        gpointer key;

        d->touched = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_hash_table_iter_init(&iter, again);
        while (g_hash_table_iter_next(&iter, &key, NULL))
            reconcile(d, key, RC_EVENT);
        if (g_hash_table_size(again) > 0)
            g_message("ledger: %u domains changed during the rebuild, looking them up again",
                      g_hash_table_size(again));
        g_hash_table_destroy(again);
    }
    d->n_domains = domains->len;
    d->rebuild_ms = (double)(g_get_monotonic_time() - d->rebuild_start) / 1000.0;
    d->ledger_ready = true;
    g_message("ledger rebuilt from %u domains in %.1f ms (libvirt %.1f ms, booking %.1f ms; "
              "%u unusable)", domains->len, d->rebuild_ms,
              (double)(fetched - d->rebuild_start) / 1000.0,
              (double)(g_get_monotonic_time() - fetched) / 1000.0, d->n_load_errors);
    if (!d->proxy) {
        g_autoptr(GError) err = NULL;

        if (!start_proxy(d, &err)) {
            g_critical("%s", err->message);
            d->exit_status = 1;
            g_main_loop_quit(d->loop);
            return;
        }
    }
    kt_daemon_notify(d->sent_ready ? "READY=1\nSTATUS=ledger rebuilt" :
                     "READY=1\nSTATUS=serving");
    d->sent_ready = true;
}

static void
on_event(gpointer data, const char *uuid, const char *name, int event, int detail)
{
    KtDaemon *d = data;

    if (!uuid)
        return;
    touch(d, uuid);
    g_debug("event %d/%d for %s (%s)", event, detail, name, uuid);
    switch (event) {
    case 2:   /* STARTED */
        g_hash_table_add(d->active, g_strdup(uuid));
        G_GNUC_FALLTHROUGH;
    case 0:   /* VIR_DOMAIN_EVENT_DEFINED */
    case 1:   /* UNDEFINED */
        if (recent_take(d, uuid, event))
            return;
        break;
    case 5:   /* STOPPED */
        g_hash_table_remove(d->active, uuid);
        break;
    default:
        return;
    }
    if (kt_proxy_uuid_pending(d->proxy, uuid)) {
        if (event != 5)
            g_hash_table_add(d->early, g_strdup(uuid));
        return;
    }
    if (event == 1 && !g_hash_table_contains(d->active, uuid) &&
        !g_hash_table_contains(d->recent, uuid)) {
        /* Another client undefined a domain that does not run: nothing of
         * it is left in libvirt, so no lookup (a define of the same UUID
         * after this one comes as a DEFINED event, in order, and is looked
         * up then).  One that runs stays as a transient domain: ask.  So
         * does one the proxy defined again since: this late event must
         * not release that new booking, whose DEFINED event, expected in
         * d->recent, would then be skipped. */
        g_debug("%s undefined by another client: releasing", uuid);
        engine_release(d, uuid);
        return;
    }
    reconcile(d, uuid, RC_EVENT);
}

/* ---- control socket ------------------------------------------------------- */

static char *
daemon_status_json(KtDaemon *d)
{
    g_autofree char *engine_json = NULL;
    KtBusyPollStats bp;

    kt_busy_poll_stats(&bp);
    if (d->engine)
        engine_json = kt_engine_status_json(d->engine);
    return g_strdup_printf(
        "{\"daemon\": {\"ledger_ready\": %s, \"libvirt_connected\": %s, "
        "\"clients\": %u, \"pending\": %u, \"rewrites\": %" G_GUINT64_FORMAT
        ", \"passed\": %" G_GUINT64_FORMAT ", \"refused\": %" G_GUINT64_FORMAT
        ", \"reconciled\": %" G_GUINT64_FORMAT ", \"domains_at_rebuild\": %u"
        ", \"rebuild_ms\": %.1f, \"engine_runs\": %" G_GUINT64_FORMAT
        ", \"engine_us\": %" G_GUINT64_FORMAT ", \"set_identity\": %d, \"busy_poll\": {\"max_us\": %u"
        ", \"window_us\": %u, \"hits\": %" G_GUINT64_FORMAT ", \"misses\": %"
        G_GUINT64_FORMAT ", \"gated\": %" G_GUINT64_FORMAT ", \"spin_ms\": %.1f}}, \"engine\": %s}",
        d->ledger_ready ? "true" : "false",
        kt_monitor_connected(d->monitor) ? "true" : "false",
        kt_proxy_client_count(d->proxy), kt_proxy_pending_count(d->proxy), d->n_rewrite,
        d->n_pass, d->n_refused, d->n_reconcile, d->n_domains, d->rebuild_ms,
        d->n_engine, d->engine_us,
        kt_proxy_identity_state(d->proxy), bp.max_us, bp.window_us, bp.hits, bp.misses,
        bp.gated, (double)bp.spin_us / 1000.0, engine_json ? engine_json : "null");
}

static char *
daemon_status_text(KtDaemon *d)
{
    GString *s = g_string_new(NULL);
    int ident = kt_proxy_identity_state(d->proxy);
    KtBusyPollStats bp;

    g_string_append_printf(s, "kvmtuned %s: listening on %s, upstream %s\n", KT_VERSION,
                           d->opts.listen_path, d->opts.upstream_path);
    g_string_append_printf(s, "libvirt connection: %s; ledger: %s (%u domains at the "
                           "last rebuild, %.1f ms)\n",
                           kt_monitor_connected(d->monitor) ? "up" : "down",
                           d->ledger_ready ? "ready" : "not rebuilt", d->n_domains,
                           d->rebuild_ms);
    g_string_append_printf(s, "clients: %u, pending operations: %u\n",
                           kt_proxy_client_count(d->proxy), kt_proxy_pending_count(d->proxy));
    g_string_append_printf(s, "defines: %" G_GUINT64_FORMAT " rewritten, %" G_GUINT64_FORMAT
                           " passed, %" G_GUINT64_FORMAT " refused; %" G_GUINT64_FORMAT
                           " reconciled\n", d->n_rewrite, d->n_pass, d->n_refused,
                           d->n_reconcile);
    if (d->n_engine)
        g_string_append_printf(s, "policy engine: %.1f us of CPU per define on average (parse, "
                               "decide, apply, format; %" G_GUINT64_FORMAT " defines)\n",
                               (double)d->engine_us / (double)d->n_engine, d->n_engine);
    g_string_append_printf(s, "caller identity to libvirtd (CONNECT_SET_IDENTITY): %s\n",
                           ident < 0 ? "not tried yet" : ident ? "accepted" : "refused");
    kt_busy_poll_stats(&bp);
    if (bp.max_us)
        g_string_append_printf(s, "busy polling: window %u us of at most %u; %" G_GUINT64_FORMAT
                               " events caught polling, %" G_GUINT64_FORMAT " after sleeping; "
                               "%.1f ms spent polling; %" G_GUINT64_FORMAT " sleeps without polling "
                               "(no lone caller waiting)\n", bp.window_us, bp.max_us,
                               bp.hits, bp.misses, (double)bp.spin_us / 1000.0, bp.gated);
    else
        g_string_append(s, "busy polling: off\n");
    if (d->engine) {
        g_autofree char *text = kt_engine_status_text(d->engine);

        g_string_append(s, "\n");
        g_string_append(s, text);
    } else {
        g_string_append(s, "no policy: every definition passes through untouched\n");
    }
    return g_string_free(s, FALSE);
}

static bool
uuid_valid(const char *s)
{
    int i;

    if (strlen(s) != 36)
        return false;
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!g_ascii_isxdigit(s[i])) {
            return false;
        }
    }
    return true;
}

typedef struct {
    KtDaemon *d;
    char *uuid;
} Delayed;

static gboolean
delayed_reconcile(gpointer p)
{
    Delayed *x = p;

    reconcile(x->d, x->uuid, RC_NOTIFY);
    g_free(x->uuid);
    g_free(x);
    return G_SOURCE_REMOVE;
}

/* A placement handed to the hook for a migration or restore is booked at
 * once, but the domain may never arrive (the migration fails before QEMU
 * starts on this host) and then no event would ever release it.  After a
 * grace period, look the UUID up: gone means release, there means keep
 * (a later failure stops the domain, and its STOPPED event releases). */
typedef struct {
    KtDaemon *d;
    char *uuid;
} IncomingCheck;

static void
incoming_check_free(gpointer p)
{
    IncomingCheck *ic = p;

    g_free(ic->uuid);
    g_free(ic);
}

static gboolean
incoming_due(gpointer data)
{
    IncomingCheck *ic = data;
    KtDaemon *d = ic->d;

    g_debug("incoming %s: grace period over, looking it up", ic->uuid);
    reconcile(d, ic->uuid, RC_EVENT);
    g_hash_table_remove(d->incoming, ic->uuid);     /* the source is finishing */
    return G_SOURCE_REMOVE;
}

static void
incoming_watch(KtDaemon *d, const char *uuid)
{
    IncomingCheck *ic = g_new0(IncomingCheck, 1);
    guint old = GPOINTER_TO_UINT(g_hash_table_lookup(d->incoming, uuid));
    guint id;

    ic->d = d;
    ic->uuid = g_strdup(uuid);
    id = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT, d->opts.incoming_grace_s,
                                    incoming_due, ic, incoming_check_free);
    /* a second placement of the same UUID restarts the wait */
    if (old)
        g_source_remove(old);
    g_hash_table_replace(d->incoming, g_strdup(uuid), GUINT_TO_POINTER(id));
}

static GVariant *
reply_placed(const char *xml, const char *uuid)
{
    GVariantBuilder b;

    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&b, "{sv}", "xml", g_variant_new_string(xml));
    g_variant_builder_add(&b, "{sv}", "uuid", g_variant_new_string(uuid ? uuid : ""));
    return g_variant_builder_end(&b);
}

/* The host's NUMA node ids; caller frees. */
static KtCpuset *
host_node_ids(const KtInventory *inv)
{
    KtCpuset *nodes = kt_cpuset_new();
    guint i;

    for (i = 0; i < inv->nodes->len; i++)
        kt_cpuset_add(nodes, g_array_index(inv->nodes, KtInvNode, i).id);
    return nodes;
}

static GVariant *
control_place_incoming(KtDaemon *d, GVariant *req, GError **error)
{
    const char *xml = NULL;

    if (!g_variant_lookup(req, "xml", "&s", &xml)) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "place-incoming needs 'xml'");
        return NULL;
    }
    if (d->engine) {
        g_autoptr(KtDomain) dom = NULL;
        g_autoptr(KtRequest) kreq = NULL;
        g_autofree char *stripped = NULL;
        g_autofree char *out = NULL;
        g_autofree char *uuid = NULL;
        KtVerdict verdict = KT_VERDICT_PASS;
        gsize len = 0;
        gsize out_len = 0;

        if (!d->ledger_ready) {
            g_set_error(error, KT_ERROR, KT_ERROR_FAILED,
                        "ledger not rebuilt yet (no connection to libvirtd)");
            return NULL;
        }
        /* the source host's placement means nothing here: drop what
         * kvmtune wrote there and place it again on this host */
        if (!(dom = kt_domain_parse(xml, strlen(xml), error)))
            return NULL;
        kt_domain_strip(dom);
        /* pins Nova wrote for the source host likewise, unless every one
         * of them exists here (Nova's NUMA-aware migration rewrites them) */
        if (d->inv) {
            g_autoptr(KtCpuset) nodes = host_node_ids(d->inv);

            kt_domain_drop_foreign_tuning(dom, d->inv->online, nodes);
        }
        stripped = kt_domain_format(dom, &len);
        if (!kt_engine_rewrite(d->engine, stripped, len, &verdict, &out, &out_len, &uuid,
                               error)) {
            d->n_refused++;
            return NULL;
        }
        if (verdict == KT_VERDICT_REWRITE) {
            kt_engine_commit(d->engine, uuid);
            touch(d, uuid);
            recent_add(d, uuid, RECENT_DEFINE);
            incoming_watch(d, uuid);
            d->n_rewrite++;
            return reply_placed(out, uuid);
        }
        d->n_pass++;
        kreq = kt_domain_read_request(dom, NULL);
        return reply_placed(xml, kreq ? kreq->uuid : NULL);
    }
    return reply_placed(xml, NULL);
}

static GVariant *
control_handler(GVariant *req, gpointer data, GError **error)
{
    KtDaemon *d = data;
    const char *op = NULL;

    if (!g_variant_lookup(req, "op", "&s", &op)) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "request without 'op'");
        return NULL;
    }
    if (strcmp(op, "status") == 0) {
        g_autofree char *text = daemon_status_text(d);
        g_autofree char *json = daemon_status_json(d);
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", "text", g_variant_new_string(text));
        g_variant_builder_add(&b, "{sv}", "json", g_variant_new_string(json));
        return g_variant_builder_end(&b);
    }
    if (strcmp(op, "place-incoming") == 0)
        return control_place_incoming(d, req, error);
    if (strcmp(op, "notify") == 0) {
        const char *uuid = NULL;
        const char *event = "";
        const char *name = "";

        if (!g_variant_lookup(req, "uuid", "&s", &uuid) || !uuid_valid(uuid)) {
            g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "notify needs a valid 'uuid'");
            return NULL;
        }
        g_variant_lookup(req, "event", "&s", &event);
        g_variant_lookup(req, "name", "&s", &name);
        g_debug("hook: %s %s (%s)", event, name, uuid);
        if (strcmp(event, "prepare") != 0) {
            Delayed *x = g_new0(Delayed, 1);

            /* the hook runs with libvirtd holding the domain: look it up
             * once that is over */
            x->d = d;
            x->uuid = g_strdup(uuid);
            g_timeout_add_seconds(1, delayed_reconcile, x);
        }
        return g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0);
    }
    g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "unknown op '%s'", op);
    return NULL;
}

/* ---- policy, signals, life cycle ----------------------------------------- */

/* Loads policy + inventory + a fresh engine; on failure nothing changes. */
static gboolean
load_config(KtDaemon *d, GError **error)
{
    g_autoptr(KtPolicy) policy = NULL;
    g_autoptr(KtInventory) inv = NULL;
    const char *path = d->opts.policy_path;

    if (!path) {
        path = KT_SYSCONFDIR "/kvmtune/policy.yaml";
        if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
            g_message("no policy at %s: every definition passes through untouched", path);
            return TRUE;
        }
    }
    if (!(policy = kt_policy_load(path, error)))
        return FALSE;
    if (!(inv = kt_inventory_load(d->opts.sysroot, error)))
        return FALSE;
    if (d->engine) {
        /* bookings stay; only future decisions use the new policy */
        kt_engine_set_policy(d->engine, inv, policy);
    } else {
        d->engine = kt_engine_new(inv, policy);
        d->engine_new = true;
    }
    kt_inventory_free(d->inv);
    kt_policy_free(d->policy);
    d->policy = g_steal_pointer(&policy);
    d->inv = g_steal_pointer(&inv);
    g_clear_pointer(&d->allow_uids, g_array_unref);
    g_clear_pointer(&d->allow_gids, g_array_unref);
    if (d->policy->allow_uids)
        d->allow_uids = g_array_ref(d->policy->allow_uids);
    if (d->policy->allow_gids)
        d->allow_gids = g_array_ref(d->policy->allow_gids);
    g_message("policy %s (%s) loaded", path, d->policy->hash ? d->policy->hash : "?");
    return TRUE;
}

static gboolean
on_sighup(gpointer data)
{
    KtDaemon *d = data;
    g_autoptr(GError) err = NULL;

    kt_daemon_notify("RELOADING=1");
    g_message("SIGHUP: reloading policy and inventory");
    if (!load_config(d, &err)) {
        g_warning("reload failed, keeping the previous policy: %s", err->message);
        kt_daemon_notify("READY=1");
        return G_SOURCE_CONTINUE;
    }
    if (d->engine_new) {
        /* a first policy: the new engine starts empty, rebuild it */
        d->engine_new = false;
        d->ledger_ready = false;
        if (kt_monitor_connected(d->monitor))
            on_connected(d);
    } else {
        kt_daemon_notify("READY=1");
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
on_quit(gpointer data)
{
    KtDaemon *d = data;

    g_message("terminating");
    kt_daemon_notify("STOPPING=1");
    d->quitting = true;
    g_main_loop_quit(d->loop);
    return G_SOURCE_CONTINUE;
}

static char *
dup_or(const char *s, const char *fallback)
{
    return g_strdup(s ? s : fallback);
}

KtDaemon *
kt_daemon_new(const KtDaemonOptions *opts, GError **error)
{
    g_autoptr(KtDaemon) d = g_new0(KtDaemon, 1);
    KtMonitorOps mops = {
        .connected = on_connected,
        .disconnected = on_disconnected,
        .rebuilt = on_rebuilt,
        .event = on_event,
        .reconciled = on_reconciled,
    };

    d->opts = *opts;
    d->opts.policy_path = g_strdup(opts->policy_path);
    d->opts.sysroot = dup_or(opts->sysroot, "/");
    d->opts.listen_path = dup_or(opts->listen_path, KT_DAEMON_DEFAULT_LISTEN);
    d->opts.listen_group = dup_or(opts->listen_group, "libvirt");
    d->opts.upstream_path = dup_or(opts->upstream_path, KT_DAEMON_DEFAULT_UPSTREAM);
    d->opts.control_path = dup_or(opts->control_path, KT_CONTROL_DEFAULT_PATH);
    d->opts.libvirt_uri = opts->libvirt_uri ? g_strdup(opts->libvirt_uri) :
        g_strdup_printf("qemu+unix:///system?socket=%s", d->opts.upstream_path);
    d->recent = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    d->incoming = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (!d->opts.incoming_grace_s)
        d->opts.incoming_grace_s = KT_DAEMON_DEFAULT_INCOMING_GRACE_S;
    d->active = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    d->orphans = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    d->early = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    d->touched = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    d->loop = g_main_loop_new(NULL, FALSE);

    if (!load_config(d, error))
        return NULL;
    d->engine_new = false;      /* the first rebuild follows the connect */

    /* the proxy socket is only bound once the ledger is rebuilt, so a
     * client that waits for it never meets an empty ledger */
    if (!(d->control = kt_control_server_new(d->opts.control_path, 0600, control_handler,
                                             d, error)))
        return NULL;

    mops.data = d;
    d->monitor = kt_monitor_new(d->opts.libvirt_uri, &mops);
    d->prune_id = g_timeout_add_seconds(30, prune_recent, d);
    d->signal_ids[0] = g_unix_signal_add(SIGTERM, on_quit, d);
    d->signal_ids[1] = g_unix_signal_add(SIGINT, on_quit, d);
    d->signal_ids[2] = g_unix_signal_add(SIGHUP, on_sighup, d);
    signal(SIGPIPE, SIG_IGN);
    g_message("control socket %s; waiting for libvirt (%s) to rebuild the ledger before "
              "listening on %s", d->opts.control_path, d->opts.libvirt_uri,
              d->opts.listen_path);
    return g_steal_pointer(&d);
}

/* Polling pays for a lone caller: while its one call is with libvirtd, and
 * just after its reply went out, when its next call is likely to follow
 * within microseconds.  With more calls in flight libvirtd keeps the CPUs
 * busy, and lifecycle events from other clients' work are no reason to
 * poll: either way polling would only take CPU time from libvirtd.  Nor
 * does a define, create or undefine: libvirtd writes or removes the
 * domain's configuration file, hundreds of microseconds past any window
 * (measured: polling then cost about 90 us of CPU per define+undefine and
 * gained nothing). */
static gboolean
busy_poll_gate(gpointer data)
{
    KtDaemon *d = data;
    guint in_flight = kt_proxy_calls_in_flight(d->proxy);

    if (in_flight == 1)
        return !kt_proxy_domain_ops_in_flight(d->proxy);
    return in_flight == 0 &&
        g_get_monotonic_time() - kt_proxy_last_reply(d->proxy) < KT_DAEMON_BUSY_POLL_FOLLOW_US;
}

int
kt_daemon_run(KtDaemon *d)
{
    kt_busy_poll_install(g_main_loop_get_context(d->loop), d->opts.busy_poll_us,
                         busy_poll_gate, d);
    g_main_loop_run(d->loop);
    return d->exit_status;
}

void
kt_daemon_free(KtDaemon *d)
{
    guint i;

    if (!d)
        return;
    d->quitting = true;
    for (i = 0; i < G_N_ELEMENTS(d->signal_ids); i++) {
        if (d->signal_ids[i])
            g_source_remove(d->signal_ids[i]);
    }
    if (d->prune_id)
        g_source_remove(d->prune_id);
    {
        GHashTableIter iter;
        gpointer id;

        g_hash_table_iter_init(&iter, d->incoming);
        while (g_hash_table_iter_next(&iter, NULL, &id))
            g_source_remove(GPOINTER_TO_UINT(id));
        g_hash_table_destroy(d->incoming);
    }
    kt_proxy_free(d->proxy);
    kt_control_server_free(d->control);
    kt_monitor_free(d->monitor);
    if (d->engine)
        kt_engine_free(d->engine);
    kt_inventory_free(d->inv);
    kt_policy_free(d->policy);
    g_clear_pointer(&d->allow_uids, g_array_unref);
    g_clear_pointer(&d->allow_gids, g_array_unref);
    g_hash_table_destroy(d->recent);
    g_hash_table_destroy(d->active);
    g_hash_table_destroy(d->orphans);
    g_hash_table_destroy(d->early);
    g_hash_table_destroy(d->touched);
    if (d->loop)
        g_main_loop_unref(d->loop);
    g_free(d->opts.policy_path);
    g_free(d->opts.sysroot);
    g_free(d->opts.listen_path);
    g_free(d->opts.listen_group);
    g_free(d->opts.upstream_path);
    g_free(d->opts.control_path);
    g_free(d->opts.libvirt_uri);
    g_free(d);
}
