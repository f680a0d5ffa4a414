"""Atomic files and JSON state under /var/lib/trainserver.

A file is written to a temporary file in the same directory, fsynced, renamed over the old one,
and the directory is fsynced: after a crash either the old or the new content is there, whole.
"""

import json
import logging
import os
import tempfile
import time

log = logging.getLogger(__name__)


def atomic_write(path, data, mode=0o644):
    """Replace `path` with `data` (str or bytes) atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    # A leading dot and a .tmp suffix keep readers that glob (node-exporter reads *.prom)
    # from ever seeing a half-written file.
    fd, tmp_path = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                                    dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        try:
            os.unlink(tmp_path)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class StateFile:
    """One JSON document kept by a tool, e.g. /var/lib/trainserver/alert.json."""

    def __init__(self, path):
        self.path = str(path)

    def load(self, default=None):
        """The stored document, or `default` when there is none.

        A corrupt file is moved aside (PATH.corrupt-TIMESTAMP) with a warning and `default` is
        returned: losing a tool's memory is better than a tool that never runs again.
        """
        try:
            with open(self.path, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return default
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            aside = f"{self.path}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}"
            os.replace(self.path, aside)
            log.warning("%s: corrupt state (%s), moved aside to %s; starting afresh",
                        self.path, exc, aside)
            return default

    def save(self, document):
        atomic_write(self.path, json.dumps(document, indent=2, sort_keys=True) + "\n", mode=0o600)
