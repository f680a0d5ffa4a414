"""Gather what ts-users plans from: accounts under the root, the storage's paths, key files."""

import os
import stat
import time

from trainserver.core import accounts, people as people_module
from trainserver.snapshot import naming
from trainserver.users import fsops, plan as plans

SUBVOLUME_INODE = 256  # every subvolume's root directory has this inode number


def _btrfsutil():
    import btrfsutil  # imported here: --help must not pay for it

    return btrfsutil


def storage_problem(storage):
    """None when `storage` is a mounted BTRFS (the top of a subvolume), else why not."""
    try:
        info = os.stat(storage)
    except OSError:
        return f"{storage} does not exist"
    if not stat.S_ISDIR(info.st_mode) or info.st_ino != SUBVOLUME_INODE:
        return f"{storage} is not a mounted BTRFS filesystem"
    try:
        if not _btrfsutil().is_subvolume(storage):
            return f"{storage} is not a mounted BTRFS filesystem"
    except Exception as exc:  # BtrfsUtilError: not BTRFS at all
        return f"{storage} is not a mounted BTRFS filesystem ({exc})"
    return None


def node(path):
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return plans.MISSING
    except NotADirectoryError:
        return plans.Node("other")
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISLNK(info.st_mode):
        kind = "symlink"
    elif stat.S_ISDIR(info.st_mode):
        kind = "subvolume" if info.st_ino == SUBVOLUME_INODE else "directory"
    elif stat.S_ISREG(info.st_mode):
        kind = "file"
    else:
        kind = "other"
    return plans.Node(kind, info.st_uid, info.st_gid, mode)


def keys_file(path):
    """(lines, problem) of an ssh_keys_file: root's, and nobody else may write it."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return [], f"{path} does not exist"
    except OSError as exc:
        return [], f"{path}: {exc.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return [], f"{path} is not a file"
    if info.st_uid != 0:
        return [], f"{path} belongs to uid {info.st_uid}, not root: whoever owns it could " \
                   f"add keys; chown root {path}"
    if info.st_mode & 0o022:
        return [], f"{path} can be written by others (mode {stat.S_IMODE(info.st_mode):04o}): " \
                   f"chmod go-w {path}"
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().splitlines(), None
    except (OSError, UnicodeDecodeError) as exc:
        return [], f"{path}: {getattr(exc, 'strerror', None) or exc}"


def _accounts_part(root):
    return dict(accounts=accounts.accounts(root), groups=accounts.groups(root),
                shadow=accounts.shadow(root), today=int(time.time() // 86400))


def gather(people, storage, root="/"):
    """Facts for the apply plan and for list."""
    facts = plans.Facts(storage=storage, **_accounts_part(root))
    facts.storage_problem = storage_problem(storage)
    rels = list(plans.LAYOUT)
    for person in people:
        rels += person.subvolumes()
        rels += [f"{person.home}/.ssh", f"{person.home}/.ssh/authorized_keys"]
        if person.ssh_keys_file and person.ssh_keys_file not in facts.key_files:
            facts.key_files[person.ssh_keys_file] = keys_file(person.ssh_keys_file)
        facts.shells[person.shell] = os.path.exists(os.path.join(root, person.shell.lstrip("/")))
    if facts.storage_problem is None:
        for rel in rels:
            facts.nodes[rel] = node(os.path.join(storage, rel))
        for person in people:
            rel = f"{person.home}/.ssh/authorized_keys"
            if facts.nodes[rel].kind == "file":
                facts.authorized[person.name] = fsops.read_text(storage, rel)
    return facts


def _newest_snapshot(series_dir, uuid):
    """The newest snapshot in `series_dir` (ts-snapshot's naming) taken of the subvolume
    `uuid`, or None."""
    btrfsutil = _btrfsutil()
    try:
        names = [n for n in os.listdir(series_dir) if naming.parse_name(n)]
    except (FileNotFoundError, NotADirectoryError):
        return None
    for name in sorted(names, key=naming.parse_name, reverse=True):
        path = os.path.join(series_dir, name)
        if node(path).kind != "subvolume":
            continue
        info = btrfsutil.subvolume_info(path)
        if info.parent_uuid == uuid:
            return plans.Snapshot(name, bool(btrfsutil.get_subvolume_read_only(path)),
                                  info.parent_uuid, info.ctransid)
    return None


def _recorded_snapshot(path, uuid):
    btrfsutil = _btrfsutil()
    if node(path).kind != "subvolume":
        return None
    info = btrfsutil.subvolume_info(path)
    read_only = bool(btrfsutil.get_subvolume_read_only(path))
    if info.parent_uuid != uuid or not read_only:
        return None
    return plans.Snapshot(os.path.basename(path), read_only, info.parent_uuid, info.ctransid)


def gather_removal(name, storage, snapshot_dir, root="/", recorded=None):
    """Facts for removing `name`: the account, its subvolumes (and those nested in them) with
    their newest snapshots, and the snapshots an earlier remove made ({rel: name} in
    `recorded`) that are still there. Commits the filesystem first, so that a subvolume's
    ctransid counts every write made before."""
    recorded = recorded or {}
    facts = plans.Facts(storage=storage, **_accounts_part(root))
    facts.storage_problem = storage_problem(storage)
    if facts.storage_problem:
        return facts
    btrfsutil = _btrfsutil()
    btrfsutil.sync(storage)
    for top in people_module.subvolumes(name):
        facts.nodes[top] = node(os.path.join(storage, top))
        if facts.nodes[top].kind != "subvolume":
            continue
        path = os.path.join(storage, top)
        nested = sorted(rel for rel, _ in btrfsutil.SubvolumeIterator(path))
        for rel in [top] + [f"{top}/{inner}" for inner in nested]:
            info = btrfsutil.subvolume_info(os.path.join(storage, rel))
            series = os.path.join(storage, snapshot_dir, rel)
            facts.sources[rel] = plans.Source(
                rel, info.uuid, info.ctransid, _newest_snapshot(series, info.uuid),
                nested=rel != top,
                recorded=_recorded_snapshot(os.path.join(series, recorded[rel]), info.uuid)
                if recorded.get(rel) and naming.parse_name(recorded[rel]) else None)
    return facts
