#include "kt-error.h"
#include "kt-enum.h"

G_DEFINE_QUARK(kt-error-quark, kt_error)

KT_ENUM_IMPL(kt_error_code, KT_ERROR_LAST,
             "failed", "parse", "invalid", "no-capacity", "not-found", "io",
             "too-large", "denied", "unsupported");
