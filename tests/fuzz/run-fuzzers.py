#!/usr/bin/python3
"""Runs every libFuzzer target of a -Dfuzzing=true build for a bounded time,
seeded from tests/fuzz/<name>/.  New finds go to BUILD/tests/fuzz/<name>-corpus
(libFuzzer writes into its first corpus folder, so the seeds in the source
tree stay as committed) and crashes to BUILD/tests/fuzz/<name>-crash-*;
minimise one and add it to the seeds to keep it as a regression test.
`./run fuzz`."""
import argparse
import glob
import os
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument('--build', required=True)
ap.add_argument('--seconds', type=int, default=60)
args = ap.parse_args()

here = os.path.dirname(os.path.abspath(__file__))
failed = 0
targets = sorted(glob.glob(os.path.join(args.build, 'tests', 'fuzz', 'fuzz-*')))
targets = [t for t in targets if os.access(t, os.X_OK) and not t.endswith('.p')]
for exe in targets:
    name = os.path.basename(exe)[len('fuzz-'):]
    seeds = os.path.join(here, name)
    work = os.path.join(os.path.abspath(args.build), 'tests', 'fuzz', name)
    print(f'== fuzz-{name}: {args.seconds}s (finds in {work}-corpus)', flush=True)
    r = subprocess.run([exe, f'-max_total_time={args.seconds}', '-rss_limit_mb=2048',
                        '-max_len=1048576', '-print_final_stats=1',
                        '-create_missing_dirs=1', f'-artifact_prefix={work}-',
                        f'{work}-corpus', seeds])
    if r.returncode != 0:
        failed += 1
print(f'{len(targets) - failed} passed, {failed} failed')
sys.exit(1 if failed else 0)
