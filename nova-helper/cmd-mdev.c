/* cmd-mdev.c: `kvmtune mdev persist`, mdevctl definitions for the vGPUs of
 * the defined domains.
 *
 * The qemu hook creates a domain's mdevs at start and removes them at stop,
 * so nothing survives a host reboot; a host that must have its vGPUs back
 * before any guest starts (or that starts guests from another tool) lets
 * mdevctl recreate them at boot.  We write exactly the file `mdevctl define
 * --auto` would (/etc/mdevctl.d/<parent>/<uuid>, JSON) rather than run
 * mdevctl once per device: one pass, no shell, and an existing definition
 * that differs is reported instead of overwritten (mdevctl refuses too).
 * The hook never removes an mdev that mdevctl defines. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>

#include "commands.h"
#include "domain.h"
#include "kt-error.h"
#include "mdev.h"

typedef struct {
    const char *mdevctl_dir;
    bool dry_run;
    guint defined;
    guint unchanged;
    guint failed;
} Persist;

/* Reads at most KT_DOMAIN_XML_MAX bytes: a larger file is no libvirt domain. */
static char *
read_domain(const char *path, gsize *ret_len, GError **error)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    GStatBuf sb;

    if (g_stat(path, &sb) == 0 && sb.st_size > KT_DOMAIN_XML_MAX) {
        g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                    "%s: larger than %u bytes", path, KT_DOMAIN_XML_MAX);
        return NULL;
    }
    if (!g_file_get_contents(path, &text, &len, error))
        return NULL;
    if (len > KT_DOMAIN_XML_MAX) {
        g_set_error(error, KT_ERROR, KT_ERROR_TOO_LARGE,
                    "%s: larger than %u bytes", path, KT_DOMAIN_XML_MAX);
        return NULL;
    }
    *ret_len = len;
    return g_steal_pointer(&text);
}

static void
persist_mdev(Persist *p, const char *domain, const KtPlacementMdev *m)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *json = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;
    g_autofree char *old = NULL;

    if (!kt_mdev_check_names(m->parent, m->type, m->uuid, &error)) {
        fprintf(stderr, "kvmtune mdev persist: domain '%s': %s\n", domain, error->message);
        p->failed++;
        return;
    }
    json = kt_mdev_format_mdevctl(m->type, true);
    dir = g_build_filename(p->mdevctl_dir, m->parent, NULL);
    path = kt_mdev_mdevctl_path(p->mdevctl_dir, m->parent, m->uuid);

    if (g_file_get_contents(path, &old, NULL, NULL)) {
        if (strcmp(old, json) == 0) {
            printf("unchanged %s/%s %s (domain '%s')\n", m->parent, m->uuid, m->type, domain);
            p->unchanged++;
        } else {
            fprintf(stderr, "kvmtune mdev persist: %s exists with another definition; "
                    "left alone (domain '%s' wants type %s, start auto)\n",
                    path, domain, m->type);
            p->failed++;
        }
        return;
    }
    if (p->dry_run) {
        printf("would define %s/%s %s (domain '%s')\n", m->parent, m->uuid, m->type, domain);
        p->defined++;
        return;
    }
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        int saved = errno;

        fprintf(stderr, "kvmtune mdev persist: cannot create %s: %s\n", dir, g_strerror(saved));
        p->failed++;
        return;
    }
    if (!g_file_set_contents_full(path, json, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                  0644, &error)) {
        fprintf(stderr, "kvmtune mdev persist: %s\n", error->message);
        p->failed++;
        return;
    }
    printf("defined %s/%s %s (domain '%s')\n", m->parent, m->uuid, m->type, domain);
    p->defined++;
}

static void
persist_domain(Persist *p, const char *path)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(KtDomain) dom = NULL;
    g_autoptr(KtRequest) req = NULL;
    g_autofree char *xml = NULL;
    gsize len = 0;
    guint i;

    xml = read_domain(path, &len, &error);
    if (xml)
        dom = kt_domain_parse(xml, len, &error);
    if (dom)
        req = kt_domain_read_request(dom, &error);
    if (!req) {
        fprintf(stderr, "kvmtune mdev persist: %s: %s\n", path, error->message);
        p->failed++;
        return;
    }
    if (!req->placement)
        return;
    for (i = 0; i < req->placement->mdevs->len; i++)
        persist_mdev(p, req->name ? req->name : path,
                     g_ptr_array_index(req->placement->mdevs, i));
}

static int
compare_paths(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
cmd_persist(int argc, char **argv)
{
    g_autofree char *domains = NULL;
    g_autofree char *mdevctl_dir = NULL;
    gboolean dry_run = FALSE;
    GOptionEntry entries[] = {
        { "domains", 0, 0, G_OPTION_ARG_FILENAME, &domains,
          "Directory of defined domain XMLs (default /etc/libvirt/qemu)", "DIR" },
        { "mdevctl-dir", 0, 0, G_OPTION_ARG_FILENAME, &mdevctl_dir,
          "mdevctl's configuration directory (default /etc/mdevctl.d)", "DIR" },
        { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run,
          "Say what would be defined, write nothing", NULL },
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- write mdevctl definitions for the vGPUs of defined domains");
    g_autoptr(GError) error = NULL;
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    Persist p = { 0 };
    const char *entry;
    guint i;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx,
        "Each mdev named in a domain's kvmtune placement gets\n"
        "<mdevctl-dir>/<parent>/<uuid> (type, start auto), as `mdevctl define --auto`\n"
        "writes it, so mdevctl recreates it at boot.  Existing identical definitions\n"
        "are kept; differing ones are reported and left alone (exit status 2).\n");
    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "kvmtune mdev persist: %s\n", error->message);
        return KT_EXIT_USAGE;
    }
    if (argc > 1) {
        fprintf(stderr, "kvmtune mdev persist: unexpected argument '%s'\n", argv[1]);
        return KT_EXIT_USAGE;
    }
    if (!domains)
        domains = g_strdup("/etc/libvirt/qemu");
    if (!mdevctl_dir)
        mdevctl_dir = g_strdup("/etc/mdevctl.d");
    p.mdevctl_dir = mdevctl_dir;
    p.dry_run = dry_run;

    dir = g_dir_open(domains, 0, &error);
    if (!dir) {
        fprintf(stderr, "kvmtune mdev persist: %s\n", error->message);
        return KT_EXIT_FAILURE;
    }
    while ((entry = g_dir_read_name(dir))) {
        g_autofree char *path = NULL;

        if (!g_str_has_suffix(entry, ".xml"))
            continue;
        path = g_build_filename(domains, entry, NULL);
        if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
            g_ptr_array_add(files, g_steal_pointer(&path));
    }
    /* Directory order is arbitrary; output should not be. */
    g_ptr_array_sort(files, compare_paths);
    for (i = 0; i < files->len; i++)
        persist_domain(&p, g_ptr_array_index(files, i));

    printf("%u defined, %u unchanged, %u failed\n", p.defined, p.unchanged, p.failed);
    return p.failed > 0 ? KT_EXIT_FAILURE : KT_EXIT_OK;
}

int
kt_cmd_mdev(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *out = argc < 2 ? stderr : stdout;

        fprintf(out,
                "Usage: kvmtune mdev persist [--domains DIR] [--mdevctl-dir DIR] [--dry-run]\n"
                "\n"
                "  persist   write mdevctl definitions (start auto) for the mdevs of the\n"
                "            defined domains' kvmtune placements, so vGPUs come back after\n"
                "            a host reboot\n");
        return argc < 2 ? KT_EXIT_USAGE : KT_EXIT_OK;
    }
    if (strcmp(argv[1], "persist") == 0)
        return cmd_persist(argc - 1, argv + 1);
    fprintf(stderr, "kvmtune mdev: unknown subcommand '%s' (try 'kvmtune mdev --help')\n",
            argv[1]);
    return KT_EXIT_USAGE;
}
