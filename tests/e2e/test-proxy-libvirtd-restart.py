#!/usr/bin/python3
"""e2e 6: libvirtd restarted (twice) during a storm of defines/undefines
through kvmtuned.  Clients get clean errors (no hang: every call returns),
kvmtuned reconnects by itself and reconciles: OK defines are defined,
errored ones are not, and its ledger equals the one computed from libvirt.

Then libvirtd hangs (SIGSTOP) while a kvmtuned worker waits on it for a
lookup: the control socket keeps answering, keepalive drops kvmtuned's
connections within about 20 s (which also fails the lookup), and once
libvirtd runs again kvmtuned reconnects, rebuilds and serves defines.
"""

import os
import random
import signal
import subprocess
import sys
import time
import uuid as uuidlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import kt_proxy as kp  # noqa: E402

kp.require_daemon('reference')
import kt_storm  # noqa: E402

SEED = int(os.environ.get('KT_STORM_SEED', random.randrange(1 << 30)))
FLAVORS = [('db.large', 8, 2048), ('db.small', 2, 512), ('general.small', 1, 512)]

t = kp.Tap()
t.diag(f'seed {SEED} (KT_STORM_SEED to replay)')
rng = random.Random(SEED)
sysroot = kp.fixture('reference')

with kp.Sandbox() as lv:
    with kp.Kvmtuned(lv, kp.reference_policy(), sysroot=sysroot) as kt:
        storm = kt_storm.Storm(kt.uri, FLAVORS, workers=8, seed=SEED)
        storm.start()
        restarts = 0
        for _ in range(2):
            time.sleep(rng.uniform(2.0, 4.0))
            t0 = time.monotonic()
            lv.restart()
            restarts += 1
            t.diag(f'libvirtd restart {restarts}: {t0:.2f} -> {time.monotonic():.2f}')
        time.sleep(3.0)
        hung = storm.stop()
        t.ok(not hung, 'no client hung across libvirtd restarts', hung)
        t.ok(not storm.slow_ops, 'every call returned within 60 s', storm.slow_ops[:5])
        c = storm.counts()
        t.diag('outcomes: ' + ', '.join(f'{k} {v}' for k, v in sorted(c.items())))
        lost_msgs = sorted({m for _, _, out, m, _ in storm.defines if out != 'ok'})[:6]
        t.diag('errors seen: ' + ' | '.join(lost_msgs))
        t.ok(kt.alive(), 'kvmtuned survived the libvirtd restarts', kt.log_tail(10))

        t.ok(kt.wait_ledger_ready(30), 'kvmtuned reconnected and rebuilt its ledger')
        st = kt.status()['daemon']
        t.diag(f"daemon status: connected={st.get('libvirt_connected')} "
               f"reconciled={st.get('reconciled')} domains_at_rebuild={st.get('domains_at_rebuild')}")
        time.sleep(1.0)
        domains = kt_storm.libvirt_domains(lv)
        bad = kp.validate_all(domains)
        t.ok(not bad, f'every rewritten XML validates (virt-xml-validate, {len(domains)})',
             '\n'.join(f'{u}: {o}' for u, o in bad[:3]))
        probs = kt_storm.outcome_problems(storm, domains)
        t.ok(not probs, 'OK defines are defined, errored ones are not, OK undefines gone',
             '\n'.join(probs[:20]))
        status = kt.status()
        diffs = kt_storm.compare_ledger(status, domains, sysroot)
        if diffs:
            extra = sorted({d['uuid'] for d in status['engine']['domains']} - set(domains))
            diffs += ['storm history of bookings libvirt does not have:']
            diffs += kt_storm.history(storm, extra[:5])
        t.ok(not diffs, f'ledger equals libvirt after reconnect ({len(domains)} domains)',
             '\n'.join(diffs[:20]))

        # Free a dedicated domain through the proxy, then its CPUs must be
        # bookable again (phantom bookings would refuse this).
        victim = next((u for u, x in domains.items()
                       if kp.placement_of(x) is not None
                       and kp.placement_of(x).get('profile') == 'db'
                       and "vcpus=\"2\"" in x), None)
        if victim:
            lv.virsh('undefine', victim, uri=kt.uri)
        _, x = kp.nova_xml('after-restart', 'db.small', 2, 512)
        conn_ok = lv.virsh('define', '/dev/stdin', uri=kt.uri, input=x, check=False)
        t.ok(conn_ok.returncode == 0, 'a define through the proxy fits where a 2-vCPU domain was undefined',
             conn_ok.stderr)

        # libvirtd hangs while a worker's lookup waits on it
        os.kill(lv.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            reply = kt.control_call('notify', uuid=str(uuidlib.uuid4()), event='defined',
                                    timeout=5)
            t.ok(reply.get('ok'), 'libvirtd hung: a notify (lookup in a worker) is accepted',
                 reply)
            # nothing on the main loop may wait for libvirtd: not the
            # lookup, not closing the connections when keepalive gives up
            dropped = None
            stalled = []
            while time.monotonic() - t0 < 40:
                try:
                    st = kt.status(timeout=5)['daemon']
                except subprocess.TimeoutExpired:
                    stalled.append(round(time.monotonic() - t0, 1))
                    continue
                if not st['libvirt_connected']:
                    dropped = time.monotonic() - t0
                    break
                time.sleep(0.5)
            for _ in range(4):          # and after the drop, while closing
                try:
                    kt.status(timeout=5)
                except subprocess.TimeoutExpired:
                    stalled.append(round(time.monotonic() - t0, 1))
                time.sleep(0.5)
            t.ok(not stalled, 'the control socket answered within 5 s throughout the hang',
                 f'stalled at {stalled} s')
            t.ok(dropped is not None, 'keepalive dropped the connections to the hung libvirtd',
                 kt.log_tail(5))
            t.diag(f'dropped after {dropped or -1:.1f} s')
            log = kt.log_tail(30)
            t.ok('lookup of' in log and 'keepalive' in log,
                 "the worker's lookup failed instead of waiting", log)
        finally:
            os.kill(lv.pid, signal.SIGCONT)
        t.ok(kt.wait_ledger_ready(30), 'libvirtd runs again: reconnected, ledger rebuilt')
        _, x = kp.nova_xml('after-hang', 'general.small', 1, 512)
        r = lv.virsh('define', '/dev/stdin', uri=kt.uri, input=x, check=False)
        t.ok(r.returncode == 0, 'and a define through the proxy works', r.stderr)
        if t.failed:
            t.diag('kvmtuned log tail:\n' + kt.log_tail(20))
sys.exit(t.done())
