#!/usr/bin/python3
"""Suite 'hook': migrate/restore begin and reconnect against a double of
kvmtuned's control socket (the hook links the real client).

    test-incoming.py HOOK
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hooklib import HookEnv, Tap, domain, one_line_error, placement, read  # noqa: E402

try:
    from control_double import ControlDouble
except ImportError as e:          # python3-gi missing
    print(f'1..0 # SKIP control double needs python3-gi: {e}')
    sys.exit(0)

HOOK = os.path.abspath(sys.argv[1])
tap = Tap()
DOM = '11111111-2222-4333-8444-555555555555'

# A domain as it arrives from another host: pinned to CPUs this host may not
# have, its old placement in the metadata.
FOREIGN = domain('mig', DOM, placement(
    'numa nodes="1"/>',
    'cpus policy="dedicated" vcpus="1"><kvmtune:vcpu id="0" cpus="150"/></kvmtune:cpus>',
    'vf pf="0000:41:00.0" vf="0000:41:02.3" node="1"/>',
    profile='db-dedicated')).replace(
    "<vcpu placement='static'>1</vcpu>",
    "<vcpu placement='static'>1</vcpu>\n  <cputune>\n    <vcpupin vcpu='0' cpuset='150'/>\n"
    "    <emulatorpin cpuset='151'/>\n  </cputune>\n  <numatune>\n"
    "    <memory mode='strict' nodeset='1'/>\n  </numatune>")


def policy(h, text):
    with open(h.env['KVMTUNE_POLICY'], 'w') as f:
        f.write(text)


@tap.case
def migrate_begin_prints_replaced_xml():
    with HookEnv(HOOK, copy=False) as h, ControlDouble(h.control, sysroot=h.root) as d:
        r = h.run('mig', 'migrate', 'begin', FOREIGN)
        assert r.returncode == 0, r.stderr
        out = r.stdout.decode()
        assert 'profile="incoming-double"' in out and 'db-dedicated' not in out, out
        assert "cpuset='150'" not in out
        assert [q['op'] for q in d.requests] == ['place-incoming']
        assert d.requests[0]['xml'] == FOREIGN
        # libvirt checks what the hook prints: it must be valid domain XML.
        if shutil.which('virt-xml-validate'):
            with tempfile.NamedTemporaryFile('w', suffix='.xml') as f:
                f.write(out)
                f.flush()
                v = subprocess.run(['virt-xml-validate', f.name, 'domain'],
                                   capture_output=True, text=True)
                assert v.returncode == 0, v.stdout + v.stderr


@tap.case
def restore_begin_prints_replaced_xml():
    with HookEnv(HOOK, copy=False) as h, ControlDouble(h.control, sysroot=h.root) as d:
        r = h.run('mig', 'restore', 'begin', FOREIGN)
        assert r.returncode == 0, r.stderr
        assert b'incoming-double' in r.stdout
        assert d.requests[0]['op'] == 'place-incoming'


@tap.case
def daemon_down_fails_by_default():
    with HookEnv(HOOK, copy=False) as h:
        r = h.run('mig', 'migrate', 'begin', FOREIGN)
        one_line_error(r, 'unreachable', 'on_daemon_down: fail')
        assert r.stdout == b''
        policy(h, 'hooks:\n  on_daemon_down: fail\n')
        one_line_error(h.run('mig', 'restore', 'begin', FOREIGN), 'unreachable')


@tap.case
def daemon_down_passthrough_prints_input():
    with HookEnv(HOOK, copy=False) as h:
        policy(h, 'hooks:\n  on_daemon_down: passthrough\n')
        for op in ('migrate', 'restore'):
            r = h.run('mig', op, 'begin', FOREIGN)
            assert r.returncode == 0, r.stderr
            assert r.stdout == FOREIGN.encode()
            assert b'passthrough' in r.stderr


@tap.case
def broken_policy_means_default():
    with HookEnv(HOOK, copy=False) as h:
        policy(h, 'hooks:\n  on_daemon_down: maybe\n')
        one_line_error(h.run('mig', 'migrate', 'begin', FOREIGN), 'unreachable')


@tap.case
def daemon_refusal_stands():
    with HookEnv(HOOK, copy=False) as h, ControlDouble(h.control, mode='refuse'):
        policy(h, 'hooks:\n  on_daemon_down: passthrough\n')
        r = h.run('mig', 'migrate', 'begin', FOREIGN)
        one_line_error(r, 'refused', 'dedicated CPUs needed')
        assert r.stdout == b''


@tap.case
def daemon_silent_times_out():
    with HookEnv(HOOK, copy=False) as h, ControlDouble(h.control, mode='silent'):
        t = time.monotonic()
        r = h.run('mig', 'migrate', 'begin', FOREIGN, env={'KVMTUNE_TIMEOUT_MS': '500'})
        assert time.monotonic() - t < 5
        one_line_error(r, 'unreachable')


@tap.case
def daemon_garbage_refused():
    with HookEnv(HOOK, copy=False) as h, ControlDouble(h.control, mode='garbage'):
        one_line_error(h.run('mig', 'migrate', 'begin', FOREIGN), 'unusable XML')


@tap.case
def reconnect_notifies_and_never_fails():
    with HookEnv(HOOK, copy=False) as h:
        with ControlDouble(h.control) as d:
            r = h.run('mig', 'reconnect', 'begin', FOREIGN)
            assert r.returncode == 0 and r.stdout == b'' and r.stderr == b''
            assert d.requests == [{'op': 'notify', 'event': 'reconnect', 'name': 'mig',
                                   'uuid': DOM}], d.requests
        with ControlDouble(h.control, mode='silent'):
            t = time.monotonic()
            r = h.run('mig', 'reconnect', 'begin', FOREIGN)
            assert r.returncode == 0 and time.monotonic() - t < 3
        # No daemon, garbage input: still 0.
        assert h.run('mig', 'reconnect', 'begin', b'\xff\x00').returncode == 0


@tap.case
def log_records_each_call():
    with HookEnv(HOOK, copy=False) as h:
        log = os.path.join(h.tmp, 'hook.log')
        policy(h, 'hooks:\n  on_daemon_down: passthrough\n')
        h.run('mig', 'migrate', 'begin', FOREIGN, env={'KVMTUNE_HOOK_LOG': log})
        os.unlink(h.env['KVMTUNE_POLICY'])
        h.run('mig', 'restore', 'begin', FOREIGN, env={'KVMTUNE_HOOK_LOG': log})
        lines = read(log).splitlines()
        assert len(lines) == 2, lines
        assert lines[0].endswith(' migrate begin mig passthrough'), lines[0]
        assert ' restore begin mig error: kvmtuned is unreachable' in lines[1], lines[1]


tap.run()
