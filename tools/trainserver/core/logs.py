"""Logging to stderr in a form journald keeps well.

Under systemd (stderr connected to the journal) each line starts with a syslog priority "<N>",
which journald turns into the record's priority, so `journalctl -p warning` works. On a terminal
lines read "ts-backup: warning: ...". Every line passes through the secret mask.
"""

import logging
import os
import sys

from trainserver.core import secrets

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3,
             logging.CRITICAL: 2}


def stderr_is_journal():
    """True when systemd connected stderr to the journal (JOURNAL_STREAM names its device:inode)."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    if ":" not in stream:
        return False
    try:
        info = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return stream == f"{info.st_dev}:{info.st_ino}"


class _Formatter(logging.Formatter):
    def __init__(self, tool, journal):
        super().__init__()
        self.tool = tool
        self.journal = journal

    def format(self, record):
        text = secrets.mask(super().format(record))
        if self.journal:
            priority = _PRIORITY.get(record.levelno, 6)
            return "\n".join(f"<{priority}>{line}" for line in text.splitlines())
        level = record.levelname.lower()
        return f"{self.tool}: {level}: {text}" if record.levelno >= logging.WARNING else f"{self.tool}: {text}"


def setup(tool, verbose=False):
    """Route the root logger to stderr: INFO and up, DEBUG with --verbose.

    On the root, not on "trainserver": every module logs to getLogger(__name__), and a record
    of any of them (or of a library) propagates up to this one handler and its secret mask."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(tool, stderr_is_journal()))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
