#!/usr/bin/python3
"""A real libvirtd (QEMU driver) accepts every golden output and keeps kvmtune's parts.

Complements validate.py (schema + test driver): the QEMU driver adds its own
post-parse and validation passes at define time.  For every golden case
with an expected.xml, in a private libvirtd (tests/lib/libvirtd_sandbox.py,
own mount namespace, nothing reaches the host's libvirt): define, dumpxml,
check that the <kvmtune:placement> element (same children) and every
ua-kvmtune-* device survived, undefine.

Needs root and libvirtd: registered only with -De2e=true.  TAP; exit 77
when not root or libvirtd is missing.
"""
import glob
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
KT_NS = "http://kvmtune.org/xmlns/placement/1.0"


def kt_elements(xml):
    m = re.search(r"<(\w+):placement\b[^>]*xmlns:\1=['\"]" + re.escape(KT_NS), xml)
    if not m:
        return None
    return re.findall(r"<%s:(\w+)" % m.group(1), xml)


def main():
    if os.geteuid() != 0 or not shutil.which("libvirtd"):
        print("1..0 # SKIP needs root and libvirtd")
        return 77
    from libvirtd_sandbox import LibvirtdSandbox

    files = sorted(f for f in glob.glob(os.path.join(HERE, "*", "expected.xml")))
    print("1..%d" % len(files))
    failed = 0
    with LibvirtdSandbox() as lv:
        for n, f in enumerate(files, 1):
            case = os.path.basename(os.path.dirname(f))
            with open(f, encoding="utf-8") as fh:
                xml = fh.read()
            r = lv.virsh("define", f, check=False)
            if r.returncode != 0:
                failed += 1
                print("not ok %d - qemu driver defines %s" % (n, case))
                for line in (r.stdout + r.stderr).strip().splitlines()[:5]:
                    print("# " + line)
                continue
            name = re.search(r"Domain '([^']+)' defined", r.stdout)
            name = name.group(1) if name else re.search(r"<name>([^<]*)</name>", xml).group(1)
            d = lv.virsh("dumpxml", "--inactive", name, check=False)
            lv.virsh("undefine", "--nvram", name, check=False)
            want = kt_elements(xml)
            got = kt_elements(d.stdout)
            aliases = re.findall(r"<alias name=['\"](ua-kvmtune-[^'\"]*)['\"]", xml)
            missing = [a for a in aliases if a not in d.stdout]
            if want == got and not missing:
                print("ok %d - qemu driver defines %s and keeps kvmtune's parts" % (n, case))
            else:
                failed += 1
                print("not ok %d - qemu driver keeps kvmtune's parts of %s" % (n, case))
                print("# want=%s got=%s missing=%s" % (want, got, missing))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
