/* test-rpc-proxy: KtProxy in-process between a client thread and a fake
 * libvirtd thread (no real libvirtd, no root).  Checks byte-for-byte
 * relay of every program, FD passing both ways, define rewrite with commit,
 * refusal answered by the proxy with nothing forwarded, libvirt's error
 * reply -> abort, connection loss -> lost, undefine -> release, a frame
 * over libvirt's maximum closing only its own connection, and a libvirtd
 * whose listen backlog is full not stalling the proxy. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "kt-error.h"
#include "proxy.h"
#include "rpc-wire.h"
#include "xdr-build.h"

#define UUID_A "00010203-0405-0607-0809-0a0b0c0d0e0f"

/* ---- blocking frame I/O for the two test threads ------------------------ */

static bool
read_exact(int fd, void *buf, gsize len)
{
    gsize off = 0;

    while (off < len) {
        ssize_t n = recv(fd, (char *)buf + off, len - off, 0);

        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return false;
        }
        off += (gsize)n;
    }
    return true;
}

static int
recv_one_fd(int fd)
{
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
    struct cmsghdr *cmsg;
    int out = -1;

    if (recvmsg(fd, &msg, MSG_CMSG_CLOEXEC) != 1)
        return -1;
    cmsg = CMSG_FIRSTHDR(&msg);
    if (cmsg && cmsg->cmsg_type == SCM_RIGHTS)
        memcpy(&out, CMSG_DATA(cmsg), sizeof(int));
    return out;
}

static void
send_one_fd(int fd, int pass)
{
    char byte = 0;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
                          .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
    struct cmsghdr *cmsg;

    memset(&ctl, 0, sizeof(ctl));
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &pass, sizeof(int));
    g_assert_cmpint(sendmsg(fd, &msg, MSG_NOSIGNAL), ==, 1);
}

/* One frame plus the FDs that follow it; NULL at EOF. */
static GBytes *
read_frame(int fd, int *fds, guint *nfds)
{
    guint8 len_word[4];
    guint32 len;
    guint8 *buf;
    KtRpcFrame f;
    guint i;

    if (!read_exact(fd, len_word, 4))
        return NULL;
    g_assert_true(kt_rpc_frame_length(len_word, 4, &len, NULL));
    buf = g_malloc(len);
    memcpy(buf, len_word, 4);
    g_assert_true(read_exact(fd, buf + 4, len - 4));
    g_assert_true(kt_rpc_frame_parse(buf, len, &f, NULL));
    for (i = 0; i < f.nfds; i++)
        fds[i] = recv_one_fd(fd);
    if (nfds)
        *nfds = f.nfds;
    return g_bytes_new_take(buf, len);
}

static void
write_frame(int fd, const guint8 *data, gsize len, const int *fds, guint nfds)
{
    guint i;

    g_assert_cmpint(send(fd, data, len, MSG_NOSIGNAL), ==, (ssize_t)len);
    for (i = 0; i < nfds; i++)
        send_one_fd(fd, fds[i]);
}

static GByteArray *
define_call(guint32 serial, const char *name)
{
    g_autofree char *xml = g_strdup_printf("<domain><name>%s</name><uuid>" UUID_A
                                           "</uuid></domain>", name);
    GByteArray *b = kt_test_frame_new(KT_RPC_PROG_REMOTE, KT_RPC_PROC_DOMAIN_DEFINE_XML_FLAGS,
                              KT_RPC_CALL, serial, KT_RPC_OK);

    kt_test_put_string(b, xml);
    kt_test_put32(b, 1);
    kt_test_frame_finish(b);
    return b;
}

static GByteArray *
undefine_call(guint32 serial)
{
    static const guint8 uuid[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
    GByteArray *b = kt_test_frame_new(KT_RPC_PROG_REMOTE, KT_RPC_PROC_DOMAIN_UNDEFINE_FLAGS,
                              KT_RPC_CALL, serial, KT_RPC_OK);

    kt_test_put_string(b, "x");
    g_byte_array_append(b, uuid, 16);
    kt_test_put32(b, 0xffffffff);
    kt_test_put32(b, 0);
    kt_test_frame_finish(b);
    return b;
}

/* ---- the fake libvirtd ---------------------------------------------------- */

typedef struct {
    char *dir;
    char *upstream_path;
    char *listen_path;
    int upstream_listen;
    GThread *server;
    GAsyncQueue *seen;        /* GBytes* frames libvirtd received */
    GPtrArray *events;        /* "resolved define <uuid> ok" ... */
    KtProxy *proxy;
} Fixture;

/* Serves connections one after the other: a define/create call gets an OK
 * reply with a DOM (or an error when its XML says "libvirt-fails"); any
 * other frame is echoed back unchanged, FDs included. */
static gpointer
fake_libvirtd(gpointer data)
{
    Fixture *fx = data;

    for (;;) {
        int c = accept4(fx->upstream_listen, NULL, NULL, SOCK_CLOEXEC);
        GBytes *frame;
        int fds[KT_RPC_NUM_FDS_MAX];
        guint nfds = 0;

        if (c < 0)
            return NULL;
        while ((frame = read_frame(c, fds, &nfds))) {
            gsize len = 0;
            const guint8 *d = g_bytes_get_data(frame, &len);
            KtRpcFrame f;

            g_assert_true(kt_rpc_frame_parse(d, len, &f, NULL));
            g_async_queue_push(fx->seen, g_bytes_ref(frame));
            if (kt_rpc_frame_is_define(&f)) {
                g_autofree char *xml = NULL;
                gsize xml_len = 0;
                guint32 flags = 0;
                g_autoptr(GByteArray) r = NULL;
                KtRpcHeader h = f.hdr;

                g_assert_true(kt_rpc_define_args_decode(d, &f, &xml, &xml_len, &flags, NULL));
                if (strstr(xml, "libvirt-fails")) {
                    gsize rlen = 0;
                    g_autofree guint8 *err = kt_rpc_error_reply_encode(&h, 9, 20, 2,
                                                                       "nope", &rlen);

                    write_frame(c, err, rlen, NULL, 0);
                } else {
                    static const guint8 uuid[16] = { 0 };

                    r = kt_test_frame_new(h.prog, h.proc, KT_RPC_REPLY, h.serial, KT_RPC_OK);
                    kt_test_put_string(r, "dom");
                    g_byte_array_append(r, uuid, 16);
                    kt_test_put32(r, 0xffffffff);
                    kt_test_frame_finish(r);
                    write_frame(c, r->data, r->len, NULL, 0);
                }
            } else if (f.hdr.type == KT_RPC_CALL && f.hdr.prog == KT_RPC_PROG_REMOTE &&
                       f.hdr.proc == KT_RPC_PROC_DOMAIN_UNDEFINE_FLAGS) {
                g_autoptr(GByteArray) r = kt_test_frame_new(f.hdr.prog, f.hdr.proc, KT_RPC_REPLY,
                                                    f.hdr.serial, KT_RPC_OK);

                kt_test_frame_finish(r);
                write_frame(c, r->data, r->len, NULL, 0);
            } else {
                write_frame(c, d, len, fds, nfds);
            }
            while (nfds > 0)
                close(fds[--nfds]);
            g_bytes_unref(frame);
        }
        close(c);
    }
}

static gboolean
op_rewrite(gpointer data, const char *xml, gsize len, bool *ret_rewrite, char **ret_xml,
           gsize *ret_len, char **ret_uuid, GError **error)
{
    if (strstr(xml, "refuse")) {
        g_set_error(error, KT_ERROR, KT_ERROR_NO_CAPACITY, "node 0: 4 CPUs needed, 1 free");
        return FALSE;
    }
    if (!strstr(xml, "rewrite") && !strstr(xml, "libvirt-fails")) {
        *ret_rewrite = false;
        return TRUE;
    }
    *ret_rewrite = true;
    *ret_xml = g_strconcat(xml, "<!-- placed -->", NULL);
    *ret_len = strlen(*ret_xml);
    *ret_uuid = g_strdup(UUID_A);
    return TRUE;
}

static void
op_resolved(gpointer data, KtProxyPendingKind kind, const char *uuid, bool ok)
{
    Fixture *fx = data;

    g_ptr_array_add(fx->events, g_strdup_printf("resolved %s %s %s",
                                                kt_proxy_pending_kind_to_string(kind), uuid,
                                                ok ? "ok" : "error"));
}

static void
op_lost(gpointer data, KtProxyPendingKind kind, const char *uuid)
{
    Fixture *fx = data;

    g_ptr_array_add(fx->events, g_strdup_printf("lost %s %s",
                                                kt_proxy_pending_kind_to_string(kind), uuid));
}

static void
fixture_setup(Fixture *fx, gconstpointer unused)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    KtProxyConfig cfg = { 0 };
    KtProxyOps ops = {
        .rewrite = op_rewrite, .resolved = op_resolved, .lost = op_lost, .data = fx,
    };
    g_autoptr(GError) err = NULL;

    fx->dir = g_dir_make_tmp("kt-test-proxy-XXXXXX", NULL);
    fx->upstream_path = g_build_filename(fx->dir, "libvirt-sock", NULL);
    fx->listen_path = g_build_filename(fx->dir, "proxy-sock", NULL);
    fx->seen = g_async_queue_new_full((GDestroyNotify)g_bytes_unref);
    fx->events = g_ptr_array_new_with_free_func(g_free);
    fx->upstream_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    strcpy(addr.sun_path, fx->upstream_path);
    g_assert_cmpint(bind(fx->upstream_listen, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fx->upstream_listen, 8), ==, 0);
    fx->server = g_thread_new("fake-libvirtd", fake_libvirtd, fx);

    cfg.listen_path = fx->listen_path;
    cfg.listen_mode = 0600;
    cfg.upstream_path = fx->upstream_path;
    fx->proxy = kt_proxy_new(&cfg, &ops, &err);
    g_assert_no_error(err);
}

static void
fixture_teardown(Fixture *fx, gconstpointer unused)
{
    kt_proxy_free(fx->proxy);
    g_assert_false(g_file_test(fx->listen_path, G_FILE_TEST_EXISTS));
    shutdown(fx->upstream_listen, SHUT_RDWR);
    g_thread_join(fx->server);
    close(fx->upstream_listen);
    g_unlink(fx->upstream_path);
    g_rmdir(fx->dir);
    g_async_queue_unref(fx->seen);
    g_ptr_array_unref(fx->events);
    g_free(fx->dir);
    g_free(fx->upstream_path);
    g_free(fx->listen_path);
}

/* ---- running a client against the proxy ---------------------------------- */

typedef struct {
    Fixture *fx;
    void (*body)(Fixture *fx, int fd);
    gint done;
} Client;

static gpointer
client_thread(gpointer data)
{
    Client *cl = data;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    strcpy(addr.sun_path, cl->fx->listen_path);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    cl->body(cl->fx, fd);
    close(fd);
    g_atomic_int_set(&cl->done, 1);
    return NULL;
}

static void
run_client(Fixture *fx, void (*body)(Fixture *fx, int fd))
{
    Client cl = { .fx = fx, .body = body };
    GThread *t = g_thread_new("client", client_thread, &cl);

    while (!g_atomic_int_get(&cl.done)) {
        if (!g_main_context_iteration(NULL, FALSE))
            g_usleep(500);
    }
    g_thread_join(t);
    /* let the proxy notice the close */
    while (kt_proxy_client_count(fx->proxy) > 0) {
        if (!g_main_context_iteration(NULL, FALSE))
            g_usleep(500);
    }
}

static GBytes *
seen_next(Fixture *fx)
{
    return g_async_queue_timeout_pop(fx->seen, 5 * G_USEC_PER_SEC);
}

/* ---- tests --------------------------------------------------------------- */

static void
body_passthrough(Fixture *fx, int fd)
{
    g_autoptr(GByteArray) ping = kt_test_frame_new(KT_RPC_PROG_KEEPALIVE, 1, KT_RPC_MESSAGE, 0, 0);
    g_autoptr(GByteArray) unknown = kt_test_frame_new(0x12345678, 99, KT_RPC_CALL, 1, 0);
    g_autoptr(GByteArray) stream = kt_test_frame_new(KT_RPC_PROG_REMOTE, 209, KT_RPC_STREAM, 2,
                                             KT_RPC_CONTINUE);
    g_autoptr(GByteArray) big = kt_test_frame_new(KT_RPC_PROG_REMOTE, 209, KT_RPC_STREAM, 2,
                                          KT_RPC_CONTINUE);
    GByteArray *all[] = { ping, unknown, stream, big };
    guint i;

    kt_test_frame_finish(ping);
    kt_test_put_string(unknown, "anything");
    kt_test_frame_finish(unknown);
    kt_test_put32(stream, 0xdeadbeef);
    kt_test_frame_finish(stream);
    g_byte_array_set_size(big, 28 + 3 * 1024 * 1024);   /* 3 MiB of stream data */
    memset(big->data + 28, 0x5a, big->len - 28);
    kt_test_frame_finish(big);

    /* pipelined: everything goes out before any echo is read */
    for (i = 0; i < G_N_ELEMENTS(all); i++)
        write_frame(fd, all[i]->data, all[i]->len, NULL, 0);
    for (i = 0; i < G_N_ELEMENTS(all); i++) {
        g_autoptr(GBytes) echo = read_frame(fd, NULL, NULL);
        g_autoptr(GBytes) seen = seen_next(fx);

        g_assert_nonnull(echo);
        g_assert_cmpmem(g_bytes_get_data(echo, NULL), g_bytes_get_size(echo),
                        all[i]->data, all[i]->len);
        g_assert_cmpmem(g_bytes_get_data(seen, NULL), g_bytes_get_size(seen),
                        all[i]->data, all[i]->len);
    }
}

static void
test_passthrough(Fixture *fx, gconstpointer unused)
{
    run_client(fx, body_passthrough);
    g_assert_cmpuint(fx->events->len, ==, 0);
}

static void
body_fds(Fixture *fx, int fd)
{
    g_autoptr(GByteArray) call = kt_test_frame_new(KT_RPC_PROG_QEMU, 7, KT_RPC_CALL_WITH_FDS, 3, 0);
    int p1[2];
    int p2[2];
    int pass[2];
    int back[KT_RPC_NUM_FDS_MAX];
    guint nback = 0;
    char buf[8] = { 0 };
    g_autoptr(GBytes) echo = NULL;

    g_assert_cmpint(pipe(p1), ==, 0);
    g_assert_cmpint(pipe(p2), ==, 0);
    kt_test_put32(call, 2);
    kt_test_put_string(call, "{\"execute\":\"getfd\"}");
    kt_test_frame_finish(call);
    pass[0] = p1[1];
    pass[1] = p2[1];
    write_frame(fd, call->data, call->len, pass, 2);
    close(p1[1]);
    close(p2[1]);
    /* the echo carries two FDs back: they are the write ends we sent */
    echo = read_frame(fd, back, &nback);
    g_assert_nonnull(echo);
    g_assert_cmpuint(nback, ==, 2);
    g_assert_cmpint(write(back[0], "one", 3), ==, 3);
    g_assert_cmpint(write(back[1], "two", 3), ==, 3);
    close(back[0]);
    close(back[1]);
    g_assert_cmpint(read(p1[0], buf, sizeof(buf) - 1), ==, 3);
    g_assert_cmpstr(buf, ==, "one");
    g_assert_cmpint(read(p2[0], buf, sizeof(buf) - 1), ==, 3);
    g_assert_cmpstr(buf, ==, "two");
    close(p1[0]);
    close(p2[0]);
}

static void
test_fds(Fixture *fx, gconstpointer unused)
{
    g_autoptr(GBytes) seen = NULL;

    run_client(fx, body_fds);
    seen = seen_next(fx);
    g_assert_nonnull(seen);
}

static void
body_rewrite(Fixture *fx, int fd)
{
    g_autoptr(GByteArray) call = define_call(6, "rewrite-me");
    g_autoptr(GByteArray) fail = define_call(7, "libvirt-fails");
    g_autoptr(GByteArray) undef = undefine_call(8);
    g_autoptr(GBytes) reply = NULL;
    g_autoptr(GBytes) reply2 = NULL;
    g_autoptr(GBytes) reply3 = NULL;
    KtRpcFrame f;

    write_frame(fd, call->data, call->len, NULL, 0);
    write_frame(fd, fail->data, fail->len, NULL, 0);
    write_frame(fd, undef->data, undef->len, NULL, 0);
    reply = read_frame(fd, NULL, NULL);
    g_assert_true(kt_rpc_frame_parse(g_bytes_get_data(reply, NULL), g_bytes_get_size(reply),
                                     &f, NULL));
    g_assert_cmpuint(f.hdr.serial, ==, 6);
    g_assert_cmpuint(f.hdr.status, ==, KT_RPC_OK);
    reply2 = read_frame(fd, NULL, NULL);
    g_assert_true(kt_rpc_frame_parse(g_bytes_get_data(reply2, NULL),
                                     g_bytes_get_size(reply2), &f, NULL));
    g_assert_cmpuint(f.hdr.serial, ==, 7);
    g_assert_cmpuint(f.hdr.status, ==, KT_RPC_ERROR);
    reply3 = read_frame(fd, NULL, NULL);
    g_assert_nonnull(reply3);
}

static void
test_rewrite(Fixture *fx, gconstpointer unused)
{
    g_autoptr(GBytes) seen = NULL;
    g_autofree char *xml = NULL;
    gsize len = 0;
    guint32 flags = 0;
    KtRpcFrame f;

    run_client(fx, body_rewrite);
    seen = seen_next(fx);
    g_assert_true(kt_rpc_frame_parse(g_bytes_get_data(seen, NULL), g_bytes_get_size(seen),
                                     &f, NULL));
    g_assert_true(kt_rpc_define_args_decode(g_bytes_get_data(seen, NULL), &f, &xml, &len,
                                            &flags, NULL));
    g_assert_true(g_str_has_suffix(xml, "<!-- placed -->"));
    g_assert_cmpuint(flags, ==, 1);
    g_assert_cmpuint(f.hdr.serial, ==, 6);
    g_assert_cmpuint(fx->events->len, ==, 3);
    g_assert_cmpstr(fx->events->pdata[0], ==, "resolved define " UUID_A " ok");
    g_assert_cmpstr(fx->events->pdata[1], ==, "resolved define " UUID_A " error");
    g_assert_cmpstr(fx->events->pdata[2], ==, "resolved undefine " UUID_A " ok");
}

static void
body_refuse(Fixture *fx, int fd)
{
    g_autoptr(GByteArray) call = define_call(9, "refuse-me");
    g_autoptr(GByteArray) ping = kt_test_frame_new(KT_RPC_PROG_KEEPALIVE, 1, KT_RPC_MESSAGE, 0, 0);
    g_autoptr(GBytes) reply = NULL;
    g_autoptr(GBytes) echo = NULL;
    g_autofree char *msg = NULL;
    int code = 0;
    int domain = 0;
    KtRpcFrame f;

    write_frame(fd, call->data, call->len, NULL, 0);
    kt_test_frame_finish(ping);
    write_frame(fd, ping->data, ping->len, NULL, 0);
    reply = read_frame(fd, NULL, NULL);
    g_assert_true(kt_rpc_frame_parse(g_bytes_get_data(reply, NULL), g_bytes_get_size(reply),
                                     &f, NULL));
    g_assert_cmpuint(f.hdr.type, ==, KT_RPC_REPLY);
    g_assert_cmpuint(f.hdr.status, ==, KT_RPC_ERROR);
    g_assert_cmpuint(f.hdr.serial, ==, 9);
    g_assert_cmpint(f.hdr.proc, ==, KT_RPC_PROC_DOMAIN_DEFINE_XML_FLAGS);
    g_assert_true(kt_rpc_error_decode(g_bytes_get_data(reply, NULL), &f, &code, &domain, &msg,
                                      NULL));
    g_assert_cmpint(code, ==, 67);
    g_assert_cmpint(domain, ==, 20);
    g_assert_cmpstr(msg, ==, "kvmtune: node 0: 4 CPUs needed, 1 free");
    echo = read_frame(fd, NULL, NULL);
    g_assert_nonnull(echo);
}

static void
test_refuse(Fixture *fx, gconstpointer unused)
{
    g_autoptr(GBytes) seen = NULL;
    KtRpcFrame f;

    run_client(fx, body_refuse);
    /* libvirtd saw only the keepalive */
    seen = seen_next(fx);
    g_assert_true(kt_rpc_frame_parse(g_bytes_get_data(seen, NULL), g_bytes_get_size(seen),
                                     &f, NULL));
    g_assert_cmpuint(f.hdr.prog, ==, KT_RPC_PROG_KEEPALIVE);
    g_assert_cmpuint(fx->events->len, ==, 0);
}

static void
body_lost(Fixture *fx, int fd)
{
    g_autoptr(GByteArray) call = define_call(4, "rewrite-me");
    g_autoptr(GBytes) seen = NULL;

    /* hang up before reading the reply; wait until libvirtd has the call so
     * the pending booking exists */
    write_frame(fd, call->data, call->len, NULL, 0);
    seen = seen_next(fx);
    g_assert_nonnull(seen);
}

static void
test_lost(Fixture *fx, gconstpointer unused)
{
    run_client(fx, body_lost);
    /* either libvirt's answer was read before the close, or it was lost */
    g_assert_cmpuint(fx->events->len, ==, 1);
    g_assert_true(g_str_equal(fx->events->pdata[0], "lost define " UUID_A) ||
                  g_str_equal(fx->events->pdata[0], "resolved define " UUID_A " ok"));
}

static void
body_oversized(Fixture *fx, int fd)
{
    guint8 huge[28] = { 0x02, 0x00, 0x00, 0x05 };   /* 32 MiB + 5 */
    char c;

    g_assert_cmpint(send(fd, huge, sizeof(huge), MSG_NOSIGNAL), ==, (ssize_t)sizeof(huge));
    g_assert_cmpint(recv(fd, &c, 1, 0), <=, 0);       /* closed on us */
}

static void
test_oversized(Fixture *fx, gconstpointer unused)
{
    run_client(fx, body_oversized);
    /* and the proxy still serves the next client */
    run_client(fx, body_passthrough);
}

/* ---- libvirtd with a full listen backlog ---------------------------------- */

typedef struct {
    int listen_fd;
    char *listen_path;
    gint done;
    gint echoed;
} Backlog;

static gpointer
echo_conn(gpointer data)
{
    int c = GPOINTER_TO_INT(data);
    GBytes *frame;

    while ((frame = read_frame(c, NULL, NULL))) {
        gsize len = 0;
        const guint8 *d = g_bytes_get_data(frame, &len);

        write_frame(c, d, len, NULL, 0);
        g_bytes_unref(frame);
    }
    close(c);
    return NULL;
}

/* libvirtd catching up: accepts what queued up and echoes every frame */
static gpointer
echo_server(gpointer data)
{
    int lfd = GPOINTER_TO_INT(data);
    int c;

    while ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        g_thread_unref(g_thread_new("echo", echo_conn, GINT_TO_POINTER(c)));
    return NULL;
}

static gpointer
backlog_client(gpointer data)
{
    Backlog *b = data;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_autoptr(GByteArray) call = kt_test_frame_new(KT_RPC_PROG_REMOTE, 66, KT_RPC_CALL, 7,
                                                   KT_RPC_OK);
    g_autoptr(GBytes) back = NULL;

    kt_test_frame_finish(call);
    strcpy(addr.sun_path, b->listen_path);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    write_frame(fd, call->data, call->len, NULL, 0);
    back = read_frame(fd, NULL, NULL);
    g_assert_nonnull(back);
    g_assert_cmpmem(g_bytes_get_data(back, NULL), g_bytes_get_size(back), call->data,
                    call->len);
    g_atomic_int_inc(&b->echoed);
    /* stay connected until the test is done looking */
    while (!g_atomic_int_get(&b->done))
        g_usleep(1000);
    close(fd);
    return NULL;
}

static void
iterate_for(guint ms)
{
    gint64 end = g_get_monotonic_time() + ms * 1000;

    while (g_get_monotonic_time() < end) {
        if (!g_main_context_iteration(NULL, FALSE))
            g_usleep(500);
    }
}

static void
test_backlog_full(void)
{
    g_autofree char *dir = g_dir_make_tmp("kt-test-backlog-XXXXXX", NULL);
    g_autofree char *up = g_build_filename(dir, "libvirt-sock", NULL);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    KtProxyConfig cfg = { 0 };
    KtProxyOps ops = { 0 };
    g_autoptr(GError) err = NULL;
    Backlog b = { 0 };
    GThread *clients[3];
    GThread *server;
    KtProxy *proxy;
    guint i;

    b.listen_path = g_build_filename(dir, "proxy-sock", NULL);
    /* backlog 0: one connect queues, the next finds it full (EAGAIN) */
    b.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    strcpy(addr.sun_path, up);
    g_assert_cmpint(bind(b.listen_fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(b.listen_fd, 0), ==, 0);
    cfg.listen_path = b.listen_path;
    cfg.listen_mode = 0600;
    cfg.upstream_path = up;
    proxy = kt_proxy_new(&cfg, &ops, &err);
    g_assert_no_error(err);

    /* a blocking connect would hang the loop here: fail instead */
    alarm(20);
    for (i = 0; i < G_N_ELEMENTS(clients); i++) {
        clients[i] = g_thread_new("client", backlog_client, &b);
        while (kt_proxy_client_count(proxy) < i + 1)
            iterate_for(5);
    }
    /* the loop keeps turning and nobody got through yet */
    iterate_for(200);
    g_assert_cmpuint(kt_proxy_client_count(proxy), ==, G_N_ELEMENTS(clients));
    g_assert_cmpint(g_atomic_int_get(&b.echoed), ==, 0);

    /* libvirtd starts accepting: the waiting clients get through */
    server = g_thread_new("echo-server", echo_server, GINT_TO_POINTER(b.listen_fd));
    while (g_atomic_int_get(&b.echoed) < (gint)G_N_ELEMENTS(clients))
        iterate_for(5);
    alarm(0);
    g_atomic_int_set(&b.done, 1);
    for (i = 0; i < G_N_ELEMENTS(clients); i++)
        g_thread_join(clients[i]);
    while (kt_proxy_client_count(proxy) > 0)
        iterate_for(5);
    kt_proxy_free(proxy);
    shutdown(b.listen_fd, SHUT_RDWR);
    g_thread_join(server);
    close(b.listen_fd);
    g_unlink(up);
    g_rmdir(dir);
    g_free(b.listen_path);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add("/proxy/passthrough", Fixture, NULL, fixture_setup, test_passthrough,
               fixture_teardown);
    g_test_add("/proxy/fds", Fixture, NULL, fixture_setup, test_fds, fixture_teardown);
    g_test_add("/proxy/rewrite", Fixture, NULL, fixture_setup, test_rewrite,
               fixture_teardown);
    g_test_add("/proxy/refuse", Fixture, NULL, fixture_setup, test_refuse, fixture_teardown);
    g_test_add("/proxy/lost", Fixture, NULL, fixture_setup, test_lost, fixture_teardown);
    g_test_add("/proxy/oversized", Fixture, NULL, fixture_setup, test_oversized,
               fixture_teardown);
    g_test_add_func("/proxy/backlog-full", test_backlog_full);
    return g_test_run();
}
