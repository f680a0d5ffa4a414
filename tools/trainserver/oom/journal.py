"""Reading the kernel log from the journal (where journald runs), after a saved cursor.

`_TRANSPORT=kernel` is used rather than `-k`: -k implies -b, and a run after a reboot must
still see the kills logged in the previous boot after the last run's cursor. The first run
reads the current boot only, as the /dev/kmsg reader does.
"""

import json
import os

from trainserver.core import commands
from trainserver.oom import kernel_log

TIMEOUT = 120


def journald_runs():
    """Whether systemd is PID 1 (sd_booted()'s test), and so journald holds the kernel log."""
    return os.path.isdir("/run/systemd/system")


class Batch:
    def __init__(self, records, position):
        self.records = records
        self.position = position  # state to save: {"cursor"}
        self.lost = 0  # journald keeps what it read; rotation losses show in the vmstat check


def read(saved, extra_args=()):
    """Kernel records after `saved` ({"cursor"} or None). extra_args: e.g. ["--file", PATH]."""
    argv = ["journalctl", "--no-pager", "-o", "json",
            "--output-fields=MESSAGE,_BOOT_ID", *extra_args]
    cursor = (saved or {}).get("cursor")
    argv += [f"--after-cursor={cursor}"] if cursor else ["-b"]
    argv.append("_TRANSPORT=kernel")
    result = commands.run(argv, changes=False, timeout=TIMEOUT)
    records = []
    for line in result.stdout.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        cursor = entry.get("__CURSOR", cursor)
        try:
            when = int(entry["__REALTIME_TIMESTAMP"]) / 1e6
        except (KeyError, ValueError):
            when = None
        records.append(kernel_log.Record(entry.get("__CURSOR"), when, entry.get("_BOOT_ID"),
                                         kernel_log.journal_message(entry.get("MESSAGE"))))
    return Batch(records, {"cursor": cursor} if cursor else None)
