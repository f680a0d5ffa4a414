"""`ts-backup restore`: a file or directory back from the repository, never over live data
unless asked.

restic restores into a temporary directory beside the destination (the same filesystem), and
the result is renamed into place: by default the path itself, as ts-snapshot restore does. An
existing destination is refused without --overwrite; with it, it is kept aside as
DEST.replaced-<UTC time>, and put back if the restored copy cannot take its place (core.aside).

A destination that is a subvolume's root (/mnt/storage/docker-volumes, a home) is restored into
a new subvolume that then takes its place (core.subvolswap): a plain directory there would drop
out of the backups and the snapshots. Subvolumes nested in it are made anew in the restored
one and filled from the backup (which holds them: each was bound in place when it was backed
up); the replaced copy keeps the old ones.
"""

import os
import shutil
import tempfile
import time

from trainserver.backup import job, restic
from trainserver.core import aside, commands, subvolswap
from trainserver.core.errors import ActionError


def restore(settings, path, source="latest", destination=None, overwrite=False, now=None):
    """Restore PATH (as it was backed up, absolute) from the restic snapshot SOURCE to
    DESTINATION (default: PATH); returns (destination, where the replaced version was kept
    or None)."""
    now = time.time() if now is None else now
    path = os.path.abspath(path)
    destination = os.path.abspath(destination) if destination else path
    exists = os.path.lexists(destination)
    if exists and not overwrite:
        raise aside.refusal(destination)
    parent = os.path.dirname(destination)
    if not os.path.isdir(parent):
        raise ActionError(f"{parent} does not exist: restore that directory first, or give --to")
    job.preflight(settings)
    argv_base = job.base(settings, job.version())
    whole = exists and subvolswap.is_subvolume_root(destination)
    if whole:
        subvolswap.check_replaceable(destination)
    scratch = tempfile.mkdtemp(prefix=".ts-backup-restore-", dir=parent)
    restored = scratch + path
    try:
        if whole and not commands.dry_run():
            os.makedirs(os.path.dirname(restored))
            subvolswap.prepare(destination, restored, subvolswap.RECREATE)
        argv = argv_base + ["restore", source, "--target", scratch, "--include", path]
        if source == "latest":
            argv += ["--host", settings.host, "--tag", settings.tag]
        result = job.restic_run(argv, settings, changes=True, timeout=job.BACKUP_TIMEOUT)
        kept = aside.aside_name(destination, now) if exists else None
        if result.dry_run:
            return destination, kept
        if result.returncode != 0:
            raise ActionError(f"restic restore failed (exit {result.returncode}): "
                              f"{restic.explained(result.stderr)}")
        if not os.path.lexists(restored) or (whole and _only_empty_subvolumes(restored)):
            raise ActionError(f"{path} is not in snapshot {source}" +
                              (" (or was empty there): nothing replaced" if whole else ""))
        if whole:
            subvolswap.swap(restored, destination, kept, subvolswap.RECREATE)
        else:
            aside.put_in_place(restored, destination, kept)
        return destination, kept
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
