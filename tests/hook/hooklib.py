"""Shared helpers for the hook tests: a TAP runner, fixture copies, domain
XML with a kvmtune placement, and running the hook binary."""

import atexit
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

PLACEMENT_NS = 'http://kvmtune.org/xmlns/placement/1.0'
SOURCE_ROOT = os.environ.get('KT_SOURCE_ROOT',
                             os.path.dirname(os.path.dirname(os.path.dirname(
                                 os.path.abspath(__file__)))))
FIXTURES = os.path.join(SOURCE_ROOT, 'tests', 'fixtures', 'hosts')

GPU = '0000:ca:00.0'
PF = '0000:17:00.0'
VF = '0000:17:00.2'


class Tap:
    """Minimal TAP producer: each case is a function; an exception fails it,
    Skip skips it; the process exits 1 if anything failed."""

    class Skip(Exception):
        pass

    def __init__(self):
        self.cases = []

    def case(self, fn):
        self.cases.append(fn)
        return fn

    def run(self):
        print(f'1..{len(self.cases)}', flush=True)
        failed = 0
        for i, fn in enumerate(self.cases, 1):
            name = fn.__name__
            try:
                fn()
                print(f'ok {i} - {name}', flush=True)
            except Tap.Skip as e:
                print(f'ok {i} - {name} # SKIP {e}', flush=True)
            except Exception:
                failed += 1
                print(f'not ok {i} - {name}', flush=True)
                for line in traceback.format_exc().splitlines():
                    print(f'# {line}', flush=True)
        sys.exit(1 if failed else 0)


def copy_fixture(dst_parent, host='reference'):
    """A private copy of a committed fixture tree: tests write into it, never
    into tests/fixtures/.  CPU topology (half the files) is left out: the
    hook never reads it, and the copy is most of a case's time."""
    src = os.path.join(FIXTURES, host)
    if not os.path.isdir(src):
        raise Tap.Skip(f'fixture {src} absent')
    dst = os.path.join(dst_parent, 'root')
    os.makedirs(dst)
    pack = subprocess.Popen(['tar', '-C', src, '--exclude=./sys/devices/system/cpu',
                             '--warning=no-file-changed', '-cf', '-', '.'],
                            stdout=subprocess.PIPE)
    subprocess.run(['tar', '-C', dst, '-xf', '-'], stdin=pack.stdout, check=True)
    pack.stdout.close()
    # 1: a file changed while read (the fixture generator ran): still a copy.
    if pack.wait() not in (0, 1):
        raise RuntimeError(f'copying {src} failed')
    return dst


def snapshot(root):
    """Every path under @root with its type and content hash: comparing two
    snapshots shows whether anything was written, created or removed."""
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            snap[os.path.relpath(p, root)] = 'link:' + os.readlink(p) if os.path.islink(p) else 'dir'
        for f in filenames:
            p = os.path.join(dirpath, f)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                snap[rel] = 'link:' + os.readlink(p)
                continue
            try:
                with open(p, 'rb') as fh:
                    snap[rel] = hashlib.sha256(fh.read()).hexdigest()
            except OSError as e:
                snap[rel] = f'unreadable:{e.errno}'
    return snap


def diff_snapshots(a, b):
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            out.append(f'{k}: {a.get(k)} -> {b.get(k)}')
    return out


def placement(*children, profile='test'):
    body = ''.join(f'\n      <kvmtune:{c}' for c in children)
    return (f'<kvmtune:placement xmlns:kvmtune="{PLACEMENT_NS}" profile="{profile}">'
            f'{body}\n    </kvmtune:placement>')


def domain(name, uuid, placement_xml=None, devices='', memory_mib=64):
    meta = f'\n  <metadata>\n    {placement_xml}\n  </metadata>' if placement_xml else ''
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>{meta}
  <memory unit='MiB'>{memory_mib}</memory>
  <currentMemory unit='MiB'>{memory_mib}</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>{devices}
    <controller type='pci' index='0' model='pci-root'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def mdev_el(type_, uuid, parent=GPU, node=1):
    return f'mdev parent="{parent}" type="{type_}" uuid="{uuid}" node="{node}"/>'


def hugepages_el(count, node=1, size=2048):
    return f'hugepages size="{size}" node="{node}" count="{count}"/>'


def vf_el(vf=VF, pf=PF, node=0):
    return f'vf pf="{pf}" vf="{vf}" node="{node}"/>'


def type_dir(root, type_, parent=GPU):
    return os.path.join(root, 'sys/class/mdev_bus', parent, 'mdev_supported_types', type_)


def read(path):
    with open(path) as f:
        return f.read()


def fake_kernel_device(root, uuid):
    """What the kernel shows once an mdev exists: the device directory with
    its `remove` attribute (empty until written)."""
    d = os.path.join(root, 'sys/bus/mdev/devices', uuid)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'remove'), 'w'):
        pass
    return os.path.join(d, 'remove')


_SHARED = {}


class HookEnv:
    """A temp dir with a fixture copy, a state dir and the environment that
    points the hook at them (and away from any config on this machine)."""

    def __init__(self, hook, host='reference', root=None, copy=True, base=None):
        """@root: use this (shared, read-only for the case) sysroot instead
        of a fresh copy; copy=False: an empty sysroot (cases that never
        read the host); @base: where the temp dir goes (default $TMPDIR)."""
        self.hook = hook
        self.tmp = tempfile.mkdtemp(prefix='kt-hook-', dir=base)
        if root:
            self.root = root
        elif copy:
            try:
                self.root = copy_fixture(self.tmp, host)
            except BaseException:
                shutil.rmtree(self.tmp, ignore_errors=True)
                raise
        else:
            self.root = os.path.join(self.tmp, 'root')
            os.makedirs(self.root)
        self.state = os.path.join(self.tmp, 'state')
        self.control = os.path.join(self.tmp, 'control')
        self.env = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'LC_ALL': 'C',
            'KVMTUNE_SYSROOT': self.root,
            'KVMTUNE_STATE_DIR': self.state,
            'KVMTUNE_CONTROL': self.control,
            'KVMTUNE_POLICY': os.path.join(self.tmp, 'policy.yaml'),
            'KVMTUNE_HOOK_CONF': os.path.join(self.tmp, 'no-such-hook.conf'),
            'KVMTUNE_TIMEOUT_MS': '3000',
        }

    def run(self, name, op, sub, xml, extra='-', env=None, timeout=30):
        e = dict(self.env)
        e.update(env or {})
        data = xml if isinstance(xml, bytes) else xml.encode()
        return subprocess.run([self.hook, name, op, sub, extra], input=data,
                              capture_output=True, env=e, timeout=timeout)

    def records(self):
        d = os.path.join(self.state, 'domains')
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def claims(self):
        d = os.path.join(self.state, 'vf')
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    @staticmethod
    def shared_root(host='reference'):
        """One fixture copy per process for cases that must not write to
        it (they check that with snapshots): copying is most of a case's
        time.  Removed at exit."""
        if host not in _SHARED:
            tmp = tempfile.mkdtemp(prefix='kt-hook-shared-')
            atexit.register(shutil.rmtree, tmp, True)
            _SHARED[host] = copy_fixture(tmp, host)
        return _SHARED[host]

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def one_line_error(r, *words):
    """The hook refused with exit 1 and exactly one stderr line containing
    every word."""
    err = r.stderr.decode()
    assert r.returncode == 1, f'exit {r.returncode}, stderr {err!r}'
    lines = err.splitlines()
    assert len(lines) == 1, f'expected one stderr line, got {lines!r}'
    assert lines[0].startswith('kvmtune: '), lines[0]
    for w in words:
        assert w in lines[0], f'{w!r} not in {lines[0]!r}'
    return lines[0]
