/* kt_domain_drop_foreign_tuning: a definition from another host loses the
 * pins and node sets this host cannot honour, and keeps the ones it can. */
#include <string.h>

#include "domain.h"

#define HEAD "<domain type='qemu'>\n  <name>d</name>\n  <memory>65536</memory>\n"
#define TAIL "  <os><type>hvm</type></os>\n</domain>\n"

static char *
drop(const char *xml, const char *cpus, const char *nodes, guint *ret_n)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDomain) dom = kt_domain_parse(xml, strlen(xml), &err);
    g_autoptr(KtCpuset) c = kt_cpuset_parse(cpus, NULL);
    g_autoptr(KtCpuset) n = kt_cpuset_parse(nodes, NULL);

    g_assert_no_error(err);
    *ret_n = kt_domain_drop_foreign_tuning(dom, c, n);
    return kt_domain_format(dom, NULL);
}

static void
test_foreign_pins_dropped(void)
{
    const char *in =
        HEAD
        "  <vcpu placement='static' cpuset='150-151'>2</vcpu>\n"
        "  <cputune>\n"
        "    <vcpupin vcpu='0' cpuset='0'/>\n"
        "    <vcpupin vcpu='1' cpuset='150'/>\n"
        "    <emulatorpin cpuset='151'/>\n"
        "  </cputune>\n"
        "  <numatune>\n    <memory mode='strict' nodeset='1'/>\n  </numatune>\n"
        TAIL;
    guint n = 0;
    g_autofree char *out = drop(in, "0-1", "0", &n);

    /* one foreign pin makes every pin go: partial pins are worse than none */
    g_assert_null(strstr(out, "vcpupin"));
    g_assert_null(strstr(out, "emulatorpin"));
    g_assert_null(strstr(out, "<cputune"));
    g_assert_null(strstr(out, "cpuset="));
    g_assert_null(strstr(out, "numatune"));
    g_assert_nonnull(strstr(out, "<vcpu placement='static'>2</vcpu>"));
    g_assert_cmpuint(n, ==, 5);
}

static void
test_local_pins_kept(void)
{
    const char *in =
        HEAD
        "  <vcpu placement='static'>2</vcpu>\n"
        "  <cputune>\n"
        "    <vcpupin vcpu='0' cpuset='0'/>\n"
        "    <vcpupin vcpu='1' cpuset='1'/>\n"
        "  </cputune>\n"
        "  <numatune>\n    <memory mode='strict' nodeset='0'/>\n  </numatune>\n"
        TAIL;
    guint n = 0;
    g_autofree char *out = drop(in, "0-1", "0", &n);

    g_assert_cmpuint(n, ==, 0);
    g_assert_cmpstr(out, ==, in);
}

static void
test_hugepage_nodeset(void)
{
    const char *in =
        HEAD
        "  <memoryBacking>\n    <hugepages>\n"
        "      <page size='2048' unit='KiB' nodeset='3'/>\n"
        "    </hugepages>\n  </memoryBacking>\n"
        "  <vcpu placement='static'>1</vcpu>\n"
        TAIL;
    guint n = 0;
    g_autofree char *out = drop(in, "0-1", "0", &n);

    g_assert_cmpuint(n, ==, 1);
    g_assert_nonnull(strstr(out, "<page size='2048' unit='KiB'/>"));
}

static void
test_unparsable_is_foreign(void)
{
    const char *in =
        HEAD
        "  <vcpu placement='static'>1</vcpu>\n"
        "  <cputune>\n    <emulatorpin cpuset='x-y'/>\n  </cputune>\n"
        TAIL;
    guint n = 0;
    g_autofree char *out = drop(in, "0-1", "0", &n);

    g_assert_cmpuint(n, ==, 1);
    g_assert_null(strstr(out, "emulatorpin"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/domain-incoming/foreign-pins-dropped", test_foreign_pins_dropped);
    g_test_add_func("/domain-incoming/local-pins-kept", test_local_pins_kept);
    g_test_add_func("/domain-incoming/hugepage-nodeset", test_hugepage_nodeset);
    g_test_add_func("/domain-incoming/unparsable-is-foreign", test_unparsable_is_foreign);
    return g_test_run();
}
