"""The VM harness's host-side promises that need no qemu and no root: a missing program is named
in one line before anything starts, and waiting for a line from a pipe keeps its deadline."""

import os
import subprocess
import sys
import time

import pytest

from tests.vm import harness

RUN = os.path.join(harness.HERE, "run")


def stub_programs(directory, leave_out=()):
    """A directory to use as PATH, holding a stand-in for each program the harness runs."""
    directory.mkdir()
    for name in harness.PROGRAMS:
        if name not in leave_out:
            stub = directory / name
            stub.write_text("#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
    return str(directory)


def test_missing_programs_are_found_on_the_path_given(tmp_path):
    path = stub_programs(tmp_path / "bin", leave_out=["qemu-system-x86_64", "debugfs"])
    assert harness.missing_programs(path) == ["qemu-system-x86_64", "debugfs"]
    assert harness.missing_programs(stub_programs(tmp_path / "all")) == []


@pytest.mark.parametrize("args", [["--check-programs"], ["--deb", "/nonexistent.deb"],
                                  ["--demo"]])
def test_run_names_a_missing_program_in_one_line_and_exits_2(tmp_path, args):
    path = stub_programs(tmp_path / "bin", leave_out=["qemu-system-x86_64"])
    done = subprocess.run([sys.executable, RUN, *args], capture_output=True, text=True,
                          env={"PATH": path}, timeout=60)
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr  # one line, no traceback
    assert "qemu-system-x86_64" in done.stderr
    assert "make deps" in done.stderr and "apt-get install qemu-system-x86)" in done.stderr
    assert "qemu-img" not in done.stderr


def test_run_check_programs_is_quiet_when_everything_is_there(tmp_path):
    done = subprocess.run([sys.executable, RUN, "--check-programs"], capture_output=True,
                          text=True, env={"PATH": stub_programs(tmp_path / "bin")}, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def child(script):
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)


def stop(process):
    process.kill()
    process.wait()
    process.stdout.close()


def test_wait_for_line_returns_the_line_as_soon_as_it_comes():
    process = child("import sys, time\nprint('starting', flush=True)\ntime.sleep(0.3)\n"
                    "print('[  31s] guest up (boot 1)', flush=True)\ntime.sleep(60)")
    try:
        started = time.monotonic()
        line, seen = harness.wait_for_line(process.stdout, "guest up", timeout=20)
        assert line == "[  31s] guest up (boot 1)" and seen == ["starting"]
        assert time.monotonic() - started < 10
    finally:
        stop(process)


@pytest.mark.parametrize("script", [
    "import time\ntime.sleep(60)",  # silent: a read would block past any deadline
    "import time\nwhile True:\n print('still booting', flush=True)\n time.sleep(0.1)",
    "import sys, time\nsys.stdout.write('half a line')\nsys.stdout.flush()\ntime.sleep(60)",
], ids=["silent", "chatty", "partial-line"])
def test_wait_for_line_keeps_its_deadline(script):
    process = child(script)
    try:
        started = time.monotonic()
        line, seen = harness.wait_for_line(process.stdout, "guest up", timeout=1)
        assert line is None
        assert 1 <= time.monotonic() - started < 10
        assert process.poll() is None  # the deadline passed, not the end of the stream
        assert all(text == "still booting" for text in seen)
    finally:
        stop(process)


def test_wait_for_line_returns_at_the_end_of_the_stream_with_what_came():
    process = child("print('building the guest image')\nprint('no qemu', end='')")
    try:
        started = time.monotonic()
        line, seen = harness.wait_for_line(process.stdout, "guest up", timeout=30)
        assert line is None and seen == ["building the guest image", "no qemu"]
        assert time.monotonic() - started < 10
    finally:
        stop(process)


def collected(stream=None):
    env = {name: value for name, value in os.environ.items() if name != "TRAINSERVER_VM_STREAM"}
    if stream:
        env["TRAINSERVER_VM_STREAM"] = stream
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--collect-only", "-m", "vm", os.path.join(harness.ROOT, "tests/vm")],
                          capture_output=True, text=True, env=env, cwd=harness.ROOT)
    return done.returncode, [line for line in done.stdout.splitlines() if "::" in line], done


def test_make_checks_two_guest_streams_run_every_vm_test_once():
    rc, everything, done = collected()
    assert rc == 0 and everything, done.stdout + done.stderr
    streams = []
    for name in ("1", "2"):
        rc, tests, done = collected(name)
        assert rc == 0 and tests, done.stdout + done.stderr
        streams.append(set(tests))
    assert not streams[0] & streams[1]
    assert streams[0] | streams[1] == set(everything)


def test_an_unknown_stream_is_a_usage_error():
    rc, tests, done = collected("3")
    assert rc == 4 and "no such stream" in done.stderr
