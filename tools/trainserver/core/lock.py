"""Named locks: an flock on /run/lock/trainserver-<name>.lock.

Actions and checks take different locks (storage for scrub and apply, storage-check for the
check), so a read-only check never waits for a scrub or a backup that runs for hours. Actions
that meet each other wait for a bounded time; when the wait runs out, LockHeld names who held
the lock and since when.

The kernel drops an flock when its holder dies, so a lock left behind by a dead process is simply
taken over; what the holder wrote in the file (its PID, when it took the lock, its command) is
only for the message.
"""

import errno
import fcntl
import json
import logging
import os
import sys
import time

from trainserver.core.errors import LockHeld
from trainserver.core.naming import command_label

log = logging.getLogger(__name__)

# Polling a lock held for hours: start quickly, then settle at one look every few seconds.
FIRST_PAUSE = 0.05
LONGEST_PAUSE = 5.0


class Holder:
    """Who holds a lock, as written in the lock file."""

    def __init__(self, pid, since=None, command=None):
        self.pid = pid
        self.since = since
        self.command = command

    @classmethod
    def parse(cls, text):
        text = text.strip()
        if text.isdigit():  # the plain PID older versions wrote
            return cls(int(text))
        try:
            record = json.loads(text)
        except ValueError:
            return None
        if not isinstance(record, dict) or not isinstance(record.get("pid"), int):
            return None
        since = record.get("since")
        command = record.get("command")
        return cls(record["pid"], since if isinstance(since, (int, float)) else None,
                   command if isinstance(command, str) else None)

    def text(self):
        return json.dumps({"pid": self.pid, "since": self.since, "command": self.command})

    def describe(self):
        who = f"{self.command} (process {self.pid})" if self.command else f"process {self.pid}"
        if self.since is None:
            return who
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"{who} since {stamp}"


def _read_holder(handle):
    handle.seek(0)
    return Holder.parse(handle.read())


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ToolLock:
    """`with ToolLock("backup", wait=3600):` runs the block alone, or raises LockHeld once the
    lock has been held by another process for `wait` seconds (0: give up at once)."""

    def __init__(self, name, lock_dir="/run/lock", wait=0, command=None, clock=time.monotonic,
                 sleep=time.sleep):
        self.path = os.path.join(lock_dir, f"trainserver-{name}.lock")
        self.wait = wait
        self.command = command or command_label(sys.argv)
        self._clock = clock
        self._sleep = sleep
        self._handle = None

    def acquire(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        started = self._clock()
        pause = FIRST_PAUSE
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                    handle.close()
                    raise
            waited = self._clock() - started
            if waited >= self.wait:
                holder = _read_holder(handle)
                handle.close()
                raise LockHeld(self.path, holder=holder, waited=waited) from None
            if not told and self.wait >= 1:
                holder = _read_holder(handle)
                log.info("waiting up to %d s for the lock %s, held by %s", self.wait, self.path,
                         holder.describe() if holder else "another process")
                told = True
            self._sleep(min(pause, self.wait - waited))
            pause = min(pause * 2, LONGEST_PAUSE)
        previous = _read_holder(handle)
        if previous and previous.pid != os.getpid() and not _pid_alive(previous.pid):
            log.info("%s: lock left by process %s, which is gone; taking it over", self.path,
                     previous.pid)
        handle.seek(0)
        handle.truncate()
        handle.write(Holder(os.getpid(), round(time.time(), 3), self.command).text() + "\n")
        handle.flush()
        self._handle = handle
        return self

    def release(self):
        if self._handle:
            # The file stays: unlinking it would let a waiter lock an inode nobody else sees.
            self._handle.seek(0)
            self._handle.truncate()
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
