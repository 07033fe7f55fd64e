/* cmd-rewrite.c: `kvmtune rewrite`, `explain` and `simulate`, the offline
 * faces of the engine.  Edge code: reads files, calls the core, prints. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "domain.h"
#include "engine.h"
#include "inventory.h"
#include "kt-error.h"
#include "policy.h"
#include "simulate.h"

#define DEFAULT_POLICY KT_SYSCONFDIR "/kvmtune/policy.yaml"
#define MIX_MAX (16 * 1024 * 1024)
#define DOMAINS_MAX 100000

static const char rewrite_help[] =
    "NAME\n"
    "    kvmtune rewrite - place one domain and print its tuned XML\n"
    "    kvmtune explain - say why it would be placed that way\n"
    "\n"
    "SYNOPSIS\n"
    "    kvmtune rewrite [--policy FILE] [--sysroot DIR] [--domains DIR] [IN.xml|-]\n"
    "    kvmtune explain [--policy FILE] [--sysroot DIR] [--domains DIR] [IN.xml|-]\n"
    "\n"
    "DESCRIPTION\n"
    "    rewrite reads a libvirt domain XML (a file, or standard input when IN\n"
    "    is '-' or absent), matches it against the policy's rules (Nova flavor\n"
    "    name, flavor extra specs, domain name), places it on the host's free\n"
    "    resources and prints the XML with CPU pinning, emulator pinning,\n"
    "    NUMA tuning, guest NUMA cells, hugepage backing, VFs, mdevs and GPUs\n"
    "    written in, plus the <kvmtune:placement> metadata that records the\n"
    "    decision.  Everything else in the XML is written back byte for byte.\n"
    "    When no rule matches, or the rule says 'none', the input is printed\n"
    "    unchanged.  This is exactly what kvmtuned does at define time.\n"
    "\n"
    "    explain takes the same arguments and prints which rule matched, the\n"
    "    profile, and why each resource went where it did, without booking\n"
    "    anything.\n"
    "\n"
    "    The host is read from sysfs under --sysroot.  Resources already in\n"
    "    use are learnt from the domain XMLs in --domains (like\n"
    "    /etc/libvirt/qemu): their <kvmtune:placement> metadata, and CPUs that\n"
    "    Nova pinned itself.  Without --domains the host is taken as empty.\n"
    "\n"
    "OPTIONS\n"
    "    --policy FILE   host policy (default " DEFAULT_POLICY ")\n"
    "    --sysroot DIR   root of the sysfs tree to read (default /)\n"
    "    --domains DIR   directory of existing domain XMLs (*.xml) to book first\n"
    "    -h, --help      this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0  the XML was printed (rewritten, or unchanged when nothing matched)\n"
    "    1  bad input or usage: unreadable file, malformed XML or policy\n"
    "    3  no capacity: the profile requires what the host has not got free;\n"
    "       the message names the resource and the free amount per node\n"
    "\n"
    "EXAMPLES\n"
    "    kvmtune rewrite --policy policy.yaml --sysroot tests/fixtures/hosts/reference \\\n"
    "        --domains /etc/libvirt/qemu instance-0000002a.xml\n"
    "    virsh dumpxml vm1 | kvmtune explain --policy /etc/kvmtune/policy.yaml -\n";

static const char simulate_help[] =
    "NAME\n"
    "    kvmtune simulate - how many VMs of a flavor mix fit this host\n"
    "\n"
    "SYNOPSIS\n"
    "    kvmtune simulate [--policy FILE] [--sysroot DIR] --mix FILE [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "    Places a stream of VMs on the empty host, in order, as kvmtuned would\n"
    "    at define time, until the first one that does not fit.  Prints how\n"
    "    many of each flavor were placed, the use of each NUMA node (dedicated\n"
    "    CPUs, shared vCPUs, memory, hugepages), NUMA splits, and the refusal\n"
    "    with its reason.  Lines whose flavor matches no profile are counted\n"
    "    as left to Nova and skipped.\n"
    "\n"
    "    The mix file has one VM per line in arrival order:\n"
    "        <flavor-name> <vcpus> <memory-MiB>\n"
    "    Each line is matched through the policy exactly as a Nova flavor of\n"
    "    that name would be.  '#' starts a comment; blank lines are ignored.\n"
    "\n"
    "OPTIONS\n"
    "    --policy FILE   host policy (default " DEFAULT_POLICY ")\n"
    "    --sysroot DIR   root of the sysfs tree to read (default /)\n"
    "    --mix FILE      the flavor stream ('-' for standard input)\n"
    "    --json          a JSON document instead of text; it has at least\n"
    "                    \"placed\" (count) and \"refusal\" (reason or null);\n"
    "                    schema in nova-helper/README.md\n"
    "    -h, --help      this text\n"
    "\n"
    "EXIT STATUS\n"
    "    0  the run completed (whether or not the whole mix fit)\n"
    "    1  bad input or usage\n"
    "\n"
    "EXAMPLES\n"
    "    printf 'db.large 8 16384\\n' | kvmtune simulate --policy policy.yaml \\\n"
    "        --sysroot tests/fixtures/hosts/reference --mix -\n";

typedef struct {
    const char *policy;
    const char *sysroot;
    const char *domains;
    const char *mix;
    const char *input;
    bool json;
} Args;

/* Parses "--opt VALUE", "--opt=VALUE" and flags.  Returns -1 to go on, else
 * an exit status. */
static int
parse_args(int argc, char **argv, bool simulate, Args *a)
{
    int i;

    a->policy = DEFAULT_POLICY;
    a->sysroot = "/";
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char **slot = NULL;
        const char *eq;
        g_autofree char *name = NULL;

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(simulate ? simulate_help : rewrite_help, stdout);
            return KT_EXIT_OK;
        }
        if (simulate && strcmp(arg, "--json") == 0) {
            a->json = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0 || strcmp(arg, "--") == 0) {
            if (strcmp(arg, "--") == 0 && i + 1 < argc)
                arg = argv[++i];
            if (simulate || a->input) {
                fprintf(stderr, "kvmtune %s: unexpected argument '%s' (see --help)\n",
                        argv[0], arg);
                return KT_EXIT_USAGE;
            }
            a->input = arg;
            continue;
        }
        eq = strchr(arg, '=');
        name = eq ? g_strndup(arg, eq - arg) : g_strdup(arg);
        if (strcmp(name, "--policy") == 0)
            slot = &a->policy;
        else if (strcmp(name, "--sysroot") == 0)
            slot = &a->sysroot;
        else if (!simulate && strcmp(name, "--domains") == 0)
            slot = &a->domains;
        else if (simulate && strcmp(name, "--mix") == 0)
            slot = &a->mix;
        if (!slot) {
            fprintf(stderr, "kvmtune %s: unknown option '%s' (see --help)\n", argv[0], name);
            return KT_EXIT_USAGE;
        }
        if (eq) {
            *slot = eq + 1;
        } else if (i + 1 < argc) {
            *slot = argv[++i];
        } else {
            fprintf(stderr, "kvmtune %s: option '%s' needs a value\n", argv[0], name);
            return KT_EXIT_USAGE;
        }
    }
    if (simulate && !a->mix) {
        fprintf(stderr, "kvmtune %s: --mix FILE is required (see --help)\n", argv[0]);
        return KT_EXIT_USAGE;
    }
    return -1;
}

/* Reads @path ("-" or NULL: stdin) up to @max bytes. */
static gboolean
read_input(const char *path, gsize max, char **ret, gsize *ret_len, GError **error)
{
    g_autoptr(GByteArray) buf = g_byte_array_new();
    g_autofree guint8 *chunk = g_malloc(65536);
    int fd = 0;
    bool own = false;

    if (path && strcmp(path, "-") != 0) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;

            g_set_error(error, KT_ERROR, KT_ERROR_IO, "%s: %s", path, g_strerror(e));
            return FALSE;
        }
        own = true;
    }
    for (;;) {
        ssize_t n = read(fd, chunk, 65536);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;

            g_set_error(error, KT_ERROR, KT_ERROR_IO, "%s: %s", path ? path : "stdin",
                        g_strerror(e));
            if (own)
                close(fd);
            return FALSE;
        }
        if (n == 0)
            break;
        if (buf->len + (gsize)n > max) {
            g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE, "%s: larger than %" G_GSIZE_FORMAT
                        " bytes", path ? path : "stdin", max);
            if (own)
                close(fd);
            return FALSE;
        }
        g_byte_array_append(buf, chunk, (guint)n);
    }
    if (own)
        close(fd);
    *ret_len = buf->len;
    g_byte_array_append(buf, (const guint8 *)"", 1);
    *ret = (char *)g_byte_array_free(g_steal_pointer(&buf), FALSE);
    return TRUE;
}

static gint
cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Books every *.xml of @dir, in name order; a file that does not load is
 * reported and skipped (the rest of the host is still worth knowing). */
static gboolean
load_domains(KtEngine *engine, const char *dir, GError **error)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, error);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *n;
    guint i;

    if (!d)
        return FALSE;
    while ((n = g_dir_read_name(d)) && names->len < DOMAINS_MAX) {
        if (g_str_has_suffix(n, ".xml"))
            g_ptr_array_add(names, g_strdup(n));
    }
    g_ptr_array_sort(names, cmp_str);
    for (i = 0; i < names->len; i++) {
        g_autofree char *path = g_build_filename(dir, g_ptr_array_index(names, i), NULL);
        g_autofree char *xml = NULL;
        g_autoptr(GError) err = NULL;
        gsize len = 0;

        if (!read_input(path, KT_DOMAIN_XML_MAX, &xml, &len, &err) ||
            !kt_engine_load_domain(engine, xml, len, &err))
            fprintf(stderr, "kvmtune: warning: %s: %s (not booked)\n", path, err->message);
    }
    return TRUE;
}

static int
exit_for(const GError *err)
{
    return err && g_error_matches(err, KT_ERROR, KT_ERROR_NO_CAPACITY) ? KT_EXIT_NO_CAPACITY
                                                                       : KT_EXIT_USAGE;
}

static int
run_rewrite(int argc, char **argv, bool explain)
{
    Args a = { 0 };
    g_autoptr(KtPolicy) policy = NULL;
    g_autoptr(KtInventory) inv = NULL;
    g_autoptr(KtEngine) engine = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *out = NULL;
    g_autofree char *uuid = NULL;
    gsize len = 0, out_len = 0;
    KtVerdict verdict = KT_VERDICT_PASS;
    int rc = parse_args(argc, argv, false, &a);

    if (rc >= 0)
        return rc;
    if (!(policy = kt_policy_load(a.policy, &err)) ||
        !(inv = kt_inventory_load(a.sysroot, &err))) {
        fprintf(stderr, "kvmtune %s: %s\n", argv[0], err->message);
        return KT_EXIT_USAGE;
    }
    engine = kt_engine_new(inv, policy);
    if (a.domains && !load_domains(engine, a.domains, &err)) {
        fprintf(stderr, "kvmtune %s: %s\n", argv[0], err->message);
        return KT_EXIT_USAGE;
    }
    if (!read_input(a.input, KT_DOMAIN_XML_MAX, &xml, &len, &err)) {
        fprintf(stderr, "kvmtune %s: %s\n", argv[0], err->message);
        return KT_EXIT_USAGE;
    }
    if (explain) {
        out = kt_engine_explain(engine, xml, len, &err);
        if (!out) {
            fprintf(stderr, "kvmtune explain: %s\n", err->message);
            return exit_for(err);
        }
        fputs(out, stdout);
        return strstr(out, "\nresult: refused (no-capacity)") ? KT_EXIT_NO_CAPACITY : KT_EXIT_OK;
    }
    if (!kt_engine_rewrite(engine, xml, len, &verdict, &out, &out_len, &uuid, &err)) {
        fprintf(stderr, "kvmtune rewrite: %s\n", err->message);
        return exit_for(err);
    }
    if (verdict == KT_VERDICT_PASS)
        fwrite(xml, 1, len, stdout);
    else
        fwrite(out, 1, out_len, stdout);
    return fflush(stdout) == 0 ? KT_EXIT_OK : KT_EXIT_FAILURE;
}

int
kt_cmd_rewrite(int argc, char **argv)
{
    return run_rewrite(argc, argv, false);
}

int
kt_cmd_explain(int argc, char **argv)
{
    return run_rewrite(argc, argv, true);
}

int
kt_cmd_simulate(int argc, char **argv)
{
    Args a = { 0 };
    g_autoptr(KtPolicy) policy = NULL;
    g_autoptr(KtInventory) inv = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) mix = NULL;
    g_autoptr(KtSimResult) res = NULL;
    g_autofree char *text = NULL;
    g_autofree char *out = NULL;
    gsize len = 0;
    gint64 t0;
    int rc = parse_args(argc, argv, true, &a);

    if (rc >= 0)
        return rc;
    if (!(policy = kt_policy_load(a.policy, &err)) ||
        !(inv = kt_inventory_load(a.sysroot, &err)) ||
        !read_input(a.mix, MIX_MAX, &text, &len, &err) ||
        !(mix = kt_simulate_parse_mix(strcmp(a.mix, "-") == 0 ? "stdin" : a.mix, text, len, &err))) {
        fprintf(stderr, "kvmtune simulate: %s\n", err->message);
        return KT_EXIT_USAGE;
    }
    t0 = g_get_monotonic_time();
    res = kt_simulate_run(inv, policy, mix);
    res->alloc_seconds = (g_get_monotonic_time() - t0) / 1e6;
    out = a.json ? kt_simulate_format_json(res) : kt_simulate_format_text(res);
    fputs(out, stdout);
    return fflush(stdout) == 0 ? KT_EXIT_OK : KT_EXIT_FAILURE;
}
