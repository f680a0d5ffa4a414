"""Walking a cache: its size and file count, what the group cannot use, and the one-time fix.

One os.scandir walk, no symlink followed; allocated bytes (st_blocks, as du counts them) with
hard links counted once. The rules for an entry are pure functions of its lstat and ACL, so
the tests can give them any mode.

What "the group can use it" means: the entry's group is the shared group; a directory gives
the group every permission its owner has (so a member can add, rename and remove entries); a
file gives the group read where its owner has it. A file that only its creator can write is
fine for a cache (entries are replaced by rename, which needs the directory's write), so it is
not reported, but --fix-existing gives the group write where the owner has it, as the default
ACL does for files created after apply.
"""

import os
import stat
import struct
import time
from dataclasses import dataclass, field

from trainserver.caches import acl

# posix_acl_xattr (linux/posix_acl_xattr.h): a version, then (tag, perm, id) entries.
_XATTR_VERSION = 2
_TAGS = {0x01: ("user", False), 0x02: ("user", True), 0x04: ("group", False),
         0x08: ("group", True), 0x10: ("mask", False), 0x20: ("other", False)}
DEFAULT_XATTR = "system.posix_acl_default"


def parse_xattr(data, default=True):
    """acl.Entry set from the bytes of system.posix_acl_{access,default}."""
    if len(data) < 4 or (len(data) - 4) % 8:
        raise ValueError("not a POSIX ACL")
    (version,) = struct.unpack_from("<I", data)
    if version != _XATTR_VERSION:
        raise ValueError(f"POSIX ACL version {version}")
    entries = set()
    for offset in range(4, len(data), 8):
        tag, perm, ident = struct.unpack_from("<HHI", data, offset)
        if tag not in _TAGS:
            raise ValueError(f"POSIX ACL tag {tag:#x}")
        name, qualified = _TAGS[tag]
        perms = "".join(c if perm & bit else "-" for c, bit in (("r", 4), ("w", 2), ("x", 1)))
        entries.add(acl.Entry(default, name, str(ident) if qualified else "", perms))
    return frozenset(entries)


def unshared(st, gid):
    """Why the group cannot use this entry, or None."""
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return None
    if st.st_gid != gid:
        return f"group {st.st_gid}"
    owner = (mode >> 6) & 0o7
    group = (mode >> 3) & 0o7
    if stat.S_ISDIR(mode):
        if owner & ~group:
            return f"mode {stat.S_IMODE(mode):04o}: the group lacks what the owner has"
    elif owner & 0o4 and not group & 0o4:
        return f"mode {stat.S_IMODE(mode):04o}: the group cannot read it"
    return None


def fixed_mode(mode):
    """The mode --fix-existing gives an entry (permission bits and setgid), from its mode."""
    bits = stat.S_IMODE(mode)
    owner = (bits >> 6) & 0o7
    if stat.S_ISDIR(mode):
        return bits | (owner << 3) | stat.S_ISGID
    # A setgid file would run with the shared group once it has it: that bit goes.
    return (bits | ((owner & 0o6) << 3)) & ~stat.S_ISGID


@dataclass
class Usage:
    path: str
    bytes: int = 0
    files: int = 0  # everything but directories: files, symlinks, sockets ...
    dirs: int = 0
    unshared: int = 0
    examples: list = field(default_factory=list)  # (relative path, why), the first few
    errors: list = field(default_factory=list)  # (path, message): unreadable directories
    seconds: float = 0.0


MAX_EXAMPLES = 3


def _entries(top, errors):
    """(path, lstat) of everything below `top` (not `top` itself), directories first."""
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as iterator:
                for entry in iterator:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError as exc:
                        errors.append((entry.path, exc.strerror))
                        continue
                    yield entry.path, st
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
        except OSError as exc:
            errors.append((directory, exc.strerror))


def measure(top, gid=None):
    """The Usage of `top` (itself included in bytes and dirs); `gid`: also count what the group
    cannot use (None: not checked, e.g. apt's cache, which is root's)."""
    started = time.monotonic()
    usage = Usage(top)
    seen = set()
    try:
        st = os.lstat(top)
    except OSError as exc:
        usage.errors.append((top, exc.strerror))
        return usage
    usage.bytes, usage.dirs = st.st_blocks * 512, 1
    for path, st in _entries(top, usage.errors):
        if stat.S_ISDIR(st.st_mode):
            usage.dirs += 1
        else:
            usage.files += 1
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
        usage.bytes += st.st_blocks * 512
        if gid is not None:
            why = unshared(st, gid)
            if why:
                usage.unshared += 1
                if len(usage.examples) < MAX_EXAMPLES:
                    usage.examples.append((os.path.relpath(path, top), why))
    usage.seconds = time.monotonic() - started
    return usage


@dataclass
class Fixed:
    path: str
    entries: int = 0  # entries whose group or mode was changed (or would be)
    acl_dirs: list = field(default_factory=list)  # directories lacking the default ACL
    errors: list = field(default_factory=list)


def fix(top, gid, dry_run=False):
    """Give the group everything below `top`: group, modes (fixed_mode), and the list of
    directories that lack the default ACL (the caller sets it with setfacl, in batches)."""
    result = Fixed(top)
    wanted_default = {entry for entry in acl.wanted(gid) if entry.default}
    for path, st in _entries(top, result.errors):
        if stat.S_ISLNK(st.st_mode):
            continue
        group_change = st.st_gid != gid
        new_mode = fixed_mode(st.st_mode)
        mode_change = new_mode != stat.S_IMODE(st.st_mode)
        try:
            if not dry_run:
                if group_change:
                    os.lchown(path, -1, gid)
                if mode_change or group_change:  # a chown may clear setuid/setgid bits
                    os.chmod(path, new_mode)
            if stat.S_ISDIR(st.st_mode) and not wanted_default <= _default_acl(path):
                result.acl_dirs.append(path)
        except OSError as exc:
            result.errors.append((path, exc.strerror))
            continue
        changed = group_change or mode_change
        result.entries += changed
    return result


def _default_acl(path):
    try:
        return parse_xattr(os.getxattr(path, DEFAULT_XATTR, follow_symlinks=False))
    except OSError:  # ENODATA: no default ACL
        return frozenset()
    except ValueError:
        return frozenset()
