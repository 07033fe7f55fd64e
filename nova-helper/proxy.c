/* proxy.c: the libvirt RPC relay (see proxy.h).
 *
 * Reading takes what is there in one recvmsg() with a control buffer, and
 * a small frame is whole after one read.  FDs of *_WITH_FDS frames come on
 * 1-byte carriers after the frame; the kernel ends a read at a carrier, so
 * a carrier's SCM_RIGHTS always arrives with it and is never dropped. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "proxy.h"
#include "rpc-wire.h"
#include "kt-error.h"
#include "unix-socket.h"

KT_ENUM_IMPL(kt_proxy_pending_kind, KT_PROXY_PENDING_LAST,
             "define", "create", "undefine", "pass");

#define FRAME_INITIAL_CAP (64u * 1024)
#define READ_BUDGET (512u * 1024)     /* bytes per side per wakeup: fairness */
#define READ_CHUNK (64u * 1024)       /* one recvmsg(), into KtProxy.rbuf */

typedef struct {
    guint8 *data;
    gsize len;
    gsize off;
    int fds[KT_RPC_NUM_FDS_MAX];
    guint nfds;
    guint fds_sent;
} OutMsg;

typedef struct _Conn Conn;

typedef struct {
    Conn *conn;
    const char *name;
    int fd;
    bool watched;                /* registered with the proxy's epoll set */
    GIOCondition cond;           /* what it is watched for */
    GIOCondition revents;        /* what epoll reported, until dispatched */
    bool eof;
    /* reader */
    guint8 lenbuf[KT_RPC_PREFIX_SIZE];   /* length word + header */
    gsize len_got;
    guint8 *frame;
    guint32 frame_len;
    gsize frame_cap;
    gsize frame_got;
    KtRpcFrame info;
    bool want_fds;
    int fds[KT_RPC_NUM_FDS_MAX];
    guint fds_got;
    /* writer */
    GQueue out;
    gsize out_bytes;
} Side;

typedef struct {
    KtProxyPendingKind kind;
    gint32 proc;
    char *uuid;
} Pending;

struct _Conn {
    KtProxy *proxy;
    guint id;
    Side client;
    Side upstream;
    bool in_batch;               /* already collected in this epoll round */
    GHashTable *pending;          /* serial -> Pending* */
    uid_t uid;
    gid_t gid;
    pid_t pid;
    bool open_seen;
    guint32 open_serial;
    bool identity_wait;
    guint32 identity_serial;
    guint calls_in_flight;        /* calls sent upstream, not answered yet */
    guint connect_timer;          /* retrying a connect libvirtd had no room for */
    gint64 connect_deadline;
};

/* A peer the allow-list refused: it gets one libvirt error reply to its
 * first call (so virsh prints why), then the socket is closed. */
typedef struct {
    KtProxy *proxy;
    int fd;
    guint io_id;
    guint timer_id;
    uid_t uid;
    guint8 buf[KT_RPC_PREFIX_SIZE];
    gsize got;
} Denied;

struct _KtProxy {
    KtProxyConfig config;
    KtProxyOps ops;
    int listen_fd;
    bool own_socket;
    guint listen_id;
    GList *conns;
    guint next_id;
    GHashTable *pending_uuids;    /* uuid -> count (GUINT_TO_POINTER) */
    GList *denied;                /* Denied* */
    int identity_state;
    guint calls_in_flight;        /* sum over conns */
    gint64 last_reply;            /* monotonic us of the last reply relayed */
    guint8 *rbuf;                 /* READ_CHUNK; every read is consumed at once */
    /* Every connection's two sockets sit in one epoll set, and only its fd
     * is in the GLib poll set: an iteration of the loop costs the same
     * with 2 clients or 200 (GLib would walk every source and poll every
     * fd each time), and busy polling polls a handful of fds. */
    int epfd;
    GSource *ep_source;
};

static void conn_close(Conn *c, const char *why);

static void side_enqueue(Side *s, guint8 *data, gsize len, int *fds, guint nfds);

/* Queues a call for libvirtd (takes @data and the FDs).  Every call is
 * counted until its reply comes back: busy polling asks how many are
 * outstanding. */
static void
send_call(Conn *c, guint8 *data, gsize len, int *fds, guint nfds)
{
    c->calls_in_flight++;
    c->proxy->calls_in_flight++;
    side_enqueue(&c->upstream, data, len, fds, nfds);
}

/* ---- helpers ----------------------------------------------------------- */

static void
pending_free(gpointer p)
{
    Pending *pd = p;

    g_free(pd->uuid);
    g_free(pd);
}

static void
uuid_ref(KtProxy *proxy, const char *uuid)
{
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(proxy->pending_uuids, uuid));

    g_hash_table_replace(proxy->pending_uuids, g_strdup(uuid), GUINT_TO_POINTER(n + 1));
}

static void
uuid_unref(KtProxy *proxy, const char *uuid)
{
    guint n = GPOINTER_TO_UINT(g_hash_table_lookup(proxy->pending_uuids, uuid));

    if (n <= 1)
        g_hash_table_remove(proxy->pending_uuids, uuid);
    else
        g_hash_table_replace(proxy->pending_uuids, g_strdup(uuid), GUINT_TO_POINTER(n - 1));
}

static void
out_msg_free(OutMsg *m)
{
    guint i;

    for (i = m->fds_sent; i < m->nfds; i++)
        close(m->fds[i]);
    g_free(m->data);
    g_free(m);
}

static void
close_fds(int *fds, guint n)
{
    guint i;

    for (i = 0; i < n; i++)
        close(fds[i]);
}

/* Maps a refusal to a libvirt error: the one table of KtErrorCode ->
 * virErrorNumber.  Policy and capacity refusals are CONFIG_UNSUPPORTED in
 * the DOMAIN domain (never 38/1 with 13/7: Nova reads those as a broken
 * connection). */
static int
vir_code_for(const GError *error)
{
    if (error->domain != KT_ERROR)
        return KT_VIR_ERR_OPERATION_FAILED;
    switch ((KtErrorCode)error->code) {
    case KT_ERROR_NO_CAPACITY:
    case KT_ERROR_PARSE:
    case KT_ERROR_INVALID:
    case KT_ERROR_NOT_FOUND:
    case KT_ERROR_TOO_LARGE:
    case KT_ERROR_DENIED:
    case KT_ERROR_UNSUPPORTED:
        return KT_VIR_ERR_CONFIG_UNSUPPORTED;
    case KT_ERROR_FAILED:
    case KT_ERROR_IO:
    case KT_ERROR_LAST:
    default:
        return KT_VIR_ERR_OPERATION_FAILED;
    }
}

/* ---- writing ----------------------------------------------------------- */

static bool
side_flush(Side *s)
{
    OutMsg *m;

    while ((m = g_queue_peek_head(&s->out))) {
        if (m->off < m->len) {
            ssize_t n = send(s->fd, m->data + m->off, m->len - m->off,
                             MSG_NOSIGNAL | MSG_DONTWAIT);

            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN)
                    return true;
                g_debug("conn %u: write to %s: %s", s->conn->id, s->name,
                        g_strerror(errno));
                return false;
            }
            m->off += (gsize)n;
        } else if (m->fds_sent < m->nfds) {
            /* one byte and one SCM_RIGHTS per FD, as virNetSocketSendFD */
            char byte = 0;
            struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
            union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
            } ctl;
            struct msghdr msg = { 0 };
            struct cmsghdr *cmsg;
            ssize_t n;

            memset(&ctl, 0, sizeof(ctl));
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = ctl.buf;
            msg.msg_controllen = sizeof(ctl.buf);
            cmsg = CMSG_FIRSTHDR(&msg);
            cmsg->cmsg_level = SOL_SOCKET;
            cmsg->cmsg_type = SCM_RIGHTS;
            cmsg->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cmsg), &m->fds[m->fds_sent], sizeof(int));
            n = sendmsg(s->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN)
                    return true;
                g_debug("conn %u: FD to %s: %s", s->conn->id, s->name, g_strerror(errno));
                return false;
            }
            close(m->fds[m->fds_sent]);
            m->fds_sent++;
        } else {
            g_queue_pop_head(&s->out);
            s->out_bytes -= m->len;
            out_msg_free(m);
        }
    }
    return true;
}

/* Takes @data and the @nfds descriptors. */
static void
side_enqueue(Side *s, guint8 *data, gsize len, int *fds, guint nfds)
{
    OutMsg *m = g_new0(OutMsg, 1);

    m->data = data;
    m->len = len;
    if (nfds > 0)
        memcpy(m->fds, fds, nfds * sizeof(int));
    m->nfds = nfds;
    g_queue_push_tail(&s->out, m);
    s->out_bytes += len;
}

/* ---- frame handling ------------------------------------------------------- */

static void
reply_error(Conn *c, const KtRpcHeader *call, const GError *error)
{
    g_autofree char *msg = g_strdup_printf("kvmtune: %s", error->message);
    gsize len = 0;
    guint8 *reply = kt_rpc_error_reply_encode(call, vir_code_for(error),
                                              KT_VIR_FROM_DOMAIN, KT_VIR_ERR_ERROR,
                                              msg, &len);

    side_enqueue(&c->client, reply, len, NULL, 0);
}

static void
pending_add(Conn *c, guint32 serial, KtProxyPendingKind kind, gint32 proc, const char *uuid)
{
    Pending *pd = g_new0(Pending, 1);
    Pending *old = g_hash_table_lookup(c->pending, GUINT_TO_POINTER(serial));

    if (old) {
        /* a client reusing a serial in flight: the old answer can no
         * longer be told apart, so treat the old operation as lost */
        if (c->proxy->ops.lost)
            c->proxy->ops.lost(c->proxy->ops.data, old->kind, old->uuid);
        uuid_unref(c->proxy, old->uuid);
        g_hash_table_remove(c->pending, GUINT_TO_POINTER(serial));
    }
    pd->kind = kind;
    pd->proc = proc;
    pd->uuid = g_strdup(uuid);
    uuid_ref(c->proxy, uuid);
    g_hash_table_insert(c->pending, GUINT_TO_POINTER(serial), pd);
}

/* A define/create call: rewrite it, pass it, or answer it ourselves.
 * Takes @data and the FDs. */
static void
client_define(Conn *c, guint8 *data, const KtRpcFrame *f, int *fds)
{
    KtProxy *proxy = c->proxy;
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *new_xml = NULL;
    g_autofree char *uuid = NULL;
    gsize xml_len = 0;
    gsize new_len = 0;
    guint32 flags = 0;
    bool rewrite = false;
    guint8 *out;
    gsize out_len = 0;

    if (!proxy->ops.rewrite) {
        send_call(c, data, f->len, fds, f->nfds);
        return;
    }
    if (kt_rpc_define_args_decode(data, f, &xml, &xml_len, &flags, &err) &&
        proxy->ops.rewrite(proxy->ops.data, xml, xml_len, &rewrite, &new_xml, &new_len,
                           &uuid, &err)) {
        if (!rewrite) {
            if (uuid)
                pending_add(c, f->hdr.serial, KT_PROXY_PENDING_PASS, f->hdr.proc, uuid);
            send_call(c, data, f->len, fds, f->nfds);
            return;
        }
        out = kt_rpc_define_args_replace(data, f, new_xml, new_len, &out_len, &err);
        if (out) {
            KtProxyPendingKind kind = KT_PROXY_PENDING_DEFINE;

            if (f->hdr.proc == KT_RPC_PROC_DOMAIN_CREATE_XML ||
                f->hdr.proc == KT_RPC_PROC_DOMAIN_CREATE_XML_WITH_FILES)
                kind = KT_PROXY_PENDING_CREATE;
            pending_add(c, f->hdr.serial, kind, f->hdr.proc, uuid);
            g_free(data);
            send_call(c, out, out_len, fds, f->nfds);
            return;
        }
        /* the booking is pending and will never be sent */
        if (proxy->ops.resolved)
            proxy->ops.resolved(proxy->ops.data, KT_PROXY_PENDING_DEFINE, uuid, false);
    }
    g_message("conn %u (uid %u pid %d): refused procedure %d serial %u: %s", c->id,
              (guint)c->uid, (int)c->pid, f->hdr.proc, f->hdr.serial, err->message);
    reply_error(c, &f->hdr, err);
    close_fds(fds, f->nfds);
    g_free(data);
}

static void
client_frame(Conn *c, guint8 *data, const KtRpcFrame *f, int *fds)
{
    if (kt_rpc_frame_is_define(f)) {
        client_define(c, data, f, fds);
        return;
    }
    if (kt_rpc_frame_is_undefine(f)) {
        g_autofree char *uuid = NULL;

        /* undecodable: libvirtd will refuse it, nothing to release */
        if (kt_rpc_dom_decode(data, f, NULL, &uuid, NULL))
            pending_add(c, f->hdr.serial, KT_PROXY_PENDING_UNDEFINE, f->hdr.proc, uuid);
    } else if (f->hdr.prog == KT_RPC_PROG_REMOTE && f->hdr.type == KT_RPC_CALL &&
               f->hdr.proc == KT_RPC_PROC_CONNECT_OPEN) {
        c->open_seen = true;
        c->open_serial = f->hdr.serial;
    }
    if (f->hdr.type == KT_RPC_CALL || f->hdr.type == KT_RPC_CALL_WITH_FDS)
        send_call(c, data, f->len, fds, f->nfds);
    else
        side_enqueue(&c->upstream, data, f->len, fds, f->nfds);
}

static void
send_identity(Conn *c)
{
    g_autofree char *user = NULL;
    g_autofree char *group = NULL;
    struct passwd pw;
    struct passwd *pwp = NULL;
    struct group gr;
    struct group *grp = NULL;
    g_autofree char *buf = g_malloc(16384);
    gsize len = 0;
    guint8 *call;

    if (getpwuid_r(c->uid, &pw, buf, 16384, &pwp) == 0 && pwp)
        user = g_strdup(pw.pw_name);
    if (getgrgid_r(c->gid, &gr, buf, 16384, &grp) == 0 && grp)
        group = g_strdup(gr.gr_name);
    /* the CONNECT_OPEN serial is answered and the client's counter has moved
     * past it, so reusing it cannot collide with the client's calls */
    c->identity_serial = c->open_serial;
    call = kt_rpc_set_identity_encode(c->identity_serial, c->uid, c->gid, c->pid,
                                      user, group, &len);
    send_call(c, call, len, NULL, 0);
    /* hold the client's next calls until libvirtd has the identity */
    c->identity_wait = true;
}

static void
upstream_frame(Conn *c, guint8 *data, const KtRpcFrame *f, int *fds)
{
    KtProxy *proxy = c->proxy;
    bool is_reply = f->hdr.type == KT_RPC_REPLY || f->hdr.type == KT_RPC_REPLY_WITH_FDS;
    Pending *pd;

    if (is_reply && c->calls_in_flight > 0) {
        c->calls_in_flight--;
        proxy->calls_in_flight--;
        proxy->last_reply = g_get_monotonic_time();
    }
    if (!is_reply || f->hdr.prog != KT_RPC_PROG_REMOTE) {
        side_enqueue(&c->client, data, f->len, fds, f->nfds);
        return;
    }
    if (c->identity_wait && f->hdr.serial == c->identity_serial &&
        f->hdr.proc == KT_RPC_PROC_CONNECT_SET_IDENTITY) {
        int state = f->hdr.status == KT_RPC_OK ? 1 : 0;

        if (state != proxy->identity_state) {
            g_autofree char *msg = NULL;
            int code = 0;
            int domain = 0;

            if (state == 0)
                kt_rpc_error_decode(data, f, &code, &domain, &msg, NULL);
            g_message("libvirtd %s CONNECT_SET_IDENTITY%s%s", state ? "accepts" : "refuses",
                      msg ? ": " : "", msg ? msg : "");
        }
        proxy->identity_state = state;
        c->identity_wait = false;
        close_fds(fds, f->nfds);
        g_free(data);
        return;
    }
    pd = g_hash_table_lookup(c->pending, GUINT_TO_POINTER(f->hdr.serial));
    if (pd && pd->proc == f->hdr.proc) {
        g_autofree char *uuid = g_strdup(pd->uuid);
        KtProxyPendingKind kind = pd->kind;

        g_hash_table_remove(c->pending, GUINT_TO_POINTER(f->hdr.serial));
        uuid_unref(proxy, uuid);
        if (proxy->ops.resolved)
            proxy->ops.resolved(proxy->ops.data, kind, uuid, f->hdr.status == KT_RPC_OK);
    }
    side_enqueue(&c->client, data, f->len, fds, f->nfds);
    if (proxy->config.set_identity && c->open_seen && f->hdr.serial == c->open_serial &&
        f->hdr.proc == KT_RPC_PROC_CONNECT_OPEN && f->hdr.status == KT_RPC_OK) {
        c->open_seen = false;
        send_identity(c);
    }
}

/* ---- reading ------------------------------------------------------------ */

static void
reader_reset(Side *s)
{
    s->len_got = 0;
    s->frame = NULL;
    s->frame_len = 0;
    s->frame_cap = 0;
    s->frame_got = 0;
    s->want_fds = false;
    s->fds_got = 0;
}

static bool
frame_complete(Side *s)
{
    Conn *c = s->conn;
    guint8 *data = s->frame;
    KtRpcFrame f = s->info;
    int fds[KT_RPC_NUM_FDS_MAX];

    memcpy(fds, s->fds, s->fds_got * sizeof(int));
    reader_reset(s);
    if (s == &c->client)
        client_frame(c, data, &f, fds);
    else
        upstream_frame(c, data, &f, fds);
    return true;
}

/* Feeds @n bytes just read to the frame reader.  @fd is the descriptor that
 * came with the last of them, or -1; it is taken.  false: close. */
static bool
side_feed(Side *s, const guint8 *p, gsize n, int fd)
{
    Conn *c = s->conn;
    g_autoptr(GError) err = NULL;

    while (n > 0) {
        gsize take;

        if (s->len_got < KT_RPC_PREFIX_SIZE) {
            take = MIN(n, KT_RPC_PREFIX_SIZE - s->len_got);
            memcpy(s->lenbuf + s->len_got, p, take);
            s->len_got += take;
            p += take;
            n -= take;
            /* the length word is checked as soon as it is there, before
             * anything is allocated for the frame */
            if (s->len_got >= KT_RPC_LEN_SIZE && s->frame_len == 0 &&
                !kt_rpc_frame_length(s->lenbuf, KT_RPC_LEN_SIZE, &s->frame_len, &err))
                goto bad_frame;
            if (s->len_got < KT_RPC_PREFIX_SIZE)
                continue;
            s->frame_cap = MIN((gsize)FRAME_INITIAL_CAP, (gsize)s->frame_len);
            s->frame = g_malloc(s->frame_cap);
            memcpy(s->frame, s->lenbuf, KT_RPC_PREFIX_SIZE);
            s->frame_got = KT_RPC_PREFIX_SIZE;
        } else if (s->frame_got < s->frame_len) {
            take = MIN(n, (gsize)s->frame_len - s->frame_got);
            if (s->frame_got + take > s->frame_cap) {
                /* grow with the data that really arrives, never by what
                 * the length word announces */
                s->frame_cap = MIN(MAX(s->frame_cap * 2, s->frame_got + take),
                                   (gsize)s->frame_len);
                s->frame = g_realloc(s->frame, s->frame_cap);
            }
            memcpy(s->frame + s->frame_got, p, take);
            s->frame_got += take;
            p += take;
            n -= take;
        } else {
            /* an FD carrier: a read that takes a carrier ends with it, so
             * its descriptor is the one that came with this read */
            if (n != 1 || fd < 0) {
                g_message("conn %u: %s: FD %u of %u missing", c->id, s->name,
                          s->fds_got + 1, s->info.nfds);
                goto fail;
            }
            s->fds[s->fds_got++] = fd;
            fd = -1;
            n = 0;
            if (s->fds_got == s->info.nfds && !frame_complete(s))
                return false;
            continue;
        }
        if (s->frame_got < s->frame_len)
            continue;
        if (!kt_rpc_frame_parse(s->frame, s->frame_len, &s->info, &err))
            goto bad_frame;
        if (s->info.nfds > 0) {
            s->want_fds = true;
            continue;      /* the FDs follow, one carrier byte each */
        }
        if (!frame_complete(s))
            goto fail;
    }
    if (fd >= 0) {
        g_message("conn %u: %s sent an FD outside a *_WITH_FDS frame", c->id, s->name);
        goto fail;
    }
    return true;

bad_frame:
    g_message("conn %u: bad frame from %s: %s", c->id, s->name, err->message);
fail:
    if (fd >= 0)
        close(fd);
    return false;
}

/* The one descriptor of an FD carrier (-1 for none) out of @msg; false when
 * the control data is anything else (all its descriptors are closed). */
static bool
take_fd(struct msghdr *msg, int *ret_fd)
{
    struct cmsghdr *cmsg;
    bool ok = !(msg->msg_flags & MSG_CTRUNC);

    *ret_fd = -1;
    for (cmsg = CMSG_FIRSTHDR(msg); cmsg; cmsg = CMSG_NXTHDR(msg, cmsg)) {
        gsize nfd;
        gsize i;

        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
            continue;
        nfd = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < nfd; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof(int));
            if (*ret_fd < 0 && ok) {
                *ret_fd = fd;
            } else {
                close(fd);
                ok = false;
            }
        }
    }
    if (!ok && *ret_fd >= 0) {
        close(*ret_fd);
        *ret_fd = -1;
    }
    return ok;
}

/* Reads what is there, up to the budget; false: close the connection.
 * Every read is a recvmsg() with room for descriptors into the proxy's
 * read buffer, as much as is there: the kernel ends a read at an FD
 * carrier, so no SCM_RIGHTS can be dropped, and a small call costs one
 * read instead of a read each for header, payload and EAGAIN. */
static bool
side_read(Side *s, bool ignore_pressure)
{
    Conn *c = s->conn;
    Side *other = s == &c->client ? &c->upstream : &c->client;
    guint8 *buf = c->proxy->rbuf;
    gsize budget = READ_BUDGET;

    while (budget > 0 && !s->eof) {
        struct iovec iov = { .iov_base = buf, .iov_len = READ_CHUNK };
        union {
            char buf[CMSG_SPACE(KT_RPC_NUM_FDS_MAX * sizeof(int))];
            struct cmsghdr align;
        } ctl;
        struct msghdr msg = { 0 };
        ssize_t n;
        int fd = -1;

        if (!ignore_pressure && other->out_bytes >= KT_PROXY_QUEUE_HIGH)
            break;
        if (s == &c->client && c->identity_wait && s->len_got == 0)
            break;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        n = recvmsg(s->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            g_message("conn %u: read from %s: %s", c->id, s->name, g_strerror(errno));
            return false;
        }
        if (!take_fd(&msg, &fd)) {
            g_message("conn %u: %s sent unexpected control data", c->id, s->name);
            return false;
        }
        if (n == 0) {
            if (fd >= 0)
                close(fd);
            if (s->len_got > 0 || s->frame_got > 0)
                g_message("conn %u: %s closed in the middle of a frame", c->id, s->name);
            s->eof = true;
            /* nothing queued for a closed peer can be delivered */
            while (s->out.length > 0)
                out_msg_free(g_queue_pop_head(&s->out));
            s->out_bytes = 0;
            return true;
        }
        budget -= MIN(budget, (gsize)n);
        if (!side_feed(s, buf, (gsize)n, fd))
            return false;
        /* a short read without an FD emptied the socket: poll says when
         * there is more (saves an EAGAIN read per wakeup) */
        if ((gsize)n < READ_CHUNK && fd < 0)
            break;
    }
    return true;
}

/* ---- connection --------------------------------------------------------- */

static guint32
epoll_events(GIOCondition cond)
{
    return ((cond & G_IO_IN) ? EPOLLIN : 0) | ((cond & G_IO_OUT) ? EPOLLOUT : 0);
}

static bool
side_watch(Side *s, GIOCondition want)
{
    struct epoll_event ev = { .events = epoll_events(want), .data.ptr = s };

    if (epoll_ctl(s->conn->proxy->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0) {
        g_warning("conn %u: cannot watch %s: %s", s->conn->id, s->name, g_strerror(errno));
        return false;
    }
    s->watched = true;
    s->cond = want;
    return true;
}

static void
side_update_watch(Side *s, GIOCondition want)
{
    struct epoll_event ev = { .events = epoll_events(want), .data.ptr = s };

    if (!s->watched)
        return;
    if (s->eof && !(want & G_IO_OUT)) {
        /* a hung-up socket keeps reporting EPOLLHUP: stop watching it */
        epoll_ctl(s->conn->proxy->epfd, EPOLL_CTL_DEL, s->fd, NULL);
        s->watched = false;
        return;
    }
    if (want != s->cond) {
        epoll_ctl(s->conn->proxy->epfd, EPOLL_CTL_MOD, s->fd, &ev);
        s->cond = want;
    }
}

static void
conn_update_watches(Conn *c)
{
    GIOCondition cw = 0;
    GIOCondition uw = 0;

    if (!c->client.eof && c->upstream.out_bytes < KT_PROXY_QUEUE_HIGH && !c->identity_wait)
        cw |= G_IO_IN;
    if (c->client.out.length > 0)
        cw |= G_IO_OUT;
    if (!c->upstream.eof && c->client.out_bytes < KT_PROXY_QUEUE_HIGH)
        uw |= G_IO_IN;
    if (c->upstream.out.length > 0)
        uw |= G_IO_OUT;
    side_update_watch(&c->client, cw);
    side_update_watch(&c->upstream, uw);
}

static bool
side_io(Side *s, GIOCondition revents)
{
    if (revents & G_IO_OUT) {
        if (!side_flush(s))
            return false;
    }
    if (revents & (G_IO_IN | G_IO_HUP | G_IO_ERR)) {
        /* HUP/ERR while paused: drain what is left rather than spin */
        if (!side_read(s, !(revents & G_IO_IN)))
            return false;
    }
    return true;
}

/* One connection's turn with what epoll reported for its two sockets;
 * closes it when either side failed or hung up. */
static void
conn_dispatch(Conn *c)
{
    GIOCondition cr = c->client.revents;
    GIOCondition ur = c->upstream.revents;

    c->client.revents = 0;
    c->upstream.revents = 0;
    if (!side_io(&c->upstream, ur)) {
        conn_close(c, "upstream failed");
        return;
    }
    if (!side_io(&c->client, cr)) {
        conn_close(c, "client failed");
        return;
    }
    /* what the reads queued goes out now, without another wakeup */
    if (!side_flush(&c->upstream)) {
        conn_close(c, "upstream failed");
        return;
    }
    if (!side_flush(&c->client)) {
        conn_close(c, "client failed");
        return;
    }
    if (c->client.eof) {
        conn_close(c, "client disconnected");
        return;
    }
    if (c->upstream.eof && c->client.out.length == 0) {
        conn_close(c, "libvirtd closed the connection");
        return;
    }
    conn_update_watches(c);
}

#define EPOLL_BATCH 64

static gboolean
proxy_epoll_dispatch(int epfd, GIOCondition cond, gpointer data)
{
    struct epoll_event evs[EPOLL_BATCH];
    Conn *batch[EPOLL_BATCH];
    guint nconn = 0;
    int n;
    int i;

    n = epoll_wait(epfd, evs, EPOLL_BATCH, 0);
    if (n < 0) {
        if (errno != EINTR)
            g_warning("epoll_wait: %s", g_strerror(errno));
        return G_SOURCE_CONTINUE;
    }
    /* both sockets of a connection are handled in one turn */
    for (i = 0; i < n; i++) {
        Side *s = evs[i].data.ptr;
        Conn *c = s->conn;

        s->revents |= ((evs[i].events & EPOLLIN) ? G_IO_IN : 0) |
            ((evs[i].events & EPOLLOUT) ? G_IO_OUT : 0) |
            ((evs[i].events & EPOLLHUP) ? G_IO_HUP : 0) |
            ((evs[i].events & EPOLLERR) ? G_IO_ERR : 0);
        if (!c->in_batch) {
            c->in_batch = true;
            batch[nconn++] = c;
        }
    }
    /* a connection's turn never closes another one */
    for (i = 0; i < (int)nconn; i++) {
        batch[i]->in_batch = false;
        conn_dispatch(batch[i]);
    }
    return G_SOURCE_CONTINUE;
}

static void
side_clear(Side *s)
{
    OutMsg *m;

    while ((m = g_queue_pop_head(&s->out)))
        out_msg_free(m);
    s->out_bytes = 0;
    close_fds(s->fds, s->fds_got);
    g_free(s->frame);
    reader_reset(s);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static void
conn_close(Conn *c, const char *why)
{
    KtProxy *proxy = c->proxy;
    GHashTableIter iter;
    gpointer value;

    g_debug("conn %u: closing: %s", c->id, why);
    proxy->conns = g_list_remove(proxy->conns, c);
    proxy->calls_in_flight -= c->calls_in_flight;
    if (c->connect_timer)
        g_source_destroy(g_main_context_find_source_by_id(g_main_context_get_thread_default(),
                                                          c->connect_timer));
    g_hash_table_iter_init(&iter, c->pending);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        Pending *pd = value;

        uuid_unref(proxy, pd->uuid);
        if (proxy->ops.lost)
            proxy->ops.lost(proxy->ops.data, pd->kind, pd->uuid);
    }
    g_hash_table_destroy(c->pending);
    side_clear(&c->client);
    side_clear(&c->upstream);
    g_free(c);
}

/* Non-blocking: a unix connect completes at once, or fails with EAGAIN
 * when libvirtd's listen backlog is full (libvirtd busy or hung), and
 * then waiting here would stall every client.  -1 + @error on failure;
 * -1 with *@busy set on EAGAIN (try again later). */
static int
connect_upstream(const char *path, bool *busy, GError **error)
{
    struct sockaddr_un addr;
    int fd = kt_unix_socket(path, SOCK_NONBLOCK, &addr, error);

    *busy = false;
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int err = errno;

        close(fd);
        if (err == EAGAIN || err == EINTR) {
            *busy = true;
            return -1;
        }
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot connect to libvirtd at %s: %s",
                    path, g_strerror(err));
        return -1;
    }
    return fd;
}

static void
denied_free(Denied *dn)
{
    dn->proxy->denied = g_list_remove(dn->proxy->denied, dn);
    if (dn->io_id)
        g_source_remove(dn->io_id);
    if (dn->timer_id)
        g_source_remove(dn->timer_id);
    close(dn->fd);
    g_free(dn);
}

static gboolean
denied_timeout(gpointer data)
{
    Denied *dn = data;

    dn->timer_id = 0;
    denied_free(dn);
    return G_SOURCE_REMOVE;
}

static gboolean
denied_io(int fd, GIOCondition cond, gpointer data)
{
    Denied *dn = data;
    ssize_t n = recv(fd, dn->buf + dn->got, sizeof(dn->buf) - dn->got, MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
    if (n > 0)
        dn->got += (gsize)n;
    if (n > 0 && dn->got < sizeof(dn->buf))
        return G_SOURCE_CONTINUE;
    if (dn->got == sizeof(dn->buf)) {
        KtRpcHeader hdr;
        g_autofree char *msg = g_strdup_printf(
            "kvmtune: uid %u is not allowed to use this socket (daemon.allow_uids/allow_gids)",
            (guint)dn->uid);
        g_autofree guint8 *reply = NULL;
        gsize len = 0;

        kt_rpc_header_decode(dn->buf + KT_RPC_LEN_SIZE, &hdr);
        if (hdr.type == KT_RPC_CALL || hdr.type == KT_RPC_CALL_WITH_FDS) {
            /* VIR_ERR_AUTH_FAILED in the RPC domain: not a code Nova
             * reads as a broken connection */
            reply = kt_rpc_error_reply_encode(&hdr, 45, 7, KT_VIR_ERR_ERROR, msg, &len);
            if (send(fd, reply, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                g_debug("denied peer: %s", g_strerror(errno));
        }
    }
    dn->io_id = 0;
    denied_free(dn);
    return G_SOURCE_REMOVE;
}

static gboolean conn_connect_retry(gpointer data);

/* Connects @c upstream and starts relaying; while libvirtd's backlog is
 * full, retries on a timer with the client left unread (its frames wait
 * in its socket).  FALSE + @error: give up on this client. */
static gboolean
conn_connect(Conn *c, GError **error)
{
    KtProxy *proxy = c->proxy;
    bool busy = false;
    int ufd = connect_upstream(proxy->config.upstream_path, &busy, error);

    if (ufd < 0 && !busy)
        return FALSE;
    if (ufd < 0) {
        if (g_get_monotonic_time() >= c->connect_deadline) {
            g_set_error(error, KT_ERROR, KT_ERROR_IO,
                        "libvirtd at %s accepted no connection for %d s (its listen backlog "
                        "is full: busy or hung); closing the client",
                        proxy->config.upstream_path, KT_PROXY_CONNECT_TIMEOUT_S);
            return FALSE;
        }
        if (!c->connect_timer) {
            GSource *t = g_timeout_source_new(KT_PROXY_CONNECT_RETRY_MS);

            g_message("conn %u (pid %d): libvirtd's listen backlog is full; retrying the "
                      "connect", c->id, (int)c->pid);
            g_source_set_callback(t, conn_connect_retry, c, NULL);
            c->connect_timer = g_source_attach(t, g_main_context_get_thread_default());
            g_source_unref(t);
        }
        return TRUE;
    }
    if (c->connect_timer)       /* the retry callback returns REMOVE */
        g_message("conn %u: connected to libvirtd", c->id);
    c->upstream.fd = ufd;
    if (!side_watch(&c->client, G_IO_IN) || !side_watch(&c->upstream, G_IO_IN)) {
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot watch the connection's sockets");
        return FALSE;
    }
    return TRUE;
}

static gboolean
conn_connect_retry(gpointer data)
{
    Conn *c = data;
    g_autoptr(GError) err = NULL;

    if (!conn_connect(c, &err)) {
        g_warning("conn %u (pid %d): %s", c->id, (int)c->pid, err->message);
        c->connect_timer = 0;
        conn_close(c, err->message);
        return G_SOURCE_REMOVE;
    }
    if (c->upstream.fd >= 0) {
        c->connect_timer = 0;
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

static gboolean
proxy_accept(int lfd, GIOCondition cond, gpointer data)
{
    KtProxy *proxy = data;
    g_autoptr(GError) err = NULL;
    struct ucred cred = { 0 };
    socklen_t credlen = sizeof(cred);
    Conn *c;
    int cfd;

    cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            g_warning("accept: %s", g_strerror(errno));
        return G_SOURCE_CONTINUE;
    }
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) < 0) {
        g_warning("SO_PEERCRED: %s", g_strerror(errno));
        close(cfd);
        return G_SOURCE_CONTINUE;
    }
    if (proxy->ops.allow_peer &&
        !proxy->ops.allow_peer(proxy->ops.data, cfd, cred.uid, cred.gid, cred.pid)) {
        Denied *dn = g_new0(Denied, 1);

        g_message("refused client uid %u gid %u pid %d: not in daemon.allow_uids/allow_gids",
                  (guint)cred.uid, (guint)cred.gid, (int)cred.pid);
        dn->proxy = proxy;
        dn->fd = cfd;
        dn->uid = cred.uid;
        dn->io_id = g_unix_fd_add(cfd, G_IO_IN, denied_io, dn);
        dn->timer_id = g_timeout_add_seconds(5, denied_timeout, dn);
        proxy->denied = g_list_prepend(proxy->denied, dn);
        return G_SOURCE_CONTINUE;
    }
    c = g_new0(Conn, 1);
    c->proxy = proxy;
    c->id = ++proxy->next_id;
    c->uid = cred.uid;
    c->gid = cred.gid;
    c->pid = cred.pid;
    c->pending = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, pending_free);
    c->client.conn = c;
    c->client.name = "client";
    c->client.fd = cfd;
    c->upstream.conn = c;
    c->upstream.name = "libvirtd";
    c->upstream.fd = -1;
    g_queue_init(&c->client.out);
    g_queue_init(&c->upstream.out);
    proxy->conns = g_list_prepend(proxy->conns, c);
    c->connect_deadline = g_get_monotonic_time() + KT_PROXY_CONNECT_TIMEOUT_S * G_USEC_PER_SEC;
    if (!conn_connect(c, &err)) {
        g_warning("client pid %d: %s", (int)cred.pid, err->message);
        conn_close(c, err->message);
        return G_SOURCE_CONTINUE;
    }
    g_debug("conn %u: client uid %u gid %u pid %d", c->id, (guint)cred.uid,
            (guint)cred.gid, (int)cred.pid);
    return G_SOURCE_CONTINUE;
}

static void
config_copy(KtProxyConfig *dst, const KtProxyConfig *src)
{
    dst->listen_path = g_strdup(src->listen_path);
    dst->listen_mode = src->listen_mode;
    dst->listen_group = g_strdup(src->listen_group);
    dst->upstream_path = g_strdup(src->upstream_path);
    dst->set_identity = src->set_identity;
}

static KtProxy *
proxy_alloc(const KtProxyConfig *config, const KtProxyOps *ops, GError **error)
{
    KtProxy *proxy = g_new0(KtProxy, 1);

    config_copy(&proxy->config, config);
    proxy->ops = *ops;
    proxy->listen_fd = -1;
    proxy->identity_state = -1;
    proxy->pending_uuids = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    proxy->rbuf = g_malloc(READ_CHUNK);
    proxy->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (proxy->epfd < 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "epoll_create1: %s", g_strerror(errno));
        kt_proxy_free(proxy);
        return NULL;
    }
    {
        GSource *src = g_unix_fd_source_new(proxy->epfd, G_IO_IN);    /* owned */

        g_source_set_name(src, "kvmtune proxy connections");
        /* A non-recursive source has its fd taken out of the poll set and
         * put back around every dispatch, each time waking the context (an
         * eventfd write, and a wasted poll + read): 4 extra syscalls per
         * frame.  Nothing here runs a nested main loop. */
        g_source_set_can_recurse(src, TRUE);
        g_source_set_callback(src, G_SOURCE_FUNC(proxy_epoll_dispatch), proxy, NULL);
        g_source_attach(src, g_main_context_get_thread_default());
        proxy->ep_source = src;
    }
    return proxy;
}

KtProxy *
kt_proxy_new_from_fd(int listen_fd, const KtProxyConfig *config, const KtProxyOps *ops,
                     GError **error)
{
    KtProxy *proxy = proxy_alloc(config, ops, error);

    if (!proxy)
        return NULL;
    proxy->listen_fd = listen_fd;
    fcntl(listen_fd, F_SETFD, FD_CLOEXEC);
    g_unix_set_fd_nonblocking(listen_fd, TRUE, NULL);
    proxy->listen_id = g_unix_fd_add(listen_fd, G_IO_IN, proxy_accept, proxy);
    return proxy;
}

KtProxy *
kt_proxy_new(const KtProxyConfig *config, const KtProxyOps *ops, GError **error)
{
    g_autoptr(KtProxy) proxy = proxy_alloc(config, ops, error);
    const char *path = config->listen_path;

    if (!proxy)
        return NULL;
    proxy->listen_fd = kt_unix_bind(path, error);
    if (proxy->listen_fd < 0)
        return NULL;
    proxy->own_socket = true;
    if (config->listen_group) {
        struct group gr;
        struct group *grp = NULL;
        g_autofree char *buf = g_malloc(16384);

        if (getgrnam_r(config->listen_group, &gr, buf, 16384, &grp) == 0 && grp) {
            if (chown(path, (uid_t)-1, gr.gr_gid) < 0)
                g_warning("cannot give %s to group %s: %s", path, config->listen_group,
                          g_strerror(errno));
        } else {
            g_message("group %s does not exist; %s keeps the daemon's group",
                      config->listen_group, path);
        }
    }
    if (chmod(path, config->listen_mode) < 0 || listen(proxy->listen_fd, 128) < 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_IO, "cannot listen on %s: %s", path,
                    g_strerror(errno));
        return NULL;
    }
    proxy->listen_id = g_unix_fd_add(proxy->listen_fd, G_IO_IN, proxy_accept, proxy);
    return g_steal_pointer(&proxy);
}

void
kt_proxy_free(KtProxy *proxy)
{
    if (!proxy)
        return;
    while (proxy->conns)
        conn_close(proxy->conns->data, "shutting down");
    while (proxy->denied)
        denied_free(proxy->denied->data);
    if (proxy->listen_id)
        g_source_remove(proxy->listen_id);
    if (proxy->listen_fd >= 0)
        close(proxy->listen_fd);
    if (proxy->ep_source) {
        g_source_destroy(proxy->ep_source);
        g_source_unref(proxy->ep_source);
    }
    if (proxy->epfd >= 0)
        close(proxy->epfd);
    if (proxy->own_socket)
        unlink(proxy->config.listen_path);
    g_hash_table_destroy(proxy->pending_uuids);
    g_free(proxy->rbuf);
    g_free(proxy->config.listen_path);
    g_free(proxy->config.listen_group);
    g_free(proxy->config.upstream_path);
    g_free(proxy);
}

guint
kt_proxy_client_count(KtProxy *proxy)
{
    return proxy ? g_list_length(proxy->conns) : 0;
}

guint
kt_proxy_pending_count(KtProxy *proxy)
{
    GList *l;
    guint n = 0;

    if (!proxy)
        return 0;
    for (l = proxy->conns; l; l = l->next)
        n += g_hash_table_size(((Conn *)l->data)->pending);
    return n;
}

guint
kt_proxy_calls_in_flight(KtProxy *proxy)
{
    return proxy ? proxy->calls_in_flight : 0;
}

gint64
kt_proxy_last_reply(KtProxy *proxy)
{
    return proxy ? proxy->last_reply : 0;
}

bool
kt_proxy_domain_ops_in_flight(KtProxy *proxy)
{
    return proxy && g_hash_table_size(proxy->pending_uuids) > 0;
}

bool
kt_proxy_uuid_pending(KtProxy *proxy, const char *uuid)
{
    return proxy && g_hash_table_contains(proxy->pending_uuids, uuid);
}

GPtrArray *
kt_proxy_pending_uuids(KtProxy *proxy)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter iter;
    gpointer key;

    if (!proxy)
        return out;
    g_hash_table_iter_init(&iter, proxy->pending_uuids);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        g_ptr_array_add(out, g_strdup(key));
    return out;
}

int
kt_proxy_identity_state(KtProxy *proxy)
{
    return proxy ? proxy->identity_state : -1;
}
