"""Replacing a whole BTRFS subvolume with restored data, so that it stays a subvolume.

A restore with --overwrite used to rename the live tree aside and put a plain directory in its
place: /mnt/storage/docker-volumes restored over itself was no longer a subvolume, so the
next backup and the hourly snapshots skipped it ("plain directory, not a subvolume ... not
backed up") and its data silently left the backup set. Used by ts-backup restore and
ts-snapshot restore:

    new = subvolswap.prepare(target, new_path, nested="recreate" | "carry", make=None)
    ... fill `new` (restic restore, cp --reflink) ...
    carried = subvolswap.swap(new, target, aside)    # aside: core.aside.aside_name(target, now)

Subvolumes nested in the target (docker-volumes/<n>-state inside docker-volumes) are never lost
nor left, without a word, inside the replaced copy:
- "recreate": an empty subvolume at each nested path in the new root before it is filled, for
  a source that holds the nested data too (a restic backup binds each nested snapshot in
  place, so its tree has them). The old nested subvolumes stay in the replaced copy, whole.
- "carry": the live nested subvolumes are moved from the old root into the new one at the
  swap, for a source that holds the root's own files only (a BTRFS snapshot shows a nested
  subvolume as an empty directory). The replaced copy then lacks them; `swap` says which.

On any failure before the swap the new subvolume is deleted and the target is untouched; a
failure inside the swap puts the target back.
"""

import logging
import os

from trainserver.core import mountinfo
from trainserver.core.aside import put_in_place
from trainserver.core.errors import ActionError

log = logging.getLogger(__name__)

RECREATE = "recreate"
CARRY = "carry"


def _btrfsutil():
    import btrfsutil  # imported here: --help must not pay for it

    return btrfsutil


def is_subvolume_root(path):
    """True when PATH is the root of a BTRFS subvolume (False elsewhere, and off BTRFS)."""
    if os.path.islink(path) or not os.path.isdir(path):
        return False
    try:
        return _btrfsutil().is_subvolume(path)
    except Exception:  # btrfsutil.BtrfsUtilError: not BTRFS, or no permission to ask
        return False


def nested(path):
    """The subvolumes inside PATH, relative to it, parents before the subvolumes inside them."""
    found = [rel for rel, _ in _btrfsutil().SubvolumeIterator(path)]
    return sorted(found, key=lambda rel: (rel.count("/"), rel))


def outermost(paths):
    """The PATHS that are not inside another of them: moving those moves the rest along."""
    ordered = sorted(paths, key=lambda rel: (rel.count("/"), rel))
    kept = []
    for rel in ordered:
        if not any(rel.startswith(parent + "/") for parent in kept):
            kept.append(rel)
    return kept


def check_replaceable(target):
    """Refuse what cannot be swapped by renames: a mount point (the filesystem's top, or a
    subvolume mounted on its own) cannot be renamed aside. os.path.ismount() cannot tell:
    every subvolume root has a device number of its own, so it answers True for them all."""
    if os.path.realpath(target) in mountinfo.mount_points():
        raise ActionError(f"{target} is a mount point: it cannot be replaced by a restored "
                          f"copy. Restore elsewhere (--to) and copy what you need back")


def prepare(target, new_path, nested_policy=RECREATE, make=None):
    """A new subvolume at NEW_PATH (same filesystem as TARGET, which must not exist yet),
    made by MAKE(new_path) (default: an empty subvolume; a writable snapshot also fits), with
    TARGET's nested subvolumes recreated in it as empty subvolumes when NESTED_POLICY is
    "recreate". Returns NEW_PATH; the caller fills it, then calls swap() or discard()."""
    if nested_policy not in (RECREATE, CARRY):
        raise ValueError(f"unknown nested policy {nested_policy!r}")
    check_replaceable(target)
    inside = nested(target)
    if make is None:
        _btrfsutil().create_subvolume(new_path)
    else:
        make(new_path)
    try:
        if nested_policy == RECREATE:
            for rel in inside:
                place = os.path.join(new_path, rel)
                os.makedirs(os.path.dirname(place), exist_ok=True)
                if os.path.isdir(place) and not os.listdir(place):
                    os.rmdir(place)  # a snapshot's stand-in for a nested subvolume
                _btrfsutil().create_subvolume(place)
                _copy_owner(os.path.join(target, rel), place)
        _copy_owner(target, new_path)
    except BaseException:
        discard(new_path)
        raise
    return new_path


def _copy_owner(source, destination):
    # A restore sets the modes and owners it has; what it does not cover keeps the live one's.
    info = os.lstat(source)
    os.chown(destination, info.st_uid, info.st_gid)
    os.chmod(destination, info.st_mode & 0o7777)


def discard(new_path):
    """Delete a prepared subvolume and every subvolume inside it (a failed restore's)."""
    if not os.path.lexists(new_path):
        return
    if is_subvolume_root(new_path):
        _btrfsutil().delete_subvolume(new_path, recursive=True)
    else:
        import shutil

        shutil.rmtree(new_path, ignore_errors=True)


def swap(new_path, target, aside, nested_policy=RECREATE):
    """Put NEW_PATH in TARGET's place and TARGET at ASIDE; returns the nested subvolumes
    carried into the new root (relative paths; [] for "recreate")."""
    if os.path.lexists(aside):
        raise ActionError(f"{aside} exists already: move it away first")
    carried = []
    if nested_policy == CARRY:
        for rel in outermost(nested(target)):
            place = os.path.join(new_path, rel)
            os.makedirs(os.path.dirname(place), exist_ok=True)
            if os.path.isdir(place) and not os.path.islink(place) and not os.listdir(place):
                os.rmdir(place)
            if os.path.lexists(place):
                _carry_back(target, new_path, carried)
                raise ActionError(f"{place} holds restored data where the live subvolume "
                                  f"{os.path.join(target, rel)} belongs: nothing replaced")
            os.rename(os.path.join(target, rel), place)
            carried.append(rel)
    try:
        put_in_place(new_path, target, aside)
    except OSError:
        _carry_back(target, new_path, carried)
        raise
    if carried:
        log.info("moved the nested subvolumes %s into the restored %s", ", ".join(carried),
                 target)
    return carried


def _carry_back(target, new_path, carried):
    for rel in reversed(carried):
        os.rename(os.path.join(new_path, rel), os.path.join(target, rel))
