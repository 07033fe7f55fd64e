/* cmd-check-policy.c: `kvmtune check-policy`, the edge around
 * kt_policy_parse() and kt_policy_check(): reads the policy, the host's
 * sysfs and nova.conf, prints one line per problem. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "kt-error.h"
#include "nova-conf.h"
#include "policy-check.h"

static const char help_text[] =
    "NAME\n"
    "    kvmtune check-policy - validate a kvmtune policy file against the host\n"
    "\n"
    "SYNOPSIS\n"
    "    kvmtune check-policy [--sysroot DIR] [--nova-conf FILE | --no-nova-conf]\n"
    "                         [--quiet] FILE\n"
    "\n"
    "DESCRIPTION\n"
    "    Parses FILE (normally /etc/kvmtune/policy.yaml) and checks it against\n"
    "    the host read from sysfs, without touching libvirt or kvmtuned.  Every\n"
    "    problem is printed on its own line, as FILE:LINE:COLUMN: 'KEY': MESSAGE\n"
    "    where the position is known, so editors and CI jump to it.  All\n"
    "    problems are reported, not just the first.\n"
    "\n"
    "    Made for deployment tools: Ansible's template/copy 'validate:\n"
    "    kvmtune check-policy %s' refuses a policy that would not work on the\n"
    "    node and leaves the installed one in place.\n"
    "\n"
    "CHECKS\n"
    "    The file: YAML syntax, unknown or duplicate keys, values of the wrong\n"
    "    type or out of range, CPUs in two pools, match rules naming profiles\n"
    "    that are not defined, physnets no PF in host.sriov serves.\n"
    "    The host: pool CPUs that do not exist or are offline, hugepage sizes\n"
    "    the host lacks, SR-IOV PFs that are missing or have no SR-IOV, GPUs\n"
    "    that are missing, vGPU (mdev) types no listed parent offers, profiles\n"
    "    spanning more NUMA nodes than the host has.\n"
    "    Nova: kvmtune's reserved or dedicated CPUs inside Nova's\n"
    "    [compute] cpu_dedicated_set or cpu_shared_set (or the old\n"
    "    [DEFAULT] vcpu_pin_set), and kvmtune's shared pool inside Nova's\n"
    "    dedicated set: two allocators would hand out the same CPUs.\n"
    "    Warnings (printed, not failing): dedicated CPUs that are not\n"
    "    isolated or whose SMT sibling is in another pool, shared CPUs that\n"
    "    are isolated (no load balancing for floating vCPUs), online CPUs in\n"
    "    no pool, fewer reserved hugepages on a node than the policy hands\n"
    "    out, PFs with no VFs enabled.\n"
    "\n"
    "OPTIONS\n"
    "    --sysroot DIR\n"
    "        Read the host from DIR/sys and DIR/proc instead of / (a sysfs tree\n"
    "        such as tests/fixtures/hosts/reference).  Default: /.\n"
    "    --nova-conf FILE\n"
    "        Compare with Nova's CPU sets in FILE.  Without this option\n"
    "        SYSROOT/etc/nova/nova.conf is used when it exists.\n"
    "    --no-nova-conf\n"
    "        Do not read any nova.conf.\n"
    "    -q, --quiet\n"
    "        Print problems only: no warnings, no summary.\n"
    "    -h, --help\n"
    "        Show this text.\n"
    "\n"
    "EXIT STATUS\n"
    "    0   the policy is valid for this host (warnings may have been printed)\n"
    "    1   problems were found, a file could not be read, or bad usage\n"
    "\n"
    "EXAMPLES\n"
    "    kvmtune check-policy /etc/kvmtune/policy.yaml\n"
    "    kvmtune check-policy --sysroot tests/fixtures/hosts/reference \\\n"
    "        --no-nova-conf nova-helper/policy.example.yaml\n"
    "\n"
    "FILES\n"
    "    /etc/kvmtune/policy.yaml   the policy kvmtuned and the hooks load\n"
    "    /etc/nova/nova.conf        Nova's configuration, when present\n";

static void
print_lines(FILE *out, const char *prefix, const char *text)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    guint i;

    for (i = 0; lines[i]; i++)
        fprintf(out, "%s%s\n", prefix, lines[i]);
}

static int
usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "kvmtune check-policy: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'kvmtune check-policy --help'.\n");
    return KT_EXIT_USAGE;
}

int
kt_cmd_check_policy(int argc, char **argv)
{
    const char *sysroot = "/";
    const char *nova_path = NULL;
    const char *file = NULL;
    bool no_nova = false;
    bool quiet = false;
    g_autoptr(KtPolicy) policy = NULL;
    g_autoptr(KtInventory) inv = NULL;
    g_autoptr(KtNovaConf) nova = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *default_nova = NULL;
    int i;
    guint j;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(help_text, stdout);
            return KT_EXIT_OK;
        } else if (strcmp(a, "--sysroot") == 0 || strcmp(a, "--nova-conf") == 0) {
            if (i + 1 >= argc)
                return usage_error("option '%s' needs an argument", a);
            if (strcmp(a, "--sysroot") == 0)
                sysroot = argv[++i];
            else
                nova_path = argv[++i];
        } else if (g_str_has_prefix(a, "--sysroot=")) {
            sysroot = a + strlen("--sysroot=");
        } else if (g_str_has_prefix(a, "--nova-conf=")) {
            nova_path = a + strlen("--nova-conf=");
        } else if (strcmp(a, "--no-nova-conf") == 0) {
            no_nova = true;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            quiet = true;
        } else if (strcmp(a, "--") == 0 && i + 2 == argc && !file) {
            file = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        } else if (file) {
            return usage_error("one policy file only, got a second: '%s'", a);
        } else {
            file = a;
        }
    }
    if (!file)
        return usage_error("%s", "missing policy FILE");
    if (no_nova && nova_path)
        return usage_error("%s", "--nova-conf and --no-nova-conf exclude each other");

    policy = kt_policy_load(file, &err);
    if (!policy) {
        print_lines(stderr, "", err->message);
        return KT_EXIT_USAGE;
    }
    inv = kt_inventory_load(sysroot, &err);
    if (!inv) {
        fprintf(stderr, "kvmtune check-policy: cannot read the host under %s: %s\n",
                sysroot, err->message);
        return KT_EXIT_USAGE;
    }
    if (!no_nova && !nova_path) {
        default_nova = g_build_filename(sysroot, "etc", "nova", "nova.conf", NULL);
        if (g_file_test(default_nova, G_FILE_TEST_EXISTS))
            nova_path = default_nova;
    }
    if (nova_path) {
        nova = kt_nova_conf_load(nova_path, &err);
        if (!nova) {
            fprintf(stderr, "kvmtune check-policy: %s\n", err->message);
            return KT_EXIT_USAGE;
        }
    }

    kt_policy_check(policy, inv, nova, problems, warnings);
    for (j = 0; j < problems->len; j++)
        fprintf(stderr, "%s\n", (char *)problems->pdata[j]);
    if (!quiet) {
        for (j = 0; j < warnings->len; j++)
            fprintf(stderr, "warning: %s\n", (char *)warnings->pdata[j]);
    }
    if (problems->len > 0)
        return KT_EXIT_USAGE;
    if (!quiet)
        printf("%s: valid for %s (%u profiles, %u match rules%s%s)\n", file,
               strcmp(sysroot, "/") == 0 ? "this host" : sysroot,
               policy->profiles->len, policy->match->len,
               nova ? ", checked against " : "", nova ? nova->path : "");
    return KT_EXIT_OK;
}
