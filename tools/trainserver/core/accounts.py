"""Accounts and groups as the system's own files hold them, read under a root directory.

The files are read directly (not through pwd/grp) so that ts-users and ts-caches can work on a
system image at --root DIR exactly as useradd --root does: the tests make accounts in a throwaway
root and never touch the build machine's. Changes go through shadow's tools (useradd, groupadd,
usermod, gpasswd), which take the same --root.
"""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str
    shell: str


@dataclass(frozen=True)
class Shadow:
    name: str
    password: str
    expire: str  # days since 1970 as written ("" never; "1": ts-users remove expired it)

    @property
    def locked(self):
        """No password works: "!" before the hash (usermod --lock, passwd -l, and what
        useradd leaves when no password is given)."""
        return self.password.startswith("!")

    def expired(self, today):
        """The account has expired by `today` (days since 1970): no login at all, keys
        included (PAM's account check)."""
        return self.expire.isdigit() and int(self.expire) <= today


@dataclass(frozen=True)
class Group:
    name: str
    gid: int
    members: tuple


def _lines(root, relative):
    try:
        with open(os.path.join(root, relative), encoding="utf-8") as handle:
            return [line.rstrip("\n") for line in handle if line.strip() and
                    not line.startswith(("#", "+", "-"))]
    except FileNotFoundError:
        return []


def accounts(root="/"):
    found = []
    for line in _lines(root, "etc/passwd"):
        fields = line.split(":")
        if len(fields) >= 7 and fields[2].isdigit() and fields[3].isdigit():
            found.append(Account(fields[0], int(fields[2]), int(fields[3]), fields[5],
                                 fields[6]))
    return found


def groups(root="/"):
    found = []
    for line in _lines(root, "etc/group"):
        fields = line.split(":")
        if len(fields) >= 4 and fields[2].isdigit():
            found.append(Group(fields[0], int(fields[2]),
                               tuple(m for m in fields[3].split(",") if m)))
    return found


def shadow(root="/"):
    """{name: Shadow} from etc/shadow under `root` (root may read it; others get OSError)."""
    found = {}
    for line in _lines(root, "etc/shadow"):
        fields = line.split(":")
        if len(fields) >= 8:
            found[fields[0]] = Shadow(fields[0], fields[1], fields[7])
    return found


def account(name, root="/"):
    return next((a for a in accounts(root) if a.name == name), None)


def group(name, root="/"):
    return next((g for g in groups(root) if g.name == name), None)


def root_args(root):
    """The --root option shadow's tools take, or nothing for the running system."""
    return [] if os.path.realpath(root) == "/" else ["--root", os.path.realpath(root)]
