#!/usr/bin/python3
"""Real runs of the Ansible role kvmtune against localhost (TAP).

The role builds this checkout with meson, installs it under a temporary
prefix, templates the policy (validated by kvmtune check-policy), reserves
hugepages, mounts hugetlbfs, installs the qemu hook and SIGHUPs a private
libvirtd (tests/lib/libvirtd_sandbox.py), starts kvmtuned in "direct" mode
(start-stop-daemon: this machine has no systemd as PID 1), points a
temporary nova.conf at the proxy socket and attaches the Proxmox hookscript
through a fake `qm`.

Nothing outside the temporary directory changes: the test runs in a private
mount namespace (the hugetlbfs mount dies with it), every path variable of
the role points into the temporary directory, the sysctl file is written
without applying it to the running kernel (kvmtune_sysctl_apply: false, so
concurrent tests keep their hugepage pools) and non-default page sizes go to
a fake sysfs directory.  kvmtuned is stopped by its pidfile at the end.

Checks: run 1 converges (kvmtuned answers virsh through its socket, hook,
policy, nova.conf, mount in place); run 2 reports changed=0; --check --diff
with a changed variable shows the change and alters nothing; a broken policy
variable fails at the validate step with check-policy's file:line:column
error and the old policy stays.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get('KT_SOURCE_ROOT',
                     os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(SRC, 'tests', 'lib'))

NS_MARK = 'KT_ANSIBLE_TEST_IN_NS'


def skip(reason):
    print(f'1..0 # SKIP {reason}')
    sys.exit(77)


def preflight():
    if os.geteuid() != 0:
        skip('needs root (mount namespace, libvirtd, hugetlbfs)')
    for prog in ('ansible-playbook', 'libvirtd', 'virsh', 'start-stop-daemon',
                 'meson', 'ninja', 'unshare'):
        if not shutil.which(prog):
            skip(f'{prog} not installed')
    if not os.path.exists(os.path.join(SRC, 'nova-helper', 'kvmtuned.c')):
        skip('kvmtuned is not in this checkout yet')


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=''):
        self.n += 1
        print(f'{"ok" if cond else "not ok"} {self.n} - {name}', flush=True)
        if not cond:
            self.failed += 1
            for line in str(diag).splitlines()[-40:]:
                print(f'# {line}', flush=True)
        return cond


def online_cpus():
    with open('/sys/devices/system/cpu/online') as f:
        text = f.read().strip()
    cpus = []
    for part in text.split(','):
        a, _, b = part.partition('-')
        cpus += range(int(a), int(b or a) + 1)
    return cpus


FAKE_QM = r"""#!/bin/sh
# fake qm: VMs 100 (tagged kvmtune) and 101 (untagged); `set` is persisted
state="{state}"
case "$1" in
list)
    echo "      VMID NAME                 STATUS     MEM(MB)    BOOTDISK(GB) PID"
    echo "       100 db1                  stopped    4096              32.00 0"
    echo "       101 web1                 stopped    2048              32.00 0"
    ;;
config)
    echo "name: vm$2"
    [ "$2" = 100 ] && echo "tags: prod;kvmtune"
    [ -f "$state/$2" ] && cat "$state/$2"
    ;;
set)
    [ "$3" = --hookscript ] || exit 2
    echo "hookscript: $4" > "$state/$2"
    echo "$2" >> "$state/set.log"
    ;;
*)
    exit 2
    ;;
esac
exit 0
"""

PLAYBOOK = """---
- name: kvmtune role test
  hosts: localhost
  connection: local
  gather_facts: true
  roles:
    - role: kvmtune
"""


class PrivateLogSandbox:
    """LibvirtdSandbox whose virtlogd keeps its pid file in the sandbox's
    private /run/libvirt: the library starts `virtlogd -d`, whose default pid
    file /run/virtlogd.pid is shared by every sandbox on the machine, so a
    second concurrent sandbox would fail with "Unable to obtain pidfile"."""

    def __init__(self, tmp, **kw):
        from libvirtd_sandbox import LibvirtdSandbox

        self.wrap = os.path.join(tmp, 'virtlogd-wrap')
        os.makedirs(self.wrap, exist_ok=True)
        real = shutil.which('virtlogd') or '/usr/sbin/virtlogd'
        with open(os.path.join(self.wrap, 'virtlogd'), 'w') as f:
            f.write(f'#!/bin/sh\nexec {real} -p /run/libvirt/virtlogd.pid "$@"\n')
        os.chmod(os.path.join(self.wrap, 'virtlogd'), 0o755)
        self.lv = LibvirtdSandbox(**kw)

    def __enter__(self):
        old = os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')
        os.environ['PATH'] = self.wrap + ':' + old
        try:
            return self.lv.start()
        finally:
            os.environ['PATH'] = old

    def __exit__(self, *exc):
        self.lv.stop()


def failed_task(out):
    """Name of the task that failed ("" if none)."""
    task = ''
    for line in out.splitlines():
        m = re.match(r'^TASK \[(.*)\]', line)
        if m:
            task = m.group(1)
        elif line.startswith('fatal:'):
            return task
    return ''


def changed_tasks(out):
    """Names of the tasks and handlers that reported changed."""
    names, task = [], ''
    for line in out.splitlines():
        m = re.match(r'^(?:TASK|RUNNING HANDLER) \[(.*)\]', line)
        if m:
            task = m.group(1)
        elif line.startswith('changed:') and task not in names:
            names.append(task)
    return names


def recap(out):
    m = re.search(r'^localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)',
                  out, re.M)
    if not m:
        return None
    return {'ok': int(m.group(1)), 'changed': int(m.group(2)),
            'unreachable': int(m.group(3)), 'failed': int(m.group(4))}


def main():
    tmp = tempfile.mkdtemp(prefix='kt-ansible-')
    try:
        return run_all(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_all(tmp):
    t = Tap()
    os.chmod(tmp, 0o755)
    run = os.path.join(tmp, 'run')
    hooks = os.path.join(tmp, 'hooks')
    for d in (run, hooks, os.path.join(tmp, 'qm-state'),
              os.path.join(tmp, 'sysfs-hugepages', 'hugepages-1048576kB')):
        os.makedirs(d)
    with open(os.path.join(tmp, 'sysfs-hugepages', 'hugepages-1048576kB', 'nr_hugepages'), 'w') as f:
        f.write('0\n')
    qm = os.path.join(tmp, 'qm')
    with open(qm, 'w') as f:
        f.write(FAKE_QM.format(state=os.path.join(tmp, 'qm-state')))
    os.chmod(qm, 0o755)
    with open(os.path.join(tmp, 'fstab'), 'w') as f:
        f.write('# test fstab\n')

    cpus = online_cpus()
    reserved, shared = (cpus[:1], cpus[1:]) if len(cpus) > 1 else ([], cpus)
    fmt = lambda l: ','.join(map(str, l))
    nova_conf = os.path.join(tmp, 'nova.conf')
    with open(nova_conf, 'w') as f:
        f.write('[DEFAULT]\ndebug = False\n\n[compute]\ncpu_shared_set = %s\n' % fmt(shared))

    # The role builds a copy: other work in a shared tree must not look like
    # a change between two runs.
    snapshot = os.path.join(tmp, 'src')
    shutil.copytree(SRC, snapshot, symlinks=True,
                    ignore=lambda d, names: [n for n in names
                                             if d == SRC and (n.startswith('build') or n == '.git')])

    playbook = os.path.join(tmp, 'playbook.yml')
    with open(playbook, 'w') as f:
        f.write(PLAYBOOK)

    kvmtuned_pidfile = os.path.join(run, 'kvmtuned.pid')
    listen = os.path.join(run, 'libvirt-sock')
    policy_path = os.path.join(tmp, 'etc', 'kvmtune', 'policy.yaml')
    hugetlbfs = os.path.join(tmp, 'hugepages-2M')

    with PrivateLogSandbox(tmp, hooks_dir=hooks) as lv:
        base_vars = {
            'kvmtune_source_dir': snapshot,
            'kvmtune_build_dir': os.path.join(tmp, 'build'),
            'kvmtune_prefix': os.path.join(tmp, 'prefix'),
            'kvmtune_sysconfdir': os.path.join(tmp, 'etc'),
            'kvmtune_install_build_deps': False,
            'kvmtune_check_policy_args': f'--nova-conf {nova_conf}',
            'kvmtune_policy_host': {
                **({'reserved_cpus': fmt(reserved)} if reserved else {}),
                'shared_cpus': fmt(shared),
                'cpu_allocation_ratio': 8.0,
            },
            'kvmtune_policy_profiles': {'general': {'cpu': {'policy': 'shared'}}},
            'kvmtune_policy_match': [{'name': 'instance-*', 'profile': 'general'},
                                     {'default': 'none'}],
            'kvmtune_hugepages': [{'size_kib': 2048, 'count': 4},
                                  {'size_kib': 1048576, 'count': 2}],
            'kvmtune_sysctl_file': os.path.join(tmp, 'sysctl.conf'),
            'kvmtune_sysctl_apply': False,
            'kvmtune_hugepages_sysfs': os.path.join(tmp, 'sysfs-hugepages'),
            'kvmtune_hugetlbfs_mounts': [{'size_kib': 2048, 'path': hugetlbfs}],
            'kvmtune_fstab': os.path.join(tmp, 'fstab'),
            'kvmtune_libvirt_hooks_dir': hooks,
            'kvmtune_libvirtd_pidfile': lv.pidfile,
            'kvmtune_service_manager': 'direct',
            'kvmtune_listen_socket': listen,
            'kvmtune_control_socket': os.path.join(run, 'control'),
            'kvmtune_upstream_socket': lv.sock,
            'kvmtune_pidfile': kvmtuned_pidfile,
            'kvmtune_log_file': os.path.join(tmp, 'kvmtuned.log'),
            'kvmtune_nova': True,
            'kvmtune_nova_conf': nova_conf,
            'kvmtune_nova_restart': 'command',
            'kvmtune_nova_restart_command': ['touch', os.path.join(tmp, 'nova-restarted')],
            'kvmtune_libvirt': True,
            'kvmtune_proxmox': True,
            'kvmtune_proxmox_qm': qm,
            'kvmtune_proxmox_snippets_dir': os.path.join(tmp, 'snippets'),
        }

        # ansible refuses a non-UTF-8 locale (the test env sets LC_ALL=C)
        env = dict(os.environ, LC_ALL='C.UTF-8', LANG='C.UTF-8',
                   ANSIBLE_ROLES_PATH=os.path.join(SRC, 'ansible', 'roles'),
                   ANSIBLE_LOCAL_TEMP=os.path.join(tmp, 'ansible-local'),
                   ANSIBLE_REMOTE_TEMP=os.path.join(tmp, 'ansible-remote'),
                   ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
                   ANSIBLE_RETRY_FILES_ENABLED='0',
                   ANSIBLE_PYTHON_INTERPRETER='/usr/bin/python3')

        def play(extra=None, args=()):
            v = dict(base_vars, **(extra or {}))
            vf = os.path.join(tmp, 'vars.json')
            with open(vf, 'w') as f:
                json.dump(v, f)
            r = subprocess.run(['ansible-playbook', '-i', 'localhost,', *args,
                                '-e', '@' + vf, playbook],
                               env=env, capture_output=True, text=True, timeout=1500)
            return r, r.stdout + r.stderr

        try:
            # --- run 1: converge ---------------------------------------------
            r, out = play()
            rc = recap(out)
            if not t.ok(r.returncode == 0 and rc and rc['failed'] == 0,
                        'first run converges', out):
                print('Bail out! the role did not converge', flush=True)
                return 1

            ch = changed_tasks(out)
            t.ok('kvmtune : Reload libvirtd (direct)' in ch
                 and 'kvmtune : Start kvmtuned (direct)' in ch,
                 'libvirtd got SIGHUP for the hook, kvmtuned was started', ch)

            pid = None
            try:
                with open(kvmtuned_pidfile) as f:
                    pid = int(f.read().strip())
                os.kill(pid, 0)
                alive = True
            except (OSError, ValueError):
                alive = False
            t.ok(alive, 'kvmtuned runs (pidfile)')
            v = subprocess.run(['virsh', '-c', f'qemu+unix:///system?socket={listen}', 'list'],
                               capture_output=True, text=True, timeout=60)
            t.ok(v.returncode == 0 and 'Id' in v.stdout,
                 'virsh list works through the kvmtuned socket', v.stdout + v.stderr)
            hook = os.path.join(hooks, 'qemu.d', 'kvmtune')
            t.ok(os.path.isfile(hook) and os.access(hook, os.X_OK), 'qemu hook installed in qemu.d')
            with open(policy_path) as f:
                policy_text = f.read()
            chk = subprocess.run([os.path.join(tmp, 'prefix', 'bin', 'kvmtune'), 'check-policy',
                                  '--nova-conf', nova_conf, policy_path],
                                 capture_output=True, text=True)
            t.ok(chk.returncode == 0 and 'shared_cpus' in policy_text,
                 'policy in place and valid', chk.stdout + chk.stderr + policy_text)
            with open(nova_conf) as f:
                nc = f.read()
            t.ok(f'connection_uri = qemu+unix:///system?socket={listen}' in nc
                 and os.path.exists(os.path.join(tmp, 'nova-restarted')),
                 'nova.conf points at kvmtuned, nova-compute restart handler ran', nc)
            with open('/proc/self/mounts') as f:
                mounts = f.read()
            with open(os.path.join(tmp, 'sysctl.conf')) as f:
                sysctl = f.read()
            with open(os.path.join(tmp, 'sysfs-hugepages', 'hugepages-1048576kB',
                                   'nr_hugepages')) as f:
                gig = f.read().strip()
            t.ok(f' {hugetlbfs} hugetlbfs ' in mounts and 'vm.nr_hugepages=4' in sysctl
                 and gig == '2',
                 'hugepages: sysctl.d, sysfs for 1G, hugetlbfs mounted',
                 f'{sysctl}\n1G: {gig}\n{mounts}')
            snippet = os.path.join(tmp, 'snippets', 'kvmtune')
            with open(os.path.join(tmp, 'qm-state', 'set.log')) as f:
                setlog = f.read().split()
            t.ok(os.access(snippet, os.X_OK) and setlog == ['100'],
                 'proxmox: snippet installed, hookscript set on the tagged VM only', setlog)

            # --- run 2: idempotent ---------------------------------------------
            r, out = play()
            rc = recap(out)
            t.ok(r.returncode == 0 and rc and rc['changed'] == 0, 'second run: changed=0',
                 'changed: %s\n%s' % (changed_tasks(out), out))
            try:
                with open(kvmtuned_pidfile) as f:
                    same = int(f.read().strip()) == pid
                os.kill(pid, 0)
            except (OSError, ValueError, TypeError):
                same = False
            t.ok(same, 'kvmtuned kept running, not restarted')

            # --- run 3: --check --diff on a changed variable ---------------------
            changed_host = dict(base_vars['kvmtune_policy_host'], cpu_allocation_ratio=12.0)
            before = os.stat(policy_path)
            r, out = play({'kvmtune_policy_host': changed_host}, ['--check', '--diff'])
            t.ok(r.returncode == 0 and re.search(r'^-\s+cpu_allocation_ratio: 8\.0', out, re.M)
                 and re.search(r'^\+\s+cpu_allocation_ratio: 12\.0', out, re.M),
                 '--check --diff shows the policy change', out)
            with open(policy_path) as f:
                after_text = f.read()
            t.ok(after_text == policy_text and os.stat(policy_path).st_mtime == before.st_mtime,
                 '--check altered nothing')

            # --- run 4: a broken policy fails at validate --------------------------
            broken = {'general': {'cpu': {'policy': 'shared', 'thread': 'isolate'}}}
            r, out = play({'kvmtune_policy_profiles': broken})
            t.ok(r.returncode != 0 and 'failed to validate' in out
                 and 'Install the policy' in failed_task(out),
                 'broken policy: the play fails at the validate step', out)
            t.ok(re.search(r":\d+:\d+: unknown key 'thread' in 'profiles\.general\.cpu'", out),
                 "the failure shows check-policy's file:line:column error", out)
            with open(policy_path) as f:
                t.ok(f.read() == policy_text, 'the old policy stays in place')
        finally:
            if os.path.exists(kvmtuned_pidfile):
                subprocess.run(['start-stop-daemon', '--stop', '--oknodo', '--retry',
                                'TERM/10/KILL/5', '--pidfile', kvmtuned_pidfile],
                               capture_output=True)
            subprocess.run(['umount', hugetlbfs], capture_output=True)
    print(f'1..{t.n}', flush=True)
    return 1 if t.failed else 0


if __name__ == '__main__':
    preflight()
    if os.environ.get(NS_MARK) != '1':
        # A private mount namespace: the hugetlbfs mount and anything the
        # role mounts vanish with the test, whatever happens.
        os.environ[NS_MARK] = '1'
        os.execvp('unshare', ['unshare', '--mount', '--propagation', 'private', '--',
                              sys.executable, os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit(main())
