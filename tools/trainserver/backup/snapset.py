"""The read-only BTRFS snapshots one backup reads: a set per run, under [backup] snapshot_dir.

A set is `<storage>/<snapshot_dir>/<UTC time>/<escaped subvolume path>`: flat, because a
snapshot cannot be made inside another (read-only) snapshot, and a nested subvolume is its
own snapshot. restic never sees these paths: bindrun binds each snapshot over its original
path in a private mount namespace. The newest set that was backed up stays as the reference
that `verify` compares restored files with; older ones are deleted.
"""

import datetime as dt
import os
import urllib.parse

from trainserver.snapshot import btrfs, naming

# A set being written or abandoned by a crash carries this suffix until the backup succeeded.
PENDING = ".pending"


def stamp(now):
    """The UTC name of the UNIX time `now`, as ts-snapshot names its snapshots."""
    return naming.name_for(dt.datetime.fromtimestamp(now, dt.timezone.utc))


def entry_name(rel):
    """homes/alice -> homes%2Falice: one directory level, reversible."""
    return urllib.parse.quote(rel, safe="")


def entry_path(rel_name):
    return urllib.parse.unquote(rel_name)


def take(storage, directory, subvolumes, now):
    """Snapshot every subvolume (paths below storage) into a new pending set; returns
    (set path, [(snapshot, original path)]) with parents before the subvolumes nested in them."""
    base = os.path.join(storage, directory, stamp(now) + PENDING)
    os.makedirs(base, mode=0o700)
    taken = []
    try:
        for rel in sorted(subvolumes):
            snapshot = os.path.join(base, entry_name(rel))
            btrfs.create_snapshot(os.path.join(storage, rel), snapshot)
            taken.append((snapshot, os.path.join(storage, rel)))
    except BaseException:
        remove(base)  # a half-made set is never read; the error that stopped it is raised
        raise
    return base, taken


def complete(base):
    """Mark a pending set as backed up; returns its final path."""
    final = base[:-len(PENDING)] if base.endswith(PENDING) else base
    if final != base and os.path.isdir(final):
        # A backup earlier in the same second (sets are named to the second): this newer set
        # replaces it, as prune would right after; a crash in between leaves only this one.
        remove(final)
    os.rename(base, final)
    return final


def sets(storage, directory):
    """[(name, path, pending)] of the sets present, oldest first."""
    root = os.path.join(storage, directory)
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    return [(name, os.path.join(root, name), name.endswith(PENDING)) for name in names
            if os.path.isdir(os.path.join(root, name))]


def remove(path):
    """Delete one set: its snapshots, then its directory."""
    for name in sorted(os.listdir(path)):
        btrfs.delete_snapshot(os.path.join(path, name))
    os.rmdir(path)


def latest(storage, directory):
    """The newest backed-up set, or None."""
    done = [path for _, path, pending in sets(storage, directory) if not pending]
    return done[-1] if done else None


def prune(storage, directory, keep):
    """Delete every set but KEEP (a path): older backed-up ones and abandoned pending ones.
    Returns the paths deleted."""
    removed = []
    for _, path, _ in sets(storage, directory):
        if path != keep:
            remove(path)
            removed.append(path)
    return removed
