"""Reading in a forked child with a deadline: real forks, real signals, no stand-ins."""

import errno
import os
import signal
import time

import pytest

from trainserver.gpu import deadline
from trainserver.gpu.readings import GpuReadError, GpuReading, Reading


def test_returns_what_the_child_computed():
    reading = deadline.call(lambda: Reading("NVML", [GpuReading(index=0, temperature=os.getpid())]), 10)
    assert reading.reader == "NVML"
    assert reading.gpus[0].temperature != os.getpid(), "computed in another process"


def test_raises_what_the_child_raised_with_its_attributes():
    def fail():
        raise GpuReadError("pynvml is not installed", no_driver=True)

    with pytest.raises(GpuReadError) as caught:
        deadline.call(fail, 10)
    assert str(caught.value) == "pynvml is not installed" and caught.value.no_driver
    assert not caught.value.hung


def test_a_child_that_never_answers_is_killed_at_the_deadline(tmp_path):
    pid_file = tmp_path / "pid"

    def hang():
        pid_file.write_text(str(os.getpid()))
        time.sleep(600)

    started = time.monotonic()
    with pytest.raises(deadline.TimedOut):
        deadline.call(hang, 0.5)
    assert time.monotonic() - started < 3
    pid = int(pid_file.read_text())
    assert not os.path.exists(f"/proc/{pid}"), "the child is killed and reaped"


def test_a_child_that_crashes_is_a_failure_naming_the_signal():
    with pytest.raises(deadline.ChildFailed) as caught:
        deadline.call(lambda: os.kill(os.getpid(), signal.SIGSEGV), 10)
    assert str(caught.value) == "the child process died without an answer (killed by signal 11)"


def test_an_answer_that_cannot_be_sent_back_is_a_failure():
    with pytest.raises(deadline.ChildFailed) as caught:
        deadline.call(lambda: (lambda: None), 10)
    assert str(caught.value).startswith("cannot send back <function")


def test_the_child_holds_none_of_the_parents_descriptors(tmp_path):
    """So a child stuck for good keeps neither the tool's lock nor ts-alert's pipes open."""
    with open(tmp_path / "lock", "w", encoding="utf-8") as lock:
        with pytest.raises(OSError) as caught:
            deadline.call(lambda: os.fstat(lock.fileno()), 10)
    assert caught.value.errno == errno.EBADF
    on_null = deadline.call(lambda: [os.path.samestat(os.fstat(fd), os.stat(os.devnull))
                                     for fd in (0, 1, 2)], 10)
    assert on_null == [True, True, True]
