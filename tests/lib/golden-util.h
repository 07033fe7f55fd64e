/* golden-util: what the golden runners (tests/golden/test-golden.c, the
 * XML engine; tests/allocator/test-golden-engine.c, the whole engine) share:
 * the case table and reading, comparing and regenerating a case's files. */
#pragma once

#include <stdbool.h>
#include <glib.h>

typedef struct {
    const char *name;
    bool fail;      /* a _FAIL case: expected.err holds the one-line error */
} KtGoldenCase;

/* Whether KT_TEST_REGENERATE=1 asks to rewrite the expected files. */
bool kt_golden_regenerate(void);

/* The contents of @name in @dir (NUL-terminated, length in @len if not
 * NULL); aborts the test program when it cannot be read. */
char *kt_golden_read(const char *dir, const char *name, gsize *len);

/* Compares @actual (@len bytes) with the file @name in @dir, or with
 * KT_TEST_REGENERATE=1 rewrites it.  A missing or different file fails the
 * current test with a message and lets the others run. */
void kt_golden_check(const char *dir, const char *name, const char *actual, gsize len);

/* Registers case @n (a string literal) as "@prefix@n" run by @func. */
#define KT_GOLDEN_ADD(prefix, n, is_fail, func) \
    do { \
        static const KtGoldenCase tc = { n, is_fail }; \
        g_test_add_data_func(prefix n, &tc, func); \
    } while (0)
