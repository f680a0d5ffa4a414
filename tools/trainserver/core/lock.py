"""One lock per tool: an flock on /run/lock/trainserver-<tool>.lock.

The kernel drops an flock when its holder dies, so a lock left behind by a dead process is simply
taken over; the PID written in the file says who held it, for the message.
"""

import errno
import fcntl
import logging
import os
import time

from trainserver.core.errors import LockHeld

log = logging.getLogger(__name__)


def _read_pid(handle):
    handle.seek(0)
    text = handle.read().strip()
    return int(text) if text.isdigit() else None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ToolLock:
    """`with ToolLock("backup"):` runs the block alone or raises LockHeld.

    `wait` (seconds) makes a second run wait for the first instead of giving up at once: ts-alert
    uses it, because an alert must not be dropped just because another check is reporting.
    """

    def __init__(self, tool, lock_dir="/run/lock", wait=0):
        self.path = os.path.join(lock_dir, f"trainserver-{tool}.lock")
        self.wait = wait
        self._handle = None

    def acquire(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        handle = open(self.path, "a+", encoding="ascii")
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                    handle.close()
                    raise
                if time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                pid = _read_pid(handle)
                handle.close()
                raise LockHeld(self.path, pid) from None
        previous = _read_pid(handle)
        if previous and previous != os.getpid() and not _pid_alive(previous):
            log.info("%s: lock left by process %s, which is gone; taking it over", self.path, previous)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
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
