"""Secret files under /etc/trainserver/secrets, and masking of their values in logs.

A secret file must be a regular file that neither group nor others can read or write: a token
that every local user can read is a token every local user has.
"""

import os
import stat

from trainserver.core.errors import SecretError
from trainserver.core.masking import _REGISTERED, MASK, mask, register  # noqa: F401

__all__ = ["SecretError", "register", "mask", "check_file", "read", "describe"]


def check_file(path):
    """Raise SecretError unless `path` is a regular file only its owner can read."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise SecretError(
            f"{path}: secret file missing. Create it with: "
            f"install -m 600 -o root -g root /dev/null {path}, then write the secret into it", "missing"
        ) from None
    except PermissionError:
        raise SecretError(f"{path}: permission denied: secret files are read as root",
                          "unreadable") from None
    if not stat.S_ISREG(info.st_mode):
        raise SecretError(f"{path}: not a regular file", "not-a-file")
    loose = stat.S_IMODE(info.st_mode) & 0o077
    if loose:
        raise SecretError(
            f"{path}: secret file is readable or writable by group or others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); refusing it. "
            f"Fix it with: chmod 600 {path}; chown root:root {path}",
            "too-open",
        )


def read(path):
    """The secret in `path` (surrounding whitespace removed), registered for masking."""
    check_file(path)
    with open(path, encoding="utf-8") as handle:
        value = handle.read().strip()
    if not value:
        raise SecretError(f"{path}: secret file is empty", "empty")
    register(value)
    return value


def describe(path):
    """A short state of a secret file for `ts-config show`, never its content."""
    try:
        check_file(path)
    except SecretError as exc:
        return exc.state
    return "ok"
