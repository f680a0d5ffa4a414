"""`ts-backup restore`: a file or directory back from the repository, never over live data
unless asked.

restic restores into a temporary directory beside the target (the same filesystem), and the
result is renamed into place: by default next to the original as PATH.restored-<UTC time>.
With --overwrite an existing target is first renamed to TARGET.replaced-<UTC time>, and put
back if the restored copy cannot take its place.

A target that is a subvolume's root (/mnt/storage/docker-volumes, a home) is restored into a
new subvolume that then takes its place (core.subvolswap): a plain directory there would drop
out of the backups and the snapshots. Subvolumes nested in it are made anew in the restored
one and filled from the backup (which holds them: each was bound in place when it was backed
up); the replaced copy keeps the old ones.
"""

import os
import shutil
import tempfile
import time

from trainserver.backup import job, restic, snapset
from trainserver.core import commands, subvolswap
from trainserver.core.errors import ActionError


def default_target(path, now):
    return f"{path.rstrip('/')}.restored-{snapset.stamp(now)}"


def restore(settings, path, snapshot="latest", target=None, overwrite=False, now=None):
    """Restore PATH (as it was backed up, absolute) from SNAPSHOT; returns the target."""
    now = time.time() if now is None else now
    path = os.path.abspath(path)
    target = os.path.abspath(target) if target else default_target(path, now)
    if os.path.lexists(target) and not overwrite:
        raise ActionError(f"{target} exists: restore never overwrites it unless --overwrite is "
                          f"given (the old one is then kept as {target}.replaced-...)")
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        raise ActionError(f"{parent} does not exist: restore puts {target} there")
    job.preflight(settings)
    argv_base = job.base(settings, job.version())
    whole = overwrite and subvolswap.is_subvolume_root(target)
    if whole:
        subvolswap.check_replaceable(target)
    scratch = tempfile.mkdtemp(prefix=".ts-backup-restore-", dir=parent)
    restored = scratch + path
    try:
        if whole and not commands.dry_run():
            os.makedirs(os.path.dirname(restored))
            subvolswap.prepare(target, restored, subvolswap.RECREATE)
        argv = argv_base + ["restore", snapshot, "--target", scratch, "--include", path]
        if snapshot == "latest":
            argv += ["--host", settings.host, "--tag", settings.tag]
        result = job.restic_run(argv, settings, changes=True, timeout=job.BACKUP_TIMEOUT)
        if result.dry_run:
            return target
        if result.returncode != 0:
            raise ActionError(f"restic restore failed (exit {result.returncode}): "
                              f"{restic.explained(result.stderr)}")
        if not os.path.lexists(restored) or (whole and _only_empty_subvolumes(restored)):
            raise ActionError(f"{path} is not in snapshot {snapshot}" +
                              (" (or was empty there): nothing replaced" if whole else ""))
        replaced = None
        if os.path.lexists(target):
            replaced = f"{target}.replaced-{snapset.stamp(now)}"
            if os.path.lexists(replaced):
                # A rename would silently replace a file there: what it holds is kept.
                raise ActionError(f"{replaced} exists already: move it away first")
        if whole:
            subvolswap.swap(restored, target, replaced, subvolswap.RECREATE)
            return target
        if replaced:
            os.rename(target, replaced)
        try:
            os.rename(restored, target)
        except OSError:
            if replaced:
                os.rename(replaced, target)
            raise
        return target
    finally:
        if whole:
            subvolswap.discard(restored)  # what a failed restore left; gone after a swap
        shutil.rmtree(scratch, ignore_errors=True)


def _only_empty_subvolumes(root):
    """True when ROOT holds nothing but the empty nested subvolumes prepared in it."""
    for directory, dirs, files in os.walk(root):
        if files or any(os.path.islink(os.path.join(directory, d)) for d in dirs):
            return False
        if directory != root and not subvolswap.is_subvolume_root(directory) and not dirs:
            return False  # an empty directory restored from the backup
    return True
