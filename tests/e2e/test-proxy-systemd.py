#!/usr/bin/python3
"""e2e: what nova-helper/systemd/kvmtuned.service promises, checked without
systemd as PID 1.

- `systemd-analyze verify` accepts the generated unit (ExecStart pointed at
  the built kvmtuned);
- Type=notify: kvmtuned sends READY=1 on $NOTIFY_SOCKET once it serves, and
  STOPPING=1 on SIGTERM;
- CapabilityBoundingSet= (empty) + SupplementaryGroups=libvirt +
  NoNewPrivileges: run under setpriv with the same restrictions, kvmtuned
  has no effective capability, still reaches libvirtd, serves clients, and
  gives its socket to group libvirt; without the supplementary group that
  chgrp fails (which is why the unit sets it).
"""

import grp
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import kt_proxy as kp  # noqa: E402

kp.require_root_and_tools()
if not kp.binary('kvmtuned'):
    kp.skip('kvmtuned is not built yet')
SETPRIV = '/usr/bin/setpriv'

t = kp.Tap()
build = kp.build_root()
unit = os.path.join(build, 'nova-helper', 'systemd', 'kvmtuned.service')

# --- the unit file ---------------------------------------------------------------
sa = shutil.which('systemd-analyze')
if not os.path.exists(unit):
    t.ok(False, f'{unit} generated')
elif not sa:
    t.diag('systemd-analyze not installed: unit not verified')
else:
    d = tempfile.mkdtemp(prefix='kt-unit-')
    text = open(unit).read()
    text = re.sub(r'^ExecStart=\S+', f'ExecStart={kp.binary("kvmtuned")}', text, flags=re.M)
    with open(os.path.join(d, 'kvmtuned.service'), 'w') as f:
        f.write(text)
    r = subprocess.run([sa, 'verify', os.path.join(d, 'kvmtuned.service')],
                       capture_output=True, text=True)
    # verify also complains about dependencies it cannot load on a host
    # without them (libvirtd.service, nova-compute.service): only errors
    # about this unit count.
    errs = [l for l in (r.stdout + r.stderr).splitlines()
            if 'kvmtuned.service' in l and 'libvirtd.service' not in l
            and 'nova-compute' not in l]
    t.ok(not errs, 'systemd-analyze verify kvmtuned.service', '\n'.join(errs))
    sock_unit = os.path.join(kp.SOURCE_ROOT, 'nova-helper', 'systemd', 'kvmtuned.socket')
    if os.path.exists(sock_unit):
        shutil.copy(sock_unit, d)
        r = subprocess.run([sa, 'verify', os.path.join(d, 'kvmtuned.socket'),
                            os.path.join(d, 'kvmtuned.service')],
                           capture_output=True, text=True)
        errs = [l for l in (r.stdout + r.stderr).splitlines()
                if 'kvmtuned.' in l and 'libvirtd.service' not in l and 'nova-compute' not in l]
        t.ok(not errs, 'systemd-analyze verify kvmtuned.socket', '\n'.join(errs))
    for key in ('Type=notify', 'Restart=on-failure', 'ProtectSystem=strict',
                'ReadWritePaths=/run/kvmtune', 'RuntimeDirectory=kvmtune', 'PrivateTmp=yes',
                'NoNewPrivileges=yes', 'CapabilityBoundingSet=\n',
                'RestrictAddressFamilies=AF_UNIX', 'Requires=libvirtd.service',
                'After=libvirtd.service', 'SupplementaryGroups=libvirt'):
        t.ok(key in text + '\n', f'unit has {key.strip()}')
    shutil.rmtree(d, ignore_errors=True)

# --- notify, capabilities ------------------------------------------------------------


def cap_eff(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('CapEff:'):
                return int(line.split()[1], 16)
    return None


with kp.Sandbox() as lv:
    ndir = tempfile.mkdtemp(prefix='kt-notify-')
    npath = os.path.join(ndir, 'notify')
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(npath)
    ns.settimeout(20)
    env = dict(os.environ, NOTIFY_SOCKET=npath)
    kt = kp.Kvmtuned(lv, kp.live_policy(), env=env)
    try:
        kt.start()
        msgs = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any('READY=1' in m for m in msgs):
            try:
                msgs.append(ns.recv(4096).decode())
            except socket.timeout:
                break
        t.ok(any('READY=1' in m for m in msgs), 'READY=1 sent on $NOTIFY_SOCKET', msgs)
        kt.proc.terminate()
        try:
            while True:
                m = ns.recv(4096).decode()
                msgs.append(m)
                if 'STOPPING=1' in m:
                    break
        except socket.timeout:
            pass
        t.ok(any('STOPPING=1' in m for m in msgs), 'STOPPING=1 on SIGTERM', msgs)
        t.diag('notify messages: ' + ' | '.join(m.replace('\n', ' ') for m in msgs))
    finally:
        kt.cleanup()
        ns.close()
        shutil.rmtree(ndir, ignore_errors=True)

    # Socket activation (kvmtuned.socket): systemd-socket-activate passes the
    # listening socket as fd 3 with LISTEN_PID/LISTEN_FDS, as systemd does.
    ssa = shutil.which('systemd-socket-activate')
    if not ssa:
        t.diag('systemd-socket-activate missing: socket activation not checked')
    else:
        kt = kp.Kvmtuned(lv, kp.live_policy())
        kt.wrapper = [ssa, '-l', kt.listen, '--']
        try:
            kt.start()
            log = open(kt.log).read()
            t.ok('socket systemd passed' in log or 'fd 3' in log,
                 'socket-activated kvmtuned serves the fd it was given', kt.log_tail(8))
            _, x = kp.nova_xml('kt-pinned-sa', 'e2e.pinned', 1, 64)
            r = lv.virsh('define', '/dev/stdin', uri=kt.uri, input=x, check=False)
            dx = lv.virsh('dumpxml', 'kt-pinned-sa', check=False).stdout
            t.ok(r.returncode == 0 and kp.placement_of(dx) is not None,
                 'and rewrites through it', r.stderr)
            ok, out = kp.validate_xml(dx)
            t.ok(ok, 'its XML validates', out)
            lv.virsh('undefine', 'kt-pinned-sa', uri=kt.uri, check=False)
            rc = kt.stop()
            t.ok(rc == 0, f'exits 0 on SIGTERM (got {rc})')
            t.ok(os.path.exists(kt.listen),
                 'leaves the socket systemd owns in place (no unlink)')
        except kp.KvmtunedError as e:
            t.ok(False, 'socket-activated kvmtuned serves the fd it was given', str(e))
        finally:
            kt.cleanup()

    # PrivateNetwork=yes: in a network namespace of its own kvmtuned still
    # reaches libvirtd and serves clients (path-based unix sockets only).
    with kp.Kvmtuned(lv, kp.live_policy(), wrapper=['unshare', '--net', '--']) as kt:
        _, x = kp.nova_xml('kt-pinned-netns', 'e2e.pinned', 1, 64)
        r = lv.virsh('define', '/dev/stdin', uri=kt.uri, input=x, check=False)
        t.ok(r.returncode == 0 and os.readlink(f'/proc/{kt.pid}/ns/net')
             != os.readlink('/proc/self/ns/net'),
             'PrivateNetwork: kvmtuned in its own network namespace serves', r.stderr)
        lv.virsh('undefine', 'kt-pinned-netns', uri=kt.uri, check=False)

    if not os.access(SETPRIV, os.X_OK):
        t.diag('setpriv missing: capability checks skipped')
    else:
        try:
            libvirt_gid = grp.getgrnam('libvirt').gr_gid
        except KeyError:
            libvirt_gid = None
        base = [SETPRIV, '--bounding-set=-all', '--inh-caps=-all', '--no-new-privs']
        if libvirt_gid is None:
            t.diag('no group libvirt: supplementary-group checks skipped')
        else:
            wrap = base + [f'--groups={libvirt_gid}', '--']
            with kp.Kvmtuned(lv, kp.live_policy(), wrapper=wrap) as kt:
                t.ok(cap_eff(kt.pid) == 0, f'no effective capability (CapEff {cap_eff(kt.pid):#x})')
                st = os.stat(kt.listen)
                t.ok(st.st_gid == libvirt_gid,
                     'without CAP_CHOWN, SupplementaryGroups=libvirt lets it chgrp its socket')
                _, x = kp.nova_xml('kt-pinned-caps', 'e2e.pinned', 1, 64)
                r = lv.virsh('define', '/dev/stdin', uri=kt.uri, input=x, check=False)
                dx = lv.virsh('dumpxml', 'kt-pinned-caps', check=False).stdout
                ok, out = kp.validate_xml(dx)
                t.ok(ok, 'its XML validates', out)
                t.ok(r.returncode == 0 and kp.placement_of(dx) is not None,
                     'capability-less kvmtuned reaches libvirtd and rewrites', r.stderr)
            wrap = base + ['--clear-groups', '--']
            with kp.Kvmtuned(lv, kp.live_policy(), wrapper=wrap) as kt:
                st = os.stat(kt.listen)
                t.ok(st.st_gid != libvirt_gid,
                     'without the supplementary group the chgrp is denied (unit needs it)')
                t.ok('cannot give' in open(kt.log).read() or st.st_gid == 0,
                     'and kvmtuned says so in its log')
sys.exit(t.done())
