/* fuzz-cpuset: any bytes give a set or a GError; a parsed set formats to text
 * that parses back to the same set. */
#include <stdint.h>
#include <string.h>

#include "cpuset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = NULL;
    g_autoptr(KtCpuset) set = NULL;
    g_autoptr(GError) err = NULL;

    if (size > 65536)
        return 0;
    text = g_strndup((const char *)data, size);
    set = kt_cpuset_parse(text, &err);
    if (set) {
        g_autofree char *out = kt_cpuset_format(set);
        g_autoptr(KtCpuset) again = kt_cpuset_parse(out, NULL);

        if (!again || !kt_cpuset_equal(set, again))
            __builtin_trap();
    } else if (!err) {
        __builtin_trap();
    }
    return 0;
}
