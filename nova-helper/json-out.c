/* json-out: see json-out.h. */
#include "json-out.h"

void
kt_json_string(GString *s, const char *v)
{
    const char *p;

    if (!v) {
        g_string_append(s, "null");
        return;
    }
    g_string_append_c(s, '"');
    for (p = v; *p; p++) {
        guchar c = (guchar)*p;

        if (c == '"' || c == '\\')
            g_string_append_printf(s, "\\%c", c);
        else if (c < 0x20)
            g_string_append_printf(s, "\\u%04x", c);
        else
            g_string_append_c(s, (char)c);
    }
    g_string_append_c(s, '"');
}

void
kt_json_cpuset(GString *s, const KtCpuset *set)
{
    const char *sep = "";
    int i;

    g_string_append_c(s, '[');
    for (i = set ? kt_cpuset_first(set) : -1; i >= 0; i = kt_cpuset_next(set, (guint)i + 1)) {
        g_string_append_printf(s, "%s%d", sep, i);
        sep = ",";
    }
    g_string_append_c(s, ']');
}
