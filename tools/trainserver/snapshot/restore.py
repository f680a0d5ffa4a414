"""Copy a file or directory back out of a snapshot, with reflinks, never over live data unasked.

`cp -a --reflink=always` shares the snapshot's extents instead of copying them: instant, no
space used, and it fails rather than silently copying when reflinks are impossible. It also
keeps owners, modes, times, ACLs, xattrs, symlinks and hard links, which a hand-written copy
would have to redo. The copy is made beside the destination and renamed into place; with
--overwrite the existing path is kept aside as DEST.replaced-<UTC time> (core.aside, as
ts-backup restore does).

A whole subvolume restored over itself stays a subvolume: a plain directory in its place would
leave the hourly snapshots and the backup without a word (core.subvolswap). The restored root
is a writable snapshot of the snapshot (instant, no space), the live subvolumes nested in the
old root are moved into it (a snapshot shows them as empty directories), and the old root is
kept aside as with any --overwrite.
"""

import datetime as dt
import logging
import os

from trainserver.core import aside, commands, subvolswap
from trainserver.core.errors import ActionError

log = logging.getLogger(__name__)


def _series_of(inventory, storage, path):
    """(series, path inside the subvolume) of the live `path`: the longest series holding it."""
    rel = os.path.relpath(path, storage)
    if rel == ".." or rel.startswith("../"):
        raise ActionError(f"{path} is not under {storage}")
    for series in sorted(inventory.series, key=len, reverse=True):
        if rel == series or rel.startswith(series + "/"):
            return series, os.path.relpath(rel, series)
    raise ActionError(f"no snapshots hold {path}: none of its subvolumes has been snapshotted "
                      f"(ts-snapshot list shows what has)")


def choose(inventory, storage, path, source=None):
    """(snapshot, path inside the snapshot) to restore `path` from.

    `source`: a snapshot name (20261128T160000Z) or path; by default the newest snapshot in
    which `path` exists.
    """
    series, inner = _series_of(inventory, storage, path)
    snapshots = inventory.series[series]
    if source:
        wanted = os.path.basename(os.path.normpath(source))
        matches = [snap for snap in snapshots if snap.name == wanted]
        if not matches:
            raise ActionError(f"{series} has no snapshot {wanted} (ts-snapshot list shows them)")
        snap = matches[0]
        found = os.path.normpath(os.path.join(snap.path, inner))
        if not os.path.lexists(found):
            raise ActionError(f"{inner} does not exist in snapshot {series}/{snap.name}")
        return snap, found
    for snap in reversed(snapshots):
        found = os.path.normpath(os.path.join(snap.path, inner))
        if os.path.lexists(found):
            return snap, found
    raise ActionError(f"{inner} exists in none of the {len(snapshots)} snapshots of {series}")


def restore(source_path, destination, overwrite=False, now=None):
    """Copy `source_path` to `destination`; returns the path the old version was moved to."""
    now = now or dt.datetime.now(dt.timezone.utc)
    parent = os.path.dirname(destination) or "."
    if not os.path.isdir(parent):
        raise ActionError(f"{parent} does not exist: restore that directory first, or give --to")
    if os.path.lexists(destination) and not overwrite:
        raise aside.refusal(destination)
    if os.path.lexists(destination) and subvolswap.is_subvolume_root(destination):
        return _restore_subvolume(source_path, destination, parent, now)
    kept = aside.aside_name(destination, now) if os.path.lexists(destination) else None
    if commands.dry_run():
        if kept:
            log.info("dry run, not moving %s aside to %s", destination, kept)
        return kept
    new = _scratch_name(parent, destination, now)
    try:
        commands.run(["cp", "-a", "--reflink=always", "--no-target-directory", "--",
                      source_path, new], changes=True, timeout=3600)
        aside.put_in_place(new, destination, kept)
    finally:
        _remove_partial(new)
    if kept:
        log.info("moved %s aside to %s", destination, kept)
    return kept


def _scratch_name(parent, destination, now):
    # Beside the destination, so that the finished copy takes its place by a rename.
    return os.path.join(parent, f".ts-snapshot-restore-{os.path.basename(destination)}-"
                                f"{aside.stamp(now)}")


def _restore_subvolume(source_path, destination, parent, now):
    """Replace the subvolume `destination` by a new subvolume holding `source_path`."""
    kept = aside.aside_name(destination, now)
    new = _scratch_name(parent, destination, now)
    if commands.dry_run():
        log.info("dry run: would restore %s into a new subvolume and swap it in for %s, "
                 "keeping the old one at %s", source_path, destination, kept)
        return kept
    if subvolswap.is_subvolume_root(source_path):
        import btrfsutil

        make = lambda path: btrfsutil.create_snapshot(source_path, path)  # noqa: E731
    else:
        make = None
    subvolswap.prepare(destination, new, subvolswap.CARRY, make=make)
    try:
        if make is None:
            commands.run(["cp", "-a", "--reflink=always", "--", f"{source_path}/.", new],
                         changes=True, timeout=3600)
        carried = subvolswap.swap(new, destination, kept, subvolswap.CARRY)
    finally:
        subvolswap.discard(new)
    log.info("restored %s as a new subvolume; the old one is at %s%s", destination, kept,
             f" (its nested subvolumes {', '.join(carried)} moved into the restored one)"
             if carried else "")
    return kept


def _remove_partial(path):
    import shutil

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)
