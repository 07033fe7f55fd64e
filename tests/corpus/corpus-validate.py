#!/usr/bin/python3
"""Every corpus file stays a valid libvirt domain after kvmtune's apply.

Runs test-corpus --out TMP (which applies a full placement to every file of
../shared/corpus/libvirt-xml/libvirt-tests) and `virt-xml-validate FILE
domain` on each output.  TAP; a skip plan (1..0 # SKIP) when the corpus or the validator is
absent.
"""
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    exe = sys.argv[1]
    validator = shutil.which("virt-xml-validate")
    if not validator:
        print("1..0 # SKIP virt-xml-validate not installed")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([exe, "--out", tmp], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.startswith("1..0 # SKIP"):
            print(r.stdout.strip())
            return 0
        outs = sorted(os.listdir(tmp))
        if not outs:
            print("1..1\nnot ok 1 - test-corpus wrote nothing (rc %d)" % r.returncode)
            return 1
        print("1..%d" % len(outs))
        failed = 0
        for n, name in enumerate(outs, 1):
            v = subprocess.run([validator, os.path.join(tmp, name), "domain"],
                               capture_output=True, text=True)
            if v.returncode == 0:
                print("ok %d - %s valid after apply" % (n, name))
            else:
                failed += 1
                print("not ok %d - %s valid after apply" % (n, name))
                for line in (v.stdout + v.stderr).splitlines()[:8]:
                    print("# " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
