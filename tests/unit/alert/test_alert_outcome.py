"""What ts-alert pipe adds for a command's end: a status never vanishes into "ok"."""

import signal

import pytest

from trainserver.alert.outcome import run_finding, severity_of
from trainserver.core.findings import Finding, Severity

ARGV = ["/usr/bin/ts-backup", "--config", "/etc/t.toml", "run", "--json"]


def f(severity, check="backup"):
    return Finding("backup", check, "rclone:gdrive:x", Severity.parse(severity), "s")


def test_the_key_is_the_tool_and_its_subcommand_as_the_boundary_names_them():
    found = run_finding(ARGV, 0, [f("ok")])
    assert found.key == ("backup", "run", "ts-backup run")
    assert found.severity == Severity.OK


@pytest.mark.parametrize("status,findings", [
    (0, []), (0, ["critical"]), (1, ["warning"]), (2, ["ok", "critical"]), (3, ["unknown"]),
    (3, ["critical"]), (1, ["critical"]),
])
def test_a_status_its_findings_explain_is_an_ok_run(status, findings):
    assert run_finding(ARGV, status, [f(s) for s in findings]).severity == Severity.OK


@pytest.mark.parametrize("status,findings,severity", [
    (1, [], Severity.CRITICAL),  # the old "action failed" exit with nothing said: the bug
    (2, [], Severity.CRITICAL),
    (2, ["warning"], Severity.CRITICAL),
    (3, [], Severity.UNKNOWN),
    (70, [], Severity.CRITICAL),
    (75, ["ok"], Severity.CRITICAL),
    (127, [], Severity.CRITICAL),
])
def test_a_status_nothing_explains_is_a_finding_from_stderr(status, findings, severity):
    found = run_finding(ARGV, status, [f(s) for s in findings],
                        stderr="starting\nts-backup: error: rclone.conf does not exist\n")
    assert found.severity == severity
    assert found.summary.startswith(f"ts-backup run exited {status}")
    assert found.summary.endswith("starting / ts-backup: error: rclone.conf does not exist")
    assert found.value == status


def test_the_old_exit_1_of_a_failed_backup_is_critical_not_a_warning():
    found = run_finding(ARGV, 1, [], stderr="ts-backup: error: /etc/trainserver/rclone.conf "
                                            "does not exist\n")
    assert found.severity == Severity.CRITICAL
    assert "exited 1 (warning) without reporting a finding" in found.summary


def test_a_kill_is_critical_and_named():
    found = run_finding(ARGV, -signal.SIGKILL, [])
    assert found.severity == Severity.CRITICAL
    assert "was killed by SIGKILL" in found.summary


def test_a_command_that_could_not_start_or_timed_out():
    found = run_finding(["/usr/bin/ts-smart", "check"], None, [], problem="timed out after 3600 s")
    assert (found.severity, found.summary) == (Severity.CRITICAL,
                                              "ts-smart check timed out after 3600 s")
    assert found.key == ("smart", "run", "ts-smart check")


def test_a_command_that_reported_its_own_run_finding_is_taken_at_its_word():
    own = Finding("backup", "run", "ts-backup run", Severity.CRITICAL, "could not do its job")
    assert run_finding(ARGV, 2, [own]) is None
    assert run_finding(ARGV, 75, [own]) is None


def test_lines_that_are_not_findings_are_not_ok():
    assert run_finding(ARGV, 0, [f("ok")], bad_lines=2).severity == Severity.UNKNOWN
    assert "2 output lines were not findings" in run_finding(ARGV, 2, [f("critical")],
                                                             bad_lines=2).summary


def test_severity_of_each_status():
    assert [severity_of(s) for s in (0, 1, 2, 3, 4, 70, -9)] == [
        Severity.OK, Severity.WARNING, Severity.CRITICAL, Severity.UNKNOWN, Severity.CRITICAL,
        Severity.CRITICAL, Severity.CRITICAL]
