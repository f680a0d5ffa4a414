"""Findings, status record and metrics of a backup run; bindrun's command line; set names."""

import pytest

from trainserver.backup import bindrun, report, snapset
from trainserver.core.metrics import render

REPO = "rclone:gdrive:trainserver-backup"
SUMMARY = {"snapshot_id": "6ea2b202", "files_new": 3, "files_changed": 1, "data_added": 4096}


def done(**extra):
    result = report.RunResult(started=1000.0, repository=REPO, finished=1012.5,
                              backup={"ok": True, "summary": "backup done, snapshot 6ea2b202"},
                              summary=SUMMARY,
                              forget={"ok": True, "removed": 1, "summary": "kept 7"})
    for key, value in extra.items():
        setattr(result, key, value)
    return result


def test_a_good_run_is_ok_and_becomes_the_last_success():
    found = {f.check: f for f in report.findings(done())}
    assert found["backup"].severity.label == "ok" and found["backup"].value == 4096
    assert found["forget"].severity.label == "ok"
    record = report.status_record(done(), {})
    assert record["last_success"] == record["last_run"]
    assert record["last_run"]["duration"] == 12.5
    text = render(report.metrics(record))
    assert "trainserver_backup_last_run_ok 1\n" in text
    assert "trainserver_backup_bytes_added 4096\n" in text
    assert "trainserver_backup_last_success_timestamp_seconds 1000\n" in text
    assert 'trainserver_backup_last_success_info{snapshot_id="6ea2b202"} 1\n' in text


def test_a_failed_run_is_critical_and_keeps_the_previous_success():
    failed = done(backup={"ok": False, "summary": "backup failed (exit 1): Fatal: wrong password"},
                  summary=None, forget=None)
    [finding] = report.findings(failed)
    assert finding.severity.label == "critical" and "wrong password" in finding.summary
    previous = report.status_record(done(), {})
    record = report.status_record(failed, previous)
    assert record["last_run"]["ok"] is False
    assert record["last_success"] == previous["last_success"]
    assert "trainserver_backup_last_run_ok 0\n" in render(report.metrics(record))


def test_a_problem_before_restic_and_skipped_subvolumes_are_reported():
    stopped = done(backup=None, summary=None, forget=None, problem="nothing to back up",
                   skipped=[("docker-volumes", "does not exist")])
    found = report.findings(stopped)
    assert [(f.check, f.severity.label) for f in found] == [("source", "warning"),
                                                             ("backup", "critical")]
    assert found[1].summary == "nothing to back up"
    record = report.status_record(stopped, None)
    assert record["last_success"] is None
    assert "last_success" not in render(report.metrics(record))


def test_feature_flags_are_recorded_and_an_unread_list_is_a_warning():
    flagged = done(feature_flags="device-id-for-hardlinks", summary=dict(SUMMARY, dirs_changed=2))
    assert [f.check for f in report.findings(flagged)] == ["backup", "forget"]
    run = report.status_record(flagged, {})["last_run"]
    assert run["restic_features"] == "device-id-for-hardlinks" and run["dirs_changed"] == 2
    unread = done(feature_problem="`restic features` could not be read (exit 1: boom)")
    found = {f.check: f for f in report.findings(unread)}
    # The backup itself stands: the flags only make it smaller.
    assert found["backup"].severity.label == "ok"
    assert found["restic-features"].severity.label == "warning"
    assert "boom" in found["restic-features"].summary
    assert report.status_record(unread, {})["last_run"]["ok"] is True


def test_bindrun_binds_parents_before_nested_subvolumes():
    binds, program = bindrun.parse(["/s/b%2Fx%2Fy=/m/b/x/y", "/s/b%2Fx=/m/b/x", "/s/d=/m/d",
                                    "--", "restic", "backup"])
    assert binds[0] == ("/s/d", "/m/d") and binds[1] == ("/s/b%2Fx", "/m/b/x")
    assert binds[2] == ("/s/b%2Fx%2Fy", "/m/b/x/y")
    assert program == ["restic", "backup"]
    for bad in (["/s=/m"], ["s=/m", "--", "x"], ["/s", "--", "x"], ["/s=/m", "--"]):
        with pytest.raises(ValueError):
            bindrun.parse(bad)


def test_set_names_are_flat_and_reversible():
    assert snapset.entry_name("homes/alice/proj") == "homes%2Falice%2Fproj"
    assert snapset.entry_path("homes%2Falice%2Fproj") == "homes/alice/proj"
    assert snapset.entry_name("odd%name") != snapset.entry_name("odd/name")
    assert snapset.stamp(1795852800) == "20261128T080000Z"


def test_the_reason_rclone_gives_is_kept_in_restics_error_line():
    from trainserver.backup import restic

    # restic 0.14 and rclone 1.60 here, an sftp remote on a closed port.
    stderr = ('rclone: 2026/11/28 19:26:23 Failed to create file system for "offline:/repo": '
              'NewFs: couldn\'t connect SSH: dial tcp 127.0.0.1:1: connect: connection refused\n'
              'Fatal: unable to open repository at rclone:offline:/repo: error talking HTTP to '
              'rclone: Get "http://localhost/file-5577006791947779410": unexpected EOF\n')
    line = restic.error_line(stderr)
    assert line.startswith("Fatal: unable to open repository at rclone:offline:/repo")
    assert line.endswith("(rclone: NewFs: couldn't connect SSH: dial tcp 127.0.0.1:1: connect: "
                         "connection refused)")
