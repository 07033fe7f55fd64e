"""A storm of concurrent defines/undefines through kvmtuned, and the checks
that must hold after it whatever went wrong during it (kvmtuned killed,
libvirtd restarted).

Each worker has its own python-libvirt connection to the proxy and defines
Nova-style domains with unique names and UUIDs (never reused), or undefines
one of its own.  Outcomes are classified:

  ok        libvirt answered OK (through the proxy)
  refused   an error reply: libvirt's or kvmtune's (capacity)
  lost      the connection broke before a reply: libvirt may or may not
            have done it (no proxy can know); the checks only demand that
            the domain, if defined, is booked
  notsent   the connection could not be opened: nothing was sent
"""

import os
import random
import threading
import time
import xml.etree.ElementTree as ET

import kt_proxy as kp

try:
    import libvirt
except ImportError:     # callers skip
    libvirt = None

# Connection-level failures: the call may or may not have reached libvirtd.
LOST_CODES = {1, 38, 39, 5, 6}          # INTERNAL, SYSTEM, RPC, NO_CONNECT, INVALID_CONN
LOST_DOMAINS = {7, 13}                  # RPC, REMOTE


def classify(e):
    code, dom = e.get_error_code(), e.get_error_domain()
    if dom in LOST_DOMAINS and code in LOST_CODES:
        return 'lost'
    return 'refused'


class Storm:
    def __init__(self, uri, flavors, workers=8, seed=None, undefine_ratio=0.4,
                 op_timeout=60):
        self.uri = uri
        self.flavors = flavors            # [(flavor, vcpus, mib)]
        self.workers = workers
        self.rng = random.Random(seed)
        self.undefine_ratio = undefine_ratio
        self.op_timeout = op_timeout
        self.defines = []                 # (uuid, name, outcome, msg, t_end)
        self.undefines = []               # (uuid, name, outcome, msg, t_end)
        self.slow_ops = []                # ops that took longer than op_timeout
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = []
        self.current = {}                 # worker -> (op, name, t0)
        self.seq = 0

    def _open(self, wid):
        deadline = time.monotonic() + self.op_timeout
        while not self.stop_flag.is_set() and time.monotonic() < deadline:
            self.current[wid] = ('open', '', time.monotonic())
            try:
                return libvirt.open(self.uri)
            except libvirt.libvirtError:
                time.sleep(0.05)
            finally:
                self.current.pop(wid, None)
        return None

    def _name(self, wid):
        with self.lock:
            self.seq += 1
            return f'storm-{wid}-{self.seq}'

    def _worker(self, wid, rng):
        conn = None
        mine = []          # (uuid, name) this worker defined with OK
        while not self.stop_flag.is_set():
            if conn is None:
                conn = self._open(wid)
                if conn is None:
                    continue
            undefine = mine and rng.random() < self.undefine_ratio
            t0 = time.monotonic()
            if undefine:
                uuid, name = mine.pop(rng.randrange(len(mine)))
                self.current[wid] = ('undefine', name, t0)
                try:
                    conn.lookupByUUIDString(uuid).undefine()
                    out, msg = 'ok', ''
                except libvirt.libvirtError as e:
                    out, msg = classify(e), str(e)
                with self.lock:
                    self.undefines.append((uuid, name, out, msg, time.monotonic()))
                if out == 'refused' and 'not found' not in msg.lower():
                    mine.append((uuid, name))
            else:
                flavor, vcpus, mib = rng.choice(self.flavors)
                name = self._name(wid)
                uuid, xml = kp.nova_xml(name, flavor, vcpus, mib, graphics=False)
                self.current[wid] = ('define', name, t0)
                try:
                    conn.defineXML(xml)
                    out, msg = 'ok', ''
                    mine.append((uuid, name))
                except libvirt.libvirtError as e:
                    out, msg = classify(e), str(e)
                with self.lock:
                    self.defines.append((uuid, name, out, msg, time.monotonic()))
            self.current.pop(wid, None)
            dt = time.monotonic() - t0
            if dt > self.op_timeout:
                with self.lock:
                    self.slow_ops.append((name, dt))
            if out == 'lost':
                try:
                    conn.close()
                except libvirt.libvirtError:
                    pass
                conn = None
        if conn is not None:
            try:
                conn.close()
            except libvirt.libvirtError:
                pass

    def start(self):
        libvirt.registerErrorHandler(lambda *a: None, None)
        for w in range(self.workers):
            rng = random.Random(self.rng.random())
            th = threading.Thread(target=self._worker, args=(w, rng), daemon=True)
            th.start()
            self.threads.append(th)

    def stop(self, timeout=90):
        """Stops the workers; returns descriptions of those that hung (an
        OS thread still blocked in a call)."""
        self.stop_flag.set()
        hung = []
        self.vanished = []
        deadline = time.monotonic() + timeout
        for th in self.threads:
            while th.is_alive() and time.monotonic() < deadline:
                th.join(0.5)
                # python-libvirt sometimes loses a thread at the OS level
                # without Python noticing (is_alive stays true): not a hang.
                if th.is_alive() and not os.path.exists(f'/proc/self/task/{th.native_id}'):
                    self.vanished.append(th.name)
                    break
            if th.is_alive() and th.name not in self.vanished:
                hung.append(th.name)
        now = time.monotonic()
        return hung + [f'worker {w} stuck in {op} {name} for {now - t0:.0f} s'
                       for w, (op, name, t0) in list(self.current.items())
                       if self.threads[w].name not in self.vanished]

    def counts(self):
        c = {}
        for kind, lst in (('define', self.defines), ('undefine', self.undefines)):
            for rec in lst:
                c[f'{kind} {rec[2]}'] = c.get(f'{kind} {rec[2]}', 0) + 1
        return c


# --- what libvirt holds, and what the ledger should be ---------------------------

def node_cpus(sysroot):
    """{node: set of CPUs} from a sysfs tree."""
    base = os.path.join(sysroot, 'sys', 'devices', 'system', 'node')
    out = {}
    for d in sorted(os.listdir(base)):
        if d.startswith('node') and d[4:].isdigit():
            with open(os.path.join(base, d, 'cpulist')) as f:
                out[int(d[4:])] = kp.parse_cpuset(f.read().strip())
    return out


def libvirt_domains(lv):
    """{uuid: xml} of every domain, read on a direct connection."""
    conn = libvirt.open(lv.uri)
    try:
        return {d.UUIDString(): d.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
                for d in conn.listAllDomains()}
    finally:
        conn.close()


def ledger_from_xml(domains, sysroot):
    """What the ledger must hold, computed from the domains' XML alone:
    ({node: dedicated CPUs booked}, {node: shared vCPUs}, {node: memory KiB},
    set of placed uuids, list of problems (double bookings, pins outside
    their booking, a placement without pins))."""
    nodes = node_cpus(sysroot)
    cpu_node = {c: n for n, cs in nodes.items() for c in cs}
    ded = {n: set() for n in nodes}
    shared = {n: 0 for n in nodes}
    mem = {n: 0 for n in nodes}
    placed = set()
    problems = []
    owner = {}
    ns = {'k': kp.KT_NS}
    for uuid, xml in domains.items():
        pl = kp.placement_of(xml)
        if pl is None:
            continue
        placed.add(uuid)
        cpus = pl.find('k:cpus', ns)
        numa = pl.find('k:numa', ns)
        pnodes = sorted(kp.parse_cpuset(numa.get('nodes'))) if numa is not None else []
        vpins, _ = kp.pins_of(xml)
        if cpus is not None and cpus.get('policy') == 'dedicated':
            booked = kp.parse_cpuset(cpus.get('booked'))
            for c in booked:
                if c in owner:
                    problems.append(f'CPU {c} booked by {owner[c]} and {uuid}')
                owner[c] = uuid
                ded[cpu_node[c]].add(c)
            for v, s in vpins.items():
                if not s <= booked:
                    problems.append(f'{uuid}: vcpu {v} pinned to {sorted(s)} outside its booking')
            if len(vpins) != int(cpus.get('vcpus', '0')):
                problems.append(f'{uuid}: {len(vpins)} vcpupins for {cpus.get("vcpus")} vCPUs')
        elif cpus is not None and cpus.get('policy') == 'shared':
            n = int(cpus.get('vcpus', '0'))
            for i, node in enumerate(pnodes):
                shared[node] += n // len(pnodes) + (1 if i < n % len(pnodes) else 0)
        cells = pl.findall('k:cell', ns)
        if cells:
            for c in cells:
                mem[int(c.get('node'))] += int(c.get('memory'))
        else:
            m = pl.find('k:memory', ns)
            if m is not None and pnodes:
                size = int(m.get('size'))
                for node in pnodes:
                    mem[node] += size // len(pnodes)
    return ded, shared, mem, placed, problems


def compare_ledger(status, domains, sysroot):
    """Differences between `kvmtune status --json` and the ledger computed
    from libvirt's XML (empty list: equal)."""
    ded, shared, mem, placed, problems = ledger_from_xml(domains, sysroot)
    diffs = list(problems)
    eng = status.get('engine') or {}
    booked = {d['uuid'] for d in eng.get('domains', []) if d.get('state') == 'committed'}
    pending = [d['uuid'] for d in eng.get('domains', []) if d.get('state') != 'committed']
    if pending:
        diffs.append(f'pending bookings left: {pending}')
    if booked != placed:
        diffs.append(f'ledger has {len(booked)} bookings, libvirt {len(placed)} placed domains; '
                     f'only in ledger: {sorted(booked - placed)[:5]}, '
                     f'only in libvirt: {sorted(placed - booked)[:5]}')
    for n in eng.get('nodes', []):
        i = n['id']
        if n['dedicated_cpus']['booked'] != len(ded.get(i, ())):
            diffs.append(f'node {i}: ledger {n["dedicated_cpus"]["booked"]} dedicated CPUs '
                         f'booked, libvirt {len(ded.get(i, ()))}')
        if n['shared']['vcpus_booked'] != shared.get(i, 0):
            diffs.append(f'node {i}: ledger {n["shared"]["vcpus_booked"]} shared vCPUs, '
                         f'libvirt {shared.get(i, 0)}')
        if n['memory_kib']['booked'] != mem.get(i, 0):
            diffs.append(f'node {i}: ledger {n["memory_kib"]["booked"]} KiB memory, '
                         f'libvirt {mem.get(i, 0)}')
    return diffs


def outcome_problems(storm, domains):
    """Storm outcomes that contradict libvirt's final state."""
    present = set(domains)
    problems = []
    undefined_ok = {u for u, _, out, _, _ in storm.undefines if out == 'ok'}
    undefine_tried = {u for u, _, _, _, _ in storm.undefines}
    for uuid, name, out, msg, _ in storm.defines:
        if out == 'ok' and uuid not in undefine_tried and uuid not in present:
            problems.append(f'{name}: define got OK but the domain is not defined')
        if out == 'refused' and uuid in present:
            problems.append(f'{name}: define got an error ({msg}) but the domain is defined')
    for uuid in undefined_ok:
        if uuid in present:
            problems.append(f'{uuid}: undefine got OK but the domain is still defined')
    return problems


def history(storm, uuids):
    """Storm records of some uuids, for diagnostics."""
    out = []
    for u in uuids:
        recs = [('define',) + r[2:4] + (round(r[4], 2),) for r in storm.defines if r[0] == u]
        recs += [('undefine',) + r[2:4] + (round(r[4], 2),) for r in storm.undefines
                 if r[0] == u]
        out.append(f'{u}: {recs}')
    return out


def lost_defined(storm, domains):
    """(lost defines, of which defined in the end)."""
    lost = [u for u, _, out, _, _ in storm.defines if out == 'lost']
    return len(lost), sum(1 for u in lost if u in domains)


def parse_xml_ok(xml):
    try:
        ET.fromstring(xml)
        return True
    except ET.ParseError:
        return False
