#!/usr/bin/python3
"""Suite 'hook': `kvmtune mdev persist` writes mdevctl definitions for the
mdevs of defined domains; when run as root with mdevctl installed, mdevctl
itself (in a private mount namespace) must list them.

    test-persist.py KVMTUNE
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hooklib import GPU, Tap, domain, mdev_el, placement, read, snapshot  # noqa: E402

KVMTUNE = os.path.abspath(sys.argv[1])
tap = Tap()

M1 = 'aaaaaaaa-0000-4000-8000-000000000001'
M2 = 'aaaaaaaa-0000-4000-8000-000000000002'
M3 = 'aaaaaaaa-0000-4000-8000-000000000003'


class Dirs:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix='kt-persist-')
        self.domains = os.path.join(self.tmp, 'qemu')
        self.mdevctl = os.path.join(self.tmp, 'mdevctl.d')
        os.makedirs(os.path.join(self.domains, 'autostart'))
        self.add('vm-a', '11111111-0000-4000-8000-00000000000a',
                 placement(mdev_el('nvidia-222', M1), mdev_el('nvidia-223', M2)))
        self.add('vm-b', '11111111-0000-4000-8000-00000000000b', None)
        self.add('vm-c', '11111111-0000-4000-8000-00000000000c',
                 placement('numa nodes="0"/>'))
        with open(os.path.join(self.domains, 'notes.txt'), 'w') as f:
            f.write('not a domain\n')

    def add(self, name, uuid, pl):
        with open(os.path.join(self.domains, name + '.xml'), 'w') as f:
            f.write(domain(name, uuid, pl))

    def run(self, *extra):
        return subprocess.run([KVMTUNE, 'mdev', 'persist', '--domains', self.domains,
                               '--mdevctl-dir', self.mdevctl, *extra],
                              capture_output=True, text=True, timeout=30)

    def definition(self, uuid, parent=GPU):
        return os.path.join(self.mdevctl, parent, uuid)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp, ignore_errors=True)


@tap.case
def persist_writes_mdevctl_json():
    with Dirs() as d:
        r = d.run()
        assert r.returncode == 0, r.stderr
        assert json.loads(read(d.definition(M1))) == {
            'mdev_type': 'nvidia-222', 'start': 'auto', 'attrs': []}
        assert json.loads(read(d.definition(M2)))['mdev_type'] == 'nvidia-223'
        assert sorted(os.listdir(d.mdevctl)) == [GPU]
        assert sorted(os.listdir(os.path.join(d.mdevctl, GPU))) == [M1, M2]
        assert f'defined {GPU}/{M1} nvidia-222' in r.stdout, r.stdout
        assert r.stdout.strip().endswith('2 defined, 0 unchanged, 0 failed'), r.stdout


@tap.case
def persist_is_idempotent():
    with Dirs() as d:
        assert d.run().returncode == 0
        before = snapshot(d.mdevctl)
        r = d.run()
        assert r.returncode == 0, r.stderr
        assert '0 defined, 2 unchanged' in r.stdout, r.stdout
        assert snapshot(d.mdevctl) == before


@tap.case
def differing_definition_left_alone():
    with Dirs() as d:
        os.makedirs(os.path.join(d.mdevctl, GPU))
        theirs = '{\n  "mdev_type": "nvidia-228",\n  "start": "manual",\n  "attrs": []\n}\n'
        with open(d.definition(M1), 'w') as f:
            f.write(theirs)
        r = d.run()
        assert r.returncode == 2, (r.returncode, r.stderr)
        assert 'left alone' in r.stderr and M1 in r.stderr, r.stderr
        assert read(d.definition(M1)) == theirs
        assert os.path.exists(d.definition(M2))


@tap.case
def dry_run_writes_nothing():
    with Dirs() as d:
        r = d.run('--dry-run')
        assert r.returncode == 0, r.stderr
        assert 'would define' in r.stdout
        assert not os.path.exists(d.mdevctl)


@tap.case
def hostile_placement_reported_not_written():
    with Dirs() as d:
        d.add('vm-evil', '11111111-0000-4000-8000-00000000000e',
              placement(mdev_el('../../../../tmp', M3)))
        d.add('vm-evil2', '11111111-0000-4000-8000-00000000000f',
              placement(mdev_el('nvidia-222', '../../../../../tmp/x')))
        r = d.run()
        assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
        assert 'vm-evil.xml' in r.stderr and 'vm-evil2.xml' in r.stderr, r.stderr
        assert sorted(os.listdir(os.path.join(d.mdevctl, GPU))) == [M1, M2]
        assert not os.path.exists(os.path.join(d.tmp, 'tmp'))


@tap.case
def usage_errors():
    for args in ([], ['bogus'], ['persist', 'extra'], ['persist', '--nope']):
        r = subprocess.run([KVMTUNE, 'mdev', *args], capture_output=True, text=True)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
    r = subprocess.run([KVMTUNE, 'mdev', '--help'], capture_output=True, text=True)
    assert r.returncode == 0 and 'persist' in r.stdout
    r = subprocess.run([KVMTUNE, 'mdev', 'persist', '--domains', '/nonexistent'],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count('\n') == 1, r.stderr


@tap.case
def mdevctl_lists_what_persist_wrote():
    """The real check of the format: mdevctl reads the files back.  mdevctl
    has no root override, so /etc/mdevctl.d is bind-mounted over in a private
    mount namespace (the host's stays untouched)."""
    mdevctl = shutil.which('mdevctl')
    if not mdevctl or os.geteuid() != 0 or not shutil.which('unshare'):
        raise Tap.Skip('needs root, unshare and mdevctl')
    if not os.path.isdir('/etc/mdevctl.d'):
        raise Tap.Skip('/etc/mdevctl.d absent')
    with Dirs() as d:
        assert d.run().returncode == 0
        # mdevctl checks its script directories exist.
        os.makedirs(os.path.join(d.mdevctl, 'scripts.d', 'callouts'))
        os.makedirs(os.path.join(d.mdevctl, 'scripts.d', 'notifiers'))
        r = subprocess.run(
            ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c',
             'mount --bind "$1" /etc/mdevctl.d && exec "$2" list -d --dumpjson',
             'sh', d.mdevctl, mdevctl],
            capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        listed = json.loads(r.stdout)
        devices = {}
        for parent in listed:
            for p, devs in parent.items():
                for dev in devs:
                    for uuid, conf in dev.items():
                        devices[(p, uuid)] = conf
        assert devices == {
            (GPU, M1): {'mdev_type': 'nvidia-222', 'start': 'auto', 'attrs': []},
            (GPU, M2): {'mdev_type': 'nvidia-223', 'start': 'auto', 'attrs': []},
        }, devices


tap.run()
