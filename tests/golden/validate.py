#!/usr/bin/python3
"""Every golden output is a valid libvirt domain, and libvirt keeps kvmtune's parts.

1. `virt-xml-validate FILE domain` on every tests/golden/*/expected.xml.
2. For a sample, `virsh -c test:///default` define + dumpxml (the test
   driver lives inside the virsh process: no daemon, nothing persists):
   the dumped XML still holds the <kvmtune:placement> element with the same
   children and every device kvmtune added (its ua-kvmtune-* alias), so
   strip and the ledger rebuild work on what libvirt gives back.

Prints TAP; exits 77 when virt-xml-validate or virsh is missing.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = ["nova-full-bench", "nova-gpu-passthrough", "edge-foreign-metadata",
          "virtinst-gpu", "nova-novapinned-kept", "edge-xml-declaration"]
KT_NS = "http://kvmtune.org/xmlns/placement/1.0"


def kt_elements(xml):
    """Names of the kvmtune elements, in order (prefix-independent)."""
    m = re.search(r"<(\w+):placement\b[^>]*xmlns:\1=['\"]" + re.escape(KT_NS), xml)
    if not m:
        return None
    prefix = m.group(1)
    return re.findall(r"<%s:(\w+)" % prefix, xml)


def main():
    validator = shutil.which("virt-xml-validate")
    virsh = shutil.which("virsh")
    if not validator or not virsh:
        print("1..0 # SKIP virt-xml-validate or virsh not installed")
        return 77
    files = sorted(glob.glob(os.path.join(HERE, "*", "expected.xml")))
    print("1..%d" % (len(files) + len(SAMPLE)))
    n = 0
    failed = 0
    for f in files:
        n += 1
        case = os.path.basename(os.path.dirname(f))
        r = subprocess.run([validator, f, "domain"], capture_output=True, text=True)
        if r.returncode == 0:
            print("ok %d - valid %s" % (n, case))
        else:
            failed += 1
            print("not ok %d - valid %s" % (n, case))
            for line in (r.stdout + r.stderr).splitlines()[:10]:
                print("# " + line)
    with tempfile.TemporaryDirectory() as tmp:
        for case in SAMPLE:
            n += 1
            path = os.path.join(HERE, case, "expected.xml")
            with open(path, encoding="utf-8") as fh:
                xml = fh.read()
            name = re.search(r"<name>([^<]*)</name>", xml).group(1)
            src = os.path.join(tmp, case + ".xml")
            with open(src, "w", encoding="utf-8") as fh:
                fh.write(xml)
            r = subprocess.run([virsh, "-q", "-c", "test:///default",
                                "define %s ; dumpxml %s" % (src, name)],
                               capture_output=True, text=True)
            dumped = r.stdout
            want = kt_elements(xml)
            got = kt_elements(dumped)
            aliases = re.findall(r"<alias name=['\"](ua-kvmtune-[^'\"]*)['\"]", xml)
            missing = [a for a in aliases if a not in dumped]
            if r.returncode == 0 and want and got == want and not missing:
                print("ok %d - libvirt keeps kvmtune's parts of %s (%d elements, %d devices)"
                      % (n, case, len(want), len(aliases)))
            else:
                failed += 1
                print("not ok %d - libvirt keeps kvmtune's parts of %s" % (n, case))
                print("# rc=%d want=%s got=%s missing=%s" % (r.returncode, want, got, missing))
                for line in r.stderr.splitlines()[:10]:
                    print("# " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
