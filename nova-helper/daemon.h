/* daemon.h: KtDaemon, kvmtuned's state: policy, inventory and engine, the
 * proxy, the control socket and its own libvirt connection, wired together
 * on one GLib main loop. */
#pragma once

#include <glib.h>
#include <stdbool.h>

#define KT_DAEMON_DEFAULT_LISTEN "/run/kvmtune/libvirt-sock"
#define KT_DAEMON_DEFAULT_UPSTREAM "/run/libvirt/libvirt-sock"
#define KT_DAEMON_MODULAR_UPSTREAM "/run/libvirt/virtqemud-sock"
/* busy-poll.h: the longest the main loop polls before it sleeps (KVM's
 * halt_poll_ns default, for the same reason) */
#define KT_DAEMON_DEFAULT_BUSY_POLL_US 200
/* How long a placement made for an incoming migration/restore waits for
 * its domain to show up in libvirt before it is released. */
#define KT_DAEMON_DEFAULT_INCOMING_GRACE_S 120
/* ...and how long after a reply a caller's next call is waited for */
#define KT_DAEMON_BUSY_POLL_FOLLOW_US 1000

typedef struct {
    char *policy_path;       /* NULL: KT_SYSCONFDIR/kvmtune/policy.yaml if present */
    char *sysroot;           /* inventory root, "/" */
    char *listen_path;
    char *listen_group;      /* "libvirt"; "" keeps the daemon's group */
    guint listen_mode;
    char *upstream_path;
    char *control_path;
    char *libvirt_uri;       /* NULL: qemu+unix:///system?socket=<upstream> */
    bool foreground;
    bool set_identity;
    guint busy_poll_us;      /* 0: the main loop always sleeps in poll() */
    guint incoming_grace_s;  /* 0: KT_DAEMON_DEFAULT_INCOMING_GRACE_S */
} KtDaemonOptions;

typedef struct _KtDaemon KtDaemon;

/* Loads policy and inventory (FALSE + @error when an explicit --policy is
 * unusable), binds the sockets and starts the libvirt connection. */
KtDaemon *kt_daemon_new(const KtDaemonOptions *opts, GError **error);
/* Runs until SIGTERM/SIGINT; returns the exit status. */
int kt_daemon_run(KtDaemon *daemon);
void kt_daemon_free(KtDaemon *daemon);

/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. */
void kt_daemon_notify(const char *state);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtDaemon, kt_daemon_free)
