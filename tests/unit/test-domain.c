/* test-domain: the domain XML engine (libvirt-xml/domain.h): parse and
 * format byte for byte, read a request, the placement metadata round trip,
 * apply/strip properties, Nova-wins, and refusal of hostile XML. */
#include <string.h>

#include "domain.h"
#include "kt-error.h"

static const char nova_xml[] =
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    "<!-- generated -->\n"
    "<domain type=\"kvm\">\n"
    "  <uuid>0B5C7C2A-3E1F-4C55-9F7B-2A1D3E4F5A6B</uuid>\n"
    "  <name>instance-0000002a</name>\n"
    "  <memory unit='GiB'>8</memory>\n"
    "  <metadata>\n"
    "    <nova:instance xmlns:nova=\"http://openstack.org/xmlns/libvirt/nova/1.1\">\n"
    "      <nova:package version=\"26.2.2\"/>\n"
    "      <nova:name>db1</nova:name>\n"
    "      <nova:flavor name=\"db.large\">\n"
    "        <nova:memory>8192</nova:memory>\n"
    "        <nova:disk>40</nova:disk>\n"
    "        <nova:swap>0</nova:swap>\n"
    "        <nova:ephemeral>0</nova:ephemeral>\n"
    "        <nova:vcpus>4</nova:vcpus>\n"
    "        <nova:extraSpecs>\n"
    "          <nova:extraSpec name=\"kvmtune:profile\">db-dedicated</nova:extraSpec>\n"
    "        </nova:extraSpecs>\n"
    "      </nova:flavor>\n"
    "      <nova:owner>\n"
    "        <nova:user uuid=\"u-1\">admin</nova:user>\n"
    "        <nova:project uuid=\"p-1\">admin</nova:project>\n"
    "      </nova:owner>\n"
    "    </nova:instance>\n"
    "  </metadata>\n"
    "  <vcpu current=\"2\">4</vcpu>\n"
    "  <os>\n"
    "    <type arch=\"x86_64\" machine=\"q35\">hvm</type>\n"
    "  </os>\n"
    "  <cpu mode=\"host-model\" match=\"exact\">\n"
    "    <topology sockets=\"4\" cores=\"1\" threads=\"1\"/>\n"
    "  </cpu>\n"
    "  <devices>\n"
    "    <disk type=\"file\" device=\"disk\"><![CDATA[ raw ]]></disk>\n"
    "    <interface type=\"hostdev\" managed=\"yes\">\n"
    "      <source>\n"
    "        <address type=\"pci\" domain=\"0x0000\" bus=\"0x41\" slot=\"0x02\""
    " function=\"0x1\"/>\n"
    "      </source>\n"
    "    </interface>\n"
    "    <hostdev mode=\"subsystem\" type=\"mdev\" model=\"vfio-pci\">\n"
    "      <source><address uuid=\"4b20d080-1b54-4048-85b3-a6a62d165c01\"/></source>\n"
    "    </hostdev>\n"
    "  </devices>\n"
    "</domain>\n";

static const char plain_xml[] =
    "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
    "  <name>plain</name>\n"
    "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
    "  <description>a &amp; b &#x41; &gt; c</description>\n"
    "  <memory unit='KiB'>4194304</memory>\n"
    "  <vcpu placement='static'>4</vcpu>\n"
    "  <os>\n"
    "    <type arch='x86_64'   machine='pc'>hvm</type>\n"
    "  </os>\n"
    "  <on_crash></on_crash>\n"
    "  <devices>\n"
    "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
    "    <!-- keep me -->\n"
    "    <memballoon model=\"virtio\" />\n"
    "  </devices>\n"
    "  <qemu:commandline/>\n"
    "</domain>";

static KtPlacement *
make_placement(guint nvcpus, guint64 memory_kib, bool devices)
{
    KtPlacement *pl = kt_placement_new();
    guint i;

    pl->profile = g_strdup("db-dedicated");
    pl->policy_hash = g_strdup("sha256:0123abcd");
    pl->nodes = kt_cpuset_parse("0-1", NULL);
    pl->cpu_policy = KT_CPU_POLICY_DEDICATED;
    pl->nvcpus = nvcpus;
    pl->vcpu_pins = g_new0(KtCpuset *, nvcpus);
    for (i = 0; i < nvcpus; i++) {
        pl->vcpu_pins[i] = kt_cpuset_new();
        kt_cpuset_add(pl->vcpu_pins[i], 28 + i);
    }
    pl->emulator_cpus = kt_cpuset_parse("60", NULL);
    pl->booked_cpus = kt_cpuset_parse("28-31,60", NULL);
    pl->threads_per_core = 2;
    pl->ncells = 2;
    pl->cells = g_new0(KtPlacementCell, 2);
    pl->cells[0].vcpus = kt_cpuset_parse(nvcpus == 4 ? "0-1" : "0", NULL);
    pl->cells[0].memory_kib = memory_kib / 2;
    pl->cells[1].vcpus = kt_cpuset_parse(nvcpus == 4 ? "2-3" : "1", NULL);
    pl->cells[1].memory_kib = memory_kib - memory_kib / 2;
    pl->cells[1].host_node = 1;
    pl->memory_kib = memory_kib;
    pl->hugepage_kib = 1048576;
    pl->npages = 2;
    pl->pages = g_new0(KtPlacementPages, 2);
    pl->pages[0].node = 0;
    pl->pages[0].count = 2;
    pl->pages[1].node = 1;
    pl->pages[1].count = 2;
    if (devices) {
        KtPlacementVf *vf = kt_placement_vf_new();
        KtPlacementMdev *m = g_new0(KtPlacementMdev, 1);
        KtPlacementGpu *g = g_new0(KtPlacementGpu, 1);

        vf->pf = g_strdup("0000:41:00.0");
        vf->vf = g_strdup("0000:41:02.3");
        vf->mac = g_strdup("fa:16:3e:00:00:01");
        vf->vlan = 100;
        vf->trust = 1;
        vf->spoofchk = 0;
        g_ptr_array_add(pl->vfs, vf);
        m->parent = g_strdup("0000:ca:00.0");
        m->type = g_strdup("nvidia-63");
        m->uuid = g_strdup("9b20d080-1b54-4048-85b3-a6a62d165c02");
        m->node = 1;
        g_ptr_array_add(pl->mdevs, m);
        g->address = g_strdup("0000:ca:00.1");
        g->node = 1;
        g_ptr_array_add(pl->gpus, g);
    }
    return pl;
}

static char *
roundtrip(const char *xml)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDomain) dom = kt_domain_parse(xml, strlen(xml), &err);

    g_assert_no_error(err);
    return kt_domain_format(dom, NULL);
}

static void
test_format_identity(void)
{
    g_autofree char *a = roundtrip(nova_xml);
    g_autofree char *b = roundtrip(plain_xml);

    g_assert_cmpstr(a, ==, nova_xml);
    g_assert_cmpstr(b, ==, plain_xml);
}

static void check_apply_props(const char *xml, const KtPlacement *pl);

/* A comment whose text starts with '>' opens with "<!-->", which holds a
 * "-->": the source map once ended the comment there and wrote its tail
 * twice (found by fuzz-domain-xml).  In the prolog the same mistake made
 * the map fail and the whole document be written from the tree. */
static void
test_format_comment_gt(void)
{
    static const char xml[] =
        "<domain type='kvm'>\n"
        "  <!-->inside-->\n"
        "  <name>gt</name>\n"
        "  <uuid>5a1b2c3d-0000-4000-8000-00000000c0de</uuid>\n"
        "  <memory unit='MiB'>64</memory>\n"
        "  <vcpu>2</vcpu>\n"
        "  <devices><!---->\n"
        "    <!-->-->\n"
        "  </devices>\n"
        "</domain>\n"
        "<!-->epilog-->\n";
    static const char prolog[] =
        "<!-->prolog-->\n"
        "<domain type=\"kvm\"><name>p</name><vcpu   placement='static'>1</vcpu></domain>\n";
    g_autofree char *same = roundtrip(xml);
    g_autofree char *same_prolog = roundtrip(prolog);
    g_autoptr(KtPlacement) pl = make_placement(2, 65536, false);
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDomain) dom = kt_domain_parse(xml, strlen(xml), &err);
    g_autofree char *out = NULL;

    g_assert_cmpstr(same, ==, xml);
    g_assert_cmpstr(same_prolog, ==, prolog);
    g_assert_no_error(err);
    g_assert_true(kt_domain_apply(dom, pl, NULL, &err));
    out = kt_domain_format(dom, NULL);
    g_assert_nonnull(strstr(out, "  <!-->inside-->\n  <name>gt</name>"));
    g_assert_nonnull(strstr(out, "<!---->\n    <!-->-->\n"));
    /* written once, not once more after a comment cut short */
    g_assert_null(strstr(strstr(out, "inside") + 1, "inside"));
    check_apply_props(xml, pl);
}

static char *
ensure_uuid(const char *xml, char **ret_uuid)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDomain) dom = kt_domain_parse(xml, strlen(xml), &err);

    g_assert_no_error(err);
    *ret_uuid = kt_domain_ensure_uuid(dom);
    return kt_domain_format(dom, NULL);
}

static void
test_ensure_uuid(void)
{
    g_autofree char *uuid = NULL;
    g_autofree char *out = NULL;
    g_autofree char *want = NULL;

    /* present: untouched, byte for byte */
    out = ensure_uuid(nova_xml, &uuid);
    g_assert_null(uuid);
    g_assert_cmpstr(out, ==, nova_xml);
    g_clear_pointer(&out, g_free);

    /* missing: a random one, right after <name>, indented like it */
    out = ensure_uuid("<domain type='qemu'>\n  <name>x</name>\n  <memory>1024</memory>\n"
                      "</domain>\n", &uuid);
    g_assert_nonnull(uuid);
    g_assert_true(g_uuid_string_is_valid(uuid));
    want = g_strdup_printf("<domain type='qemu'>\n  <name>x</name>\n  <uuid>%s</uuid>\n"
                           "  <memory>1024</memory>\n</domain>\n", uuid);
    g_assert_cmpstr(out, ==, want);
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&uuid, g_free);

    /* missing, but SMBIOS has one: libvirt would take that one */
    out = ensure_uuid("<domain type='qemu'>\n  <name>x</name>\n"
                      "  <sysinfo type='smbios'>\n    <system>\n"
                      "      <entry name='manufacturer'>OpenStack</entry>\n"
                      "      <entry name='uuid'>0B5C7C2A-3E1F-4C55-9F7B-2A1D3E4F5A6B</entry>\n"
                      "    </system>\n  </sysinfo>\n</domain>\n", &uuid);
    g_assert_cmpstr(uuid, ==, "0b5c7c2a-3e1f-4c55-9f7b-2a1d3e4f5a6b");
    g_assert_nonnull(strstr(out, "<name>x</name>\n  <uuid>0b5c7c2a-3e1f-4c55-9f7b-2a1d3e4f5a6b"
                                 "</uuid>\n  <sysinfo"));
    g_clear_pointer(&out, g_free);
    g_clear_pointer(&uuid, g_free);

    /* a malformed <uuid> is libvirt's to refuse, not ours to replace */
    out = ensure_uuid("<domain type='qemu'><name>x</name><uuid>nope</uuid></domain>", &uuid);
    g_assert_null(uuid);
    g_assert_cmpstr(out, ==, "<domain type='qemu'><name>x</name><uuid>nope</uuid></domain>");
}

static void
test_read_request(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDomain) dom = kt_domain_parse(nova_xml, strlen(nova_xml), &err);
    g_autoptr(KtRequest) req = NULL;
    const KtRequestPciDev *pci;

    g_assert_no_error(err);
    req = kt_domain_read_request(dom, &err);
    g_assert_no_error(err);
    g_assert_cmpstr(req->uuid, ==, "0b5c7c2a-3e1f-4c55-9f7b-2a1d3e4f5a6b");
    g_assert_cmpstr(req->name, ==, "instance-0000002a");
    g_assert_cmpstr(req->domain_type, ==, "kvm");
    g_assert_cmpstr(req->arch, ==, "x86_64");
    g_assert_cmpstr(req->machine, ==, "q35");
    g_assert_cmpuint(req->vcpus_max, ==, 4);
    g_assert_cmpuint(req->vcpus_current, ==, 2);
    g_assert_cmpuint(req->memory_kib, ==, 8 * 1024 * 1024);
    g_assert_cmpuint(req->current_memory_kib, ==, 8 * 1024 * 1024);
    g_assert_true(req->is_nova);
    g_assert_cmpstr(req->nova_ns, ==, "http://openstack.org/xmlns/libvirt/nova/1.1");
    g_assert_cmpstr(req->flavor_name, ==, "db.large");
    g_assert_cmpuint(req->flavor_vcpus, ==, 4);
    g_assert_cmpuint(req->flavor_memory_mib, ==, 8192);
    g_assert_cmpuint(req->flavor_disk_gib, ==, 40);
    g_assert_cmpstr(req->owner_user, ==, "u-1");
    g_assert_cmpstr(req->owner_project, ==, "p-1");
    g_assert_cmpstr(g_hash_table_lookup(req->extra_specs, "kvmtune:profile"), ==,
                    "db-dedicated");
    g_assert_cmpstr(req->cpu_mode, ==, "host-model");
    g_assert_cmpuint(req->cpu_sockets, ==, 4);
    g_assert_false(kt_request_has_cpu_pinning(req));
    g_assert_cmpuint(req->pci_devs->len, ==, 1);
    pci = g_ptr_array_index(req->pci_devs, 0);
    g_assert_cmpstr(pci->address, ==, "0000:41:02.1");
    g_assert_true(pci->is_interface);
    g_assert_cmpuint(req->mdevs->len, ==, 1);
    g_assert_null(req->placement);
}

static void
test_read_tuning(void)
{
    static const char xml[] =
        "<domain type='kvm'><name>t</name><memory>1048576</memory>"
        "<memoryBacking><hugepages><page size='2' unit='M'/></hugepages></memoryBacking>"
        "<vcpu placement='static' cpuset='4-7'>2</vcpu>"
        "<cputune><shares>2048</shares><vcpupin vcpu='0' cpuset='4'/>"
        "<vcpupin vcpu='1' cpuset='5'/><emulatorpin cpuset='6-7'/></cputune>"
        "<numatune><memory mode='strict' nodeset='1'/></numatune>"
        "<cpu><numa><cell id='0' cpus='0-1' memory='1' unit='GiB'/></numa></cpu>"
        "<devices><hostdev mode='subsystem' type='pci' managed='yes'><source>"
        "<address domain='0x0000' bus='0xCA' slot='0x00' function='0x0'/></source>"
        "</hostdev></devices></domain>";
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDomain) dom = kt_domain_parse(xml, strlen(xml), &err);
    g_autoptr(KtRequest) req = kt_domain_read_request(dom, &err);
    g_autofree char *pin1 = NULL;
    const KtRequestPciDev *pci;

    g_assert_no_error(err);
    g_assert_true(kt_request_has_cpu_pinning(req));
    g_assert_cmpuint(req->nvcpupins, ==, 2);
    pin1 = kt_cpuset_format(req->vcpupins[1]);
    g_assert_cmpstr(pin1, ==, "5");
    g_assert_cmpuint(req->cpu_shares, ==, 2048);
    g_assert_true(req->has_numatune);
    g_assert_true(kt_cpuset_has(req->numatune_nodeset, 1));
    g_assert_true(req->has_hugepages);
    g_assert_cmpuint(req->hugepage_kib, ==, 2048);
    g_assert_cmpuint(req->ncpu_cells, ==, 1);
    g_assert_cmpstr(req->vcpu_placement, ==, "static");
    pci = g_ptr_array_index(req->pci_devs, 0);
    g_assert_cmpstr(pci->address, ==, "0000:ca:00.0");
    g_assert_false(pci->is_interface);
}

static void
test_placement_roundtrip(void)
{
    g_autoptr(KtPlacement) full = make_placement(4, 4194304, true);
    g_autoptr(KtPlacement) empty = kt_placement_new();
    g_autoptr(KtPlacement) shared = kt_placement_new();
    KtPlacement *cases[3];
    guint i;

    shared->cpu_policy = KT_CPU_POLICY_SHARED;
    shared->nvcpus = 2;
    shared->shared_cpus = kt_cpuset_parse("2-27,114-139", NULL);
    shared->override = true;
    shared->hugepage_kib = 2048;
    cases[0] = full;
    cases[1] = empty;
    cases[2] = shared;
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        g_autofree char *text = kt_placement_format_xml(cases[i]);
        g_autoptr(KtPlacement) back = kt_placement_parse_xml(text, strlen(text), &err);

        g_assert_no_error(err);
        g_assert_true(kt_placement_equal(cases[i], back));
    }
}

static void
test_placement_bad(void)
{
    static const char *const bad[] = {
        "<kvmtune:placement xmlns:kvmtune='http://kvmtune.org/xmlns/placement/1.0'>"
        "<kvmtune:vf vf='../../etc'/></kvmtune:placement>",
        "<kvmtune:placement xmlns:kvmtune='http://kvmtune.org/xmlns/placement/1.0'>"
        "<kvmtune:mdev uuid='not-a-uuid'/></kvmtune:placement>",
        "<kvmtune:placement xmlns:kvmtune='http://kvmtune.org/xmlns/placement/1.0'>"
        "<kvmtune:cpus policy='dedicated' vcpus='2'><kvmtune:vcpu id='5' cpus='1'/>"
        "</kvmtune:cpus></kvmtune:placement>",
        "<kvmtune:placement xmlns:kvmtune='http://kvmtune.org/xmlns/placement/1.0'>"
        "<kvmtune:cpus policy='bogus'/></kvmtune:placement>",
        "<placement/>",
        "<kvmtune:placement xmlns:kvmtune='http://kvmtune.org/xmlns/placement/1.0'>"
        "<kvmtune:cpus policy='dedicated' vcpus='1'/>"
        "<kvmtune:cpus policy='dedicated' vcpus='9'><kvmtune:vcpu id='5' cpus='1'/>"
        "</kvmtune:cpus></kvmtune:placement>",
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(KtPlacement) pl = kt_placement_parse_xml(bad[i], strlen(bad[i]), &err);

        g_assert_null(pl);
        g_assert_error(err, KT_ERROR, KT_ERROR_PARSE);
    }
}

static void
check_apply_props(const char *xml, const KtPlacement *pl)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDomain) dom = kt_domain_parse(xml, strlen(xml), &err);
    g_autoptr(KtDomain) again = NULL;
    g_autofree char *once = NULL;
    g_autofree char *twice = NULL;
    g_autofree char *reparsed = NULL;
    g_autofree char *stripped = NULL;
    KtApplyReport rep;

    g_assert_no_error(err);
    g_assert_true(kt_domain_apply(dom, pl, &rep, &err));
    g_assert_no_error(err);
    once = kt_domain_format(dom, NULL);
    /* idempotent on the same tree and after a reparse */
    g_assert_true(kt_domain_apply(dom, pl, NULL, &err));
    twice = kt_domain_format(dom, NULL);
    g_assert_cmpstr(once, ==, twice);
    again = kt_domain_parse(once, strlen(once), &err);
    g_assert_no_error(err);
    g_assert_true(kt_domain_apply(again, pl, NULL, &err));
    reparsed = kt_domain_format(again, NULL);
    g_assert_cmpstr(once, ==, reparsed);
    /* strip gives the input back, byte for byte on the same tree */
    kt_domain_strip(dom);
    stripped = kt_domain_format(dom, NULL);
    g_assert_cmpstr(stripped, ==, xml);
}

static void
test_apply_strip(void)
{
    g_autoptr(KtPlacement) pl4 = make_placement(4, 4194304, true);
    g_autoptr(KtPlacement) plain = make_placement(4, 4194304, false);

    check_apply_props(plain_xml, pl4);
    check_apply_props(plain_xml, plain);
}

static void
test_apply_content(void)
{
    g_autoptr(KtPlacement) pl = make_placement(4, 4194304, true);
    g_autoptr(GError) err = NULL;
    g_autofree char *out = kt_domain_rewrite(plain_xml, strlen(plain_xml), pl, NULL, &err);

    g_assert_no_error(err);
    g_assert_nonnull(strstr(out, "  <vcpu placement='static' cpuset='28-31'>4</vcpu>\n"
                                 "  <cputune>\n"
                                 "    <vcpupin vcpu='0' cpuset='28'/>\n"));
    g_assert_nonnull(strstr(out, "    <emulatorpin cpuset='60'/>\n  </cputune>\n"
                                 "  <numatune>\n"
                                 "    <memory mode='strict' nodeset='0-1'/>\n"));
    g_assert_nonnull(strstr(out, "<page size='1048576' unit='KiB' nodeset='0-1'/>"));
    g_assert_nonnull(strstr(out, "<alias name='ua-kvmtune-vf0'/>"));
    g_assert_nonnull(strstr(out, "<hostdev mode='subsystem' type='mdev' model='vfio-pci'>"));
    g_assert_nonnull(strstr(out, "<hostdev mode='subsystem' type='pci' managed='yes'>"));
    g_assert_nonnull(strstr(out, "<kvmtune:placement xmlns:kvmtune='" KT_PLACEMENT_NS "'"));
    /* foreign parts untouched */
    g_assert_nonnull(strstr(out, "<description>a &amp; b &#x41; &gt; c</description>"));
    g_assert_nonnull(strstr(out, "<type arch='x86_64'   machine='pc'>hvm</type>"));
    g_assert_nonnull(strstr(out, "    <!-- keep me -->\n"));
    g_assert_nonnull(strstr(out, "<on_crash></on_crash>"));
    g_assert_nonnull(strstr(out, "  <qemu:commandline/>\n</domain>"));
}

static void
test_nova_wins(void)
{
    static const char xml[] =
        "<domain type='kvm'>\n"
        "  <name>n</name>\n"
        "  <memory>4194304</memory>\n"
        "  <vcpu>4</vcpu>\n"
        "  <cputune>\n"
        "    <vcpupin vcpu='0' cpuset='1'/>\n"
        "  </cputune>\n"
        "</domain>\n";
    g_autoptr(KtPlacement) pl = make_placement(4, 4194304, false);
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    g_autofree char *over = NULL;
    KtApplyReport rep;

    out = kt_domain_rewrite(xml, strlen(xml), pl, &rep, &err);
    g_assert_no_error(err);
    g_assert_true(rep.kept_cpu_pinning);
    g_assert_false(rep.kept_numatune);
    g_assert_nonnull(strstr(out, "<vcpupin vcpu='0' cpuset='1'/>"));
    g_assert_null(strstr(out, "cpuset='28'"));
    g_assert_nonnull(strstr(out, "kept='cpu-pinning'"));

    /* strip leaves Nova's pinning */
    {
        g_autoptr(KtDomain) dom = kt_domain_parse(out, strlen(out), &err);
        g_autofree char *s = NULL;

        kt_domain_strip(dom);
        s = kt_domain_format(dom, NULL);
        g_assert_cmpstr(s, ==, xml);
    }

    pl->override = true;
    over = kt_domain_rewrite(xml, strlen(xml), pl, &rep, &err);
    g_assert_no_error(err);
    g_assert_false(rep.kept_cpu_pinning);
    g_assert_null(strstr(over, "cpuset='1'"));
    g_assert_nonnull(strstr(over, "<vcpupin vcpu='3' cpuset='31'/>"));
}

static void
test_apply_mismatch(void)
{
    g_autoptr(KtPlacement) pl = make_placement(2, 4194304, false);
    g_autoptr(GError) err = NULL;
    g_autofree char *out = kt_domain_rewrite(plain_xml, strlen(plain_xml), pl, NULL, &err);

    g_assert_null(out);
    g_assert_error(err, KT_ERROR, KT_ERROR_INVALID);
}

static void
expect_parse_error(const char *xml, gsize len, int code, const char *needle)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDomain) dom = kt_domain_parse(xml, len, &err);

    g_assert_null(dom);
    g_assert_error(err, KT_ERROR, code);
    if (needle && !strstr(err->message, needle))
        g_error("'%s' not in '%s'", needle, err->message);
}

/* Parsers are reused from one parse to the next (xml-util.c): nothing of
 * a parse may reach the next one, whatever it ended with. */
static void
test_parser_reuse(void)
{
    static const char doctype[] =
        "<!DOCTYPE domain [<!ENTITY x 'y'>]>\n<domain><name>&x;</name></domain>";
    static const char broken[] = "<domain>\n\n  <name>x</nam>\n</domain>";
    static const char undeclared[] = "<domain><p:x/></domain>";
    g_autofree char *first = roundtrip(nova_xml);
    guint i;

    for (i = 0; i < 3; i++) {
        g_autofree char *again = NULL;

        expect_parse_error(doctype, strlen(doctype), KT_ERROR_PARSE, "DOCTYPE");
        again = roundtrip(nova_xml);
        g_assert_cmpstr(again, ==, first);
        /* the error's position is this document's, not carried over */
        expect_parse_error(broken, strlen(broken), KT_ERROR_PARSE, "3:");
        g_clear_pointer(&again, g_free);
        again = roundtrip(plain_xml);
        g_assert_cmpstr(again, ==, plain_xml);
        expect_parse_error(undeclared, strlen(undeclared), KT_ERROR_PARSE, NULL);
        /* names interned by earlier parses do not leak into this tree */
        {
            static const char small[] = "<domain><name>reuse</name></domain>";
            g_autoptr(GError) err = NULL;
            g_autoptr(KtDomain) dom = kt_domain_parse(small, strlen(small), &err);
            g_autofree char *out = NULL;

            g_assert_no_error(err);
            out = kt_domain_format(dom, NULL);
            g_assert_cmpstr(out, ==, small);
        }
    }
}

static void
test_hostile(void)
{
    static const char laughs[] =
        "<?xml version='1.0'?>\n"
        "<!DOCTYPE domain [\n"
        " <!ENTITY lol 'lol'>\n"
        " <!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>\n"
        " <!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>\n"
        "]>\n"
        "<domain type='kvm'><name>&lol3;</name></domain>";
    static const char xxe[] =
        "<!DOCTYPE domain [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
        "<domain><name>&x;</name></domain>";
    static const char undefined_entity[] = "<domain><name>&x;</name></domain>";
    static const char bad_utf8[] = "<domain>\n<name>\xff\xfe</name></domain>";
    static const char with_nul[] = "<domain>\0</domain>";
    static const char latin1[] =
        "<?xml version='1.0' encoding='ISO-8859-1'?>\n<domain><name>caf\xe9</name></domain>";
    static const char amp_attr[] =
        "<domain type='kvm'><name>a</name><vcpu x='&amp;&lt;\"&apos;'>1</vcpu></domain>";
    static const char broken[] = "<domain>\n  <name>x</nam>\n</domain>";
    static const char wrong_root[] = "<network/>";
    GString *deep = g_string_new("<domain>");
    g_autofree char *big = NULL;
    guint i;

    expect_parse_error(laughs, strlen(laughs), KT_ERROR_PARSE, "2:");
    expect_parse_error(xxe, strlen(xxe), KT_ERROR_PARSE, "DOCTYPE");
    expect_parse_error(undefined_entity, strlen(undefined_entity), KT_ERROR_PARSE, "1:");
    expect_parse_error(bad_utf8, strlen(bad_utf8), KT_ERROR_PARSE, "2:7: invalid UTF-8");
    expect_parse_error(with_nul, sizeof(with_nul) - 1, KT_ERROR_PARSE, "1:9: NUL");
    expect_parse_error(latin1, strlen(latin1), KT_ERROR_PARSE, "2:18: invalid UTF-8");
    /* a touched tag with escaped attribute values is escaped exactly once */
    {
        g_autoptr(GError) err = NULL;
        g_autoptr(KtDomain) dom = kt_domain_parse(amp_attr, strlen(amp_attr), &err);
        g_autoptr(KtPlacement) pl = kt_placement_new();
        g_autofree char *out = NULL;

        g_assert_no_error(err);
        pl->cpu_policy = KT_CPU_POLICY_SHARED;
        pl->nvcpus = 1;
        pl->shared_cpus = kt_cpuset_parse("2-3", NULL);
        g_assert_true(kt_domain_apply(dom, pl, NULL, &err));
        out = kt_domain_format(dom, NULL);
        g_assert_nonnull(strstr(out, "<vcpu x='&amp;&lt;\"&apos;' cpuset='2-3'>1</vcpu>"));
    }
    expect_parse_error(broken, strlen(broken), KT_ERROR_PARSE, "2:");
    expect_parse_error(wrong_root, strlen(wrong_root), KT_ERROR_INVALID, "<domain>");
    for (i = 0; i < 300; i++)
        g_string_append(deep, "<a>");
    for (i = 0; i < 300; i++)
        g_string_append(deep, "</a>");
    g_string_append(deep, "</domain>");
    expect_parse_error(deep->str, deep->len, KT_ERROR_PARSE, NULL);
    g_string_free(deep, TRUE);
    big = g_malloc0(KT_DOMAIN_XML_MAX + 2);
    memset(big, ' ', KT_DOMAIN_XML_MAX + 1);
    expect_parse_error(big, KT_DOMAIN_XML_MAX + 1, KT_ERROR_TOO_LARGE, NULL);
}

static void
test_strip_untouched(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(KtDomain) dom = kt_domain_parse(nova_xml, strlen(nova_xml), &err);
    g_autofree char *out = NULL;

    kt_domain_strip(dom);
    out = kt_domain_format(dom, NULL);
    g_assert_cmpstr(out, ==, nova_xml);
}

static void
test_two_placements(void)
{
    static const char xml[] =
        "<domain type='kvm'>\n"
        "  <name>two</name>\n"
        "  <metadata>\n"
        "    <a:placement xmlns:a='" KT_PLACEMENT_NS "' profile='one'/>\n"
        "    <b:placement xmlns:b='" KT_PLACEMENT_NS "' profile='two'/>\n"
        "  </metadata>\n"
        "  <memory>1048576</memory>\n"
        "  <vcpu>1</vcpu>\n"
        "</domain>\n";
    g_autoptr(KtPlacement) pl = kt_placement_new();
    g_autoptr(GError) err = NULL;
    g_autofree char *out = NULL;
    g_autofree char *again = NULL;

    pl->profile = g_strdup("three");
    out = kt_domain_rewrite(xml, strlen(xml), pl, NULL, &err);
    g_assert_no_error(err);
    g_assert_null(strstr(out, "profile='one'"));
    g_assert_null(strstr(out, "profile='two'"));
    g_assert_nonnull(strstr(out, "profile='three'"));
    again = kt_domain_rewrite(out, strlen(out), pl, NULL, &err);
    g_assert_cmpstr(again, ==, out);
}

static void
test_read_placement_back(void)
{
    g_autoptr(KtPlacement) pl = make_placement(4, 4194304, true);
    g_autoptr(GError) err = NULL;
    g_autofree char *out = kt_domain_rewrite(plain_xml, strlen(plain_xml), pl, NULL, &err);
    g_autoptr(KtDomain) dom = kt_domain_parse(out, strlen(out), &err);
    g_autoptr(KtRequest) req = kt_domain_read_request(dom, &err);
    const KtRequestMdev *m;

    g_assert_no_error(err);
    g_assert_nonnull(req->placement);
    g_assert_true(kt_placement_equal(req->placement, pl));
    g_assert_true(kt_request_has_cpu_pinning(req));
    g_assert_cmpuint(req->mdevs->len, ==, 1);
    m = g_ptr_array_index(req->mdevs, 0);
    g_assert_cmpstr(m->type, ==, "nvidia-63");
}

/* Guest <cpu><topology>: Nova's default (sockets=vCPUs cores=1 threads=1)
 * gives way to the placement's SMT shape and comes back on strip; a
 * topology the flavor or image asked for, or Nova's own pinning, wins. */
static char *
nova_with(const char *topology, const char *extra_spec)
{
    g_autofree char *xml = g_strdup(nova_xml);
    g_auto(GStrv) a = g_strsplit(xml, "<topology sockets=\"4\" cores=\"1\" threads=\"1\"/>", 2);
    g_autofree char *t = g_strjoin(topology, a[0], a[1], NULL);
    g_auto(GStrv) b = g_strsplit(t, "        </nova:extraSpecs>\n", 2);
    g_autofree char *spec = extra_spec
        ? g_strdup_printf("          <nova:extraSpec name=\"%s\">1</nova:extraSpec>\n"
                          "        </nova:extraSpecs>\n", extra_spec)
        : g_strdup("        </nova:extraSpecs>\n");

    return g_strjoin(spec, b[0], b[1], NULL);
}

static char *
apply_ok(const char *xml, const KtPlacement *pl, KtApplyReport *rep)
{
    g_autoptr(GError) err = NULL;
    char *out = kt_domain_rewrite(xml, strlen(xml), pl, rep, &err);

    g_assert_no_error(err);
    g_assert_nonnull(out);
    return out;
}

static void
test_guest_topology(void)
{
    g_autoptr(KtPlacement) pl = make_placement(4, 8388608, false);
    g_autoptr(GError) err = NULL;
    KtApplyReport rep;

    /* Nova's default: replaced by 2 cells x 1 core x 2 threads, recorded */
    {
        g_autofree char *out = apply_ok(nova_xml, pl, &rep);

        g_assert_true(rep.replaced_cpu_topology);
        g_assert_false(rep.kept_cpu_topology);
        g_assert_nonnull(strstr(out, "    <topology sockets=\"2\" cores=\"1\" threads=\"2\"/>\n"));
        g_assert_nonnull(strstr(out, "<kvmtune:topology sockets=\"4\" cores=\"1\" threads=\"1\"/>"));
        g_assert_null(strstr(out, "cpu-topology"));
        check_apply_props(nova_xml, pl);
    }
    /* the flavor asked (extra specs in Nova's metadata): kept */
    {
        g_autofree char *in = nova_with("<topology sockets=\"4\" cores=\"1\" threads=\"1\"/>",
                                        "hw:cpu_threads");
        g_autofree char *out = apply_ok(in, pl, &rep);

        g_assert_true(rep.kept_cpu_topology);
        g_assert_false(rep.replaced_cpu_topology);
        g_assert_nonnull(strstr(out, "<topology sockets=\"4\" cores=\"1\" threads=\"1\"/>"));
        g_assert_nonnull(strstr(out, "kept=\"cpu-topology\""));
        g_assert_null(strstr(out, "<kvmtune:topology"));
        check_apply_props(in, pl);
    }
    /* not Nova's default shape (image properties never reach the XML): kept */
    {
        g_autofree char *in = nova_with("<topology sockets=\"1\" cores=\"2\" threads=\"2\"/>", NULL);
        g_autofree char *out = apply_ok(in, pl, &rep);

        g_assert_true(rep.kept_cpu_topology);
        g_assert_nonnull(strstr(out, "<topology sockets=\"1\" cores=\"2\" threads=\"2\"/>"));
        check_apply_props(in, pl);
        /* ... unless override */
        pl->override = true;
        g_free(out);
        out = apply_ok(in, pl, &rep);
        g_assert_true(rep.replaced_cpu_topology);
        g_assert_nonnull(strstr(out, "<topology sockets=\"2\" cores=\"1\" threads=\"2\"/>"));
        g_assert_nonnull(strstr(out, "<kvmtune:topology sockets=\"1\" cores=\"2\" threads=\"2\"/>"));
        check_apply_props(in, pl);
        pl->override = false;
    }
    /* a cell that would cut a core: threads=1; uneven cells: one socket */
    {
        g_autofree char *out = NULL;

        kt_cpuset_free(pl->cells[0].vcpus);
        kt_cpuset_free(pl->cells[1].vcpus);
        pl->cells[0].vcpus = kt_cpuset_parse("0", NULL);
        pl->cells[1].vcpus = kt_cpuset_parse("1-3", NULL);
        out = apply_ok(nova_xml, pl, &rep);
        g_assert_nonnull(strstr(out, "<topology sockets=\"1\" cores=\"4\" threads=\"1\"/>"));
        check_apply_props(nova_xml, pl);
    }
    /* a hostile record: only known attributes with numbers come back */
    {
        g_autofree char *out = apply_ok(nova_xml, pl, &rep);
        g_auto(GStrv) parts = g_strsplit(out, "<kvmtune:topology sockets=\"4\"", 2);
        g_autofree char *bad = NULL;
        g_autoptr(KtDomain) dom = NULL;
        g_autofree char *s = NULL;

        g_assert_nonnull(parts[1]);
        bad = g_strjoin("<kvmtune:topology evil=\"1\" sockets=\"x\"", parts[0], parts[1], NULL);
        dom = kt_domain_parse(bad, strlen(bad), &err);
        g_assert_no_error(err);
        kt_domain_strip(dom);
        s = kt_domain_format(dom, NULL);
        g_assert_nonnull(strstr(s, "<topology cores=\"1\" threads=\"1\"/>"));
        g_assert_null(strstr(s, "evil"));
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/domain/format-identity", test_format_identity);
    g_test_add_func("/domain/format-comment-gt", test_format_comment_gt);
    g_test_add_func("/domain/ensure-uuid", test_ensure_uuid);
    g_test_add_func("/domain/read-request", test_read_request);
    g_test_add_func("/domain/read-tuning", test_read_tuning);
    g_test_add_func("/domain/placement-roundtrip", test_placement_roundtrip);
    g_test_add_func("/domain/placement-bad", test_placement_bad);
    g_test_add_func("/domain/apply-strip", test_apply_strip);
    g_test_add_func("/domain/apply-content", test_apply_content);
    g_test_add_func("/domain/nova-wins", test_nova_wins);
    g_test_add_func("/domain/apply-mismatch", test_apply_mismatch);
    g_test_add_func("/domain/hostile", test_hostile);
    g_test_add_func("/domain/parser-reuse", test_parser_reuse);
    g_test_add_func("/domain/strip-untouched", test_strip_untouched);
    g_test_add_func("/domain/read-placement-back", test_read_placement_back);
    g_test_add_func("/domain/two-placements", test_two_placements);
    g_test_add_func("/domain/guest-topology", test_guest_topology);
    return g_test_run();
}
