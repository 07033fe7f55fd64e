"""Helpers shared by the e2e tests, the proxy benchmarks and the demo:
run kvmtuned on private sockets, generate Nova's domain XML with Nova's own
config classes, read placements back, a tiny TAP writer.

    with LibvirtdSandbox() as lv, Kvmtuned(lv, policy_text) as kt:
        lv.virsh('define', path, uri=kt.uri)

Binaries come from the build tree (env KT_BUILD_ROOT, set by meson test, or
--build for the scripts); a missing binary is a skip (exit 77) for tests.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib
import xml.etree.ElementTree as ET

import nova_xml as nova_parts  # this module's nova_xml() builds on it

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get('KT_SOURCE_ROOT') or os.path.dirname(os.path.dirname(HERE))
VIRSH = shutil.which('virsh') or '/usr/bin/virsh'

KT_NS = 'http://kvmtune.org/xmlns/placement/1.0'
NOVA_NS = 'http://openstack.org/xmlns/libvirt/nova/1.1'


# --- sandbox ------------------------------------------------------------------------

def Sandbox(**kw):
    """LibvirtdSandbox(**kw).  (It used to wrap virtlogd so sandboxes could
    run side by side; tests/lib/libvirtd_sandbox.py now keeps virtlogd's pid
    file in its namespace itself.)"""
    from libvirtd_sandbox import LibvirtdSandbox
    return LibvirtdSandbox(**kw)


def build_root():
    return os.environ.get('KT_BUILD_ROOT') or os.path.join(SOURCE_ROOT, 'build')


def binary(name, build=None):
    """Path of a built program (nova-helper/<name>) or None."""
    path = os.path.join(build or build_root(), 'nova-helper', name)
    return path if os.access(path, os.X_OK) else None


def skip(reason):
    print(f'1..0 # SKIP {reason}')
    sys.stdout.flush()
    sys.exit(77)


def require_root_and_tools():
    if os.geteuid() != 0:
        skip('needs root (private libvirtd in a mount namespace)')
    for tool in ('virsh', 'libvirtd', 'unshare', 'nsenter'):
        if not shutil.which(tool):
            skip(f'{tool} not installed')


def require_daemon(host=None):
    """Skips (exit 77) unless root, the sandbox tools, the built kvmtuned and
    kvmtune and, if named, the fixture host tree are all there."""
    require_root_and_tools()
    if not binary('kvmtuned') or not binary('kvmtune'):
        skip('kvmtuned / kvmtune are not built yet')
    if host and not os.path.isdir(fixture(host)):
        skip(f'tests/fixtures/hosts/{host} is missing')


class Tap:
    """Minimal TAP producer: ok() per check, done() prints the plan and
    returns the exit status."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, detail=None):
        self.n += 1
        if cond:
            print(f'ok {self.n} - {desc}')
        else:
            self.failed += 1
            print(f'not ok {self.n} - {desc}')
            if detail:
                for line in str(detail).rstrip().splitlines()[:40]:
                    print(f'#   {line}')
        sys.stdout.flush()
        return bool(cond)

    def diag(self, msg):
        for line in str(msg).splitlines():
            print(f'# {line}')
        sys.stdout.flush()

    def done(self):
        print(f'1..{self.n}')
        return 1 if self.failed else 0


# --- kvmtuned -------------------------------------------------------------------

class KvmtunedError(RuntimeError):
    pass


class Kvmtuned:
    """One kvmtuned on private sockets in its own temp dir, forwarding to a
    sandbox libvirtd.  start() waits until a virsh call through it works."""

    def __init__(self, lv, policy_text, sysroot='/', build=None, extra_args=(),
                 wrapper=(), env=None):
        self.lv = lv
        self.build = build or build_root()
        self.exe = binary('kvmtuned', self.build)
        self.cli = binary('kvmtune', self.build)
        if not self.exe:
            raise KvmtunedError(f'kvmtuned is not built in {self.build}')
        self.dir = tempfile.mkdtemp(prefix='kt-kvmtuned-')
        os.chmod(self.dir, 0o755)
        self.policy = os.path.join(self.dir, 'policy.yaml')
        with open(self.policy, 'w') as f:
            f.write(policy_text)
        self.sysroot = sysroot
        self.listen = os.path.join(self.dir, 'libvirt-sock')
        self.control = os.path.join(self.dir, 'control')
        self.log = os.path.join(self.dir, 'kvmtuned.log')
        self.extra_args = list(extra_args)
        self.wrapper = list(wrapper)        # e.g. setpriv ... (prefix argv)
        self.env = env                      # None: inherit
        self.proc = None
        self.starts = 0
        self.started_at = None

    @property
    def uri(self):
        return f'qemu+unix:///system?socket={self.listen}'

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def argv(self):
        return [*self.wrapper, self.exe, '--foreground', '--policy', self.policy,
                '--sysroot', self.sysroot, '--listen', self.listen,
                '--upstream', self.lv.sock, '--control', self.control,
                *self.extra_args]

    def start(self, timeout=30):
        if os.path.exists(self.listen):
            # A killed daemon leaves its socket behind; the daemon must cope
            # (unlink and rebind), so do not clean it up here.
            pass
        logf = open(self.log, 'a')
        logf.write(f'--- start {self.starts} at {time.time():.3f}\n')
        logf.flush()
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf, env=self.env)
        logf.close()
        self.starts += 1
        self.started_at = time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise KvmtunedError(f'kvmtuned exited with {self.proc.returncode}:\n'
                                    + self.log_tail())
            if os.path.exists(self.listen):
                r = subprocess.run([VIRSH, '-q', '-c', self.uri, 'version'],
                                   capture_output=True, text=True, timeout=30)
                if r.returncode == 0:
                    if self.cli and not self.wait_ledger_ready(timeout):
                        raise KvmtunedError('kvmtuned serves but its ledger is not ready:\n'
                                            + self.log_tail())
                    return self
            time.sleep(0.05)
        self.kill()
        raise KvmtunedError(f'kvmtuned did not serve within {timeout}s:\n' + self.log_tail())

    def wait_ledger_ready(self, timeout=30):
        """Waits until `kvmtune status` says the ledger is rebuilt and the
        libvirt connection is up (defines are refused until then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                d = self.status().get('daemon', {})
                if d.get('ledger_ready') and d.get('libvirt_connected'):
                    return True
            except (KvmtunedError, ValueError, subprocess.TimeoutExpired):
                pass
            time.sleep(0.05)
        return False

    def wait_serving(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run([VIRSH, '-q', '-c', self.uri, 'list', '--all'],
                               capture_output=True, text=True, timeout=30)
            if r.returncode == 0:
                return True
            time.sleep(0.2)
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self.proc = None
                return None
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill(self):
        """kill -9, as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def restart(self, timeout=30):
        self.stop()
        return self.start(timeout)

    def rss_kib(self):
        with open(f'/proc/{self.pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
        return None

    def anon_kib(self):
        """Anonymous memory (smaps_rollup): where a leak shows.  RSS also
        counts library pages that code paths run for the first time fault in."""
        with open(f'/proc/{self.pid}/smaps_rollup') as f:
            for line in f:
                if line.startswith('Anonymous:'):
                    return int(line.split()[1])
        return None

    def control_call(self, op, timeout=30, **strings):
        """One request on the control socket (nova-helper/control.h: an
        a{sv} in GVariant text per line), {'op': op, key: string...};
        returns the reply as a dict."""
        from gi.repository import GLib
        req = {k: GLib.Variant('s', v) for k, v in dict(strings, op=op).items()}
        line = GLib.Variant('a{sv}', req).print_(True) + '\n'
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sk:
            sk.settimeout(timeout)
            sk.connect(self.control)
            sk.sendall(line.encode())
            buf = b''
            while not buf.endswith(b'\n'):
                chunk = sk.recv(65536)
                if not chunk:
                    break
                buf += chunk
        return GLib.Variant.parse(GLib.VariantType('a{sv}'), buf.decode(), None, None).unpack()

    def cpu_seconds(self):
        """User + system CPU time kvmtuned has used."""
        with open(f'/proc/{self.pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')

    def log_tail(self, n=30):
        try:
            with open(self.log, errors='replace') as f:
                return ''.join(f.readlines()[-n:])
        except OSError:
            return '(no log)'

    def status(self, json_out=True, timeout=30):
        """`kvmtune status --control ... [--json]`: dict (json) or text."""
        if not self.cli:
            raise KvmtunedError('kvmtune CLI is not built')
        argv = [self.cli, 'status', '--control', self.control]
        if json_out:
            argv.append('--json')
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise KvmtunedError(f'kvmtune status failed ({r.returncode}): {r.stderr.strip()}')
        return json.loads(r.stdout) if json_out else r.stdout

    def cleanup(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except Exception:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.stop()
        if exc[0] is not None:
            sys.stderr.write('kvmtuned log tail:\n' + self.log_tail())
        shutil.rmtree(self.dir, ignore_errors=True)


# --- policies ---------------------------------------------------------------------

def live_policy(hugepages_2m=0, allow_uids=(0,), allow_gids=(0,)):
    """A policy for this machine (sysroot '/'): CPU 0 is the shared pool
    (host and emulator threads), CPU 1 the only dedicated CPU, whatever the
    machine's size (any others are reserved), so that capacity checks mean
    the same everywhere.  Profiles: 'pinned' (dedicated vCPUs, 2M hugepages
    when reserved), 'general' (shared)."""
    ncpu = os.cpu_count() or 1
    reserved = f'  reserved_cpus: "2-{ncpu - 1}"\n' if ncpu > 3 else (
        '  reserved_cpus: "2"\n' if ncpu == 3 else '')
    mem = '    memory: {hugepages: 2M}\n' if hugepages_2m else ''
    huge = (f'  hugepages: [{{size: 2M, per_node: {hugepages_2m}}}]\n'
            if hugepages_2m else '')
    uids = ', '.join(str(u) for u in allow_uids)
    gids = ', '.join(str(g) for g in allow_gids)
    return f"""\
# e2e policy for the live {ncpu}-CPU test machine
host:
  shared_cpus: "0"
  dedicated_cpus: "1"
{reserved}{huge}daemon:
  allow_uids: [{uids}]
  allow_gids: [{gids}]
profiles:
  pinned:
    cpu: {{policy: dedicated, threads: prefer, emulator: share}}
    numa: {{nodes: 1}}
{mem}  general:
    cpu: {{policy: shared}}
match:
  - {{flavor: "e2e.pinned*", profile: pinned}}
  - {{name: "kt-pinned-*", profile: pinned}}
  - {{flavor: "general.*", profile: general}}
  - {{default: none}}
"""


def reference_policy(allow_uids=(0,)):
    """A policy for the `reference` fixture (2 x 56 x 2 CPUs) used by tests
    that only define domains (never start them)."""
    uids = ', '.join(str(u) for u in allow_uids)
    return f"""\
# e2e policy for tests/fixtures/hosts/reference (define-only tests)
host:
  reserved_cpus: "0-1,112-113"
  shared_cpus: "2-27,114-139"
  dedicated_cpus: "28-111,140-223"
daemon:
  allow_uids: [{uids}]
profiles:
  db:
    cpu: {{policy: dedicated, threads: prefer, emulator: share}}
    numa: {{nodes: 1}}
  general:
    cpu: {{policy: shared}}
match:
  - {{flavor: "db.*", profile: db}}
  - {{flavor: "general.*", profile: general}}
  - {{default: none}}
"""


def fixture(name):
    return os.path.join(SOURCE_ROOT, 'tests', 'fixtures', 'hosts', name)


# --- Nova's XML -----------------------------------------------------------------

def nova_xml(name, flavor, vcpus, memory_mib, uuid=None, virt_type='qemu',
             graphics=True, disk=None):
    """A domain XML built with nova.virt.libvirt.config the way Nova's
    libvirt driver builds one for virt_type=qemu (flavor metadata, smbios
    sysinfo, clock timers, serial console, VNC, balloon).  Returns
    (uuid, xml).  Without python3-nova: the same document from a template
    (only the Nova client test needs Nova itself)."""
    uuid = uuid or str(uuidlib.uuid4())
    try:
        from nova.virt.libvirt import config as vconfig
    except ImportError:
        return uuid, _nova_like_xml(name, flavor, vcpus, memory_mib, uuid, virt_type,
                                    graphics, disk)
    g = vconfig.LibvirtConfigGuest()
    g.virt_type = virt_type
    g.name = name
    g.uuid = uuid
    g.memory = memory_mib * 1024
    g.vcpus = vcpus
    g.os_type = 'hvm'
    g.os_boot_dev = ['hd']
    g.os_smbios = vconfig.LibvirtConfigGuestSMBIOS()

    g.metadata.append(nova_parts.instance_meta(
        f'vm-{name}', flavor, vcpus, memory_mib, '26.2.2', time.time(), 0,
        ('e2e-user', 'e2e', 'e2e-project', 'e2e')))
    g.sysinfo = nova_parts.sysinfo(uuid, '26.2.2')

    g.features.append(vconfig.LibvirtConfigGuestFeatureACPI())
    g.features.append(vconfig.LibvirtConfigGuestFeatureAPIC())

    clk = vconfig.LibvirtConfigGuestClock()
    clk.offset = 'utc'
    nova_parts.add_timers(clk)
    g.set_clock(clk)

    if disk:
        g.add_device(nova_parts.file_disk(disk))

    serial = vconfig.LibvirtConfigGuestSerial()
    serial.type = 'pty'
    g.add_device(serial)
    if graphics:
        inp = vconfig.LibvirtConfigGuestInput()
        inp.type = 'tablet'
        inp.bus = 'usb'
        g.add_device(inp)
        nova_parts.add_vnc_video(g, '127.0.0.1', 'cirrus')
    g.add_device(nova_parts.balloon())
    return uuid, g.to_xml()


def _nova_like_xml(name, flavor, vcpus, memory_mib, uuid, virt_type, graphics, disk):
    disk_xml = (f"""    <disk type="file" device="disk">
      <driver name="qemu" type="qcow2" cache="none"/>
      <source file="{disk}"/>
      <target dev="vda" bus="virtio"/>
    </disk>
""" if disk else '')
    gfx = ("""    <input type="tablet" bus="usb"/>
    <graphics type="vnc" autoport="yes" listen="127.0.0.1"/>
    <video>
      <model type="cirrus"/>
    </video>
""" if graphics else '')
    return f"""<domain type="{virt_type}">
  <uuid>{uuid}</uuid>
  <name>{name}</name>
  <memory>{memory_mib * 1024}</memory>
  <vcpu>{vcpus}</vcpu>
  <metadata>
    <nova:instance xmlns:nova="{NOVA_NS}">
      <nova:package version="26.2.2"/>
      <nova:name>vm-{name}</nova:name>
      <nova:creationTime>{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())}</nova:creationTime>
      <nova:flavor name="{flavor}">
        <nova:memory>{memory_mib}</nova:memory>
        <nova:disk>0</nova:disk>
        <nova:swap>0</nova:swap>
        <nova:ephemeral>0</nova:ephemeral>
        <nova:vcpus>{vcpus}</nova:vcpus>
      </nova:flavor>
      <nova:owner>
        <nova:user uuid="e2e-user">e2e</nova:user>
        <nova:project uuid="e2e-project">e2e</nova:project>
      </nova:owner>
    </nova:instance>
  </metadata>
  <sysinfo type="smbios">
    <system>
      <entry name="manufacturer">OpenStack Foundation</entry>
      <entry name="product">OpenStack Nova</entry>
      <entry name="version">26.2.2</entry>
      <entry name="serial">{uuid}</entry>
      <entry name="uuid">{uuid}</entry>
      <entry name="family">Virtual Machine</entry>
    </system>
  </sysinfo>
  <os>
    <type>hvm</type>
    <boot dev="hd"/>
    <smbios mode="sysinfo"/>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <clock offset="utc">
    <timer name="pit" tickpolicy="delay"/>
    <timer name="rtc" tickpolicy="catchup"/>
    <timer name="hpet" present="no"/>
  </clock>
  <devices>
{disk_xml}    <serial type="pty"/>
{gfx}    <memballoon model="virtio">
      <stats period="10"/>
    </memballoon>
  </devices>
</domain>
"""


def plain_xml(name, vcpus=1, memory_mib=64, uuid=None):
    """A small non-Nova domain (no flavor metadata)."""
    uuid = uuid or str(uuidlib.uuid4())
    return uuid, f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>{vcpus}</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices><memballoon model='none'/></devices>
</domain>
"""


# --- reading results back ----------------------------------------------------------

def parse_cpuset(text):
    """libvirt cpuset syntax ("0-3,^2,8") to a set of ints."""
    cpus = set()
    neg = set()
    for part in (text or '').split(','):
        part = part.strip()
        if not part:
            continue
        target = cpus
        if part.startswith('^'):
            target = neg
            part = part[1:]
        if '-' in part:
            a, b = part.split('-', 1)
            target.update(range(int(a), int(b) + 1))
        else:
            target.add(int(part))
    return cpus - neg


def placement_of(xml):
    """The <kvmtune:placement> element of a domain XML (ElementTree) or None."""
    root = ET.fromstring(xml)
    md = root.find('metadata')
    if md is None:
        return None
    return md.find(f'{{{KT_NS}}}placement')


def pins_of(xml):
    """(vcpu -> set of CPUs, emulator set or None) from <cputune>."""
    root = ET.fromstring(xml)
    vcpus = {}
    emu = None
    ct = root.find('cputune')
    if ct is not None:
        for p in ct.findall('vcpupin'):
            vcpus[int(p.get('vcpu'))] = parse_cpuset(p.get('cpuset'))
        e = ct.find('emulatorpin')
        if e is not None:
            emu = parse_cpuset(e.get('cpuset'))
    return vcpus, emu


def validate_xml(xml, kind='domain'):
    """virt-xml-validate on a string; returns (ok, output)."""
    tool = shutil.which('virt-xml-validate')
    if not tool:
        return True, 'virt-xml-validate not installed'
    with tempfile.NamedTemporaryFile('w', suffix='.xml', delete=False) as f:
        f.write(xml)
        path = f.name
    try:
        r = subprocess.run([tool, path, kind], capture_output=True, text=True)
        return r.returncode == 0, (r.stdout + r.stderr).strip()
    finally:
        os.unlink(path)


def validate_all(xmls):
    """virt-xml-validate on every XML of {key: xml} that carries a
    placement (what kvmtune rewrote); returns [(key, output)] of failures."""
    bad = []
    for key, xml in xmls.items():
        if placement_of(xml) is None:
            continue
        ok, out = validate_xml(xml)
        if not ok:
            bad.append((key, out))
    return bad


def qemu_pid(name):
    """pid of the QEMU process running domain @name (found by its -name)."""
    pat = re.compile(rb'(^|\0)guest=' + re.escape(name.encode()) + rb'(,|\0)')
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open(f'/proc/{p}/cmdline', 'rb') as f:
                cmd = f.read()
        except OSError:
            continue
        if b'qemu-system' in cmd.split(b'\0', 1)[0] and pat.search(cmd):
            return int(p)
    return None


def thread_affinities(pid):
    """{comm: set of CPUs} for every thread of @pid (sched_getaffinity)."""
    out = {}
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{tid}/comm') as f:
                comm = f.read().strip()
            out.setdefault(comm, []).append((int(tid), os.sched_getaffinity(int(tid))))
        except OSError:
            pass
    return out
