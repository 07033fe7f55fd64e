#!/usr/bin/python3
"""e2e: a libvirtd behind SASL.

Both of libvirtd's sockets ask for SASL (auth_unix_rw/ro = "sasl", one user
in a private sasldb).  kvmtuned relays the whole negotiation untouched
(AUTH_LIST, AUTH_SASL_INIT/START/STEP are ordinary calls) and its own
connection authenticates with libvirt's auth.conf ($LIBVIRT_AUTH_FILE):
- SCRAM-SHA-256 and DIGEST-MD5 (a mechanism that can negotiate a security
  layer): a client authenticated through the proxy defines a domain and
  kvmtuned places it, so the frames after the negotiation are still plain;
- a wrong password through the proxy gets libvirtd's own authentication
  error and nothing is defined;
- kvmtuned without credentials does not serve (no ledger without its own
  connection), says why in its log, and its control socket still answers.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import kt_proxy as kp  # noqa: E402

kp.require_daemon('reference')
if not os.path.exists('/usr/sbin/saslpasswd2'):
    kp.skip('saslpasswd2 (sasl2-bin) missing')
try:
    import libvirt
except ImportError:
    kp.skip('python3-libvirt missing')

POLICY = """\
host:
  reserved_cpus: "0-1,112-113"
  shared_cpus: "2-55,56-111,114-167,168-223"
profiles:
  general: {cpu: {policy: shared}}
match:
  - {flavor: "general.*", profile: general}
  - {default: none}
"""
USER, PASSWORD = 'kt-nova', 'Sasl-pass-1'

t = kp.Tap()
libvirt.registerErrorHandler(lambda *a: None, None)


def open_as(uri, password):
    def cb(creds, data):
        for c in creds:
            if c[0] == libvirt.VIR_CRED_AUTHNAME:
                c[4] = USER
            elif c[0] == libvirt.VIR_CRED_PASSPHRASE:
                c[4] = password
        return 0
    return libvirt.openAuth(uri, [[libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE],
                                  cb, None], 0)


for mech in ('scram-sha-256', 'digest-md5'):
    with kp.Sandbox(sasl={'mech': mech, 'user': USER, 'password': PASSWORD}) as lv:
        r = lv.virsh('list', check=False)
        t.ok(r.returncode != 0 and 'authentication' in r.stderr.lower(),
             f'{mech}: libvirtd refuses a client without credentials', r.stderr)
        # kvmtuned (and the virsh readiness check) read the credentials from
        # auth.conf; the test's own clients then answer for themselves
        os.environ['LIBVIRT_AUTH_FILE'] = lv.auth_file
        try:
            kt = kp.Kvmtuned(lv, POLICY, sysroot=kp.fixture('reference'))
            kt.start()
        finally:
            del os.environ['LIBVIRT_AUTH_FILE']
        try:
            t.ok(kt.status()['daemon']['ledger_ready'],
                 f'{mech}: kvmtuned authenticated its own connection (auth.conf)')
            conn = open_as(kt.uri, PASSWORD)
            uuid, xml = kp.nova_xml(f'sasl-{mech}', 'general.small', 1, 64)
            dom = conn.defineXML(xml)
            dx = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
            ok, out = kp.validate_xml(dx)
            t.ok(ok, f'{mech}: the defined XML validates', out)
            t.ok(kp.placement_of(dx) is not None,
                 f'{mech}: authenticated through the proxy, the define is placed')
            booked = [d['uuid'] for d in kt.status()['engine']['domains']]
            t.ok(booked == [uuid], f'{mech}: and booked', booked)
            dom.undefine()
            conn.close()
            try:
                open_as(kt.uri, 'wrong')
                t.ok(False, f'{mech}: a wrong password through the proxy is refused')
            except libvirt.libvirtError as e:
                t.ok('authentication' in str(e).lower(),
                     f'{mech}: a wrong password through the proxy gets libvirtd\'s error',
                     str(e))
            t.ok(kt.alive(), f'{mech}: kvmtuned still running')
        finally:
            kt.stop()
            kt.cleanup()

    if mech != 'scram-sha-256':
        continue
    with kp.Sandbox(sasl={'mech': mech, 'user': USER, 'password': PASSWORD}) as lv:
        kt = kp.Kvmtuned(lv, POLICY, sysroot=kp.fixture('reference'))
        with open(kt.log, 'w') as logf:
            proc = subprocess.Popen(kt.argv(), stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=logf)
        try:
            deadline = time.monotonic() + 15
            log = ''
            while time.monotonic() < deadline:
                with open(kt.log) as f:
                    log = f.read()
                if 'authentication' in log.lower():
                    break
                time.sleep(0.2)
            t.ok('authentication' in log.lower(),
                 'without credentials kvmtuned says libvirtd wants authentication', log)
            t.ok(not os.path.exists(kt.listen), 'and does not serve (no ledger)')
            r = subprocess.run([kt.cli, 'status', '--control', kt.control, '--json'],
                               capture_output=True, text=True, timeout=30)
            st = json.loads(r.stdout)['daemon'] if r.returncode == 0 else {}
            t.ok(st.get('libvirt_connected') is False and not st.get('ledger_ready'),
                 'its control socket answers: libvirt connection down', r.stderr or st)
            t.ok(proc.poll() is None, 'it keeps running and retrying')
        finally:
            proc.terminate()
            proc.wait(10)
            kt.cleanup()

sys.exit(t.done())
