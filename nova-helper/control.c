/* control.c: the control socket (protocol in control.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "control.h"
#include "kt-error.h"
#include "unix-socket.h"

/* ---- line format --------------------------------------------------------- */

GVariant *
kt_control_parse_line(const char *line, gsize len, GError **error)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    const char *nul;
    const char *bad = NULL;
    GVariant *v;

    if (len > KT_CONTROL_LINE_MAX) {
        g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                    "control line of %zu bytes exceeds %u", len, KT_CONTROL_LINE_MAX);
        return NULL;
    }
    nul = memchr(line, '\0', len);
    if (nul) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "control line holds a NUL byte at offset %zu",
                    (gsize)(nul - line));
        return NULL;
    }
    /* GLib's parser (2.74) returns NULL without an error for a string
     * literal that is not UTF-8: refuse that here */
    if (!g_utf8_validate_len(line, len, &bad)) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "control line is not UTF-8 (byte at offset %zu)", (gsize)(bad - line));
        return NULL;
    }
    text = g_strndup(line, len);
    v = g_variant_parse(G_VARIANT_TYPE_VARDICT, text, NULL, NULL, &err);
    if (!v) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "control line is not an a{sv}: %s",
                    err ? err->message : "malformed");
        return NULL;
    }
    /* g_variant_parse() returns a full reference, not a floating one:
     * ref_sink would add a second one and leak the dict */
    return g_variant_take_ref(v);
}

char *
kt_control_format_line(GVariant *dict)
{
    g_autofree char *text = g_variant_print(dict, TRUE);

    /* g_variant_print escapes newlines inside strings, so one line holds */
    return g_strconcat(text, "\n", NULL);
}

GVariant *
kt_control_reply_error(const GError *error)
{
    GVariantBuilder b;
    const char *code = NULL;

    if (error->domain == KT_ERROR)
        code = kt_error_code_to_string(error->code);
    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&b, "{sv}", "ok", g_variant_new_boolean(FALSE));
    g_variant_builder_add(&b, "{sv}", "code", g_variant_new_string(code ? code : "failed"));
    g_variant_builder_add(&b, "{sv}", "error", g_variant_new_string(error->message));
    return g_variant_builder_end(&b);
}

/* ---- client -------------------------------------------------------------- */

static gint64
remaining_ms(gint64 deadline)
{
    gint64 left = (deadline - g_get_monotonic_time()) / 1000;

    return left < 0 ? 0 : left;
}

static gboolean
wait_fd(int fd, short events, gint64 deadline, GError **error)
{
    struct pollfd pfd = { .fd = fd, .events = events };
    int r;

    for (;;) {
        r = poll(&pfd, 1, (int)MIN(remaining_ms(deadline), G_MAXINT));
        if (r > 0)
            return TRUE;
        if (r == 0) {
            g_set_error(error, KT_ERROR, KT_ERROR_IO, "kvmtuned did not answer in time");
            return FALSE;
        }
        if (errno != EINTR) {
            g_set_error(error, KT_ERROR, KT_ERROR_IO, "poll: %s", g_strerror(errno));
            return FALSE;
        }
    }
}

GVariant *
kt_control_call(const char *socket_path, GVariant *request, guint timeout_ms,
                GError **error)
{
    g_autoptr(GVariant) req = g_variant_ref_sink(request);
    g_autoptr(GVariant) reply = NULL;
    g_autofree char *line = NULL;
    g_autoptr(GString) in = g_string_new(NULL);
    struct sockaddr_un addr;
    gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
    gsize off = 0;
    gsize len;
    gboolean ok = FALSE;
    const char *nl = NULL;
    int fd;

    if (!g_variant_is_of_type(req, G_VARIANT_TYPE_VARDICT)) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "control request must be an a{sv}");
        return NULL;
    }
    fd = kt_unix_socket(socket_path, SOCK_NONBLOCK, &addr, error);
    if (fd < 0)
        return NULL;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 && errno != EINPROGRESS &&
        errno != EAGAIN) {
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot reach kvmtuned at %s: %s",
                    socket_path, g_strerror(errno));
        close(fd);
        return NULL;
    }

    line = kt_control_format_line(req);
    len = strlen(line);
    while (off < len) {
        ssize_t n;

        if (!wait_fd(fd, POLLOUT, deadline, error))
            goto out;
        n = send(fd, line + off, len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot talk to kvmtuned at %s: %s",
                        socket_path, g_strerror(errno));
            goto out;
        }
        off += (gsize)n;
    }

    while (!nl) {
        char buf[2048];
        ssize_t n;

        if (!wait_fd(fd, POLLIN, deadline, error))
            goto out;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            g_set_error(error, KT_ERROR, KT_ERROR_IO, "reading from kvmtuned: %s",
                        g_strerror(errno));
            goto out;
        }
        if (n == 0) {
            g_set_error(error, KT_ERROR, KT_ERROR_IO, "kvmtuned closed the connection");
            goto out;
        }
        g_string_append_len(in, buf, n);
        nl = memchr(in->str, '\n', in->len);
        if (!nl && in->len > KT_CONTROL_LINE_MAX) {
            g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE, "reply from kvmtuned too long");
            goto out;
        }
    }
    ok = TRUE;

 out:
    close(fd);
    if (!ok)
        return NULL;

    reply = kt_control_parse_line(in->str, (gsize)(nl - in->str), error);
    if (!reply)
        return NULL;
    {
        gboolean reply_ok = FALSE;
        const char *code = "failed";
        const char *msg = "kvmtuned refused the request";
        int c;

        g_variant_lookup(reply, "ok", "b", &reply_ok);
        if (reply_ok)
            return g_steal_pointer(&reply);
        g_variant_lookup(reply, "code", "&s", &code);
        g_variant_lookup(reply, "error", "&s", &msg);
        c = kt_error_code_from_string(code);
        g_set_error_literal(error, KT_ERROR, c < 0 ? KT_ERROR_FAILED : c, msg);
        return NULL;
    }
}

/* ---- server -------------------------------------------------------------- */

typedef struct _KtControlConn KtControlConn;

struct _KtControlServer {
    char *path;
    int fd;
    guint source_id;
    KtControlHandler handler;
    gpointer user_data;
    GList *conns;
};

struct _KtControlConn {
    KtControlServer *server;
    int fd;
    guint source_id;
    GIOCondition cond;
    GString *in;
    GString *out;
    gsize out_off;
};

static void conn_free(KtControlConn *c);
static gboolean conn_io(int fd, GIOCondition cond, gpointer data);

static void
conn_close(KtControlConn *c)
{
    c->server->conns = g_list_remove(c->server->conns, c);
    conn_free(c);
}

static void
conn_free(KtControlConn *c)
{
    if (c->source_id)
        g_source_remove(c->source_id);
    close(c->fd);
    g_string_free(c->in, TRUE);
    g_string_free(c->out, TRUE);
    g_free(c);
}

static void
conn_watch(KtControlConn *c)
{
    GIOCondition want = G_IO_IN;

    if (c->out->len > c->out_off)
        want |= G_IO_OUT;
    /* back-pressure: stop reading requests while replies pile up */
    if (c->out->len - c->out_off > KT_CONTROL_LINE_MAX)
        want &= ~G_IO_IN;
    if (want == c->cond && c->source_id)
        return;
    if (c->source_id)
        g_source_remove(c->source_id);
    c->cond = want;
    c->source_id = g_unix_fd_add(c->fd, want, conn_io, c);
}

static void
handle_line(KtControlConn *c, const char *line, gsize len)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GVariant) req = kt_control_parse_line(line, len, &err);
    g_autoptr(GVariant) reply = NULL;
    g_autofree char *text = NULL;

    if (req)
        reply = c->server->handler(req, c->server->user_data, &err);
    if (reply) {
        GVariantBuilder b;
        GVariantIter iter;
        const char *key;
        GVariant *value;

        /* the handler's reply is ours, floating or not */
        g_variant_take_ref(reply);
        g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
        g_variant_builder_add(&b, "{sv}", "ok", g_variant_new_boolean(TRUE));
        g_variant_iter_init(&iter, reply);
        while (g_variant_iter_next(&iter, "{&sv}", &key, &value)) {
            if (strcmp(key, "ok") != 0)
                g_variant_builder_add(&b, "{sv}", key, value);
            g_variant_unref(value);
        }
        g_variant_unref(reply);
        reply = g_variant_ref_sink(g_variant_builder_end(&b));
    } else {
        if (!err)
            g_set_error(&err, KT_ERROR, KT_ERROR_FAILED, "request failed");
        reply = g_variant_ref_sink(kt_control_reply_error(err));
    }
    text = kt_control_format_line(reply);
    g_string_append(c->out, text);
}

static gboolean
conn_flush(KtControlConn *c)
{
    while (c->out->len > c->out_off) {
        ssize_t n = send(c->fd, c->out->str + c->out_off, c->out->len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return TRUE;
            return FALSE;
        }
        c->out_off += (gsize)n;
    }
    g_string_truncate(c->out, 0);
    c->out_off = 0;
    return TRUE;
}

static gboolean
conn_io(int fd, GIOCondition cond, gpointer data)
{
    KtControlConn *c = data;

    if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) {
        g_autofree char *buf = g_malloc(65536);
        ssize_t n = recv(fd, buf, 65536, MSG_DONTWAIT);
        char *nl;

        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            c->source_id = 0;
            conn_close(c);
            return G_SOURCE_REMOVE;
        }
        if (n > 0)
            g_string_append_len(c->in, buf, n);
        while ((nl = memchr(c->in->str, '\n', c->in->len))) {
            gsize linelen = (gsize)(nl - c->in->str);

            handle_line(c, c->in->str, linelen);
            g_string_erase(c->in, 0, (gssize)linelen + 1);
        }
        if (c->in->len > KT_CONTROL_LINE_MAX) {
            g_warning("control: request line over %u bytes, closing", KT_CONTROL_LINE_MAX);
            c->source_id = 0;
            conn_close(c);
            return G_SOURCE_REMOVE;
        }
    }
    if (!conn_flush(c)) {
        c->source_id = 0;
        conn_close(c);
        return G_SOURCE_REMOVE;
    }
    {
        GIOCondition want = G_IO_IN;

        if (c->out->len > c->out_off)
            want |= G_IO_OUT;
        if (want != c->cond) {
            /* replacing the watch from inside its own callback */
            c->source_id = 0;
            c->cond = 0;
            conn_watch(c);
            return G_SOURCE_REMOVE;
        }
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
server_accept(int fd, GIOCondition cond, gpointer data)
{
    KtControlServer *server = data;
    KtControlConn *c;
    int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (cfd < 0) {
        if (errno != EAGAIN && errno != EINTR)
            g_warning("control: accept: %s", g_strerror(errno));
        return G_SOURCE_CONTINUE;
    }
    c = g_new0(KtControlConn, 1);
    c->server = server;
    c->fd = cfd;
    c->in = g_string_new(NULL);
    c->out = g_string_new(NULL);
    server->conns = g_list_prepend(server->conns, c);
    conn_watch(c);
    return G_SOURCE_CONTINUE;
}

KtControlServer *
kt_control_server_new(const char *path, guint mode, KtControlHandler handler,
                      gpointer user_data, GError **error)
{
    g_autoptr(KtControlServer) server = g_new0(KtControlServer, 1);

    server->handler = handler;
    server->user_data = user_data;
    server->fd = kt_unix_bind(path, error);
    if (server->fd < 0)
        return NULL;
    server->path = g_strdup(path);
    if (chmod(path, mode) < 0 || listen(server->fd, 64) < 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot listen on %s: %s", path,
                    g_strerror(errno));
        return NULL;
    }
    server->source_id = g_unix_fd_add(server->fd, G_IO_IN, server_accept, server);
    return g_steal_pointer(&server);
}

void
kt_control_server_free(KtControlServer *server)
{
    if (!server)
        return;
    while (server->conns) {
        KtControlConn *c = server->conns->data;

        server->conns = g_list_delete_link(server->conns, server->conns);
        conn_free(c);
    }
    if (server->source_id)
        g_source_remove(server->source_id);
    if (server->fd >= 0)
        close(server->fd);
    if (server->path)
        unlink(server->path);
    g_free(server->path);
    g_free(server);
}
