"""`ts-backup verify`: prove the repository can be read and that a restore gives the data.

1. `restic check --read-data-subset n/T`: each run reads another T-th of the packs, so every
   pack is read over T runs (the position is kept in the state file).
2. A random sample of directories from the last backup is restored into a temporary
   directory and every file compared (SHA-256) with the read-only BTRFS snapshot that backup
   read: the snapshot set kept by `run`. Any difference is critical.
"""

import glob
import hashlib
import os
import random
import shutil
import tempfile

from trainserver.backup import job, restic, sample, snapset
from trainserver.core.findings import Finding, Severity

TOOL = "backup"
CHECK_TIMEOUT = 12 * 3600
RESTORE_TIMEOUT = 6 * 3600
NAMED = 10


def _digest(path):
    hashed = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hashed.update(block)
    return hashed.hexdigest()


def set_files(set_path):
    """({path below storage: size}, {path below storage: path in the set}) of a snapshot set."""
    sizes, located = {}, {}
    for name in sorted(os.listdir(set_path)):
        root = os.path.join(set_path, name)
        rel_root = snapset.entry_path(name)
        for directory, _, names in os.walk(root):
            for file_name in names:
                path = os.path.join(directory, file_name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                rel = os.path.normpath(os.path.join(rel_root, os.path.relpath(path, root)))
                sizes[rel] = os.lstat(path).st_size
                located[rel] = path
    return sizes, located


def _check(settings, argv_base, subset, subsets):
    # A killed check leaves its temporary cache behind in TMPDIR (MEASURED.md): ours is the
    # cache directory, and a leftover there is from a check of ours that died.
    for leftover in glob.glob(os.path.join(settings.cache_dir, "restic-check-cache-*")):
        shutil.rmtree(leftover, ignore_errors=True)
    job.unlock(settings, argv_base)
    argv = argv_base + ["check", "--read-data-subset", f"{subset}/{subsets}"]
    result = job.restic_run(argv, settings, changes=False, timeout=CHECK_TIMEOUT)
    if result.returncode == 0:
        return Finding(TOOL, "check", settings.repository, Severity.OK,
                       f"restic check read pack subset {subset}/{subsets}: no errors")
    return Finding(TOOL, "check", settings.repository, Severity.CRITICAL,
                   f"restic check of pack subset {subset}/{subsets} found errors (exit "
                   f"{result.returncode}): {restic.error_line(result.stderr) or 'see the log'}")


def _sample(settings, argv_base, record, rng, max_dirs, max_bytes):
    last = (record or {}).get("last_success") or {}
    subject = settings.repository
    set_path, snapshot_id = last.get("set"), last.get("snapshot_id")
    if not set_path or not snapshot_id:
        return Finding(TOOL, "restore-sample", subject, Severity.WARNING,
                       "no successful backup on record yet: nothing to restore and compare")
    if not os.path.isdir(set_path):
        return Finding(TOOL, "restore-sample", subject, Severity.WARNING,
                       f"the snapshot set of backup {snapshot_id} is gone ({set_path}): "
                       f"nothing to compare a restore with")
    sizes, located = set_files(set_path)
    directories = sample.choose(sizes, rng, max_dirs=max_dirs, max_bytes=max_bytes)
    if not directories:
        return Finding(TOOL, "restore-sample", subject, Severity.OK,
                       f"backup {snapshot_id} holds no files to compare")
    storage = last.get("storage") or settings.storage
    target = tempfile.mkdtemp(prefix="verify-", dir=settings.cache_dir)
    try:
        argv = argv_base + ["restore", snapshot_id, "--target", target]
        for directory in directories:
            argv += ["--include", os.path.join(storage, directory)]
        result = job.restic_run(argv, settings, changes=False, timeout=RESTORE_TIMEOUT)
        if result.returncode != 0:
            return Finding(TOOL, "restore-sample", subject, Severity.CRITICAL,
                           f"restoring a sample of backup {snapshot_id} failed (exit "
                           f"{result.returncode}): {restic.error_line(result.stderr)}")
        compared = sample.files_under(sizes, directories)
        differ = []
        for rel in compared:
            restored = target + os.path.join(storage, rel)
            if not os.path.isfile(restored) or _digest(restored) != _digest(located[rel]):
                differ.append(rel)
    finally:
        shutil.rmtree(target, ignore_errors=True)
    total = sum(sizes[rel] for rel in compared)
    if differ:
        shown = ", ".join(differ[:NAMED]) + (f" and {len(differ) - NAMED} more"
                                             if len(differ) > NAMED else "")
        return Finding(TOOL, "restore-sample", subject, Severity.CRITICAL,
                       f"{len(differ)} of {len(compared)} files restored from backup "
                       f"{snapshot_id} differ from the snapshot it was made from: {shown}",
                       value=len(differ))
    return Finding(TOOL, "restore-sample", subject, Severity.OK,
                   f"{len(compared)} files ({total / 2**20:.1f} MiB) in {len(directories)} "
                   f"directories restored from backup {snapshot_id} match its snapshot",
                   value=len(compared))


def verify(settings, record, position, subsets, rng=None, max_dirs=20, max_bytes=2**30):
    """(findings, next position). POSITION: this run's pack subset (1..SUBSETS)."""
    job.preflight(settings)
    argv_base = job.base(settings, job.version())
    subset = position if 1 <= position <= subsets else 1
    found = [_check(settings, argv_base, subset, subsets),
             _sample(settings, argv_base, record, rng or random.SystemRandom(), max_dirs,
                     max_bytes)]
    return found, subset % subsets + 1
