#!/usr/bin/python3
"""e2e: the ledger follows libvirt when the proxy is not in the path.

- a domain defined through kvmtuned and undefined directly on libvirtd
  (another client) is released through kvmtuned's own lifecycle events;
- a transient domain (`virsh create` through the proxy, a real QEMU) holds
  its booking while it runs and releases it when it stops;
- a domain defined directly on libvirtd with a placement (copied from one
  kvmtuned made) is booked from the Defined event, so kvmtuned refuses to
  hand the same CPU out again;
- a definition without <uuid> gets one from kvmtuned and is booked by it;
- a running domain undefined through the proxy stays booked until it stops;
- a placement made for an incoming migration/restore (the hook's
  place-incoming) is released when the domain never arrives.
On the live host: one dedicated CPU, so every check is a real capacity test.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import kt_proxy as kp  # noqa: E402

kp.require_daemon()

t = kp.Tap()


def bookings(kt):
    return sorted(d['uuid'] for d in kt.status()['engine']['domains'])


def wait_bookings(kt, want, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = bookings(kt)
        if got == sorted(want):
            return True
        time.sleep(0.1)
    return False


with kp.Sandbox() as lv:
    with kp.Kvmtuned(lv, kp.live_policy()) as kt:
        u1, x1 = kp.nova_xml('instance-0000ee01', 'e2e.pinned.small', 1, 64)
        r = lv.virsh('define', '/dev/stdin', uri=kt.uri, input=x1, check=False)
        t.ok(r.returncode == 0 and bookings(kt) == [u1], 'defined through the proxy: booked',
             r.stderr)
        lv.virsh('undefine', 'instance-0000ee01')            # direct, behind kvmtuned's back
        t.ok(wait_bookings(kt, []), 'undefined directly on libvirtd: booking released (event)',
             bookings(kt))

        u2, x2 = kp.nova_xml('instance-0000ee02', 'e2e.pinned.small', 1, 64)
        r = lv.virsh('create', '/dev/stdin', uri=kt.uri, input=x2, check=False)
        t.ok(r.returncode == 0, 'transient pinned domain created through the proxy', r.stderr)
        dx = lv.virsh('dumpxml', 'instance-0000ee02', uri=kt.uri, check=False).stdout
        ok, out = kp.validate_xml(dx)
        t.ok(ok, 'its XML validates', out)
        t.ok(kp.pins_of(dx)[0].get(0) == {1}, 'running on the dedicated CPU 1')
        t.ok(bookings(kt) == [u2], 'transient domain booked while it runs')
        u3, x3 = kp.nova_xml('instance-0000ee03', 'e2e.pinned.small', 1, 64)
        r = lv.virsh('define', '/dev/stdin', uri=kt.uri, input=x3, check=False)
        t.ok(r.returncode != 0 and 'kvmtune' in r.stderr,
             'while it runs, another pinned domain is refused', r.stderr)
        lv.virsh('destroy', 'instance-0000ee02', uri=kt.uri)
        t.ok(wait_bookings(kt, []), 'transient domain stopped: booking released', bookings(kt))

        # A placement written elsewhere, defined directly on libvirtd.
        r = lv.virsh('define', '/dev/stdin', uri=kt.uri, input=x3, check=False)
        t.ok(r.returncode == 0, 'after the stop the CPU is free again', r.stderr)
        placed = lv.virsh('dumpxml', '--inactive', 'instance-0000ee03').stdout
        lv.virsh('undefine', 'instance-0000ee03', uri=kt.uri)
        t.ok(wait_bookings(kt, []), 'undefined through the proxy: released')
        u4 = '4f1d2c3b-0000-4000-8000-0000000000e4'
        copy = placed.replace(u3, u4).replace('instance-0000ee03', 'copied-placement')
        lv.virsh('define', '/dev/stdin', input=copy)            # direct
        t.ok(wait_bookings(kt, [u4]), 'a placed domain defined directly is booked (event)',
             bookings(kt))
        u5, x5 = kp.nova_xml('instance-0000ee05', 'e2e.pinned.small', 1, 64)
        r = lv.virsh('define', '/dev/stdin', uri=kt.uri, input=x5, check=False)
        t.ok(r.returncode != 0, 'so the proxy does not hand CPU 1 out twice', r.stderr)
        lv.virsh('undefine', 'copied-placement')
        t.ok(wait_bookings(kt, []), 'and releases it when that domain goes')

        # Written by hand, without <uuid>: kvmtuned gives it one to key the
        # booking by, and libvirt keeps it.
        _, x6 = kp.nova_xml('no-uuid', 'e2e.pinned.small', 1, 64)
        x6 = re.sub(r'\s*<uuid>[^<]*</uuid>', '', x6)
        r = lv.virsh('define', '/dev/stdin', uri=kt.uri, input=x6, check=False)
        t.ok(r.returncode == 0, 'a pinned domain without <uuid> defined through the proxy',
             r.stderr)
        dx = lv.virsh('dumpxml', '--inactive', 'no-uuid', check=False).stdout
        ok, out = kp.validate_xml(dx)
        t.ok(ok, 'its XML validates', out)
        u6 = lv.virsh('domuuid', 'no-uuid', check=False).stdout.strip()
        t.ok(kp.placement_of(dx) is not None and bookings(kt) == [u6],
             'it is placed and booked under the UUID libvirt kept', (u6, bookings(kt)))
        lv.virsh('undefine', 'no-uuid', uri=kt.uri)
        t.ok(wait_bookings(kt, []), 'undefined: released')

        # Undefining a running domain leaves it transient: still booked
        # until it stops, so its CPU is not handed out meanwhile.
        u7, x7 = kp.nova_xml('instance-0000ee07', 'e2e.pinned.small', 1, 64)
        lv.virsh('define', '/dev/stdin', uri=kt.uri, input=x7)
        lv.virsh('start', 'instance-0000ee07', uri=kt.uri)
        r = lv.virsh('undefine', 'instance-0000ee07', uri=kt.uri, check=False)
        t.ok(r.returncode == 0, 'a running domain undefined through the proxy', r.stderr)
        time.sleep(1)       # any UNDEFINED event has arrived by now
        t.ok(bookings(kt) == [u7], 'it stays booked while it runs (transient)', bookings(kt))
        r = lv.virsh('define', '/dev/stdin', uri=kt.uri, input=x5, check=False)
        t.ok(r.returncode != 0, 'its CPU is not handed out meanwhile', r.stderr)
        lv.virsh('destroy', 'instance-0000ee07', uri=kt.uri)
        t.ok(wait_bookings(kt, []), 'stopped: released', bookings(kt))

        # The same behind kvmtuned's back: an UNDEFINED event of a domain
        # that runs is looked up (one that does not run is released at once).
        lv.virsh('define', '/dev/stdin', uri=kt.uri, input=x7)
        lv.virsh('start', 'instance-0000ee07', uri=kt.uri)
        lv.virsh('undefine', 'instance-0000ee07')                  # direct
        time.sleep(1)
        t.ok(bookings(kt) == [u7], 'a running domain undefined directly stays booked',
             bookings(kt))
        r = lv.virsh('define', '/dev/stdin', uri=kt.uri, input=x5, check=False)
        t.ok(r.returncode != 0, 'its CPU is not handed out meanwhile', r.stderr)
        lv.virsh('destroy', 'instance-0000ee07')
        t.ok(wait_bookings(kt, []), 'stopped directly: released', bookings(kt))

    # Placements for incoming migrations/restores: kept when the domain
    # arrives, released when it never does (no event would say so).
    with kp.Kvmtuned(lv, kp.live_policy(), extra_args=['--incoming-grace', '2']) as kt:
        u8, x8 = kp.nova_xml('instance-0000ee08', 'e2e.pinned.small', 1, 64)
        reply = kt.control_call('place-incoming', xml=x8)
        t.ok(reply.get('uuid') == u8 and bookings(kt) == [u8],
             'place-incoming (hook, migrate begin): placed and booked', reply)
        t.ok(wait_bookings(kt, [], timeout=15),
             'the domain never arrived: released after the grace period', bookings(kt))
        u9, x9 = kp.nova_xml('instance-0000ee09', 'e2e.pinned.small', 1, 64)
        reply = kt.control_call('place-incoming', xml=x9)
        placed = reply.get('xml', '')
        t.ok(kp.placement_of(placed) is not None if placed else False,
             'place-incoming answers the XML placed here', reply)
        lv.virsh('define', '/dev/stdin', input=placed)   # the arriving domain
        time.sleep(4)
        t.ok(bookings(kt) == [u9], 'the domain arrived: still booked after the grace period',
             bookings(kt))
        lv.virsh('undefine', 'instance-0000ee09')
        t.ok(wait_bookings(kt, []), 'and released when it goes')
        t.ok(kt.alive(), 'kvmtuned still running after the incoming checks')
        t.ok(kt.alive(), 'kvmtuned still running')
sys.exit(t.done())
