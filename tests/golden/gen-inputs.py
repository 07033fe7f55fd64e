#!/usr/bin/python3
"""Generate the golden cases' inputs: real Nova output and virt-install output.

Nova inputs are built with python3-nova's own config classes
(nova.virt.libvirt.config: LibvirtConfigGuest and friends), filled the way
nova's libvirt driver (_get_guest_config) fills them for the flavor and
instance at hand: shared and pinned flavors, hugepages, 2-node guests,
SR-IOV ports, vGPU.  virt-install inputs come from `virt-install --print-xml
--dry-run` on the test driver, with the test driver's type, emulator and
arch swapped for KVM's (the test driver has no KVM capabilities).

For every case it writes tests/golden/<case>/input.xml and placement.xml
(the <kvmtune:placement> element to apply).  expected.xml is then written by
the runner:  KT_TEST_REGENERATE=1 meson test -C BUILD --suite golden
(review the diff).  Hand-written cases are not touched.

Usage: /usr/bin/python3 tests/golden/gen-inputs.py [--only NAME]
"""
import argparse
import os
import re
import subprocess
import sys
import uuid as uuidlib

from lxml import etree
from nova.virt.libvirt import config as vc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import nova_xml  # noqa: E402
from nova_xml import cpulist  # noqa: E402
NS_11 = "http://openstack.org/xmlns/libvirt/nova/1.1"
NS_10 = "http://openstack.org/xmlns/libvirt/nova/1.0"
KT_NS = "http://kvmtune.org/xmlns/placement/1.0"
POLICY = "sha256:9f2c1e0d7a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d"


def case_uuid(name, what="instance"):
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, "kvmtune-golden/%s/%s" % (name, what)))


# --------------------------------------------------------------------------
# placement.xml
# --------------------------------------------------------------------------


def placement(profile, nodes=None, policy="none", nvcpus=0, pins=None,
              shared=None, emulator=None, booked=None, threads=0, cells=(),
              memory=0, pagesize=0, pages=(), vfs=(), mdevs=(), gpus=(),
              override=False):
    """The <kvmtune:placement> text; sizes in KiB, cells [(vcpus, kib, node)]."""
    attrs = ' profile="%s" policy="%s"' % (profile, POLICY)
    if override:
        attrs += ' override="yes"'
    lines = ['<kvmtune:placement xmlns:kvmtune="%s"%s>' % (KT_NS, attrs)]
    if nodes is not None:
        lines.append('  <kvmtune:numa nodes="%s"/>' % nodes)
    if policy != "none" or emulator or threads:
        a = ' policy="%s" vcpus="%d"' % (policy, nvcpus)
        if threads:
            a += ' threads="%d"' % threads
        if shared:
            a += ' shared="%s"' % shared
        if emulator:
            a += ' emulator="%s"' % emulator
        if booked:
            a += ' booked="%s"' % booked
        if pins:
            lines.append("  <kvmtune:cpus%s>" % a)
            for i, cpu in enumerate(pins):
                lines.append('    <kvmtune:vcpu id="%d" cpus="%s"/>' % (i, cpu))
            lines.append("  </kvmtune:cpus>")
        else:
            lines.append("  <kvmtune:cpus%s/>" % a)
    for i, (vcpus, kib, node) in enumerate(cells):
        lines.append('  <kvmtune:cell id="%d" vcpus="%s" memory="%d" node="%d"/>'
                     % (i, vcpus, kib, node))
    if memory or pagesize:
        a = ' size="%d"' % memory
        if pagesize:
            a += ' pagesize="%d"' % pagesize
        lines.append("  <kvmtune:memory%s/>" % a)
    for node, count in pages:
        lines.append('  <kvmtune:hugepages size="%d" node="%d" count="%d"/>'
                     % (pagesize, node, count))
    for vf in vfs:
        a = ' pf="%s" vf="%s"' % (vf["pf"], vf["vf"])
        if vf.get("mac"):
            a += ' mac="%s"' % vf["mac"]
        if vf.get("vlan") is not None:
            a += ' vlan="%d"' % vf["vlan"]
        for k in ("trust", "spoofchk"):
            if vf.get(k) is not None:
                a += ' %s="%s"' % (k, "yes" if vf[k] else "no")
        a += ' node="%d"' % vf.get("node", 0)
        lines.append("  <kvmtune:vf%s/>" % a)
    for m in mdevs:
        lines.append('  <kvmtune:mdev parent="%s" type="%s" uuid="%s" node="%d"/>'
                     % (m["parent"], m["type"], m["uuid"], m.get("node", 0)))
    for g in gpus:
        lines.append('  <kvmtune:gpu address="%s" node="%d"/>' % (g["address"], g.get("node", 0)))
    lines.append("</kvmtune:placement>")
    return "\n".join(lines) + "\n"


def dedicated(profile, vcpus, mem_kib, first_cpu, node=0, nodes=None, emulator=True,
              threads=0, cells=(), pagesize=1048576, override=False, step=1, **kw):
    pins = [first_cpu + i * step for i in range(vcpus)]
    emu = first_cpu + vcpus * step if emulator else None
    booked = pins + ([emu] if emu is not None else [])
    if pagesize:
        per_node = {}
        if cells:
            for _, kib, n in cells:
                per_node[n] = per_node.get(n, 0) + kib // pagesize
        else:
            per_node[node] = mem_kib // pagesize
        pages = sorted(per_node.items())
    else:
        pages = ()
    return placement(profile, nodes=nodes if nodes is not None else str(node),
                     policy="dedicated", nvcpus=vcpus, pins=[str(p) for p in pins],
                     emulator=str(emu) if emu is not None else None,
                     booked=cpulist(booked), threads=threads, cells=cells,
                     memory=mem_kib, pagesize=pagesize, pages=pages,
                     override=override, **kw)


def shared(profile, vcpus, mem_kib, node=0, cpus="2-27,114-139", pagesize=0,
           emulator=None, **kw):
    pages = [(node, mem_kib // pagesize)] if pagesize else ()
    return placement(profile, nodes=str(node), policy="shared", nvcpus=vcpus,
                     shared=cpus, emulator=emulator or cpus, memory=mem_kib,
                     pagesize=pagesize, pages=pages, **kw)


# --------------------------------------------------------------------------
# Nova guests
# --------------------------------------------------------------------------

def nova_guest(name, flavor, vcpus, mem_mib, ns=NS_11, disk_gb=20, pin=None,
               hugepages_kb=None, cells=None, vfs=(), mdevs=(), gpus=(),
               rbd=False, extra_specs=None, ports=1, root_ports=8,
               emulator_pin=None, sched=None, vhostuser=False, volumes=0):
    vc.NOVA_NS = ns
    inst_uuid = case_uuid(name)
    g = vc.LibvirtConfigGuest()
    g.virt_type = "kvm"
    g.name = "instance-%08x" % (int(inst_uuid[:6], 16) % 0xffff)
    g.uuid = inst_uuid
    g.memory = mem_mib * 1024
    g.vcpus = vcpus

    meta = nova_xml.instance_meta(
        name, flavor, vcpus, mem_mib, "26.2.2", 1764000000, disk_gb,
        (case_uuid("user", "u").replace("-", ""), "admin",
         case_uuid("project", "p").replace("-", ""), "admin"),
        root=("image", case_uuid("cirros", "image")))
    if ports and hasattr(vc, "LibvirtConfigGuestMetaNovaPorts"):
        plist = []
        for p in range(ports):
            plist.append(vc.LibvirtConfigGuestMetaNovaPort(
                case_uuid(name, "port%d" % p),
                ips=[vc.LibvirtConfigGuestMetaNovaIp("fixed", "10.0.0.%d" % (10 + p), "4")]))
        meta.ports = vc.LibvirtConfigGuestMetaNovaPorts(plist)
    g.metadata.append(meta)

    g.sysinfo = nova_xml.sysinfo(inst_uuid, "26.2.2")

    g.os_type = "hvm"
    g.os_mach_type = "q35"
    g.os_boot_dev = ["hd"]
    g.os_smbios = vc.LibvirtConfigGuestSMBIOS()
    g.features = [vc.LibvirtConfigGuestFeatureACPI(), vc.LibvirtConfigGuestFeatureAPIC(),
                  vc.LibvirtConfigGuestFeatureVMCoreInfo()]

    cpu = vc.LibvirtConfigGuestCPU()
    cpu.mode = "host-model"
    cpu.match = "exact"
    cpu.sockets = vcpus
    cpu.cores = 1
    cpu.threads = 1
    if cells:
        cpu.sockets = len(cells)
        cpu.cores = vcpus // len(cells)
        numa = vc.LibvirtConfigGuestCPUNUMA()
        for i, (cset, kib) in enumerate(cells):
            c = vc.LibvirtConfigGuestCPUNUMACell()
            c.id = i
            c.cpus = set(cset)
            c.memory = kib
            numa.cells.append(c)
        cpu.numa = numa
    g.cpu = cpu

    if pin is not None:
        # hw:cpu_policy=dedicated: Nova pins each vCPU and the emulator
        ct = nova_xml.vcpu_pins(pin, emulator_pin)
        if sched:
            s = vc.LibvirtConfigGuestCPUTuneVCPUSched()
            s.vcpus = set(range(vcpus))
            s.scheduler = "fifo"
            s.priority = 1
            ct.vcpusched.append(s)
        g.cputune = ct
        nt = vc.LibvirtConfigGuestNUMATune()
        nt.memory = vc.LibvirtConfigGuestNUMATuneMemory()
        nt.memory.nodeset = [0]
        if cells:
            for i in range(len(cells)):
                mn = vc.LibvirtConfigGuestNUMATuneMemNode()
                mn.cellid = i
                mn.nodeset = [0]
                nt.memnodes.append(mn)
        g.numatune = nt
    if hugepages_kb or vhostuser:
        mb = vc.LibvirtConfigGuestMemoryBacking()
        if hugepages_kb:
            pg = vc.LibvirtConfigGuestMemoryBackingPage()
            pg.size_kb = hugepages_kb
            pg.nodeset = list(range(len(cells))) if cells else [0]
            mb.hugepages.append(pg)
        if vhostuser:
            mb.sharedaccess = True
            mb.filesource = True
        g.membacking = mb

    clk = vc.LibvirtConfigGuestClock()
    nova_xml.add_timers(clk)
    g.clock = clk

    # devices, in the order nova's driver appends them
    if rbd:
        for i, dev in enumerate(("vda", "vdb")):
            d = vc.LibvirtConfigGuestDisk()
            d.source_type = "network"
            d.source_protocol = "rbd"
            d.source_name = "vms/%s_disk%s" % (inst_uuid, "" if i == 0 else ".eph0")
            d.source_hosts = ["192.168.10.11", "192.168.10.12", "192.168.10.13"]
            d.source_ports = ["6789", "6789", "6789"]
            d.auth_username = "nova"
            d.auth_secret_type = "ceph"
            d.auth_secret_uuid = case_uuid("ceph", "secret")
            d.driver_name = "qemu"
            d.driver_format = "raw"
            d.driver_cache = "writeback"
            d.driver_discard = "unmap"
            d.target_dev = dev
            d.target_bus = "virtio"
            g.add_device(d)
    else:
        g.add_device(nova_xml.file_disk("/var/lib/nova/instances/%s/disk" % inst_uuid))
    for v in range(volumes):
        # attached Cinder volumes (rbd), as nova's volume drivers write them
        d = vc.LibvirtConfigGuestDisk()
        d.source_type = "network"
        d.source_protocol = "rbd"
        vol = case_uuid(name, "volume%d" % v)
        d.source_name = "volumes/volume-%s" % vol
        d.source_hosts = ["192.168.10.11", "192.168.10.12", "192.168.10.13"]
        d.source_ports = ["6789", "6789", "6789"]
        d.auth_username = "cinder"
        d.auth_secret_type = "ceph"
        d.auth_secret_uuid = case_uuid("ceph", "secret")
        d.driver_name = "qemu"
        d.driver_format = "raw"
        d.driver_cache = "none"
        d.driver_discard = "unmap"
        d.target_dev = "vd%s" % chr(ord("c") + v)
        d.target_bus = "virtio"
        d.serial = vol
        g.add_device(d)
    cd = vc.LibvirtConfigGuestDisk()
    cd.source_type = "file"
    cd.source_device = "cdrom"
    cd.driver_name = "qemu"
    cd.driver_format = "raw"
    cd.driver_cache = "none"
    cd.source_path = "/var/lib/nova/instances/%s/disk.config" % inst_uuid
    cd.target_dev = "sda"
    cd.target_bus = "sata"
    cd.readonly = True
    g.add_device(cd)

    for p in range(ports):
        i = vc.LibvirtConfigGuestInterface()
        if vhostuser:
            i.net_type = "vhostuser"
            i.vhostuser_type = "unix"
            i.vhostuser_mode = "server"
            i.vhostuser_path = "/var/run/openvswitch/vhu%s" % case_uuid(name, "port%d" % p)[:11]
        else:
            i.net_type = "ethernet"
            i.target_dev = "tap%s" % case_uuid(name, "port%d" % p)[:11]
            i.driver_name = "vhost"
            i.mtu = 1442
        i.mac_addr = "fa:16:3e:%02x:%02x:%02x" % (0x10 + p, len(name), vcpus)
        i.model = "virtio"
        g.add_device(i)
    for n, vf in enumerate(vfs):
        i = vc.LibvirtConfigGuestInterface()
        i.net_type = "hostdev"
        i.source_dev = vf
        i.mac_addr = "fa:16:3e:a0:%02x:%02x" % (n, vcpus)
        i.vlan = 200 + n
        g.add_device(i)
    for u in mdevs:
        h = vc.LibvirtConfigGuestHostdevMDEV()
        h.uuid = u
        g.add_device(h)
    for a in gpus:
        h = vc.LibvirtConfigGuestHostdevPCI()
        h.domain, h.bus, rest = a.split(":")
        h.slot, h.function = rest.split(".")
        g.add_device(h)

    s = vc.LibvirtConfigGuestSerial()
    s.type = "pty"
    s.log_file = "/var/lib/nova/instances/%s/console.log" % inst_uuid
    g.add_device(s)
    inp = vc.LibvirtConfigGuestInput()
    g.add_device(inp)
    nova_xml.add_vnc_video(g, "0.0.0.0", "virtio")
    root = vc.LibvirtConfigGuestPCIeRootController()
    g.add_device(root)
    for _ in range(root_ports):
        g.add_device(vc.LibvirtConfigGuestPCIeRootPortController())
    usb = vc.LibvirtConfigGuestUSBHostController()
    usb.index = 0
    usb.model = "qemu-xhci"
    g.add_device(usb)
    rng = vc.LibvirtConfigGuestRng()
    rng.backend = "/dev/urandom"
    g.add_device(rng)
    g.add_device(nova_xml.balloon())

    dom = g.format_dom()
    if extra_specs:
        # Nova >= 2025.2 records the flavor's extra specs in the metadata
        nova = "{%s}" % ns
        flav = dom.find("metadata/%sinstance/%sflavor" % (nova, nova))
        es = etree.SubElement(flav, nova + "extraSpecs")
        for k, v in extra_specs.items():
            e = etree.SubElement(es, nova + "extraSpec", name=k)
            e.text = v
    return etree.tostring(dom, encoding="unicode", pretty_print=True)


# --------------------------------------------------------------------------
# virt-install guests
# --------------------------------------------------------------------------

def virt_install(name, args):
    cmd = ["virt-install", "--connect", "test:///default", "--print-xml",
           "--dry-run", "--name", name, "--noautoconsole"] + args
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    out = out.replace('<domain type="test">', '<domain type="kvm">')
    out = out.replace("/usr/bin/test-hv", "/usr/bin/qemu-system-x86_64")
    out = out.replace('arch="i686"', 'arch="x86_64" machine="pc-q35-7.2"')
    out = re.sub(r"<uuid>[^<]*</uuid>", "<uuid>%s</uuid>" % case_uuid(name), out)
    out = re.sub(r'<mac address="[^"]*"/>', '<mac address="52:54:00:6b:1a:01"/>', out)
    return out


# --------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------

GiB = 1024 * 1024
VF = [{"pf": "0000:41:00.0", "vf": "0000:41:02.%d" % i, "mac": "fa:16:3e:5e:00:%02x" % i,
       "vlan": 100, "trust": i == 0, "spoofchk": False, "node": 0} for i in range(4)]
MDEV = [{"parent": "0000:ca:00.0", "type": "nvidia-63", "uuid": case_uuid("mdev", str(i)),
         "node": 1} for i in range(2)]


def cases():
    c = {}
    # shared flavors: kvmtune places them NUMA-local on the shared pool
    c["nova-shared-small"] = (
        nova_guest("shared-small", "m1.small", 1, 2048),
        shared("general", 1, 2 * GiB, node=0, cpus="2-27,114-139"))
    c["nova-shared-medium"] = (
        nova_guest("shared-medium", "m1.medium", 2, 4096, rbd=True),
        shared("general", 2, 4 * GiB, node=1, cpus="140-165,28-53"))
    c["nova-shared-large"] = (
        nova_guest("shared-large", "m1.large", 8, 16384),
        shared("general", 8, 16 * GiB, node=1, cpus="140-165"))
    c["nova-shared-nonuma"] = (
        nova_guest("shared-nonuma", "m1.tiny", 1, 512, ports=0),
        placement("general", policy="shared", nvcpus=1, shared="2-27,114-139"))
    c["nova-shared-2m-pages"] = (
        nova_guest("shared-2m", "vdi.small", 2, 4096),
        shared("vdi", 2, 4 * GiB, node=0, pagesize=2048))
    c["nova-shared-2node"] = (
        nova_guest("shared-2node", "m1.xlarge", 4, 8192),
        placement("general", nodes="0-1", policy="shared", nvcpus=4, shared="2-27,114-139",
                  emulator="2-27,114-139", threads=1,
                  cells=[("0-1", 4 * GiB, 0), ("2-3", 4 * GiB, 1)], memory=8 * GiB))
    # dedicated flavors placed by kvmtune
    c["nova-db-pinned-4"] = (
        nova_guest("db-pinned-4", "db.small", 4, 8192, extra_specs={"kvmtune:profile": "db-dedicated"}),
        dedicated("db-dedicated", 4, 8 * GiB, 28, node=0))
    c["nova-db-pinned-8-smt"] = (
        nova_guest("db-pinned-8", "db.medium", 8, 16384),
        dedicated("db-dedicated", 8, 16 * GiB, 140, node=1, threads=2))
    c["nova-db-pinned-noemu"] = (
        nova_guest("db-pinned-noemu", "db.small", 2, 4096),
        dedicated("db-dedicated", 2, 4 * GiB, 60, node=0, emulator=False))
    c["nova-db-pinned-2m"] = (
        nova_guest("db-pinned-2m", "db.small", 2, 4096, rbd=True),
        dedicated("db-dedicated", 2, 4 * GiB, 70, node=0, pagesize=2048))
    c["nova-db-2node-16"] = (
        nova_guest("db-2node-16", "hpc.xlarge", 16, 32768),
        dedicated("hpc", 16, 32 * GiB, 28, nodes="0-1", threads=2,
                  cells=[("0-7", 16 * GiB, 0), ("8-15", 16 * GiB, 1)]))
    c["nova-hpc-2node-smt-uneven"] = (
        nova_guest("hpc-2node-6", "hpc.medium", 6, 12288),
        dedicated("hpc", 6, 12 * GiB, 100, nodes="0-1", threads=2,
                  cells=[("0-2", 6 * GiB, 0), ("3-5", 6 * GiB, 1)]))
    # Nova already tuned it: Nova wins, or kvmtune overrides
    c["nova-novapinned-kept"] = (
        nova_guest("novapinned", "nova.pinned", 4, 8192, pin=[30, 31, 32, 33],
                   hugepages_kb=1048576, cells=[({0, 1, 2, 3}, 8 * GiB)]),
        dedicated("db-dedicated", 4, 8 * GiB, 40, node=0, threads=1,
                  cells=[("0-3", 8 * GiB, 0)]))
    c["nova-novapinned-override"] = (
        nova_guest("novapinned-o", "nova.pinned", 4, 8192, pin=[30, 31, 32, 33],
                   hugepages_kb=1048576, cells=[({0, 1, 2, 3}, 8 * GiB)], sched=True),
        dedicated("db-dedicated", 4, 8 * GiB, 140, node=1, threads=2,
                  cells=[("0-3", 8 * GiB, 1)], override=True))
    c["nova-novahugepages-kept"] = (
        nova_guest("novahp", "m1.hp", 2, 4096, hugepages_kb=2048),
        dedicated("db-dedicated", 2, 4 * GiB, 50, node=0))
    c["nova-vhostuser-membacking"] = (
        nova_guest("vhu", "nfv.small", 2, 4096, vhostuser=True),
        dedicated("nfv", 2, 4 * GiB, 44, node=0))
    # SR-IOV
    c["nova-sriov-1vf"] = (
        nova_guest("sriov-1", "db.small", 2, 4096),
        dedicated("db-dedicated", 2, 4 * GiB, 36, node=0, vfs=[VF[0]]))
    c["nova-sriov-2vf-shared"] = (
        nova_guest("sriov-2", "net.medium", 4, 8192),
        shared("net", 4, 8 * GiB, node=0, vfs=[VF[1], VF[2]]))
    c["nova-sriov-port-exists"] = (
        nova_guest("sriov-exists", "net.small", 2, 4096, vfs=["0000:41:02.3"]),
        shared("net", 2, 4 * GiB, node=0, vfs=[VF[3]]))
    # vGPU
    c["nova-vgpu-mdev"] = (
        nova_guest("vgpu-1", "vdi.gpu", 2, 4096),
        shared("vdi", 2, 4 * GiB, node=1, cpus="140-165", pagesize=2048, mdevs=[MDEV[0]]))
    c["nova-vgpu-mdev-exists"] = (
        nova_guest("vgpu-exists", "vdi.gpu", 2, 4096, mdevs=[MDEV[1]["uuid"]]),
        shared("vdi", 2, 4 * GiB, node=1, cpus="140-165", mdevs=[MDEV[1]]))
    c["nova-gpu-passthrough"] = (
        nova_guest("gpu-pt", "gpu.large", 8, 32768),
        dedicated("gpu", 8, 32 * GiB, 150, node=1, gpus=[{"address": "0000:ca:00.0", "node": 1}]))
    # the benchmark's input: 16 pinned vCPUs, emulator, 2 cells, 1G, 2 VFs, 1 mdev
    c["nova-full-bench"] = (
        nova_guest("full", "db.xlarge", 16, 32768, rbd=True, ports=5, root_ports=28, volumes=4,
                   extra_specs={"hw:mem_page_size": "1GB", "kvmtune:profile": "db-dedicated",
                                "hw:numa_nodes": "2", "quota:disk_read_iops_sec": "5000"}),
        dedicated("db-dedicated", 16, 32 * GiB, 28, nodes="0-1", threads=2,
                  cells=[("0-7", 16 * GiB, 0), ("8-15", 16 * GiB, 1)],
                  vfs=[VF[0], VF[1]], mdevs=[MDEV[0]]))
    # namespaces and metadata flavours
    c["nova-ns10-shared"] = (
        nova_guest("ns10", "m1.small", 1, 2048, ns=NS_10),
        shared("general", 1, 2 * GiB, node=0))
    c["nova-extra-specs-profile"] = (
        nova_guest("es", "custom.x", 2, 4096,
                   extra_specs={"kvmtune:profile": "vdi", "hw:mem_page_size": "small",
                                "quota:cpu_shares": "2048"}),
        shared("vdi", 2, 4 * GiB, node=1, cpus="140-165"))
    c["nova-profile-only-metadata"] = (
        nova_guest("meta-only", "m1.small", 1, 2048),
        placement("none"))
    # virt-install
    c["virtinst-basic"] = (
        virt_install("vi-basic", ["--memory", "2048", "--vcpus", "2", "--disk", "none",
                                  "--osinfo", "generic", "--import", "--network", "none"]),
        shared("general", 2, 2 * GiB, node=0))
    c["virtinst-cpu-host-passthrough"] = (
        virt_install("vi-hp", ["--memory", "4096", "--vcpus", "4", "--cpu", "host-passthrough",
                               "--disk", "none", "--osinfo", "generic", "--import",
                               "--network", "none"]),
        dedicated("db-dedicated", 4, 4 * GiB, 28, node=0, threads=2))
    c["virtinst-numa-cells"] = (
        virt_install("vi-numa", ["--memory", "8192", "--vcpus", "4",
                                 "--cpu", "host-passthrough,cell0.cpus=0-1,cell0.memory=4194304,"
                                          "cell1.cpus=2-3,cell1.memory=4194304",
                                 "--disk", "none", "--osinfo", "generic", "--import",
                                 "--network", "none"]),
        dedicated("hpc", 4, 8 * GiB, 28, nodes="0-1",
                  cells=[("0-1", 4 * GiB, 0), ("2-3", 4 * GiB, 1)]))
    c["virtinst-cputune-kept"] = (
        virt_install("vi-pinned", ["--memory", "2048", "--vcpus", "2,cpuset=4-5",
                                   "--cputune", "vcpupin0.vcpu=0,vcpupin0.cpuset=4,"
                                                "vcpupin1.vcpu=1,vcpupin1.cpuset=5",
                                   "--disk", "none", "--osinfo", "generic", "--import",
                                   "--network", "none"]),
        dedicated("db-dedicated", 2, 2 * GiB, 28, node=0))
    c["virtinst-hugepages-kept"] = (
        virt_install("vi-hp2", ["--memory", "2048", "--vcpus", "2",
                                "--memorybacking", "hugepages=yes",
                                "--disk", "none", "--osinfo", "generic", "--import",
                                "--network", "none"]),
        dedicated("db-dedicated", 2, 2 * GiB, 28, node=0))
    c["virtinst-network-sriov"] = (
        virt_install("vi-net", ["--memory", "2048", "--vcpus", "2",
                                "--network", "network=default,model=virtio",
                                "--disk", "none", "--osinfo", "generic", "--import"]),
        shared("net", 2, 2 * GiB, node=0, vfs=[VF[0]]))
    c["virtinst-numatune-kept"] = (
        virt_install("vi-nt", ["--memory", "2048", "--vcpus", "2",
                               "--numatune", "1,mode=preferred",
                               "--disk", "none", "--osinfo", "generic", "--import",
                               "--network", "none"]),
        shared("general", 2, 2 * GiB, node=0))
    c["virtinst-gpu"] = (
        virt_install("vi-gpu", ["--memory", "8192", "--vcpus", "4",
                                "--disk", "none", "--osinfo", "generic", "--import",
                                "--network", "none", "--graphics", "none"]),
        dedicated("gpu", 4, 8 * GiB, 150, node=1,
                  gpus=[{"address": "0000:ca:00.0", "node": 1}], mdevs=[MDEV[1]]))
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only")
    args = ap.parse_args()
    for name, (xml, pl) in cases().items():
        if args.only and name != args.only:
            continue
        d = os.path.join(HERE, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "input.xml"), "w") as f:
            f.write(xml)
        with open(os.path.join(d, "placement.xml"), "w") as f:
            f.write(pl)
        print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
