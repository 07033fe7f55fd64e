/* kvmtune: the command-line tool.  Dispatches to one cmd-*.c per subcommand. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} KtCommand;

static const KtCommand commands[] = {
    { "rewrite", kt_cmd_rewrite, "rewrite a domain XML offline (XML in, XML out)" },
    { "explain", kt_cmd_explain, "say which rule matched and why each resource went where it did" },
    { "simulate", kt_cmd_simulate, "how many VMs of a flavor mix fit this host" },
    { "inventory", kt_cmd_inventory, "show the host: NUMA nodes, CPUs, hugepages, VFs, GPUs" },
    { "check-policy", kt_cmd_check_policy, "validate a policy file against the host" },
    { "status", kt_cmd_status, "bookings per node and free capacity (asks kvmtuned)" },
    { "mdev", kt_cmd_mdev, "mdev helpers: 'mdev persist' writes mdevctl definitions" },
    { "pve-apply", kt_cmd_pve_apply, "write native Proxmox options for a VM's next boot" },
    { "pve-hook", kt_cmd_pve_hook, "the Proxmox hookscript entry: <vmid> <phase>" },
};

static void
usage(FILE *out)
{
    gsize i;

    fprintf(out,
            "Usage: kvmtune COMMAND [OPTIONS...]\n"
            "\n"
            "Host-side tuning for Nova/libvirt/KVM compute nodes: CPU pinning,\n"
            "emulator-thread placement, NUMA-aligned memory, hugepages, SR-IOV VFs,\n"
            "vGPUs, decided per VM by the host policy (/etc/kvmtune/policy.yaml).\n"
            "\n"
            "Commands:\n");
    for (i = 0; i < G_N_ELEMENTS(commands); i++)
        fprintf(out, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "Run 'kvmtune COMMAND --help' for the options of a command.\n"
            "Exit status: 0 ok, 1 bad input or usage, 2 internal failure, 3 no capacity.\n");
}

int
main(int argc, char **argv)
{
    gsize i;

    if (argc < 2) {
        usage(stderr);
        return KT_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return KT_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("kvmtune %s\n", KT_VERSION);
        return KT_EXIT_OK;
    }
    for (i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "kvmtune: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return KT_EXIT_USAGE;
}
