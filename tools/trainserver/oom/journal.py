"""Reading the kernel log from the journal (where journald runs), after a saved cursor.

`_TRANSPORT=kernel` is used rather than `-k`: -k implies -b, and a run after a reboot must
still see the kills logged in the previous boot after the last run's cursor. The first run
reads the current boot only, as the /dev/kmsg reader does.

journald tags everything it reads from /dev/kmsg with _TRANSPORT=kernel, including what user
space writes there (`echo "<4>kernel: Killed process ..." > /dev/kmsg`). The kernel gives such
writes the user facility at least (it replaces facility 0 with LOG_USER), and journald records
the facility as SYSLOG_FACILITY, so SYSLOG_FACILITY=0 keeps the kernel's own records only.
SYSLOG_IDENTIFIER=kernel would not do: journald takes the identifier of a user-space record
from its text, and "kernel: " there makes it "kernel".
"""

import json
import logging
import os

from trainserver.core import commands
from trainserver.oom import kernel_log

log = logging.getLogger(__name__)

TIMEOUT = 120
KERNEL_MATCHES = ("_TRANSPORT=kernel", "SYSLOG_FACILITY=0")


def journald_runs():
    """Whether systemd is PID 1 (sd_booted()'s test), and so journald holds the kernel log."""
    return os.path.isdir("/run/systemd/system")


class Batch:
    def __init__(self, records, position, start=None):
        self.records = records
        self.position = position  # state to save: {"cursor"}
        self.start = start  # the position this read began after (None: the boot's start)
        self.lost = 0  # journald keeps what it read; rotation losses show in the vmstat check

    def before(self, index):
        """This batch up to record `index` (excluded), positioned to read that record next time."""
        position = {"cursor": self.records[index - 1].position} if index else self.start
        return Batch(self.records[:index], position, self.start)


def parse(text, cursor=None):
    """(records, cursor of the last entry) from `journalctl -o json` output.

    A line that is not a JSON object is skipped with a warning: one bad entry must not stop
    the kills around it from being reported.
    """
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            log.warning("journalctl output line %d is not JSON, skipped: %s", number, exc)
            continue
        if not isinstance(entry, dict):
            log.warning("journalctl output line %d is not a JSON object, skipped", number)
            continue
        if isinstance(entry.get("__CURSOR"), str):
            cursor = entry["__CURSOR"]
        try:
            when = int(entry["__REALTIME_TIMESTAMP"]) / 1e6
        except (KeyError, TypeError, ValueError):
            when = None
        boot = entry.get("_BOOT_ID")
        records.append(kernel_log.Record(entry.get("__CURSOR"), when,
                                         boot if isinstance(boot, str) else None,
                                         kernel_log.journal_message(entry.get("MESSAGE"))))
    return records, cursor


def read(saved, extra_args=()):
    """Kernel records after `saved` ({"cursor"} or None). extra_args: e.g. ["--file", PATH]."""
    argv = ["journalctl", "--no-pager", "-o", "json",
            "--output-fields=MESSAGE,_BOOT_ID", *extra_args]
    cursor = saved.get("cursor") if isinstance(saved, dict) else None
    if not isinstance(cursor, str) or not cursor:
        cursor = None
    argv += [f"--after-cursor={cursor}"] if cursor else ["-b"]
    argv += KERNEL_MATCHES
    result = commands.run(argv, changes=False, timeout=TIMEOUT)
    start = {"cursor": cursor} if cursor else None
    records, last = parse(result.stdout, cursor)
    return Batch(records, {"cursor": last} if last else None, start)
