/* control.h: kvmtuned's control socket, server and client.
 *
 * Protocol (stable; the qemu hook and `kvmtune status` speak it):
 *   unix stream socket (default /run/kvmtune/control, mode 0600, root),
 *   one request per line, one reply per line, in order.  Each line is a
 *   GVariant of type a{sv} in GVariant text format (g_variant_print /
 *   g_variant_parse with type "a{sv}"); a line is at most 8 MiB.
 *
 *   {'op': <'place-incoming'>, 'xml': <'...'>}
 *       -> {'ok': <true>, 'xml': <'rewritten'>, 'uuid': <'...'>}
 *      books a placement on this host for an incoming domain (migrate or
 *      restore begin), re-placing it whatever pins it carries from elsewhere.
 *   {'op': <'notify'>, 'uuid': <'...'>, 'name': <'...'>, 'event': <'prepare'|
 *    'release'|'reconnect'|...>}
 *       -> {'ok': <true>}
 *   {'op': <'status'>}
 *       -> {'ok': <true>, 'text': <'...'>, 'json': <'...'>}
 *   any failure:
 *       -> {'ok': <false>, 'code': <'no-capacity'>, 'error': <'message'>}
 *      code is kt_error_code_to_string() of the KtErrorCode. */
#pragma once

#include <gio/gio.h>

#define KT_CONTROL_LINE_MAX (8u * 1024 * 1024)
#define KT_CONTROL_DEFAULT_PATH "/run/kvmtune/control"

/* Client: sends @request (a{sv}; floating refs are sunk) and waits at most
 * @timeout_ms for the reply.  Returns the reply dict when its 'ok' is true;
 * otherwise NULL with a KT_ERROR whose code maps back from 'code' and whose
 * message is 'error' (KT_ERROR_IO when the socket cannot be reached or the
 * daemon does not answer in time). */
GVariant *kt_control_call(const char *socket_path, GVariant *request, guint timeout_ms,
                          GError **error);

/* Server side.  The handler runs in the main context for each request and
 * returns the reply dict without 'ok' (a{sv}, may be floating), or NULL with
 * @error, which becomes {'ok': false, 'code', 'error'}. */
typedef GVariant *(*KtControlHandler)(GVariant *request, gpointer user_data,
                                      GError **error);

typedef struct _KtControlServer KtControlServer;

/* Binds @path (replacing a stale socket file), mode @mode, and serves it on
 * the thread-default main context. */
KtControlServer *kt_control_server_new(const char *path, guint mode,
                                       KtControlHandler handler, gpointer user_data,
                                       GError **error);
/* Closes every connection and unlinks the socket.  NULL is a no-op. */
void kt_control_server_free(KtControlServer *server);

/* Helpers for handlers and tests. */
GVariant *kt_control_reply_error(const GError *error);   /* floating a{sv} */
GVariant *kt_control_parse_line(const char *line, gsize len, GError **error);
char *kt_control_format_line(GVariant *dict);            /* with '\n' */

G_DEFINE_AUTOPTR_CLEANUP_FUNC(KtControlServer, kt_control_server_free)
