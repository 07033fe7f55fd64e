#!/usr/bin/python3
"""Writes the input.xml of the policy + fixture golden cases
(tests/golden/<case>/ with a policy.yaml) as real Nova output: the domain is
built with python3-nova's nova.virt.libvirt.config classes, the way
nova.virt.libvirt.driver builds it for a flavor.

Re-run after changing a case list entry:
    /usr/bin/python3 tests/allocator/gen-golden-inputs.py
"""
import os
import sys

from nova.virt.libvirt import config as vconfig

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, '..', 'golden')
sys.path.insert(0, os.path.join(HERE, '..', 'lib'))
import nova_xml  # noqa: E402


def guest(uuid, name, flavor, vcpus, mem_mib, pins=None, hugepages_kib=None,
          sriov_vf=None, nova_ns='1.1', cells=None, emulator=None,
          topology=None):
    """cells: [(vcpus, mem_mib, host_node)] builds what the libvirt driver
    writes for a NUMA flavor (hw:cpu_policy=dedicated, hw:numa_nodes,
    hw:numa_cpus.N / hw:numa_mem.N): guest cells, numatune memory and
    memnode per cell, page nodeset per cell.  emulator: the emulatorpin set
    (hw:emulator_threads_policy=isolate), else the union of the pins.
    topology: (sockets, cores, threads), else sockets=vcpus."""
    g = vconfig.LibvirtConfigGuest()
    g.virt_type = 'kvm'
    g.name = name
    g.uuid = uuid
    g.memory = mem_mib * 1024
    g.vcpus = vcpus

    g.metadata.append(nova_xml.instance_meta(
        'vm-' + name[-4:], flavor, vcpus, mem_mib, '27.1.0', 1700000000, 20,
        ('9a8b7c6d5e4f40318a2b3c4d5e6f7a8b', 'demo', '1b2c3d4e5f6a47b8a9c0d1e2f3a4b5c6', 'demo'),
        root=('image', '3f2c1c6e-8c1b-4e55-9d0e-6c2d1d0a9a01')))

    g.os_type = 'hvm'
    g.os_mach_type = 'q35'
    g.os_boot_dev = ['hd']
    g.features.append(vconfig.LibvirtConfigGuestFeatureACPI())
    g.features.append(vconfig.LibvirtConfigGuestFeatureAPIC())

    cpu = vconfig.LibvirtConfigGuestCPU()
    cpu.mode = 'host-model'
    cpu.match = 'exact'
    cpu.sockets, cpu.cores, cpu.threads = topology or (vcpus, 1, 1)
    g.cpu = cpu
    if cells:
        numa = vconfig.LibvirtConfigGuestCPUNUMA()
        tune = vconfig.LibvirtConfigGuestNUMATune()
        tune.memory = vconfig.LibvirtConfigGuestNUMATuneMemory()
        tune.memory.nodeset = sorted({c[2] for c in cells})
        for i, (cell_vcpus, cell_mib, host_node) in enumerate(cells):
            c = vconfig.LibvirtConfigGuestCPUNUMACell()
            c.id = i
            c.cpus = set(cell_vcpus)
            c.memory = cell_mib * 1024
            numa.cells.append(c)
            mn = vconfig.LibvirtConfigGuestNUMATuneMemNode()
            mn.cellid = i
            mn.nodeset = [host_node]
            tune.memnodes.append(mn)
        cpu.numa = numa
        g.numatune = tune

    if pins:
        g.cputune = nova_xml.vcpu_pins(pins, emulator)
    if hugepages_kib:
        mb = vconfig.LibvirtConfigGuestMemoryBacking()
        page = vconfig.LibvirtConfigGuestMemoryBackingPage()
        page.size_kb = hugepages_kib
        page.nodeset = list(range(len(cells))) if cells else [0]
        mb.hugepages = [page]
        g.membacking = mb

    clk = vconfig.LibvirtConfigGuestClock()
    clk.offset = 'utc'
    g.set_clock(clk)

    g.add_device(nova_xml.file_disk('/var/lib/nova/instances/%s/disk' % uuid))

    if sriov_vf:
        vif = vconfig.LibvirtConfigGuestInterface()
        vif.net_type = 'hostdev'
        vif.mac_addr = 'fa:16:3e:12:34:56'
        vif.source_dev = sriov_vf
        vif.driver_name = None
        vif.vlan = 200
        g.add_device(vif)
    else:
        vif = vconfig.LibvirtConfigGuestInterface()
        vif.net_type = 'bridge'
        vif.mac_addr = 'fa:16:3e:ab:cd:ef'
        vif.source_dev = 'qbr1a2b3c4d-5e'
        vif.model = 'virtio'
        vif.target_dev = 'tap1a2b3c4d-5e'
        g.add_device(vif)

    serial = vconfig.LibvirtConfigGuestSerial()
    serial.type = 'pty'
    g.add_device(serial)

    nova_xml.add_vnc_video(g, '0.0.0.0', 'virtio')
    g.add_device(nova_xml.balloon())

    xml = g.to_xml()
    if nova_ns == '1.0':
        xml = xml.replace('http://openstack.org/xmlns/libvirt/nova/1.1',
                          'http://openstack.org/xmlns/libvirt/nova/1.0')
    return xml


def U(n):
    return '6f1e2d3c-4b5a-4978-8a1b-%012x' % n


# case -> (fixture, guest arguments)
CASES = {
    'engine-db-dedicated-ref': ('reference', dict(
        uuid=U(1), name='instance-00000001', flavor='db.large', vcpus=8, mem_mib=16384)),
    'engine-hpc-two-nodes-ref': ('reference', dict(
        uuid=U(2), name='instance-00000002', flavor='hpc.xlarge', vcpus=16, mem_mib=65536)),
    'engine-vdi-vgpu-ref': ('reference', dict(
        uuid=U(3), name='instance-00000003', flavor='vdi.small', vcpus=2, mem_mib=4096)),
    'engine-general-shared-ref': ('reference', dict(
        uuid=U(4), name='instance-00000004', flavor='m1.medium', vcpus=2, mem_mib=4096)),
    'engine-ml-gpu-override-ref': ('reference', dict(
        uuid=U(5), name='instance-00000005', flavor='ml.gpu', vcpus=4, mem_mib=8192,
        pins=[60, 61, 62, 63])),
    'engine-no-match-ref': ('reference', dict(
        uuid=U(6), name='guest-06', flavor='x1.tiny', vcpus=1, mem_mib=512)),
    'engine-nova-pinned-ref': ('reference', dict(
        uuid=U(7), name='instance-00000007', flavor='db.pinned', vcpus=4, mem_mib=4096,
        pins=[70, 71, 72, 73], hugepages_kib=1048576)),
    # hw:cpu_policy=dedicated, hw:cpu_thread_policy=prefer,
    # hw:emulator_threads_policy=isolate, hw:mem_page_size=1GB,
    # hw:numa_nodes=2 with an uneven split (hw:numa_cpus.0=0-1,
    # hw:numa_mem.0=2048, hw:numa_cpus.1=2-5, hw:numa_mem.1=6144)
    'engine-nova-pinned-2cell-ref': ('reference', dict(
        uuid=U(13), name='instance-0000000d', flavor='db.nova', vcpus=6, mem_mib=8192,
        pins=[30, 142, 90, 202, 91, 203], emulator=[31], hugepages_kib=1048576,
        cells=[([0, 1], 2048, 0), ([2, 3, 4, 5], 6144, 1)])),
    'engine-db-sriov-port-ref': ('reference', dict(
        uuid=U(8), name='instance-00000008', flavor='db.small', vcpus=4, mem_mib=8192,
        sriov_vf='0000:98:00.4', nova_ns='1.0')),
    'engine-general-laptop': ('laptop', dict(
        uuid=U(9), name='instance-00000009', flavor='m1.small', vcpus=1, mem_mib=2048)),
    'engine-db-too-big-ref_FAIL': ('reference', dict(
        uuid=U(11), name='instance-0000000b', flavor='db.huge', vcpus=60, mem_mib=65536)),
    'engine-vgpu-none-laptop_FAIL': ('laptop', dict(
        uuid=U(12), name='instance-0000000c', flavor='vdi.small', vcpus=1, mem_mib=1024)),
    'engine-wide-epyc': ('epyc-4node', dict(
        uuid=U(10), name='instance-0000000a', flavor='wide.16', vcpus=16, mem_mib=16384)),
}


def main():
    for case, (host, args) in sorted(CASES.items()):
        d = os.path.join(GOLDEN, case)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, 'input.xml'), 'w') as f:
            f.write(guest(**args))
            f.write('\n')
        with open(os.path.join(d, 'host'), 'w') as f:
            f.write(host + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
