#!/usr/bin/python3
"""e2e 3: everything kvmtuned does not rewrite passes through unchanged.

- `virsh list --all`, `capabilities`, `nodeinfo`, `version`: same output
  through the proxy as on a direct connection;
- a domain no profile matches is defined exactly as libvirt defines it
  directly (no placement, no pins);
- `virsh event --loop` through the proxy sees lifecycle events of domains
  changed on the direct connection;
- streams: vol-upload then vol-download of 5 MiB through the proxy to a dir
  pool round-trips byte for byte; `virsh screenshot` of a running guest;
- pipelining: several threads share one python connection through the proxy;
- FDs on CREATE_XML_WITH_FILES; keepalive on an idle connection.
"""

import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import kt_proxy as kp  # noqa: E402

kp.require_root_and_tools()
if not kp.binary('kvmtuned'):
    kp.skip('kvmtuned is not built yet')

t = kp.Tap()


def norm(xml, name, uuid):
    return xml.replace(name, 'NAME').replace(uuid, 'UUID')


def write_tmp(text, suffix='.xml'):
    with tempfile.NamedTemporaryFile('w', suffix=suffix, delete=False) as f:
        f.write(text)
        return f.name


with kp.Sandbox() as lv:
    work = tempfile.mkdtemp(prefix='kt-e2e3-')
    with kp.Kvmtuned(lv, kp.live_policy()) as kt:
        # Keepalive: an idle connection with client pings every second
        # (dropped after 3 unanswered) must survive the whole test: PING and
        # PONG frames pass through both ways.
        import libvirt
        libvirt.virEventRegisterDefaultImpl()

        def event_loop():
            while True:
                libvirt.virEventRunDefaultImpl()
        threading.Thread(target=event_loop, daemon=True).start()
        ka = libvirt.open(kt.uri)
        ka.setKeepAlive(1, 3)
        ka_closed = []
        ka.registerCloseCallback(lambda c, reason, opaque: ka_closed.append(reason), None)
        ka_start = time.monotonic()

        # Some state to list.
        for i in range(3):
            _, x = kp.plain_xml(f'plain-{i}')
            p = write_tmp(x)
            lv.virsh('define', p)
            os.unlink(p)
        for args in (['list', '--all'], ['capabilities'], ['nodeinfo'], ['version'],
                     ['list', '--all', '--uuid']):
            d = lv.virsh(*args, check=False)
            pr = lv.virsh(*args, uri=kt.uri, check=False)
            t.ok(pr.returncode == 0 and d.stdout == pr.stdout,
                 f'virsh {" ".join(args)}: proxy output equals direct output',
                 f'direct rc={d.returncode} proxy rc={pr.returncode}\n{pr.stderr}')

        # No profile matches: libvirt gets the caller's XML.
        u1, x1 = kp.plain_xml('nomatch-a', vcpus=2)
        u2, x2 = kp.plain_xml('nomatch-b', vcpus=2)
        p1, p2 = write_tmp(x1), write_tmp(x2)
        r = lv.virsh('define', p1, uri=kt.uri, check=False)
        lv.virsh('define', p2)
        os.unlink(p1)
        os.unlink(p2)
        t.ok(r.returncode == 0, 'non-matching domain defined through the proxy', r.stderr)
        a = lv.virsh('dumpxml', 'nomatch-a', uri=kt.uri).stdout
        b = lv.virsh('dumpxml', 'nomatch-b').stdout
        ok, out = kp.validate_xml(a)
        t.ok(ok, 'its XML validates', out)
        t.ok(norm(a, 'nomatch-a', u1) == norm(b, 'nomatch-b', u2),
             'defined exactly as a direct define of the same XML (no placement, no pins)',
             a)

        # Events through the proxy.
        ev = subprocess.Popen([kp.VIRSH, '-c', kt.uri, 'event', '--loop', '--event', 'lifecycle'],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(iter(ev.stdout.readline, '')),
                                  daemon=True)
        reader.start()
        time.sleep(1.0)            # let virsh register its callback
        _, xe = kp.plain_xml('evdom')
        pe = write_tmp(xe)
        lv.virsh('define', pe)
        os.unlink(pe)
        lv.virsh('start', 'evdom')
        lv.virsh('destroy', 'evdom')
        lv.virsh('undefine', 'evdom')
        deadline = time.monotonic() + 15
        want = ['Defined', 'Started', 'Stopped', 'Undefined']
        while time.monotonic() < deadline:
            got = [w for w in want if any("'evdom'" in l and w in l for l in lines)]
            if got == want:
                break
            time.sleep(0.1)
        ev.terminate()
        try:
            ev.wait(5)
        except subprocess.TimeoutExpired:
            ev.kill()
        got = [w for w in want if any("'evdom'" in l and w in l for l in lines)]
        t.ok(got == want, f'virsh event --loop through the proxy saw {want}',
             ''.join(lines))

        # Streams both ways.
        pool_dir = os.path.join(work, 'pool')
        os.makedirs(pool_dir)
        lv.virsh('pool-define-as', 'ktpool', 'dir', '--target', pool_dir)
        lv.virsh('pool-start', 'ktpool')
        lv.virsh('vol-create-as', 'ktpool', 'vol1', '5M', '--format', 'raw')
        src = os.path.join(work, 'src.bin')
        dst = os.path.join(work, 'dst.bin')
        payload = os.urandom(5 * 1024 * 1024)
        with open(src, 'wb') as f:
            f.write(payload)
        r = lv.virsh('vol-upload', '--pool', 'ktpool', 'vol1', src, uri=kt.uri, check=False)
        t.ok(r.returncode == 0, 'vol-upload (stream, client to server) through the proxy', r.stderr)
        with open(os.path.join(pool_dir, 'vol1'), 'rb') as f:
            t.ok(f.read() == payload, 'uploaded volume holds the 5 MiB sent')
        r = lv.virsh('vol-download', '--pool', 'ktpool', 'vol1', dst, uri=kt.uri, check=False)
        with open(dst, 'rb') as f:
            t.ok(r.returncode == 0 and f.read() == payload,
                 'vol-download (stream, server to client) round-trips byte for byte', r.stderr)

        # Screenshot of a running guest (stream from QEMU's screendump).
        _, xs = kp.nova_xml('shotdom', 'm1.tiny', 1, 64)
        ps = write_tmp(xs)
        r = lv.virsh('create', ps, uri=kt.uri, check=False)
        os.unlink(ps)
        t.ok(r.returncode == 0, 'virsh create (transient, no profile) through the proxy', r.stderr)
        time.sleep(1)
        shot = os.path.join(work, 'shot.ppm')
        r = lv.virsh('screenshot', 'shotdom', shot, uri=kt.uri, check=False)
        ok = r.returncode == 0 and os.path.exists(shot)
        head = open(shot, 'rb').read(2) if ok else b''
        t.ok(ok and head in (b'P6', b'\x89P'), 'virsh screenshot through the proxy',
             r.stdout + r.stderr)
        lv.virsh('destroy', 'shotdom', check=False)

        # Pipelined calls from several threads on one connection.
        conn = libvirt.open(kt.uri)
        errors = []

        def worker():
            try:
                for _ in range(50):
                    conn.lookupByName('plain-1').info()
                    conn.getInfo()
            except libvirt.libvirtError as e:
                errors.append(str(e))
        ths = [threading.Thread(target=worker) for _ in range(4)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(60)
        conn.close()
        t.ok(not errors and not any(th.is_alive() for th in ths),
             '4 threads x 100 pipelined calls on one proxied connection', '\n'.join(errors[:5]))

        # File descriptors (SCM_RIGHTS after the frame) on
        # DOMAIN_CREATE_XML_WITH_FILES: the QEMU driver refuses the call, so
        # the answer must equal the direct one and the stream stay in sync
        # (a proxy that swallowed the FD carrier bytes would desync it).  The
        # pinned one is rewritten and booked first, then released on the error.
        libvirt.registerErrorHandler(lambda *a: None, None)
        answers = {}
        for label, uri in (('direct', lv.uri), ('proxy', kt.uri)):
            c = libvirt.open(uri)
            rfd, wfd = os.pipe()
            for name, flavor in (('fdpass', 'm1.tiny'), ('kt-pinned-fd', 'e2e.pinned')):
                _, xf = kp.nova_xml(name, flavor, 1, 64)
                try:
                    c.createXMLWithFiles(xf, [rfd, wfd]).destroy()
                    answers[(label, name)] = 'created'
                except libvirt.libvirtError as e:
                    answers[(label, name)] = (e.get_error_code(), str(e))
            answers[(label, 'after')] = c.getInfo()[:2]
            c.close()
            os.close(rfd)
            os.close(wfd)
        for name in ('fdpass', 'kt-pinned-fd', 'after'):
            t.ok(answers[('direct', name)] == answers[('proxy', name)],
                 f'CREATE_XML_WITH_FILES (2 fds) {name}: proxy answer equals direct',
                 f"direct {answers[('direct', name)]}\nproxy  {answers[('proxy', name)]}")
        if kt.cli:
            eng = kt.status()['engine']
            t.ok(eng['pending'] == 0 and not [d for d in eng['domains']
                                               if d['state'] != 'committed'],
                 'booking of the refused WITH_FILES create released', eng['domains'])
        idle = time.monotonic() - ka_start
        t.ok(not ka_closed and ka.isAlive() == 1 and ka.getInfo()[0] == 'x86_64',
             f'keepalive (1 s, 3 missed) connection idle {idle:.0f} s through the proxy survives',
             f'closed: {ka_closed}')
        ka.close()
        t.ok(kt.alive(), 'kvmtuned still running')
    import shutil
    shutil.rmtree(work, ignore_errors=True)
sys.exit(t.done())
