/* rpc-wire.c: libvirt RPC framing and the few payloads kvmtuned decodes. */
#include <string.h>

#include "rpc-xdr-gen.h"     /* before anything that defines TRUE/FALSE */
#include "rpc-wire.h"
#include "kt-error.h"

static guint32
get_u32(const guint8 *p)
{
    return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) |
           ((guint32)p[2] << 8) | (guint32)p[3];
}

static void
put_u32(guint8 *p, guint32 v)
{
    p[0] = (guint8)(v >> 24);
    p[1] = (guint8)(v >> 16);
    p[2] = (guint8)(v >> 8);
    p[3] = (guint8)v;
}

gboolean
kt_rpc_frame_length(const guint8 *buf, gsize buflen, guint32 *ret_len, GError **error)
{
    guint32 len;

    if (buflen < KT_RPC_LEN_SIZE) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "truncated length word");
        return FALSE;
    }
    len = get_u32(buf);
    /* libvirt (virNetMessageDecodeLength) refuses len < 4 and
     * len - 4 > VIR_NET_MESSAGE_MAX; a frame also needs its header. */
    if (len < KT_RPC_PREFIX_SIZE) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "frame length %u shorter than the %u-byte header", len,
                    KT_RPC_PREFIX_SIZE);
        return FALSE;
    }
    if (len > KT_RPC_FRAME_MAX) {
        g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                    "frame length %u exceeds libvirt's maximum %u", len,
                    KT_RPC_FRAME_MAX);
        return FALSE;
    }
    *ret_len = len;
    return TRUE;
}

void
kt_rpc_header_decode(const guint8 *buf, KtRpcHeader *ret_hdr)
{
    ret_hdr->prog = get_u32(buf);
    ret_hdr->vers = get_u32(buf + 4);
    ret_hdr->proc = (gint32)get_u32(buf + 8);
    ret_hdr->type = get_u32(buf + 12);
    ret_hdr->serial = get_u32(buf + 16);
    ret_hdr->status = get_u32(buf + 20);
}

void
kt_rpc_header_encode(const KtRpcHeader *hdr, guint8 *buf)
{
    put_u32(buf, hdr->prog);
    put_u32(buf + 4, hdr->vers);
    put_u32(buf + 8, (guint32)hdr->proc);
    put_u32(buf + 12, hdr->type);
    put_u32(buf + 16, hdr->serial);
    put_u32(buf + 20, hdr->status);
}

bool
kt_rpc_type_has_fds(guint32 type)
{
    return type == KT_RPC_CALL_WITH_FDS || type == KT_RPC_REPLY_WITH_FDS;
}

gboolean
kt_rpc_frame_parse(const guint8 *frame, gsize len, KtRpcFrame *ret_frame, GError **error)
{
    KtRpcFrame f = { 0 };

    if (!kt_rpc_frame_length(frame, len, &f.len, error))
        return FALSE;
    if (f.len != len) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "frame length word %u does not match the %zu bytes given", f.len, len);
        return FALSE;
    }
    kt_rpc_header_decode(frame + KT_RPC_LEN_SIZE, &f.hdr);
    f.payload_off = KT_RPC_PREFIX_SIZE;
    if (kt_rpc_type_has_fds(f.hdr.type)) {
        if (len < KT_RPC_PREFIX_SIZE + KT_RPC_FDCOUNT_SIZE) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                        "frame of type %u too short for its FD count", f.hdr.type);
            return FALSE;
        }
        f.nfds = get_u32(frame + KT_RPC_PREFIX_SIZE);
        if (f.nfds > KT_RPC_NUM_FDS_MAX) {
            g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                        "frame announces %u file descriptors, maximum %u", f.nfds,
                        KT_RPC_NUM_FDS_MAX);
            return FALSE;
        }
        f.payload_off += KT_RPC_FDCOUNT_SIZE;
    }
    f.payload_len = len - f.payload_off;
    *ret_frame = f;
    return TRUE;
}

bool
kt_rpc_frame_is_define(const KtRpcFrame *frame)
{
    if (frame->hdr.prog != KT_RPC_PROG_REMOTE || frame->hdr.status != KT_RPC_OK ||
        (frame->hdr.type != KT_RPC_CALL && frame->hdr.type != KT_RPC_CALL_WITH_FDS))
        return false;
    switch (frame->hdr.proc) {
    case KT_RPC_PROC_DOMAIN_CREATE_XML:
    case KT_RPC_PROC_DOMAIN_DEFINE_XML:
    case KT_RPC_PROC_DOMAIN_CREATE_XML_WITH_FILES:
    case KT_RPC_PROC_DOMAIN_DEFINE_XML_FLAGS:
        return true;
    default:
        return false;
    }
}

bool
kt_rpc_frame_is_undefine(const KtRpcFrame *frame)
{
    return frame->hdr.prog == KT_RPC_PROG_REMOTE && frame->hdr.type == KT_RPC_CALL &&
           frame->hdr.status == KT_RPC_OK &&
           (frame->hdr.proc == KT_RPC_PROC_DOMAIN_UNDEFINE ||
            frame->hdr.proc == KT_RPC_PROC_DOMAIN_UNDEFINE_FLAGS);
}

static bool
proc_has_flags(gint32 proc)
{
    return proc != KT_RPC_PROC_DOMAIN_DEFINE_XML;
}

gboolean
kt_rpc_define_args_decode(const guint8 *frame_data, const KtRpcFrame *frame,
                          char **ret_xml, gsize *ret_xml_len, guint32 *ret_flags,
                          GError **error)
{
    const guint8 *payload = frame_data + frame->payload_off;
    XDR xdr;
    kt_remote_xml_flags_args args = { 0 };
    bool ok;
    u_int pos;
    guint32 declared;

    if (frame->payload_len < 4) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "define call without XML");
        return FALSE;
    }
    /* xdr_string allocates the declared length before it notices the
     * payload is shorter: check against what is really there first. */
    declared = get_u32(payload);
    if (declared > KT_RPC_STRING_MAX || declared > frame->payload_len - 4) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "define call declares %u bytes of XML, payload has %zu",
                    declared, frame->payload_len - 4);
        return FALSE;
    }

    xdrmem_create(&xdr, (char *)payload, (u_int)frame->payload_len, XDR_DECODE);
    if (proc_has_flags(frame->hdr.proc)) {
        ok = xdr_kt_remote_xml_flags_args(&xdr, &args);
    } else {
        kt_remote_xml_args a1 = { 0 };

        ok = xdr_kt_remote_xml_args(&xdr, &a1);
        args.xml = a1.xml;
    }
    pos = xdr_getpos(&xdr);
    xdr_destroy(&xdr);
    if (!ok || pos != frame->payload_len) {
        xdr_free((xdrproc_t)xdr_kt_remote_xml_flags_args, (char *)&args);
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                    "cannot decode the arguments of procedure %d", frame->hdr.proc);
        return FALSE;
    }
    if (strlen(args.xml) != declared) {
        xdr_free((xdrproc_t)xdr_kt_remote_xml_flags_args, (char *)&args);
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "XML contains a NUL byte");
        return FALSE;
    }
    *ret_xml = g_strndup(args.xml, declared);
    *ret_xml_len = declared;
    *ret_flags = args.flags;
    xdr_free((xdrproc_t)xdr_kt_remote_xml_flags_args, (char *)&args);
    return TRUE;
}

guint8 *
kt_rpc_define_args_replace(const guint8 *frame_data, const KtRpcFrame *frame,
                           const char *xml, gsize xml_len, gsize *ret_len, GError **error)
{
    g_autofree char *xml0 = NULL;
    g_autofree guint8 *out = NULL;
    guint32 flags = 0;
    gsize cap;
    XDR xdr;
    bool ok;
    u_int used;

    if (xml_len > KT_RPC_STRING_MAX) {
        g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                    "rewritten XML of %zu bytes exceeds libvirt's %u", xml_len,
                    KT_RPC_STRING_MAX);
        return NULL;
    }
    if (memchr(xml, '\0', xml_len)) {
        g_set_error(error, KT_ERROR, KT_ERROR_INVALID, "rewritten XML contains a NUL byte");
        return NULL;
    }
    /* the caller decoded these args already: check their shape (string,
     * then flags for all but DEFINE_XML) and take the flags, without a
     * second decode of the old XML */
    {
        const guint8 *payload = frame_data + frame->payload_off;
        gsize tail = proc_has_flags(frame->hdr.proc) ? 4 : 0;
        guint32 declared = frame->payload_len >= 4 ? get_u32(payload) : G_MAXUINT32;

        if (declared > KT_RPC_STRING_MAX ||
            frame->payload_len != 4 + (((gsize)declared + 3) & ~(gsize)3) + tail) {
            g_set_error(error, KT_ERROR, KT_ERROR_PARSE,
                        "cannot decode the arguments of procedure %d", frame->hdr.proc);
            return NULL;
        }
        if (tail)
            flags = get_u32(payload + frame->payload_len - 4);
    }

    xml0 = g_strndup(xml, xml_len);
    cap = frame->payload_off + 4 + ((xml_len + 3) & ~(gsize)3) + 4;
    out = g_malloc0(cap);
    memcpy(out, frame_data, frame->payload_off);   /* length, header, FD count */

    xdrmem_create(&xdr, (char *)out + frame->payload_off,
                  (u_int)(cap - frame->payload_off), XDR_ENCODE);
    if (proc_has_flags(frame->hdr.proc)) {
        kt_remote_xml_flags_args args = { .xml = xml0, .flags = flags };

        ok = xdr_kt_remote_xml_flags_args(&xdr, &args);
    } else {
        kt_remote_xml_args args = { .xml = xml0 };

        ok = xdr_kt_remote_xml_args(&xdr, &args);
    }
    used = xdr_getpos(&xdr);
    xdr_destroy(&xdr);
    if (!ok) {
        g_set_error(error, KT_ERROR, KT_ERROR_FAILED, "cannot encode the rewritten XML");
        return NULL;
    }
    *ret_len = frame->payload_off + used;
    put_u32(out, (guint32)*ret_len);
    return g_steal_pointer(&out);
}

static char *
uuid_format(const char *raw)
{
    const guint8 *u = (const guint8 *)raw;

    return g_strdup_printf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                           "%02x%02x%02x%02x%02x%02x",
                           u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8],
                           u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

gboolean
kt_rpc_dom_decode(const guint8 *frame_data, const KtRpcFrame *frame,
                  char **ret_name, char **ret_uuid, GError **error)
{
    const guint8 *payload = frame_data + frame->payload_off;
    kt_remote_dom_args args = { 0 };
    XDR xdr;
    bool ok;
    guint32 declared;

    if (frame->payload_len < 4 + 16 + 4) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "payload too short for a domain");
        return FALSE;
    }
    declared = get_u32(payload);
    if (declared > KT_RPC_STRING_MAX || declared > frame->payload_len - 24) {
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "domain name of %u bytes truncated",
                    declared);
        return FALSE;
    }
    xdrmem_create(&xdr, (char *)payload, (u_int)frame->payload_len, XDR_DECODE);
    ok = xdr_kt_remote_dom_args(&xdr, &args);
    xdr_destroy(&xdr);
    if (!ok) {
        xdr_free((xdrproc_t)xdr_kt_remote_dom_args, (char *)&args);
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "cannot decode a remote_nonnull_domain");
        return FALSE;
    }
    if (ret_name)
        *ret_name = g_strdup(args.dom.name);
    if (ret_uuid)
        *ret_uuid = uuid_format(args.dom.uuid);
    xdr_free((xdrproc_t)xdr_kt_remote_dom_args, (char *)&args);
    return TRUE;
}

guint8 *
kt_rpc_error_reply_encode(const KtRpcHeader *call, int code, int domain, int level,
                          const char *message, gsize *ret_len)
{
    g_autofree char *msg = NULL;
    char *msgp;
    kt_remote_error err = { 0 };
    KtRpcHeader hdr = *call;
    gsize msg_len;
    gsize cap;
    guint8 *out;
    XDR xdr;
    u_int used;

    /* bounded so the reply always fits the client's limits */
    msg_len = strlen(message);
    if (msg_len > 65536)
        msg_len = 65536;
    msg = g_strndup(message, msg_len);
    msgp = msg;
    err.code = code;
    err.domain = domain;
    err.message = &msgp;
    err.level = level;

    cap = KT_RPC_PREFIX_SIZE + 48 + ((msg_len + 3) & ~(gsize)3) + 16;
    out = g_malloc0(cap);
    hdr.type = KT_RPC_REPLY;
    hdr.status = KT_RPC_ERROR;
    kt_rpc_header_encode(&hdr, out + KT_RPC_LEN_SIZE);
    xdrmem_create(&xdr, (char *)out + KT_RPC_PREFIX_SIZE,
                  (u_int)(cap - KT_RPC_PREFIX_SIZE), XDR_ENCODE);
    if (!xdr_kt_remote_error(&xdr, &err))
        g_error("remote_error does not fit its own buffer");
    used = xdr_getpos(&xdr);
    xdr_destroy(&xdr);
    *ret_len = KT_RPC_PREFIX_SIZE + used;
    put_u32(out, (guint32)*ret_len);
    return out;
}

gboolean
kt_rpc_error_decode(const guint8 *frame_data, const KtRpcFrame *frame, int *ret_code,
                    int *ret_domain, char **ret_message, GError **error)
{
    kt_remote_error err = { 0 };
    XDR xdr;
    bool ok;

    xdrmem_create(&xdr, (char *)frame_data + frame->payload_off,
                  (u_int)frame->payload_len, XDR_DECODE);
    ok = xdr_kt_remote_error(&xdr, &err);
    xdr_destroy(&xdr);
    if (!ok) {
        xdr_free((xdrproc_t)xdr_kt_remote_error, (char *)&err);
        g_set_error(error, KT_ERROR, KT_ERROR_PARSE, "cannot decode remote_error");
        return FALSE;
    }
    *ret_code = err.code;
    *ret_domain = err.domain;
    *ret_message = err.message ? g_strdup(*err.message) : NULL;
    xdr_free((xdrproc_t)xdr_kt_remote_error, (char *)&err);
    return TRUE;
}

static void
param_set(kt_remote_typed_param *p, const char *field, int type)
{
    p->field = (char *)field;
    p->value.type = type;
}

guint8 *
kt_rpc_set_identity_encode(guint32 serial, guint64 uid, guint64 gid, gint64 pid,
                           const char *user_name, const char *group_name, gsize *ret_len)
{
    kt_remote_typed_param params[5];
    kt_remote_set_identity_args args = { 0 };
    KtRpcHeader hdr = {
        .prog = KT_RPC_PROG_REMOTE, .vers = KT_RPC_PROG_VERSION,
        .proc = KT_RPC_PROC_CONNECT_SET_IDENTITY, .type = KT_RPC_CALL,
        .serial = serial, .status = KT_RPC_OK,
    };
    guint n = 0;
    gsize cap;
    guint8 *out;
    XDR xdr;
    u_int used;

    memset(params, 0, sizeof(params));
    /* names and types: libvirt-host.h VIR_CONNECT_IDENTITY_* */
    param_set(&params[n], "unix-user-id", 4);
    params[n++].value.kt_remote_typed_param_value_u.ul = uid;
    param_set(&params[n], "unix-group-id", 4);
    params[n++].value.kt_remote_typed_param_value_u.ul = gid;
    param_set(&params[n], "process-id", 3);
    params[n++].value.kt_remote_typed_param_value_u.l = pid;
    if (user_name) {
        param_set(&params[n], "user-name", 7);
        params[n++].value.kt_remote_typed_param_value_u.s = (char *)user_name;
    }
    if (group_name) {
        param_set(&params[n], "group-name", 7);
        params[n++].value.kt_remote_typed_param_value_u.s = (char *)group_name;
    }
    args.params.params_len = n;
    args.params.params_val = params;

    cap = KT_RPC_PREFIX_SIZE + 1024 + (user_name ? strlen(user_name) : 0) +
          (group_name ? strlen(group_name) : 0);
    out = g_malloc0(cap);
    kt_rpc_header_encode(&hdr, out + KT_RPC_LEN_SIZE);
    xdrmem_create(&xdr, (char *)out + KT_RPC_PREFIX_SIZE,
                  (u_int)(cap - KT_RPC_PREFIX_SIZE), XDR_ENCODE);
    if (!xdr_kt_remote_set_identity_args(&xdr, &args))
        g_error("set-identity args do not fit their buffer");
    used = xdr_getpos(&xdr);
    xdr_destroy(&xdr);
    *ret_len = KT_RPC_PREFIX_SIZE + used;
    put_u32(out, (guint32)*ret_len);
    return out;
}

char *
kt_rpc_frame_describe(const KtRpcFrame *frame)
{
    const char *prog;

    switch (frame->hdr.prog) {
    case KT_RPC_PROG_REMOTE: prog = "remote"; break;
    case KT_RPC_PROG_QEMU: prog = "qemu"; break;
    case KT_RPC_PROG_LXC: prog = "lxc"; break;
    case KT_RPC_PROG_KEEPALIVE: prog = "keepalive"; break;
    default: prog = "unknown"; break;
    }
    return g_strdup_printf("%s(0x%08x)/%d type %u serial %u status %u len %u fds %u",
                           prog, frame->hdr.prog, frame->hdr.proc, frame->hdr.type,
                           frame->hdr.serial, frame->hdr.status, frame->len, frame->nfds);
}
