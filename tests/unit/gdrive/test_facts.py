"""The system facts that never touch the mount: mountinfo parsing, process states from
/proc (a copy of sleep named rclone stands for rclone's process name), the stat child, and
the storage figures, which must be ts-storage's own."""

import os
import shutil
import signal
import subprocess
import time

import pytest

from trainserver.gdrive import facts

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
MOUNTINFO = (
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "45 22 0:40 / /mnt/storage rw shared:30 - btrfs /dev/bcache0 rw,space_cache=v2\n"
    "46 45 0:41 / /mnt/storage/shared rw,nosuid,nodev,relatime shared:31 - fuse.rclone "
    "gdrive: rw,user_id=0,group_id=0,default_permissions,allow_other\n"
    "47 22 0:42 / /tmp/with\\040space rw - tmpfs tmpfs rw\n"
)


def test_mountinfo():
    assert facts.parse_mountinfo(MOUNTINFO, "/mnt/storage/shared") == ("fuse.rclone", "gdrive:")
    assert facts.parse_mountinfo(MOUNTINFO, "/mnt/storage/shared/") == ("fuse.rclone", "gdrive:")
    assert facts.parse_mountinfo(MOUNTINFO, "/mnt/storage")[0] == "btrfs"
    assert facts.parse_mountinfo(MOUNTINFO, "/tmp/with space") == ("tmpfs", "tmpfs")
    assert facts.parse_mountinfo(MOUNTINFO, "/mnt") is None
    over = MOUNTINFO + "48 46 0:43 / /mnt/storage/shared rw - tmpfs none rw\n"
    assert facts.parse_mountinfo(over, "/mnt/storage/shared") == ("tmpfs", "none")


def test_process_states(tmp_path):
    fake = tmp_path / "rclone"
    shutil.copy("/bin/sleep", fake)
    child = subprocess.Popen([str(fake), "60"])
    try:
        time.sleep(0.1)
        assert facts.process_state(child.pid) == "running"
        os.kill(child.pid, signal.SIGSTOP)
        for _ in range(50):
            if facts.process_state(child.pid) == "stopped":
                break
            time.sleep(0.02)
        assert facts.process_state(child.pid) == "stopped"
        os.kill(child.pid, signal.SIGKILL)
        for _ in range(50):
            if facts.process_state(child.pid) == "zombie":
                break
            time.sleep(0.02)
        assert facts.process_state(child.pid) == "zombie"
    finally:
        child.kill()
        child.wait()
    assert facts.process_state(child.pid) == "gone"
    assert facts.process_state(os.getpid()) == "other"  # python, not rclone


def test_probe_answers_ok_and_errors_from_the_child(tmp_path):
    assert facts.probe(str(tmp_path), 5) == ("ok", None, "")
    status, number, message = facts.probe(str(tmp_path / "missing"), 5)
    assert status == "error" and number == 2 and "No such file" in message


def test_allocated_counts_blocks_and_hard_links_once(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_bytes(os.urandom(100_000))
    os.link(tmp_path / "d" / "a", tmp_path / "b")
    total, files = facts.allocated(str(tmp_path))
    du = int(subprocess.run(["du", "-s", "--block-size=1", str(tmp_path)], check=True,
                            capture_output=True, text=True).stdout.split()[0])
    assert files == 1
    # du also counts the top directory itself.
    assert total == du - os.stat(tmp_path).st_blocks * 512


def test_btrfs_figures_give_ts_storages_percentage():
    from trainserver.storage import assess, parse

    for name in ("usage-raid10.txt", "usage-single.txt"):
        with open(os.path.join(ROOT, "tests", "fixtures", "storage", name)) as handle:
            overall = parse.usage(handle.read())["overall"]
        size, used = facts.btrfs_figures(overall)
        assert 100 * used / size == pytest.approx(assess.used_percent(overall), abs=1e-6)
