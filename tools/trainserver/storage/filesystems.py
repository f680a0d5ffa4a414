"""Which filesystems `ts-storage check` watches for space besides the storage: pure logic.

The server manual warns when any filesystem is more than 90% full, and a full root
filesystem or /var stops the machine as surely as a full storage does. Watched: every local
filesystem on a block device that can be written to. Not watched, and why:
- memory and kernel filesystems (tmpfs, proc, cgroup, ...) and overlays: their source is no
  block device, and an overlay's space is its lower filesystem's;
- network filesystems (NFS, CIFS, Ceph, 9p, virtiofs): the server they live on watches them,
  and asking a hung server for its space would hang the check;
- FUSE (the Drive mount, sshfs, NTFS through ntfs-3g): a daemon answers, and may hang or make
  up the numbers;
- squashfs (snaps), ISO 9660, UDF, EROFS and anything whose filesystem is read-only: they
  cannot fill up. The filesystem's own options decide, not the mount's: a systemd sandbox
  (ProtectSystem=strict) mounts everything read-only for the check itself;
- the storage ([paths] storage) and every other mount of its filesystem, anything below it
  included: its own space check counts BTRFS's RAID copies and unallocated space;
- a second mount of the same filesystem (a bind mount, a BTRFS subvolume mounted apart, the
  sandbox's private /tmp): the same space, reported once, at the shortest mount point.
Only what this process can see is watched: the topmost mount at each mount point.
"""

from dataclasses import dataclass

NOT_WATCHED = frozenset({
    "tmpfs", "devtmpfs", "ramfs", "overlay", "squashfs", "iso9660", "udf", "erofs", "cramfs",
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "9p", "virtiofs", "afs",
    "autofs",
})


@dataclass(frozen=True)
class Watched:
    mount_point: str
    fstype: str
    source: str


def _below(path, top):
    top = top.rstrip("/") or "/"
    return path == top or path.startswith(top.rstrip("/") + "/")


def _kind_watched(entry):
    return (entry.source.startswith("/dev/") and entry.fstype not in NOT_WATCHED
            and not entry.fstype.startswith("fuse") and "ro" not in entry.super_options)


def select(entries, storage):
    """The Watched filesystems among mountinfo `entries` (core.mountinfo.parse), in mount
    point order, the storage at `storage` left out."""
    topmost = {}
    for entry in entries:
        topmost[entry.mount_point] = entry  # a later mount at the same point hides the earlier
    storage_devices = {e.device for e in entries
                       if e.mount_point.rstrip("/") == storage.rstrip("/")}
    by_device = {}
    for point, entry in topmost.items():
        if not _kind_watched(entry) or _below(point, storage) or entry.device in storage_devices:
            continue
        kept = by_device.get(entry.device)
        if kept is None or (len(point), point) < (len(kept.mount_point), kept.mount_point):
            by_device[entry.device] = entry
    return sorted((Watched(e.mount_point, e.fstype, e.source) for e in by_device.values()),
                  key=lambda w: w.mount_point)


def percent_used(size, free, available):
    """Used space as df counts it: what the root-reserved blocks hold counts as neither used
    nor available, so a filesystem is 100% full when ordinary users can write nothing."""
    used = size - free
    return 100.0 * used / (used + available) if used + available else 0.0
