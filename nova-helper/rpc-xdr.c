/* rpc-xdr.c: the XDR routines rpcgen generates from rpc-xdr.x.  rpcgen reads
 * the .x on stdin (so no build path ends up in the output) and then emits no
 * #include of its header: this file supplies it. */
#include "rpc-xdr-gen.h"
#include "rpc-xdr-gen.c.inc"
