"""What lies under the snapshot directory: our snapshot series, and everything else.

A series is the set of snapshots of one subvolume, in snapshots/<subvolume path>/. An entry is
ours only when it is a read-only subvolume named in the scheme (naming.py), directly in the
series directory of a configured subvolume (or of one in the record), and made by ts-snapshot:
in its record, or, before a record exists, provably a snapshot of that subvolume (record.py).
Anything else (a hand-made snapshot, a keepsake of ts-users remove, a writable subvolume, a
directory ts-snapshot did not make, a file, a symlink) is foreign: reported, never deleted.
Only the directories that lead to a series are descended into; snapshots never are (their
nested subvolumes are empty directories).
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
    uuid: str = None  # hex
    adopted: bool = False  # made before the record existed, proven ours by its parent UUID


@dataclass
class Foreign:
    path: str
    why: str


@dataclass
class Inventory:
    series: dict = field(default_factory=dict)  # subvolume path -> [Snapshot], oldest first
    foreign: list = field(default_factory=list)


def _leads_to_series(rel, series):
    return any(known == rel or known.startswith(rel + "/") for known in series)


class _Scan:
    def __init__(self, sources, record, keepsakes):
        self.sources = sources  # series -> uuid of the live subvolume
        self.record = record
        self.keepsakes = keepsakes
        # Keepsakes' directories are looked into too, so that each keepsake is named as one.
        self.series = set(sources) | (record.series() if record is not None else set()) | \
            {os.path.dirname(rel) for rel in keepsakes}
        self.inventory = Inventory()

    def foreign(self, path, why):
        self.inventory.foreign.append(Foreign(path, why))

    def classify(self, path, rel_dir, name, info):
        """True when `path` is a directory of the layout, to be looked into."""
        rel = f"{rel_dir}/{name}" if rel_dir else name
        if stat.S_ISLNK(info.st_mode):
            self.foreign(path, "a symlink")
            return False
        if not stat.S_ISDIR(info.st_mode):
            self.foreign(path, "not a snapshot (a file)")
            return False
        moment = naming.parse_name(name)
        if info.st_ino != btrfs.SUBVOLUME_INODE:
            if moment:
                self.foreign(path, "a plain directory, not a snapshot")
                return False
            if _leads_to_series(rel, self.series):
                return True
            self.foreign(path, "a directory ts-snapshot did not make (no configured subvolume's "
                               "series is in it); its contents are not read")
            return False
        if moment is None:
            self.foreign(path, "a subvolume whose name is not in the scheme")
        elif not rel_dir:
            self.foreign(path, "a snapshot outside any subvolume's directory")
        elif rel_dir not in self.series:
            self.foreign(path, f"a snapshot in {rel_dir}/, which is not the series directory "
                               f"of a configured subvolume")
        elif not btrfs.read_only(path):
            self.foreign(path, "a writable subvolume")
        else:
            self.snapshot(path, rel_dir, name, rel, moment)
        return False

    def snapshot(self, path, rel_dir, name, rel, moment):
        try:
            uuid, parent = btrfs.identity(path)
        except btrfs.BtrfsError as exc:
            self.foreign(path, f"not known to be ts-snapshot's: {exc}")
            return
        person = self.keepsakes.get(rel)
        adopted = False
        if self.record is not None:
            ours = self.record.owns(rel, uuid, parent)
        else:
            adopted = ours = person is None and parent is not None and \
                self.sources.get(rel_dir) == parent
        if ours:
            self.inventory.series.setdefault(rel_dir, []).append(
                Snapshot(rel_dir, name, path, moment, uuid, adopted))
        elif person is not None:
            self.foreign(path, f"made by ts-users remove {person}: a keepsake, kept until "
                               f"deleted by hand")
        elif rel_dir in self.sources and parent != self.sources[rel_dir]:
            self.foreign(path, f"not a snapshot of the live {rel_dir} (its parent UUID differs), "
                               f"so not ts-snapshot's")
        elif self.record is None:
            self.foreign(path, f"not adopted: {rel_dir} is no configured subvolume now, so it "
                               f"cannot be proven a snapshot ts-snapshot made")
        else:
            self.foreign(path, "not made by ts-snapshot (not in its record): made by hand?")


def scan(snapshot_root, sources=None, record=None, keepsakes=None):
    """The Inventory of `snapshot_root` (an empty one when it does not exist yet).

    `sources`: {series: uuid} of the configured subvolumes as they are now; `record`: the
    record.Record, or None before one exists (then snapshots of a source are adopted);
    `keepsakes`: {"<series>/<name>": person} that ts-users remove made."""
    scan_ = _Scan(sources or {}, record, keepsakes or {})
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
            if scan_.classify(entry.path, rel_dir, entry.name, info):
                pending.append((entry.path, f"{rel_dir}/{entry.name}" if rel_dir else entry.name))
    inventory = scan_.inventory
    for series in inventory.series.values():
        series.sort(key=lambda snap: snap.time)
    inventory.foreign.sort(key=lambda item: item.path)
    return inventory
