"""`ts-backup verify`: prove the repository can be read and that a restore gives the data.

1. `restic check --read-data-subset n/T`: each run reads another T-th of the packs, so every
   pack is read over T runs (the position is kept in the state file).
2. A random sample of directories from the last backup is restored into a temporary
   directory and every file compared (SHA-256) with the read-only BTRFS snapshot that backup
   read: the snapshot set kept by `run`. Any difference is critical.
"""

import hashlib
import os
import random
import shutil
import tempfile

from trainserver.backup import TOOL, job, restic, sample, snapset
from trainserver.core.findings import Finding, Severity

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
    job.clean_check_caches(settings)
    job.unlock(settings, argv_base)
    argv = argv_base + ["check", "--read-data-subset", f"{subset}/{subsets}"]
    result = job.restic_run(argv, settings, changes=False, timeout=CHECK_TIMEOUT)
    if result.returncode == 0:
        return Finding(TOOL, "check", settings.repository, Severity.OK,
                       f"restic check read pack subset {subset}/{subsets}: no errors")
    # The pack's ID is what `restic repair packs` and a look at the remote need.
    damaged = restic.damaged_packs(result.stderr + "\n" + result.stdout)
    named = f"damaged: {restic.packs_text(damaged)}; " if damaged else ""
    return Finding(TOOL, "check", settings.repository, Severity.CRITICAL,
                   f"restic check of pack subset {subset}/{subsets} found errors (exit "
                   f"{result.returncode}): {named}"
                   f"{restic.explained(result.stderr) or 'see the log'}",
                   value=len(damaged) or None)


def record_read(state, subset, subsets, ok, now):
    """The verify state after a check of SUBSET/SUBSETS: {"next_subset", "subsets", "read":
    {subset: when it was last read without errors}}. A new verify_subsets splits the packs
    differently: what was read under the old split says nothing about the new one."""
    state = dict(state or {})
    read = dict(state.get("read") or {}) if state.get("subsets") == subsets else {}
    if ok:
        read[str(subset)] = now
    state.update(subsets=subsets, read=read, next_subset=subset % subsets + 1)
    return state


def read_cycle(state, subsets):
    """{"subsets", "read": how many were read without errors, "oldest": when the least
    recently read one was (None until all were), "cycle_months": subsets}: every pack was
    last read no earlier than "oldest"."""
    state = state or {}
    read = state.get("read") or {} if state.get("subsets") == subsets else {}
    times = [read[str(n)] for n in range(1, subsets + 1) if str(n) in read]
    return {"subsets": subsets, "read": len(times),
            "oldest": min(times) if len(times) == subsets else None,
            "newest": max(times) if times else None}


def cycle_text(cycle, when):
    """One line for `ts-backup status`; WHEN formats a UNIX time."""
    subsets = cycle["subsets"]
    period = (f"verify reads 1/{subsets} of the packs each month: a full read takes "
              f"{subsets} month{'s' if subsets != 1 else ''}")
    if cycle["oldest"] is not None:
        return f"every pack read without errors since {when(cycle['oldest'])} ({period})"
    if not cycle["read"]:
        return f"no pack read by verify yet ({period})"
    return (f"{cycle['read']} of {subsets} parts of the packs read without errors, the last "
            f"on {when(cycle['newest'])}; {subsets - cycle['read']} not yet ({period})")


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


def subset_for(position, subsets):
    """The subset a run reads: the position kept, or 1 when it is out of range."""
    return position if isinstance(position, int) and 1 <= position <= subsets else 1


def verify(settings, record, position, subsets, rng=None, max_dirs=20, max_bytes=2**30):
    """(findings, next position). POSITION: this run's pack subset (1..SUBSETS)."""
    job.preflight(settings)
    argv_base = job.base(settings, job.version())
    subset = subset_for(position, subsets)
    found = [_check(settings, argv_base, subset, subsets),
             _sample(settings, argv_base, record, rng or random.SystemRandom(), max_dirs,
                     max_bytes)]
    return found, subset % subsets + 1
