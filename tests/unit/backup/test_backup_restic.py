"""restic command lines and the reading of its output and exit codes, on output recorded from the
real restic 0.14.0 of Debian 12 (tests/fixtures/backup/PROVENANCE.md)."""

import os

import pytest

from trainserver.backup import restic

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "fixtures", "backup")

V14 = (0, 14, 0)
V16 = (0, 16, 0)
V17 = (0, 17, 3)


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


# ---------------------------------------------------------------- version and units

def test_version_of_the_recorded_restic():
    assert restic.parse_version(fixture("version.txt")) == (0, 14, 0)


@pytest.mark.parametrize("text, version", [
    ("restic 0.14.0 compiled with go1.19.8 on linux/amd64\n", (0, 14, 0)),
    ("restic 0.17.3 compiled with go1.23.3 on linux/amd64", (0, 17, 3)),
    ("restic 0.16.4-dev (compiled manually) compiled with go1.21 on linux/amd64", (0, 16, 4)),
])
def test_version(text, version):
    assert restic.parse_version(text) == version


@pytest.mark.parametrize("text", ["", "rclone v1.60.1", "restic version unknown", None])
def test_version_of_something_else(text):
    with pytest.raises(restic.ParseError):
        restic.parse_version(text)


def test_parse_error_is_a_value_error():
    assert issubclass(restic.ParseError, ValueError)


def test_limit_is_in_kib_per_second_rounded_down():
    assert restic.limit_kib(12_500_000) == 12207  # 100 Mbit/s
    assert restic.limit_kib(1024) == 1
    assert restic.limit_kib(2047) == 1


def test_a_tiny_rate_still_limits():
    assert restic.limit_kib(1) == 1
    assert restic.limit_kib(0.5) == 1


def test_no_rate_is_not_a_limit():
    with pytest.raises(ValueError):
        restic.limit_kib(0)


# ---------------------------------------------------------------- command lines

BASE_14 = ["restic", "--repo", "rclone:gdrive:backup", "--password-file", "/etc/pw",
           "--cache-dir", "/var/cache/restic"]


def test_base_argv_of_014_has_no_retry_lock():
    assert restic.base_argv("rclone:gdrive:backup", V14, "/etc/pw", "/var/cache/restic") == BASE_14


@pytest.mark.parametrize("version", [V16, V17, (1, 0, 0)])
def test_base_argv_retries_a_lock_from_016(version):
    argv = restic.base_argv("rclone:gdrive:backup", version, "/etc/pw", "/var/cache/restic")
    assert argv == BASE_14 + ["--retry-lock", "2m"]


def test_base_argv_of_015_and_an_unknown_version_has_no_retry_lock():
    for version in [(0, 15, 9), None]:
        argv = restic.base_argv("r", version, "/p", "/c")
        assert "--retry-lock" not in argv


def test_backup_argv():
    argv = restic.backup_argv(["restic", "-r", "R"], ["/snap/homes", "/snap/tb"], "gpu1",
                              "homes", 12207, excludes=["*.tmp", "/snap/homes/*/.cache"])
    assert argv == ["restic", "-r", "R", "backup", "--json", "--host", "gpu1", "--tag", "homes",
                    "--limit-upload", "12207", "--exclude-caches",
                    "--exclude", "*.tmp", "--exclude", "/snap/homes/*/.cache",
                    "/snap/homes", "/snap/tb"]


def test_backup_argv_without_excludes_or_limit():
    argv = restic.backup_argv([], ["/snap/homes"], "gpu1", "homes", None)
    assert argv == ["backup", "--json", "--host", "gpu1", "--tag", "homes", "--exclude-caches",
                    "/snap/homes"]


def test_backup_argv_does_not_change_the_base():
    base = ["restic"]
    restic.backup_argv(base, ["/a"], "h", "t", 1)
    assert base == ["restic"]


def test_backup_needs_a_path():
    with pytest.raises(ValueError):
        restic.backup_argv([], [], "h", "t", 1)


def test_forget_argv():
    assert restic.forget_argv(["restic"], "gpu1", "homes", 7, 52) == [
        "restic", "forget", "--json", "--host", "gpu1", "--tag", "homes",
        "--group-by", "host,tags", "--keep-daily", "7", "--keep-weekly", "52"]


def test_forget_argv_with_prune():
    argv = restic.forget_argv([], "gpu1", "homes", 7, 52, prune=True, max_unused="5%")
    assert argv[-3:] == ["--prune", "--max-unused", "5%"]
    assert restic.forget_argv([], "gpu1", "homes", 7, 52, prune=True)[-1] == "--prune"


def test_max_unused_without_prune_is_left_out():
    argv = restic.forget_argv([], "gpu1", "homes", 7, 52, max_unused="5%")
    assert "--max-unused" not in argv and "--prune" not in argv


def test_forget_that_keeps_nothing_is_refused():
    with pytest.raises(ValueError):
        restic.forget_argv([], "gpu1", "homes", 0, 0)


def test_snapshots_argv():
    assert restic.snapshots_argv(["restic"]) == ["restic", "snapshots", "--json"]
    assert restic.snapshots_argv([], host="gpu1", tag="homes") == [
        "snapshots", "--json", "--host", "gpu1", "--tag", "homes"]
    assert restic.snapshots_argv([], tag="homes") == ["snapshots", "--json", "--tag", "homes"]


# ---------------------------------------------------------------- backup output

def test_first_backup():
    parsed = restic.parse_backup(fixture("backup-first.jsonl"))
    summary = parsed["summary"]
    assert summary["files_new"] == 4 and summary["files_changed"] == 0
    assert summary["data_added"] == 23206
    assert summary["total_files_processed"] == 4
    assert summary["total_duration"] > 0
    assert summary["snapshot_id"] == "6ea2b202"  # 0.14 gives the short id here
    assert parsed["errors"] == [] and parsed["other"] == []
    assert parsed["status_lines"] == 1


def test_second_backup_sees_the_one_changed_file():
    summary = restic.parse_backup(fixture("backup-changed.jsonl"))["summary"]
    assert summary["files_new"] == 0
    assert summary["files_changed"] == 1 and summary["files_unmodified"] == 3
    assert summary["snapshot_id"] == "224894da"


def test_014_summary_fields():
    summary = restic.parse_backup(fixture("backup-first.jsonl"))["summary"]
    assert set(summary) == {
        "message_type", "files_new", "files_changed", "files_unmodified", "dirs_new",
        "dirs_changed", "dirs_unmodified", "data_blobs", "tree_blobs", "data_added",
        "total_files_processed", "total_bytes_processed", "total_duration", "snapshot_id"}


def test_unreadable_file_is_reported_on_stderr_in_014():
    stdout, stderr = fixture("backup-unreadable.jsonl"), fixture("backup-unreadable.stderr")
    assert restic.parse_backup(stdout)["errors"] == []
    parsed = restic.parse_backup(stdout, stderr)
    assert parsed["summary"]["snapshot_id"] == "d1c9f714"
    assert parsed["errors"] == [{
        "item": "/tmp/rbk/data/docs/private.key", "during": "archival",
        "message": "open /tmp/rbk/data/docs/private.key: Permission denied"}]


def test_error_line_of_later_versions_on_stdout():
    stdout = ('{"message_type":"error","error":{"message":"open /a/b: permission denied"},'
              '"during":"archival","item":"/a/b"}\n'
              '{"message_type":"summary","files_new":0,"snapshot_id":"abc"}\n')
    parsed = restic.parse_backup(stdout)
    assert parsed["errors"] == [{"item": "/a/b", "during": "archival",
                                 "message": "open /a/b: permission denied"}]
    assert parsed["summary"]["snapshot_id"] == "abc"


def test_interrupted_backup_has_status_lines_and_no_summary():
    parsed = restic.parse_backup(fixture("backup-interrupted.jsonl"))
    assert parsed["summary"] is None and parsed["status_lines"] == 6


def test_plain_text_lines_are_kept_apart():
    stdout = ("using parent snapshot 224894da\n\n"
              '{"message_type":"status","percent_done":1}\n'
              '{"message_type":"verbose_status","action":"new","item":"/a"}\n'
              "{not json\n" + fixture("backup-changed.jsonl").splitlines()[-1] + "\n")
    parsed = restic.parse_backup(stdout)
    assert parsed["other"] == ["using parent snapshot 224894da",
                               '{"message_type":"verbose_status","action":"new","item":"/a"}',
                               "{not json"]
    assert parsed["status_lines"] == 1 and parsed["summary"]["files_changed"] == 1


def test_empty_backup_output():
    assert restic.parse_backup("") == {"summary": None, "errors": [], "status_lines": 0,
                                       "other": []}


# ---------------------------------------------------------------- snapshots and forget

def test_snapshots():
    snapshots = restic.parse_snapshots(fixture("snapshots.json"))
    assert [s["short_id"] for s in snapshots] == ["6ea2b202", "224894da", "d1c9f714", "10e11666"]
    first, second = snapshots[0], snapshots[1]
    assert "parent" not in first
    assert second["parent"] == first["id"] and len(first["id"]) == 64
    assert second["hostname"] == "trainserver-test" and second["tags"] == ["homes"]
    assert second["paths"] == ["/tmp/rbk/data"]
    assert second["time"].startswith("2026-11-28T19:09:58")
    assert snapshots[3]["tags"] == ["docker-volumes"]


def test_no_snapshots():
    assert restic.parse_snapshots("[]\n") == []


@pytest.mark.parametrize("text", ["", "Fatal: wrong password or no key found\n", "{}",
                                  '[{"time": "2026-11-28T00:00:00Z"}]'])
def test_snapshots_that_are_not(text):
    with pytest.raises(restic.ParseError):
        restic.parse_snapshots(text)


def test_forget():
    groups = restic.parse_forget(fixture("forget.json"))
    assert len(groups) == 1
    group = groups[0]
    assert group["host"] == "trainserver-test" and group["tags"] == ["homes"]
    assert group["paths"] == []  # null: grouped by host and tags, not paths
    # All three were taken the same day: the newest is the daily (and weekly) one kept, even
    # though it is the incomplete snapshot of the exit-3 run.
    assert [i[:8] for i in group["keep"]] == ["d1c9f714"]
    assert [i[:8] for i in group["remove"]] == ["224894da", "6ea2b202"]


def test_forget_with_prune_has_its_report_after_the_json():
    groups = restic.parse_forget(fixture("forget-prune.stdout"))
    assert [i[:8] for i in groups[0]["keep"]] == ["e4ba3921"]
    assert [i[:8] for i in groups[0]["remove"]] == ["d1c9f714"]


def test_forget_that_removes_nothing():
    groups = restic.parse_forget(fixture("forget-nothing-removed.json"))
    assert groups[0]["remove"] == [] and len(groups[0]["keep"]) == 1


def test_forget_that_matched_no_snapshot_prints_nothing():
    assert restic.parse_forget("") == []


def test_forget_that_is_not_json():
    with pytest.raises(restic.ParseError):
        restic.parse_forget("Fatal: unable to open config file\n")


# ---------------------------------------------------------------- outcome of a backup

def run(stdout_fixture=None, stderr_fixture=None):
    stdout = fixture(stdout_fixture) if stdout_fixture else ""
    stderr = fixture(stderr_fixture) if stderr_fixture else ""
    return restic.parse_backup(stdout), stderr


def test_success():
    parsed, stderr = run("backup-changed.jsonl")
    result = restic.outcome(0, V14, parsed, stderr)
    assert result["ok"] and result["severity"] == "ok" and result["unreadable"] == []
    assert "224894da" in result["summary"] and "1 changed" in result["summary"]
    assert "\n" not in result["summary"]


def test_success_without_a_summary_is_critical():
    result = restic.outcome(0, V14, restic.parse_backup(""), "")
    assert not result["ok"] and result["severity"] == "critical"
    assert "summary" in result["summary"]


@pytest.mark.parametrize("version", [V14, V17])
def test_incomplete_backup_names_the_unreadable_file(version):
    # Given stdout only to parse_backup, as a caller may: outcome still reads stderr's errors.
    parsed, stderr = run("backup-unreadable.jsonl", "backup-unreadable.stderr")
    result = restic.outcome(3, version, parsed, stderr)
    assert not result["ok"] and result["severity"] == "critical"
    assert result["unreadable"] == ["/tmp/rbk/data/docs/private.key"]
    assert "/tmp/rbk/data/docs/private.key" in result["summary"]
    assert "d1c9f714" in result["summary"]
    assert "at least one source file could not be read" in result["summary"]


def test_incomplete_backup_names_ten_files_then_counts():
    errors = [{"item": f"/snap/homes/f{i:02}", "during": "archival", "message": "denied"}
              for i in range(13)]
    parsed = {"summary": {"snapshot_id": "abc"}, "errors": errors, "status_lines": 0}
    result = restic.outcome(3, V14, parsed, "")
    assert len(result["unreadable"]) == 13
    assert "/snap/homes/f09" in result["summary"]
    assert "/snap/homes/f10" not in result["summary"]
    assert "and 3 more" in result["summary"]


def test_incomplete_backup_counts_each_file_once():
    _, stderr = run(None, "backup-unreadable.stderr")
    parsed = restic.parse_backup(fixture("backup-unreadable.jsonl"), stderr)
    assert restic.outcome(3, V14, parsed, stderr)["unreadable"] == [
        "/tmp/rbk/data/docs/private.key"]


@pytest.mark.parametrize("stderr_fixture, expected", [
    ("wrong-password.stderr", "Fatal: wrong password or no key found"),
    ("no-repository.stderr", "Fatal: unable to open config file: stat "
                             "/tmp/rbk/no-such-repo/config: no such file or directory"),
    ("backup-locked.stderr", "repository is already locked exclusively by PID"),
])
def test_fatal_error_keeps_restic_s_reason(stderr_fixture, expected):
    parsed, stderr = run(None, stderr_fixture)
    result = restic.outcome(1, V14, parsed, stderr)
    assert not result["ok"] and result["severity"] == "critical"
    assert expected in result["summary"]
    assert "\n" not in result["summary"]


def test_the_reason_is_the_fatal_line_not_the_hint_after_it():
    assert restic.error_line(fixture("no-repository.stderr")).startswith("Fatal:")
    assert restic.error_line(fixture("forget-locked.stderr")).startswith(
        "unable to create lock in backend: repository is already locked exclusively")


def test_without_a_known_cause_the_last_line_counts():
    assert restic.error_line("something\nrclone: connection refused\n\n") == \
        "rclone: connection refused"
    assert restic.error_line("") == ""


@pytest.mark.parametrize("code, words", [
    (10, "does not exist (run ts-backup init)"),
    (11, "locked"),
    (12, "wrong password"),
])
def test_specific_exit_codes_from_017(code, words):
    result = restic.outcome(code, V17, restic.parse_backup(""), "Fatal: something\n")
    assert not result["ok"] and result["severity"] == "critical"
    assert words in result["summary"] and "Fatal: something" in result["summary"]


@pytest.mark.parametrize("code", [10, 11, 12])
def test_specific_exit_codes_mean_nothing_before_017(code):
    result = restic.outcome(code, V14, restic.parse_backup(""), "Fatal: something\n")
    assert result["severity"] == "critical"
    assert "ts-backup init" not in result["summary"]
    assert "password" not in result["summary"] and "locked" not in result["summary"]
    assert f"exit {code}" in result["summary"] and "Fatal: something" in result["summary"]


def test_interrupted():
    parsed, stderr = run("backup-interrupted.jsonl", "backup-interrupted.stderr")
    result = restic.outcome(130, V14, parsed, stderr)
    assert not result["ok"] and result["severity"] == "critical"
    assert "interrupted" in result["summary"]
    # The recorded stderr starts with a terminal escape (ESC [2K); it must not reach an alert.
    assert "\x1b" not in result["summary"]
    assert "signal interrupt received, cleaning up" in result["summary"]


def test_unknown_exit_code():
    result = restic.outcome(2, V17, restic.parse_backup(""), "")
    assert result["severity"] == "critical" and "exit 2" in result["summary"]


def test_a_failure_without_stderr_still_says_its_code():
    result = restic.outcome(1, V14, restic.parse_backup(""), "")
    assert result["summary"] == "backup failed (exit 1)"


def test_a_restore_with_errors_names_the_first_one_not_only_their_number():
    """A sandbox without CAP_CHOWN made verify's restore fail with only "There were 5 errors"."""
    assert restic.error_line(fixture("restore-no-chown.stderr")) == (
        "Fatal: There were 3 errors; the first: /tmp/rrs/src/sub/f: Lchown: lchown "
        "/tmp/rrs/out/x14/tmp/rrs/src/sub/f: operation not permitted")


# ---------------------------------------------------------------- issue 14: causes and packs

def test_a_fatal_line_glued_to_the_unlock_error_is_the_cause_with_rclone_s_reason():
    """restic 0.14 prints "error while unlocking: ...Fatal: ..." as one line and then "error in
    cleanup handler: blob not removed ...": the alert must say why the backup failed."""
    found = restic.error_line(fixture("backup-remote-failed.stderr"))
    assert found.startswith("Fatal: unable to save snapshot: server response unexpected: "
                            "500 Internal Server Error (500)"), found
    assert "cleanup handler" not in found and "blob not removed" not in found
    # The remote's own reason, from rclone's first error line, not a later one about the lock.
    assert "(rclone: Post request put error: mkdir /tmp/rx/repo/data/" in found, found
    assert found.endswith("operation not permitted)") and "\n" not in found


def test_the_remote_failure_is_the_backup_s_summary():
    result = restic.outcome(1, V14, restic.parse_backup(""),
                            fixture("backup-remote-failed.stderr"))
    assert result["summary"].startswith("backup failed (exit 1): Fatal: unable to save snapshot")


@pytest.mark.parametrize("stderr_fixture", ["no-repository.stderr",
                                            "no-repository-rclone.stderr"])
def test_a_missing_repository_suggests_init_with_014(stderr_fixture):
    result = restic.outcome(1, V14, restic.parse_backup(""), fixture(stderr_fixture))
    assert "run ts-backup init" in result["summary"], result["summary"]
    assert "unable to open config file" in result["summary"]
    assert restic.missing_repository(fixture(stderr_fixture))


def test_a_missing_repository_suggests_init_once_with_018():
    stderr = fixture("restic-0.18/no-repository.stderr")
    result = restic.outcome(10, (0, 18, 0), restic.parse_backup(""), stderr)
    assert result["summary"].count("ts-backup init") == 1, result["summary"]


def test_other_failures_do_not_suggest_init():
    for name in ("wrong-password.stderr", "backup-locked.stderr", "backup-remote-failed.stderr"):
        assert not restic.missing_repository(fixture(name))
        assert "init" not in restic.outcome(1, V14, restic.parse_backup(""),
                                            fixture(name))["summary"]


@pytest.mark.parametrize("name, pack, why", [
    ("check-read-data-corrupt.stderr",
     "742dd9927942a908f7e657a88c86905267b59bd092ec247785815090549ebb5d",
     "Pack ID does not match"),
    ("check-truncated.stderr",
     "c9c82a4c7a46f691cb866392d899357b944f29c2d76924a201e60f71b6af0233",
     "unexpected file size: got 1000, expected 13090293"),
    ("check-missing.stderr",
     "c9c82a4c7a46f691cb866392d899357b944f29c2d76924a201e60f71b6af0233", "does not exist"),
    ("restic-0.18/check-read-data-corrupt.stderr",
     "e46ad21f8b83c103c989bea864bcbc9c83d39a81b29696aa1226237af39e58bc", "contains 2 errors"),
    ("restic-0.18/check-truncated.stderr",
     "fdfa938a49d3076e03e9c3c3bb017bc45d3c20e4fa2ac2fc0e41cc10bb557063",
     "unexpected file size"),
])
def test_check_names_the_damaged_pack(name, pack, why):
    damaged = restic.damaged_packs(fixture(name))
    assert list(damaged) == [pack]
    assert why in damaged[pack]


def test_a_clean_check_names_no_pack():
    assert restic.damaged_packs("no errors were found\n") == {}
    assert restic.damaged_packs(fixture("backup-locked.stderr")) == {}
