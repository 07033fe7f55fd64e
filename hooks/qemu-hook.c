/* qemu-hook.c: kvmtune's libvirt qemu hook, installed as
 * <sysconfdir>/libvirt/hooks/qemu.d/kvmtune (so it chains with any other
 * hook; /etc/libvirt/hooks/qemu belongs to the admin).
 *
 *   kvmtune <domain> <operation> <sub-operation> <extra>   domain XML on stdin
 *
 * prepare begin            create mdevs, check hugepages/VFs; exit 1 + one
 *                          stderr line refuses the start
 * release end              remove the mdevs prepare created
 * migrate begin,
 * restore begin            print the domain re-placed by kvmtuned
 * reconnect begin, others  exit 0 (a failing reconnect makes libvirt kill
 *                          the guest)
 *
 * Never calls libvirt: libvirtd waits for the hook to finish.  Paths come
 * from the environment or a key file (hook-config.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "domain.h"
#include "hook-config.h"
#include "hook-ops.h"
#include "kt-error.h"
#include "kt-fdio.h"

typedef enum {
    OP_IGNORE,
    OP_PREPARE,
    OP_RELEASE,
    OP_INCOMING,
    OP_RECONNECT,
} HookOp;

static HookOp
classify(const char *op, const char *subop)
{
    if (strcmp(op, "prepare") == 0 && strcmp(subop, "begin") == 0)
        return OP_PREPARE;
    if (strcmp(op, "release") == 0 && strcmp(subop, "end") == 0)
        return OP_RELEASE;
    if ((strcmp(op, "migrate") == 0 || strcmp(op, "restore") == 0) &&
        strcmp(subop, "begin") == 0)
        return OP_INCOMING;
    if (strcmp(op, "reconnect") == 0 && strcmp(subop, "begin") == 0)
        return OP_RECONNECT;
    return OP_IGNORE;
}

/* Reads all of stdin.  Keeps at most KT_DOMAIN_XML_MAX bytes (libvirt's
 * own limit on a domain XML); beyond that it drains and reports the excess
 * in *@ret_too_large, so libvirt never blocks on a full pipe. */
#define CHUNK (64 * 1024)

static char *
read_stdin(gsize *ret_len, bool *ret_too_large)
{
    GByteArray *buf = g_byte_array_new();
    g_autofree guint8 *chunk = g_malloc(CHUNK);
    bool too_large = false;

    for (;;) {
        ssize_t n = read(STDIN_FILENO, chunk, CHUNK);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (too_large || buf->len + (gsize)n > KT_DOMAIN_XML_MAX) {
            too_large = true;
            continue;
        }
        g_byte_array_append(buf, chunk, (guint)n);
    }
    *ret_len = buf->len;
    *ret_too_large = too_large;
    g_byte_array_append(buf, (const guint8 *)"", 1);
    return (char *)g_byte_array_free(buf, FALSE);
}

/* One line: libvirt passes the hook's stderr to virsh and Nova verbatim. */
static char *
one_line(const char *msg)
{
    char *line = g_strdup(msg);
    char *p;

    for (p = line; *p; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
    return line;
}

static void
log_call(const KtHookConfig *cfg, const char *name, const char *op,
         const char *subop, const char *result)
{
    g_autoptr(GDateTime) now = NULL;
    g_autofree char *stamp = NULL;
    g_autofree char *esc = NULL;
    g_autofree char *line = NULL;
    int fd;

    if (!cfg || !cfg->log)
        return;
    now = g_date_time_new_now_utc();
    stamp = g_date_time_format_iso8601(now);
    esc = g_strescape(name, NULL);
    line = g_strdup_printf("%s %s %s %s %s\n", stamp, op, subop, esc, result);
    fd = open(cfg->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0)
        return;
    (void)kt_write_all(fd, line, strlen(line));
    close(fd);
}

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: kvmtune DOMAIN OPERATION SUB-OPERATION EXTRA < domain.xml\n"
            "\n"
            "kvmtune's libvirt qemu hook (install as /etc/libvirt/hooks/qemu.d/kvmtune).\n"
            "prepare begin: create mdevs, check hugepages and VFs; release end: remove\n"
            "the mdevs it created; migrate/restore begin: print the domain re-placed by\n"
            "kvmtuned; everything else: exit 0.\n"
            "\n"
            "Environment (over /etc/libvirt/hooks/kvmtune.conf or /etc/kvmtune/hook.conf):\n"
            "  KVMTUNE_SYSROOT, KVMTUNE_CONTROL, KVMTUNE_POLICY, KVMTUNE_STATE_DIR,\n"
            "  KVMTUNE_MDEVCTL_DIR, KVMTUNE_HOOK_LOG, KVMTUNE_HOOK_CONF\n");
}

int
main(int argc, char **argv)
{
    g_autoptr(KtHookConfig) cfg = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *out = NULL;
    const char *name, *op, *subop;
    bool too_large = false;
    bool passthrough = false;
    gboolean ok = TRUE;
    gsize len = 0;
    HookOp what;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc < 4) {
        usage(stderr);
        return 1;
    }
    name = argv[1];
    op = argv[2];
    subop = argv[3];
    what = classify(op, subop);
    /* A reader that went away must give an error we report, not a kill. */
    signal(SIGPIPE, SIG_IGN);

    xml = read_stdin(&len, &too_large);
    if (what == OP_IGNORE)
        return 0;

    cfg = kt_hook_config_load(argv[0], &error);
    if (!cfg) {
        g_autofree char *line = one_line(error->message);

        fprintf(stderr, "kvmtune: %s\n", line);
        /* Only the operations that can refuse may fail on it. */
        return what == OP_PREPARE || what == OP_INCOMING ? 1 : 0;
    }
    if (too_large) {
        g_set_error(&error, KT_ERROR, KT_ERROR_TOO_LARGE,
                    "domain XML on stdin exceeds %u bytes", KT_DOMAIN_XML_MAX);
        ok = FALSE;
    } else {
        switch (what) {
        case OP_PREPARE:
            ok = kt_hook_prepare(cfg, name, xml, len, &error);
            break;
        case OP_RELEASE:
            ok = kt_hook_release(cfg, name, xml, len, &error);
            break;
        case OP_INCOMING:
            ok = kt_hook_incoming(cfg, xml, len, &out, &passthrough, &error);
            break;
        case OP_RECONNECT:
            kt_hook_notify(cfg, op, name, xml, len);
            break;
        case OP_IGNORE:
            break;
        }
    }

    if (!ok) {
        g_autofree char *msg = g_strdup_printf("%s: %s", name, error->message);
        g_autofree char *line = one_line(msg);
        g_autofree char *result = g_strdup_printf("error: %s", error->message);
        g_autofree char *result_line = one_line(result);

        log_call(cfg, name, op, subop, result_line);
        fprintf(stderr, "kvmtune: %s\n", line);
        /* Release and reconnect cannot refuse anything: report only. */
        return what == OP_PREPARE || what == OP_INCOMING ? 1 : 0;
    }
    if (out) {
        if (passthrough) {
            g_autofree char *safe = one_line(name);

            fprintf(stderr, "kvmtune: %s: kvmtuned unreachable, domain passed through "
                    "unchanged (policy hooks.on_daemon_down: passthrough)\n", safe);
        }
        if (kt_write_all(STDOUT_FILENO, out, strlen(out)) < 0) {
            g_autofree char *safe = one_line(name);

            log_call(cfg, name, op, subop, "error: cannot write stdout");
            fprintf(stderr, "kvmtune: %s: cannot write the rewritten XML\n", safe);
            return 1;
        }
    }
    log_call(cfg, name, op, subop, passthrough ? "passthrough" : "ok");
    return 0;
}
