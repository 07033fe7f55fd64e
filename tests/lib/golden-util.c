/* golden-util: see golden-util.h. */
#include <string.h>

#include "golden-util.h"

bool
kt_golden_regenerate(void)
{
    return g_strcmp0(g_getenv("KT_TEST_REGENERATE"), "1") == 0;
}

char *
kt_golden_read(const char *dir, const char *name, gsize *len)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) err = NULL;
    char *text = NULL;

    if (!g_file_get_contents(path, &text, len, &err))
        g_error("%s", err->message);
    return text;
}

void
kt_golden_check(const char *dir, const char *name, const char *actual, gsize len)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autofree char *expected = NULL;
    g_autoptr(GError) err = NULL;
    gsize elen = 0;

    if (kt_golden_regenerate()) {
        if (!g_file_set_contents(path, actual, (gssize)len, &err))
            g_error("%s: %s", path, err->message);
        return;
    }
    if (!g_file_get_contents(path, &expected, &elen, &err)) {
        g_test_message("%s missing; run with KT_TEST_REGENERATE=1", path);
        g_test_fail();
        return;
    }
    if (elen != len || memcmp(expected, actual, len) != 0) {
        g_test_message("%s differs; got:\n%.*s", path, (int)len, actual);
        g_test_fail();
    }
}
