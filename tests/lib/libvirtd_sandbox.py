"""A private libvirtd for tests, the demo and benchmarks.

Each sandbox runs virtlogd and libvirtd inside their own mount namespace with
tmpfs over libvirt's state and config directories, so any number of test
suites can run at once, nothing they define reaches the host's libvirt, and
the machine is left as found.  The read-write socket lives in a temporary
directory visible to everyone:

    with LibvirtdSandbox() as lv:
        subprocess.run(['virsh', '-c', lv.uri, 'list'])

Options: hooks_dir (bind-mounted on /etc/libvirt/hooks, read at daemon
start), hugepages {size_kib: count} (hugetlbfs mounted on /dev/hugepages;
count pages are added to the host's pool before libvirtd starts and taken
back on stop, so sandboxes running side by side each get theirs and the
pool ends as it was found).
"""

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

VIRSH = shutil.which('virsh') or '/usr/bin/virsh'

# State and config directories libvirt writes to.  /etc/libvirt/qemu holds
# persistent domain definitions: a tmpfs there keeps the host's own domains
# invisible and untouched.
PRIVATE_DIRS = [
    '/run/libvirt',
    '/var/lib/libvirt',
    '/var/cache/libvirt',
    '/var/log/libvirt',
    '/etc/libvirt/qemu',
    '/etc/libvirt/storage',
    '/etc/libvirt/secrets',
    '/etc/libvirt/nwfilter',
]

LIBVIRTD_CONF = """\
unix_sock_dir = "{sock_dir}"
unix_sock_group = "root"
unix_sock_rw_perms = "0770"
unix_sock_ro_perms = "0770"
unix_sock_admin_perms = "0700"
auth_unix_rw = "{auth}"
auth_unix_ro = "{auth}"
max_clients = 5000
max_anonymous_clients = 1000
max_workers = 20
max_client_requests = 20
log_outputs = "3:file:{log}"
"""

QEMU_CONF = """\
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
"""


def sysfs_hugepages_path(size_kib):
    return f'/sys/kernel/mm/hugepages/hugepages-{size_kib}kB/nr_hugepages'


_HUGEPAGES_LOCK = os.path.join('/run/lock' if os.path.isdir('/run/lock') else
                               tempfile.gettempdir(), 'kt-sandbox-hugepages.lock')


def adjust_hugepages(size_kib, delta):
    """Adds delta pages to the host's pool of size_kib pages (negative:
    takes them back) and returns how many the kernel really added.  The
    read-modify-write runs under a lock shared by every sandbox: saving and
    restoring absolute counts, two overlapping sandboxes left the pages of
    one of them reserved on the host."""
    path = sysfs_hugepages_path(size_kib)
    with open(_HUGEPAGES_LOCK, 'a') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(path) as f:
            before = int(f.read())
        with open(path, 'w') as f:
            f.write(str(max(0, before + delta)))
        with open(path) as f:
            return int(f.read()) - before


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def _unwind_on_sigterm():
    """libvirtd and virtlogd daemonize into sessions of their own, so when
    meson kills a test that timed out (SIGTERM) nothing else stops them:
    a dozen sandboxes were found running long after their tests.  Make
    SIGTERM unwind the test like Ctrl-C, so `with` blocks run stop()."""
    if (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL):
        signal.signal(signal.SIGTERM, _exit_on_sigterm)


class LibvirtdSandbox:
    def __init__(self, hooks_dir=None, hugepages=None, keep=False, sasl=None):
        """sasl: {'mech': 'scram-sha-256', 'user': ..., 'password': ...}
        puts both sockets behind SASL with one user in a private sasldb
        (/etc/sasl2 is replaced inside the sandbox's namespace)."""
        self.hooks_dir = hooks_dir
        self.sasl = sasl
        self.hugepages = hugepages or {}
        self.keep = keep
        self.dir = None
        self.pid = None
        self._added_pages = {}
        self._mntns = None
        self._mntns_fd = None

    @property
    def sock(self):
        return os.path.join(self.dir, 'sock', 'libvirt-sock')

    @property
    def uri(self):
        return f'qemu+unix:///system?socket={self.sock}'

    def virsh(self, *args, check=True, input=None, uri=None):
        return subprocess.run([VIRSH, '-q', '-c', uri or self.uri, *args],
                              check=check, capture_output=True, text=True,
                              input=input)

    def start(self, timeout=60):
        _unwind_on_sigterm()
        try:
            return self._start(timeout)
        except BaseException:
            # Nothing half-started may outlive a failed start: no daemons,
            # no reserved pages, no temp dir (`with` never calls __exit__).
            self.stop()
            raise

    def _start(self, timeout):
        self.dir = tempfile.mkdtemp(prefix='kt-libvirtd-')
        os.makedirs(os.path.join(self.dir, 'sock'))
        conf = os.path.join(self.dir, 'libvirtd.conf')
        self.log = os.path.join(self.dir, 'libvirtd.log')
        with open(conf, 'w') as f:
            f.write(LIBVIRTD_CONF.format(sock_dir=os.path.join(self.dir, 'sock'),
                                         log=self.log, auth='sasl' if self.sasl else 'none'))
        if self.sasl:
            self._write_sasl()
        qemu_conf = os.path.join(self.dir, 'qemu.conf')
        with open(qemu_conf, 'w') as f:
            f.write(QEMU_CONF)
        for size, count in self.hugepages.items():
            added = adjust_hugepages(size, count)
            self._added_pages[size] = added
            if added < count:
                print(f'libvirtd_sandbox: only {added} of {count} {size} KiB pages '
                      'could be reserved', file=sys.stderr)
        pidfile = os.path.join(self.dir, 'libvirtd.pid')
        self.pidfile = pidfile
        # The namespace's identity, so stop() finds virtlogd and QEMU even
        # when libvirtd never came up or has died.
        mntns = os.path.join(self.dir, 'mntns')
        script = ['set -e', f'readlink /proc/$$/ns/mnt > {mntns}']
        for d in PRIVATE_DIRS:
            script.append(f'mkdir -p {d} && mount -t tmpfs -o mode=0755 kt-sandbox {d}')
        script.append('mkdir -p /var/lib/libvirt/qemu /var/cache/libvirt/qemu '
                      '/var/log/libvirt/qemu /run/libvirt/qemu')
        script.append(f'mount --bind {qemu_conf} /etc/libvirt/qemu.conf')
        if self.sasl:
            script.append(f'mkdir -p /etc/sasl2 && mount --bind {self.sasl_dir} /etc/sasl2')
        hooks = self.hooks_dir or os.path.join(self.dir, 'no-hooks')
        os.makedirs(hooks, exist_ok=True)
        script.append(f'mkdir -p /etc/libvirt/hooks && mount --bind {hooks} /etc/libvirt/hooks')
        if self.hugepages:
            script.append('mkdir -p /dev/hugepages && '
                          'mount -t hugetlbfs -o pagesize=2M kt-huge2M /dev/hugepages')
            if 1048576 in self.hugepages:
                script.append('mkdir -p /dev/hugepages1G && '
                              'mount -t hugetlbfs -o pagesize=1G kt-huge1G /dev/hugepages1G')
        # virtlogd's default pidfile is machine-wide (/run/virtlogd.pid):
        # keep it inside the namespace so sandboxes can run side by side.
        script.append('virtlogd -d -p /run/libvirt/virtlogd.pid')
        script.append(f'libvirtd -d -f {conf} -p {pidfile}')
        try:
            subprocess.run(['unshare', '--mount', '--propagation', 'private', '--',
                            '/bin/sh', '-c', '\n'.join(script)], check=True)
        finally:
            self._hold_namespace(mntns)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(self.sock):
                r = self.virsh('version', check=False)
                if r.returncode == 0 or (self.sasl and 'authentication' in r.stderr.lower()):
                    with open(pidfile) as f:
                        self.pid = int(f.read().strip())
                    return self
            time.sleep(0.2)
        self.keep = True    # the log is the only clue: keep the folder
        raise RuntimeError(f'libvirtd did not come up within {timeout}s; log: {self.log}')

    def _write_sasl(self):
        self.sasl_dir = os.path.join(self.dir, 'sasl2')
        os.makedirs(self.sasl_dir)
        db = os.path.join(self.dir, 'passwd.db')
        with open(os.path.join(self.sasl_dir, 'libvirt.conf'), 'w') as f:
            f.write(f"mech_list: {self.sasl['mech']}\nsasldb_path: {db}\n")
        subprocess.run(['saslpasswd2', '-p', '-c', '-f', db, '-a', 'libvirt',
                        self.sasl['user']], input=self.sasl['password'], text=True,
                       check=True)
        # the client side: libvirt reads credentials for non-interactive
        # clients (kvmtuned's own connection, virsh) from this file
        self.auth_file = os.path.join(self.dir, 'auth.conf')
        with open(self.auth_file, 'w') as f:
            f.write('[credentials-kt]\n'
                    f"authname={self.sasl['user']}\n"
                    f"password={self.sasl['password']}\n"
                    '[auth-libvirt-default]\ncredentials=kt\n')
        os.chmod(self.auth_file, 0o600)

    def restart(self, timeout=60):
        """Stops libvirtd alone (domains and QEMU keep running) and starts it
        again in the same namespace, as `systemctl restart libvirtd` would."""
        ns = f'/proc/{self.pid}/ns/mnt'
        conf = os.path.join(self.dir, 'libvirtd.conf')
        nsfd = os.open(ns, os.O_RDONLY)
        try:
            os.kill(self.pid, signal.SIGTERM)
            self._wait_gone(self.pid)
            if os.path.exists(self.sock):
                os.unlink(self.sock)
            # The namespace outlives libvirtd (virtlogd and QEMU hold it);
            # the fd kept open above names it for nsenter.
            subprocess.run(['nsenter', f'--mount=/proc/self/fd/{nsfd}',
                            'libvirtd', '-d', '-f', conf, '-p', self.pidfile],
                           check=True, pass_fds=(nsfd,))
        finally:
            os.close(nsfd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.virsh('version', check=False).returncode == 0:
                with open(self.pidfile) as f:
                    self.pid = int(f.read().strip())
                return
            time.sleep(0.2)
        raise RuntimeError('libvirtd did not come back')

    def sighup(self):
        """libvirtd re-reads hooks on SIGHUP."""
        os.kill(self.pid, signal.SIGHUP)

    @staticmethod
    def _wait_gone(pid, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
        return False

    def _hold_namespace(self, mntns_file):
        """Notes the sandbox's namespace and keeps an fd on it, so its inode
        number (what /proc/PID/ns/mnt names) cannot be reused by another
        namespace before stop() has looked for the processes left in it."""
        try:
            with open(mntns_file) as f:
                self._mntns = f.read().strip() or None
        except OSError:
            return
        for p in os.listdir('/proc'):
            if not p.isdigit():
                continue
            try:
                if os.readlink(f'/proc/{p}/ns/mnt') == self._mntns:
                    self._mntns_fd = os.open(f'/proc/{p}/ns/mnt', os.O_RDONLY | os.O_CLOEXEC)
                    return
            except OSError:
                pass

    def _namespace_pids(self):
        """Every process in the sandbox's mount namespace (libvirtd,
        virtlogd, QEMU)."""
        mine = self._mntns
        if not mine and self.pid:
            try:
                mine = os.readlink(f'/proc/{self.pid}/ns/mnt')
            except OSError:
                pass
        if not mine or mine == os.readlink('/proc/self/ns/mnt'):
            return []
        pids = []
        for p in os.listdir('/proc'):
            if not p.isdigit():
                continue
            try:
                if os.readlink(f'/proc/{p}/ns/mnt') == mine:
                    pids.append(int(p))
            except OSError:
                pass
        return pids

    def stop(self):
        if self.pid:
            r = self.virsh('list', '--name', check=False)
            for name in r.stdout.split():
                self.virsh('destroy', name, check=False)
        pids = self._namespace_pids()
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in pids:
            if not self._wait_gone(p, 10):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.pid = None
        self._mntns = None
        if self._mntns_fd is not None:
            os.close(self._mntns_fd)
            self._mntns_fd = None
        for size, added in self._added_pages.items():
            adjust_hugepages(size, -added)
        self._added_pages = {}
        if self.dir and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == '__main__':
    # Smoke check: python3 tests/lib/libvirtd_sandbox.py
    with LibvirtdSandbox() as lv:
        print(lv.virsh('version').stdout.strip())
        print('sandbox ok:', lv.uri, file=sys.stderr)
