#!/usr/bin/python3
"""Suite 'hook' (e2e): the installed-style hook under a real libvirtd.

A private libvirtd (tests/lib/libvirtd_sandbox.py) gets a hooks directory
holding qemu.d/kvmtune (a copy of the built hook) and kvmtune.conf next to
qemu.d (libvirtd scrubs the hook's environment, so paths come from there).
The host's own /etc/libvirt/hooks is never touched.

  a  a placement needing more free hugepages than exist: `virsh start` fails
     with kvmtune's one-line message
  b  start/destroy run prepare and release (state record, hook log)
  c  `virsh save` + `virsh restore` of a running guest goes through
     `restore begin`; the restored guest carries a placement for this host
     (real kvmtuned when built, else the control-socket double)
  d  the hook run at `migrate begin` with a foreign host's XML prints XML
     re-placed here that passes virt-xml-validate

    test-libvirtd.py HOOK CONTROL_DOUBLE_PY     (KT_HOOK_E2E_DOUBLE=1: use the double)
"""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import kt_proxy as kp  # noqa: E402
from hooklib import domain, hugepages_el, placement, read  # noqa: E402

HOOK = os.path.abspath(sys.argv[1])
kp.require_root_and_tools()
if not shutil.which('qemu-system-x86_64'):
    kp.skip('qemu-system-x86_64 not installed')

t = kp.Tap()
tmp = tempfile.mkdtemp(prefix='kt-hook-e2e-')
os.chmod(tmp, 0o755)
hooks = os.path.join(tmp, 'hooks')
os.makedirs(os.path.join(hooks, 'qemu.d'))
installed = os.path.join(hooks, 'qemu.d', 'kvmtune')
shutil.copy(HOOK, installed)
os.chmod(installed, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
state = os.path.join(tmp, 'state')
log = os.path.join(tmp, 'hook.log')
conf = os.path.join(hooks, 'kvmtune.conf')


def write_conf(control, policy):
    with open(conf, 'w') as f:
        f.write(f'[hook]\nsysroot=/\nstate_dir={state}\ncontrol={control}\n'
                f'policy={policy}\nlog={log}\n')


def define(lv, xml, verb='define'):
    with tempfile.NamedTemporaryFile('w', suffix='.xml', dir=tmp, delete=False) as f:
        f.write(xml)
    r = lv.virsh(verb, f.name, check=False)
    os.unlink(f.name)
    return r


def log_lines():
    return read(log).splitlines() if os.path.exists(log) else []


def online_cpus():
    return kp.parse_cpuset(read('/sys/devices/system/cpu/online').strip())


def placement_cpus(pl):
    """Every host CPU a placement element names."""
    cpus = set()
    for el in pl.iter():
        for attr in ('shared', 'emulator', 'booked', 'cpus'):
            if el.get(attr):
                cpus |= kp.parse_cpuset(el.get(attr))
    return cpus


def foreign(xml, name):
    """@xml as it would arrive from the reference host: its placement there
    and vCPU pins to CPUs this machine does not have."""
    pl = placement('numa nodes="1"/>',
                   'cpus policy="shared" vcpus="1" shared="2-27,114-139"/>',
                   profile='general')
    xml = xml.replace('<metadata>', f'<metadata>\n    {pl}', 1)
    return xml.replace('</vcpu>', "</vcpu>\n  <cputune>\n    <vcpupin vcpu='0' cpuset='150'/>\n"
                                  "    <emulatorpin cpuset='151'/>\n  </cputune>", 1)


write_conf(os.path.join(tmp, 'control'), os.path.join(tmp, 'policy.yaml'))
try:
    with kp.Sandbox(hooks_dir=hooks) as lv:
        # --- a: not enough hugepages --------------------------------------
        ua = str(uuidlib.uuid4())
        r = define(lv, domain('kt-hook-a', ua, placement(
            'memory size="65536" pagesize="2048"/>', hugepages_el(10 ** 9, node=0))))
        t.ok(r.returncode == 0, 'a: define a domain whose placement needs 10^9 2M pages',
             r.stderr)
        r = lv.virsh('start', 'kt-hook-a', check=False)
        t.ok(r.returncode != 0 and 'kvmtune: kt-hook-a: node 0: 1000000000 x 2048 KiB '
             'hugepages needed' in r.stderr,
             'a: virsh start fails with kvmtune\'s message', r.stdout + r.stderr)
        t.diag('virsh: ' + r.stderr.strip())
        t.ok(not os.path.exists(os.path.join(state, 'domains', ua + '.conf')),
             'a: nothing recorded for the refused domain')
        lv.virsh('undefine', 'kt-hook-a', check=False)

        # --- b: start and destroy run prepare and release ----------------
        ub = str(uuidlib.uuid4())
        rec = os.path.join(state, 'domains', ub + '.conf')
        r = define(lv, domain('kt-hook-b', ub, placement(
            'numa nodes="0"/>', 'cpus policy="shared" vcpus="1" shared="0"/>')))
        t.ok(r.returncode == 0, 'b: define', r.stderr)
        r = lv.virsh('start', 'kt-hook-b', check=False)
        t.ok(r.returncode == 0, 'b: virsh start', r.stderr)
        t.ok(os.path.exists(rec), 'b: prepare begin recorded the running domain', log_lines())
        t.ok(any(line.endswith(' prepare begin kt-hook-b ok') for line in log_lines()),
             'b: hook log shows prepare begin', log_lines())
        r = lv.virsh('destroy', 'kt-hook-b', check=False)
        t.ok(r.returncode == 0, 'b: virsh destroy', r.stderr)
        t.ok(not os.path.exists(rec), 'b: release end dropped the record')
        t.ok(any(line.endswith(' release end kt-hook-b ok') for line in log_lines()),
             'b: hook log shows release end', log_lines())
        lv.virsh('undefine', 'kt-hook-b', check=False)

        # --- c and d: incoming domains, placed by kvmtuned ---------------
        kt = None
        double = None
        if kp.binary('kvmtuned') and not os.environ.get('KT_HOOK_E2E_DOUBLE'):
            try:
                kt = kp.Kvmtuned(lv, kp.live_policy()).start()
                write_conf(kt.control, kt.policy)
                t.diag('placing with the real kvmtuned')
            except kp.KvmtunedError as e:
                # kvmtuned's own suites judge it; this one is about the hook.
                t.diag(f'kvmtuned did not start, using the double: {e}')
                kt = None
        if not kt:
            from control_double import ControlDouble
            double = ControlDouble(os.path.join(tmp, 'control')).start()
            t.diag('placing with the control-socket double')
        try:
            uc, xc = kp.nova_xml('kt-hook-c', 'general.small', 1, 64, graphics=False)
            xc = foreign(xc, 'kt-hook-c').replace(
                "<cputune>\n    <vcpupin vcpu='0' cpuset='150'/>\n"
                "    <emulatorpin cpuset='151'/>\n  </cputune>", '')
            r = define(lv, xc, verb='create')
            t.ok(r.returncode == 0, 'c: create a running guest carrying a foreign placement',
                 r.stderr)
            image = os.path.join(tmp, 'kt-hook-c.save')
            r = lv.virsh('save', 'kt-hook-c', image, check=False)
            t.ok(r.returncode == 0, 'c: virsh save', r.stderr)
            r = lv.virsh('restore', image, check=False)
            t.ok(r.returncode == 0, 'c: virsh restore',
                 r.stderr + (kt.log_tail(10) if kt else ''))
            t.ok(any(line.endswith(' restore begin kt-hook-c ok') for line in log_lines()),
                 'c: restore went through the hook (restore begin)', log_lines())
            dx = lv.virsh('dumpxml', 'kt-hook-c', check=False).stdout
            pl = kp.placement_of(dx) if dx else None
            cpus = placement_cpus(pl) if pl is not None else set()
            t.ok(pl is not None and cpus and cpus <= online_cpus(),
                 f'c: restored guest carries a placement for this host (CPUs {sorted(cpus)})',
                 dx)
            lv.virsh('destroy', 'kt-hook-c', check=False)

            ud, xd = kp.nova_xml('kt-hook-d', 'general.small', 1, 64, graphics=False)
            xd = foreign(xd, 'kt-hook-d')
            env = {'PATH': '/usr/bin:/bin', 'LC_ALL': 'C', 'KVMTUNE_HOOK_CONF': conf}
            r = subprocess.run([installed, 'kt-hook-d', 'migrate', 'begin', '-'],
                               input=xd, capture_output=True, text=True, env=env,
                               timeout=60)
            t.ok(r.returncode == 0 and r.stdout, 'd: migrate begin prints XML', r.stderr)
            out = r.stdout
            ok, msg = kp.validate_xml(out) if out else (False, 'no output')
            t.ok(ok, 'd: the printed XML passes virt-xml-validate', msg)
            pl = kp.placement_of(out) if out else None
            cpus = placement_cpus(pl) if pl is not None else set()
            vpins, emu = kp.pins_of(out) if out else ({}, None)
            pinned = set().union(*vpins.values()) if vpins else set()
            t.ok(pl is not None and cpus and cpus <= online_cpus()
                 and pinned <= online_cpus() and (emu or set()) <= online_cpus(),
                 f'd: re-placed on this host (placement CPUs {sorted(cpus)}, '
                 f'pins {sorted(pinned)}, emulator {sorted(emu or [])})', out)
        finally:
            if kt:
                kt.cleanup()
            if double:
                double.stop()
finally:
    shutil.rmtree(tmp, ignore_errors=True)

sys.exit(t.done())
