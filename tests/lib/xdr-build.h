/* xdr-build: hand-built libvirt RPC frames for the unit tests, so the
 * tests' expected bytes do not come from the rpc-wire code under test. */
#pragma once

#include <glib.h>

/* Appends @v as a big-endian XDR unsigned int. */
void kt_test_put32(GByteArray *b, guint32 v);
/* Appends @s as an XDR string: length word, bytes, zero pad to 4. */
void kt_test_put_string(GByteArray *b, const char *s);
/* A new frame with the given header and a zero length word. */
GByteArray *kt_test_frame_new(guint32 prog, gint32 proc, guint32 type, guint32 serial,
                              guint32 status);
/* Patches the length word of a frame built with kt_test_frame_new(). */
void kt_test_frame_finish(GByteArray *b);
