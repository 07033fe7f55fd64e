"""A stand-in for kvmtuned's control socket, for the hook tests.

Speaks the protocol of nova-helper/control.h: one GVariant a{sv} in text
format per line, one reply per line.  The hook under test links the real
client (kt_control_call); only the server side is doubled here.

    place     place-incoming answers with the XML re-placed "on this host":
              any <kvmtune:placement> is replaced by one naming node 0 and
              its CPUs as read under the sysroot (shared policy)
    refuse    every request fails with code no-capacity
    silent    requests are read and never answered (timeouts)
    garbage   place-incoming answers with text that is not a domain

Every request is kept in .requests (unpacked dicts).  Also runnable on its
own:  python3 control_double.py SOCKET [--mode place] [--sysroot /]
"""

import os
import re
import socket
import sys
import threading

from gi.repository import GLib

PLACEMENT_NS = 'http://kvmtune.org/xmlns/placement/1.0'
PLACEMENT_RE = re.compile(
    r'\s*<(?P<p>[A-Za-z_][\w.-]*):placement\b[^>]*?(/>|>.*?</(?P=p):placement>)',
    re.S)


def node_cpus(sysroot, node=0):
    path = os.path.join(sysroot, 'sys/devices/system/node', f'node{node}', 'cpulist')
    try:
        with open(path) as f:
            return f.read().strip() or '0'
    except OSError:
        return '0'


def vcpu_count(xml):
    m = re.search(r'<vcpu\b[^>]*>\s*(\d+)\s*</vcpu>', xml)
    return int(m.group(1)) if m else 1


def replace_placement(xml, sysroot):
    """The XML with its kvmtune placement replaced by one for this host.
    Only <metadata> changes, so libvirt's ABI check at restore passes."""
    cpus = node_cpus(sysroot)
    placement = (f'<kvmtune:placement xmlns:kvmtune="{PLACEMENT_NS}" profile="incoming-double">'
                 f'<kvmtune:numa nodes="0"/>'
                 f'<kvmtune:cpus policy="shared" vcpus="{vcpu_count(xml)}" shared="{cpus}"/>'
                 f'</kvmtune:placement>')
    xml = PLACEMENT_RE.sub('', xml, count=1)
    # The source host's pins mean nothing here: float over node 0.
    xml = re.sub(r'\s*<cputune>.*?</cputune>', '', xml, count=1, flags=re.S)
    xml = re.sub(r'\s*<numatune>.*?</numatune>', '', xml, count=1, flags=re.S)
    xml = re.sub(r'<vcpu\b[^>]*>', f"<vcpu placement='static' cpuset='{cpus}'>", xml, count=1)
    if re.search(r'<metadata\s*/>', xml):
        return re.sub(r'<metadata\s*/>', f'<metadata>{placement}</metadata>', xml, count=1)
    if '<metadata>' in xml:
        return xml.replace('<metadata>', f'<metadata>{placement}', 1)
    # No metadata yet: libvirt accepts it anywhere among the top-level elements.
    return re.sub(r'(</uuid>|</name>)', r'\1' + f'<metadata>{placement}</metadata>', xml,
                  count=1)


def variant_line(d):
    vals = {}
    for k, v in d.items():
        if isinstance(v, bool):
            vals[k] = GLib.Variant('b', v)
        else:
            vals[k] = GLib.Variant('s', str(v))
    return GLib.Variant('a{sv}', vals).print_(True) + '\n'


class ControlDouble:
    def __init__(self, path, mode='place', sysroot='/'):
        self.path = path
        self.mode = mode
        self.sysroot = sysroot
        self.requests = []
        self._sock = None
        self._stop = threading.Event()
        self._threads = []

    def handle(self, req):
        op = req.get('op')
        if self.mode == 'refuse':
            return {'ok': False, 'code': 'no-capacity',
                    'error': 'node 0: 4 dedicated CPUs needed, 0 free (double)'}
        if op == 'place-incoming' and self.mode == 'garbage':
            return {'ok': True, 'xml': 'this is not <domain', 'uuid': ''}
        if op == 'place-incoming':
            xml = req.get('xml', '')
            m = re.search(r'<uuid>\s*([0-9a-fA-F-]+)\s*</uuid>', xml)
            return {'ok': True, 'xml': replace_placement(xml, self.sysroot),
                    'uuid': m.group(1).lower() if m else ''}
        if op == 'notify':
            return {'ok': True}
        return {'ok': False, 'code': 'unsupported', 'error': f'unknown op {op!r}'}

    def _serve(self, conn):
        with conn:
            buf = b''
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b'\n' in buf:
                    line, buf = buf.split(b'\n', 1)
                    req = GLib.Variant.parse(GLib.VariantType('a{sv}'),
                                             line.decode(), None, None).unpack()
                    self.requests.append(req)
                    if self.mode == 'silent':
                        continue
                    conn.sendall(variant_line(self.handle(req)).encode())

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def start(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(self.path)
        self._sock.listen(16)
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        if self._sock:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == '__main__':
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('socket')
    ap.add_argument('--mode', default='place', choices=['place', 'refuse', 'silent', 'garbage'])
    ap.add_argument('--sysroot', default='/')
    args = ap.parse_args()
    d = ControlDouble(args.socket, args.mode, args.sysroot).start()
    print(f'control double on {args.socket} ({args.mode})', file=sys.stderr)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        d.stop()
