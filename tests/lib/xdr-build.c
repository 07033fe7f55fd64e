/* xdr-build: see xdr-build.h. */
#include <string.h>

#include "xdr-build.h"

void
kt_test_put32(GByteArray *b, guint32 v)
{
    guint8 x[4] = { v >> 24, v >> 16, v >> 8, v };

    g_byte_array_append(b, x, 4);
}

void
kt_test_put_string(GByteArray *b, const char *s)
{
    static const guint8 zero[4] = { 0 };
    gsize len = strlen(s);

    kt_test_put32(b, (guint32)len);
    g_byte_array_append(b, (const guint8 *)s, (guint)len);
    g_byte_array_append(b, zero, (guint)((4 - len % 4) % 4));
}

GByteArray *
kt_test_frame_new(guint32 prog, gint32 proc, guint32 type, guint32 serial, guint32 status)
{
    GByteArray *b = g_byte_array_new();

    kt_test_put32(b, 0);
    kt_test_put32(b, prog);
    kt_test_put32(b, 1);
    kt_test_put32(b, (guint32)proc);
    kt_test_put32(b, type);
    kt_test_put32(b, serial);
    kt_test_put32(b, status);
    return b;
}

void
kt_test_frame_finish(GByteArray *b)
{
    guint32 len = b->len;

    b->data[0] = len >> 24;
    b->data[1] = len >> 16;
    b->data[2] = len >> 8;
    b->data[3] = len;
}
