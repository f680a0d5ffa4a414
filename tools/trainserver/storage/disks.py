"""Discover the machine's disks with pyudev (and blkid for signatures): read only.

Each disk: its stable ids (/dev/disk/by-id), model, serial, size, whether it is rotational,
its partitions with their signatures, holders and mounts, and whether it holds the root
filesystem. Works without a udev database too (a container, the build machine): ids, model
and serial are then what sysfs says, possibly nothing.
"""

import errno
import json
import os

from trainserver.core import commands

# Never disks of the storage layout: RAM disks, compressed swap, optical and floppy drives.
_IGNORED = ("ram", "zram", "sr", "fd")
# by-id names that identify a disk by its make and serial, not by a WWN or an EUI.
_PREFERRED = ("ata-", "nvme-", "scsi-", "virtio-", "usb-", "mmc-")


def _text(value):
    return value.decode(errors="replace").strip() if isinstance(value, bytes) else value


def _attribute(device, name):
    try:
        return _text(device.attributes.get(name))
    except (KeyError, OSError):
        return None


def _mounts():
    """Mount points by source device path and by filesystem UUID (findmnt), plus swaps.

    By UUID too: a multi-device BTRFS names one device as its source, and its other devices
    are just as much in use.
    """
    listed = commands.run(["findmnt", "--json", "--list", "--real", "--output",
                           "SOURCE,TARGET,UUID"], changes=False, timeout=30, ok_codes=(0, 1))
    by_source, by_uuid = {}, {}
    for entry in (json.loads(listed.stdout).get("filesystems", []) if listed.stdout.strip()
                  else []):
        source = entry.get("source") or ""
        if source.startswith("/dev/"):
            by_source.setdefault(os.path.realpath(source.split("[")[0]), []).append(
                entry["target"])
        if entry.get("uuid"):
            by_uuid.setdefault(entry["uuid"], []).append(entry["target"])
    try:
        with open("/proc/swaps") as handle:
            for line in list(handle)[1:]:
                by_source.setdefault(os.path.realpath(line.split()[0]), []).append("[swap]")
    except OSError:
        pass
    return by_source, by_uuid


def signatures_of(path):
    """(signatures, error): what blkid's low-level probe finds (TYPE, PTTYPE, LABEL, UUID)."""
    result = commands.run(["blkid", "-p", "-o", "export", path], changes=False, timeout=30,
                          ok_codes=None)
    # Exit 2 is "nothing found", but also what blkid says when it cannot open the device.
    if result.returncode not in (0, 2) or "error" in result.stderr:
        return {}, result.stderr.strip().split(": ")[-1] or f"blkid exit {result.returncode}"
    found = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return {k: v for k, v in found.items() if k in ("TYPE", "PTTYPE", "LABEL", "UUID", "USAGE")}, \
        None


def _holders(sys_path):
    try:
        return sorted(os.listdir(os.path.join(sys_path, "holders")))
    except OSError:
        return []


def _busy(path):
    """Whether the kernel holds the device exclusively: mounted, or used by bcache, md, dm or
    btrfs. An O_EXCL open of a block device fails with EBUSY then, and reads nothing."""
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_EXCL | os.O_CLOEXEC))
    except OSError as exc:
        return exc.errno == errno.EBUSY
    return False


def _node(device, by_source, by_uuid):
    path = device.device_node
    signatures, error = signatures_of(path)
    mounts = by_source.get(path, []) + [target for target in by_uuid.get(
        signatures.get("UUID"), []) if target not in by_source.get(path, [])]
    return {
        "path": path,
        "mounts": mounts,
        "holders": _holders(device.sys_path),
        "signatures": signatures,
        "probe_error": error,
        "busy": _busy(path),
        "is_root": "/" in mounts,
    }


def discover():
    import pyudev  # imported here: --help must not pay for it

    context = pyudev.Context()
    by_source, by_uuid = _mounts()
    disks = []
    for device in context.list_devices(subsystem="block", DEVTYPE="disk"):
        if device.sys_name.startswith(_IGNORED):
            continue
        sectors = _attribute(device, "size")
        size = int(sectors) * 512 if sectors and sectors.isdigit() else 0
        if size == 0:
            continue  # an empty loop device, a card reader without a card
        ids = sorted((link for link in device.device_links
                      if link.startswith("/dev/disk/by-id/")),
                     key=lambda link: (not os.path.basename(link).startswith(_PREFERRED), link))
        disk = _node(device, by_source, by_uuid)
        partitions = []
        for child in sorted(device.children, key=lambda c: c.sys_name):
            if child.device_type != "partition":
                continue
            part = _node(child, by_source, by_uuid)
            start, part_size = _attribute(child, "start"), _attribute(child, "size")
            part.update(number=int(_attribute(child, "partition") or 0),
                        start=int(start) * 512 if start else None,
                        size=int(part_size) * 512 if part_size else None)
            partitions.append(part)
        rotational = _attribute(device, "queue/rotational")
        kind = "loop" if device.sys_name.startswith("loop") else \
            "bcache" if device.sys_name.startswith("bcache") else \
            "dm" if device.sys_name.startswith(("dm-", "md")) else "disk"
        disk.update(
            name=device.sys_name, ids=ids, kind=kind, size=size, partitions=partitions,
            model=device.properties.get("ID_MODEL") or _attribute(device, "device/model"),
            serial=device.properties.get("ID_SERIAL_SHORT") or _attribute(device, "device/serial"),
            rotational=rotational == "1",
            sector_size=int(_attribute(device, "queue/logical_block_size") or 512),
            holds_root=disk["is_root"] or any(p["is_root"] for p in partitions),
        )
        disks.append(disk)
    return disks
