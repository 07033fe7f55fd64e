/* kt-error.h: the one GError domain of kvmtune and its codes.
 *
 * Codes map to libvirt error numbers in exactly one place (the proxy's reply
 * table), so a refusal reaches virsh and Nova as a proper libvirt error. */
#pragma once

#include <glib.h>

#define KT_ERROR (kt_error_quark())
GQuark kt_error_quark(void);

typedef enum {
    KT_ERROR_FAILED,        /* internal failure, no better code */
    KT_ERROR_PARSE,         /* malformed input: XML, YAML, sysfs text, frame */
    KT_ERROR_INVALID,       /* well-formed but semantically wrong */
    KT_ERROR_NO_CAPACITY,   /* the host cannot hold what the profile requires */
    KT_ERROR_NOT_FOUND,     /* a named file, device, domain or key is missing */
    KT_ERROR_IO,            /* read/write/socket failure */
    KT_ERROR_TOO_LARGE,     /* an input exceeds its bound */
    KT_ERROR_DENIED,        /* peer not allowed */
    KT_ERROR_UNSUPPORTED,   /* valid but not handled by this version */
    KT_ERROR_LAST
} KtErrorCode;

/* "parse", "no-capacity", ...: stable names for logs and the control socket. */
#include "kt-enum.h"
KT_ENUM_DECL(kt_error_code);
