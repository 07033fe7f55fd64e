#!/usr/bin/python3
"""test-inventory-cli.py KVMTUNE: `kvmtune inventory` on every modelled host.

The JSON document parses with python's json module and follows the schema in
nova-helper/README.md; strings with quotes, backslashes and non-ASCII survive
escaping; broken hosts exit 0 with warnings or 2 with a message naming the
file, never by a signal; --help and bad arguments behave.  The JSON and the
table of every host equal tests/inventory/golden/<host>.{json,txt} (the root
path written as @ROOT@), so a format change is a reviewed diff:
KT_TEST_REGENERATE=1 rewrites them.  Prints TAP.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get("KT_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
HOSTS = os.path.join(SRC, "tests", "fixtures", "hosts")
GOLDEN = os.path.join(SRC, "tests", "inventory", "golden")
REGENERATE = os.environ.get("KT_TEST_REGENERATE") == "1"
# The table names physnets from a policy; a fixed one keeps the installed
# policy (if any) out of the golden files.
GOLDEN_POLICY = 'host:\n  sriov: [{pf: "0000:17:00.0", physnet: datacentre}]\n'
GOOD = ["reference", "laptop", "epyc-4node"]
# broken host -> (exit status, text the warning or error must contain)
BROKEN = {
    "broken-numa-node": (0, "0000:17:00.0/numa_node"),
    "broken-offline-cpus": (0, "CPUs 3,6 are offline"),
    "broken-no-hugepages": (0, "node1/hugepages: missing"),
    "broken-sriov-zero": (0, "0000:17:00.0/sriov_numvfs"),
    "broken-unreadable": (2, "node1/meminfo: Is a directory"),
    "broken-bad-number": (0, "sriov_numvfs: '2x'"),
    "broken-bad-cpulist": (2, "node0/cpulist"),
    "broken-dangling-virtfn": (0, "virtfn1"),
    "broken-bad-cmdline": (0, "isolcpus="),
    "broken-bad-pci-class": (0, "0000:16:00.0/class"),
    "no-numa": (0, "no NUMA nodes; one node 0 assumed"),   # not broken; warns
}

results = []


def check(ok, name, detail=""):
    results.append((bool(ok), name, detail))


def run(kvmtune, *args):
    p = subprocess.run([kvmtune, "inventory", *args], capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check_schema(doc, name):
    """Types of every documented key (README "Inventory JSON schema")."""
    def ints(v):
        return isinstance(v, list) and all(isinstance(x, int) for x in v)

    def strs(v):
        return isinstance(v, list) and all(isinstance(x, str) for x in v)

    def opt_str(v):
        return v is None or isinstance(v, str)

    errors = []
    if doc.get("version") != 1:
        errors.append("version")
    for k in ("online", "isolated", "nohz_full"):
        if not ints(doc.get(k)):
            errors.append(k)
    if not isinstance(doc.get("numa_checked"), bool) or not strs(doc.get("warnings")):
        errors.append("numa_checked/warnings")
    for n in doc["nodes"]:
        if not (isinstance(n["id"], int) and ints(n["cpus"]) and ints(n["distances"])
                and isinstance(n["memory_total_kib"], int)
                and isinstance(n["memory_free_kib"], int)):
            errors.append("node %r" % n.get("id"))
        for h in n["hugepages"]:
            if set(h) != {"size_kib", "total", "free", "surplus"}:
                errors.append("hugepages keys")
    for c in doc["cpus"]:
        if set(c) != {"id", "node", "package", "core", "siblings", "online", "isolated",
                      "nohz_full"} or not ints(c["siblings"]):
            errors.append("cpu %r" % c.get("id"))
    for d in doc["pci_devices"]:
        if not (isinstance(d["address"], str) and isinstance(d["node"], int)
                and d["class"].startswith("0x") and opt_str(d["vendor_name"])
                and opt_str(d["device_name"]) and opt_str(d["driver"])
                and isinstance(d["iommu_group"], int) and opt_str(d["physfn"])):
            errors.append("pci %r" % d.get("address"))
    for p in doc["sriov_pfs"]:
        if not (strs(p["vfs"]) and len(p["vf_drivers"]) == len(p["vfs"])
                and p["numvfs"] == len(p["vfs"]) and opt_str(p["netdev"])):
            errors.append("pf %r" % p.get("address"))
    for m in doc["mdev_parents"]:
        if not strs(m["devices"]):
            errors.append("mdev %r" % m.get("address"))
        for t in m["types"]:
            if not (isinstance(t["id"], str) and isinstance(t["available"], int)
                    and opt_str(t["name"]) and strs(t["devices"])):
                errors.append("mdev type %r" % t.get("id"))
    check(not errors, "%s: JSON follows the schema" % name, ", ".join(errors))


def test_reference(doc):
    nodes = {n["id"]: n for n in doc["nodes"]}
    check(nodes[0]["cpus"] == list(range(0, 56)) + list(range(112, 168)),
          "reference: node 0 cpus as a list of integers")
    check(nodes[1]["memory_total_kib"] == 1 << 30, "reference: node 1 has 1 TiB")
    check(nodes[0]["hugepages"] == [
        {"size_kib": 2048, "total": 16384, "free": 16384, "surplus": 0},
        {"size_kib": 1048576, "total": 900, "free": 900, "surplus": 0}],
        "reference: node 0 hugepage pools")
    cpu113 = doc["cpus"][113]
    check(cpu113 == {"id": 113, "node": 0, "package": 0, "core": 1, "siblings": [1, 113],
                     "online": True, "isolated": False, "nohz_full": False},
          "reference: cpu 113", repr(cpu113))
    pfs = {p["address"]: p for p in doc["sriov_pfs"]}
    check(sorted(pfs) == ["0000:17:00.0", "0000:17:00.1", "0000:98:00.0", "0000:98:00.1"],
          "reference: four PFs")
    check(pfs["0000:98:00.0"]["node"] == 1 and pfs["0000:98:00.0"]["netdev"] == "ens5f0np0"
          and len(pfs["0000:98:00.0"]["vfs"]) == 8, "reference: PF 0000:98:00.0")
    gpu = doc["mdev_parents"][0]
    check(gpu["address"] == "0000:ca:00.0" and gpu["node"] == 1
          and [(t["id"], t["available"]) for t in gpu["types"]] ==
          [("nvidia-222", 16), ("nvidia-223", 8), ("nvidia-228", 2), ("nvidia-229", 1)],
          "reference: GPU mdev types")
    pci = {d["address"]: d for d in doc["pci_devices"]}
    nic = pci["0000:17:00.0"]
    check(nic["class"] == "0x020000" and nic["vendor_name"] == "Mellanox Technologies"
          and nic["device_name"] == "MT2892 Family [ConnectX-6 Dx]" and nic["node"] == 0,
          "reference: ConnectX-6 Dx PCI entry")
    # the example policy's dedicated pool; node 1's shared pool stays balanced
    dedicated = [c for c in range(224) if 28 <= c % 112 <= 55 or c % 112 >= 82]
    check(doc["warnings"] == [] and doc["isolated"] == dedicated,
          "reference: no warnings, isolated CPUs")


def compare_golden(name, suffix, text, root):
    """@text with @root replaced by @ROOT@ must equal golden/<name>.<suffix>."""
    text = text.replace(root, "@ROOT@")
    path = os.path.join(GOLDEN, "%s.%s" % (name, suffix))
    if REGENERATE:
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    try:
        with open(path) as f:
            want = f.read()
    except OSError as e:
        check(False, "%s: golden %s" % (name, suffix), str(e))
        return
    diff = ""
    if text != want:
        import difflib
        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True),
                                            path, "output", n=1))[:3000]
    check(text == want, "%s: output equals golden/%s.%s" % (name, name, suffix), diff)


def test_hostile_files(kvmtune):
    """Oversized and non-regular files fail cleanly instead of hanging."""
    tmp = tempfile.mkdtemp(prefix="kt-inv-hostile-")
    try:
        root = os.path.join(tmp, "host")
        shutil.copytree(os.path.join(HOSTS, "laptop"), root, symlinks=True)
        with open(os.path.join(root, "proc/cmdline"), "w") as f:
            f.write("x=" + "y" * 20000 + " isolcpus=domain,1 nohz_full=0-1\n")   # > 4 KiB
        rc, out, err = run(kvmtune, "--sysroot", root, "--json")
        doc = json.loads(out) if rc == 0 else {}
        check(doc.get("isolated") == [1] and doc.get("nohz_full") == [0, 1],
              "20 KB command line is read whole", err)
        meminfo = os.path.join(root, "sys/devices/system/node/node0/meminfo")
        with open(meminfo, "a") as f:
            f.write("Node 0 Padding: 0 kB\n" * 4000)          # > 64 KiB
        rc, _, err = run(kvmtune, "--sysroot", root)
        check(rc == 2 and "node0/meminfo: larger than 65536 bytes" in err,
              "oversized meminfo: exit 2 naming the file", err)
        os.unlink(meminfo)
        os.mkfifo(meminfo)
        try:
            rc, _, err = run(kvmtune, "--sysroot", root)
            check(rc == 2 and "node0/meminfo: not a regular file" in err,
                  "FIFO for meminfo: exit 2 without blocking", err)
        except subprocess.TimeoutExpired:
            check(False, "FIFO for meminfo: exit 2 without blocking", "timed out")
    finally:
        shutil.rmtree(tmp)


def test_golden(kvmtune):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as pol:
        pol.write(GOLDEN_POLICY)
        pol.flush()
        for name in GOOD + sorted(BROKEN):
            root = os.path.join(HOSTS, name)
            rc, out, err = run(kvmtune, "--sysroot", root, "--json")
            compare_golden(name, "json", out if rc == 0 else err, root)
            rc, out, err = run(kvmtune, "--sysroot", root, "--policy", pol.name)
            compare_golden(name, "txt", out if rc == 0 else err, root)


def test_escaping(kvmtune):
    """A root whose path, netdev and mdev type name need JSON escaping."""
    tmp = tempfile.mkdtemp(prefix='kt-inv "q" \\ é \t\x01 ')
    try:
        root = os.path.join(tmp, "host")
        shutil.copytree(os.path.join(HOSTS, "laptop"), root, symlinks=True)
        dev = os.path.join(root, "sys/devices/pci0000:00/0000:00:02.0")
        os.makedirs(os.path.join(root, "sys/class/mdev_bus"))
        os.symlink("../../devices/pci0000:00/0000:00:02.0",
                   os.path.join(root, "sys/class/mdev_bus/0000:00:02.0"))
        t = os.path.join(dev, "mdev_supported_types", "i915-GVTg_V5_4")
        os.makedirs(t)
        with open(os.path.join(t, "name"), "w") as f:
            f.write('GVTg "V5" \\ 4\n')
        with open(os.path.join(t, "available_instances"), "w") as f:
            f.write("2\n")
        with open(os.path.join(t, "device_api"), "w") as f:
            f.write("vfio-pci\n")
        rc, out, err = run(kvmtune, "--sysroot", root, "--json")
        check(rc == 0, "escaping: exit 0", err)
        try:
            doc = json.loads(out)
        except ValueError as e:
            check(False, "escaping: output parses as JSON", str(e))
            return
        check(doc["sysroot"] == root, "escaping: sysroot round-trips", repr(doc["sysroot"]))
        types = doc["mdev_parents"][0]["types"]
        check(types[0]["name"] == 'GVTg "V5" \\ 4' and types[0]["available"] == 2,
              "escaping: mdev type name round-trips", repr(types))
    finally:
        shutil.rmtree(tmp)


def main():
    kvmtune = sys.argv[1]

    rc, out, _ = run(kvmtune, "--help")
    check(rc == 0 and "Usage: kvmtune inventory" in out and "--sysroot" in out,
          "--help prints the usage, exit 0")
    rc, _, err = run(kvmtune, "--bogus")
    check(rc == 1 and "unknown argument" in err, "unknown argument: exit 1")
    rc, _, err = run(kvmtune, "--sysroot")
    check(rc == 1, "--sysroot without a value: exit 1")
    rc, _, err = run(kvmtune, "--sysroot", "/nonexistent/kt")
    check(rc == 1 and "/nonexistent/kt" in err, "missing sysroot: exit 1 naming it")

    for name in GOOD:
        root = os.path.join(HOSTS, name)
        rc, out, err = run(kvmtune, "--sysroot", root, "--json")
        check(rc == 0 and err == "", "%s: --json exit 0 without warnings" % name, err)
        try:
            doc = json.loads(out)
        except ValueError as e:
            check(False, "%s: output parses as JSON" % name, str(e))
            continue
        check_schema(doc, name)
        if name == "reference":
            test_reference(doc)
        rc, out, err = run(kvmtune, "--sysroot=" + root)
        check(rc == 0 and "Node 0" in out and "Warnings" not in out,
              "%s: table exit 0" % name, err)

    for name, (want_rc, needle) in sorted(BROKEN.items()):
        root = os.path.join(HOSTS, name)
        rc, out, err = run(kvmtune, "--sysroot", root, "--json")
        check(rc == want_rc and needle in err,
              "%s: exit %d, stderr names '%s'" % (name, want_rc, needle),
              "rc=%d stderr=%s" % (rc, err.strip()))
        if rc == 0:
            doc = json.loads(out)
            check_schema(doc, name)
            check(any(needle in w for w in doc["warnings"]),
                  "%s: the JSON carries the warning" % name)
        rc, out, err = run(kvmtune, "--sysroot", root)
        check(rc == want_rc, "%s: table exit %d" % (name, want_rc), "rc=%d" % rc)

    test_escaping(kvmtune)
    test_golden(kvmtune)
    test_hostile_files(kvmtune)

    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as pol:
        pol.write('host:\n  sriov: [{pf: "0000:98:00.1", physnet: tenant}]\n')
        pol.flush()
        rc, out, err = run(kvmtune, "--sysroot", os.path.join(HOSTS, "reference"),
                           "--policy", pol.name)
        lines = [ln for ln in out.splitlines() if "SR-IOV PF" in ln]
        check(rc == 0 and len(lines) == 4 and "physnet tenant" in lines[3]
              and "physnet" not in lines[0],
              "--policy: the table names the PF's physnet", out + err)
    rc, _, err = run(kvmtune, "--sysroot", os.path.join(HOSTS, "reference"),
                     "--policy", "/nonexistent/policy.yaml")
    check(rc == 1 and "/nonexistent/policy.yaml" in err, "--policy missing file: exit 1")

    rc, out, err = run(kvmtune, "--json")
    try:
        doc = json.loads(out)
        check(rc == 0 and len(doc["nodes"]) >= 1 and len(doc["cpus"]) >= 1,
              "live host: --json exit 0 and parses", err)
        check_schema(doc, "live host")
    except ValueError as e:
        check(False, "live host: output parses as JSON", str(e))

    print("TAP version 13")
    print("1..%d" % len(results))
    failed = 0
    for i, (ok, name, detail) in enumerate(results, 1):
        print("%s %d - %s" % ("ok" if ok else "not ok", i, name))
        if not ok:
            failed += 1
            for line in detail.splitlines() or [""]:
                print("# " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
