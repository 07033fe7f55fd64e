#!/usr/bin/python3
"""bench-hook: cost of one qemu hook invocation on libvirt's start path.

On a copy of the reference fixture, times `prepare begin` (2 mdevs, a VF,
2M hugepages: every check runs, every create is written) and `release end`
of the same domain, plus `prepare begin` of a domain without a kvmtune
placement (the fast path every other guest takes).  The baseline, measured
in the same run and the same way (posix_spawn with the XML on stdin,
waitpid), is exec'ing /bin/true.  Rounds interleave so load hits all alike.

Prints TAP: p50/p99 per case and the ratio to /bin/true; a case fails when
its p99 misses the 5 ms target (not judged when /bin/true alone misses it:
the machine is then too busy for the figure to be about the hook).

    bench-hook.py HOOK [ROUNDS]
"""

import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'hook'))
from hooklib import (HookEnv, domain, hugepages_el, mdev_el, placement,  # noqa: E402
                     vf_el)

HOOK = os.path.abspath(sys.argv[1])
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 400
TARGET_P99_MS = 5.0
DOM = '11111111-2222-4333-8444-555555555555'


def spawn_ms(argv, env, stdin_path):
    fd = os.open(stdin_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        t = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, env,
                             file_actions=[(os.POSIX_SPAWN_DUP2, fd, 0),
                                           (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
        _, status = os.waitpid(pid, 0)
        ms = (time.perf_counter_ns() - t) / 1e6
    finally:
        os.close(fd)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f'{argv} exited {os.waitstatus_to_exitcode(status)}')
    return ms


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def main():
    # In production the hook's state is on tmpfs (/run) and sysfs is in
    # memory: keep both off the disk here too when /dev/shm allows.
    base = '/dev/shm' if os.access('/dev/shm', os.W_OK) else None
    try:
        h = HookEnv(HOOK, base=base)
    except Exception as e:          # fixture absent
        print(f'1..0 # SKIP {e}')
        return 0
    try:
        placed = os.path.join(h.tmp, 'placed.xml')
        plain = os.path.join(h.tmp, 'plain.xml')
        with open(placed, 'w') as f:
            f.write(domain('bench', DOM, placement(
                'numa nodes="1"/>', 'memory size="65536" pagesize="2048"/>',
                hugepages_el(32), vf_el(),
                mdev_el('nvidia-222', 'aaaaaaaa-0000-4000-8000-000000000001'),
                mdev_el('nvidia-223', 'aaaaaaaa-0000-4000-8000-000000000002'))))
        with open(plain, 'w') as f:
            f.write(domain('plain', DOM))
        env = dict(h.env)
        true = shutil.which('true') or '/bin/true'
        cases = {
            'exec /bin/true (baseline)': ([true], placed),
            'prepare begin (placement)': ([HOOK, 'bench', 'prepare', 'begin', '-'], placed),
            'release end (placement)': ([HOOK, 'bench', 'release', 'end', '-'], placed),
            'prepare begin (no placement)': ([HOOK, 'plain', 'prepare', 'begin', '-'], plain),
        }
        times = {k: [] for k in cases}
        for _ in range(10):                     # warm the page cache
            for argv, stdin in cases.values():
                spawn_ms(argv, env, stdin)
        for _ in range(ROUNDS):
            for k, (argv, stdin) in cases.items():
                times[k].append(spawn_ms(argv, env, stdin))
        assert h.records() == [], 'release left a record behind'

        base50 = pct(times['exec /bin/true (baseline)'], 50)
        base99 = pct(times['exec /bin/true (baseline)'], 99)
        print(f'1..{len(cases)}')
        print(f'# {ROUNDS} rounds, reference fixture copy in {h.tmp}, '
              f'{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}')
        # When exec'ing /bin/true alone misses the target, the machine is too
        # busy for the target to say anything about the hook: report, skip.
        judge = base99 < TARGET_P99_MS
        if not judge:
            print(f'# exec /bin/true p99 {base99:.3f} ms is itself over the '
                  f'{TARGET_P99_MS} ms target: figures reported, target not judged')
        failed = 0
        for i, (k, v) in enumerate(times.items(), 1):
            p50, p99 = pct(v, 50), pct(v, 99)
            line = (f'{k}: p50 {p50:.3f} ms, p99 {p99:.3f} ms '
                    f'(x{p50 / base50:.1f} / x{p99 / base99:.1f} of exec /bin/true, '
                    f'+{p50 - base50:.3f} ms at p50)')
            if not judge:
                print(f'ok {i} - {line} # SKIP machine too loaded to judge p99 < '
                      f'{TARGET_P99_MS} ms')
                continue
            ok = p99 < TARGET_P99_MS
            failed += not ok
            print(f'{"ok" if ok else "not ok"} {i} - {line}'
                  + ('' if ok else f' # p99 over the {TARGET_P99_MS} ms target'))
        return 1 if failed else 0
    finally:
        h.cleanup()


sys.exit(main())
