/* kvmtuned: the libvirt RPC proxy that rewrites domain definitions at
 * define time (see DESIGN.md and daemon.h).  This file is only the command
 * line. */
#include <errno.h>
#include <locale.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "daemon.h"

static void
log_handler(const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
    const char *prefix = "";

    /* sd-daemon(3) priority prefixes: journald files them by level */
    switch (level & G_LOG_LEVEL_MASK) {
    case G_LOG_LEVEL_ERROR: prefix = "<3>"; break;
    case G_LOG_LEVEL_CRITICAL: prefix = "<3>"; break;
    case G_LOG_LEVEL_WARNING: prefix = "<4>"; break;
    case G_LOG_LEVEL_MESSAGE: prefix = "<5>"; break;
    case G_LOG_LEVEL_INFO: prefix = "<6>"; break;
    case G_LOG_LEVEL_DEBUG: prefix = "<7>"; break;
    default: break;
    }
    if ((level & G_LOG_LEVEL_DEBUG) && !GPOINTER_TO_INT(data))
        return;
    if (!g_getenv("JOURNAL_STREAM"))
        prefix = "";
    fprintf(stderr, "%skvmtuned: %s\n", prefix, message);
}

int
main(int argc, char **argv)
{
    g_autofree char *policy = NULL;
    g_autofree char *sysroot = NULL;
    g_autofree char *listen = NULL;
    g_autofree char *listen_group = NULL;
    g_autofree char *listen_mode = NULL;
    g_autofree char *upstream = NULL;
    g_autofree char *control = NULL;
    g_autofree char *uri = NULL;
    gint busy_poll = KT_DAEMON_DEFAULT_BUSY_POLL_US;
    gint incoming_grace = KT_DAEMON_DEFAULT_INCOMING_GRACE_S;
    gboolean foreground = FALSE;
    gboolean no_identity = FALSE;
    gboolean verbose = FALSE;
    gboolean version = FALSE;
    GOptionEntry entries[] = {
        { "policy", 0, 0, G_OPTION_ARG_FILENAME, &policy,
          "Policy file (default " KT_SYSCONFDIR "/kvmtune/policy.yaml; without one, "
          "everything passes through)", "FILE" },
        { "sysroot", 0, 0, G_OPTION_ARG_FILENAME, &sysroot,
          "Read the host inventory under DIR (default /)", "DIR" },
        { "listen", 0, 0, G_OPTION_ARG_FILENAME, &listen,
          "Proxy socket for libvirt clients (default " KT_DAEMON_DEFAULT_LISTEN ")", "PATH" },
        { "listen-group", 0, 0, G_OPTION_ARG_STRING, &listen_group,
          "Group of the proxy socket (default libvirt; \"\" keeps the daemon's)", "GROUP" },
        { "listen-mode", 0, 0, G_OPTION_ARG_STRING, &listen_mode,
          "Mode of the proxy socket, octal (default 0660)", "MODE" },
        { "upstream", 0, 0, G_OPTION_ARG_FILENAME, &upstream,
          "libvirtd's socket (default " KT_DAEMON_MODULAR_UPSTREAM " when it exists, "
          "else " KT_DAEMON_DEFAULT_UPSTREAM ")", "PATH" },
        { "control", 0, 0, G_OPTION_ARG_FILENAME, &control,
          "Control socket for the hook and `kvmtune status` (default /run/kvmtune/control)",
          "PATH" },
        { "libvirt-uri", 0, 0, G_OPTION_ARG_STRING, &uri,
          "kvmtuned's own libvirt connection (ledger rebuild, events; default "
          "qemu+unix:///system?socket=<upstream>)", "URI" },
        { "no-set-identity", 0, 0, G_OPTION_ARG_NONE, &no_identity,
          "Do not pass the caller's uid/gid/pid upstream with CONNECT_SET_IDENTITY", NULL },
        { "busy-poll", 0, 0, G_OPTION_ARG_INT, &busy_poll,
          "Poll up to USEC microseconds before the main loop sleeps, adapting like "
          "KVM's halt-polling (default " G_STRINGIFY(KT_DAEMON_DEFAULT_BUSY_POLL_US)
          "; 0 turns it off; see Busy polling below)", "USEC" },
        { "incoming-grace", 0, 0, G_OPTION_ARG_INT, &incoming_grace,
          "Release a placement made for an incoming migration or restore when its "
          "domain is not in libvirt SECONDS later (default "
          G_STRINGIFY(KT_DAEMON_DEFAULT_INCOMING_GRACE_S) ")", "SECONDS" },
        { "foreground", 'f', 0, G_OPTION_ARG_NONE, &foreground,
          "Stay in the foreground (for systemd Type=notify)", NULL },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages", NULL },
        { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDaemon) daemon_ = NULL;
    KtDaemonOptions opts = { 0 };
    int status;

    setlocale(LC_ALL, "");
#ifdef __GLIBC__
    /* The ledger rebuild fetches every domain's XML from a few threads;
     * with one malloc arena per thread the freed megabytes stay scattered
     * over arenas malloc_trim cannot shrink (25-29 MiB after a rebuild of
     * 2,240 domains, against 23 MiB with two arenas and no slower). */
    mallopt(M_ARENA_MAX, 2);
#endif
    g_option_context_set_summary(ctx,
        "libvirt RPC proxy: forwards every call to libvirtd and rewrites domain\n"
        "definitions (define/create) with the placement the policy asks for.\n"
        "Point Nova at it with [libvirt] connection_uri =\n"
        "qemu+unix:///system?socket=" KT_DAEMON_DEFAULT_LISTEN);
    g_option_context_set_description(ctx,
        "Signals: SIGHUP reloads the policy and inventory and rebuilds the\n"
        "ledger from libvirt; SIGTERM and SIGINT exit cleanly.\n"
        "\n"
        "Busy polling: every relayed frame would otherwise wake kvmtuned from\n"
        "sleep, which on a busy or virtualised host costs more than the relay\n"
        "itself.  kvmtuned polls for a short, adaptive window first: it grows\n"
        "while replies and calls follow each other closely and shrinks to\n"
        "nothing when the daemon is idle or waits on slow calls, so the CPU it\n"
        "spends is bounded by the traffic (see `kvmtune status`).\n"
        "\n"
        "Exit status: 0 after SIGTERM/SIGINT; 1 when the options, the policy\n"
        "or a socket cannot be set up, or when the daemon fails while running.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "kvmtuned: %s\n", err->message);
        return 1;
    }
    if (version) {
        printf("kvmtuned %s\n", KT_VERSION);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "kvmtuned: unexpected argument '%s'\n", argv[1]);
        return 1;
    }
    g_log_set_default_handler(log_handler, GINT_TO_POINTER(verbose));

    opts.policy_path = policy;
    opts.sysroot = sysroot;
    opts.listen_path = listen;
    opts.listen_group = listen_group;
    opts.upstream_path = upstream;
    if (!upstream && g_file_test(KT_DAEMON_MODULAR_UPSTREAM, G_FILE_TEST_EXISTS))
        opts.upstream_path = (char *)KT_DAEMON_MODULAR_UPSTREAM;
    opts.control_path = control;
    opts.libvirt_uri = uri;
    opts.foreground = foreground;
    opts.set_identity = !no_identity;
    if (busy_poll < 0 || busy_poll > 10000) {
        fprintf(stderr, "kvmtuned: --busy-poll must be 0..10000 microseconds, not %d\n",
                busy_poll);
        return 1;
    }
    opts.busy_poll_us = (guint)busy_poll;
    if (incoming_grace < 1 || incoming_grace > 86400) {
        fprintf(stderr, "kvmtuned: --incoming-grace must be 1..86400 seconds, not %d\n",
                incoming_grace);
        return 1;
    }
    opts.incoming_grace_s = (guint)incoming_grace;
    if (listen_mode) {
        char *end = NULL;
        guint64 mode = g_ascii_strtoull(listen_mode, &end, 8);

        if (!end || *end || end == listen_mode || mode > 0777) {
            fprintf(stderr, "kvmtuned: bad --listen-mode '%s'\n", listen_mode);
            return 1;
        }
        opts.listen_mode = (guint)mode;
    }

    /* the runtime directory (systemd's RuntimeDirectory= makes it too) */
    {
        g_autofree char *ldir = g_path_get_dirname(listen ? listen : KT_DAEMON_DEFAULT_LISTEN);
        g_autofree char *cdir = g_path_get_dirname(control ? control : "/run/kvmtune/control");

        g_mkdir_with_parents(ldir, 0755);
        g_mkdir_with_parents(cdir, 0755);
    }

    /* before any thread exists; stderr stays for the log */
    if (!foreground && daemon(0, 1) < 0) {
        fprintf(stderr, "kvmtuned: cannot daemonize: %s\n", g_strerror(errno));
        return 1;
    }

    daemon_ = kt_daemon_new(&opts, &err);
    if (!daemon_) {
        fprintf(stderr, "kvmtuned: %s\n", err->message);
        return 1;
    }
    status = kt_daemon_run(daemon_);
    return status;
}
