"""trainserver.core.lock: one run per tool, across real processes."""

import logging
import os
import select
import signal
import subprocess

import pytest

import trainserver
from trainserver.core import lock as lock_module
from trainserver.core.cli import EXIT_LOCKED
from trainserver.core.lock import Holder, LockHeld, ToolLock

# Where the child imports trainserver from: the same place as this test (source tree or the
# installed package), whichever conftest.py chose.
IMPORT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(trainserver.__file__)))

HOLDER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from trainserver.core.lock import ToolLock
held = ToolLock("backup", lock_dir=sys.argv[2], command="ts-backup run").acquire()  # kept
print("ready", flush=True)
time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    """A real process that holds the `backup` lock in tmp_path; killed whatever happens."""
    child = subprocess.Popen(["/usr/bin/python3", "-c", HOLDER, IMPORT_ROOT, str(tmp_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([child.stdout], [], [], 10)
        line = child.stdout.readline() if ready else ""
        if line != "ready\n":
            child.kill()
            raise AssertionError(f"lock holder did not start: {line!r} {child.stderr.read()}")
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)
        child.stdout.close()
        child.stderr.close()


def lock_file(tmp_path):
    return tmp_path / "trainserver-backup.lock"


def pid_in(path):
    """The PID the lock file at `path` names."""
    return Holder.parse(open(path, encoding="utf-8").read()).pid


def test_exit_locked_is_ex_tempfail():
    assert EXIT_LOCKED == 75


def test_path_names_the_tool(tmp_path):
    assert ToolLock("backup", lock_dir=str(tmp_path)).path == str(lock_file(tmp_path))


def test_file_holds_our_pid_while_held_and_is_emptied_on_release(tmp_path):
    tool_lock = ToolLock("backup", lock_dir=str(tmp_path / "run" / "lock"))
    tool_lock.acquire()
    try:
        holder = Holder.parse(open(tool_lock.path, encoding="utf-8").read())
        assert holder.pid == os.getpid()
        assert holder.since is not None and holder.command
    finally:
        tool_lock.release()
    assert os.path.exists(tool_lock.path)  # kept, see release()
    assert os.path.getsize(tool_lock.path) == 0


def test_reacquire_after_release(tmp_path):
    first = ToolLock("backup", lock_dir=str(tmp_path))
    first.acquire()
    first.release()
    second = ToolLock("backup", lock_dir=str(tmp_path))
    second.acquire()
    try:
        assert pid_in(lock_file(tmp_path)) == os.getpid()
    finally:
        second.release()
    first.acquire()
    first.release()


def test_context_manager(tmp_path):
    with ToolLock("backup", lock_dir=str(tmp_path)) as held:
        assert isinstance(held, ToolLock)
        with pytest.raises(LockHeld):
            ToolLock("backup", lock_dir=str(tmp_path)).acquire()
    with ToolLock("backup", lock_dir=str(tmp_path)):
        pass


def test_release_without_acquire_is_harmless(tmp_path):
    tool_lock = ToolLock("backup", lock_dir=str(tmp_path))
    tool_lock.release()
    tool_lock.acquire()
    tool_lock.release()
    tool_lock.release()


def test_locks_of_different_tools_are_independent(tmp_path):
    with ToolLock("backup", lock_dir=str(tmp_path)), ToolLock("scrub", lock_dir=str(tmp_path)):
        assert sorted(os.listdir(tmp_path)) == ["trainserver-backup.lock", "trainserver-scrub.lock"]


def test_lock_held_by_another_process(tmp_path, holder):
    before = lock_file(tmp_path).read_text()
    assert pid_in(lock_file(tmp_path)) == holder.pid
    with pytest.raises(LockHeld) as info:
        ToolLock("backup", lock_dir=str(tmp_path)).acquire()
    assert info.value.pid == holder.pid
    assert info.value.path == str(lock_file(tmp_path))
    assert f"ts-backup run (process {holder.pid}) since " in str(info.value)
    assert str(lock_file(tmp_path)) in str(info.value)
    # The refused attempt changed nothing.
    assert lock_file(tmp_path).read_text() == before


def test_lock_of_a_killed_process_is_taken_over(tmp_path, holder, caplog):
    caplog.set_level(logging.INFO, logger="trainserver.core.lock")
    dead_pid = holder.pid
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert pid_in(lock_file(tmp_path)) == dead_pid  # left behind

    tool_lock = ToolLock("backup", lock_dir=str(tmp_path))
    tool_lock.acquire()
    try:
        assert pid_in(lock_file(tmp_path)) == os.getpid()
        messages = [r.getMessage() for r in caplog.records
                    if r.name == "trainserver.core.lock" and r.levelno == logging.INFO]
        assert len(messages) == 1
        assert str(dead_pid) in messages[0] and "gone" in messages[0]
    finally:
        tool_lock.release()


def test_lock_held_without_a_pid_says_another_process():
    error = LockHeld("/run/lock/trainserver-x.lock", None)
    assert error.pid is None
    assert "another process" in str(error)


def test_pid_alive():
    assert lock_module._pid_alive(os.getpid())
    child = subprocess.Popen(["true"])
    child.wait()
    assert not lock_module._pid_alive(child.pid)


def test_wait_gives_up_after_the_wait_while_held(tmp_path, holder):
    import time

    start = time.monotonic()
    with pytest.raises(LockHeld) as info:
        ToolLock("backup", lock_dir=str(tmp_path), wait=0.5).acquire()
    assert 0.5 <= time.monotonic() - start < 2
    assert info.value.waited >= 0.5


def test_wait_gets_the_lock_when_the_holder_finishes(tmp_path, holder):
    import threading

    threading.Timer(0.3, holder.kill).start()
    tool_lock = ToolLock("backup", lock_dir=str(tmp_path), wait=10).acquire()
    try:
        assert holder.wait(timeout=5) == -signal.SIGKILL
    finally:
        tool_lock.release()


def test_a_long_wait_is_said_in_the_message_with_the_holder(tmp_path, holder):
    """What the admin reads when verify gave up on a backup that ran all day."""
    ticks = iter([0.0, 3600.0, 12 * 3600.0, 12 * 3600.0 + 1])
    slept = []
    with pytest.raises(LockHeld) as info:
        ToolLock("backup", lock_dir=str(tmp_path), wait=12 * 3600, clock=lambda: next(ticks),
                 sleep=slept.append).acquire()
    text = str(info.value)
    assert text.startswith(f"gave up after waiting 12 h for the lock {lock_file(tmp_path)}")
    assert f"held by ts-backup run (process {holder.pid}) since" in text
    assert slept and all(pause <= lock_module.LONGEST_PAUSE for pause in slept)


def test_a_plain_pid_from_an_older_version_is_still_read():
    assert Holder.parse("4242\n").pid == 4242
    assert Holder.parse("") is None and Holder.parse("{}") is None
