"""Runs the probes in parallel, each against one shared deadline.

Each probe runs in a daemon thread. The runner waits for them until the deadline and no
longer: a probe still running then is a FAIL "timed out after N s", and the run ends without
it. Daemon threads, not a ThreadPoolExecutor: the executor's threads are joined when the
interpreter exits, so one probe stuck in a system call (a hung NFS stat, a socket without a
timeout) would hold the whole run; a daemon thread is dropped at exit. Probes are still
written to end by themselves: every subprocess and socket they use is given the time left
(Context.remaining), and subprocesses are killed with their process group when it runs out.
"""

import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

from trainserver.doctor.results import FAIL, Result

# Probes get a little less than the deadline, so their own timeouts fire first and say what
# was slow, before the runner gives up on them.
MARGIN = 0.3


@dataclass
class Probe:
    area: str
    item: str
    function: object  # function(Context) -> Result or [Result]
    investigate: str = ""


@dataclass
class Context:
    """What a probe gets: the loaded config, the deadline, and the run's options."""

    config: dict
    config_path: str
    deadline: float  # time.monotonic() value
    timeout: float
    send_test: bool = False
    env: dict = field(default=None)

    def remaining(self):
        """Seconds a subprocess or socket of the probe may take (at least a moment)."""
        return max(0.1, self.deadline - time.monotonic() - MARGIN)


class ProbeTimeout(Exception):
    pass


class Completed:
    __slots__ = ("argv", "returncode", "stdout", "stderr")

    def __init__(self, argv, returncode, stdout, stderr):
        self.argv, self.returncode, self.stdout, self.stderr = argv, returncode, stdout, stderr


def run_command(ctx, argv, timeout=None, input=None):
    """Run argv (a list) with the time left; returns Completed, raises FileNotFoundError for a
    missing program and ProbeTimeout when it ran out of time (its whole process group killed:
    the ts-* tools start programs of their own)."""
    if isinstance(argv, (str, bytes)):
        raise TypeError("commands are argument lists, never shell strings")
    limit = ctx.remaining() if timeout is None else min(timeout, ctx.remaining())
    process = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else
                               subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=ctx.env,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(input=input, timeout=limit)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.communicate()
        raise ProbeTimeout(f"{argv[0]} timed out after {limit:.1f} s") from None
    return Completed(argv, process.returncode, stdout, stderr)


def _timed_out(probe, timeout):
    return Result(probe.area, probe.item, FAIL, f"timed out after {timeout:g} s",
                  probe.investigate, timeout)


def _call(probe, ctx):
    started = time.monotonic()
    try:
        outcome = probe.function(ctx)
    except ProbeTimeout as exc:
        outcome = Result(probe.area, probe.item, FAIL, str(exc), probe.investigate)
    except FileNotFoundError as exc:  # a program the probe needs (btrfs, systemctl, docker)
        outcome = Result(probe.area, probe.item, FAIL,
                         f"{exc.filename or exc} is not installed", probe.investigate)
    except Exception as exc:  # one probe's bug must not cost the others' results
        outcome = Result(probe.area, probe.item, FAIL,
                         f"the probe failed: {type(exc).__name__}: {exc}", probe.investigate)
    took = time.monotonic() - started
    results = outcome if isinstance(outcome, list) else [outcome]
    for result in results:
        if not result.seconds:
            result.seconds = took
        if not result.investigate:
            result.investigate = probe.investigate
    return results


def run(probes, make_context, timeout):
    """[Result] of every probe, in the order given, within `timeout` seconds (plus the time
    it takes to start the threads). make_context(deadline) -> Context."""
    deadline = time.monotonic() + timeout
    ctx = make_context(deadline)
    finished = queue.Queue()
    slots = [None] * len(probes)

    def work(index, probe):
        finished.put((index, _call(probe, ctx)))

    for index, probe in enumerate(probes):
        threading.Thread(target=work, args=(index, probe), daemon=True,
                         name=f"probe {probe.area}/{probe.item}").start()
    waiting = len(probes)
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            index, results = finished.get(timeout=left)
        except queue.Empty:
            break
        slots[index] = results
        waiting -= 1
    results = []
    for probe, outcome in zip(probes, slots):
        results.extend(outcome if outcome is not None else [_timed_out(probe, timeout)])
    return results
