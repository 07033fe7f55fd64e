/* proxy.h: KtProxy, the libvirt RPC relay of kvmtuned.
 *
 * Each accepted client gets its own upstream connection to libvirtd; every
 * frame of every program goes through untouched (streams, keepalive, events,
 * FDs passed with SCM_RIGHTS), with serials unchanged and calls pipelined.
 * Only define/create calls are decoded and, when the engine says REWRITE,
 * re-encoded; undefine calls are watched for their OK reply.  Sockets are
 * non-blocking on the thread-default GLib main context; per-direction
 * queues are bounded (a side stops being read while the other side's
 * outgoing queue is above KT_PROXY_QUEUE_HIGH). */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

#include "kt-enum.h"

#define KT_PROXY_QUEUE_HIGH (1024u * 1024)
/* A client whose upstream connect finds libvirtd's backlog full is retried
 * every KT_PROXY_CONNECT_RETRY_MS for up to KT_PROXY_CONNECT_TIMEOUT_S. */
#define KT_PROXY_CONNECT_RETRY_MS 50
#define KT_PROXY_CONNECT_TIMEOUT_S 30

typedef struct _KtProxy KtProxy;

typedef enum {
    KT_PROXY_PENDING_DEFINE,     /* persistent define, booking pending */
    KT_PROXY_PENDING_CREATE,     /* transient create, booking pending */
    KT_PROXY_PENDING_UNDEFINE,   /* release once libvirt confirms */
    KT_PROXY_PENDING_PASS,       /* forwarded untouched, but the engine booked
                                  * what the XML pins itself: settle on error */
    KT_PROXY_PENDING_LAST
} KtProxyPendingKind;
KT_ENUM_DECL(kt_proxy_pending_kind);

/* What the proxy asks of the daemon.  All run on the main context. */
typedef struct {
    /* Decide for a define/create XML: the same contract as
     * kt_engine_rewrite (PASS: *ret_xml stays NULL; *ret_uuid may be set,
     * then libvirt's answer is reported as KT_PROXY_PENDING_PASS).  NULL
     * hook: pass. */
    gboolean (*rewrite)(gpointer data, const char *xml, gsize len, bool *ret_rewrite,
                        char **ret_xml, gsize *ret_len, char **ret_uuid, GError **error);
    /* libvirt answered a pending operation: @ok is the reply status. */
    void (*resolved)(gpointer data, KtProxyPendingKind kind, const char *uuid, bool ok);
    /* The connection died before libvirt's answer arrived: reconcile. */
    void (*lost)(gpointer data, KtProxyPendingKind kind, const char *uuid);
    /* Peer credential check at accept (@fd: the client socket, for
     * SO_PEERGROUPS); NULL hook: allow. */
    bool (*allow_peer)(gpointer data, int fd, uid_t uid, gid_t gid, pid_t pid);
    gpointer data;
} KtProxyOps;

typedef struct {
    char *listen_path;
    guint listen_mode;           /* e.g. 0660 */
    char *listen_group;          /* NULL: leave the group alone */
    char *upstream_path;
    bool set_identity;           /* send CONNECT_SET_IDENTITY after open */
} KtProxyConfig;

/* Binds and listens (replacing a stale socket file). */
KtProxy *kt_proxy_new(const KtProxyConfig *config, const KtProxyOps *ops, GError **error);
/* Closes every client (reporting pending operations as lost) and unlinks the
 * listening socket.  NULL is a no-op. */
void kt_proxy_free(KtProxy *proxy);

/* Adopts an already listening socket (systemd socket activation). */
KtProxy *kt_proxy_new_from_fd(int listen_fd, const KtProxyConfig *config,
                              const KtProxyOps *ops, GError **error);

/* The queries below accept NULL (no proxy yet): 0, false, empty, -1. */
guint kt_proxy_client_count(KtProxy *proxy);
/* Operations sent upstream and not answered yet, over all clients. */
guint kt_proxy_pending_count(KtProxy *proxy);
/* Calls of any program sent upstream and not answered yet, over all
 * clients (the proxy's own CONNECT_SET_IDENTITY included). */
guint kt_proxy_calls_in_flight(KtProxy *proxy);
/* g_get_monotonic_time() of the last reply relayed to a client; 0: none. */
gint64 kt_proxy_last_reply(KtProxy *proxy);
/* True when any define, create or undefine is in flight (constant time). */
bool kt_proxy_domain_ops_in_flight(KtProxy *proxy);
/* True when @uuid has a define/create or undefine in flight. */
bool kt_proxy_uuid_pending(KtProxy *proxy, const char *uuid);
/* The UUIDs with operations in flight; g_ptr_array_unref frees. */
GPtrArray *kt_proxy_pending_uuids(KtProxy *proxy);

/* Result of the last CONNECT_SET_IDENTITY: -1 never tried, 0 refused,
 * 1 accepted. */
int kt_proxy_identity_state(KtProxy *proxy);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtProxy, kt_proxy_free)
