"""A failure through restic's rclone backend names rclone's reason even when restic stopped
rclone before it wrote it: ts-backup asks rclone once more (the real rclone, an sftp remote on
a port where nothing listens)."""

import shutil
import subprocess

import pytest

from trainserver.backup import job, restic
from trainserver.core import config as config_module

pytestmark = pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone not installed")

LOST = ("backup failed (exit 1): Fatal: unable to open repository at rclone:offline:/repo: "
        "error talking HTTP to rclone: context canceled")


def _settings(tmp_path):
    secret = subprocess.run(["rclone", "obscure", "not-a-password"], capture_output=True,
                            text=True, check=True).stdout.strip()
    rclone_config = tmp_path / "rclone.conf"
    rclone_config.write_text("[offline]\ntype = sftp\nhost = 127.0.0.1\nport = 1\n"
                             f"user = backup\npass = {secret}\n")
    path = tmp_path / "trainserver.toml"
    path.write_text(f'[backup]\nrepository = "rclone:offline:/repo"\n'
                    f'rclone_config = "{rclone_config}"\n')
    return job.Settings.from_config(config_module.load(str(path)))


def test_rclones_lost_reason_is_asked_for_again(tmp_path):
    summary = job.with_rclone_cause(_settings(tmp_path), LOST)
    assert summary.startswith(LOST)
    assert summary.endswith("(rclone: NewFs: couldn't connect SSH: dial tcp 127.0.0.1:1: "
                            "connect: connection refused)"), summary


def test_a_reason_already_there_or_no_rclone_failure_is_left_alone(tmp_path):
    settings = _settings(tmp_path)
    named = LOST + " (rclone: NewFs: connection refused)"
    assert job.with_rclone_cause(settings, named) == named
    other = "backup failed (exit 3): some files could not be read"
    assert job.with_rclone_cause(settings, other) == other


def test_rclones_own_error_lines_are_read():
    assert restic.rclone_reason(
        '2026/12/06 10:54:42 Failed to create file system for "offline:/repo": NewFs: '
        "couldn't connect SSH: dial tcp 127.0.0.1:1: connect: connection refused\n") == \
        "NewFs: couldn't connect SSH: dial tcp 127.0.0.1:1: connect: connection refused"
    assert restic.rclone_reason("2026/12/06 10:54:42 ERROR : repo: directory not found\n") == \
        "directory not found"
    assert restic.rclone_reason("") == ""
