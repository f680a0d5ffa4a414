"""Which subvolumes to snapshot: the config's patterns, plus every subvolume nested in them.

BTRFS snapshots are not recursive: a subvolume inside a user's home is an empty directory in
the home's snapshot. So each nested subvolume is snapshotted on its own, into its own series.
"""

import glob
import os
from dataclasses import dataclass, field

from trainserver.snapshot import btrfs


@dataclass
class Selection:
    subvolumes: list = field(default_factory=list)  # paths below storage, sorted
    skipped: list = field(default_factory=list)  # (path below storage, why)


def _inside(rel, directory):
    return rel == directory or rel.startswith(directory + "/")


def select(storage, patterns, snapshot_dir):
    selection = Selection()
    found = set()
    for pattern in patterns:
        matches = sorted(glob.glob(os.path.join(storage, pattern)))
        if not matches and not glob.has_magic(pattern):
            selection.skipped.append((pattern, "does not exist"))
        for match in matches:
            rel = os.path.relpath(match, storage)
            if _inside(rel, snapshot_dir):
                continue
            if not os.path.isdir(match) or os.path.islink(match):
                continue
            if not btrfs.is_subvolume(match):
                selection.skipped.append(
                    (rel, "is a plain directory, not a subvolume, so it cannot be snapshotted "
                          "(make it a subvolume: ts-storage creates the layout)"))
                continue
            found.add(rel)
            try:
                found.update(f"{rel}/{nested}" for nested in btrfs.nested_subvolumes(match))
            except btrfs.BtrfsError as exc:
                # The subvolume itself is still snapshotted; what is nested in it is not known.
                selection.skipped.append((rel, f"nested subvolumes not listed: {exc}"))
    selection.subvolumes = sorted(rel for rel in found if not _inside(rel, snapshot_dir))
    return selection
