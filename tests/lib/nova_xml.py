"""Pieces of a domain XML as Nova's libvirt driver builds it, shared by the
test generators (tests/golden/gen-inputs.py,
tests/allocator/gen-golden-inputs.py) and the e2e helper kt_proxy.py.  They
use python3-nova's own nova.virt.libvirt.config classes, imported on first
use so that importing this module works without python3-nova.

cpulist() is the kernel's and libvirt's CPU list syntax, also used by
tests/fixtures/gen-hosts.py for the fixture sysfs trees."""


def cpulist(ids):
    """Kernel list syntax: sorted, ranges collapsed ("0-55,112-167")."""
    ids = sorted(set(ids))
    out = []
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        out.append(str(ids[i]) if i == j else "%d-%d" % (ids[i], ids[j]))
        i = j + 1
    return ",".join(out)


def _vc():
    from nova.virt.libvirt import config as vc
    return vc


def instance_meta(name, flavor, vcpus, mem_mib, package, creation_time, disk_gb, owner,
                  root=None):
    """<nova:instance>: package version, display name, creation time, the
    flavor (no swap, no ephemeral disk), owner (userid, username,
    projectid, projectname) and, when given, root (type, id)."""
    vc = _vc()
    meta = vc.LibvirtConfigGuestMetaNovaInstance()
    meta.package = package
    meta.name = name
    meta.creationTime = creation_time
    fl = vc.LibvirtConfigGuestMetaNovaFlavor()
    fl.name = flavor
    fl.memory = mem_mib
    fl.vcpus = vcpus
    fl.disk = disk_gb
    fl.swap = 0
    fl.ephemeral = 0
    meta.flavor = fl
    o = vc.LibvirtConfigGuestMetaNovaOwner()
    o.userid, o.username, o.projectid, o.projectname = owner
    meta.owner = o
    if root:
        meta.roottype, meta.rootid = root
    return meta


def sysinfo(uuid, version):
    """The smbios system block Nova writes (serial and uuid: the instance's)."""
    si = _vc().LibvirtConfigGuestSysinfo()
    si.system_manufacturer = "OpenStack Foundation"
    si.system_product = "OpenStack Nova"
    si.system_version = version
    si.system_serial = uuid
    si.system_uuid = uuid
    si.system_family = "Virtual Machine"
    return si


def add_timers(clk):
    """The clock timers of an x86 guest: pit delay, rtc catchup, no hpet."""
    vc = _vc()
    for tname, tick, present in (("pit", "delay", None), ("rtc", "catchup", None),
                                 ("hpet", None, False)):
        t = vc.LibvirtConfigGuestTimer()
        t.name = tname
        t.tickpolicy = tick
        t.present = present
        clk.add_timer(t)


def vcpu_pins(pins, emulator=None):
    """<cputune> for hw:cpu_policy=dedicated: vCPU i on host CPU pins[i],
    the emulator on @emulator (hw:emulator_threads_policy=isolate), else on
    all the pins."""
    vc = _vc()
    ct = vc.LibvirtConfigGuestCPUTune()
    for i, hc in enumerate(pins):
        p = vc.LibvirtConfigGuestCPUTuneVCPUPin()
        p.id = i
        p.cpuset = {hc}
        ct.vcpupin.append(p)
    ep = vc.LibvirtConfigGuestCPUTuneEmulatorPin()
    ep.cpuset = set(emulator or pins)
    ct.emulatorpin = ep
    return ct


def file_disk(path):
    """The instance's root disk: a qcow2 file on virtio vda, cache none."""
    d = _vc().LibvirtConfigGuestDisk()
    d.source_type = "file"
    d.source_path = path
    d.driver_name = "qemu"
    d.driver_format = "qcow2"
    d.driver_cache = "none"
    d.target_dev = "vda"
    d.target_bus = "virtio"
    return d


def add_vnc_video(g, listen, model):
    """A VNC console listening on @listen and its video card (@model)."""
    vc = _vc()
    gr = vc.LibvirtConfigGuestGraphics()
    gr.type = "vnc"
    gr.listen = listen
    g.add_device(gr)
    vid = vc.LibvirtConfigGuestVideo()
    vid.type = model
    g.add_device(vid)


def balloon():
    """The virtio memory balloon with 10 s statistics Nova adds."""
    mb = _vc().LibvirtConfigMemoryBalloon()
    mb.model = "virtio"
    mb.period = 10
    return mb
