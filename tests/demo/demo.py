#!/usr/bin/python3
"""The kvmtune demo (`./run demo`).

Starts a private libvirtd (tests/lib/libvirtd_sandbox.py: never the host's),
starts kvmtuned on the `reference` fixture (2 x 56 cores x 2 threads, 2 NUMA
nodes, SR-IOV NICs, a vGPU) with nova-helper/policy.example.yaml on a
private socket, defines a batch of Nova-generated domains through it with
virsh exactly as Nova would send them, prints `kvmtune status` and the diff
kvmtune made to one domain, and cleans everything up.  The domains are only
defined, never started: the fixture's CPUs and devices are not this
machine's.

Without kvmtuned (or without root) it falls back to the offline
`kvmtune rewrite` of one Nova XML; without that either it says what is
missing and exits 1.
"""

import argparse
import difflib
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, 'tests', 'lib'))
import kt_proxy as kp  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument('--build', default=os.path.join(SRC, 'build'))
ap.add_argument('--keep', action='store_true', help='keep the temp dirs (debugging)')
args = ap.parse_args()
BUILD = os.path.abspath(args.build)
os.environ['KT_BUILD_ROOT'] = BUILD

FIXTURE = kp.fixture('reference')
POLICY = os.path.join(SRC, 'nova-helper', 'policy.example.yaml')

# name, flavor, vCPUs, MiB: what a small Nova cell would send this host.
BATCH = [
    ('instance-00000001', 'db.large', 8, 16384),
    ('instance-00000002', 'db.medium', 4, 8192),
    ('instance-00000003', 'vdi.standard', 2, 4096),
    ('instance-00000004', 'vdi.standard', 2, 4096),
    ('instance-00000005', 'hpc.xlarge', 16, 32768),
    ('instance-00000006', 'm1.small', 1, 2048),
    ('instance-00000007', 'm1.medium', 2, 4096),
    ('instance-00000008', 'db.huge', 96, 524288),     # more than one node holds
]
DIFF_DOMAIN = 'instance-00000001'


def say(msg=''):
    print(msg, flush=True)


def head(title):
    say()
    say(f'== {title}')


def missing(what):
    say(f'demo: cannot run: {what}')
    sys.exit(1)


def summary(xml):
    """One line: what kvmtune placed (from <kvmtune:placement>)."""
    pl = kp.placement_of(xml)
    if pl is None:
        return 'no profile matched: passed through untouched'
    ns = {'k': kp.KT_NS}
    parts = [f"profile {pl.get('profile')}"]
    numa = pl.find('k:numa', ns)
    if numa is not None:
        parts.append(f"node {numa.get('nodes')}")
    cpus = pl.find('k:cpus', ns)
    if cpus is not None:
        if cpus.get('policy') == 'dedicated':
            parts.append(f"CPUs {cpus.get('booked')} (emulator {cpus.get('emulator')})")
        else:
            parts.append(f"shared pool {cpus.get('shared')}")
    for hp in pl.findall('k:hugepages', ns):
        size = int(hp.get('size'))
        label = f'{size // 1048576}G' if size >= 1048576 else f'{size // 1024}M'
        parts.append(f"{hp.get('count')} x {label} pages on node {hp.get('node')}")
    for vf in pl.findall('k:vf', ns):
        parts.append(f"VF {vf.get('vf')} vlan {vf.get('vlan')}")
    for md in pl.findall('k:mdev', ns):
        parts.append(f"vGPU {md.get('type')} on {md.get('parent')}")
    return ', '.join(parts)


def show_diff(a, b, name_a, name_b, limit=60):
    lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), name_a, name_b,
                                      lineterm='', n=1))
    for line in lines[:limit]:
        say('  ' + line)
    if len(lines) > limit:
        say(f'  ... ({len(lines) - limit} more diff lines)')


def offline(reason):
    """Fallback: kvmtune rewrite of one Nova XML, no daemon."""
    head(f'offline rewrite ({reason})')
    cli = kp.binary('kvmtune', BUILD)
    if not cli:
        missing(f'{BUILD}/nova-helper/kvmtune is not built (run ./run setup)')
    _, xml = kp.nova_xml(DIFF_DOMAIN, 'db.large', 8, 16384)
    with tempfile.NamedTemporaryFile('w', suffix='.xml', delete=False) as f:
        f.write(xml)
        path = f.name
    try:
        r = subprocess.run([cli, 'rewrite', '--policy', POLICY, '--sysroot', FIXTURE, path],
                           capture_output=True, text=True)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        missing(f'kvmtune rewrite failed ({r.returncode}): {r.stderr.strip()}')
    say(f'kvmtune rewrite --policy {os.path.relpath(POLICY, SRC)} '
        f'--sysroot {os.path.relpath(FIXTURE, SRC)} {DIFF_DOMAIN}.xml  (Nova flavor db.large)')
    say('  ' + summary(r.stdout))
    show_diff(xml, r.stdout, 'nova.xml', 'rewritten.xml')
    say()
    say('demo: offline only; start kvmtuned for the full flow')
    sys.exit(0)


for path, what in ((FIXTURE, 'tests/fixtures/hosts/reference is missing'),
                   (POLICY, 'nova-helper/policy.example.yaml is missing')):
    if not os.path.exists(path):
        missing(what)
if not kp.binary('kvmtuned', BUILD):
    offline('kvmtuned is not built yet')
if os.geteuid() != 0:
    offline('the daemon demo needs root for its private libvirtd')
try:
    import libvirt  # noqa: F401
except ImportError:
    missing('python3-libvirt is not installed')

say('kvmtune demo: Nova defines domains through kvmtuned; kvmtune places them')
say(f'host model : {os.path.relpath(FIXTURE, SRC)} (2 nodes x 56 cores x 2 threads, '
    'SR-IOV, vGPU)')
say(f'policy     : {os.path.relpath(POLICY, SRC)}')

with kp.Sandbox() as lv:
    policy_text = open(POLICY).read()
    with kp.Kvmtuned(lv, policy_text, sysroot=FIXTURE) as kt:
        say(f'libvirtd   : private sandbox, {lv.sock}')
        say(f'kvmtuned   : pid {kt.pid}, Nova would use connection_uri = {kt.uri}')

        head('define through the proxy (virsh define, as Nova sends them)')
        inputs = {}
        for name, flavor, vcpus, mib in BATCH:
            uuid, xml = kp.nova_xml(name, flavor, vcpus, mib)
            inputs[name] = (uuid, xml)
            r = lv.virsh('define', '/dev/stdin', uri=kt.uri, input=xml, check=False)
            label = f'{name}  {flavor:<13} {vcpus:>3} vCPU {mib // 1024:>4} GiB'
            if r.returncode != 0:
                err = (r.stderr.strip().splitlines() or ['?'])[-1].removeprefix('error: ')
                say(f'  {label}  REFUSED: {err}')
                continue
            dx = lv.virsh('dumpxml', name, uri=kt.uri).stdout
            say(f'  {label}  {summary(dx)}')
        _, plain = kp.plain_xml('web-frontend', vcpus=2, memory_mib=2048)
        r = lv.virsh('define', '/dev/stdin', uri=kt.uri, input=plain, check=False)
        dx = lv.virsh('dumpxml', 'web-frontend', check=False).stdout
        say(f'  {"web-frontend  (not Nova)":<42} {summary(dx) if r.returncode == 0 else r.stderr.strip()}')

        head('kvmtune status')
        for line in kt.status(json_out=False).rstrip().splitlines():
            say('  ' + line)

        head(f'what kvmtune changed in {DIFF_DOMAIN} '
             '(libvirt\'s copy without kvmtune vs through kvmtune)')
        uuid, xml = inputs[DIFF_DOMAIN]
        base_uuid = '00000000-0000-4000-8000-000000000001'
        base = xml.replace(uuid, base_uuid).replace(DIFF_DOMAIN, 'demo-baseline')
        r = lv.virsh('define', '/dev/stdin', input=base, check=False)    # direct, no proxy
        if r.returncode == 0:
            a = lv.virsh('dumpxml', 'demo-baseline').stdout
            a = a.replace(base_uuid, uuid).replace('demo-baseline', DIFF_DOMAIN)
            b = lv.virsh('dumpxml', DIFF_DOMAIN).stdout
            show_diff(a, b, 'direct to libvirtd', 'through kvmtuned')
            lv.virsh('undefine', 'demo-baseline', check=False)
        else:
            say('  (baseline define failed: ' + r.stderr.strip() + ')')

        head('clean up')
        n = 0
        for name in lv.virsh('list', '--all', '--name').stdout.split():
            lv.virsh('undefine', name, uri=kt.uri, check=False)
            n += 1
        st = kt.status()
        say(f"  undefined {n} domains through the proxy; bookings left: "
            f"{st['engine']['bookings']}")
    say('  kvmtuned and the private libvirtd stopped')
say('demo: done')
