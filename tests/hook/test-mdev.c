/* test-mdev: mdev names, mdevctl JSON, sysfs ops on a scratch tree, the
 * hook's state records and its config precedence. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "hook-config.h"
#include "hook-state.h"
#include "kt-error.h"
#include "mdev.h"

#define U1 "aaaaaaaa-0000-4000-8000-000000000001"
#define U2 "aaaaaaaa-0000-4000-8000-000000000002"
#define DOM "11111111-2222-4333-8444-555555555555"
#define DOM2 "99999999-2222-4333-8444-555555555555"

typedef struct {
    const char *text;
    bool valid;
} Case;

static void
test_uuid(void)
{
    static const Case cases[] = {
        { U1, true },
        { "00000000-0000-0000-0000-000000000000", true },
        { "AAAAAAAA-0000-4000-8000-000000000001", false },   /* canonical is lower */
        { "aaaaaaaa00000-4000-8000-000000000001", false },
        { "aaaaaaaa-0000-4000-8000-00000000000", false },
        { "aaaaaaaa-0000-4000-8000-0000000000011", false },
        { "../../../../../../../../../../etc/x", false },
        { "aaaaaaaa-0000-4000-8000-00000000000/", false },
        { "aaaaaaaa-0000-4000-8000-0000000000g1", false },
        { "", false },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++)
        g_assert_cmpint(kt_mdev_uuid_valid(cases[i].text), ==, cases[i].valid);
    g_assert_false(kt_mdev_uuid_valid(NULL));
}

static void
test_type(void)
{
    static const Case cases[] = {
        { "nvidia-222", true },
        { "i915-GVTg_V5_4", true },
        { "mtty-1", true },
        { "vfio_ap-passthrough", true },
        { "a", true },
        { "", false },
        { ".", false },
        { "..", false },
        { ".hidden", false },
        { "nvidia/222", false },
        { "../nvidia-222", false },
        { "nvidia 222", false },
        { "nvidia-222\n", false },
        { "0123456789012345678901234567890123456789012345678901234567890123", true },
        { "01234567890123456789012345678901234567890123456789012345678901234", false },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++)
        g_assert_cmpint(kt_mdev_type_valid(cases[i].text), ==, cases[i].valid);
    g_assert_false(kt_mdev_type_valid(NULL));
}

static void
test_pci(void)
{
    static const Case cases[] = {
        { "0000:ca:00.0", true },
        { "0000:17:1f.7", true },
        { "10000:00:00.0", true },                /* VMD domains have 5 digits */
        { "0000:17:20.0", false },                /* slot > 1f */
        { "0000:17:00.8", false },                /* function > 7 */
        { "0000:CA:00.0", false },
        { "ca:00.0", false },
        { "000:ca:00.0", false },
        { "0000:ca:00.0/", false },
        { "0000:ca:00.0/../x", false },
        { "0000:ca:00", false },
        { "0000:ca.00:0", false },
        { "0000:ca:0.00", false },
        { "", false },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++)
        g_assert_cmpint(kt_pci_address_valid(cases[i].text), ==, cases[i].valid);
    g_assert_false(kt_pci_address_valid(NULL));
}

static void
test_check_names(void)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(kt_mdev_check_names("0000:ca:00.0", "nvidia-222", U1, NULL));
    g_assert_true(kt_mdev_check_names("0000:ca:00.0", NULL, U1, NULL));
    g_assert_false(kt_mdev_check_names("0000:ca:00.0", "a/b\n", U1, &error));
    g_assert_error(error, KT_ERROR, KT_ERROR_INVALID);
    /* Control characters are escaped: the message stays one line. */
    g_assert_null(strchr(error->message, '\n'));
    g_assert_nonnull(strstr(error->message, "a/b\\n"));
    g_clear_error(&error);
    g_assert_false(kt_mdev_check_names(NULL, "nvidia-222", U1, &error));
    g_assert_error(error, KT_ERROR, KT_ERROR_INVALID);
}

static void
test_mdevctl_json(void)
{
    g_autofree char *json = kt_mdev_format_mdevctl("nvidia-222", true);
    g_autofree char *manual = kt_mdev_format_mdevctl("nvidia-222", false);
    g_autofree char *path = kt_mdev_mdevctl_path("/etc/mdevctl.d", "0000:ca:00.0", U1);

    /* The layout `mdevctl list -d --dumpjson` prints for one device. */
    g_assert_cmpstr(json, ==,
                    "{\n"
                    "  \"mdev_type\": \"nvidia-222\",\n"
                    "  \"start\": \"auto\",\n"
                    "  \"attrs\": []\n"
                    "}\n");
    g_assert_nonnull(strstr(manual, "\"start\": \"manual\""));
    g_assert_cmpstr(path, ==, "/etc/mdevctl.d/0000:ca:00.0/" U1);
}

/* A scratch sysroot with one parent and one type, as the kernel lays it
 * out (mdev_bus/<parent> is a directory here, a symlink in sysfs: both
 * resolve the same). */
static char *
make_sysroot(void)
{
    g_autoptr(GError) error = NULL;
    char *root = g_dir_make_tmp("kt-mdev-XXXXXX", &error);
    g_autofree char *type = NULL;
    g_autofree char *path = NULL;

    g_assert_no_error(error);
    type = g_build_filename(root, "sys/class/mdev_bus/0000:ca:00.0/mdev_supported_types/nvidia-222",
                            NULL);
    g_assert_cmpint(g_mkdir_with_parents(type, 0755), ==, 0);
    path = g_build_filename(type, "available_instances", NULL);
    g_assert_true(g_file_set_contents(path, "2\n", -1, NULL));
    g_free(path);
    path = g_build_filename(type, "create", NULL);
    g_assert_true(g_file_set_contents(path, "", -1, NULL));
    return root;
}

static void
rm_rf(const char *path)
{
    const char *argv[] = { "rm", "-rf", path, NULL };

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH,
                               NULL, NULL, NULL, NULL, NULL, NULL));
}

static void
test_sysfs_ops(void)
{
    g_autofree char *root = make_sysroot();
    g_autofree char *create = g_build_filename(root,
        "sys/class/mdev_bus/0000:ca:00.0/mdev_supported_types/nvidia-222/create", NULL);
    g_autofree char *devdir = g_build_filename(root, "sys/bus/mdev/devices", U1, NULL);
    g_autofree char *remove = g_build_filename(devdir, "remove", NULL);
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;
    guint avail = 0;
    bool removed = true;

    g_assert_true(kt_mdev_available(root, "0000:ca:00.0", "nvidia-222", &avail, &error));
    g_assert_no_error(error);
    g_assert_cmpuint(avail, ==, 2);
    g_assert_false(kt_mdev_available(root, "0000:ca:00.0", "nvidia-999", &avail, &error));
    g_assert_error(error, KT_ERROR, KT_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_assert_false(kt_mdev_available(root, "0000:cb:00.0", "nvidia-222", &avail, &error));
    g_assert_error(error, KT_ERROR, KT_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, "not an mdev parent"));
    g_clear_error(&error);

    g_assert_false(kt_mdev_exists(root, U1));
    g_assert_true(kt_mdev_create(root, "0000:ca:00.0", "nvidia-222", U1, &error));
    g_assert_true(g_file_get_contents(create, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, U1);
    /* Hostile names are refused before any path is built. */
    g_assert_false(kt_mdev_create(root, "0000:ca:00.0", "../../../../x", U1, &error));
    g_assert_error(error, KT_ERROR, KT_ERROR_INVALID);
    g_clear_error(&error);
    /* A missing create file is not created. */
    g_assert_false(kt_mdev_create(root, "0000:ca:00.0", "nvidia-999", U1, &error));
    g_assert_error(error, KT_ERROR, KT_ERROR_NOT_FOUND);
    g_clear_error(&error);
    g_assert_false(g_file_test(devdir, G_FILE_TEST_EXISTS));

    /* Fake sysfs: no device appeared; removing it is a no-op. */
    g_assert_true(kt_mdev_remove(root, U1, &removed, &error));
    g_assert_false(removed);
    g_assert_cmpint(g_mkdir_with_parents(devdir, 0755), ==, 0);
    g_assert_true(g_file_set_contents(remove, "", -1, NULL));
    g_assert_true(kt_mdev_exists(root, U1));
    g_assert_true(kt_mdev_remove(root, U1, &removed, &error));
    g_assert_true(removed);
    g_free(text);
    g_assert_true(g_file_get_contents(remove, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "1");
    rm_rf(root);
}

static void
test_state(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("kt-state-XXXXXX", &error);
    g_autoptr(KtHookState) st = NULL;
    g_autoptr(KtHookRecord) rec = kt_hook_record_new(DOM, "vm1");
    g_autoptr(KtHookRecord) other = kt_hook_record_new(DOM2, "vm2");
    g_autoptr(KtHookRecord) back = NULL;
    g_autoptr(KtHookRecord) byname = NULL;
    g_autofree char *owner = NULL;
    g_autofree char *path = NULL;
    KtPlacementMdev m = { (char *)"0000:ca:00.0", (char *)"nvidia-222", (char *)U1, 1 };
    const KtPlacementMdev *got;

    st = kt_hook_state_open(dir, &error);
    g_assert_no_error(error);
    kt_hook_record_add_mdev(rec, &m);
    g_ptr_array_add(rec->vfs, g_strdup("0000:17:00.2"));
    g_assert_true(kt_hook_state_save(st, rec, &error));
    g_assert_true(kt_hook_state_load(st, DOM, &back, &error));
    g_assert_nonnull(back);
    g_assert_cmpstr(back->name, ==, "vm1");
    g_assert_cmpuint(back->mdevs->len, ==, 1);
    got = g_ptr_array_index(back->mdevs, 0);
    g_assert_cmpstr(got->parent, ==, "0000:ca:00.0");
    g_assert_cmpstr(got->type, ==, "nvidia-222");
    g_assert_cmpstr(got->uuid, ==, U1);
    g_assert_true(kt_hook_record_has_mdev(back, U1));
    g_assert_false(kt_hook_record_has_mdev(back, U2));
    owner = kt_hook_state_vf_owner(st, "0000:17:00.2");
    g_assert_cmpstr(owner, ==, DOM);
    g_assert_true(kt_hook_state_find_name(st, "vm1", &byname, &error));
    g_assert_nonnull(byname);
    g_assert_cmpstr(byname->uuid, ==, DOM);

    /* Another domain took the VF over (stale record): deleting ours must
     * leave its claim. */
    g_ptr_array_add(other->vfs, g_strdup("0000:17:00.2"));
    g_assert_true(kt_hook_state_save(st, other, &error));
    g_assert_true(kt_hook_state_delete(st, rec, &error));
    g_free(owner);
    owner = kt_hook_state_vf_owner(st, "0000:17:00.2");
    g_assert_cmpstr(owner, ==, DOM2);
    g_clear_pointer(&back, kt_hook_record_free);
    g_assert_true(kt_hook_state_load(st, DOM, &back, &error));
    g_assert_null(back);

    /* A tampered record is an error, not a path. */
    path = g_build_filename(dir, "domains", DOM ".conf", NULL);
    g_assert_true(g_file_set_contents(path,
        "[domain]\nuuid=" DOM "\nmdevs=0000:ca:00.0/nvidia-222/../../x;\n", -1, NULL));
    g_assert_false(kt_hook_state_load(st, DOM, &back, &error));
    g_assert_error(error, KT_ERROR, KT_ERROR_PARSE);
    g_clear_error(&error);
    g_assert_false(kt_hook_state_load(st, "../x", &back, &error));
    g_assert_error(error, KT_ERROR, KT_ERROR_INVALID);
    g_clear_error(&error);
    g_assert_null(kt_hook_state_vf_owner(st, "../../etc/passwd"));
    rm_rf(dir);
}

static void
test_config(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("kt-conf-XXXXXX", &error);
    g_autofree char *conf = g_build_filename(dir, "hook.conf", NULL);
    g_autofree char *missing = g_build_filename(dir, "missing.conf", NULL);
    g_autoptr(KtHookConfig) cfg = NULL;

    g_unsetenv("KVMTUNE_SYSROOT");
    g_unsetenv("KVMTUNE_STATE_DIR");
    g_unsetenv("KVMTUNE_CONTROL");
    g_unsetenv("KVMTUNE_POLICY");
    g_unsetenv("KVMTUNE_MDEVCTL_DIR");
    g_unsetenv("KVMTUNE_HOOK_LOG");
    g_unsetenv("KVMTUNE_TIMEOUT_MS");

    g_setenv("KVMTUNE_HOOK_CONF", missing, TRUE);
    cfg = kt_hook_config_load(NULL, &error);
    g_assert_no_error(error);
    g_assert_null(cfg->file);
    g_assert_cmpstr(cfg->sysroot, ==, "/");
    g_assert_cmpstr(cfg->control, ==, "/run/kvmtune/control");
    g_assert_cmpstr(cfg->state_dir, ==, "/run/kvmtune-hook");
    g_assert_cmpstr(cfg->mdevctl_dir, ==, "/etc/mdevctl.d");
    g_assert_null(cfg->log);
    g_assert_cmpuint(cfg->timeout_ms, ==, 15000);
    g_clear_pointer(&cfg, kt_hook_config_free);

    g_assert_true(g_file_set_contents(conf,
        "[hook]\nsysroot=/srv/root\ncontrol=/c\nlog=/l\ntimeout_ms=500\n", -1, NULL));
    g_setenv("KVMTUNE_HOOK_CONF", conf, TRUE);
    g_setenv("KVMTUNE_CONTROL", "/env/control", TRUE);
    cfg = kt_hook_config_load(NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(cfg->file, ==, conf);
    g_assert_cmpstr(cfg->sysroot, ==, "/srv/root");
    g_assert_cmpstr(cfg->control, ==, "/env/control");    /* env wins */
    g_assert_cmpstr(cfg->mdevctl_dir, ==, "/srv/root/etc/mdevctl.d");
    g_assert_cmpstr(cfg->log, ==, "/l");
    g_assert_cmpuint(cfg->timeout_ms, ==, 500);
    g_clear_pointer(&cfg, kt_hook_config_free);

    g_setenv("KVMTUNE_SYSROOT", "relative", TRUE);
    cfg = kt_hook_config_load(NULL, &error);
    g_assert_null(cfg);
    g_assert_error(error, KT_ERROR, KT_ERROR_INVALID);
    g_clear_error(&error);
    g_unsetenv("KVMTUNE_SYSROOT");
    g_unsetenv("KVMTUNE_CONTROL");

    g_assert_true(g_file_set_contents(conf, "[hook\n", -1, NULL));
    cfg = kt_hook_config_load(NULL, &error);
    g_assert_null(cfg);
    g_assert_error(error, KT_ERROR, KT_ERROR_PARSE);
    g_unsetenv("KVMTUNE_HOOK_CONF");
    rm_rf(dir);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/mdev/uuid", test_uuid);
    g_test_add_func("/mdev/type", test_type);
    g_test_add_func("/mdev/pci", test_pci);
    g_test_add_func("/mdev/check-names", test_check_names);
    g_test_add_func("/mdev/mdevctl-json", test_mdevctl_json);
    g_test_add_func("/mdev/sysfs-ops", test_sysfs_ops);
    g_test_add_func("/hook/state", test_state);
    g_test_add_func("/hook/config", test_config);
    return g_test_run();
}
