#!/usr/bin/python3
"""test-pve-hook: the Proxmox hookscript phases and pve-apply, end to end
through the real `kvmtune` binary (and the shipped hooks/proxmox/kvmtune
snippet), on a fake Proxmox tree in a temp directory.

post-start pins a real process: fake-qemu starts threads named "CPU n/KVM"
and others, and the test reads each thread's real affinity back from
/proc/<pid>/task/<tid>/status.  The placement runs against the live host
("/"): the policy below makes the second CPU this process may use the
dedicated pool and the first one the shared pool, so on this 2-CPU machine
vCPU 0 -> CPU 1 and the emulator threads -> CPU 0.

Usage: test-pve-hook.py KVMTUNE FAKE_QEMU   (prints TAP)
"""
import os
import shutil
import subprocess
import sys
import tempfile

KVMTUNE, FAKE_QEMU = sys.argv[1], sys.argv[2]
SRC = os.environ.get("KT_SOURCE_ROOT",
                     os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
HOOKSCRIPT = os.path.join(SRC, "hooks", "proxmox", "kvmtune")

def own_cpus():
    return sorted(os.sched_getaffinity(0))


SHARED_CPU, DEDICATED_CPU = (str(c) for c in (own_cpus() + [None, None])[:2])
# The affinity pve-apply writes: both CPUs, in cpuset syntax.
BOTH_CPUS = ("%s-%s" if len(own_cpus()) > 1 and own_cpus()[1] == own_cpus()[0] + 1
             else "%s,%s") % (SHARED_CPU, DEDICATED_CPU)

LIVE_POLICY = """\
host:
  reserved_cpus: ""
  dedicated_cpus: "%s"
  shared_cpus: "%s"
profiles:
  pin:
    cpu: {policy: dedicated, emulator: share}
  float:
    cpu: {policy: shared}
  pages:
    cpu: {policy: shared}
    memory: {hugepages: 2M}
match:
  - {name: "float-*", profile: float}
  - {default: none}
""" % (DEDICATED_CPU, SHARED_CPU)

PAGES_POLICY = """\
host:
  dedicated_cpus: "%s"
  shared_cpus: "%s"
  hugepages: [{size: 2M, per_node: 512}]
profiles:
  pages:
    cpu: {policy: shared}
    memory: {hugepages: 2M}
match:
  - {default: none}
""" % (DEDICATED_CPU, SHARED_CPU)

DB_CONF = """\
#Test database VM.
#Owner%3A dba
boot: order=scsi0;net0
cores: 1
cpu: host
memory: 256
name: db-test
net0: virtio=BC:24:11:5E:7A:01,bridge=vmbr0,firewall=1
numa: 0
ostype: l26
scsi0: local-lvm:vm-{vmid}-disk-0,size=8G
scsihw: virtio-scsi-single
smbios1: uuid=6f1c1f0e-3d1e-4c52-9d8e-2b9a4b1f7c{vmid}
sockets: 1
tags: kvmtune-pin;prod

[PENDING]
delete: ostype
onboot: 1

[before-upgrade]
#snapshot comment
cores: 2
memory: 512
snaptime: 1712400000
"""

results = []


def tap(ok, name, diag=""):
    results.append(ok)
    print("%s %d - %s" % ("ok" if ok else "not ok", len(results), name))
    if diag and not ok:
        for line in str(diag).splitlines():
            print("# " + line)
    sys.stdout.flush()


class Host:
    """A fake Proxmox node: /etc/pve, /var/run, state dir, lock dir."""

    def __init__(self, root, policy, sysroot="/"):
        self.root = root
        self.pve = os.path.join(root, "pve")
        self.run = os.path.join(root, "run")
        self.state = os.path.join(root, "state")
        self.lock = os.path.join(root, "lock")
        self.policy = os.path.join(root, "policy.yaml")
        self.sysroot = sysroot
        os.makedirs(os.path.join(self.pve, "qemu-server"))
        os.makedirs(os.path.join(self.run, "qemu-server"))
        with open(self.policy, "w") as f:
            f.write(policy)

    def conf_path(self, vmid):
        return os.path.join(self.pve, "qemu-server", "%d.conf" % vmid)

    def write_conf(self, vmid, text):
        with open(self.conf_path(vmid), "w") as f:
            f.write(text)

    def read_conf(self, vmid):
        with open(self.conf_path(vmid), "rb") as f:
            return f.read()

    def options(self):
        return ["--pve-root", self.pve, "--run-dir", self.run, "--state-dir", self.state,
                "--lock-dir", self.lock, "--policy", self.policy, "--sysroot", self.sysroot]

    def kvmtune(self, *args):
        cmd = [KVMTUNE, args[0]] + self.options() + list(args[1:])
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    def hook(self, vmid, phase):
        return self.kvmtune("pve-hook", str(vmid), phase)

    def bookings(self):
        """Every booking file and its bytes (the lock file is not one)."""
        out = {}
        if os.path.isdir(self.state):
            for name in sorted(os.listdir(self.state)):
                if name.endswith(".xml"):
                    with open(os.path.join(self.state, name), "rb") as f:
                        out[name] = f.read()
        return out


def thread_affinity(pid):
    """{comm: [Cpus_allowed_list, ...]} of every thread of @pid."""
    out = {}
    for tid in sorted(os.listdir("/proc/%d/task" % pid), key=int):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            comm = f.read().rstrip("\n")
        with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
            allowed = [l.split(":", 1)[1].strip() for l in f if l.startswith("Cpus_allowed_list:")]
        out.setdefault(comm, []).append(allowed[0])
    return out


class FakeQemu:
    def __init__(self, host, vmid, vcpus, pid_vmid=None):
        pidfile = os.path.join(host.run, "qemu-server", "%d.pid" % vmid)
        self.proc = subprocess.Popen(
            [FAKE_QEMU, "-name", "vm%d,debug-threads=on" % vmid,
             "-id", str(pid_vmid if pid_vmid is not None else vmid),
             "-pidfile", pidfile, "-vcpus", str(vcpus)],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()   # blocks until threads are named
        if line.strip() != "ready":
            raise RuntimeError("fake-qemu did not start")
        self.pid = self.proc.pid

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def own_cpu_list():
    """This process's Cpus_allowed_list: what an unpinned thread shows."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":", 1)[1].strip()
    return ""


def test_live_pinning(tmp):
    host = Host(os.path.join(tmp, "live"), LIVE_POLICY)
    host.write_conf(100, DB_CONF.replace("{vmid}", "100"))
    before = host.bookings()

    r = host.hook(100, "pre-start")
    tap(r.returncode == 0 and "profile pin (tag 'kvmtune-pin')" in r.stdout
        and "vCPUs 0->%s, emulator %s" % (DEDICATED_CPU, SHARED_CPU) in r.stdout,
        "pre-start books vCPU 0 on CPU %s, emulator on CPU %s" % (DEDICATED_CPU, SHARED_CPU),
        r.stdout + r.stderr)
    tap(list(host.bookings()) == ["100.xml"] and
        ('<kvmtune:vcpu id="0" cpus="%s"/>' % DEDICATED_CPU).encode()
        in host.bookings().get("100.xml", b""),
        "the booking is one file, 100.xml, holding the placement",
        repr(host.bookings()))

    qemu = FakeQemu(host, 100, vcpus=1)
    try:
        start = thread_affinity(qemu.pid)
        tap(all(v == [own_cpu_list()] for v in start.values()),
            "fake-qemu threads start unpinned", repr(start))
        r = host.hook(100, "post-start")
        tap(r.returncode == 0 and "pinned 1 vCPU threads and 4 other threads" in r.stdout,
            "post-start reports what it pinned", r.stdout + r.stderr)
        aff = thread_affinity(qemu.pid)
        tap(aff.get("CPU 0/KVM") == [DEDICATED_CPU],
            "vCPU thread 'CPU 0/KVM' runs on CPU %s only" % DEDICATED_CPU, repr(aff))
        others = {k: v for k, v in aff.items() if k != "CPU 0/KVM"}
        tap(sorted(others) == ["IO mon_iothread", "call_rcu", "kvm", "vnc_worker"] and
            all(v == [SHARED_CPU] for v in others.values()),
            "every other QEMU thread runs on the emulator CPU %s only" % SHARED_CPU, repr(aff))
    finally:
        qemu.stop()

    r = host.hook(100, "pre-stop")
    tap(r.returncode == 0 and host.bookings() != {}, "pre-stop does nothing",
        r.stdout + r.stderr)
    r = host.hook(100, "post-stop")
    tap(r.returncode == 0 and "booking released" in r.stdout and host.bookings() == before,
        "post-stop releases: bookings exactly as before pre-start",
        r.stdout + r.stderr + repr(host.bookings()))
    r = host.hook(100, "post-stop")
    tap(r.returncode == 0 and "not booked" in r.stdout and host.bookings() == before,
        "a second post-stop changes nothing", r.stdout + r.stderr)


def test_live_shared_two_vcpus(tmp):
    host = Host(os.path.join(tmp, "shared"), LIVE_POLICY)
    host.write_conf(110, "cores: 2\nmemory: 256\nname: float-1\n")
    r = host.hook(110, "pre-start")
    tap(r.returncode == 0 and "profile float" in r.stdout and "match rule" in r.stdout,
        "a name rule of the policy picks the profile of an untagged VM", r.stdout + r.stderr)
    qemu = FakeQemu(host, 110, vcpus=2)
    try:
        r = host.hook(110, "post-start")
        aff = thread_affinity(qemu.pid)
        tap(r.returncode == 0 and aff.get("CPU 0/KVM") == [SHARED_CPU] and
            aff.get("CPU 1/KVM") == [SHARED_CPU] and
            all(v == [SHARED_CPU] for v in aff.values()),
            "shared profile: both vCPUs and QEMU's threads float on the shared CPU %s"
            % SHARED_CPU,
            r.stdout + r.stderr + repr(aff))
    finally:
        qemu.stop()
    r = host.hook(110, "post-stop")
    tap(r.returncode == 0 and host.bookings() == {}, "post-stop releases the shared VM",
        r.stdout + r.stderr)


def test_refusal(tmp):
    host = Host(os.path.join(tmp, "refuse"), LIVE_POLICY)
    host.write_conf(100, DB_CONF.replace("{vmid}", "100"))
    host.write_conf(101, DB_CONF.replace("{vmid}", "101"))
    r = host.hook(100, "pre-start")
    tap(r.returncode == 0, "first VM is placed", r.stdout + r.stderr)
    before = host.bookings()
    r = host.hook(101, "pre-start")
    lines = r.stderr.strip().splitlines()
    tap(r.returncode == 3 and len(lines) == 1 and lines[0].startswith("kvmtune: start refused:")
        and "VM 101" in lines[0] and "dedicated CPUs" in lines[0] and "free: node0 0" in lines[0],
        "second VM is refused with exit 3 and one line naming the resource",
        "rc=%d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    tap(host.bookings() == before, "refusal leaves the bookings exactly as before",
        repr(host.bookings()))

    # Proxmox applies [PENDING] after pre-start and before QEMU starts: the
    # placement is for the pending 4 cores, which this host cannot hold.
    host.write_conf(104, DB_CONF.replace("{vmid}", "104").replace(
        "onboot: 1\n", "onboot: 1\ncores: 4\n"))
    r = host.hook(104, "pre-start")
    tap(r.returncode == 3 and "needs 4 dedicated CPUs" in r.stderr and host.bookings() == before,
        "pre-start places the config of the next start ([PENDING] applied)",
        r.stdout + r.stderr)

    # Tagged with a profile the policy lacks: a clear error, nothing booked.
    host.write_conf(102, "cores: 1\nmemory: 128\ntags: kvmtune-nosuch\n")
    r = host.hook(102, "pre-start")
    tap(r.returncode == 1 and "kvmtune-nosuch" in r.stderr and host.bookings() == before,
        "an unknown profile tag is refused, bookings unchanged", r.stdout + r.stderr)

    # kvmtune-none: left alone, pre-start succeeds.
    host.write_conf(103, "cores: 1\nmemory: 128\ntags: prod;kvmtune-none\n")
    r = host.hook(103, "pre-start")
    tap(r.returncode == 0 and "no profile" in r.stdout and host.bookings() == before,
        "kvmtune-none: the VM starts untouched", r.stdout + r.stderr)

    # A pid file naming some other process: post-start refuses to pin it.
    host.write_conf(100, DB_CONF.replace("{vmid}", "100"))
    qemu = FakeQemu(host, 100, vcpus=1, pid_vmid=999)
    try:
        r = host.hook(100, "post-start")
        aff = thread_affinity(qemu.pid)
        tap(r.returncode != 0 and "not QEMU of this VM" in r.stderr and
            all(v == [own_cpu_list()] for v in aff.values()),
            "post-start never pins a process without '-id VMID'", r.stdout + r.stderr)
    finally:
        qemu.stop()

    r = host.hook(100, "post-stop")
    tap(r.returncode == 0 and host.bookings() == {}, "post-stop of the first VM empties the ledger",
        r.stdout + r.stderr)

    # A start that never reached post-stop left a booking: the next
    # pre-start of the same VM replaces it instead of counting it.
    r1 = host.hook(100, "pre-start")
    first = host.bookings()
    r2 = host.hook(100, "pre-start")
    tap(r1.returncode == 0 and r2.returncode == 0 and host.bookings() == first,
        "pre-start twice gives the same single booking", r2.stdout + r2.stderr)

    # Bookings written before this boot belong to VMs the reboot stopped.
    os.utime(os.path.join(host.state, "100.xml"), (1000, 1000))
    r = host.hook(101, "pre-start")
    tap(r.returncode == 0 and list(host.bookings()) == ["101.xml"],
        "a booking older than the boot is dropped, its CPU given again", r.stdout + r.stderr)
    host.hook(101, "post-stop")

    r = host.kvmtune("pve-hook", "100", "some-new-phase")
    tap(r.returncode == 0 and "ignored" in r.stdout, "an unknown phase is ignored, exit 0",
        r.stdout + r.stderr)
    r = host.kvmtune("pve-hook", "abc", "pre-start")
    tap(r.returncode == 1, "a malformed VMID is a usage error", r.stdout + r.stderr)


def test_concurrent_starts(tmp):
    """Eight VMs start at once and want the one dedicated CPU: the lock on
    the state directory lets exactly one of them book it."""
    host = Host(os.path.join(tmp, "race"), LIVE_POLICY)
    vmids = list(range(200, 208))
    for v in vmids:
        host.write_conf(v, DB_CONF.replace("{vmid}", str(v)))
    procs = [subprocess.Popen([KVMTUNE, "pve-hook"] + host.options() + [str(v), "pre-start"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for v in vmids]
    codes = [p.wait(timeout=60) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    booked = list(host.bookings())
    tap(sorted(codes) == [0] + [3] * 7 and len(booked) == 1 and
        booked[0] == "%d.xml" % vmids[codes.index(0)],
        "concurrent pre-starts: one VM gets the CPU, seven are refused",
        repr(codes) + repr(booked))


def test_apply_running(tmp):
    """pve-apply of a running VM writes what it has booked."""
    host = Host(os.path.join(tmp, "running"), LIVE_POLICY)
    host.write_conf(150, DB_CONF.replace("{vmid}", "150"))
    host.write_conf(151, DB_CONF.replace("{vmid}", "151"))
    r = host.hook(150, "pre-start")
    booked = host.bookings()
    r = host.kvmtune("pve-apply", "150")
    tap(r.returncode == 0 and ("vCPUs 0->%s" % DEDICATED_CPU) in r.stdout and
        b"affinity: " + BOTH_CPUS.encode() + b"\n" in host.read_conf(150) and
        host.bookings() == booked,
        "pve-apply of a running VM writes its own booking, books nothing more",
        r.stdout + r.stderr)
    r = host.kvmtune("pve-apply", "151")
    tap(r.returncode == 3 and "dedicated CPUs" in r.stderr and
        host.read_conf(151) == DB_CONF.replace("{vmid}", "151").encode(),
        "pve-apply of a VM that cannot fit next to the running one leaves it alone",
        r.stdout + r.stderr)
    host.hook(150, "post-stop")


def make_sysroot(root, hp_total, hp_free):
    """A one-node, two-CPU host like this machine, with a 2M hugepage pool
    of which only @hp_free pages are free."""
    node = os.path.join(root, "sys/devices/system/node/node0")
    cpu = os.path.join(root, "sys/devices/system/cpu")
    files = {
        "sys/devices/system/node/online": "0\n",
        "sys/devices/system/node/node0/cpulist": "0-1\n",
        "sys/devices/system/node/node0/distance": "10\n",
        "sys/devices/system/node/node0/meminfo":
            "Node 0 MemTotal:        8000000 kB\nNode 0 MemFree:         6000000 kB\n",
        "sys/devices/system/cpu/online": "0-1\n",
        "sys/devices/system/cpu/present": "0-1\n",
        "proc/cmdline": "BOOT_IMAGE=/vmlinuz root=/dev/vda1\n",
        "proc/meminfo": "MemTotal:        8000000 kB\n",
    }
    for n in (0, 1):
        files["sys/devices/system/cpu/cpu%d/topology/core_id" % n] = "%d\n" % n
        files["sys/devices/system/cpu/cpu%d/topology/physical_package_id" % n] = "0\n"
        files["sys/devices/system/cpu/cpu%d/topology/thread_siblings_list" % n] = "%d\n" % n
        files["sys/devices/system/cpu/cpu%d/online" % n] = "1\n"
    hp = "sys/devices/system/node/node0/hugepages/hugepages-2048kB/"
    files[hp + "nr_hugepages"] = "%d\n" % hp_total
    files[hp + "free_hugepages"] = "%d\n" % hp_free
    files[hp + "surplus_hugepages"] = "0\n"
    for path, text in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    os.makedirs(os.path.join(root, "sys/bus/pci/devices"), exist_ok=True)
    os.symlink("../../node/node0", os.path.join(cpu, "cpu0", "node0"))
    os.symlink("../../node/node0", os.path.join(cpu, "cpu1", "node0"))
    return node


def test_hugepage_refusal(tmp):
    sysroot = os.path.join(tmp, "sysroot")
    make_sysroot(sysroot, hp_total=512, hp_free=8)
    host = Host(os.path.join(tmp, "pages"), PAGES_POLICY, sysroot=sysroot)
    # 64 MiB = 32 x 2M pages: the policy allows 512 on node 0 (so the
    # allocator books them) but only 8 are free right now.
    host.write_conf(120, "cores: 1\nmemory: 64\nname: pages-1\ntags: kvmtune-pages\n")
    host.write_conf(121, "cores: 1\nmemory: 16\nname: pages-2\ntags: kvmtune-pages\n")
    before = host.bookings()
    r = host.hook(120, "pre-start")
    lines = r.stderr.strip().splitlines()
    tap(r.returncode == 3 and len(lines) == 1 and
        "node 0: 32 x 2M hugepages needed, 8 free" in lines[0],
        "pre-start refuses when the hugepages are not free now",
        "rc=%d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    tap(host.bookings() == before, "hugepage refusal leaves the bookings as before",
        repr(host.bookings()))
    r = host.hook(121, "pre-start")
    tap(r.returncode == 0 and "2M x 8" in r.stdout and list(host.bookings()) == ["121.xml"],
        "a VM that fits in the free pages is booked", r.stdout + r.stderr)


def test_pve_apply(tmp):
    host = Host(os.path.join(tmp, "apply"), LIVE_POLICY)
    conf = DB_CONF.replace("{vmid}", "130")
    host.write_conf(130, conf)
    mode_before = os.stat(host.conf_path(130)).st_mode

    r = host.kvmtune("pve-apply", "--dry-run", "--print", "130")
    tap(r.returncode == 0 and host.read_conf(130) == conf.encode() and
        "affinity: %s\n" % BOTH_CPUS in r.stdout,
        "--dry-run prints the new config and writes nothing", r.stdout + r.stderr)

    r = host.kvmtune("pve-apply", "130")
    new = host.read_conf(130).decode()
    want = conf.replace("#Owner%3A dba\n",
                        "#Owner%%3A dba\naffinity: %s\n" % BOTH_CPUS).replace(
        "numa: 0\n", "numa: 1\nnuma0: cpus=0,hostnodes=0,memory=256,policy=bind\n")
    tap(r.returncode == 0 and "config written" in r.stdout and new == want,
        "pve-apply writes affinity and numa0 and keeps every other byte",
        r.stdout + r.stderr + "\n--- got\n" + new + "\n--- want\n" + want)
    tap(os.stat(host.conf_path(130)).st_mode == mode_before and
        sorted(os.listdir(os.path.dirname(host.conf_path(130)))) == ["130.conf"],
        "the config keeps its mode and no temp file is left", "")
    tap(host.bookings() == {}, "pve-apply books nothing", repr(host.bookings()))

    r = host.kvmtune("pve-apply", "130")
    tap(r.returncode == 0 and "already up to date" in r.stdout and
        host.read_conf(130).decode() == want, "pve-apply twice changes nothing",
        r.stdout + r.stderr)

    # The next boot books what pve-apply wrote: the NUMA node it names.
    r = host.hook(130, "pre-start")
    tap(r.returncode == 0 and "nodes 0" in r.stdout, "pre-start after pve-apply",
        r.stdout + r.stderr)
    r = host.hook(130, "post-stop")

    host.write_conf(132, DB_CONF.replace("{vmid}", "132").replace(
        "onboot: 1\n", "affinity: 0\nonboot: 1\n"))
    r = host.kvmtune("pve-apply", "132")
    tap(r.returncode == 0 and "note: [PENDING] overrides affinity" in r.stdout,
        "pve-apply warns when [PENDING] will override a key it wrote", r.stdout + r.stderr)

    host.write_conf(131, "cores: 1\nmemory: 128\nname: plain\n")
    r = host.kvmtune("pve-apply", "131")
    tap(r.returncode == 0 and "no profile" in r.stdout and
        host.read_conf(131) == b"cores: 1\nmemory: 128\nname: plain\n",
        "pve-apply leaves a VM without a profile untouched", r.stdout + r.stderr)

    r = host.kvmtune("pve-apply", "999")
    tap(r.returncode == 1 and "999.conf" in r.stderr, "pve-apply of a missing VM names the file",
        r.stdout + r.stderr)


def test_hookscript(tmp):
    """The shipped snippet, called the way Proxmox calls it."""
    host = Host(os.path.join(tmp, "snippet"), LIVE_POLICY)
    host.write_conf(140, DB_CONF.replace("{vmid}", "140"))
    env = dict(os.environ, KVMTUNE_BIN=KVMTUNE, KVMTUNE_PVE_ROOT=host.pve,
               KVMTUNE_RUN_DIR=host.run, KVMTUNE_PVE_STATE_DIR=host.state,
               KVMTUNE_POLICY=host.policy, KVMTUNE_SYSROOT="/")
    r = subprocess.run(["/bin/sh", HOOKSCRIPT, "140", "pre-start"], env=env,
                       capture_output=True, text=True, timeout=60)
    tap(r.returncode == 0 and list(host.bookings()) == ["140.xml"],
        "hooks/proxmox/kvmtune VMID pre-start books through the environment",
        r.stdout + r.stderr)
    r = subprocess.run(["/bin/sh", HOOKSCRIPT, "140", "post-stop"], env=env,
                       capture_output=True, text=True, timeout=60)
    tap(r.returncode == 0 and host.bookings() == {}, "hooks/proxmox/kvmtune VMID post-stop releases",
        r.stdout + r.stderr)
    r = subprocess.run([KVMTUNE, "pve-hook", "--help"], capture_output=True, text=True)
    tap(r.returncode == 0 and "post-start" in r.stdout and "--state-dir" in r.stdout,
        "pve-hook --help documents the phases and options", r.stderr)


def main():
    if DEDICATED_CPU == "None":
        print("1..0 # SKIP this process may use one CPU only: nothing to pin apart")
        return 0
    tmp = tempfile.mkdtemp(prefix="kt-pve-")
    try:
        for t in (test_live_pinning, test_live_shared_two_vcpus, test_refusal,
                  test_concurrent_starts, test_hugepage_refusal, test_pve_apply,
                  test_apply_running, test_hookscript):
            try:
                t(tmp)
            except Exception as e:   # report, keep going
                tap(False, "%s raised %r" % (t.__name__, e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % len(results))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
