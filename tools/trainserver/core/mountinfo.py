"""/proc/self/mountinfo: the mount points of this mount namespace, and what is mounted where.

The kernel writes space, tab, newline and backslash in paths as \\040, \\011, \\012, \\134.
"""

import os
import re
from dataclasses import dataclass

MOUNTINFO = "/proc/self/mountinfo"
_ESCAPE = re.compile(r"\\([0-7]{3})")


def unescape(field):
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


def mount_points(mountinfo=MOUNTINFO):
    """Every mount point of this mount namespace (an empty set when it cannot be read)."""
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as handle:
            return {unescape(line.split()[4]) for line in handle if len(line.split()) > 4}
    except OSError:
        return set()


def parse_entry(text, mount_point):
    """(fstype, source) of what is mounted at `mount_point` (the topmost), or None."""
    wanted = os.path.normpath(mount_point)
    found = None
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5:
            continue
        if os.path.normpath(unescape(fields[4])) == wanted:
            rest = right.split()
            found = (rest[0], unescape(rest[1]) if len(rest) > 1 else "")
    return found


def entry(mount_point, mountinfo=MOUNTINFO):
    with open(mountinfo, encoding="utf-8", errors="replace") as handle:
        return parse_entry(handle.read(), mount_point)


@dataclass(frozen=True)
class Entry:
    """One line of mountinfo (proc(5)): `device` is "major:minor" of the filesystem, the same
    for every mount of it (a bind mount, a BTRFS subvolume mounted apart); `root` is the path
    inside the filesystem that is mounted; `super_options` are the filesystem's own (a bind
    mount made read-only by a systemd sandbox still has "rw" there)."""

    mount_point: str
    device: str
    root: str
    options: tuple
    fstype: str
    source: str
    super_options: tuple


def parse(text):
    """Every Entry in mountinfo `text`, in the kernel's order (a mount over another comes
    after it)."""
    entries = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if not sep or len(fields) < 6 or len(rest) < 2:
            continue
        entries.append(Entry(mount_point=unescape(fields[4]), device=fields[2],
                             root=unescape(fields[3]), options=tuple(fields[5].split(",")),
                             fstype=rest[0], source=unescape(rest[1]),
                             super_options=tuple(rest[2].split(",")) if len(rest) > 2 else ()))
    return entries


def read(mountinfo=MOUNTINFO):
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as handle:
        return parse(handle.read())
