#!/usr/bin/python3
"""e2e: bad input on kvmtuned's socket leaves it serving everyone else.

Raw connections send: ASCII garbage (read as a huge length word), a length
word over libvirt's 32 MiB limit, one under the 28-byte minimum, a truncated
frame followed by a disconnect, a frame that stalls half-way (kept open), an
unknown program, an unknown procedure, a DEFINE_XML whose string length
runs past the frame, one whose XML is over 4 MiB, and one whose XML is not
XML.  Meanwhile and afterwards a normal client works, kvmtuned's RSS does
not jump (no allocation for the announced size), and it is still alive.
"""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import kt_proxy as kp  # noqa: E402

kp.require_root_and_tools()
if not kp.binary('kvmtuned'):
    kp.skip('kvmtuned is not built yet')

REMOTE = 0x20008086
CALL, REPLY = 0, 1
PROC_OPEN, PROC_DEFINE = 1, 11
MAX = 33554432

t = kp.Tap()


def frame(prog, proc, serial, payload=b'', vers=1, mtype=CALL, status=0):
    return struct.pack('>IIIiIII', 28 + len(payload), prog, vers, proc, mtype, serial,
                       status) + payload


def xdr_string(b):
    pad = (4 - len(b) % 4) % 4
    return struct.pack('>I', len(b)) + b + b'\0' * pad


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def closed_within(s, secs=5):
    """True if the peer closes the connection (EOF/reset) within secs."""
    s.settimeout(secs)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def read_frame(s, secs=10):
    s.settimeout(secs)
    buf = b''
    try:
        while len(buf) < 4:
            b = s.recv(4 - len(buf))
            if not b:
                return None
            buf += b
        n = struct.unpack('>I', buf)[0]
        while len(buf) < n:
            b = s.recv(min(65536, n - len(buf)))
            if not b:
                return None
            buf += b
    except (socket.timeout, ConnectionResetError):
        return None
    prog, vers, proc, mtype, serial, status = struct.unpack('>IIiIII', buf[4:28])
    return {'prog': prog, 'proc': proc, 'type': mtype, 'serial': serial,
            'status': status, 'payload': buf[28:]}


def opened(path):
    """A raw connection that did CONNECT_OPEN (so defines reach the proxy's
    decoder exactly as virsh sends them)."""
    s = connect(path)
    s.sendall(frame(REMOTE, PROC_OPEN, 0, struct.pack('>I', 1) +
                    xdr_string(b'qemu:///system') + struct.pack('>I', 0)))
    r = read_frame(s)
    return s, r


def still_serving(kt):
    r = lv.virsh('list', '--all', uri=kt.uri, check=False)
    return r.returncode == 0


with kp.Sandbox() as lv:
    with kp.Kvmtuned(lv, kp.live_policy()) as kt:
        rss0 = kt.rss_kib()
        # A slow client that stays half-way through a frame the whole time.
        stall = connect(kt.listen)
        stall.sendall(struct.pack('>I', 1000) + b'\0' * 100)

        s = connect(kt.listen)
        s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
        t.ok(closed_within(s), 'ASCII garbage: connection closed')
        s.close()

        for n, what in ((0xFFFFFFFF, 'length 4 GiB'), (MAX + 5, 'length just over 32 MiB + 4'),
                        (8, 'length 8 (< 28)'), (0, 'length 0')):
            s = connect(kt.listen)
            s.sendall(struct.pack('>I', n) + b'\0' * 24)
            t.ok(closed_within(s), f'{what}: connection closed')
            s.close()
        rss1 = kt.rss_kib()
        t.ok(rss1 - rss0 < 8 * 1024,
             f'no allocation for announced sizes (RSS {rss0} -> {rss1} KiB)')

        s = connect(kt.listen)
        s.sendall(struct.pack('>I', 1000) + b'\x20\x00\x80\x86' + b'\0' * 50)
        s.close()
        t.ok(still_serving(kt), 'truncated frame + disconnect: others still served')

        s = connect(kt.listen)
        s.sendall(frame(0x12345678, 1, 0))
        r = read_frame(s)
        t.ok(r is None or (r['type'] == REPLY and r['status'] == 1 and r['serial'] == 0),
             'unknown program: an error reply or a close, nothing else',
             r and {k: v for k, v in r.items() if k != 'payload'})
        s.close()

        s, r = opened(kt.listen)
        t.ok(r is not None and r['type'] == REPLY and r['status'] == 0,
             'raw CONNECT_OPEN through the proxy', r)
        s.sendall(frame(REMOTE, 99999, 1))
        r = read_frame(s)
        t.ok(r is not None and r['type'] == REPLY and r['status'] == 1 and r['serial'] == 1,
             'unknown procedure: libvirt\'s error reply passes through', r)

        # DEFINE_XML whose string length points past the frame.
        s.sendall(frame(REMOTE, PROC_DEFINE, 2, struct.pack('>I', 5000) + b'<domain/>'))
        r = read_frame(s)
        t.ok(r is None or (r['type'] == REPLY and r['status'] == 1 and r['serial'] == 2),
             'DEFINE_XML with a string past the frame: error reply or close', r)
        if r is None:
            s.close()
            s, _ = opened(kt.listen)

        # DEFINE_XML with 5 MiB of XML (over REMOTE_STRING_MAX).
        big = b'<domain type="qemu"><name>big</name><description>' + b'x' * (5 << 20) + \
            b'</description></domain>'
        try:
            s.sendall(frame(REMOTE, PROC_DEFINE, 3, xdr_string(big)))
            r = read_frame(s, 30)
        except (BrokenPipeError, ConnectionResetError):
            r = None
        t.ok(r is None or (r['status'] == 1 and r['serial'] == 3),
             'DEFINE_XML with 5 MiB of XML: refused', r and r['status'])
        if r is None:
            s.close()
            s, _ = opened(kt.listen)

        s.sendall(frame(REMOTE, PROC_DEFINE, 4, xdr_string(b'this is not <xml')))
        r = read_frame(s)
        t.ok(r is not None and r['type'] == REPLY and r['status'] == 1 and r['serial'] == 4,
             'DEFINE_XML with broken XML: an error reply on the same connection', r)
        s.sendall(frame(REMOTE, 2, 5))   # CONNECT_CLOSE
        r = read_frame(s)
        t.ok(r is not None and r['serial'] == 5 and r['status'] == 0,
             'that connection still works (CONNECT_CLOSE answered)', r)
        s.close()

        # A client that pipelines 2,000 capability calls (~40 MB of replies)
        # and never reads: kvmtuned must apply back-pressure (bounded
        # buffers, RSS flat) and keep serving everyone else promptly.
        slow, r = opened(kt.listen)
        slow.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 10
        while sent < 2000 and time.monotonic() < deadline:
            try:
                slow.send(frame(REMOTE, 7, 100 + sent))     # CONNECT_GET_CAPABILITIES
                sent += 1
            except BlockingIOError:
                time.sleep(0.01)
        time.sleep(2.0)
        rss_slow = kt.rss_kib()
        t0 = time.monotonic()
        served = still_serving(kt)
        dt = time.monotonic() - t0
        t.ok(served and dt < 5, f'a client that never reads ({sent} calls queued) does not '
             f'stall others (virsh list took {dt:.2f} s)')
        t.ok(rss_slow - rss0 < 16 * 1024,
             f'replies held back, not buffered without bound (RSS {rss0} -> {rss_slow} KiB)')
        slow.close()

        # Many clients vanishing at once, mid-call.
        for i in range(50):
            c = connect(kt.listen)
            c.sendall(frame(REMOTE, 66, 0)[:20])
            c.close()
        time.sleep(0.5)
        t.ok(still_serving(kt), 'after 50 clients vanished mid-frame: others still served')
        t.ok(kt.alive(), 'kvmtuned alive')
        st = kt.status() if kt.cli else None
        if st:
            t.ok(st['daemon'].get('clients', 0) <= 2,
                 f"no leaked client connections (status: {st['daemon'].get('clients')} clients)")
        stall.close()
        rss2 = kt.rss_kib()
        t.diag(f'RSS {rss0} -> {rss2} KiB')
        t.ok(rss2 - rss0 < 16 * 1024, f'RSS did not grow by 16 MiB ({rss0} -> {rss2} KiB)')
sys.exit(t.done())
