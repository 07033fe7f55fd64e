#!/usr/bin/python3
"""kvmtuned proxy benchmarks, each against direct libvirtd in the same run.

  define+undefine p50/p99   proxy with rewrite <= 1.10x direct;
                            no matching profile <= 1.05x
  10,000 small calls        throughput >= 0.95x direct, added p99 <= 50 us
  storm, 2,240 defines      16 concurrent clients, wall <= 1.10x direct
  ledger rebuild            2,240 defined domains, < 1 s
  kvmtuned RSS              2,240 domains booked, < 30 MB
  soak                      anonymous memory growth over 10,000
                            define+undefine cycles after the storm, < 1 MiB

Beside bare libvirtd, each figure is also measured against the floor the
design itself sets on this machine: relay-floor (a blind byte relay, the
cheapest possible proxy) with one passive lifecycle-event listener on
libvirtd (kvmtuned must hear other clients' defines) and, for the rewrite,
kvmtuned's rewritten XML.  Where that floor is already above a target, no
proxy can meet the target here, and the output says so.

Domains are defined, never started, on the `reference` fixture with a
policy whose shared pool spans both nodes (2,240 one-vCPU VMs fit).
Prints every figure and its ratio; a missed target prints MISSED and does
not fail the run (only a crash does).
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import kt_proxy as kp  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument('--build', default=None)
ap.add_argument('--quick', action='store_true', help='fewer iterations (smoke)')
ap.add_argument('--relay-floor', default=None, help='the relay-floor program (tests/bench)')
args = ap.parse_args()
if args.build:
    os.environ['KT_BUILD_ROOT'] = os.path.abspath(args.build)

kp.require_root_and_tools()
RELAY_FLOOR = args.relay_floor or os.path.join(kp.build_root(), 'tests', 'bench', 'relay-floor')
if not os.access(RELAY_FLOOR, os.X_OK):
    RELAY_FLOOR = None
if not kp.binary('kvmtuned') or not kp.binary('kvmtune'):
    kp.skip('kvmtuned / kvmtune are not built')
if not os.path.isdir(kp.fixture('reference')):
    kp.skip('tests/fixtures/hosts/reference is missing')
try:
    import libvirt
except ImportError:
    kp.skip('python3-libvirt missing')

N_DEF = 100 if args.quick else 400
N_SMALL = 2000 if args.quick else 10000
N_STORM = 2240
# storms per path: one storm's wall varies by up to 10% here from run to run
STORM_ROUNDS = 2 if args.quick else 4
N_SOAK = 2000 if args.quick else 10000
CLIENTS = 16

POLICY = """\
host:
  reserved_cpus: "0-1,112-113"
  shared_cpus: "2-55,56-111,114-167,168-223"
  cpu_allocation_ratio: 12.0
daemon:
  allow_uids: [0]
profiles:
  general: {cpu: {policy: shared}}
match:
  - {flavor: "general.*", profile: general}
  - {default: none}
"""

t = kp.Tap()
missed = []


def proc_cpu_seconds(pid):
    """utime + stime of a process, all threads (/proc/PID/stat)."""
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def report(name, value, unit, ratio=None, target=None, ok=None):
    s = f'{name}: {value:.3f} {unit}' if isinstance(value, float) else f'{name}: {value} {unit}'
    if ratio is not None:
        s += f'  ratio {ratio:.3f}x'
    if target:
        s += f'  (target {target})'
    if ok is False:
        s += '  MISSED'
        missed.append(name)
    # A figure is an 'ok' line so that `meson test --verbose` shows it; a
    # missed target says MISSED but does not fail the run.
    t.ok(True, s)


def define_undefine(conn, xmls):
    """Latencies (s) of defineXML+undefine for each XML."""
    lat = []
    for x in xmls:
        t0 = time.perf_counter()
        d = conn.defineXML(x)
        d.undefine()
        lat.append(time.perf_counter() - t0)
    return lat


class EventListener:
    """A process registered for domain lifecycle events on libvirtd, doing
    nothing with them: what kvmtuned's own connection costs libvirtd."""
    CODE = ('import libvirt, sys\n'
            'libvirt.virEventRegisterDefaultImpl()\n'
            'c = libvirt.open(sys.argv[1])\n'
            'c.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,'
            ' lambda *a: None, None)\n'
            'print("ready", flush=True)\n'
            'while True:\n'
            '    libvirt.virEventRunDefaultImpl()\n')

    def __init__(self, uri):
        self.uri = uri

    def __enter__(self):
        self.proc = subprocess.Popen(['/usr/bin/python3', '-c', self.CODE, self.uri],
                                     stdout=subprocess.PIPE, text=True)
        self.proc.stdout.readline()
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


class RelayFloor:
    """relay-floor in front of libvirtd: the cheapest proxy there is."""

    def __init__(self, lv):
        self.sock = os.path.join(lv.dir, 'relay-floor.sock')
        self.uri = f'qemu+unix:///system?socket={self.sock}'
        self.upstream = lv.sock

    def __enter__(self):
        self.proc = subprocess.Popen([RELAY_FLOOR, self.sock, self.upstream],
                                     stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != 'ready':
            raise RuntimeError('relay-floor did not start')
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()
        os.unlink(self.sock)


def floor_note(name, floor_ratio, target):
    if floor_ratio > target:
        t.diag(f'{name}: the floor alone is {floor_ratio:.3f}x, above the {target:.2f}x '
               'target: no proxy that hears lifecycle events can meet it on this machine')


libvirt.registerErrorHandler(lambda *a: None, None)
sysroot = kp.fixture('reference')
t.diag('load average %.2f %.2f %.2f on %d CPUs (client, kvmtuned and libvirtd share them)'
       % (*os.getloadavg(), os.cpu_count()))

with kp.Sandbox() as lv:
    with kp.Kvmtuned(lv, POLICY, sysroot=sysroot) as kt:
        direct = libvirt.open(lv.uri)
        proxy = libvirt.open(kt.uri)

        # The direct baselines run with kvmtuned stopped: a running kvmtuned
        # reacts to every define by another client (lifecycle event, XML
        # lookup), which would slow the baseline and flatter the ratio.
        def kvmtuned_off():
            global proxy
            proxy.close()
            kt.stop()

        def kvmtuned_on():
            global proxy
            kt.start(timeout=120)
            proxy = libvirt.open(kt.uri)

        # --- define+undefine ------------------------------------------------------
        def tuned_xmls(prefix, n=N_STORM):
            """The storm's domains as kvmtuned hands them to libvirtd: one Nova
            XML rewritten by `kvmtune rewrite` with the same policy and host,
            each copy given its own name and UUID."""
            uuid, x = kp.nova_xml(f'{prefix}-tmpl', 'general.small', 1, 64, graphics=False)
            r = subprocess.run([kp.binary('kvmtune'), 'rewrite', '--policy', kt.policy,
                                '--sysroot', sysroot, '-'], input=x, capture_output=True,
                               text=True, check=True)
            out = []
            for i in range(n):
                u = '6f1e2d3c-4b5a-4978-8a1b-%012x' % (0x20000 + i)
                out.append(r.stdout.replace(uuid, u).replace(f'{prefix}-tmpl', f'{prefix}-{i}'))
            return out

        def xmls(prefix, flavor, n):
            return [kp.nova_xml(f'{prefix}-{i}', flavor, 1, 64, graphics=False)[1]
                    for i in range(n)]
        warm = xmls('warm', 'general.small', 20)
        define_undefine(direct, warm)
        define_undefine(proxy, warm)
        res = {'direct': [], 'listened': [], 'tuned': [], 'rewrite': [], 'nomatch': [],
               'relay': [], 'floor-nomatch': [], 'floor-rewrite': []}
        # Interleaved in rounds so drift hits every path alike.
        rounds = 4
        for r in range(rounds):
            n = N_DEF // rounds
            kvmtuned_off()
            define_undefine(direct, warm)
            res['direct'] += define_undefine(direct, xmls(f'd{r}', 'general.small', n))
            # direct again with one passive lifecycle-event listener, the
            # part of kvmtuned's cost the design fixes (it must hear other
            # clients' defines), apart from what the proxy path adds
            with EventListener(lv.uri):
                res['listened'] += define_undefine(direct, xmls(f'l{r}', 'general.small', n))
                # ... and with the XML kvmtuned would have sent instead
                res['tuned'] += define_undefine(direct, tuned_xmls(f't{r}', n))
                if RELAY_FLOOR:
                    # the floor: the same through the cheapest possible proxy
                    with RelayFloor(lv) as rf:
                        fc = libvirt.open(rf.uri)
                        res['floor-nomatch'] += define_undefine(
                            fc, xmls(f'fn{r}', 'general.small', n))
                        res['floor-rewrite'] += define_undefine(fc, tuned_xmls(f'fr{r}', n))
                        fc.close()
            if RELAY_FLOOR:
                with RelayFloor(lv) as rf:
                    fc = libvirt.open(rf.uri)
                    res['relay'] += define_undefine(fc, xmls(f'fb{r}', 'general.small', n))
                    fc.close()
            kvmtuned_on()
            define_undefine(proxy, warm)
            res['rewrite'] += define_undefine(proxy, xmls(f'r{r}', 'general.small', n))
            res['nomatch'] += define_undefine(proxy, xmls(f'n{r}', 'm1.small', n))
        d50, d99 = pct(res['direct'], 50), pct(res['direct'], 99)
        report('define+undefine direct p50', d50 * 1e3, 'ms')
        report('define+undefine direct p99', d99 * 1e3, 'ms')
        l50, l99 = pct(res['listened'], 50), pct(res['listened'], 99)
        report('define+undefine direct, one lifecycle-event listener, p50', l50 * 1e3, 'ms',
               l50 / d50)
        if RELAY_FLOOR:
            f50 = pct(res['relay'], 50)
            report('define+undefine through relay-floor alone, p50', f50 * 1e3, 'ms', f50 / d50)
        for key, target in (('rewrite', 1.10), ('nomatch', 1.05)):
            p50, p99 = pct(res[key], 50), pct(res[key], 99)
            label = 'proxy+rewrite' if key == 'rewrite' else 'proxy, no profile'
            report(f'define+undefine {label} p50', p50 * 1e3, 'ms', p50 / d50,
                   f'<= {target:.2f}x', p50 / d50 <= target)
            report(f'define+undefine {label} p99', p99 * 1e3, 'ms', p99 / d99,
                   f'<= {target:.2f}x', p99 / d99 <= target)
            base = res['tuned'] if key == 'rewrite' else res['listened']
            t.diag(f'{label}: p50 {p50 / pct(base, 50):.3f}x, p99 {p99 / pct(base, 99):.3f}x '
                   'of direct with one event listener'
                   + (' and the rewritten XML' if key == 'rewrite' else '')
                   + ' (the cost of the path alone)')
            if RELAY_FLOOR:
                fl50 = pct(res[f'floor-{key}'], 50)
                report(f'define+undefine floor for {label} p50 (relay-floor, one event listener'
                       + (', rewritten XML)' if key == 'rewrite' else ')'),
                       fl50 * 1e3, 'ms', fl50 / d50)
                t.diag(f'{label}: p50 {p50 / fl50:.3f}x of that floor (what kvmtuned adds to it)')
                floor_note(f'define+undefine {label} p50', fl50 / d50, target)
        t.ok(True, f'define+undefine x{N_DEF} on each path')

        # --- small calls --------------------------------------------------------------
        base = direct.defineXML(kp.plain_xml('small-calls')[1])

        def small(conn, n):
            dom = conn.lookupByName('small-calls')
            lat = []
            t_start = time.perf_counter()
            for i in range(n):
                t0 = time.perf_counter()
                if i % 2:
                    dom.info()
                else:
                    conn.lookupByName('small-calls')
                lat.append(time.perf_counter() - t0)
            return time.perf_counter() - t_start, lat

        # A kvmtuned with busy polling off, on the same libvirtd, shows what
        # the adaptive polling buys (and costs).
        with kp.Kvmtuned(lv, POLICY, sysroot=sysroot, extra_args=['--busy-poll', '0']) as kt0:
            paths = {'direct': direct, 'proxy': proxy, 'nopoll': libvirt.open(kt0.uri)}
            for c in paths.values():
                small(c, 500)
            # Many short rounds, each path in turn: how the scheduler places the
            # client, libvirtd and kvmtuned on 2 vCPUs changes from one moment
            # to the next, so each round's ratio pairs neighbours in time and
            # the median of the pairs is the figure.
            rounds = 20
            wall = {k: [] for k in paths}
            lat = {k: [] for k in paths}
            spin0 = kt.status()['daemon']['busy_poll']['spin_ms']
            cpu0 = kt.cpu_seconds()
            for _ in range(rounds):
                for k, c in paths.items():
                    w, ls = small(c, N_SMALL // rounds)
                    wall[k].append(w)
                    lat[k].append(ls)
            cpu1 = kt.cpu_seconds()
            spin1 = kt.status()['daemon']['busy_poll']['spin_ms']
            paths['nopoll'].close()
        tput = {k: N_SMALL / sum(v) for k, v in wall.items()}

        def paired(k):
            rs = sorted(d / p for p, d in zip(wall[k], wall['direct']))
            return statistics.median(rs), rs[0], rs[-1]

        def added_p99(k):
            ds = sorted(pct(p, 99) - pct(d, 99) for p, d in zip(lat[k], lat['direct']))
            return statistics.median(ds) * 1e6
        pooled = {k: pct([x for ls in v for x in ls], 99) for k, v in lat.items()}
        report(f'{N_SMALL} small calls direct', tput['direct'], 'calls/s')
        r, lo, hi = paired('proxy')
        report(f'{N_SMALL} small calls proxy', tput['proxy'], 'calls/s', r, '>= 0.95x', r >= 0.95)
        t.diag(f'proxy/direct per round: median {r:.3f}, range {lo:.3f}-{hi:.3f} '
               f'over {rounds} rounds; total throughput ratio {tput["proxy"] / tput["direct"]:.3f}')
        r0, lo0, hi0 = paired('nopoll')
        report(f'{N_SMALL} small calls proxy, --busy-poll 0', tput['nopoll'], 'calls/s', r0)
        t.diag(f'without busy polling, per round: median {r0:.3f}, range {lo0:.3f}-{hi0:.3f}')
        report('kvmtuned CPU per small call (busy polling included)',
               (cpu1 - cpu0) / N_SMALL * 1e6, 'us')
        report('of which polling without sleeping', (spin1 - spin0) / N_SMALL * 1e3, 'us')
        report('small call p99 direct', pooled['direct'] * 1e6, 'us')
        added = added_p99('proxy')
        report('small call p99 added by the proxy', added, 'us', None, '<= 50 us', added <= 50)
        t.diag('p99 added, median of the per-round differences; over all %d calls: '
               'proxy %+.1f us, --busy-poll 0 %+.1f us (median per round %+.1f us)'
               % (N_SMALL, (pooled['proxy'] - pooled['direct']) * 1e6,
                  (pooled['nopoll'] - pooled['direct']) * 1e6, added_p99('nopoll')))
        base.undefine()
        t.ok(True, f'{N_SMALL} small calls on each path')

        # --- storm ----------------------------------------------------------------------
        def storm_xmls(prefix):
            return [kp.nova_xml(f'{prefix}-{i}', 'general.small', 1, 64, graphics=False)[1]
                    for i in range(N_STORM)]

        def storm(uri, xml_list):
            """(wall s, errors, [libvirtd, kvmtuned, this process] CPU s)"""
            batches = [xml_list[c::CLIENTS] for c in range(CLIENTS)]
            conns = [libvirt.open(uri) for _ in range(CLIENTS)]
            errors = []
            go = threading.Event()

            def run(conn, batch):
                go.wait()
                for x in batch:
                    try:
                        conn.defineXML(x)
                    except libvirt.libvirtError as e:
                        errors.append(str(e))
            ths = [threading.Thread(target=run, args=(c, b)) for c, b in zip(conns, batches)]
            for th in ths:
                th.start()
            cpu0 = (proc_cpu_seconds(lv.pid), kt.cpu_seconds() if kt.alive() else 0.0,
                    time.process_time())
            t0 = time.perf_counter()
            go.set()
            for th in ths:
                th.join()
            wall = time.perf_counter() - t0
            cpu1 = (proc_cpu_seconds(lv.pid), kt.cpu_seconds() if kt.alive() else 0.0,
                    time.process_time())
            for c in conns:
                c.close()
            return wall, errors, [b - a for a, b in zip(cpu0, cpu1)]

        # STORM_ROUNDS storms on each path, alternating; the proxy's last
        # storm stays defined for the RSS and rebuild figures.
        def undefine_all():
            for d in direct.listAllDomains():
                d.undefine()
            # kvmtuned releases on the undefine events; wait for them
            deadline = time.time() + 60
            while kt.alive() and kt.status()['engine']['bookings'] and time.time() < deadline:
                time.sleep(0.2)
        walls = {'direct': [], 'tuned': [], 'proxy': [], 'floor': []}
        engine = [0, 0]   # policy engine runs and microseconds in the proxy storms
        relay_cpu = 0.0   # relay-floor's own CPU in the floor storms
        cpu = {'direct': [], 'proxy': []}    # [libvirtd, kvmtuned, clients] CPU s per storm
        for r in range(STORM_ROUNDS):
            kvmtuned_off()
            w, err, c = storm(lv.uri, storm_xmls(f'sd{r}'))
            t.ok(not err, f'direct storm {r + 1}: {N_STORM} defines', err[:3])
            walls['direct'].append(w)
            cpu['direct'].append(c)
            undefine_all()
            # direct again, with what the design itself asks of libvirtd:
            # kvmtuned's rewritten XML and one lifecycle-event listener
            with EventListener(lv.uri):
                w, err, _ = storm(lv.uri, tuned_xmls(f'st{r}'))
            t.ok(not err, f'direct storm {r + 1}, rewritten XML, one event listener', err[:3])
            walls['tuned'].append(w)
            undefine_all()
            if RELAY_FLOOR:
                with EventListener(lv.uri), RelayFloor(lv) as rf:
                    rf0 = proc_cpu_seconds(rf.proc.pid)
                    w, err, _ = storm(rf.uri, tuned_xmls(f'sf{r}'))
                    relay_cpu += proc_cpu_seconds(rf.proc.pid) - rf0
                t.ok(not err, f'relay-floor storm {r + 1}, rewritten XML, one event listener',
                     err[:3])
                walls['floor'].append(w)
                undefine_all()
            kvmtuned_on()
            st0 = kt.status()['daemon']
            w, err, c = storm(kt.uri, storm_xmls(f'sp{r}'))
            st1 = kt.status()['daemon']
            engine[0] += st1['engine_runs'] - st0['engine_runs']
            engine[1] += st1['engine_us'] - st0['engine_us']
            t.ok(not err, f'proxy storm {r + 1}: {N_STORM} defines', err[:3])
            walls['proxy'].append(w)
            cpu['proxy'].append(c)
            if r < STORM_ROUNDS - 1:
                undefine_all()
        wall_d, wall_p = sum(walls['direct']), sum(walls['proxy'])
        t.diag('storm walls (s): ' + '; '.join(
            '%s %s' % (k, ', '.join('%.3f' % w for w in walls[k])) for k in walls if walls[k]))
        runs = f'({STORM_ROUNDS} runs)'
        report(f'storm {N_STORM} defines / {CLIENTS} clients direct {runs}', wall_d, 's')
        report(f'storm {N_STORM} defines / {CLIENTS} clients proxy {runs}', wall_p, 's',
               wall_p / wall_d, '<= 1.10x', wall_p / wall_d <= 1.10)
        wall_t = sum(walls['tuned'])
        report(f'storm direct with the rewritten XML and one event listener {runs}', wall_t,
               's', wall_t / wall_d)
        t.diag('proxy storm %.3fx of that: the cost of the proxy path alone; the rest is what '
               'libvirtd pays for the tuned XML and the event connection' % (wall_p / wall_t))
        if RELAY_FLOOR:
            wall_f = sum(walls['floor'])
            report(f'storm floor: relay-floor, rewritten XML, one event listener {runs}',
                   wall_f, 's', wall_f / wall_d)
            t.diag('proxy storm %.3fx of that floor (what kvmtuned adds to it)' % (wall_p / wall_f))
            floor_note('storm', wall_f / wall_d, 1.10)
        # Where the time goes: client, libvirtd and kvmtuned share the CPUs,
        # so when they are all busy every CPU-second kvmtuned spends, and
        # every one more libvirtd spends on the rewritten XML and on
        # kvmtuned's event connection, lengthens the wall.
        n = STORM_ROUNDS * N_STORM
        lv_d, _, cl_d = (sum(x[i] for x in cpu['direct']) for i in range(3))
        lv_p, kt_p, cl_p = (sum(x[i] for x in cpu['proxy']) for i in range(3))
        t.diag('storm CPU per define: libvirtd %.0f us direct, %.0f us via kvmtuned; '
               'kvmtuned %.0f us; this client process %.0f / %.0f us'
               % (lv_d / n * 1e6, lv_p / n * 1e6, kt_p / n * 1e6, cl_d / n * 1e6, cl_p / n * 1e6))
        t.diag('CPUs busy during the storms: direct %.2f, via kvmtuned %.2f of %d'
               % ((lv_d + cl_d) / wall_d, (lv_p + kt_p + cl_p) / wall_p, os.cpu_count()))
        report('kvmtuned CPU per define in the storm', kt_p / n * 1e6, 'us')
        eng = engine[1] / max(engine[0], 1)
        report('of which the policy engine (parse, decide, apply, format)', eng, 'us')
        if RELAY_FLOOR:
            # The storms keep the CPUs nearly all busy, so the wall grows with
            # the CPU each define costs: a 1.10x wall leaves about (1.10 -
            # floor) of a direct define's CPU for what kvmtuned spends beyond
            # relay-floor (whose own CPU the floor already holds).  Compare
            # that with the engine's time alone, the XML work the issue
            # requires.
            direct_us = (lv_d + cl_d) / n * 1e6
            budget = (1.10 - wall_f / wall_d) * direct_us
            relay_us = relay_cpu / n * 1e6
            beyond = kt_p / n * 1e6 - relay_us
            t.diag('storm budget: the floor is %.3fx, so 1.10x leaves about %.0f us of CPU per '
                   'define (of the %.0f us a direct one costs) for what kvmtuned spends beyond '
                   'relay-floor\'s %.0f us; it spends %.0f us more: %.0f in its policy engine, '
                   '%.0f in relaying and events'
                   % (wall_f / wall_d, max(budget, 0), direct_us, relay_us, beyond, eng,
                      beyond - eng))
            if budget < eng:
                t.diag('storm: in this run the target leaves kvmtuned less CPU than its XML '
                       'rewrite alone needs')

        # --- RSS, rebuild ----------------------------------------------------------------
        st = kt.status()
        booked = st['engine']['bookings']
        rss = kt.rss_kib()
        t.ok(booked == N_STORM, f'{booked} domains booked')
        report(f'kvmtuned RSS with {booked} domains booked', rss / 1024.0, 'MiB', None,
               '< 30 MB', rss * 1024 < 30e6)
        proxy.close()
        kt.stop()
        t0 = time.perf_counter()
        kt.start(timeout=120)
        wall = time.perf_counter() - t0
        st = kt.status()['daemon']
        ms = st.get('rebuild_ms', -1)
        t.ok(st.get('domains_at_rebuild') == N_STORM,
             f"rebuild saw {st.get('domains_at_rebuild')} domains")
        report(f'ledger rebuild with {N_STORM} domains', ms, 'ms', None, '< 1000 ms', ms < 1000)
        report('kvmtuned start to serving (incl. rebuild)', wall * 1e3, 'ms')
        rss = kt.rss_kib()
        report('kvmtuned RSS after the rebuild', rss / 1024.0, 'MiB', None, '< 30 MB',
               rss * 1024 < 30e6)

        # --- soak ------------------------------------------------------------------------
        # A long-running kvmtuned must not grow with the defines it has seen:
        # define+undefine cycles, half rewritten and half without a profile,
        # every tenth by another client straight on libvirtd (followed through
        # events), with the storm's domains still booked.  Memory after a
        # warm-up (glibc's arenas settle) against memory at the end.
        # A new proxy connection every 50 cycles: nothing may be left of the
        # closed ones either (open descriptors are counted).
        def soak(n, prefix):
            conn = None
            for i in range(n):
                if i % 50 == 0:
                    if conn:
                        conn.close()
                    conn = libvirt.open(kt.uri)
                flavor = 'general.small' if i % 2 == 0 else 'm1.small'
                x = kp.nova_xml(f'{prefix}-{i}', flavor, 1, 64, graphics=False)[1]
                d = (direct if i % 10 == 9 else conn).defineXML(x)
                d.undefine()
            conn.close()

        def open_fds():
            # once kvmtuned has seen the last client go
            deadline = time.time() + 10
            while kt.status()['daemon']['clients'] and time.time() < deadline:
                time.sleep(0.05)
            return len(os.listdir(f'/proc/{kt.pid}/fd'))
        soak(500, 'sw')
        fds0 = open_fds()
        rss0, anon0 = kt.rss_kib(), kt.anon_kib()
        soak(N_SOAK, 'sk')
        deadline = time.time() + 30
        while kt.status()['engine']['bookings'] != N_STORM and time.time() < deadline:
            time.sleep(0.2)
        booked = kt.status()['engine']['bookings']
        t.ok(booked == N_STORM, f'after {N_SOAK} define+undefine cycles: {booked} domains '
             f'booked (the storm\'s {N_STORM})')
        fds1 = open_fds()
        rss1, anon1 = kt.rss_kib(), kt.anon_kib()
        t.ok(fds1 == fds0, f'kvmtuned open descriptors before and after the soak: {fds0}, {fds1}')
        t.diag('soak: RSS %.1f -> %.1f MiB, anonymous %.1f -> %.1f MiB'
               % (rss0 / 1024, rss1 / 1024, anon0 / 1024, anon1 / 1024))
        report(f'kvmtuned anonymous memory growth over {N_SOAK} define+undefine cycles',
               (anon1 - anon0) / 1024.0, 'MiB', None, '< 1 MiB', anon1 - anon0 < 1024)
        t.ok(kt.alive(), 'kvmtuned alive at the end')
        direct.close()

t.ok(True, ('MISSED targets: ' + '; '.join(missed)) if missed else 'all targets met')
sys.exit(t.done())
