"""core.rclone against the real rclone: its rate units and its remote control."""

import os
import shutil
import subprocess
import time

import pytest

from trainserver.core import rclone
from trainserver.core.errors import ActionError

needs_rclone = pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone not installed")


def test_rates_are_whole_kib_per_second_and_never_off():
    assert rclone.kib_rate(12_500_000) == "12207k"  # 100 Mbit/s
    assert rclone.kib_rate(10) == "1k"  # 0 would mean no limit at all
    assert rclone.upload_limit(12_500_000) == "12207k:off"


@needs_rclone
def test_rclone_reads_the_rate_as_intended(tmp_path):
    done = subprocess.run(["rclone", "--bwlimit", rclone.upload_limit(12_500_000), "-v",
                           "lsf", str(tmp_path)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **rclone.environment(str(tmp_path / "none.conf"))})
    assert done.returncode == 0, done.stderr
    # 12207 KiB/s = 11.921 MiB/s = 12.5 MB/s = 100 Mbit/s, upload only
    assert "Starting bandwidth limiter at 11.921Mi:off Byte/s" in done.stderr


@pytest.fixture
def rcd(tmp_path):
    control = rclone.RemoteControl(rclone.free_port())
    process = subprocess.Popen(["rclone", "rcd", *control.flags()[1:]],
                               env={**os.environ, **control.environment(),
                                    **rclone.environment(str(tmp_path / "none.conf"))},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                control.call("rc/noop", timeout=2)
                break
            except ActionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield control
    finally:
        process.kill()
        process.wait()


@needs_rclone
def test_remote_control_changes_the_limit_of_a_running_rclone(rcd):
    answer = rcd.call("core/bwlimit", {"rate": rclone.upload_limit(6_250_000)})
    assert answer["bytesPerSecondTx"] == 6103 * 1024  # 50 Mbit/s in whole KiB/s
    assert answer["bytesPerSecondRx"] == -1  # download: off
    assert rcd.call("core/bwlimit")["bytesPerSecondTx"] == 6103 * 1024


@needs_rclone
def test_remote_control_refuses_other_credentials(rcd):
    stranger = rclone.RemoteControl(rcd.port, password="not-the-password")
    with pytest.raises(ActionError, match="HTTP 401"):
        stranger.call("core/bwlimit")
