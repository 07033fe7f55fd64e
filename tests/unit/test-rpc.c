/* test-rpc: libvirt RPC framing (rpc-wire.c) and the control-socket line
 * format.  Expected bytes come from the wire-verified facts in
 * shared/reference/libvirt-rpc.md (DEFINE reply, minimal remote_error). */
#include <string.h>

#include <glib/gstdio.h>

#include "control.h"
#include "kt-error.h"
#include "rpc-wire.h"
#include "xdr-build.h"

static void
test_length_limits(void)
{
    guint8 buf[4];
    guint32 len = 0;
    g_autoptr(GError) err = NULL;

    /* smallest frame: void call, 28 bytes */
    memcpy(buf, "\x00\x00\x00\x1c", 4);
    g_assert_true(kt_rpc_frame_length(buf, 4, &len, NULL));
    g_assert_cmpuint(len, ==, 28);

    memcpy(buf, "\x00\x00\x00\x1b", 4);
    g_assert_false(kt_rpc_frame_length(buf, 4, &len, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
    g_clear_error(&err);

    /* libvirt's largest: 4 + VIR_NET_MESSAGE_MAX */
    memcpy(buf, "\x02\x00\x00\x04", 4);
    g_assert_true(kt_rpc_frame_length(buf, 4, &len, NULL));
    g_assert_cmpuint(len, ==, 33554436u);
    memcpy(buf, "\x02\x00\x00\x05", 4);
    g_assert_false(kt_rpc_frame_length(buf, 4, &len, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_TOO_LARGE);
    g_clear_error(&err);

    /* "GET " read as a length (libvirt issue #69) */
    memcpy(buf, "GET ", 4);
    g_assert_false(kt_rpc_frame_length(buf, 4, &len, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_TOO_LARGE);
    g_clear_error(&err);

    g_assert_false(kt_rpc_frame_length(buf, 3, &len, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
}

static void
test_header_roundtrip(void)
{
    KtRpcHeader h = {
        .prog = KT_RPC_PROG_REMOTE, .vers = 1, .proc = -7, .type = KT_RPC_STREAM,
        .serial = 0xdeadbeef, .status = KT_RPC_CONTINUE,
    };
    KtRpcHeader back = { 0 };
    guint8 buf[KT_RPC_HEADER_SIZE];

    kt_rpc_header_encode(&h, buf);
    g_assert_cmpmem(buf, 8, "\x20\x00\x80\x86\x00\x00\x00\x01", 8);
    kt_rpc_header_decode(buf, &back);
    g_assert_cmpmem(&h, sizeof(h), &back, sizeof(back));
}

static void
test_parse_keepalive(void)
{
    g_autoptr(GByteArray) b = kt_test_frame_new(KT_RPC_PROG_KEEPALIVE, 1, KT_RPC_MESSAGE, 0, 0);
    KtRpcFrame f;

    kt_test_frame_finish(b);
    g_assert_true(kt_rpc_frame_parse(b->data, b->len, &f, NULL));
    g_assert_cmpuint(f.len, ==, 28);
    g_assert_cmpuint(f.payload_len, ==, 0);
    g_assert_cmpuint(f.nfds, ==, 0);
    g_assert_false(kt_rpc_frame_is_define(&f));
    g_assert_false(kt_rpc_frame_is_undefine(&f));
}

static void
test_parse_fds(void)
{
    g_autoptr(GByteArray) b = kt_test_frame_new(KT_RPC_PROG_REMOTE, 309,
                                                KT_RPC_CALL_WITH_FDS, 4, 0);
    g_autoptr(GByteArray) bad = NULL;
    g_autoptr(GError) err = NULL;
    KtRpcFrame f;

    kt_test_put32(b, 2);                    /* fd count: 4 bytes, not "int8" */
    kt_test_put_string(b, "<domain/>");
    kt_test_put32(b, 0);
    kt_test_frame_finish(b);
    g_assert_true(kt_rpc_frame_parse(b->data, b->len, &f, NULL));
    g_assert_cmpuint(f.nfds, ==, 2);
    g_assert_cmpuint(f.payload_off, ==, 32);
    g_assert_true(kt_rpc_frame_is_define(&f));

    bad = kt_test_frame_new(KT_RPC_PROG_REMOTE, 309, KT_RPC_CALL_WITH_FDS, 4, 0);
    kt_test_put32(bad, 33);
    kt_test_frame_finish(bad);
    g_assert_false(kt_rpc_frame_parse(bad->data, bad->len, &f, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_TOO_LARGE);
    g_clear_error(&err);

    /* WITH_FDS type but no room for the count */
    g_byte_array_set_size(bad, 28);
    kt_test_frame_finish(bad);
    g_assert_false(kt_rpc_frame_parse(bad->data, bad->len, &f, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
    g_clear_error(&err);

    /* length word disagreeing with the buffer */
    g_assert_false(kt_rpc_frame_parse(b->data, b->len - 4, &f, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
}

static void
check_define_roundtrip(gint32 proc, guint32 type, bool with_flags)
{
    const char *xml = "<domain type='kvm'><name>kt-test1</name></domain>";
    const char *new_xml = "<domain type='kvm'><name>kt-test1</name><vcpu>2</vcpu></domain>";
    g_autoptr(GByteArray) b = kt_test_frame_new(KT_RPC_PROG_REMOTE, proc, type, 6, 0);
    g_autofree char *got = NULL;
    g_autofree char *got2 = NULL;
    g_autofree guint8 *out = NULL;
    gsize got_len = 0;
    gsize out_len = 0;
    guint32 flags = 99;
    KtRpcFrame f;
    KtRpcFrame f2;

    if (kt_rpc_type_has_fds(type))
        kt_test_put32(b, 1);
    kt_test_put_string(b, xml);
    if (with_flags)
        kt_test_put32(b, 1);                /* VIR_DOMAIN_DEFINE_VALIDATE */
    kt_test_frame_finish(b);
    g_assert_true(kt_rpc_frame_parse(b->data, b->len, &f, NULL));
    g_assert_true(kt_rpc_frame_is_define(&f));
    g_assert_true(kt_rpc_define_args_decode(b->data, &f, &got, &got_len, &flags, NULL));
    g_assert_cmpstr(got, ==, xml);
    g_assert_cmpuint(got_len, ==, strlen(xml));
    g_assert_cmpuint(flags, ==, with_flags ? 1 : 0);

    out = kt_rpc_define_args_replace(b->data, &f, new_xml, strlen(new_xml), &out_len, NULL);
    g_assert_nonnull(out);
    g_assert_cmpuint(out_len, ==, b->len - ((strlen(xml) + 3) & ~3u) + ((strlen(new_xml) + 3) & ~3u));
    /* header, serial and FD count untouched */
    g_assert_cmpmem(out + 4, f.payload_off - 4, b->data + 4, f.payload_off - 4);
    g_assert_true(kt_rpc_frame_parse(out, out_len, &f2, NULL));
    g_assert_cmpuint(f2.hdr.serial, ==, 6);
    g_assert_cmpuint(f2.nfds, ==, f.nfds);
    g_assert_true(kt_rpc_define_args_decode(out, &f2, &got2, &got_len, &flags, NULL));
    g_assert_cmpstr(got2, ==, new_xml);
    g_assert_cmpuint(flags, ==, with_flags ? 1 : 0);
}

static void
test_define_args(void)
{
    check_define_roundtrip(KT_RPC_PROC_DOMAIN_DEFINE_XML, KT_RPC_CALL, false);
    check_define_roundtrip(KT_RPC_PROC_DOMAIN_DEFINE_XML_FLAGS, KT_RPC_CALL, true);
    check_define_roundtrip(KT_RPC_PROC_DOMAIN_CREATE_XML, KT_RPC_CALL, true);
    check_define_roundtrip(KT_RPC_PROC_DOMAIN_CREATE_XML_WITH_FILES, KT_RPC_CALL_WITH_FDS,
                           true);
}

/* Finishes @b, which parses as a frame but whose define args are refused. */
static void
assert_define_args_refused(GByteArray *b)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = NULL;
    gsize len = 0;
    guint32 flags = 0;
    KtRpcFrame f;

    kt_test_frame_finish(b);
    g_assert_true(kt_rpc_frame_parse(b->data, b->len, &f, NULL));
    g_assert_false(kt_rpc_define_args_decode(b->data, &f, &xml, &len, &flags, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
}

static void
test_define_args_bad(void)
{
    g_autoptr(GByteArray) b = NULL;

    /* declared length beyond the payload: refused before xdr allocates */
    b = kt_test_frame_new(KT_RPC_PROG_REMOTE, 11, KT_RPC_CALL, 1, 0);
    kt_test_put32(b, 4000000);
    kt_test_put32(b, 0x41414141);
    assert_define_args_refused(b);
    g_byte_array_unref(g_steal_pointer(&b));

    /* trailing bytes after the args */
    b = kt_test_frame_new(KT_RPC_PROG_REMOTE, 11, KT_RPC_CALL, 1, 0);
    kt_test_put_string(b, "<domain/>");
    kt_test_put32(b, 7);
    assert_define_args_refused(b);
    g_byte_array_unref(g_steal_pointer(&b));

    /* embedded NUL */
    b = kt_test_frame_new(KT_RPC_PROG_REMOTE, 11, KT_RPC_CALL, 1, 0);
    kt_test_put32(b, 4);
    g_byte_array_append(b, (const guint8 *)"<a\0>", 4);
    assert_define_args_refused(b);

    /* empty payload */
    g_byte_array_set_size(b, 28);
    assert_define_args_refused(b);
}

static void
test_replace_too_large(void)
{
    g_autoptr(GByteArray) b = kt_test_frame_new(KT_RPC_PROG_REMOTE, 11, KT_RPC_CALL, 1, 0);
    g_autoptr(GError) err = NULL;
    gsize big = KT_RPC_STRING_MAX + 1;
    g_autofree char *xml = g_malloc(big);
    gsize out_len = 0;
    KtRpcFrame f;

    memset(xml, 'a', big);
    kt_test_put_string(b, "<domain/>");
    kt_test_frame_finish(b);
    g_assert_true(kt_rpc_frame_parse(b->data, b->len, &f, NULL));
    g_assert_null(kt_rpc_define_args_replace(b->data, &f, xml, big, &out_len, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_TOO_LARGE);
}

static void
test_dom_decode(void)
{
    /* the wire-verified DEFINE reply: 00000008 "kt-test1" <uuid> ffffffff */
    static const guint8 uuid[16] = {
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
        0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
    };
    g_autoptr(GByteArray) b = kt_test_frame_new(KT_RPC_PROG_REMOTE, 11, KT_RPC_REPLY, 6, 0);
    g_autoptr(GByteArray) u = kt_test_frame_new(KT_RPC_PROG_REMOTE, 231, KT_RPC_CALL, 9, 0);
    g_autofree char *name = NULL;
    g_autofree char *str = NULL;
    g_autofree char *str2 = NULL;
    g_autoptr(GError) err = NULL;
    KtRpcFrame f;

    kt_test_put_string(b, "kt-test1");
    g_byte_array_append(b, uuid, 16);
    kt_test_put32(b, 0xffffffff);
    kt_test_frame_finish(b);
    g_assert_true(kt_rpc_frame_parse(b->data, b->len, &f, NULL));
    g_assert_true(kt_rpc_dom_decode(b->data, &f, &name, &str, NULL));
    g_assert_cmpstr(name, ==, "kt-test1");
    g_assert_cmpstr(str, ==, "12345678-9abc-def0-0123-456789abcdef");

    /* UNDEFINE_FLAGS: DOM then flags */
    kt_test_put_string(u, "x");
    g_byte_array_append(u, uuid, 16);
    kt_test_put32(u, 3);
    kt_test_put32(u, 0);
    kt_test_frame_finish(u);
    g_assert_true(kt_rpc_frame_parse(u->data, u->len, &f, NULL));
    g_assert_true(kt_rpc_frame_is_undefine(&f));
    g_assert_true(kt_rpc_dom_decode(u->data, &f, NULL, &str2, NULL));
    g_assert_cmpstr(str2, ==, str);

    /* truncated */
    g_byte_array_set_size(u, 28 + 8 + 8);
    kt_test_frame_finish(u);
    g_assert_true(kt_rpc_frame_parse(u->data, u->len, &f, NULL));
    g_assert_false(kt_rpc_dom_decode(u->data, &f, NULL, NULL, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
}

static void
test_error_reply(void)
{
    KtRpcHeader call = {
        .prog = KT_RPC_PROG_REMOTE, .vers = 1, .proc = 350, .type = KT_RPC_CALL_WITH_FDS,
        .serial = 42, .status = KT_RPC_OK,
    };
    const char *msg = "kvmtune: no capacity";
    gsize len = 0;
    g_autofree guint8 *reply = kt_rpc_error_reply_encode(&call, 67, 20, 2, msg, &len);
    g_autofree char *got = NULL;
    KtRpcFrame f;
    int code = 0;
    int domain = 0;
    gsize l = strlen(msg);

    /* the minimal error: 48 + L + pad bytes of payload */
    g_assert_cmpuint(len, ==, 28 + 48 + l + (4 - l % 4) % 4);
    g_assert_true(kt_rpc_frame_parse(reply, len, &f, NULL));
    g_assert_cmpuint(f.hdr.type, ==, KT_RPC_REPLY);
    g_assert_cmpuint(f.hdr.status, ==, KT_RPC_ERROR);
    g_assert_cmpuint(f.hdr.serial, ==, 42);
    g_assert_cmpint(f.hdr.proc, ==, 350);
    g_assert_cmpuint(f.hdr.prog, ==, KT_RPC_PROG_REMOTE);
    /* code, domain, message present (1), length */
    g_assert_cmpmem(reply + 28, 16, "\x00\x00\x00\x43\x00\x00\x00\x14\x00\x00\x00\x01"
                    "\x00\x00\x00\x14", 16);
    g_assert_true(kt_rpc_error_decode(reply, &f, &code, &domain, &got, NULL));
    g_assert_cmpint(code, ==, 67);
    g_assert_cmpint(domain, ==, 20);
    g_assert_cmpstr(got, ==, msg);
}

static void
test_set_identity(void)
{
    gsize len = 0;
    g_autofree guint8 *call = kt_rpc_set_identity_encode(5, 1000, 100, 4242, "alice", NULL,
                                                         &len);
    KtRpcFrame f;

    g_assert_true(kt_rpc_frame_parse(call, len, &f, NULL));
    g_assert_cmpint(f.hdr.proc, ==, 419);
    g_assert_cmpuint(f.hdr.serial, ==, 5);
    g_assert_cmpuint(f.hdr.type, ==, KT_RPC_CALL);
    /* params<20>: 4 entries, the first "unix-user-id" ULLONG 1000 */
    g_assert_cmpmem(call + 28, 8, "\x00\x00\x00\x04\x00\x00\x00\x0c", 8);
    g_assert_cmpmem(call + 36, 12, "unix-user-id", 12);
    g_assert_cmpmem(call + 48, 12, "\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x03\xe8", 12);
    /* flags last */
    g_assert_cmpmem(call + len - 4, 4, "\x00\x00\x00\x00", 4);
}

static void
test_control_lines(void)
{
    static const char not_utf8[] = "{'op': <'sta\xff\xfftus'>}";
    g_autoptr(GError) err = NULL;
    g_autoptr(GVariant) v = NULL;
    g_autoptr(GVariant) back = NULL;
    g_autofree char *line = NULL;
    const char *xml = NULL;
    GError e = { .domain = 0, .code = KT_ERROR_NO_CAPACITY, .message = (char *)"short" };
    g_autoptr(GVariant) ev = NULL;
    const char *code = NULL;

    v = g_variant_ref_sink(g_variant_new_parsed(
        "{'op': <'place-incoming'>, 'xml': <'<domain>\\n<name>a</name></domain>'>}"));
    line = kt_control_format_line(v);
    g_assert_true(g_str_has_suffix(line, "\n"));
    g_assert_true(strchr(line, '\n') == line + strlen(line) - 1);
    back = kt_control_parse_line(line, strlen(line) - 1, NULL);
    g_assert_nonnull(back);
    g_assert_true(g_variant_lookup(back, "xml", "&s", &xml));
    g_assert_cmpstr(xml, ==, "<domain>\n<name>a</name></domain>");

    g_assert_null(kt_control_parse_line("[1, 2]", 6, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
    g_clear_error(&err);

    /* a NUL ends C strings, not lines: what follows it must not vanish */
    g_assert_null(kt_control_parse_line("{'op': <'status'>}\0junk", 23, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
    g_assert_nonnull(strstr(err->message, "NUL byte at offset 18"));
    g_clear_error(&err);

    /* GLib's parser gave NULL without an error for this (found by
     * fuzz-control-line): a crash of the control socket's reader */
    g_assert_null(kt_control_parse_line(not_utf8, sizeof(not_utf8) - 1, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
    g_assert_nonnull(strstr(err->message, "not UTF-8 (byte at offset 12)"));
    g_clear_error(&err);

    e.domain = KT_ERROR;
    ev = g_variant_ref_sink(kt_control_reply_error(&e));
    g_assert_true(g_variant_lookup(ev, "code", "&s", &code));
    g_assert_cmpstr(code, ==, "no-capacity");
}

static void
test_control_unreachable(void)
{
    g_autoptr(GError) err = NULL;
    GVariant *r = kt_control_call("/nonexistent/kvmtune/control",
                                  g_variant_new_parsed("{'op': <'status'>}"), 1000, &err);

    g_assert_null(r);
    g_assert_error(err, KT_ERROR, KT_ERROR_IO);
}

static GVariant *
echo_handler(GVariant *req, gpointer data, GError **error)
{
    const char *op = NULL;
    GVariantBuilder b;

    g_variant_lookup(req, "op", "&s", &op);
    if (g_strcmp0(op, "fail") == 0) {
        g_set_error(error, KT_ERROR, KT_ERROR_NO_CAPACITY, "node 1: 16 x 1G needed, 9 free");
        return NULL;
    }
    g_variant_builder_init(&b, G_VARIANT_TYPE_VARDICT);
    g_variant_builder_add(&b, "{sv}", "text", g_variant_new_string(op ? op : ""));
    return g_variant_builder_end(&b);
}

typedef struct {
    char *path;
    const char *op;
    GVariant *reply;
    GError *error;
    gint done;
} CallJob;

static gpointer
call_thread(gpointer data)
{
    CallJob *j = data;

    j->reply = kt_control_call(j->path, g_variant_new_parsed("{'op': <%s>}", j->op), 5000,
                               &j->error);
    g_atomic_int_set(&j->done, 1);
    return NULL;
}

static void
run_call(KtControlServer *server, CallJob *j)
{
    GThread *t = g_thread_new("call", call_thread, j);

    while (!g_atomic_int_get(&j->done)) {
        if (!g_main_context_iteration(NULL, FALSE))
            g_usleep(1000);
    }
    g_thread_join(t);
}

static void
test_control_server(void)
{
    g_autofree char *dir = g_dir_make_tmp("kt-test-control-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "control", NULL);
    g_autoptr(GError) err = NULL;
    g_autoptr(KtControlServer) server = kt_control_server_new(path, 0600, echo_handler, NULL,
                                                              &err);
    CallJob ok = { .path = path, .op = "status" };
    CallJob bad = { .path = path, .op = "fail" };
    const char *text = NULL;
    gboolean yes = FALSE;

    g_assert_no_error(err);
    run_call(server, &ok);
    g_assert_no_error(ok.error);
    g_assert_true(g_variant_lookup(ok.reply, "ok", "b", &yes));
    g_assert_true(yes);
    g_assert_true(g_variant_lookup(ok.reply, "text", "&s", &text));
    g_assert_cmpstr(text, ==, "status");
    g_variant_unref(ok.reply);

    run_call(server, &bad);
    g_assert_null(bad.reply);
    g_assert_error(bad.error, KT_ERROR, KT_ERROR_NO_CAPACITY);
    g_assert_cmpstr(bad.error->message, ==, "node 1: 16 x 1G needed, 9 free");
    g_error_free(bad.error);

    g_clear_pointer(&server, kt_control_server_free);
    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
    g_rmdir(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rpc/length-limits", test_length_limits);
    g_test_add_func("/rpc/header-roundtrip", test_header_roundtrip);
    g_test_add_func("/rpc/parse-keepalive", test_parse_keepalive);
    g_test_add_func("/rpc/parse-fds", test_parse_fds);
    g_test_add_func("/rpc/define-args", test_define_args);
    g_test_add_func("/rpc/define-args-bad", test_define_args_bad);
    g_test_add_func("/rpc/replace-too-large", test_replace_too_large);
    g_test_add_func("/rpc/dom-decode", test_dom_decode);
    g_test_add_func("/rpc/error-reply", test_error_reply);
    g_test_add_func("/rpc/set-identity", test_set_identity);
    g_test_add_func("/control/lines", test_control_lines);
    g_test_add_func("/control/unreachable", test_control_unreachable);
    g_test_add_func("/control/server", test_control_server);
    return g_test_run();
}
