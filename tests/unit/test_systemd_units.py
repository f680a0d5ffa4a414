"""The shipped units follow the suite's conventions and DESIGN.md's schedule."""

import configparser
import glob
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNITS = os.path.join(ROOT, "systemd")

# DESIGN.md, "Schedules": timer -> (normalized OnCalendar, must be Persistent)
SCHEDULE = {
    "ts-smart.timer": ("*-*-* 03:00:00", True),
    "ts-gpu-temp.timer": ("*-*-* *:00/15:00", False),
    "ts-oom.timer": ("*-*-* *:00/30:00", False),
    # hourly, and daily 02:00 and weekly Sun 03:00 through retention: one timer (DESIGN.md)
    "ts-snapshot.timer": ("*-*-* *:00:00", True),
    "ts-storage.timer": ("*-*-* 00/6:00:00", True),  # BTRFS health every 6 h
    "ts-storage-scrub.timer": ("*-*-01 00:00:00", True),  # scrub monthly
    "ts-backup.timer": ("*-*-* 06:00:00", True),  # restic backup daily 06:00
    "ts-backup-verify.timer": ("*-*-01 08:00:00", True),  # restore verification on the 1st
    "ts-backup-prune.timer": ("Sun *-*-* 09:00:00", True),  # prune on its own schedule
}
FAILURE_TEMPLATE = "ts-unit-failed@.service"
CHECKS = ["ts-smart", "ts-gpu-temp", "ts-oom", "ts-storage"]


def parse(path):
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str
    parser.read(path)
    return parser


def services():
    return sorted(p for p in glob.glob(os.path.join(UNITS, "*.service"))
                  if os.path.basename(p) != FAILURE_TEMPLATE)


def timers():
    return sorted(glob.glob(os.path.join(UNITS, "*.timer")))


def normalized(calendar):
    result = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True,
                            text=True, check=True)
    for line in result.stdout.splitlines():
        if "Normalized form:" in line:
            return line.split(":", 1)[1].strip()
    raise AssertionError(result.stdout)


@pytest.mark.parametrize("path", services(), ids=os.path.basename)
def test_service_conventions(path):
    unit = parse(path)
    name = os.path.basename(path)
    assert unit["Unit"]["OnFailure"] == "ts-unit-failed@%n.service"
    assert "man:" in unit["Unit"]["Documentation"]
    assert unit["Service"]["Type"] == "oneshot"
    assert "75" in unit["Service"]["SuccessExitStatus"].split(), "a held lock is not a failure"
    assert not unit.has_section("Install"), "services are started by their timers only"
    assert os.path.exists(path.replace(".service", ".timer")), f"{name} has no timer"


@pytest.mark.parametrize("path", timers(), ids=os.path.basename)
def test_timer_schedule_is_designs(path):
    name = os.path.basename(path)
    assert name in SCHEDULE, f"add {name}'s schedule from DESIGN.md to SCHEDULE"
    calendar, persistent = SCHEDULE[name]
    unit = parse(path)
    assert normalized(unit["Timer"]["OnCalendar"]) == calendar
    if persistent:
        assert unit["Timer"]["Persistent"] == "true"
    assert unit["Install"]["WantedBy"] == "timers.target"
    assert os.path.exists(path.replace(".timer", ".service"))


def test_failure_template_alerts_and_has_no_onfailure_loop():
    unit = parse(os.path.join(UNITS, FAILURE_TEMPLATE))
    assert unit["Service"]["ExecStart"] == "/usr/bin/ts-alert unit-failed %i"
    assert "OnFailure" not in unit["Unit"]


@pytest.mark.parametrize("tool", CHECKS)
def test_check_services_pipe_findings_through_ts_alert(tool):
    service = parse(os.path.join(UNITS, f"{tool}.service"))["Service"]
    assert service["ExecStart"].split() == ["/usr/bin/ts-alert", "pipe", "--", f"/usr/bin/{tool}",
                                            "check", "--json"]
    # 1 warning, 2 critical, 3 unknown are findings delivered by ts-alert, not unit failures
    assert set(service["SuccessExitStatus"].split()) == {"1", "2", "3", "75"}


def test_snapshot_service_runs_create_and_prune_through_ts_alert_at_idle_io():
    service = parse(os.path.join(UNITS, "ts-snapshot.service"))["Service"]
    assert service["ExecStart"].split() == ["/usr/bin/ts-alert", "pipe", "--",
                                            "/usr/bin/ts-snapshot", "run", "--json"]
    assert set(service["SuccessExitStatus"].split()) == {"1", "2", "3", "75"}
    assert service["IOSchedulingClass"] == "idle"


def test_scrub_service_gives_ts_alert_time_for_a_long_scrub():
    service = parse(os.path.join(UNITS, "ts-storage-scrub.service"))["Service"]
    assert service["ExecStart"].split() == ["/usr/bin/ts-alert", "pipe", "--timeout", "7d", "--",
                                            "/usr/bin/ts-storage", "scrub", "--json"]
    assert set(service["SuccessExitStatus"].split()) == {"1", "2", "3", "75"}
