#!/usr/bin/python3
"""e2e: who may talk to kvmtuned.

libvirtd sees kvmtuned (root), never the caller, so kvmtuned's socket mode
and the policy's daemon.allow_uids/allow_gids are the gate:
- the socket is created 0660 (group libvirt): `nobody` cannot even connect;
- with the socket opened up (chmod 0666, as a careless admin might), a uid
  outside the allow-list is still refused by SO_PEERCRED, while an allowed
  non-root uid (4242 here) gets through;
- the control socket is 0600;
- libvirtd itself sees the real caller behind the proxy (CONNECT_SET_IDENTITY):
  `virt-admin client-info` on the sandbox's admin socket shows uid 4242 and
  the caller's pid, not kvmtuned's root.
"""

import os
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import kt_proxy as kp  # noqa: E402

kp.require_root_and_tools()
if not kp.binary('kvmtuned'):
    kp.skip('kvmtuned is not built yet')
SETPRIV = '/usr/bin/setpriv'
if not os.access(SETPRIV, os.X_OK):
    kp.skip('setpriv (util-linux) missing')

t = kp.Tap()
ALLOWED = 4242


def virsh_as(uid, uri, home, *args):
    env = {'PATH': '/usr/bin:/bin', 'HOME': home, 'XDG_CONFIG_HOME': home,
           'XDG_CACHE_HOME': home, 'XDG_RUNTIME_DIR': home, 'LC_ALL': 'C'}
    return subprocess.run([SETPRIV, f'--reuid={uid}', f'--regid={uid}', '--clear-groups',
                           kp.VIRSH, '-q', '-c', uri, *args],
                          capture_output=True, text=True, env=env, timeout=60)


with kp.Sandbox() as lv:
    policy = kp.live_policy(allow_uids=(0, ALLOWED), allow_gids=(0,))
    with kp.Kvmtuned(lv, policy) as kt:
        home = os.path.join(kt.dir, 'home')
        os.makedirs(home)
        os.chmod(home, 0o1777)

        st = os.stat(kt.listen)
        t.ok(stat.S_IMODE(st.st_mode) == 0o660,
             f'proxy socket mode 0660 (got {oct(stat.S_IMODE(st.st_mode))})')
        try:
            import grp
            libvirt_gid = grp.getgrnam('libvirt').gr_gid
            t.ok(st.st_gid == libvirt_gid, f'proxy socket group libvirt ({st.st_gid})')
        except KeyError:
            t.diag('no group libvirt on this machine; group not checked')
        cst = os.stat(kt.control)
        t.ok(stat.S_IMODE(cst.st_mode) == 0o600 and cst.st_uid == 0,
             f'control socket root 0600 (got {oct(stat.S_IMODE(cst.st_mode))})')

        r = virsh_as(65534, kt.uri, home, 'list', '--all')
        t.ok(r.returncode != 0, 'nobody cannot use the proxy socket (mode 0660)',
             r.stdout + r.stderr)
        t.diag('nobody, socket 0660: ' + r.stderr.strip().splitlines()[-1] if r.stderr else '')

        os.chmod(kt.listen, 0o666)
        r = virsh_as(65534, kt.uri, home, 'list', '--all')
        t.ok(r.returncode != 0, 'socket opened up: nobody (not in allow_uids) is refused',
             r.stdout + r.stderr)
        t.diag('nobody, socket 0666: ' + (r.stderr.strip().splitlines() or [''])[-1])
        r = virsh_as(65534, kt.uri, home, 'define', '/dev/null')
        t.ok(r.returncode != 0, 'nobody cannot define either')
        r = virsh_as(ALLOWED, kt.uri, home, 'list', '--all')
        t.ok(r.returncode == 0, f'uid {ALLOWED} (in allow_uids) is served', r.stderr)
        _, x = kp.plain_xml('access-ok')
        xp = os.path.join(home, 'access-ok.xml')
        with open(xp, 'w') as f:
            f.write(x)
        os.chmod(xp, 0o644)
        r = virsh_as(ALLOWED, kt.uri, home, 'define', xp)
        t.ok(r.returncode == 0 and 'access-ok' in lv.virsh('list', '--all', '--name').stdout,
             f'uid {ALLOWED} can define through the proxy', r.stderr)
        # The caller's identity reaches libvirtd.
        va = '/usr/bin/virt-admin'
        if os.access(va, os.X_OK):
            ev = subprocess.Popen([SETPRIV, f'--reuid={ALLOWED}', f'--regid={ALLOWED}',
                                   '--clear-groups', kp.VIRSH, '-c', kt.uri, 'event', '--loop',
                                   '--all'],
                                  env={'HOME': home, 'XDG_CACHE_HOME': home,
                                       'XDG_CONFIG_HOME': home, 'PATH': '/usr/bin:/bin'},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            adm = f'libvirtd:///system?socket={os.path.dirname(lv.sock)}/libvirt-admin-sock'
            infos = []
            for _ in range(50):
                infos = []
                r = subprocess.run([va, '-c', adm, 'srv-clients-list', 'libvirtd'],
                                   capture_output=True, text=True)
                for line in r.stdout.splitlines()[2:]:
                    if line.split():
                        ci = subprocess.run([va, '-c', adm, 'client-info', 'libvirtd',
                                             line.split()[0]], capture_output=True, text=True)
                        infos.append({k.strip(): v.strip() for k, v in
                                      (l.split(':', 1) for l in ci.stdout.splitlines()
                                       if ':' in l)})
                if any(i.get('unix_user_id') == str(ALLOWED) for i in infos):
                    break
                time.sleep(0.1)
            ev.terminate()
            ev.wait(10)
            mine = [i for i in infos if i.get('unix_user_id') == str(ALLOWED)]
            t.ok(mine and mine[0].get('unix_process_id') == str(ev.pid),
                 f'libvirtd sees the caller (uid {ALLOWED}, pid {ev.pid}) behind kvmtuned',
                 infos)
        else:
            t.diag('virt-admin missing: identity forwarding not checked')
        t.ok(kp.Kvmtuned.wait_serving(kt), 'root still served')
        log = open(kt.log).read()
        t.ok('65534' in log, 'the refusal is logged with the uid')
        t.ok(kt.alive(), 'kvmtuned still running')
sys.exit(t.done())
