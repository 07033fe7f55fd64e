/* cmd-pve.c: `kvmtune pve-hook <vmid> <phase>` (the Proxmox hookscript
 * entry) and `kvmtune pve-apply <vmid>` (native options for the next
 * boot).  Option parsing and printing only; the work is in pve-hook.c. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "kt-error.h"
#include "pve-hook.h"
#include "pve-vm.h"

typedef struct {
    char *pve_root;
    char *run_dir;
    char *state_dir;
    char *lock_dir;
    char *policy;
    char *sysroot;
    char *proc_root;
    gboolean dry_run;
    gboolean print;
    gboolean help;
} PveOptions;

static void
pve_options_clear(PveOptions *o)
{
    g_free(o->pve_root);
    g_free(o->run_dir);
    g_free(o->state_dir);
    g_free(o->lock_dir);
    g_free(o->policy);
    g_free(o->sysroot);
    g_free(o->proc_root);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(PveOptions, pve_options_clear)

static const char common_help[] =
    "Options:\n"
    "  --pve-root DIR    Proxmox cluster file system; VM configs are read from\n"
    "                    DIR/qemu-server/VMID.conf.  Default /etc/pve\n"
    "                    ($KVMTUNE_PVE_ROOT).\n"
    "  --run-dir DIR     runtime directory; QEMU pid files are read from\n"
    "                    DIR/qemu-server/VMID.pid.  Default /var/run\n"
    "                    ($KVMTUNE_RUN_DIR).\n"
    "  --state-dir DIR   bookings, one DIR/VMID.xml per started VM, written\n"
    "                    atomically; together they are the ledger the next\n"
    "                    placement starts from.  Default /var/lib/kvmtune/pve\n"
    "                    ($KVMTUNE_PVE_STATE_DIR).\n"
    "  --policy FILE     host policy.  Default " KT_SYSCONFDIR "/kvmtune/policy.yaml\n"
    "                    ($KVMTUNE_POLICY).\n"
    "  --sysroot DIR     root of the sysfs tree describing the host.  Default /\n"
    "                    ($KVMTUNE_SYSROOT).\n"
    "  --lock-dir DIR    Proxmox's VM config locks (pve-apply only).  Default\n"
    "                    /var/lock/qemu-server ($KVMTUNE_LOCK_DIR).\n"
    "  --proc-root DIR   procfs.  Default /proc ($KVMTUNE_PROC_ROOT).\n"
    "  -h, --help        show this help.\n"
    "\n"
    "The profile of a VM is named by its first tag kvmtune-<profile> (Proxmox\n"
    "tags: `qm set VMID --tags kvmtune-db`; kvmtune-none leaves the VM alone),\n"
    "else chosen by the policy's match rules on the VM name (name: globs and\n"
    "default:; Proxmox VMs have no Nova flavor).  A VM no rule matches is left\n"
    "alone.\n"
    "\n"
    "Exit status: 0 ok, 1 bad input or usage, 2 internal failure, 3 no capacity.\n";

static const char hook_help[] =
    "Usage: kvmtune pve-hook [OPTIONS...] VMID PHASE\n"
    "\n"
    "The Proxmox VE hookscript.  Install hooks/proxmox/kvmtune as a snippet and\n"
    "attach it with `qm set VMID --hookscript local:snippets/kvmtune`; Proxmox\n"
    "then calls it as `kvmtune VMID PHASE` around each start and stop.\n"
    "\n"
    "Phases:\n"
    "  pre-start    Place the VM by its profile on what the other bookings leave\n"
    "               free.  The config read is the one this start will use:\n"
    "               the running config with [PENDING] applied.  NUMA nodes and\n"
    "               hugepages it already names are kept (memory cannot move\n"
    "               once QEMU runs).  Check that the hugepages it needs are\n"
    "               free now, and book it.  When the host cannot hold it,\n"
    "               print one line naming the resource and the free amounts,\n"
    "               exit 3, and Proxmox aborts the start.\n"
    "  post-start   Find QEMU from the pid file, check its command line carries\n"
    "               -id VMID, and pin each vCPU thread (named \"CPU n/KVM\") to\n"
    "               its booked CPU and every other QEMU thread to the emulator\n"
    "               CPUs, with sched_setaffinity(2).\n"
    "  pre-stop     Nothing.\n"
    "  post-stop    Release the booking.\n"
    "\n"
    "One line for the Proxmox task log goes to stdout; errors go to stderr.\n"
    "Proxmox holds the VM's config lock while the hook runs: the hook only\n"
    "reads the config.\n"
    "\n";

static const char apply_help[] =
    "Usage: kvmtune pve-apply [OPTIONS...] [--dry-run] [--print] VMID\n"
    "\n"
    "Write the VM's placement into its Proxmox config as native options for the\n"
    "next boot, so Proxmox itself applies them even without the hookscript:\n"
    "  affinity: CPUS            every CPU the VM's threads may use\n"
    "  numa: 1, numaN: cpus=..,hostnodes=..,memory=..,policy=bind\n"
    "  hugepages: 2 | 1024       page size in MiB\n"
    "  hostpciN: PARENT,mdev=TYPE (vGPU), whole GPUs and VFs\n"
    "A running VM keeps what it has booked; a stopped one is placed afresh on\n"
    "what the bookings leave free (nothing is booked: pre-start does that).\n"
    "The file is replaced atomically (temp file, fsync, rename) under Proxmox's\n"
    "config lock; comments (the description), snapshots, [PENDING], unknown\n"
    "keys and every other line are kept byte for byte.\n"
    "\n"
    "  --dry-run         do not write the config.\n"
    "  --print           print the resulting config on stdout.\n"
    "\n";

static void
env_default(char **opt, const char *env, const char *fallback)
{
    const char *e = g_getenv(env);

    if (*opt)
        return;
    *opt = g_strdup(e && *e ? e : fallback);
}

/* Parses the options shared by both commands; leaves VMID and PHASE in
 * argv.  Returns -1 to go on, else the exit status. */
static int
parse_options(int *argc, char ***argv, PveOptions *o, bool apply, const char *help)
{
    GOptionEntry common[] = {
        { "pve-root", 0, 0, G_OPTION_ARG_FILENAME, &o->pve_root, NULL, NULL },
        { "run-dir", 0, 0, G_OPTION_ARG_FILENAME, &o->run_dir, NULL, NULL },
        { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &o->state_dir, NULL, NULL },
        { "lock-dir", 0, 0, G_OPTION_ARG_FILENAME, &o->lock_dir, NULL, NULL },
        { "policy", 0, 0, G_OPTION_ARG_FILENAME, &o->policy, NULL, NULL },
        { "sysroot", 0, 0, G_OPTION_ARG_FILENAME, &o->sysroot, NULL, NULL },
        { "proc-root", 0, 0, G_OPTION_ARG_FILENAME, &o->proc_root, NULL, NULL },
        { "help", 'h', 0, G_OPTION_ARG_NONE, &o->help, NULL, NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    GOptionEntry apply_entries[] = {
        { "dry-run", 0, 0, G_OPTION_ARG_NONE, &o->dry_run, NULL, NULL },
        { "print", 0, 0, G_OPTION_ARG_NONE, &o->print, NULL, NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
    g_autoptr(GError) err = NULL;

    g_option_context_set_help_enabled(ctx, FALSE);
    g_option_context_add_main_entries(ctx, common, NULL);
    if (apply)
        g_option_context_add_main_entries(ctx, apply_entries, NULL);
    if (!g_option_context_parse(ctx, argc, argv, &err)) {
        fprintf(stderr, "kvmtune %s: %s\n", (*argv)[0], err->message);
        return KT_EXIT_USAGE;
    }
    if (o->help) {
        fputs(help, stdout);
        fputs(common_help, stdout);
        return KT_EXIT_OK;
    }
    env_default(&o->pve_root, "KVMTUNE_PVE_ROOT", "/etc/pve");
    env_default(&o->run_dir, "KVMTUNE_RUN_DIR", "/var/run");
    env_default(&o->state_dir, "KVMTUNE_PVE_STATE_DIR", "/var/lib/kvmtune/pve");
    env_default(&o->lock_dir, "KVMTUNE_LOCK_DIR", "/var/lock/qemu-server");
    env_default(&o->policy, "KVMTUNE_POLICY", KT_SYSCONFDIR "/kvmtune/policy.yaml");
    env_default(&o->sysroot, "KVMTUNE_SYSROOT", "/");
    env_default(&o->proc_root, "KVMTUNE_PROC_ROOT", "/proc");
    return -1;
}

static bool
parse_vmid(const char *text, guint *ret_vmid)
{
    guint64 v;

    /* Proxmox VMIDs are 100..999999999; lower ids are reserved but valid
     * in a config path, so only 0 is refused. */
    if (!g_ascii_string_to_unsigned(text, 10, 1, KT_PVE_MAX_VMID, &v, NULL))
        return false;
    *ret_vmid = (guint)v;
    return true;
}

static void
fill_env(KtPveEnv *env, const PveOptions *o)
{
    env->pve_root = o->pve_root;
    env->run_dir = o->run_dir;
    env->state_dir = o->state_dir;
    env->lock_dir = o->lock_dir;
    env->policy_path = o->policy;
    env->sysroot = o->sysroot;
    env->proc_root = o->proc_root;
}

static int
exit_status(const GError *err)
{
    if (g_error_matches(err, KT_ERROR, KT_ERROR_NO_CAPACITY))
        return KT_EXIT_NO_CAPACITY;
    if (err->domain == KT_ERROR &&
        (err->code == KT_ERROR_PARSE || err->code == KT_ERROR_INVALID ||
         err->code == KT_ERROR_NOT_FOUND || err->code == KT_ERROR_TOO_LARGE))
        return KT_EXIT_USAGE;
    return KT_EXIT_FAILURE;
}

int
kt_cmd_pve_hook(int argc, char **argv)
{
    g_auto(PveOptions) o = { 0 };
    g_autoptr(GError) err = NULL;
    g_autofree char *message = NULL;
    KtPveEnv env = { 0 };
    guint vmid;
    int phase;
    int r;

    if ((r = parse_options(&argc, &argv, &o, false, hook_help)) >= 0)
        return r;
    if (argc != 3) {
        fprintf(stderr, "kvmtune pve-hook: expected VMID PHASE (see --help)\n");
        return KT_EXIT_USAGE;
    }
    if (!parse_vmid(argv[1], &vmid)) {
        fprintf(stderr, "kvmtune pve-hook: '%s' is not a VMID\n", argv[1]);
        return KT_EXIT_USAGE;
    }
    phase = kt_pve_phase_from_string(argv[2]);
    if (phase < 0) {
        /* Proxmox may add phases; an unknown one must not break the VM. */
        printf("kvmtune: VM %u: phase '%s' ignored\n", vmid, argv[2]);
        return KT_EXIT_OK;
    }
    fill_env(&env, &o);
    if (!kt_pve_hook_run(&env, vmid, phase, &message, &err)) {
        fprintf(stderr, "kvmtune: %s%s\n",
                phase == KT_PVE_PHASE_PRE_START && exit_status(err) == KT_EXIT_NO_CAPACITY
                    ? "start refused: " : "", err->message);
        return exit_status(err);
    }
    printf("kvmtune: %s\n", message);
    return KT_EXIT_OK;
}

int
kt_cmd_pve_apply(int argc, char **argv)
{
    g_auto(PveOptions) o = { 0 };
    g_autoptr(GError) err = NULL;
    g_autofree char *message = NULL;
    g_autofree char *config = NULL;
    KtPveEnv env = { 0 };
    bool changed = false;
    guint vmid;
    int r;

    if ((r = parse_options(&argc, &argv, &o, true, apply_help)) >= 0)
        return r;
    if (argc != 2) {
        fprintf(stderr, "kvmtune pve-apply: expected VMID (see --help)\n");
        return KT_EXIT_USAGE;
    }
    if (!parse_vmid(argv[1], &vmid)) {
        fprintf(stderr, "kvmtune pve-apply: '%s' is not a VMID\n", argv[1]);
        return KT_EXIT_USAGE;
    }
    fill_env(&env, &o);
    if (!kt_pve_apply(&env, vmid, o.dry_run, &config, &changed, &message, &err)) {
        fprintf(stderr, "kvmtune pve-apply: %s\n", err->message);
        return exit_status(err);
    }
    if (o.print)
        fputs(config, stdout);
    fprintf(o.print ? stderr : stdout, "kvmtune: %s\n", message);
    return KT_EXIT_OK;
}
