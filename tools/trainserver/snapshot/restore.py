"""Copy a file or directory back out of a snapshot, with reflinks, never over live data unasked.

`cp -a --reflink=always` shares the snapshot's extents instead of copying them: instant, no
space used, and it fails rather than silently copying when reflinks are impossible. It also
keeps owners, modes, times, ACLs, xattrs, symlinks and hard links, which a hand-written copy
would have to redo. With --overwrite the existing path is renamed aside first (same directory,
so a rename), and renamed back if the copy fails.

A whole subvolume restored over itself stays a subvolume: a plain directory in its place would
leave the hourly snapshots and the backup without a word (core.subvolswap). The restored root
is a writable snapshot of the snapshot (instant, no space), the live subvolumes nested in the
old root are moved into it (a snapshot shows them as empty directories), and the old root is
kept aside as with any --overwrite.
"""

import datetime as dt
import logging
import os

from trainserver.core import commands, subvolswap
from trainserver.core.errors import ActionError
from trainserver.snapshot import naming

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


def aside_name(destination, now):
    return f"{destination}.replaced-{naming.name_for(now)}"


def restore(source_path, destination, overwrite=False, now=None):
    """Copy `source_path` to `destination`; returns the path the old version was moved to."""
    now = now or dt.datetime.now(dt.timezone.utc)
    parent = os.path.dirname(destination) or "."
    if not os.path.isdir(parent):
        raise ActionError(f"{parent} does not exist: restore that directory first, or give --to")
    aside = None
    if os.path.lexists(destination) and overwrite and subvolswap.is_subvolume_root(destination):
        return _restore_subvolume(source_path, destination, parent, now)
    if os.path.lexists(destination):
        if not overwrite:
            raise ActionError(f"{destination} exists: not overwritten (give --to for another "
                              f"place, or --overwrite to replace it and keep it aside)")
        aside = aside_name(destination, now)
        if os.path.lexists(aside):
            raise ActionError(f"{aside} exists already: move it away first")
        if commands.dry_run():
            log.info("dry run, not moving %s aside to %s", destination, aside)
        else:
            os.rename(destination, aside)
            log.info("moved %s aside to %s", destination, aside)
    try:
        commands.run(["cp", "-a", "--reflink=always", "--no-target-directory", "--",
                      source_path, destination], changes=True, timeout=3600)
    except Exception:
        if aside and not commands.dry_run():
            _remove_partial(destination)
            os.rename(aside, destination)
            log.info("copy failed: moved %s back", destination)
        elif not commands.dry_run():
            _remove_partial(destination)
        raise
    return aside


def _restore_subvolume(source_path, destination, parent, now):
    """Replace the subvolume `destination` by a new subvolume holding `source_path`."""
    aside = aside_name(destination, now)
    if os.path.lexists(aside):
        raise ActionError(f"{aside} exists already: move it away first")
    new = os.path.join(parent, f".ts-snapshot-restore-{os.path.basename(destination)}-"
                               f"{naming.name_for(now)}")
    if commands.dry_run():
        log.info("dry run: would restore %s into a new subvolume and swap it in for %s, "
                 "keeping the old one at %s", source_path, destination, aside)
        return aside
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
        carried = subvolswap.swap(new, destination, aside, subvolswap.CARRY)
    finally:
        subvolswap.discard(new)
    log.info("restored %s as a new subvolume; the old one is at %s%s", destination, aside,
             f" (its nested subvolumes {', '.join(carried)} moved into the restored one)"
             if carried else "")
    return aside


def _remove_partial(path):
    import shutil

    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)
