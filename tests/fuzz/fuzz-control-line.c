/* fuzz-control-line: any bytes as one line of kvmtuned's control protocol
 * (control.h).  A line either parses to an a{sv} or fails with a GError;
 * what parses formats to one line ending in '\n' (no newline inside, as the
 * protocol needs) that parses back to the same dict. */
#include <stdint.h>
#include <string.h>

#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GVariant) dict = NULL;
    g_autoptr(GVariant) again = NULL;
    g_autofree char *line = NULL;
    gsize len;

    if (size > 65536)
        return 0;
    dict = kt_control_parse_line((const char *)data, size, &err);
    if (!dict) {
        if (!err)
            __builtin_trap();
        return 0;
    }
    if (!g_variant_is_of_type(dict, G_VARIANT_TYPE_VARDICT))
        __builtin_trap();
    line = kt_control_format_line(dict);
    len = strlen(line);
    if (len == 0 || line[len - 1] != '\n' || memchr(line, '\n', len - 1))
        __builtin_trap();
    again = kt_control_parse_line(line, len - 1, NULL);
    if (!again || !g_variant_equal(dict, again))
        __builtin_trap();
    return 0;
}
