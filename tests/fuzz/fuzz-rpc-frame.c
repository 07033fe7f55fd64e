/* fuzz-rpc-frame: any byte stream, cut into frames the way kvmtuned's reader
 * does (length word first, refused before any allocation when out of
 * libvirt's bounds), then every decoder kvmtuned applies to a frame.
 * Invariants: a decoded define re-encodes to a frame that parses and
 * decodes to the new XML with header, serial and FD count unchanged; an
 * error reply kvmtuned writes decodes back. */
#include <stdint.h>
#include <string.h>

#include "kt-error.h"
#include "rpc-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_define(const guint8 *frame, const KtRpcFrame *f)
{
    g_autofree char *xml = NULL;
    g_autofree char *new_xml = NULL;
    g_autofree char *back = NULL;
    g_autofree guint8 *out = NULL;
    g_autoptr(GError) err = NULL;
    gsize len = 0;
    gsize back_len = 0;
    gsize out_len = 0;
    guint32 flags = 0;
    guint32 flags2 = 0;
    KtRpcFrame f2;

    if (!kt_rpc_define_args_decode(frame, f, &xml, &len, &flags, &err)) {
        if (!err)
            __builtin_trap();
        return;
    }
    if (strlen(xml) != len)
        __builtin_trap();
    new_xml = g_strconcat(xml, "<!-- kvmtune -->", NULL);
    out = kt_rpc_define_args_replace(frame, f, new_xml, strlen(new_xml), &out_len, NULL);
    if (!out) {
        if (strlen(new_xml) <= KT_RPC_STRING_MAX)
            __builtin_trap();
        return;
    }
    if (!kt_rpc_frame_parse(out, out_len, &f2, NULL) ||
        memcmp(&f2.hdr, &f->hdr, sizeof(f2.hdr)) != 0 || f2.nfds != f->nfds ||
        !kt_rpc_define_args_decode(out, &f2, &back, &back_len, &flags2, NULL) ||
        strcmp(back, new_xml) != 0 || flags2 != flags)
        __builtin_trap();
}

static void
one_frame(const guint8 *frame, gsize len)
{
    KtRpcFrame f;
    g_autoptr(GError) err = NULL;
    g_autofree char *desc = NULL;

    if (!kt_rpc_frame_parse(frame, len, &f, &err)) {
        if (!err)
            __builtin_trap();
        return;
    }
    if (f.payload_off + f.payload_len != len)
        __builtin_trap();
    desc = kt_rpc_frame_describe(&f);
    if (kt_rpc_frame_is_define(&f))
        check_define(frame, &f);
    if (kt_rpc_frame_is_undefine(&f) || f.hdr.type == KT_RPC_REPLY) {
        g_autofree char *name = NULL;
        g_autofree char *uuid = NULL;

        if (kt_rpc_dom_decode(frame, &f, &name, &uuid, NULL) && strlen(uuid) != 36)
            __builtin_trap();
    }
    if (f.hdr.status == KT_RPC_ERROR) {
        g_autofree char *msg = NULL;
        int code = 0;
        int domain = 0;

        kt_rpc_error_decode(frame, &f, &code, &domain, &msg, NULL);
    }
    if (f.hdr.type == KT_RPC_CALL || f.hdr.type == KT_RPC_CALL_WITH_FDS) {
        gsize rlen = 0;
        g_autofree guint8 *reply = kt_rpc_error_reply_encode(&f.hdr, 67, 20, 2,
                                                             "kvmtune: fuzz", &rlen);
        g_autofree char *msg = NULL;
        KtRpcFrame r;
        int code = 0;
        int domain = 0;

        if (!kt_rpc_frame_parse(reply, rlen, &r, NULL) || r.hdr.serial != f.hdr.serial ||
            !kt_rpc_error_decode(reply, &r, &code, &domain, &msg, NULL) || code != 67 ||
            g_strcmp0(msg, "kvmtune: fuzz") != 0)
            __builtin_trap();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gsize off = 0;

    while (size - off >= KT_RPC_LEN_SIZE) {
        guint32 len = 0;

        if (!kt_rpc_frame_length(data + off, size - off, &len, NULL))
            return 0;       /* kvmtuned closes the connection here */
        if (len > size - off)
            return 0;       /* truncated: the reader waits, then EOF */
        one_frame(data + off, len);
        off += len;
    }
    return 0;
}
