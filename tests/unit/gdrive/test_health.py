"""Mount facts and restart history -> findings: hung before dead before missing, a repair is
a warning until restarts_critical repairs fall within the window, a failed repair is
critical."""

import errno

import pytest

from trainserver.core.findings import Severity
from trainserver.gdrive import health
from trainserver.gdrive.health import MountFacts, assess

POINT = "/mnt/storage/shared"


@pytest.mark.parametrize("facts,kind,words", [
    (MountFacts(POINT, True, "fuse.rclone", "ok", pid=7, process="running"), None, None),
    (MountFacts(POINT, True, "fuse.rclone", "ok"), None, None),  # no record: judged by stat
    (MountFacts(POINT, True, "fuse.rclone", "timeout", pid=7, process="stopped"),
     health.HUNG, "did not return within 10 s; rclone (PID 7) is stopped"),
    (MountFacts(POINT, True, "fuse.rclone", "timeout"), health.HUNG, "did not return"),
    (MountFacts(POINT, True, "fuse.rclone", "ok", pid=7, process="stopped"), health.HUNG,
     "stopped"),
    (MountFacts(POINT, True, "fuse.rclone", "error", errno.ENOTCONN, "Transport endpoint",
                pid=7, process="gone"), health.DEAD, "PID 7) is gone"),
    (MountFacts(POINT, True, "fuse.rclone", "error", errno.ENOTCONN, "Transport endpoint"),
     health.DEAD, "not connected"),
    (MountFacts(POINT, False, None, "skipped", pid=7, process="zombie"), health.DEAD,
     "zombie"),
    (MountFacts(POINT, False, None, "skipped", pid=7, process="other"), health.DEAD,
     "no longer rclone"),
    (MountFacts(POINT, False, None, "skipped"), health.MISSING, "nothing is mounted"),
    (MountFacts(POINT, True, "fuse.rclone", "error", errno.EIO, "Input/output error",
                pid=7, process="running"), health.DEAD, "Input/output error"),
])
def test_assessment(facts, kind, words):
    problem = assess(facts, 10)
    if kind is None:
        assert problem is None
    else:
        assert problem.kind == kind and words in problem.summary, problem


def test_restarts_count_within_the_window_and_turn_critical():
    problem = health.Problem(health.DEAD, "rclone is gone")
    now = 100_000
    history = [now - 4000, now - 3000, now - 10]  # the first is outside 1 h
    recent = health.within(history + [now], now, 3600)
    assert recent == [now - 3000, now - 10, now]
    critical = health.repair_finding(POINT, problem, None, recent, 3, "1 h")
    assert critical.severity is Severity.CRITICAL and "3rd restart within 1 h" in \
        critical.summary and "keeps failing" in critical.summary
    warning = health.repair_finding(POINT, problem, None, recent[-2:], 3, "1 h")
    assert warning.severity is Severity.WARNING and "works again" in warning.summary
    failed = health.repair_finding(POINT, problem, "systemctl failed: x", [now], 3, "1 h")
    assert failed.severity is Severity.CRITICAL and "did not bring it back" in failed.summary


def test_quiet_findings_and_the_cache_floor():
    assert health.not_set_up_finding(POINT, "no rclone.conf").severity is Severity.OK
    ok = health.healthy_finding(POINT, "fuse.rclone", [], "1 h")
    assert ok.severity is Severity.OK and ok.key == ("gdrive-mount", "mount", POINT)
    assert health.cache_finding("/c", 2**20, 2**30).severity is Severity.WARNING
    assert "too full" in health.cache_finding("/c", 2**20, 2**30).summary
    assert health.cache_finding("/c", 2**31, 2**30).severity is Severity.OK
    assert health.cache_finding("/c", None, 2**30) is None
    dry = health.dry_run_finding(POINT, health.Problem(health.HUNG, "hung"))
    assert "would kill rclone" in dry.summary


def test_ordinals():
    assert [health.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd"]
