/* test-pve-conf: the Proxmox config parser/writer, the VM reader, the
 * native-option writer and the pinning plan, on real-shaped configs
 * (tests/proxmox/configs/<vmid>.conf).
 *
 * Golden outputs live in tests/proxmox/expected/; KT_TEST_REGENERATE=1
 * rewrites them (review the diff). */
#include <glib.h>
#include <stdbool.h>
#include <string.h>

#include "kt-error.h"
#include "pve-apply.h"
#include "pve-conf.h"
#include "pve-pin.h"
#include "pve-vm.h"

static char *
data_path(const char *dir, const char *name)
{
    const char *src = g_getenv("KT_SOURCE_ROOT");

    return g_build_filename(src ? src : ".", "tests", "proxmox", dir, name, NULL);
}

static char *
read_sample(const char *name, gsize *ret_len)
{
    g_autofree char *path = data_path("configs", name);
    char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, ret_len, NULL));
    return text;
}

static KtPveConf *
parse_sample(const char *name)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) err = NULL;
    gsize len = 0;
    KtPveConf *conf;

    text = read_sample(name, &len);
    conf = kt_pve_conf_parse(text, len, &err);
    g_assert_no_error(err);
    g_assert_nonnull(conf);
    return conf;
}

/* Compares with tests/proxmox/expected/<name>, or rewrites it. */
static void
check_golden(const char *name, const char *actual)
{
    g_autofree char *path = data_path("expected", name);
    g_autofree char *expected = NULL;

    if (g_getenv("KT_TEST_REGENERATE")) {
        g_assert_true(g_file_set_contents(path, actual, -1, NULL));
        return;
    }
    if (!g_file_get_contents(path, &expected, NULL, NULL))
        g_error("missing %s (run with KT_TEST_REGENERATE=1)", path);
    g_assert_cmpstr(actual, ==, expected);
}

static const char *const samples[] = { "101.conf", "102.conf", "103.conf", "104.conf" };

/* --- parser ------------------------------------------------------------- */

static void
test_round_trip(void)
{
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(samples); i++) {
        g_autofree char *text = NULL;
        g_autofree char *out = NULL;
        g_autoptr(KtPveConf) conf = NULL;
        gsize len = 0, out_len = 0;

        text = read_sample(samples[i], &len);
        conf = kt_pve_conf_parse(text, len, NULL);
        g_assert_nonnull(conf);
        out = kt_pve_conf_format(conf, &out_len);
        g_assert_cmpuint(out_len, ==, len);
        g_assert_cmpmem(out, out_len, text, len);
    }
}

static void
test_round_trip_edge_cases(void)
{
    static const char *const cases[] = {
        "", "\n", "\n\n", "cores: 2", "cores: 2\n", "cores: 2\r\n",
        "#only a comment", "[snap]\n", "a\n\n\nb\n\n", "  \t\n#x\n",
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(KtPveConf) conf = kt_pve_conf_parse(cases[i], strlen(cases[i]), NULL);
        g_autofree char *out = NULL;

        g_assert_nonnull(conf);
        out = kt_pve_conf_format(conf, NULL);
        g_assert_cmpstr(out, ==, cases[i]);
    }
}

static void
test_running_config_only(void)
{
    g_autoptr(KtPveConf) conf = parse_sample("101.conf");
    g_autoptr(GPtrArray) sections = kt_pve_conf_list_sections(conf);
    g_autofree char *descr = kt_pve_conf_description(conf);

    /* [PENDING] asks for 64 GiB and the snapshot had 16 GiB and 4 cores:
     * neither is the running config. */
    g_assert_cmpstr(kt_pve_conf_get(conf, "memory"), ==, "32768");
    g_assert_cmpstr(kt_pve_conf_get(conf, "cores"), ==, "8");
    g_assert_null(kt_pve_conf_get(conf, "delete"));
    g_assert_null(kt_pve_conf_get(conf, "snaptime"));
    g_assert_cmpstr(kt_pve_conf_get_in(conf, "PENDING", "memory"), ==, "65536");
    g_assert_cmpstr(kt_pve_conf_get_in(conf, "pending", "delete"), ==, "balloon");
    g_assert_cmpstr(kt_pve_conf_get_in(conf, "before-upgrade", "cores"), ==, "4");
    g_assert_null(kt_pve_conf_get_in(conf, "no-such-snapshot", "cores"));

    g_assert_cmpuint(sections->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(sections, 0), ==, "PENDING");
    g_assert_cmpstr(g_ptr_array_index(sections, 1), ==, "before-upgrade");

    /* Leading comments are the description, percent-decoded; the
     * snapshot's own comment is not part of it. */
    g_assert_cmpstr(descr, ==,
                    "PostgreSQL 16 primary for the billing cluster.\n\n"
                    "Owner: dba-team, on call: #49 (see wiki)");
}

static void
test_values_trimmed_and_odd_lines(void)
{
    g_autoptr(KtPveConf) conf = parse_sample("103.conf");
    g_autoptr(GPtrArray) keys = kt_pve_conf_list_keys(conf);
    g_autoptr(KtPveConf) cloud = parse_sample("102.conf");
    guint i;

    g_assert_cmpstr(kt_pve_conf_get(conf, "cores"), ==, "2");
    /* '-' is not allowed in a key: Proxmox warns, we keep the line. */
    g_assert_null(kt_pve_conf_get(conf, "x-future-option"));
    for (i = 0; i < keys->len; i++)
        g_assert_true(kt_pve_conf_key_valid(g_ptr_array_index(keys, i)));
    g_assert_cmpuint(keys->len, ==, 6);

    g_assert_cmpstr(kt_pve_conf_get(cloud, "name"), ==, "vdi-0042");
    g_assert_cmpstr(kt_pve_conf_get_in(cloud, "special:cloudinit", "name"), ==, "vdi-0042");
}

static void
test_set_in_place(void)
{
    g_autoptr(KtPveConf) conf = parse_sample("101.conf");
    g_autoptr(GError) err = NULL;
    g_autofree char *text = read_sample("101.conf", NULL);
    g_autofree char *out = NULL;
    g_autofree char *want = NULL;
    GString *s;

    g_assert_true(kt_pve_conf_set(conf, "numa", "1", &err));
    g_assert_no_error(err);
    out = kt_pve_conf_format(conf, NULL);
    s = g_string_new(text);
    g_string_replace(s, "\nnuma: 0\n", "\nnuma: 1\n", 1);
    want = g_string_free(s, FALSE);
    g_assert_cmpstr(out, ==, want);
}

static void
test_set_new_key_sorted(void)
{
    g_autoptr(KtPveConf) conf = parse_sample("101.conf");
    g_autofree char *text = read_sample("101.conf", NULL);
    g_autofree char *out = NULL;
    const char *tail_in, *tail_out;

    g_assert_true(kt_pve_conf_set(conf, "affinity", "2-9", NULL));
    g_assert_true(kt_pve_conf_set(conf, "hugepages", "1024", NULL));
    g_assert_true(kt_pve_conf_set(conf, "numa0", "cpus=0-7,hostnodes=1,memory=32768,policy=bind", NULL));
    g_assert_true(kt_pve_conf_set(conf, "zzz", "last", NULL));
    out = kt_pve_conf_format(conf, NULL);

    /* Proxmox's sorted order: affinity before agent, hugepages after
     * cpu, numa0 after numa, zzz after every key but before sections. */
    g_assert_nonnull(strstr(out, "Owner%3A dba-team, on call%3A %2349 (see wiki)\n"
                                 "affinity: 2-9\nagent: 1"));
    g_assert_nonnull(strstr(out, "\ncpu: host\nhostpci0: 0000:41:02.3,pcie=1\n"));
    g_assert_nonnull(strstr(out, "\nhostpci0: 0000:41:02.3,pcie=1\nhugepages: 1024\nide2:"));
    g_assert_nonnull(strstr(out, "\nnuma: 0\nnuma0: cpus=0-7,hostnodes=1,memory=32768,policy=bind\nonboot"));
    g_assert_nonnull(strstr(out, "\nvmgenid: 3a4f9c2e-1b7d-4e8a-9c3f-5d6e7f8a9b0c\nzzz: last\n\n[PENDING]\n"));

    /* Everything from the first section on is byte for byte the same. */
    tail_in = strstr(text, "\n[PENDING]");
    tail_out = strstr(out, "\n[PENDING]");
    g_assert_cmpstr(tail_out, ==, tail_in);

    /* The snapshot and pending sections still read the same. */
    g_assert_null(kt_pve_conf_get_in(conf, "before-upgrade", "affinity"));
    g_assert_cmpstr(kt_pve_conf_get(conf, "affinity"), ==, "2-9");
}

static void
test_set_duplicates_and_remove(void)
{
    const char *text = "cores: 1\nmemory: 512\ncores: 2\n\n[s1]\ncores: 9\n";
    g_autoptr(KtPveConf) conf = kt_pve_conf_parse(text, strlen(text), NULL);
    g_autofree char *out1 = NULL;
    g_autofree char *out2 = NULL;

    /* Proxmox reads the last duplicate. */
    g_assert_cmpstr(kt_pve_conf_get(conf, "cores"), ==, "2");
    g_assert_cmpstr(kt_pve_conf_get_in(conf, "S1", "cores"), ==, "9");
    g_assert_true(kt_pve_conf_set(conf, "cores", "4", NULL));
    out1 = kt_pve_conf_format(conf, NULL);
    g_assert_cmpstr(out1, ==, "cores: 4\nmemory: 512\n\n[s1]\ncores: 9\n");
    g_assert_true(kt_pve_conf_remove(conf, "cores"));
    g_assert_false(kt_pve_conf_remove(conf, "cores"));
    out2 = kt_pve_conf_format(conf, NULL);
    g_assert_cmpstr(out2, ==, "memory: 512\n\n[s1]\ncores: 9\n");
}

static void
test_short_section_name(void)
{
    /* Proxmox wants two characters at least: "[s]" is an odd line of the
     * running config, not a snapshot. */
    const char *text = "cores: 1\n[s]\ncores: 3\n";
    g_autoptr(KtPveConf) conf = kt_pve_conf_parse(text, strlen(text), NULL);
    g_autoptr(GPtrArray) sections = kt_pve_conf_list_sections(conf);

    g_assert_cmpuint(sections->len, ==, 0);
    g_assert_cmpstr(kt_pve_conf_get(conf, "cores"), ==, "3");
}

static void
test_set_into_empty(void)
{
    g_autoptr(KtPveConf) conf = kt_pve_conf_parse("", 0, NULL);
    g_autoptr(KtPveConf) snaps_only = kt_pve_conf_parse("[s1]\ncores: 1\n", 14, NULL);
    g_autofree char *out = NULL;
    g_autofree char *out2 = NULL;

    g_assert_true(kt_pve_conf_set(conf, "numa", "1", NULL));
    out = kt_pve_conf_format(conf, NULL);
    g_assert_cmpstr(out, ==, "numa: 1\n");

    g_assert_true(kt_pve_conf_set(snaps_only, "numa", "1", NULL));
    out2 = kt_pve_conf_format(snaps_only, NULL);
    g_assert_cmpstr(out2, ==, "numa: 1\n[s1]\ncores: 1\n");
}

static void
test_set_invalid(void)
{
    g_autoptr(KtPveConf) conf = parse_sample("103.conf");
    static const char *const bad_keys[] = { "", "Cores", "1x", "a-b", "numa0x", "a b" };
    static const char *const bad_values[] = { "", " x", "x ", "a\nb", "a\rb" };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(bad_keys); i++) {
        g_autoptr(GError) err = NULL;

        g_assert_false(kt_pve_conf_set(conf, bad_keys[i], "1", &err));
        g_assert_error(err, KT_ERROR, KT_ERROR_INVALID);
    }
    for (i = 0; i < G_N_ELEMENTS(bad_values); i++) {
        g_autoptr(GError) err = NULL;

        g_assert_false(kt_pve_conf_set(conf, "cores", bad_values[i], &err));
        g_assert_error(err, KT_ERROR, KT_ERROR_INVALID);
    }
}

static void
test_parse_errors(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GError) err2 = NULL;
    g_autofree char *big = g_malloc0(KT_PVE_CONF_MAX + 1);
    const char nul[] = "cores: 1\nmem\0ory: 2\n";

    g_assert_null(kt_pve_conf_parse(nul, sizeof(nul) - 1, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
    g_assert_nonnull(strstr(err->message, "line 2"));

    memset(big, '#', KT_PVE_CONF_MAX + 1);
    g_assert_null(kt_pve_conf_parse(big, KT_PVE_CONF_MAX + 1, &err2));
    g_assert_error(err2, KT_ERROR, KT_ERROR_TOO_LARGE);
}

/* --- VM reader ------------------------------------------------------------ */

static KtPveVm *
vm_sample(const char *name, guint vmid)
{
    g_autoptr(KtPveConf) conf = parse_sample(name);
    g_autoptr(GError) err = NULL;
    KtPveVm *vm = kt_pve_vm_from_conf(conf, vmid, &err);

    g_assert_no_error(err);
    return vm;
}

static void
test_vm_db(void)
{
    g_autoptr(KtPveVm) vm = vm_sample("101.conf", 101);
    g_autoptr(KtRequest) req = kt_pve_vm_to_request(vm, KT_PVE_KEEP_CPUS | KT_PVE_KEEP_MEMORY);
    const KtPveHostpci *h;
    const KtRequestPciDev *d;

    g_assert_cmpstr(vm->name, ==, "db1");
    g_assert_cmpstr(vm->uuid, ==, "6f1c1f0e-3d1e-4c52-9d8e-2b9a4b1f7c11");
    g_assert_cmpuint(kt_pve_vm_max_vcpus(vm), ==, 8);
    g_assert_cmpuint(vm->vcpus, ==, 8);
    g_assert_cmpuint(vm->memory_mib, ==, 32768);
    g_assert_false(vm->numa);
    g_assert_cmpuint(vm->tags->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(vm->tags, 0), ==, "kvmtune-db");
    g_assert_cmpuint(vm->hostpci->len, ==, 1);
    h = g_ptr_array_index(vm->hostpci, 0);
    g_assert_cmpstr(h->address, ==, "0000:41:02.3");
    g_assert_false(h->all_functions);

    g_assert_cmpstr(req->name, ==, "db1");
    g_assert_cmpuint(req->vcpus_max, ==, 8);
    g_assert_cmpuint(req->memory_kib, ==, 32768 * 1024);
    g_assert_false(kt_request_has_cpu_pinning(req));
    g_assert_false(req->has_hugepages);
    g_assert_cmpuint(req->pci_devs->len, ==, 1);
    d = g_ptr_array_index(req->pci_devs, 0);
    g_assert_cmpstr(d->address, ==, "0000:41:02.3");
}

static void
test_vm_vdi(void)
{
    g_autoptr(KtPveVm) vm = vm_sample("102.conf", 102);
    g_autoptr(KtRequest) req = kt_pve_vm_to_request(vm, KT_PVE_KEEP_NONE);
    const KtPveHostpci *h = g_ptr_array_index(vm->hostpci, 0);
    const KtRequestMdev *m;

    g_assert_cmpuint(vm->memory_mib, ==, 8192);      /* memory: current=8192 */
    g_assert_cmpuint(vm->tags->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(vm->tags, 1), ==, "windows");
    g_assert_cmpstr(h->mdev, ==, "nvidia-63");
    g_assert_cmpstr(h->address, ==, "0000:ca:00.0");
    g_assert_cmpuint(req->mdevs->len, ==, 1);
    g_assert_cmpuint(req->pci_devs->len, ==, 0);
    m = g_ptr_array_index(req->mdevs, 0);
    g_assert_cmpstr(m->uuid, ==, "00000000-0000-0000-0000-000000000102");
    g_assert_cmpstr(m->type, ==, "nvidia-63");
}

static void
test_vm_numa(void)
{
    g_autoptr(KtPveVm) vm = vm_sample("104.conf", 104);
    g_autoptr(KtRequest) keep = kt_pve_vm_to_request(vm, KT_PVE_KEEP_CPUS | KT_PVE_KEEP_MEMORY);
    g_autoptr(KtRequest) fresh = kt_pve_vm_to_request(vm, KT_PVE_KEEP_NONE);
    g_autofree char *aff = NULL;
    g_autofree char *nodes = NULL;
    const KtPveNumaCell *c;
    const KtPveHostpci *h;

    g_assert_cmpstr(vm->name, ==, "hpc-03");
    g_assert_cmpuint(kt_pve_vm_max_vcpus(vm), ==, 8);
    g_assert_cmpuint(vm->vcpus, ==, 6);
    g_assert_cmpuint(vm->hugepage_kib, ==, 1048576);
    g_assert_true(vm->numa);
    g_assert_cmpuint(vm->numa_cells->len, ==, 2);
    c = g_ptr_array_index(vm->numa_cells, 1);
    g_assert_cmpuint(c->memory_mib, ==, 8192);
    g_assert_cmpint(kt_cpuset_first(c->hostnodes), ==, 1);
    aff = kt_cpuset_format(vm->affinity);
    g_assert_cmpstr(aff, ==, "4-11,116-123");
    h = g_ptr_array_index(vm->hostpci, 0);
    g_assert_cmpstr(h->address, ==, "0000:17:00.0");
    g_assert_true(h->all_functions);
    h = g_ptr_array_index(vm->hostpci, 1);
    g_assert_null(h->address);
    g_assert_cmpstr(h->mapping, ==, "gpu-pool");

    g_assert_true(kt_request_has_cpu_pinning(keep));
    g_assert_true(keep->has_hugepages);
    g_assert_cmpuint(keep->hugepage_kib, ==, 1048576);
    g_assert_true(keep->has_numatune);
    nodes = kt_cpuset_format(keep->numatune_nodeset);
    g_assert_cmpstr(nodes, ==, "0-1");
    g_assert_cmpuint(keep->vcpus_current, ==, 6);

    g_assert_false(kt_request_has_cpu_pinning(fresh));
    g_assert_false(fresh->has_hugepages);
    g_assert_false(fresh->has_numatune);
}

static void
test_vm_next_start(void)
{
    g_autoptr(KtPveConf) conf = parse_sample("101.conf");
    g_autoptr(KtPveVm) now = kt_pve_vm_from_conf(conf, 101, NULL);
    g_autoptr(KtPveVm) next = kt_pve_vm_from_conf_next_start(conf, 101, NULL);
    const char *text = "cores: 2\nhostpci0: 01:00.0\nhostpci1: 02:00.0\nmemory: 1024\n"
                       "numa: 1\nnuma0: cpus=0-1,memory=1024\n\n[PENDING]\n"
                       "delete: !hostpci0;numa0 , numa\nhostpci2: 03:00.0\nsockets: 2\n"
                       "\n[snap1]\nhostpci5: 05:00.0\n";
    g_autoptr(KtPveConf) c2 = kt_pve_conf_parse(text, strlen(text), NULL);
    g_autoptr(KtPveVm) vm2 = kt_pve_vm_from_conf_next_start(c2, 7, NULL);
    const KtPveHostpci *h;

    /* [PENDING] memory: 65536 is what the next start gets. */
    g_assert_cmpuint(now->memory_mib, ==, 32768);
    g_assert_cmpuint(next->memory_mib, ==, 65536);
    g_assert_cmpuint(next->cores, ==, 8);

    g_assert_nonnull(vm2);
    g_assert_cmpuint(kt_pve_vm_max_vcpus(vm2), ==, 4);
    g_assert_false(vm2->numa);
    g_assert_cmpuint(vm2->numa_cells->len, ==, 0);
    g_assert_cmpuint(vm2->hostpci->len, ==, 2);
    h = g_ptr_array_index(vm2->hostpci, 0);
    g_assert_cmpstr(h->key, ==, "hostpci1");
    h = g_ptr_array_index(vm2->hostpci, 1);
    g_assert_cmpstr(h->key, ==, "hostpci2");
}

static void
test_vm_defaults_and_errors(void)
{
    static const struct {
        const char *text;
        const char *msg;
    } bad[] = {
        { "cores: 0\n", "cores" },
        { "cores: many\n", "cores" },
        { "sockets: 2\ncores: 2\nvcpus: 5\n", "vcpus" },
        { "memory: current=lots\n", "memory" },
        { "hugepages: 4\n", "hugepages" },
        { "affinity: 3-1\n", "affinity" },
        { "numa0: cpus=0-1,hostnodes=x\n", "numa0" },
        { "hostpci0: 0000:zz:00.0\n", "hostpci0" },
        { "hostpci1: pcie=1\n", "hostpci1" },
    };
    g_autoptr(KtPveConf) empty = kt_pve_conf_parse("", 0, NULL);
    g_autoptr(KtPveVm) vm = kt_pve_vm_from_conf(empty, 900, NULL);
    gsize i;

    g_assert_nonnull(vm);
    g_assert_cmpstr(vm->name, ==, "VM 900");
    g_assert_cmpuint(kt_pve_vm_max_vcpus(vm), ==, 1);
    g_assert_cmpuint(vm->memory_mib, ==, 512);
    g_assert_null(vm->uuid);

    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(KtPveConf) conf = kt_pve_conf_parse(bad[i].text, strlen(bad[i].text), NULL);
        g_autoptr(GError) err = NULL;
        g_autoptr(KtPveVm) none = kt_pve_vm_from_conf(conf, 900, &err);

        g_assert_null(none);
        g_assert_error(err, KT_ERROR, KT_ERROR_INVALID);
        g_assert_nonnull(strstr(err->message, "VM 900"));
        g_assert_nonnull(strstr(err->message, bad[i].msg));
    }
}

static void
test_hostpci_forms(void)
{
    static const struct {
        const char *value;
        const char *address;
        gboolean all;
    } ok[] = {
        { "0000:01:00.0", "0000:01:00.0", FALSE },
        { "01:00.1,pcie=1,x-vga=1", "0000:01:00.1", FALSE },
        { "host=0000:AF:1F.7", "0000:af:1f.7", FALSE },
        { "02:00;03:00", "0000:02:00.0", TRUE },
        { "mapping=nic", NULL, FALSE },
    };
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(KtPveHostpci) h = kt_pve_hostpci_parse("hostpci3", ok[i].value, &err);

        g_assert_no_error(err);
        g_assert_cmpstr(h->address, ==, ok[i].address);
        g_assert_cmpint(h->all_functions, ==, ok[i].all);
        g_assert_cmpuint(h->index, ==, 3);
    }
    g_assert_null(kt_pve_hostpci_parse("hostpci16", "01:00.0", NULL));
    g_assert_null(kt_pve_hostpci_parse("hostpci0", "01:20.0", NULL));
    g_assert_null(kt_pve_hostpci_parse("hostpci0", "01:00.8", NULL));
    g_assert_null(kt_pve_hostpci_parse("hostpci0", "0000:01:00.0,mdev=", NULL));
}

/* --- native options ------------------------------------------------------- */

static KtPlacement *
dedicated_placement(void)
{
    KtPlacement *pl = kt_placement_new();
    KtPlacementMdev *m = g_new0(KtPlacementMdev, 1);
    guint i;

    pl->profile = g_strdup("db-dedicated");
    pl->cpu_policy = KT_CPU_POLICY_DEDICATED;
    pl->nvcpus = 8;
    pl->vcpu_pins = g_new0(KtCpuset *, 8);
    for (i = 0; i < 8; i++) {
        pl->vcpu_pins[i] = kt_cpuset_new();
        kt_cpuset_add(pl->vcpu_pins[i], 60 + i);
    }
    pl->emulator_cpus = kt_cpuset_parse("68", NULL);
    pl->nodes = kt_cpuset_parse("1", NULL);
    pl->ncells = 1;
    pl->cells = g_new0(KtPlacementCell, 1);
    pl->cells[0].vcpus = kt_cpuset_parse("0-7", NULL);
    pl->cells[0].memory_kib = 32768 * 1024;
    pl->cells[0].host_node = 1;
    pl->memory_kib = 32768 * 1024;
    pl->hugepage_kib = 1048576;
    pl->npages = 1;
    pl->pages = g_new0(KtPlacementPages, 1);
    pl->pages[0].node = 1;
    pl->pages[0].count = 32;
    m->parent = g_strdup("0000:ca:00.0");
    m->type = g_strdup("nvidia-222");
    m->uuid = g_strdup("0b4c5e3a-7f0e-4c1c-9d43-3a1a8f1c2e01");
    m->node = 1;
    g_ptr_array_add(pl->mdevs, m);
    return pl;
}

static char *
apply_sample(const char *name, guint vmid, const KtPlacement *pl)
{
    g_autoptr(KtPveConf) conf = parse_sample(name);
    g_autoptr(KtPveVm) vm = kt_pve_vm_from_conf(conf, vmid, NULL);
    g_autoptr(GError) err = NULL;
    g_autofree char *once = NULL;
    g_autofree char *twice = NULL;
    g_autoptr(KtPveConf) again = NULL;
    g_autoptr(KtPveVm) vm2 = NULL;

    g_assert_true(kt_pve_apply_placement(conf, vm, pl, &err));
    g_assert_no_error(err);
    once = kt_pve_conf_format(conf, NULL);

    /* Idempotent: applying to the result changes nothing. */
    again = kt_pve_conf_parse(once, strlen(once), NULL);
    vm2 = kt_pve_vm_from_conf(again, vmid, NULL);
    g_assert_true(kt_pve_apply_placement(again, vm2, pl, NULL));
    twice = kt_pve_conf_format(again, NULL);
    g_assert_cmpstr(twice, ==, once);
    return g_steal_pointer(&once);
}

/* Every running-config line of @before whose key kvmtune does not own is
 * in @after, in the same order, byte for byte; from the first section on
 * the two are identical. */
static void
assert_unowned_kept(const char *before, const char *after)
{
    static const char *const owned[] = { "affinity:", "numa:", "numa0:", "numa1:",
                                         "hugepages:", "hostpci" };
    const char *tail_a = strstr(before, "\n[");
    const char *tail_b = strstr(after, "\n[");
    g_autofree char *head_a = tail_a ? g_strndup(before, tail_a - before) : g_strdup(before);
    g_auto(GStrv) a = g_strsplit(head_a, "\n", -1);
    g_auto(GStrv) b = g_strsplit(after, "\n", -1);
    guint i, j = 0;

    g_assert_cmpstr(tail_b, ==, tail_a);
    for (i = 0; a[i]; i++) {
        bool is_owned = false;
        gsize k;

        for (k = 0; k < G_N_ELEMENTS(owned); k++)
            is_owned |= g_str_has_prefix(a[i], owned[k]);
        if (is_owned)
            continue;
        while (b[j] && strcmp(a[i], b[j]) != 0)
            j++;
        if (!b[j])
            g_error("line '%s' lost", a[i]);
        j++;
    }
}

static void
test_apply_dedicated(void)
{
    g_autoptr(KtPlacement) pl = dedicated_placement();
    g_autofree char *text = read_sample("101.conf", NULL);
    g_autofree char *out = apply_sample("101.conf", 101, pl);

    check_golden("101-dedicated.conf", out);
    assert_unowned_kept(text, out);
    /* Snapshot and pending sections untouched. */
    g_assert_cmpstr(strstr(out, "\n[PENDING]"), ==, strstr(text, "\n[PENDING]"));
}

static void
test_apply_replaces_cells(void)
{
    g_autoptr(KtPlacement) pl = kt_placement_new();
    g_autofree char *text = read_sample("104.conf", NULL);
    g_autofree char *out = NULL;

    /* Shared placement on node 0: one cell, the old numa1 goes away; the
     * hugepages key is left alone (this placement has none). */
    pl->cpu_policy = KT_CPU_POLICY_SHARED;
    pl->nvcpus = 8;
    pl->shared_cpus = kt_cpuset_parse("2-27,114-139", NULL);
    pl->nodes = kt_cpuset_parse("0", NULL);
    out = apply_sample("104.conf", 104, pl);
    check_golden("104-shared.conf", out);
    assert_unowned_kept(text, out);
}

static void
test_apply_mdev_existing_slot(void)
{
    g_autoptr(KtPlacement) pl = kt_placement_new();
    KtPlacementMdev *m = g_new0(KtPlacementMdev, 1);
    g_autofree char *out = NULL;

    m->parent = g_strdup("0000:ca:00.0");
    m->type = g_strdup("nvidia-222");
    m->uuid = g_strdup("00000000-0000-0000-0000-000000000102");
    g_ptr_array_add(pl->mdevs, m);
    out = apply_sample("102.conf", 102, pl);
    /* Only the mdev type of the existing slot changes. */
    g_assert_nonnull(strstr(out, "\nhostpci0: 0000:ca:00.0,mdev=nvidia-222,pcie=1\n"));
    g_assert_null(strstr(out, "hostpci1"));
    g_assert_null(strstr(out, "affinity"));
    g_assert_true(g_str_has_suffix(out, "name: vdi-0042"));
}

static void
test_apply_pages_need_numa(void)
{
    g_autoptr(KtPlacement) pl = kt_placement_new();
    g_autofree char *out = NULL;

    /* No nodes, no cells: still "numa: 1", or Proxmox refuses the start. */
    pl->hugepage_kib = 2048;
    out = apply_sample("103.conf", 103, pl);
    g_assert_cmpstr(out, ==, "boot: order=scsi0\ncores: 2  \nhugepages: 2\nmemory: 2048\n"
                             "name: web-07\nnet0: virtio=BC:24:11:0A:0B:0C,bridge=vmbr0\n"
                             "x-future-option: something proxmox will add later\n"
                             "numa: 1\nscsi0: ceph-rbd:vm-103-disk-0,size=32G\n"
                             "this line is not a key and proxmox would only warn\n");
}

static void
test_apply_unsupported_pages(void)
{
    g_autoptr(KtPlacement) pl = kt_placement_new();
    g_autoptr(KtPveConf) conf = parse_sample("103.conf");
    g_autoptr(KtPveVm) vm = kt_pve_vm_from_conf(conf, 103, NULL);
    g_autoptr(GError) err = NULL;

    pl->hugepage_kib = 16384;
    g_assert_false(kt_pve_apply_placement(conf, vm, pl, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_UNSUPPORTED);
}

/* --- pinning plan ----------------------------------------------------------- */

static GPtrArray *
fake_threads(void)
{
    static const char *const names[] = { "kvm", "call_rcu", "CPU 0/KVM", "CPU 1/KVM",
                                         "vnc_worker", "IO mon_iothread" };
    GPtrArray *threads = g_ptr_array_new_with_free_func((GDestroyNotify)kt_pve_thread_free);
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(names); i++) {
        KtPveThread *t = g_new0(KtPveThread, 1);

        t->tid = 1000 + (pid_t)i;
        t->comm = g_strdup(names[i]);
        t->vcpu = kt_pve_vcpu_from_comm(names[i]);
        g_ptr_array_add(threads, t);
    }
    return threads;
}

static char *
plan_text(const GPtrArray *pins)
{
    GString *s = g_string_new(NULL);
    guint i;

    for (i = 0; i < pins->len; i++) {
        const KtPvePin *p = g_ptr_array_index((GPtrArray *)pins, i);
        g_autofree char *c = kt_cpuset_format(p->cpus);

        g_string_append_printf(s, "%d:%d:%s ", (int)p->tid, p->vcpu, c);
    }
    return g_string_free(s, FALSE);
}

static void
test_pin_plan(void)
{
    g_autoptr(GPtrArray) threads = fake_threads();
    g_autoptr(KtPlacement) pl = kt_placement_new();
    g_autoptr(GPtrArray) pins = NULL;
    g_autoptr(GPtrArray) pins2 = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;
    g_autofree char *text2 = NULL;

    g_assert_cmpint(kt_pve_vcpu_from_comm("CPU 12/KVM"), ==, 12);
    g_assert_cmpint(kt_pve_vcpu_from_comm("CPU x/KVM"), ==, -1);
    g_assert_cmpint(kt_pve_vcpu_from_comm("CPU 1/TCG"), ==, -1);
    g_assert_cmpint(kt_pve_vcpu_from_comm("CPU /KVM"), ==, -1);

    pl->cpu_policy = KT_CPU_POLICY_DEDICATED;
    pl->nvcpus = 2;
    pl->vcpu_pins = g_new0(KtCpuset *, 2);
    pl->vcpu_pins[0] = kt_cpuset_parse("5", NULL);
    pl->vcpu_pins[1] = kt_cpuset_parse("7", NULL);
    pl->emulator_cpus = kt_cpuset_parse("3", NULL);
    g_assert_true(kt_pve_pin_plan(threads, pl, &pins, &err));
    text = plan_text(pins);
    g_assert_cmpstr(text, ==, "1000:-1:3 1001:-1:3 1002:0:5 1003:1:7 1004:-1:3 1005:-1:3 ");

    /* No emulator set: the other threads share the vCPUs' CPUs. */
    g_clear_pointer(&pl->emulator_cpus, kt_cpuset_free);
    g_assert_true(kt_pve_pin_plan(threads, pl, &pins2, NULL));
    text2 = plan_text(pins2);
    g_assert_cmpstr(text2, ==, "1000:-1:5,7 1001:-1:5,7 1002:0:5 1003:1:7 1004:-1:5,7 1005:-1:5,7 ");

    /* QEMU without debug-threads=on: no thread says which vCPU it is. */
    {
        g_autoptr(GPtrArray) anon = fake_threads();
        g_autoptr(GPtrArray) none = NULL;
        g_autoptr(GError) e2 = NULL;
        guint i;

        for (i = 0; i < anon->len; i++)
            ((KtPveThread *)g_ptr_array_index(anon, i))->vcpu = -1;
        g_assert_false(kt_pve_pin_plan(anon, pl, &none, &e2));
        g_assert_error(e2, KT_ERROR, KT_ERROR_NOT_FOUND);
        g_assert_nonnull(strstr(e2->message, "debug-threads"));
    }

    /* A vCPU thread beyond the booking is an error, not a guess. */
    g_clear_pointer(&pl->vcpu_pins[1], kt_cpuset_free);
    pl->nvcpus = 1;
    g_assert_false(kt_pve_pin_plan(threads, pl, &pins, &err));
    g_assert_error(err, KT_ERROR, KT_ERROR_INVALID);
}

static void
test_pin_plan_shared_and_none(void)
{
    g_autoptr(GPtrArray) threads = fake_threads();
    g_autoptr(KtPlacement) pl = kt_placement_new();
    g_autoptr(GPtrArray) pins = NULL;
    g_autoptr(GPtrArray) none = NULL;
    g_autofree char *text = NULL;

    g_assert_true(kt_pve_pin_plan(threads, pl, &none, NULL));
    g_assert_cmpuint(none->len, ==, 0);

    pl->cpu_policy = KT_CPU_POLICY_SHARED;
    pl->shared_cpus = kt_cpuset_parse("2-3", NULL);
    pl->emulator_cpus = kt_cpuset_parse("1", NULL);
    g_assert_true(kt_pve_pin_plan(threads, pl, &pins, NULL));
    text = plan_text(pins);
    g_assert_cmpstr(text, ==, "1000:-1:1 1001:-1:1 1002:0:2-3 1003:1:2-3 1004:-1:1 1005:-1:1 ");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/pve-conf/round-trip", test_round_trip);
    g_test_add_func("/pve-conf/round-trip-edge-cases", test_round_trip_edge_cases);
    g_test_add_func("/pve-conf/running-config-only", test_running_config_only);
    g_test_add_func("/pve-conf/values-and-odd-lines", test_values_trimmed_and_odd_lines);
    g_test_add_func("/pve-conf/set-in-place", test_set_in_place);
    g_test_add_func("/pve-conf/set-new-key-sorted", test_set_new_key_sorted);
    g_test_add_func("/pve-conf/set-duplicates-remove", test_set_duplicates_and_remove);
    g_test_add_func("/pve-conf/short-section-name", test_short_section_name);
    g_test_add_func("/pve-conf/set-into-empty", test_set_into_empty);
    g_test_add_func("/pve-conf/set-invalid", test_set_invalid);
    g_test_add_func("/pve-conf/parse-errors", test_parse_errors);
    g_test_add_func("/pve-vm/db", test_vm_db);
    g_test_add_func("/pve-vm/vdi", test_vm_vdi);
    g_test_add_func("/pve-vm/numa", test_vm_numa);
    g_test_add_func("/pve-vm/next-start", test_vm_next_start);
    g_test_add_func("/pve-vm/defaults-errors", test_vm_defaults_and_errors);
    g_test_add_func("/pve-vm/hostpci-forms", test_hostpci_forms);
    g_test_add_func("/pve-apply/dedicated", test_apply_dedicated);
    g_test_add_func("/pve-apply/replaces-cells", test_apply_replaces_cells);
    g_test_add_func("/pve-apply/mdev-existing-slot", test_apply_mdev_existing_slot);
    g_test_add_func("/pve-apply/pages-need-numa", test_apply_pages_need_numa);
    g_test_add_func("/pve-apply/unsupported-pages", test_apply_unsupported_pages);
    g_test_add_func("/pve-pin/plan", test_pin_plan);
    g_test_add_func("/pve-pin/plan-shared-none", test_pin_plan_shared_and_none);
    return g_test_run();
}
