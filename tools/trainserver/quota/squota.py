"""BTRFS simple quotas (squota, kernel 6.7 and later): read them, and switch them on.

Never full qgroups: with hourly snapshots they make snapshot cleanup hundreds of times slower
(docs/measured.md). Simple quotas account each extent to the subvolume that allocated it, when it is
allocated, so deleting snapshots costs nothing extra (bench/quota measures it).

Measured on 6.18 (bench/quota and tests/integration/test_quota_btrfs.py):
- /sys/fs/btrfs/features/simple_quota exists where the kernel has them;
- /sys/fs/btrfs/<fsid>/qgroups/ exists only while quotas are on; its `mode` file reads
  "squota" for simple quotas and "qgroup" for full ones;
- data written before simple quotas were switched on is never counted (extents older than the
  enable generation, kept in the quota tree's status item, are skipped, also when freed). So a
  subvolume created before that generation is walked instead: its squota figure would be low.
btrfs-progs 6.2 (Debian 12) cannot switch simple quotas on (`quota enable --simple` came in
6.7), so this module uses the ioctls directly. Its `qgroup create/assign/limit/show` do work
with simple quotas on (6.18), but the hard limits (limits.py) use the same ioctls they send,
read back from sysfs and the quota tree: no output to parse, and no rescan that progs may
start after an assignment.
"""

import errno
import fcntl
import os
import struct

FEATURES_DIR = "/sys/fs/btrfs/features"
SYSFS = "/sys/fs/btrfs"

_MAGIC = 0x94


def _ioc(direction, number, size):
    return (direction << 30) | (size << 16) | (_MAGIC << 8) | number


_READ, _WRITE = 2, 1
IOC_QUOTA_CTL = _ioc(_READ | _WRITE, 40, 16)
IOC_TREE_SEARCH = _ioc(_READ | _WRITE, 17, 4096)
IOC_FS_INFO = _ioc(_READ, 31, 1024)
IOC_QGROUP_ASSIGN = _ioc(_WRITE, 41, 24)  # {u64 assign; u64 src; u64 dst}
IOC_QGROUP_CREATE = _ioc(_WRITE, 42, 16)  # {u64 create; u64 qgroupid}
IOC_QGROUP_LIMIT = _ioc(_READ, 43, 48)  # {u64 qgroupid; struct btrfs_qgroup_limit}
LIMIT_MAX_RFER, LIMIT_MAX_EXCL = 1, 2
LIMIT_CLEAR = 2**64 - 1  # a limit of this value removes it (what `btrfs qgroup limit none` sends)
QGROUP_RELATION_KEY = 246
QUOTA_CTL_ENABLE_SIMPLE_QUOTA = 4
QUOTA_TREE_OBJECTID = 8
QGROUP_STATUS_KEY = 240
STATUS_FLAG_ON = 1
STATUS_FLAG_SIMPLE_MODE = 1 << 3

SIMPLE, FULL = "squota", "qgroup"


def kernel_has_squota(features_dir=FEATURES_DIR):
    return os.path.exists(os.path.join(features_dir, "simple_quota"))


def fsid(path):
    """The filesystem UUID of the BTRFS mounted at `path` (its /sys/fs/btrfs/ directory)."""
    import uuid

    buffer = bytearray(1024)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, IOC_FS_INFO, buffer)
    finally:
        os.close(fd)
    return str(uuid.UUID(bytes=bytes(buffer[16:32])))


def sysfs_dir(path, sysfs=SYSFS):
    return os.path.join(sysfs, fsid(path))


def mode(fs_dir):
    """None (quotas off), SIMPLE or FULL, from /sys/fs/btrfs/<fsid>/qgroups/mode."""
    qgroups = os.path.join(fs_dir, "qgroups")
    if not os.path.isdir(qgroups):
        return None
    try:
        with open(os.path.join(qgroups, "mode"), encoding="ascii") as handle:
            text = handle.read().strip()
    except FileNotFoundError:
        return FULL  # kernels before simple quotas have no mode file: full qgroups
    return SIMPLE if text == SIMPLE else FULL


class Unavailable(Exception):
    """Simple quotas cannot be used here (the message says why)."""


def usable(storage, features_dir=FEATURES_DIR):
    """(sysfs directory, mode) of the BTRFS at `storage` where this kernel has simple quotas and
    full qgroups are not on; Unavailable otherwise. What `enable` and hard limits both need."""
    import platform

    if not kernel_has_squota(features_dir):
        raise Unavailable(
            f"this kernel ({platform.release()}) has no BTRFS simple quotas "
            f"({features_dir}/simple_quota is missing; kernel 6.7 and later have them). Full "
            f"qgroups are never switched on: they make snapshot cleanup hundreds of times "
            f"slower")
    try:
        fs_dir = sysfs_dir(storage)
    except OSError as exc:
        raise Unavailable(f"{storage} is not a mounted BTRFS filesystem ({exc.strerror})") \
            from None
    current = mode(fs_dir)
    if current == FULL:
        raise Unavailable(f"full qgroups are on for {storage}: switch them off first "
                          f"(btrfs quota disable {storage}; it can take minutes), then run "
                          f"ts-quota enable")
    return fs_dir, current


def referenced(fs_dir, subvolume_id):
    """Bytes the simple quota of subvolume `subvolume_id` holds (qgroup 0/ID), or None."""
    try:
        with open(os.path.join(fs_dir, "qgroups", f"0_{subvolume_id}", "referenced"),
                  encoding="ascii") as handle:
            return int(handle.read().strip())
    except (FileNotFoundError, ValueError):
        return None


def _tree_search(path, tree_id, item_type):
    """[(objectid, offset, item bytes)] of every item of `item_type` in tree `tree_id`
    (BTRFS_IOC_TREE_SEARCH, in batches). Needs CAP_SYS_ADMIN; OSError where the tree is
    missing (no quota tree: quotas were never on)."""
    found = []
    objectid, kind, offset = 0, item_type, 0
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while True:
            # The range is compared as whole keys (objectid, type, offset), so items of other
            # types between them come back too, and are skipped here.
            key = struct.pack("=QQQQQQQIIIIQQQQ", tree_id, objectid, 2**64 - 1, offset,
                              2**64 - 1, 0, 2**64 - 1, kind, item_type, 4096, 0, 0, 0, 0, 0)
            buffer = bytearray(key + bytes(4096 - len(key)))
            fcntl.ioctl(fd, IOC_TREE_SEARCH, buffer)
            items = struct.unpack_from("=I", buffer, 64)[0]
            if not items:
                return found
            position = len(key)
            for _ in range(items):
                _, objectid, offset, kind, length = struct.unpack_from("=QQQII", buffer,
                                                                       position)
                position += 32
                if kind == item_type:
                    found.append((objectid, offset, bytes(buffer[position:position + length])))
                position += length
            # Go on after the last key returned, as btrfs-progs does.
            if offset < 2**64 - 1:
                offset += 1
            elif kind < 255:
                kind, offset = kind + 1, 0
            elif objectid < 2**64 - 1:
                objectid, kind, offset = objectid + 1, 0, 0
            else:
                return found
    finally:
        os.close(fd)


def enable_generation(path):
    """The transaction from which simple quotas count (the quota tree's status item), or None
    when quotas are not on in simple mode. Needs CAP_SYS_ADMIN (TREE_SEARCH)."""
    try:
        items = _tree_search(path, QUOTA_TREE_OBJECTID, QGROUP_STATUS_KEY)
    except OSError:
        return None  # no quota tree: quotas were never on
    for _, _, item in items:
        if len(item) < 40:
            continue
        _version, _generation, flags, _rescan, enable_gen = struct.unpack_from("<5Q", item)
        if flags & STATUS_FLAG_ON and flags & STATUS_FLAG_SIMPLE_MODE:
            return enable_gen
    return None


def qgroup_text(qgroupid):
    """"1/1000" for (1 << 48) | 1000, as btrfs qgroup show writes it."""
    return f"{qgroupid >> 48}/{qgroupid & (2**48 - 1)}"


def qgroup_id(text):
    level, _, number = text.partition("/")
    return (int(level) << 48) | int(number)


def relations(path):
    """[(child, parent)] of every qgroup relation, as "0/256", "1/1000" (the quota tree's
    relation items; each relation is stored both ways, the child has the lower level).
    Needs CAP_SYS_ADMIN; [] when quotas are off."""
    try:
        items = _tree_search(path, QUOTA_TREE_OBJECTID, QGROUP_RELATION_KEY)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return []
        raise
    return sorted({(qgroup_text(a), qgroup_text(b)) for a, b, _ in items if a >> 48 < b >> 48})


def qgroups(fs_dir):
    """{"1/1000": {"referenced", "exclusive", "limit_flags", "max_referenced", "max_exclusive"}}
    for every qgroup, from /sys/fs/btrfs/<fsid>/qgroups ({} when quotas are off)."""
    root = os.path.join(fs_dir, "qgroups")
    found = {}
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return found
    for name in names:
        level, _, number = name.partition("_")
        if not (level.isdigit() and number.isdigit()):
            continue
        values = {}
        for key in ("referenced", "exclusive", "limit_flags", "max_referenced",
                    "max_exclusive"):
            try:
                with open(os.path.join(root, name, key), encoding="ascii") as handle:
                    values[key] = int(handle.read().strip())
            except (FileNotFoundError, ValueError):
                values[key] = 0
        found[f"{level}/{number}"] = values
    return found


def _qgroup_ioctl(path, request, payload):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, request, bytearray(payload))
    finally:
        os.close(fd)


def create_qgroup(path, qgroup):
    _qgroup_ioctl(path, IOC_QGROUP_CREATE, struct.pack("=QQ", 1, qgroup_id(qgroup)))


def destroy_qgroup(path, qgroup):
    """Refused by the kernel (EBUSY) while the qgroup has members."""
    _qgroup_ioctl(path, IOC_QGROUP_CREATE, struct.pack("=QQ", 0, qgroup_id(qgroup)))


def assign(path, child, parent):
    _qgroup_ioctl(path, IOC_QGROUP_ASSIGN,
                  struct.pack("=QQQ", 1, qgroup_id(child), qgroup_id(parent)))


def unassign(path, child, parent):
    _qgroup_ioctl(path, IOC_QGROUP_ASSIGN,
                  struct.pack("=QQQ", 0, qgroup_id(child), qgroup_id(parent)))


def set_limit(path, qgroup, max_referenced):
    """A limit on referenced bytes (in simple quotas referenced and exclusive are the same
    figure); an exclusive limit, if any, is cleared. None clears both."""
    referenced = LIMIT_CLEAR if max_referenced is None else max_referenced
    _qgroup_ioctl(path, IOC_QGROUP_LIMIT,
                  struct.pack("=QQQQQQ", qgroup_id(qgroup), LIMIT_MAX_RFER | LIMIT_MAX_EXCL,
                              referenced, LIMIT_CLEAR, 0, 0))


def enable(path):
    """Switch simple quotas on for the filesystem mounted at `path` (BTRFS_IOC_QUOTA_CTL)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, IOC_QUOTA_CTL, bytearray(struct.pack("=QQ",
                                                              QUOTA_CTL_ENABLE_SIMPLE_QUOTA, 0)))
    finally:
        os.close(fd)
