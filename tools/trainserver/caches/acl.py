"""POSIX ACLs of the shared cache directories: what apply sets, and getfacl's output. Pure logic.

A shared cache directory is root:<group>, mode 2775, with these entries:
    access:  user::rwx group::rwx group:<gid>:rwx mask::rwx other::r-x
    default: the same, so that what is created inside inherits them.
The default ACL is what makes the cache work for a umask of 022: a file created inside gets the
default entries, limited by the mode its creator asked for (0666 for a plain open()), not by the
umask, so the group can write it; a directory inherits the default ACL itself. The setgid bit
keeps the group of everything created inside.
"""

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Entry:
    default: bool
    tag: str  # user, group, mask, other
    qualifier: str  # "" for the owner, owning group, mask and other; else the numeric id
    perms: str  # rwx, r-x, ...

    def text(self):
        prefix = "default:" if self.default else ""
        return f"{prefix}{self.tag}:{self.qualifier}:{self.perms}"


class AclParseError(ValueError):
    pass


def parse(text):
    """The entries of `getfacl --numeric --absolute-names --omit-header PATH` (one path).

    Comments (the header, `#effective:` notes) are ignored; `flags:` lines are headers too."""
    entries = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(":")
        default = parts[0] == "default"
        if default:
            parts = parts[1:]
        if len(parts) != 3 or parts[0] not in ("user", "group", "mask", "other"):
            raise AclParseError(f"not an ACL entry: {line!r}")
        perms = parts[2]
        if len(perms) != 3 or any(c not in "rwx-" for c in perms):
            raise AclParseError(f"not ACL permissions: {line!r}")
        entries.add(Entry(default, parts[0], parts[1], perms))
    return frozenset(entries)


def wanted(gid):
    """The entries a shared directory must have (more, e.g. an admin's user:1000:rwx, may stay)."""
    base = [("user", "", "rwx"), ("group", "", "rwx"), ("group", str(gid), "rwx"),
            ("mask", "", "rwx"), ("other", "", "r-x")]
    return frozenset(Entry(default, *entry) for default in (False, True) for entry in base)


def missing(entries, gid):
    """The wanted entries that `entries` lacks, or has with other permissions; sorted."""
    return sorted(wanted(gid) - set(entries))


def setfacl_spec(gid):
    """setfacl -m's argument that sets every wanted entry (numeric: the group may exist only in
    the --root image's /etc/group, which setfacl does not read)."""
    return ",".join(_short(entry) for entry in sorted(wanted(gid), key=_order))


def default_only_spec(gid):
    """The default entries alone: for directories already in a cache (--fix-existing), whose own
    permissions are left as their owner wanted them (Go's module cache is read-only on purpose)."""
    return ",".join(_short(entry) for entry in sorted(wanted(gid), key=_order) if entry.default)


_TAG = {"user": "u", "group": "g", "mask": "m", "other": "o"}
_RANK = {"user": 0, "group": 1, "mask": 2, "other": 3}


def _order(entry):
    return (entry.default, _RANK[entry.tag], entry.qualifier)


def _short(entry):
    perms = entry.perms.replace("-", "")
    return f"{'d:' if entry.default else ''}{_TAG[entry.tag]}:{entry.qualifier}:{perms}"


def describe(entries, group_name, gid):
    """A person's words for what is missing: 'group:mlusers:rwx, default:mask::rwx'."""
    return ", ".join(entry.text().replace(f"group:{gid}:", f"group:{group_name}:")
                     for entry in missing(entries, gid))
