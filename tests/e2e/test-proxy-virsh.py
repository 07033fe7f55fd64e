#!/usr/bin/python3
"""e2e 1: virsh through kvmtuned on the live host.

define / start / dominfo / vcpupin / destroy / undefine of a real (TCG) QEMU
domain whose profile pins its vCPU on this machine; the vCPU thread's
affinity (sched_getaffinity, what `taskset -pc` prints) shows the pin, and
with 2M pages reserved before libvirtd starts the guest RAM is hugepage
backed (/proc/<qemu>/smaps).  A QEMU-program call (qemu-monitor-command)
passes through too.  Every XML fetched is checked with virt-xml-validate.
"""

import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import kt_proxy as kp  # noqa: E402

kp.require_root_and_tools()
if not kp.binary('kvmtuned'):
    kp.skip('kvmtuned is not built yet')

PAGES = 64               # 128 MiB of 2M pages; the guest takes 64 MiB
GUEST_MIB = 64
ncpu = os.cpu_count()
if ncpu < 2:
    kp.skip('needs at least 2 CPUs (one shared, one dedicated)')
try:
    with open('/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages') as f:
        pass
except OSError:
    kp.skip('no 2M hugepage support in this kernel')

t = kp.Tap()


def huge_backed_kib(pid):
    """KiB of the process's mappings whose KernelPageSize is 2048 kB."""
    total = 0
    size = 0
    with open(f'/proc/{pid}/smaps') as f:
        for line in f:
            if re.match(r'^[0-9a-f]+-[0-9a-f]+ ', line):
                size = 0
            elif line.startswith('Size:'):
                size = int(line.split()[1])
            elif line.startswith('KernelPageSize:') and int(line.split()[1]) == 2048:
                total += size
    return total


with kp.Sandbox(hugepages={2048: PAGES}) as lv:
    free_before = int(open('/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages').read())
    t.diag(f'2M pages reserved: {PAGES}, free {free_before}')
    if free_before < GUEST_MIB // 2:
        kp.skip(f'the kernel could not reserve {GUEST_MIB // 2} 2M pages (got {free_before}): '
                'memory too fragmented')
    with kp.Kvmtuned(lv, kp.live_policy(hugepages_2m=PAGES)) as kt:
        name = 'kt-pinned-e2e1'
        uuid, xml = kp.nova_xml(name, 'e2e.pinned.small', 1, GUEST_MIB)
        with tempfile.NamedTemporaryFile('w', suffix='.xml', delete=False) as f:
            f.write(xml)
            path = f.name

        r = lv.virsh('define', path, uri=kt.uri, check=False)
        os.unlink(path)
        t.ok(r.returncode == 0, 'virsh define through the proxy', r.stderr)

        dx = lv.virsh('dumpxml', name, uri=kt.uri, check=False).stdout
        ok, out = kp.validate_xml(dx)
        t.ok(ok, 'defined XML validates (virt-xml-validate)', out)
        t.ok(kp.placement_of(dx) is not None, 'defined domain carries <kvmtune:placement>', dx)
        vpins, emu = kp.pins_of(dx)
        dedicated = {1}
        t.ok(vpins.get(0) and vpins[0] <= dedicated,
             f'vCPU 0 pinned into the dedicated pool {sorted(dedicated)}', f'pins: {vpins}')
        t.ok(emu == {0}, 'emulator threads on the shared CPU 0', f'emulatorpin: {emu}')
        t.ok(re.search(r'<hugepages>\s*<page size=.2048. unit=.KiB.', dx) is not None
             or re.search(r'<hugepages\s*/>', dx) is not None,
             'memoryBacking asks for 2M hugepages', dx)

        r = lv.virsh('start', name, uri=kt.uri, check=False)
        t.ok(r.returncode == 0, 'virsh start through the proxy', r.stderr + kt.log_tail(5))
        r = lv.virsh('dominfo', name, uri=kt.uri, check=False)
        t.ok(r.returncode == 0 and re.search(r'State:\s+running', r.stdout),
             'virsh dominfo through the proxy: running', r.stdout + r.stderr)

        pid = kp.qemu_pid(name)
        t.ok(pid is not None, f'QEMU process of {name} found (pid {pid})')
        if pid:
            # Thread names: 'CPU 0/TCG' (TCG) or 'CPU 0/KVM'.
            vcpu_aff = None
            for _ in range(50):
                threads = kp.thread_affinities(pid)
                cpu_threads = {c: v for c, v in threads.items() if c.startswith('CPU 0/')}
                if cpu_threads:
                    vcpu_aff = next(iter(cpu_threads.values()))[0]
                    break
                time.sleep(0.1)
            t.ok(vcpu_aff is not None and vcpu_aff[1] == vpins.get(0),
                 f'vCPU 0 thread affinity equals its pin {sorted(vpins.get(0) or [])}',
                 f'threads: {kp.thread_affinities(pid)}')
            if vcpu_aff:
                ts = subprocess.run(['taskset', '-pc', str(vcpu_aff[0])],
                                    capture_output=True, text=True)
                t.diag('taskset: ' + ts.stdout.strip())
                want = ','.join(str(c) for c in sorted(vpins.get(0) or []))
                t.ok(ts.stdout.strip().endswith(': ' + want),
                     'taskset -pc on the vCPU thread shows the pin', ts.stdout)
            huge = huge_backed_kib(pid)
            t.ok(huge >= GUEST_MIB * 1024,
                 f'guest RAM hugepage backed ({huge} KiB in 2M-page mappings)')
            free_now = int(open('/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages').read())
            t.ok(free_before - free_now >= GUEST_MIB // 2,
                 f'{free_before - free_now} 2M pages taken from the pool')

        r = lv.virsh('vcpupin', name, uri=kt.uri, check=False)
        t.ok(r.returncode == 0 and re.search(r'^\s*0\s+' + ','.join(
                 str(c) for c in sorted(vpins.get(0) or [-1])) + r'\s*$', r.stdout, re.M),
             'virsh vcpupin (query) through the proxy shows the pin', r.stdout + r.stderr)
        # A live re-pin is an ordinary pass-through call: libvirt applies it.
        r = lv.virsh('vcpupin', name, '0', '0-1', '--live', uri=kt.uri, check=False)
        t.ok(r.returncode == 0, 'virsh vcpupin --live through the proxy', r.stderr)
        if pid and r.returncode == 0:
            aff = [v for c, v in kp.thread_affinities(pid).items() if c.startswith('CPU 0/')]
            t.ok(aff and aff[0][0][1] == {0, 1}, 'live re-pin reached the vCPU thread',
                 str(aff))
        r = subprocess.run([kp.VIRSH, '-c', kt.uri, 'qemu-monitor-command', name,
                            '--hmp', 'info status'], capture_output=True, text=True)
        t.ok(r.returncode == 0 and 'running' in r.stdout,
             'QEMU program call (qemu-monitor-command) passes through', r.stdout + r.stderr)

        r = lv.virsh('destroy', name, uri=kt.uri, check=False)
        t.ok(r.returncode == 0, 'virsh destroy through the proxy', r.stderr)
        r = lv.virsh('undefine', name, uri=kt.uri, check=False)
        t.ok(r.returncode == 0, 'virsh undefine through the proxy', r.stderr)
        r = lv.virsh('list', '--all', '--name')
        t.ok(name not in r.stdout.split(), 'domain is gone (direct connection)')
        t.ok(kt.alive(), 'kvmtuned still running')
        rc = kt.stop()
        t.ok(rc == 0, f'kvmtuned exits 0 on SIGTERM (got {rc})', kt.log_tail(10))
sys.exit(t.done())
