#!/usr/bin/python3
"""e2e 2: Nova's own libvirt client code through kvmtuned.

nova.virt.libvirt.host.Host on the proxy URI (initialised as nova-compute
does: eventlet, native event thread, lifecycle callbacks), then
Guest.create(xml, host), launch(), poweroff() (what Nova's destroy calls)
and delete_configuration() on XML built with nova.virt.libvirt.config.  The
defined domain carries kvmtune's placement and pins; Nova receives the
lifecycle events through the proxy; after delete_configuration the booking
is released (the only dedicated CPU can be booked again).
"""

import eventlet
eventlet.monkey_patch()  # as nova/monkey_patch.py does for nova-compute

import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import kt_proxy as kp  # noqa: E402

kp.require_root_and_tools()
if not kp.binary('kvmtuned'):
    kp.skip('kvmtuned is not built yet')
try:
    import libvirt  # noqa: E402
    from nova.virt.libvirt import guest as nguest  # noqa: E402
    from nova.virt.libvirt import host as nhost  # noqa: E402
except ImportError as e:
    kp.skip(f'python3-nova / python3-libvirt missing: {e}')

t = kp.Tap()
events = []


def wait_for(pred, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


with kp.Sandbox() as lv:
    with kp.Kvmtuned(lv, kp.live_policy()) as kt:
        host = nhost.Host(kt.uri, lifecycle_event_handler=events.append)
        host.initialize()
        conn = host.get_connection()
        t.ok(conn.getURI() == kt.uri, 'Nova Host connected through the proxy')
        caps = host.get_capabilities()
        t.ok(caps.host.cpu.arch == 'x86_64', 'Host.get_capabilities() through the proxy')

        name = 'instance-0000e2e2'
        uuid, xml = kp.nova_xml(name, 'e2e.pinned.small', 1, 64)
        guest = nguest.Guest.create(xml, host)
        t.ok(guest.uuid == uuid, 'Guest.create() defined the domain through the proxy')

        dx = guest._domain.XMLDesc(0)
        ok, out = kp.validate_xml(dx)
        t.ok(ok, 'defined XML validates (virt-xml-validate)', out)
        pl = kp.placement_of(dx)
        t.ok(pl is not None and pl.get('profile') == 'pinned',
             "domain carries <kvmtune:placement profile='pinned'>", dx)
        vpins, emu = kp.pins_of(dx)
        t.ok(vpins.get(0) == {1}, 'vCPU 0 pinned to the dedicated CPU 1', f'{vpins} {emu}')
        t.ok('http://openstack.org/xmlns/libvirt/nova/1.1' in dx,
             "Nova's own metadata kept")

        guest.launch()
        t.ok(guest.is_active(), 'Guest.launch() started it')
        t.ok(wait_for(lambda: any(e.uuid == uuid and e.transition == 0  # STARTED
                                  for e in events)),
             'Nova received the Started lifecycle event through the proxy',
             f'events: {events}')
        pininfo = guest._domain.vcpuPinInfo(libvirt.VIR_DOMAIN_AFFECT_LIVE)
        t.ok(pininfo and pininfo[0][1] and not pininfo[0][0],
             f'live vcpuPinInfo shows CPU 1 only: {pininfo}')
        t.ok([g.uuid for g in host.list_guests()] == [uuid], 'Host.list_guests() through the proxy')

        # A second pinned guest cannot fit while the first holds CPU 1.
        uuid2, xml2 = kp.nova_xml('instance-0000e2e3', 'e2e.pinned.small', 1, 64)
        import logging
        logging.getLogger('nova').setLevel(logging.CRITICAL)   # Nova logs the whole XML
        try:
            nguest.Guest.create(xml2, host)
            refused = None
        except libvirt.libvirtError as e:
            refused = e
            t.diag(f'refusal: {e}')
        t.ok(refused is not None and 'kvmtune' in str(refused),
             'second pinned guest refused while CPU 1 is booked', str(refused))

        guest.poweroff()
        t.ok(not guest.is_active(), 'Guest.poweroff() (Nova destroy) stopped it')
        guest.delete_configuration()
        t.ok(uuid not in lv.virsh('list', '--all', '--uuid').stdout,
             'Guest.delete_configuration() undefined it (direct check)')

        # The booking was released: the second guest fits now.
        try:
            g2 = nguest.Guest.create(xml2, host)
            pins2, _ = kp.pins_of(g2._domain.XMLDesc(0))
            t.ok(pins2.get(0) == {1}, 'CPU 1 booked again after delete_configuration', str(pins2))
            g2.delete_configuration()
        except libvirt.libvirtError as e:
            t.ok(False, 'CPU 1 booked again after delete_configuration', str(e))
        conn.close()
        t.ok(kt.alive(), 'kvmtuned still running')
sys.exit(t.done())
