"""tests/vm/run shows its progress through a pipe as it goes, without PYTHONUNBUFFERED (a fresh
shell, make, CI), with stand-ins for qemu and mmdebstrap: nothing is built or booted. Root only
because tests/vm/run refuses anyone else."""

import os
import subprocess
import sys
import time

import pytest

from tests.vm import harness

pytestmark = pytest.mark.root


def test_progress_comes_through_a_pipe_while_the_run_is_still_going(tmp_path):
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in harness.PROGRAMS:
        # mmdebstrap never ends: whatever the run printed before it must already be readable.
        # It says when it runs (a shell redirection: the PATH holds only the stand-ins).
        body = ': > "$TMPDIR/mmdebstrap-started"; exec /bin/sleep 120' \
            if name == "mmdebstrap" else "exit 0"
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    deb = tmp_path / "trainserver_0_all.deb"
    deb.write_bytes(b"")  # read by the dpkg-deb stand-in only
    cache = tmp_path / "cache"
    env = {"PATH": str(stubs), "TRAINSERVER_VM_CACHE": str(cache), "TMPDIR": str(tmp_path)}
    process = subprocess.Popen([sys.executable, os.path.join(harness.HERE, "run"), "--demo",
                                "--deb", str(deb), "--output", str(tmp_path / "logs")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        line, seen = harness.wait_for_line(process.stdout, "building the Debian 13 guest image",
                                           timeout=30)
        assert line is not None, f"nothing came through the pipe in 30 s: {seen}"
        assert process.poll() is None, "the line came only because the run ended"
        # Interrupt the build itself, not the instant the stand-in is being spawned (a signal
        # inside Popen's fork waits for the child it started: a narrow window, left alone).
        deadline = time.monotonic() + 30
        while not (tmp_path / "mmdebstrap-started").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "mmdebstrap-started").exists(), "the mmdebstrap stand-in never ran"
    finally:
        process.terminate()  # unwinds like an interrupt: the mmdebstrap stand-in is killed
        process.communicate(timeout=60)
    assert process.returncode == 128 + 15
    assert not [name for name in os.listdir(cache) if name.startswith(".build-")], \
        "the half-built image was left in the cache"
