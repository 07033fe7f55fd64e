#!/usr/bin/python3
"""Suite 'hook': every operation of the qemu hook on a copy of the reference
fixture (fake sysfs).  Writing `create` in a fake sysfs only writes the file,
so the tests assert what was written; where the kernel would have made the
device, the test makes its directory (fake_kernel_device).

    test-hook.py HOOK
"""

import os
import shutil
import stat
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hooklib import (GPU, VF, HookEnv, Tap, domain, fake_kernel_device,  # noqa: E402
                     hugepages_el, mdev_el, one_line_error, placement, read,
                     snapshot, diff_snapshots, type_dir, vf_el)

HOOK = os.path.abspath(sys.argv[1])
tap = Tap()
# Cases that must leave the sysroot untouched share one copy (they assert
# it with snapshots); cases that write get their own.
SHARED = HookEnv.shared_root

DOM = '11111111-2222-4333-8444-555555555555'
OTHER = '99999999-2222-4333-8444-555555555555'
M1 = 'aaaaaaaa-0000-4000-8000-000000000001'
M2 = 'aaaaaaaa-0000-4000-8000-000000000002'
# The page size of a placement is in its <memory>; <hugepages> count per node.
MEM2M = 'memory size="65536" pagesize="2048"/>'


def vdi_domain(*extra, name='vm1', uuid=DOM):
    return domain(name, uuid, placement(
        'numa nodes="1"/>',
        MEM2M,
        hugepages_el(32),
        mdev_el('nvidia-222', M1),
        mdev_el('nvidia-223', M2),
        *extra))


def nothing_left(h, before):
    changes = diff_snapshots(before, snapshot(h.root))
    assert not changes, 'sysroot changed:\n' + '\n'.join(changes)
    assert h.records() == [], h.records()
    assert h.claims() == [], h.claims()


@tap.case
def no_placement_is_untouched():
    with HookEnv(HOOK, root=SHARED()) as h:
        before = snapshot(h.root)
        for op, sub in [('prepare', 'begin'), ('release', 'end'), ('start', 'begin'),
                        ('started', 'begin'), ('stopped', 'end')]:
            r = h.run('plain', op, sub, domain('plain', DOM))
            assert r.returncode == 0 and r.stdout == b'' and r.stderr == b'', (op, r)
        # Without a placement the XML is not even parsed: whatever our
        # parser thinks of it cannot stop the guest.
        r = h.run('plain', 'prepare', 'begin', b'<domain><name>plain</unclosed')
        assert r.returncode == 0 and r.stderr == b'', r
        nothing_left(h, before)


@tap.case
def prepare_creates_mdevs_and_records_them():
    with HookEnv(HOOK) as h:
        r = h.run('vm1', 'prepare', 'begin', vdi_domain(vf_el()))
        assert r.returncode == 0, r.stderr
        assert r.stderr == b'' and r.stdout == b''
        assert read(os.path.join(type_dir(h.root, 'nvidia-222'), 'create')) == M1
        assert read(os.path.join(type_dir(h.root, 'nvidia-223'), 'create')) == M2
        assert h.records() == [DOM + '.conf']
        rec = read(os.path.join(h.state, 'domains', DOM + '.conf'))
        assert M1 in rec and M2 in rec and 'name=vm1' in rec, rec
        assert h.claims() == [VF]


@tap.case
def release_removes_what_prepare_created():
    with HookEnv(HOOK) as h:
        xml = vdi_domain(vf_el())
        assert h.run('vm1', 'prepare', 'begin', xml).returncode == 0
        removes = [fake_kernel_device(h.root, u) for u in (M1, M2)]
        r = h.run('vm1', 'release', 'end', xml)
        assert r.returncode == 0 and r.stderr == b'', r.stderr
        assert [read(p) for p in removes] == ['1', '1']
        assert h.records() == [] and h.claims() == []
        # A second release (libvirt may call it after a failed start) is a no-op.
        r = h.run('vm1', 'release', 'end', xml)
        assert r.returncode == 0 and r.stderr == b''


@tap.case
def release_when_kernel_already_removed_device():
    with HookEnv(HOOK) as h:
        xml = vdi_domain()
        assert h.run('vm1', 'prepare', 'begin', xml).returncode == 0
        # Fake sysfs: create made no device directory; nothing to remove.
        r = h.run('vm1', 'release', 'end', xml)
        assert r.returncode == 0 and r.stderr == b'', r.stderr
        assert h.records() == []


@tap.case
def existing_mdev_is_neither_created_nor_removed():
    with HookEnv(HOOK) as h:
        theirs = fake_kernel_device(h.root, M1)      # someone else's mdev
        xml = vdi_domain()
        assert h.run('vm1', 'prepare', 'begin', xml).returncode == 0
        assert read(os.path.join(type_dir(h.root, 'nvidia-222'), 'create')) == ''
        assert read(os.path.join(type_dir(h.root, 'nvidia-223'), 'create')) == M2
        ours = fake_kernel_device(h.root, M2)
        assert h.run('vm1', 'release', 'end', xml).returncode == 0
        assert read(theirs) == '', 'removed an mdev kvmtune did not create'
        assert read(ours) == '1'


@tap.case
def mdev_persisted_by_mdevctl_is_kept_at_release():
    with HookEnv(HOOK) as h:
        xml = vdi_domain()
        assert h.run('vm1', 'prepare', 'begin', xml).returncode == 0
        r1 = fake_kernel_device(h.root, M1)
        r2 = fake_kernel_device(h.root, M2)
        # `kvmtune mdev persist` (or mdevctl define) ran while the guest ran.
        d = os.path.join(h.root, 'etc/mdevctl.d', GPU)
        os.makedirs(d)
        with open(os.path.join(d, M1), 'w') as f:
            f.write('{"mdev_type": "nvidia-222", "start": "auto", "attrs": []}\n')
        assert h.run('vm1', 'release', 'end', xml).returncode == 0
        assert read(r1) == '' and read(r2) == '1'


@tap.case
def restart_after_lost_release_reuses_own_mdevs():
    with HookEnv(HOOK) as h:
        xml = vdi_domain()
        assert h.run('vm1', 'prepare', 'begin', xml).returncode == 0
        removes = [fake_kernel_device(h.root, u) for u in (M1, M2)]
        # prepare again without release (libvirtd crashed): devices exist,
        # they stay ours, release still removes them.
        assert h.run('vm1', 'prepare', 'begin', xml).returncode == 0
        assert h.run('vm1', 'release', 'end', xml).returncode == 0
        assert [read(p) for p in removes] == ['1', '1']


@tap.case
def stale_record_mdevs_and_claims_carried_over():
    """prepare, no release (libvirtd died), the definition changed: the old
    mdev that still exists is released with the new ones; the old VF claim
    gives way to the new placement's."""
    with HookEnv(HOOK) as h:
        assert h.run('vm1', 'prepare', 'begin', vdi_domain(vf_el())).returncode == 0
        removes = [fake_kernel_device(h.root, u) for u in (M1, M2)]
        other_vf = '0000:17:00.3'
        xml = domain('vm1', DOM, placement(mdev_el('nvidia-222', M1), vf_el(vf=other_vf)))
        assert h.run('vm1', 'prepare', 'begin', xml).returncode == 0
        assert h.claims() == [other_vf], h.claims()
        assert h.run('vm1', 'release', 'end', xml).returncode == 0
        assert [read(p) for p in removes] == ['1', '1']
        assert h.records() == [] and h.claims() == []


@tap.case
def release_with_unreadable_xml_uses_name():
    with HookEnv(HOOK) as h:
        assert h.run('vm1', 'prepare', 'begin', vdi_domain()).returncode == 0
        remove = fake_kernel_device(h.root, M1)
        r = h.run('vm1', 'release', 'end', b'not xml')
        assert r.returncode == 0, r.stderr
        assert read(remove) == '1' and h.records() == []


@tap.case
def hugepages_short_refuses_and_leaves_nothing():
    with HookEnv(HOOK, root=SHARED()) as h:
        before = snapshot(h.root)
        xml = domain('big', DOM, placement(MEM2M, hugepages_el(20000),
                                          mdev_el('nvidia-222', M1)))
        r = h.run('big', 'prepare', 'begin', xml)
        one_line_error(r, 'node 1', '20000', '2048 KiB hugepages', '16384 free')
        nothing_left(h, before)


@tap.case
def hugepages_missing_node_refuses():
    with HookEnv(HOOK, root=SHARED()) as h:
        before = snapshot(h.root)
        r = h.run('vm', 'prepare', 'begin', domain('vm', DOM, placement(MEM2M, hugepages_el(1, node=7))))
        one_line_error(r, 'node 7')
        nothing_left(h, before)


@tap.case
def message_stays_one_line():
    with HookEnv(HOOK, root=SHARED()) as h:
        r = h.run('evil\nname\r', 'prepare', 'begin',
                  domain('vm', DOM, placement(MEM2M, hugepages_el(1, node=7))))
        one_line_error(r, 'evil name', 'node 7')


@tap.case
def hugepages_summed_per_node():
    with HookEnv(HOOK, root=SHARED()) as h:
        # 2 x 9000 on node 1 > 16384 free although each entry fits.
        xml = domain('vm', DOM, placement(MEM2M, hugepages_el(9000), hugepages_el(9000)))
        one_line_error(h.run('vm', 'prepare', 'begin', xml), '18000')


@tap.case
def mdev_capacity_short_refuses():
    with HookEnv(HOOK, root=SHARED()) as h:
        before = snapshot(h.root)
        xml = domain('vm', DOM, placement(mdev_el('nvidia-229', M1), mdev_el('nvidia-229', M2)))
        one_line_error(h.run('vm', 'prepare', 'begin', xml), 'nvidia-229', '1 available')
        nothing_left(h, before)


@tap.case
def mdev_unknown_type_or_parent_refuses():
    with HookEnv(HOOK, root=SHARED()) as h:
        before = snapshot(h.root)
        one_line_error(h.run('vm', 'prepare', 'begin',
                             domain('vm', DOM, placement(mdev_el('nvidia-999', M1)))),
                       'nvidia-999')
        one_line_error(h.run('vm', 'prepare', 'begin',
                             domain('vm', DOM, placement(mdev_el('nvidia-222', M1,
                                                                 parent='0000:cb:00.0')))),
                       '0000:cb:00.0')
        nothing_left(h, before)


@tap.case
def vf_missing_or_wrong_pf_refuses():
    with HookEnv(HOOK, root=SHARED()) as h:
        before = snapshot(h.root)
        one_line_error(h.run('vm', 'prepare', 'begin',
                             domain('vm', DOM, placement(vf_el(vf='0000:17:0f.2')))),
                       '0000:17:0f.2', 'does not exist')
        one_line_error(h.run('vm', 'prepare', 'begin',
                             domain('vm', DOM, placement(vf_el(pf='0000:17:00.1')))),
                       VF, '0000:17:00.1')
        one_line_error(h.run('vm', 'prepare', 'begin',
                             domain('vm', DOM, placement(vf_el(vf='0000:17:00.0')))),
                       'not an SR-IOV virtual function')
        nothing_left(h, before)


STATUS_XML = """<domstatus state='running' reason='booted' pid='4242'>
  <monitor path='/var/lib/libvirt/qemu/domain-1-other/monitor.sock' type='unix'/>
  <domain type='kvm' id='1'>
    <name>other</name>
    <uuid>{uuid}</uuid>
    <devices>
      <interface type='hostdev' managed='yes'>
        <source>
          <address type='pci' domain='0x0000' bus='0x17' slot='0x00' function='0x2'/>
        </source>
      </interface>
    </devices>
  </domain>
</domstatus>
"""


@tap.case
def vf_used_by_running_domain_refuses():
    with HookEnv(HOOK) as h:
        d = os.path.join(h.root, 'run/libvirt/qemu')
        os.makedirs(d)
        with open(os.path.join(d, 'other.xml'), 'w') as f:
            f.write(STATUS_XML.format(uuid=OTHER))
        before = snapshot(h.root)
        xml = vdi_domain(vf_el())
        one_line_error(h.run('vm1', 'prepare', 'begin', xml), VF, "running domain 'other'")
        nothing_left(h, before)
        # The domain's own status file does not count against it.
        with open(os.path.join(d, 'other.xml'), 'w') as f:
            f.write(STATUS_XML.format(uuid=DOM))
        assert h.run('vm1', 'prepare', 'begin', xml).returncode == 0


STATUS_HOSTDEV = """<domstatus state='running' pid='4243'>
  <domain type='kvm' id='2'>
    <name>gpu-user</name>
    <uuid>{uuid}</uuid>
    <metadata>
      <kvmtune:placement xmlns:kvmtune="http://kvmtune.org/xmlns/placement/1.0">
        <kvmtune:vf pf="0000:17:00.0" vf="0000:17:00.4" node="0"/>
      </kvmtune:placement>
    </metadata>
    <devices>
      <hostdev mode='subsystem' type='pci' managed='yes'>
        <source><address domain='0x0000' bus='0xca' slot='0x00' function='0x0'/></source>
      </hostdev>
    </devices>
  </domain>
</domstatus>
"""


@tap.case
def pci_in_use_seen_in_hostdev_and_placement():
    with HookEnv(HOOK) as h:
        d = os.path.join(h.root, 'run/libvirt/qemu')
        os.makedirs(d)
        with open(os.path.join(d, 'gpu-user.xml'), 'w') as f:
            f.write(STATUS_HOSTDEV.format(uuid=OTHER.upper()))
        one_line_error(h.run('vm', 'prepare', 'begin',
                             domain('vm', DOM, placement('gpu address="0000:ca:00.0" node="1"/>'))),
                       'GPU 0000:ca:00.0', "'gpu-user'")
        one_line_error(h.run('vm', 'prepare', 'begin',
                             domain('vm', DOM, placement(vf_el(vf='0000:17:00.4')))),
                       '0000:17:00.4', "'gpu-user'")
        assert h.run('vm', 'prepare', 'begin',
                     domain('vm', DOM, placement(vf_el(vf='0000:17:00.5')))).returncode == 0


@tap.case
def vf_claimed_by_other_prepare_refuses_until_release():
    with HookEnv(HOOK, root=SHARED()) as h:
        a = domain('a', DOM, placement(vf_el()))
        b = domain('b', OTHER, placement(vf_el()))
        assert h.run('a', 'prepare', 'begin', a).returncode == 0
        one_line_error(h.run('b', 'prepare', 'begin', b), VF, DOM)
        assert h.run('a', 'release', 'end', a).returncode == 0
        assert h.run('b', 'prepare', 'begin', b).returncode == 0
        assert h.claims() == [VF]
        assert open(os.path.join(h.state, 'vf', VF)).read() == OTHER


@tap.case
def concurrent_prepares_get_a_vf_once():
    """Eight domains start at once, all placed on the same VF: the state
    lock lets exactly one through."""
    import subprocess
    with HookEnv(HOOK, root=SHARED()) as h:
        procs = []
        for i in range(8):
            uuid = f'{i:08x}-2222-4333-8444-555555555555'
            xml = domain(f'vm{i}', uuid, placement(vf_el()))
            p = subprocess.Popen([HOOK, f'vm{i}', 'prepare', 'begin', '-'], env=h.env,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            procs.append((p, xml))
        results = [p.communicate(xml.encode(), timeout=30) and p.returncode
                   for p, xml in procs]
        assert sorted(results) == [0] + [1] * 7, results
        assert h.claims() == [VF] and len(h.records()) == 1


@tap.case
def failed_create_undoes_earlier_mdevs():
    """mdev 1 is created (the fake kernel makes its device), mdev 2's create
    fails: the hook must remove mdev 1 and drop its record."""
    with HookEnv(HOOK) as h:
        t1, t2 = type_dir(h.root, 'nvidia-222'), type_dir(h.root, 'nvidia-223')
        # create of type 2 cannot be written (a directory where the file was).
        os.unlink(os.path.join(t2, 'create'))
        os.mkdir(os.path.join(t2, 'create'))
        # available_instances of type 1 as a FIFO: when the hook opens it, it
        # has already checked that mdev 1 does not exist, so the device can
        # appear now, as the kernel would make it on create.
        avail = os.path.join(t1, 'available_instances')
        os.unlink(avail)
        os.mkfifo(avail)
        remove = []

        def kernel():
            with open(avail, 'w') as f:
                remove.append(fake_kernel_device(h.root, M1))
                f.write('16\n')

        th = threading.Thread(target=kernel, daemon=True)
        th.start()
        r = h.run('vm1', 'prepare', 'begin', vdi_domain(vf_el()), timeout=20)
        th.join(5)
        one_line_error(r, 'cannot create mdev', M2)
        assert read(os.path.join(t1, 'create')) == M1
        assert read(remove[0]) == '1', 'mdev 1 not removed on failure'
        assert h.records() == [] and h.claims() == []


@tap.case
def hostile_strings_rejected():
    hostile = [
        mdev_el('nvidia-222', '../../../../tmp/x'),
        mdev_el('nvidia-222', M1.upper()),
        mdev_el('../nvidia-222', M1),
        mdev_el('nvidia/222', M1),
        mdev_el('nvidia-222', M1, parent='0000:ca:00.0/../../x'),
        mdev_el('nvidia-222', M1, parent='0000:ca:00.8'),
        mdev_el('nvidia-222', M1, parent='ca:00.0'),
        vf_el(vf='0000:17:00.2/../../x'),
        vf_el(vf='../0000:17:00.2'),
        vf_el(pf='0000:17:00.0\n'),
        'gpu address="0000:ca:00.0/.."/>',
    ]
    with HookEnv(HOOK, root=SHARED()) as h:
        before = snapshot(h.root)
        for el in hostile:
            r = h.run('vm', 'prepare', 'begin', domain('vm', DOM, placement(el)))
            one_line_error(r)
        nothing_left(h, before)
        # A hostile domain uuid never becomes a state path either.
        r = h.run('vm', 'prepare', 'begin',
                  domain('vm', '../../etc', placement(mdev_el('nvidia-222', M1))))
        assert r.returncode == 1
        nothing_left(h, before)


@tap.case
def oversized_stdin_refused():
    with HookEnv(HOOK, root=SHARED()) as h:
        big = vdi_domain().replace('</domain>', '<!--' + 'x' * (4 * 1024 * 1024) + '--></domain>')
        one_line_error(h.run('vm1', 'prepare', 'begin', big), 'exceeds')
        # Ops that refuse nothing still read all of stdin and exit 0.
        r = h.run('vm1', 'started', 'begin', big)
        assert r.returncode == 0


@tap.case
def malformed_xml_with_placement_refused():
    with HookEnv(HOOK, root=SHARED()) as h:
        xml = vdi_domain().replace('</domain>', '')
        one_line_error(h.run('vm1', 'prepare', 'begin', xml))


@tap.case
def other_operations_exit_zero_quickly():
    with HookEnv(HOOK, root=SHARED()) as h:
        before = snapshot(h.root)
        for op, sub in [('start', 'begin'), ('started', 'begin'), ('stopped', 'end'),
                        ('attach', 'begin'), ('migrate', 'end'), ('reconnect', 'begin'),
                        ('restore', 'end'), ('frobnicate', '-')]:
            r = h.run('vm1', op, sub, b'\x00garbage')
            assert r.returncode == 0 and r.stdout == b'', (op, r)
        nothing_left(h, before)


@tap.case
def config_file_next_to_hooks_dir():
    """libvirtd scrubs the environment: the installed hook reads
    <hooks>/kvmtune.conf (outside qemu.d, so libvirt ignores it)."""
    with HookEnv(HOOK) as h:
        hooks = os.path.join(h.tmp, 'hooks')
        os.makedirs(os.path.join(hooks, 'qemu.d'))
        installed = os.path.join(hooks, 'qemu.d', 'kvmtune')
        shutil.copy(HOOK, installed)
        os.chmod(installed, stat.S_IRWXU)
        log = os.path.join(h.tmp, 'hook.log')
        with open(os.path.join(hooks, 'kvmtune.conf'), 'w') as f:
            f.write(f'[hook]\nsysroot={h.root}\nstate_dir={h.state}\nlog={log}\n')
        import subprocess
        env = {'PATH': '/usr/bin:/bin', 'LC_ALL': 'C'}
        r = subprocess.run([installed, 'vm1', 'prepare', 'begin', '-'],
                           input=vdi_domain().encode(), capture_output=True, env=env)
        assert r.returncode == 0, r.stderr
        assert read(os.path.join(type_dir(h.root, 'nvidia-222'), 'create')) == M1
        assert h.records() == [DOM + '.conf']
        assert ' prepare begin vm1 ok' in read(log), read(log)


@tap.case
def config_file_errors_are_one_line():
    with HookEnv(HOOK, root=SHARED()) as h:
        conf = os.path.join(h.tmp, 'bad.conf')
        with open(conf, 'w') as f:
            f.write('[hook]\ntimeout_ms=soon\n')
        r = h.run('vm1', 'prepare', 'begin', vdi_domain(), env={'KVMTUNE_HOOK_CONF': conf,
                                                                'KVMTUNE_TIMEOUT_MS': ''})
        one_line_error(r, 'timeout_ms')


tap.run()
