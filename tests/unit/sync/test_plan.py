"""The rclone argument lists from the config, and the real rclone accepting them."""

import pytest

from trainserver.sync import plan


def settings(**changes):
    values = dict(source="gcs:bucket/incoming", destination="gdrive:ingest", mode="copy",
                  backup_dir="gdrive:ingest-deleted", max_delete=1000, bandwidth=12_500_000,
                  upload_limit=12_500_000, daily_upload_cap=750e9, healthcheck_url="",
                  rclone_config="/etc/trainserver/secrets/rclone.conf", lock_dir="/run/lock")
    values.update(changes)
    return plan.Settings(**values)


COMMON = ["--use-json-log", "--stats", "30s", "--stats-log-level", "NOTICE",
          "--drive-stop-on-upload-limit", "--bwlimit", "12207k:off"]


def test_copy_mode_never_deletes():
    argv = plan.run_argv(settings(), 12_500_000, "2026-12-06T040000Z")
    assert argv == ["rclone", "copy", "gcs:bucket/incoming", "gdrive:ingest"] + COMMON
    assert not {"--backup-dir", "--max-delete", "sync"} & set(argv)


def test_mirror_mode_moves_into_a_dated_backup_dir_and_guards_deletions():
    argv = plan.run_argv(settings(mode="mirror", max_delete=50), 12_500_000,
                         "2026-12-06T040000Z")
    assert argv[:4] == ["rclone", "sync", "gcs:bucket/incoming", "gdrive:ingest"]
    assert argv[argv.index("--backup-dir") + 1] == "gdrive:ingest-deleted/2026-12-06T040000Z"
    assert argv[argv.index("--max-delete") + 1] == "50"


def test_rate_is_upload_only_and_in_kib():
    argv = plan.run_argv(settings(), 6_250_000, "x")
    assert argv[argv.index("--bwlimit") + 1] == "6103k:off"


def test_remote_control_and_dry_run_flags_are_appended():
    argv = plan.migrate_argv("gcs:a", "gdrive:b", 12_500_000, dry_run=True,
                             control=["--rc", "--rc-addr", "127.0.0.1:5572"])
    assert argv[:4] == ["rclone", "copy", "gcs:a", "gdrive:b"]
    assert argv[argv.index("--stats") + 1] == plan.MIGRATE_STATS
    assert argv[-4:] == ["--rc", "--rc-addr", "127.0.0.1:5572", "--dry-run"]


def test_check_is_one_way_with_a_combined_report():
    assert plan.check_argv("gcs:a", "gdrive:b", "/tmp/c") == [
        "rclone", "check", "gcs:a", "gdrive:b", "--one-way", "--combined", "/tmp/c",
        "--use-json-log", "-v"]


@pytest.mark.parametrize("backup_dir,words", [
    ("gcs:deleted", "must be on the destination's remote gdrive:"),
    ("gdrive:ingest/deleted", "overlaps the destination"),
    ("gdrive:", "overlaps the destination"),
    ("gdrive:/ingest/", "overlaps the destination"),
    ("", "backup_dir is empty"),
])
def test_mirror_refuses_a_backup_dir_rclone_would_refuse(backup_dir, words):
    problems = plan.validate(settings(mode="mirror", backup_dir=backup_dir))
    assert len(problems) == 1 and words in problems[0], problems


def test_valid_settings_and_copy_mode_ignore_backup_dir():
    assert plan.validate(settings(mode="mirror", backup_dir="gdrive:ingest-deleted")) == []
    assert plan.validate(settings(mode="mirror", backup_dir="gdrive:ingestion")) == []
    assert plan.validate(settings(backup_dir="gcs:elsewhere")) == []


def test_split_remote():
    assert plan.split_remote("gdrive:ingest/x") == ("gdrive", "ingest/x")
    assert plan.split_remote("/srv/data") == ("", "/srv/data")
    assert plan.split_remote("gdrive,shared_drive=abc:x") == ("gdrive,shared_drive=abc", "x")


# The Drive-only flag (--drive-stop-on-upload-limit) and every other flag are checked by the
# real rclone, with local backends under the configured remote names: a misspelt flag fails.

def _tree(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("a\n")
    return f"gcs:{source}", f"gdrive:{tmp_path / 'dst'}", f"gdrive:{tmp_path / 'deleted'}"


@pytest.mark.parametrize("mode", ["copy", "mirror"])
def test_real_rclone_accepts_the_run_arguments(remotes, tmp_path, mode):
    source, destination, backup = _tree(tmp_path)
    argv = plan.run_argv(settings(source=source, destination=destination, backup_dir=backup,
                                  mode=mode), 12_500_000, "2026-12-06T040000Z", dry_run=True)
    done = remotes(*argv)
    assert done.returncode == 0, done.stderr
    assert "Skipped copy as --dry-run is set" in done.stderr


def test_real_rclone_accepts_the_migration_and_check_arguments(remotes, tmp_path):
    source, destination, _ = _tree(tmp_path)
    done = remotes(*plan.migrate_argv(source, destination, 12_500_000))
    assert done.returncode == 0, done.stderr
    done = remotes(*plan.check_argv(source, destination, str(tmp_path / "combined")))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "combined").read_text() == "= a.txt\n"
    done = remotes(*plan.size_argv(source))
    assert done.returncode == 0 and '"bytes":2' in done.stdout, done.stdout


def test_a_misspelt_drive_flag_fails_the_same_way(remotes, tmp_path):
    source, destination, _ = _tree(tmp_path)
    argv = plan.run_argv(settings(source=source, destination=destination), 12_500_000, "x",
                         dry_run=True)
    argv[argv.index("--drive-stop-on-upload-limit")] = "--drive-stop-on-upload-limits"
    done = remotes(*argv)
    assert done.returncode != 0
    assert "unknown flag: --drive-stop-on-upload-limits" in done.stderr
