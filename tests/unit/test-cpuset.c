/* Unit tests for KtCpuset: libvirt list syntax round trips and set algebra. */
#include "cpuset.h"
#include "kt-error.h"

static void
check_roundtrip(const char *in, const char *want)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtCpuset) s = kt_cpuset_parse(in, &err);
    g_autofree char *out = NULL;

    g_assert_no_error(err);
    out = kt_cpuset_format(s);
    g_assert_cmpstr(out, ==, want);
}

static void
test_parse_format(void)
{
    check_roundtrip("", "");
    check_roundtrip("0", "0");
    check_roundtrip("0-3,8", "0-3,8");
    check_roundtrip("3,2,1,0", "0-3");
    check_roundtrip("0-7,^2", "0-1,3-7");
    check_roundtrip(" 1 , 5-6 ", "1,5-6");
    check_roundtrip("28-111,140-223", "28-111,140-223");
    check_roundtrip("63,64,65,127,128", "63-65,127-128");
    /* ranges ending on and running through whole 64-bit words */
    check_roundtrip("0-63", "0-63");
    check_roundtrip("0-127,129", "0-127,129");
    check_roundtrip("64-191", "64-191");
    check_roundtrip("10,100,1000,16383", "10,100,1000,16383");
    check_roundtrip("16320-16383", "16320-16383");
}

static void
test_parse_errors(void)
{
    const char *bad[] = { "a", "1-", "3-1", "1,,2", "-1", "99999999", "1;2", "16384", "^", NULL };
    guint i;

    for (i = 0; bad[i]; i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(KtCpuset) s = kt_cpuset_parse(bad[i], &err);

        g_assert_null(s);
        g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
        g_assert_nonnull(strstr(err->message, bad[i]));
    }
}

static void
test_algebra(void)
{
    g_autoptr(KtCpuset) a = kt_cpuset_parse("0-9", NULL);
    g_autoptr(KtCpuset) b = kt_cpuset_parse("5-200", NULL);
    g_autoptr(KtCpuset) c = kt_cpuset_copy(a);
    g_autofree char *s1 = NULL;
    g_autofree char *s2 = NULL;

    g_assert_cmpuint(kt_cpuset_count(b), ==, 196);
    g_assert_true(kt_cpuset_intersects(a, b));
    kt_cpuset_intersect(c, b);
    s1 = kt_cpuset_format(c);
    g_assert_cmpstr(s1, ==, "5-9");
    kt_cpuset_subtract(a, b);
    s2 = kt_cpuset_format(a);
    g_assert_cmpstr(s2, ==, "0-4");
    g_assert_false(kt_cpuset_intersects(a, b));
    g_assert_true(kt_cpuset_is_subset(c, b));
    g_assert_false(kt_cpuset_is_subset(b, c));
    g_assert_cmpint(kt_cpuset_first(b), ==, 5);
    g_assert_cmpint(kt_cpuset_last(b), ==, 200);
    g_assert_cmpint(kt_cpuset_next(b, 64), ==, 64);
    kt_cpuset_union(a, b);
    g_assert_cmpuint(kt_cpuset_count(a), ==, 201);
}

static void
test_equal_sizes(void)
{
    g_autoptr(KtCpuset) a = kt_cpuset_parse("1", NULL);
    g_autoptr(KtCpuset) b = kt_cpuset_parse("1,500", NULL);

    kt_cpuset_remove(b, 500);
    g_assert_true(kt_cpuset_equal(a, b));
    g_assert_false(kt_cpuset_is_empty(a));
    kt_cpuset_remove(a, 1);
    g_assert_true(kt_cpuset_is_empty(a));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cpuset/parse-format", test_parse_format);
    g_test_add_func("/cpuset/parse-errors", test_parse_errors);
    g_test_add_func("/cpuset/algebra", test_algebra);
    g_test_add_func("/cpuset/equal-sizes", test_equal_sizes);
    return g_test_run();
}
