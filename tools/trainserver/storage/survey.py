"""Gather the facts ts-storage plan and apply work from: read only.

Disks from pyudev (disks.discover), the cache disk's partition table from `sfdisk --json`,
bcache superblocks from bcache-super-show, registrations from sysfs, signatures from
`blkid -p`, the device count of a BTRFS labelled as apply labels it from its superblock
(`btrfs inspect-internal dump-super`), the mount point from findmnt, the fstab checked with
`findmnt --verify`.
"""

import json
import os
import shutil
import stat

from trainserver.core import commands
from trainserver.snapshot import btrfs
from trainserver.storage import bcache, disks, facts as storage_facts, layout, parse
from trainserver.storage.plan import LayoutFacts

TIMEOUT = 60
# What apply runs, by the Debian package that has it.
PROGRAMS = {"mkfs.btrfs": "btrfs-progs", "btrfs": "btrfs-progs", "wipefs": "util-linux",
            "findmnt": "util-linux", "blkid": "util-linux"}
BCACHE_PROGRAMS = {"make-bcache": "bcache-tools", "bcache-super-show": "bcache-tools",
                   "sgdisk": "gdisk", "sfdisk": "fdisk", "partx": "util-linux"}


def _run(argv, **kwargs):
    return commands.run(argv, changes=False, timeout=TIMEOUT, **kwargs)


def settle():
    """Wait for udev to finish with what the last step changed (bcache registers through udev
    rules), when udev runs here."""
    if shutil.which("udevadm") and os.path.exists("/run/udev/control"):
        _run(["udevadm", "settle", "--timeout=60"], ok_codes=None)


def partition_table(path):
    """(sfdisk's "partitiontable" or None when the disk has none, error text or None)."""
    result = _run(["sfdisk", "--json", path], ok_codes=None)
    if result.returncode == 0:
        return json.loads(result.stdout)["partitiontable"], None
    if "does not contain a recognized partition table" in result.stderr:
        return None, None
    return None, result.stderr.strip() or f"sfdisk exit status {result.returncode}"


def superblock(path):
    """bcache.parse_super() of the device, or None when it has no bcache superblock."""
    if not os.path.exists(path):
        return None
    result = _run(["bcache-super-show", path], ok_codes=None)
    if result.returncode != 0:
        return None
    try:
        return bcache.parse_super(result.stdout)
    except ValueError:
        return None


def resolve_id(device_id):
    """(kernel path or None, why the id cannot be used or None).

    None and no reason: nothing by that name (the plan says "no such device"). An id must be
    udev's link itself, not something reached through it, and lead to a block device.
    """
    if layout.stable_id_problem(device_id):
        return None, None  # the plan refuses the name itself
    try:
        if not stat.S_ISLNK(os.lstat(device_id).st_mode):
            return None, "not a link: udev makes each /dev/disk/by-id entry a link to its disk"
        path = os.path.realpath(device_id)
        if not stat.S_ISBLK(os.stat(path).st_mode):
            return None, f"leads to {path}, which is not a block device"
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"cannot be resolved: {exc.strerror or exc}"
    return path, None


def btrfs_filesystem(path):
    """{"num_devices": ..., "error": None} from the superblock of the BTRFS member PATH (the
    device count, which no signature probe tells), or {"num_devices": None, "error": why}."""
    result = _run(["btrfs", "inspect-internal", "dump-super", path], ok_codes=None)
    try:
        if result.returncode != 0:
            raise parse.ParseError(result.stderr.strip() or f"exit status {result.returncode}")
        return {"num_devices": parse.dump_super(result.stdout)["num_devices"], "error": None}
    except parse.ParseError as exc:
        return {"num_devices": None, "error": f"btrfs inspect-internal dump-super {path}: {exc}"}


def _labelled(facts):
    """{UUID: a device carrying it} for every BTRFS labelled as apply labels its filesystem."""
    found = {}
    nodes = [node for disk in facts.disks for node in [disk] + disk["partitions"]]
    nodes += [{"path": path, "signatures": signatures}
              for path, signatures in facts.members.items()]
    for node in nodes:
        signatures = node["signatures"]
        if signatures.get("TYPE") == "btrfs" and signatures.get("LABEL") == layout.LABEL:
            found.setdefault(signatures.get("UUID"), node["path"])
    return found


def verify_fstab(path):
    """findmnt --verify's errors about PATH, or None when it has none (warnings are fine)."""
    result = _run(["findmnt", "--verify", "--tab-file", path], ok_codes=None)
    if result.returncode == 0:
        return None
    lines, target = [], None
    for line in (result.stdout + result.stderr).splitlines():
        if line and not line.startswith(" "):
            target = line.strip()
        elif "[E]" in line:
            lines.append(f"{target}: {line.split('[E]', 1)[1].strip()}")
    return "; ".join(lines) or (result.stdout + result.stderr).strip()[-500:]


def _tree_kinds(mount_point, entries):
    found = {}
    for relative, _ in entries:
        path = os.path.join(mount_point, relative)
        if not os.path.lexists(path):
            found[relative] = None
        elif os.path.islink(path) or not os.path.isdir(path):
            found[relative] = "file"
        else:
            found[relative] = "subvolume" if btrfs.is_subvolume(path) else "directory"
    return found


def gather(settings):
    facts = LayoutFacts()
    settle()
    facts.disks = disks.discover()
    use_bcache = settings.cache == "bcache"
    wanted = {**PROGRAMS, **(BCACHE_PROGRAMS if use_bcache else {})}
    facts.missing_programs = {program: package for program, package in wanted.items()
                              if not shutil.which(program)}
    ids = list(settings.backing) + ([settings.cache_device]
                                    if use_bcache and settings.cache_device else [])
    for device_id in ids:
        facts.resolved[device_id], problem = resolve_id(device_id)
        if problem:
            facts.id_problems[device_id] = problem
    facts.bcache_loaded = os.path.isdir("/sys/fs/bcache")
    if use_bcache:
        facts.bcache_available = facts.bcache_loaded or bool(shutil.which("modprobe")) and _run(
            ["modprobe", "--dry-run", "--quiet", "bcache"], ok_codes=None).returncode == 0
    # With a program missing the plan is refused anyway; what the others say is not needed.
    if use_bcache and not facts.missing_programs:
        cache_path = facts.resolved.get(settings.cache_device)
        if cache_path:
            facts.table, facts.table_error = partition_table(cache_path)
            for part in (facts.table or {}).get("partitions", []):
                if part.get("name") == layout.PARTITION_NAME:
                    facts.supers[part["node"]] = superblock(part["node"])
        facts.cache_sets = bcache.cache_sets()
        for device_id in settings.backing:
            path = facts.resolved.get(device_id)
            if path:
                facts.supers[path] = superblock(path)
                registered = bcache.registration(os.path.basename(path))
                if registered:
                    facts.registered[os.path.basename(path)] = registered
                    if registered["bcache_dev"]:
                        facts.members[registered["bcache_dev"]] = disks.signatures_of(
                            registered["bcache_dev"])[0]
    if not facts.missing_programs:
        facts.filesystems = {uuid: btrfs_filesystem(path)
                             for uuid, path in _labelled(facts).items()}
    facts.mount = storage_facts.mount_of(settings.mount_point)
    point = settings.mount_point
    if facts.mount is None and os.path.lexists(point):
        facts.mount_point_entries = len(os.listdir(point)) if os.path.isdir(point) else -1
    try:
        with open(settings.fstab) as handle:
            facts.fstab_text = handle.read()
        facts.fstab_problem = verify_fstab(settings.fstab)
    except FileNotFoundError:
        facts.fstab_text = ""
    if facts.mount is not None:
        facts.tree = _tree_kinds(point, layout.tree(settings.users, settings.snapshot_dir))
    facts.systemd = os.path.isdir("/run/systemd/system")
    if facts.systemd:
        enabled = _run(["systemctl", "is-enabled", "ts-storage-scrub.timer"], ok_codes=None)
        facts.scrub_timer_enabled = enabled.stdout.strip() == "enabled"
    return facts
