"""Add the storage's line to an fstab without ever leaving a broken or half-written one.

The current file must pass `findmnt --verify` before it is touched; the new content is
written to a temporary file beside it, synced, and verified before it replaces the old one
by rename; a dated copy of the old file stays beside it; the result is verified once more,
and put back from the copy if that fails.
"""

import datetime as dt
import os
import shutil
import time

from trainserver.core.errors import ActionError
from trainserver.snapshot import naming
from trainserver.storage import survey


def _sync_directory(path):
    descriptor = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _same_bytes(first, second):
    try:
        with open(first, "rb") as one, open(second, "rb") as other:
            return one.read() == other.read()
    except OSError:
        return False


def _kept_backup(path):
    """The newest dated backup of PATH when it holds what PATH holds now, else None: a run
    killed between its backup and the rename left it, and a second copy would add nothing."""
    directory, name = os.path.split(os.path.abspath(path))
    prefix = f"{name}.trainserver-"
    dated = sorted(entry for entry in os.listdir(directory) if entry.startswith(prefix)
                   and naming.parse_name(entry[len(prefix):]) is not None)
    if dated and _same_bytes(os.path.join(directory, dated[-1]), path):
        return os.path.join(directory, dated[-1])
    return None


def add_line(path, line, now=None):
    """Append LINE to the fstab at PATH; returns the backup's path (None: there was no file)."""
    now = time.time() if now is None else now
    old = ""
    if os.path.exists(path):
        problem = survey.verify_fstab(path)
        if problem:
            raise ActionError(f"{path} fails findmnt --verify before any change; fix it first: "
                              f"{problem}")
        with open(path) as handle:
            old = handle.read()
    new = old + ("\n" if old and not old.endswith("\n") else "") + \
        "# the storage filesystem, made by ts-storage apply\n" + line + "\n"
    temporary = f"{path}.trainserver-new"
    with open(temporary, "w") as handle:
        handle.write(new)
        handle.flush()
        os.fsync(handle.fileno())
    if os.path.exists(path):
        shutil.copymode(path, temporary)
    else:
        os.chmod(temporary, 0o644)
    problem = survey.verify_fstab(temporary)
    if problem:
        os.unlink(temporary)
        raise ActionError(f"the new {path} would fail findmnt --verify, so it was not written: "
                          f"{problem}")
    backup = None
    if os.path.exists(path):
        backup = _kept_backup(path)
        if backup is None:
            when = dt.datetime.fromtimestamp(now, dt.timezone.utc)
            backup = f"{path}.trainserver-{naming.name_for(when)}"
            shutil.copy2(path, backup)
    os.replace(temporary, path)
    _sync_directory(path)
    problem = survey.verify_fstab(path)
    if problem:
        if backup:
            shutil.copy2(backup, temporary)
            os.replace(temporary, path)
            _sync_directory(path)
        raise ActionError(f"{path} failed findmnt --verify after the change and was put back: "
                          f"{problem}")
    return backup
