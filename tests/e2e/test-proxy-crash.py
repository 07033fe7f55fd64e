#!/usr/bin/python3
"""e2e 5: crash safety.  kill -9 kvmtuned at random moments during a storm
of concurrent defines/undefines (8 clients, dedicated and shared flavors on
the `reference` fixture, define-only), restart it each time, then:

- every define that got OK is defined; every one that got an error reply is
  not; every OK undefine is gone;
- no CPU is booked by two domains, every pin lies inside its booking;
- the ledger of the running daemon equals the one computed from libvirt's
  XML, and so does the ledger after one more clean restart.
Defines whose connection broke before the reply ('lost') may have happened
or not; if they did, they must be booked like any other.
"""

import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import kt_proxy as kp  # noqa: E402

kp.require_daemon('reference')
import kt_storm  # noqa: E402

SEED = int(os.environ.get('KT_STORM_SEED', random.randrange(1 << 30)))
DURATION = float(os.environ.get('KT_STORM_SECONDS', '20'))
FLAVORS = [('db.large', 8, 2048), ('db.medium', 4, 1024), ('db.small', 2, 512),
           ('general.small', 1, 512), ('general.medium', 2, 1024)]

t = kp.Tap()
t.diag(f'seed {SEED} (KT_STORM_SEED to replay), {DURATION:.0f} s storm')
rng = random.Random(SEED)
sysroot = kp.fixture('reference')

with kp.Sandbox() as lv:
    with kp.Kvmtuned(lv, kp.reference_policy(), sysroot=sysroot) as kt:
        storm = kt_storm.Storm(kt.uri, FLAVORS, workers=8, seed=SEED)
        storm.start()
        kills = 0
        restart_fail = None
        end = time.monotonic() + DURATION
        while time.monotonic() < end:
            time.sleep(rng.uniform(0.2, 1.5))
            kt.kill()
            kills += 1
            time.sleep(rng.uniform(0.0, 0.3))
            try:
                kt.start()
            except kp.KvmtunedError as e:
                restart_fail = str(e)
                break
        hung = storm.stop()
        t.ok(restart_fail is None, f'kvmtuned restarted after each of {kills} kill -9',
             restart_fail)
        t.ok(not hung, 'no client hung', hung)
        if storm.vanished:
            t.diag(f'python threads that vanished without a trace: {storm.vanished}')
        t.ok(not storm.slow_ops, 'every call returned within 60 s', storm.slow_ops[:5])
        c = storm.counts()
        t.diag('outcomes: ' + ', '.join(f'{k} {v}' for k, v in sorted(c.items())))
        t.ok(c.get('define ok', 0) >= 20, f'storm made progress ({c.get("define ok", 0)} OK defines)')

        if restart_fail is None:
            t.ok(kt.wait_serving(), 'kvmtuned serves after the storm')
            time.sleep(1.0)           # let lifecycle events of lost defines land
            domains = kt_storm.libvirt_domains(lv)
            bad = kp.validate_all(domains)
            t.ok(not bad, f'every rewritten XML validates (virt-xml-validate, {len(domains)})',
                 '\n'.join(f'{u}: {o}' for u, o in bad[:3]))
            probs = kt_storm.outcome_problems(storm, domains)
            t.ok(not probs, 'OK defines are defined, errored ones are not, OK undefines gone',
                 '\n'.join(probs[:20]))
            n_lost, n_lost_def = kt_storm.lost_defined(storm, domains)
            t.diag(f'{n_lost} defines lost their connection; {n_lost_def} of them happened')
            unplaced = [u for u, x in domains.items() if kp.placement_of(x) is None]
            t.ok(not unplaced, 'every domain in libvirt carries a placement',
                 f'{len(unplaced)} without: {unplaced[:5]}')

            status = kt.status()
            diffs = kt_storm.compare_ledger(status, domains, sysroot)
            if diffs:
                booked = {d['uuid'] for d in status['engine']['domains']}
                extra = sorted(booked - set(domains))[:5]
                diffs += ['storm history of bookings libvirt does not have '
                          f'(last kvmtuned start at {kt.started_at:.2f}):']
                diffs += kt_storm.history(storm, extra)
            t.ok(not diffs, f'running ledger equals libvirt ({len(domains)} domains); '
                 'nothing double-booked', '\n'.join(diffs[:20]))

            kt.restart()
            status = kt.status()
            diffs = kt_storm.compare_ledger(status, domains, sysroot)
            t.ok(not diffs, 'ledger rebuilt after a clean restart equals libvirt',
                 '\n'.join(diffs[:20]))
            if t.failed:
                t.diag('kvmtuned log tail:\n' + kt.log_tail(20))
sys.exit(t.done())
