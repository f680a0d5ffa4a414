"""Runs a driver read in a forked child, so that a call that never returns cannot hold the check.

NVML's calls have no timeout of their own, and a wedged driver can block one inside the kernel,
where even SIGKILL waits until the call returns. The parent waits at most `timeout` seconds for
the child's answer; after that it kills the child and goes on without waiting for it to die, so
the check still reports, releases its lock and exits. The child keeps no descriptor of the
parent's but its answer pipe: one stuck for good holds neither the tool's lock nor the stdout and
stderr that ts-alert reads until they close.
"""

import os
import pickle
import select
import signal
import time

# How long a child that has answered, or has been killed, gets to be reaped before it is left
# to init: closing a wedged driver's device files can block as well.
_REAP_WAIT = 1.0


class TimedOut(Exception):
    """The child gave no answer in time."""


class ChildFailed(Exception):
    """The child died or raised something that cannot be sent back; the text says what."""


def call(function, timeout):
    """function()'s return value, or the exception it raised, computed in a forked child.

    Raises TimedOut when the answer has not come after `timeout` seconds.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        _child(function, write_end)  # never returns
    os.close(write_end)
    try:
        data = _receive(read_end, timeout)
    finally:
        os.close(read_end)
    if data is None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap(pid)
        raise TimedOut(f"no answer within {timeout:g} s")
    status = _reap(pid)
    try:
        kind, value = pickle.loads(data)
    except Exception:  # no or a cut-off answer: the child died (a crash in the library)
        how = "" if status is None else f" ({_describe(status)})"
        raise ChildFailed(f"the child process died without an answer{how}") from None
    if kind == "value":
        return value
    if kind == "error":
        raise value
    raise ChildFailed(value)


def _receive(fd, timeout):
    """Everything the child writes until it closes the pipe; None when the deadline comes first."""
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _reap(pid):
    """The child's wait status, or None when it is not gone within _REAP_WAIT (it is left to init)."""
    deadline = time.monotonic() + _REAP_WAIT
    while time.monotonic() < deadline:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            return status
        time.sleep(0.01)
    return None


def _describe(status):
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _detach(write_end):
    """Leaves the child with /dev/null on 0-2 and its answer pipe on 3, nothing else."""
    # The pipe moves first: with a closed stdin it may have been given descriptor 0.
    os.dup2(write_end, 3)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(4, os.sysconf("SC_OPEN_MAX"))
    return 3


def _child(function, write_end):
    status = 1
    try:
        answer = _detach(write_end)
        try:
            outcome = ("value", function())
        except BaseException as exc:  # every outcome goes back to the parent
            import traceback

            # The parent re-raises it: keep where it came from, for a bug's log line.
            where = "".join(traceback.format_tb(exc.__traceback__))
            exc.add_note("raised in the child process:\n" + where)
            outcome = ("error", exc)
        try:
            data = pickle.dumps(outcome)
        except Exception as exc:  # an unpicklable value or exception
            data = pickle.dumps(("failed", f"cannot send back {outcome[1]!r}: {exc}"))
        view = memoryview(data)
        while view:
            view = view[os.write(answer, view):]
        status = 0
    finally:
        # Never back into the parent's code: no atexit handlers, no second flush of its buffers.
        os._exit(status)
