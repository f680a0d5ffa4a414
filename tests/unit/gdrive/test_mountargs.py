"""The rclone mount command line, checked against the real rclone 1.60: every flag exists
and every value parses (a misspelt flag or a bad size fails here), and the Drive-only flags
and config keys the remote uses are rclone's own."""

import json
import os
import shutil
import subprocess

import pytest

from trainserver.core.rclone import RemoteControl
from trainserver.gdrive import mountargs, remoteconf
from trainserver.gdrive.cachesize import Rule
from trainserver.gdrive.settings import Settings

pytestmark = pytest.mark.skipif(shutil.which("rclone") is None,
                                reason="rclone is a build dependency")


def settings(tmp_path, memory=256 * 2**20):
    return Settings(remote="gdrive", rclone_config=str(tmp_path / "rclone.conf"),
                    storage=str(tmp_path), mount_point=str(tmp_path / "shared"),
                    cache_dir=str(tmp_path / "cache" / "gdrive"), cache_max_age=30 * 86400,
                    go_memory_limit=memory, check_timeout=10, restart_window=3600,
                    restarts_critical=3, rule=Rule(80, 90, 5, 0), group="mlusers",
                    secrets_dir=str(tmp_path), state_dir=str(tmp_path))


def test_argument_list(tmp_path):
    rc = RemoteControl(5599, "u", "p")
    argv = mountargs.mount_argv(settings(tmp_path), 123 * 2**30, 1234, rc.flags())
    assert argv == ["rclone", "mount", "gdrive:", str(tmp_path / "shared"),
                    "--vfs-cache-mode", "full", "--cache-dir", str(tmp_path / "cache/gdrive"),
                    "--vfs-cache-max-age", "2592000s", "--vfs-cache-max-size", "132070244352B",
                    "--allow-other", "--default-permissions", "--uid", "0", "--gid", "1234",
                    "--umask", "0002", "--rc", "--rc-addr", "127.0.0.1:5599"]
    assert "p" not in argv  # the rc password travels in the environment only


def test_environment_turns_go_gc_off_unless_the_limit_is_zero(tmp_path):
    env = mountargs.environment(settings(tmp_path), {"RCLONE_RC_PASS": "x"})
    assert env == {"RCLONE_CONFIG": str(tmp_path / "rclone.conf"), "GOGC": "off",
                   "GOMEMLIMIT": str(256 * 2**20), "RCLONE_RC_PASS": "x"}
    plain = mountargs.environment(settings(tmp_path, memory=0))
    assert "GOGC" not in plain and "GOMEMLIMIT" not in plain


def rclone_help(*command):
    return subprocess.run(["rclone", *command, "--help"], capture_output=True, text=True,
                          check=True).stdout + subprocess.run(
        ["rclone", "help", "flags"], capture_output=True, text=True, check=True).stdout


def test_every_flag_is_in_rclone_mount_help(tmp_path):
    argv = mountargs.mount_argv(settings(tmp_path), 2**30, 100,
                                RemoteControl(1).flags())
    text = rclone_help("mount")
    for flag in mountargs.flag_names(argv):
        assert f"{flag} " in text, f"rclone mount has no {flag}"


def test_real_rclone_parses_the_whole_command_line(tmp_path):
    """rclone gets past its flag and value parsing and fails only at the mount itself (the
    mount point does not exist): a misspelt flag or an unparsable value fails earlier."""
    config = tmp_path / "rclone.conf"
    (tmp_path / "src").mkdir()
    config.write_text(f"[gdrive]\ntype = alias\nremote = {tmp_path / 'src'}\n")
    values = settings(tmp_path)
    values = Settings(**{**values.__dict__, "mount_point": str(tmp_path / "missing" / "x")})
    argv = mountargs.mount_argv(values, 2**30, 100, RemoteControl(0).flags())
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                            env={**os.environ, **mountargs.environment(values)})
    assert result.returncode != 0
    assert "unknown flag" not in result.stderr and "invalid argument" not in result.stderr, \
        result.stderr
    assert "failed to mount FUSE fs" in result.stderr, result.stderr
    # The check itself can fail: a misspelling is refused by the same rclone.
    bad = subprocess.run(argv + ["--vfs-cache-mdoe", "full"], capture_output=True, text=True,
                         timeout=60, env={**os.environ, **mountargs.environment(values)})
    assert "unknown flag: --vfs-cache-mdoe" in bad.stderr


def test_drive_only_flags_are_rclones():
    """The Drive flags behind the remote's keys: rclone gets as far as opening the service
    account file, so every flag was accepted."""
    result = subprocess.run(["rclone", "lsd", ":drive:", "--drive-team-drive", "0ABCDEFGHIJK",
                             "--drive-scope", "drive", "--drive-service-account-file",
                             "/nonexistent/key.json"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "RCLONE_CONFIG": "/dev/null"})
    assert "unknown flag" not in result.stderr, result.stderr
    assert "error opening service account credentials file" in result.stderr, result.stderr


def test_the_remote_section_uses_rclones_drive_keys_and_rclone_reads_it(tmp_path):
    providers = json.loads(subprocess.run(["rclone", "config", "providers"], check=True,
                                          capture_output=True, text=True).stdout)
    drive = next(p for p in providers if p["Name"] == "drive")
    known = {option["Name"] for option in drive["Options"]}
    key = str(tmp_path / "missing-key.json")
    for values in (remoteconf.drive_section("0ABCDEFGHIJK", service_account_file=key),
                   remoteconf.drive_section("0ABCDEFGHIJK", token='{"refresh_token":"r"}')):
        assert set(values) - {"type"} <= known, set(values) - known
    config = tmp_path / "rclone.conf"
    config.write_text(remoteconf.render(
        "gdrive", remoteconf.drive_section("0ABCDEFGHIJK", service_account_file=key)))
    env = {**os.environ, "RCLONE_CONFIG": str(config)}
    dump = json.loads(subprocess.run(["rclone", "config", "dump"], check=True, env=env,
                                     capture_output=True, text=True).stdout)
    assert dump["gdrive"] == {"type": "drive", "scope": "drive", "team_drive": "0ABCDEFGHIJK",
                              "service_account_file": key}
    result = subprocess.run(["rclone", "lsd", "gdrive:"], capture_output=True, text=True,
                            timeout=60, env=env)
    assert f"open {key}" in result.stderr, result.stderr
