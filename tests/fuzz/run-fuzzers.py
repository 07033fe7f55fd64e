#!/usr/bin/python3
"""Runs every libFuzzer target of a -Dfuzzing=true build for a bounded time,
with the seed folder as corpus (new finds are not written back: crashes are
saved by libFuzzer as crash-* in the working directory).  `./run fuzz`."""
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
    print(f'== fuzz-{name}: {args.seconds}s', flush=True)
    r = subprocess.run([exe, f'-max_total_time={args.seconds}', '-rss_limit_mb=2048',
                        '-max_len=1048576', '-print_final_stats=1', seeds])
    if r.returncode != 0:
        failed += 1
print(f'{len(targets) - failed} passed, {failed} failed')
sys.exit(1 if failed else 0)
