/* cmd-inventory.c: `kvmtune inventory`, the host as kvmtune sees it. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "inventory.h"
#include "policy.h"

#define DEFAULT_POLICY KT_SYSCONFDIR "/kvmtune/policy.yaml"

static void
usage(FILE *out)
{
    fputs("Usage: kvmtune inventory [--sysroot DIR] [--json] [--policy FILE]\n"
          "\n"
          "Show the host as the allocator sees it: NUMA nodes with their CPUs,\n"
          "SMT cores, memory and hugepage pools; isolated and nohz_full CPUs;\n"
          "SR-IOV physical functions with their VFs and the driver of each VF;\n"
          "GPUs with mdev types and free instances; other PCI devices with the\n"
          "names from libpci's pci.ids database.\n"
          "\n"
          "Options:\n"
          "  --sysroot DIR   read the host below DIR instead of / (DIR/sys,\n"
          "                  DIR/proc/cmdline, DIR/usr/share/misc/pci.ids when\n"
          "                  present); the modelled hosts in tests/fixtures/hosts/\n"
          "                  are such roots.  --sysfs-root is the same option.\n"
          "  --json          print the stable JSON document instead of the table;\n"
          "                  its schema is in nova-helper/README.md (\"Inventory\n"
          "                  JSON schema\").  Warnings also go to stderr.\n"
          "  --policy FILE   name each SR-IOV PF's physnet from this policy's\n"
          "                  host.sriov list in the table.  Default, when it\n"
          "                  exists (then a broken file is only a warning):\n"
          "                  " DEFAULT_POLICY "\n"
          "  -h, --help      this text\n"
          "\n"
          "Reading is strict where the allocator books numbers (CPU lists, node\n"
          "memory, hugepage counts): a missing or malformed file there is an error\n"
          "that names it.  Device attributes degrade instead: the device or field\n"
          "is left out or shown as unknown and a warning says why.  On the live\n"
          "host (/) node CPUs and memory are cross-checked with libnuma; a\n"
          "difference is a warning.\n"
          "\n"
          "Files read below the root:\n"
          "  sys/devices/system/cpu/{present,online,isolated}, cpuN/topology/\n"
          "  sys/devices/system/node/online, nodeN/{cpulist,meminfo,distance}\n"
          "  sys/devices/system/node/nodeN/hugepages/hugepages-<size>kB/\n"
          "  proc/cmdline (isolcpus=, nohz_full=)\n"
          "  sys/bus/pci/devices/* (through libpci), their numa_node, driver,\n"
          "  iommu_group, sriov_*, virtfnN, physfn and net/<ifname>/operstate\n"
          "  sys/class/mdev_bus/*/mdev_supported_types/<type>/\n"
          "  usr/share/misc/pci.ids or usr/share/hwdata/pci.ids (device names)\n"
          "\n"
          "Exit status: 0 ok (warnings included), 1 usage error, 2 the host could\n"
          "not be read.\n"
          "\n"
          "Examples:\n"
          "  kvmtune inventory\n"
          "  kvmtune inventory --json | python3 -m json.tool\n"
          "  kvmtune inventory --sysroot tests/fixtures/hosts/reference\n",
          out);
}

/* PF address -> physnet from the policy's host.sriov.  An explicit @path
 * must load; the default one is optional.  FALSE only for a bad @path. */
static gboolean
load_physnets(const char *path, GHashTable **ret)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtPolicy) policy = NULL;
    GHashTable *map;
    guint i;

    if (!path && !g_file_test(DEFAULT_POLICY, G_FILE_TEST_EXISTS))
        return TRUE;
    policy = kt_policy_load(path ? path : DEFAULT_POLICY, &err);
    if (!policy) {
        fprintf(stderr, "kvmtune inventory: %s%s\n", err->message,
                path ? "" : "; physnets not shown");
        return path == NULL;
    }
    map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (i = 0; i < policy->sriov_pfs->len; i++) {
        const KtPolicySriovPf *pf = g_ptr_array_index(policy->sriov_pfs, i);

        if (pf->pf && pf->physnet)
            g_hash_table_replace(map, g_strdup(pf->pf), g_strdup(pf->physnet));
    }
    *ret = map;
    return TRUE;
}

int
kt_cmd_inventory(int argc, char **argv)
{
    g_autoptr(KtInventory) inv = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;
    const char *sysroot = "/";
    const char *policy_path = NULL;
    g_autoptr(GHashTable) physnets = NULL;
    bool json = false;
    int i;
    guint w;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return KT_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--sysroot") == 0 || strcmp(a, "--sysfs-root") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "kvmtune inventory: %s needs a directory\n", a);
                return KT_EXIT_USAGE;
            }
            sysroot = argv[++i];
        } else if (strcmp(a, "--policy") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "kvmtune inventory: %s needs a file\n", a);
                return KT_EXIT_USAGE;
            }
            policy_path = argv[++i];
        } else if (g_str_has_prefix(a, "--policy=")) {
            policy_path = a + strlen("--policy=");
        } else if (g_str_has_prefix(a, "--sysroot=")) {
            sysroot = a + strlen("--sysroot=");
        } else if (g_str_has_prefix(a, "--sysfs-root=")) {
            sysroot = a + strlen("--sysfs-root=");
        } else {
            fprintf(stderr, "kvmtune inventory: unknown argument '%s'\n\n", a);
            usage(stderr);
            return KT_EXIT_USAGE;
        }
    }
    if (!sysroot[0] || !g_file_test(sysroot, G_FILE_TEST_IS_DIR)) {
        fprintf(stderr, "kvmtune inventory: %s: not a directory\n", sysroot);
        return KT_EXIT_USAGE;
    }

    if (!json && !load_physnets(policy_path, &physnets))
        return KT_EXIT_USAGE;

    inv = kt_inventory_load(sysroot, &err);
    if (!inv) {
        fprintf(stderr, "kvmtune inventory: %s\n", err->message);
        return KT_EXIT_FAILURE;
    }
    if (json) {
        text = kt_inventory_format_json(inv);
        for (w = 0; w < inv->warnings->len; w++)
            fprintf(stderr, "kvmtune inventory: warning: %s\n",
                    (char *)g_ptr_array_index(inv->warnings, w));
    } else {
        text = kt_inventory_format_text_physnets(inv, physnets);
    }
    fputs(text, stdout);
    return fflush(stdout) == 0 ? KT_EXIT_OK : KT_EXIT_FAILURE;
}
