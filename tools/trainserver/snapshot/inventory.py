"""What lies under the snapshot directory: our snapshot series, and everything else.

A series is the set of snapshots of one subvolume, in snapshots/<subvolume path>/. An entry is
ours only when it is a read-only subvolume named in the scheme (naming.py); anything else (a
writable subvolume, another tool's snapshot, a file, a symlink) is foreign: reported, never
deleted. Snapshots are never descended into: their nested subvolumes are empty directories.
"""

import os
import stat
from dataclasses import dataclass, field

from trainserver.snapshot import btrfs, naming


@dataclass
class Snapshot:
    series: str  # the subvolume's path below storage, e.g. homes/alice
    name: str
    path: str
    time: object  # aware UTC datetime


@dataclass
class Foreign:
    path: str
    why: str


@dataclass
class Inventory:
    series: dict = field(default_factory=dict)  # subvolume path -> [Snapshot], oldest first
    foreign: list = field(default_factory=list)


def _classify(path, rel_dir, name, info, inventory):
    if stat.S_ISLNK(info.st_mode):
        inventory.foreign.append(Foreign(path, "a symlink"))
        return False
    if not stat.S_ISDIR(info.st_mode):
        inventory.foreign.append(Foreign(path, "not a snapshot (a file)"))
        return False
    if info.st_ino != btrfs.SUBVOLUME_INODE:
        if naming.parse_name(name):
            inventory.foreign.append(Foreign(path, "a plain directory, not a snapshot"))
            return False
        return True  # a directory of the layout: look inside
    moment = naming.parse_name(name)
    if moment is None:
        inventory.foreign.append(Foreign(path, "a subvolume whose name is not in the scheme"))
    elif not rel_dir:
        inventory.foreign.append(Foreign(path, "a snapshot outside any subvolume's directory"))
    elif not btrfs.read_only(path):
        inventory.foreign.append(Foreign(path, "a writable subvolume"))
    else:
        inventory.series.setdefault(rel_dir, []).append(Snapshot(rel_dir, name, path, moment))
    return False


def scan(snapshot_root):
    """The Inventory of `snapshot_root` (an empty one when it does not exist yet)."""
    inventory = Inventory()
    pending = [(snapshot_root, "")]
    while pending:
        directory, rel_dir = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except FileNotFoundError:
            continue
        for entry in entries:
            # stat, not the directory entry's inode: BTRFS lists a subvolume by its tree id.
            info = os.stat(entry.path, follow_symlinks=False)
            if _classify(entry.path, rel_dir, entry.name, info, inventory):
                pending.append((entry.path, f"{rel_dir}/{entry.name}" if rel_dir else entry.name))
    for series in inventory.series.values():
        series.sort(key=lambda snap: snap.time)
    inventory.foreign.sort(key=lambda item: item.path)
    return inventory
