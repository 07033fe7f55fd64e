#!/usr/bin/python3
"""e2e 4: a define beyond capacity is refused by kvmtuned itself.

On the live host (one dedicated CPU) a first pinned domain takes CPU 1; a
second is refused with a libvirt error that names the resource, nothing is
defined, and the ledger (`kvmtune status --json`) is unchanged.  The same
through `virsh create` (transient) and with `--validate` (DEFINE_XML_FLAGS).
The connection stays usable after a refusal.
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import kt_proxy as kp  # noqa: E402

kp.require_daemon()
try:
    import libvirt
except ImportError:
    kp.skip('python3-libvirt missing')

t = kp.Tap()


def write_tmp(text):
    with tempfile.NamedTemporaryFile('w', suffix='.xml', delete=False) as f:
        f.write(text)
        return f.name


def ledger(kt):
    """The bookings part of the status (counters change with every call)."""
    eng = kt.status()['engine']
    return {'domains': sorted((d['uuid'], d['state']) for d in eng['domains']),
            'nodes': eng['nodes']}


with kp.Sandbox() as lv:
    with kp.Kvmtuned(lv, kp.live_policy()) as kt:
        _, x1 = kp.nova_xml('instance-0000aa01', 'e2e.pinned.small', 1, 64)
        p = write_tmp(x1)
        r = lv.virsh('define', p, uri=kt.uri, check=False)
        os.unlink(p)
        t.ok(r.returncode == 0, 'first pinned domain defined (takes the only dedicated CPU)',
             r.stderr)
        before = ledger(kt)
        t.ok(len(before['domains']) == 1, 'ledger holds one booking', before)
        before_list = lv.virsh('list', '--all', '--uuid').stdout

        u2, x2 = kp.nova_xml('instance-0000aa02', 'e2e.pinned.small', 1, 64)
        p = write_tmp(x2)
        for verb, args in (('define', ['define', p]),
                           ('define --validate', ['define', '--validate', p]),
                           ('create', ['create', p])):
            r = lv.virsh(*args, uri=kt.uri, check=False)
            msg = r.stderr.strip()
            t.diag(f'virsh {verb}: {msg}')
            t.ok(r.returncode != 0, f'virsh {verb} beyond capacity fails')
            t.ok('kvmtune' in msg and 'cpu' in msg.lower(),
                 f'virsh {verb}: the error is kvmtune\'s and names the resource (CPUs)', msg)
            t.ok(lv.virsh('list', '--all', '--uuid').stdout == before_list,
                 f'virsh {verb}: nothing defined or started')
            t.ok(ledger(kt) == before, f'virsh {verb}: ledger unchanged')
        os.unlink(p)

        # Every define the engine read, refused ones included, counts in its
        # CPU time; the refusals are counted as such.
        st = kt.status()['daemon']
        t.ok(st['engine_runs'] == 4 and st['refused'] == 3 and st['engine_us'] > 0,
             'status: the engine read 4 defines (3 refused) and took CPU time for them',
             {k: st[k] for k in ('engine_runs', 'engine_us', 'refused', 'rewrites')})
        text = kt.status(json_out=False)
        t.ok('policy engine: ' in text and '(parse, decide, apply, format; 4 defines)' in text,
             'kvmtune status names the engine\'s mean CPU time per define', text)

        # The error arrives as a proper libvirtError; the connection survives.
        libvirt.registerErrorHandler(lambda *a: None, None)
        conn = libvirt.open(kt.uri)
        try:
            conn.defineXML(x2)
            err = None
        except libvirt.libvirtError as e:
            err = e
        t.ok(err is not None and not (err.get_error_code() in (1, 38)
                                      and err.get_error_domain() in (7, 13)),
             'refusal is not one Nova reads as a broken connection',
             err and (err.get_error_code(), err.get_error_domain()))
        t.ok(err is not None and err.get_error_code() == libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
             f'error code CONFIG_UNSUPPORTED (got {err and err.get_error_code()})')
        t.ok(len(conn.listAllDomains()) == 1, 'same connection still usable after the refusal')
        conn.close()

        # Capacity comes back when the first domain goes.
        lv.virsh('undefine', 'instance-0000aa01', uri=kt.uri)
        p = write_tmp(x2)
        r = lv.virsh('define', p, uri=kt.uri, check=False)
        os.unlink(p)
        t.ok(r.returncode == 0, 'after undefine the second domain fits', r.stderr)
        dx = lv.virsh('dumpxml', 'instance-0000aa02', uri=kt.uri, check=False).stdout
        ok, out = kp.validate_xml(dx)
        t.ok(ok, 'its XML validates', out)
        t.ok(kt.alive(), 'kvmtuned still running')
sys.exit(t.done())
