"""The shipped units follow the suite's conventions, docs/design.md's schedule, the exit-status
contract (trainserver(7)) and their sandbox targets."""

import configparser
import glob
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNITS = os.path.join(ROOT, "systemd")

# docs/design.md, "Schedules": timer -> (normalized OnCalendar, must be Persistent)
SCHEDULE = {
    "ts-smart.timer": ("*-*-* 03:00:00", True),
    "ts-gpu-temp.timer": ("*-*-* *:00/15:00", False),
    "ts-oom.timer": ("*-*-* *:00/30:00", False),
    # hourly, and daily 02:00 and weekly Sun 03:00 through retention: one timer (docs/design.md)
    "ts-snapshot.timer": ("*-*-* *:00:00", True),
    "ts-storage.timer": ("*-*-* 00/6:00:00", True),  # BTRFS health every 6 h
    "ts-storage-scrub.timer": ("*-*-01 00:00:00", True),  # scrub monthly
    "ts-backup.timer": ("*-*-* 06:00:00", True),  # restic backup daily 06:00
    "ts-backup-verify.timer": ("*-*-01 08:00:00", True),  # restore verification on the 1st
    "ts-backup-prune.timer": ("Sun *-*-* 09:00:00", True),  # prune on its own schedule
    "ts-alert-overdue.timer": ("*-*-* *:30:00", False),  # every job's age, hourly
    "ts-alert-flush.timer": ("*-*-* *:07/15:00", False),  # queued alerts retried
    "ts-quota.timer": ("*-*-* 06:25:00", True),  # user quotas daily 06:25
    "ts-quota-digest.timer": ("*-*-01 09:00:00", True),  # the monthly quota reminder
    "ts-doctor-digest.timer": ("*-*-01 09:15:00", True),  # the monthly maintenance digest
    "ts-gdrive-mount-check.timer": ("*-*-* *:00/5:00", False),  # Drive mount health, 5 min
    "ts-tunnel.timer": ("*-*-* *:00/5:00", False),  # the Cloudflare tunnel connected, 5 min
    "ts-gdrive-mount-resize.timer": ("*-*-* 05:30:00", True),  # the Drive cache size, daily
    "ts-sync.timer": ("*-*-* 04:00:00", True),  # GCS->Drive sync daily 04:00
    "ts-ups.timer": ("*-*-* *:00/15:00", False),  # UPS health, every 15 min
    "ts-firewall.timer": ("*-*-* *:40:00", False),  # UFW, fail2ban, Docker's ports, hourly
}
FAILURE_TEMPLATE = "ts-unit-failed@.service"
# The commands each piped service runs (after `ts-alert pipe --queue-only [--timeout D] --`).
PIPED = {
    "ts-smart.service": ["/usr/bin/ts-smart", "check", "--json"],
    "ts-gpu-temp.service": ["/usr/bin/ts-gpu-temp", "check", "--json"],
    "ts-oom.service": ["/usr/bin/ts-oom", "check", "--json"],
    "ts-storage.service": ["/usr/bin/ts-storage", "check", "--json"],
    "ts-storage-scrub.service": ["/usr/bin/ts-storage", "scrub", "--json"],
    "ts-snapshot.service": ["/usr/bin/ts-snapshot", "run", "--json"],
    "ts-backup.service": ["/usr/bin/ts-backup", "run", "--json"],
    "ts-backup-verify.service": ["/usr/bin/ts-backup", "verify", "--json"],
    "ts-backup-prune.service": ["/usr/bin/ts-backup", "prune", "--json"],
    "ts-alert-overdue.service": ["/usr/bin/ts-alert", "overdue", "--json"],
    "ts-quota.service": ["/usr/bin/ts-quota", "report", "--json"],
    "ts-gdrive-mount-check.service": ["/usr/bin/ts-gdrive-mount", "check", "--json"],
    "ts-tunnel.service": ["/usr/bin/ts-tunnel", "check", "--json"],
    "ts-gdrive-mount-resize.service": ["/usr/bin/ts-gdrive-mount", "resize", "--json"],
    "ts-sync.service": ["/usr/bin/ts-sync", "run", "--json"],
    "ts-ups.service": ["/usr/bin/ts-ups", "check", "--json"],
    "ts-firewall.service": ["/usr/bin/ts-firewall", "check", "--json"],
}
# Services whose output is one message, not findings: `ts-alert notice --queue-only --`.
NOTICES = {
    "ts-quota-digest.service": ["/usr/bin/ts-quota", "digest"],
    "ts-doctor-digest.service": ["/usr/bin/ts-doctor", "digest"],
}
# Units that talk to the network: restic through rclone, and the two that deliver alerts.
NETWORKED = {"ts-backup.service", "ts-backup-verify.service", "ts-backup-prune.service",
             "ts-alert-flush.service", FAILURE_TEMPLATE,
             "ts-sync.service",  # GCS and Drive, and rclone's remote control on 127.0.0.1
             "ts-gdrive-mount.service",  # the Drive mount itself
             "ts-gdrive-mount-resize.service",  # 127.0.0.1 only: rclone's remote control
             "ts-tunnel.service",  # the loopback only: cloudflared's published /ready
             "ts-doctor-digest.service",  # the loopback only: NUT's upsd, through ts-ups
             "ts-ups.service"}  # upsc to upsd, here or on the host [ups] name names
# Units that read the host's own firewall rules (netlink): no other network at all.
HOST_RULES = {"ts-firewall.service"}
# Long-running services, enabled by their own setup command, not by a timer.
DAEMONS = {"ts-gdrive-mount.service"}
# systemd-analyze security --offline=yes: the targets (checks 5.0; snapshot and
# backup, which change the storage and need a mount namespace and the network, 7.0), and 5.0
# for every other unit.
EXPOSURE = {"ts-snapshot.service": 7.0, "ts-backup.service": 7.0}
DEFAULT_EXPOSURE = 5.0


def parse(path):
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str
    parser.read(path)
    return parser


def services():
    return sorted(glob.glob(os.path.join(UNITS, "*.service")))


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
    assert "man:" in unit["Unit"]["Documentation"]
    if name in DAEMONS:
        return
    assert unit["Service"]["Type"] == "oneshot"
    assert not unit.has_section("Install"), "services are started by their timers only"
    if name == FAILURE_TEMPLATE:
        return
    assert unit["Unit"]["OnFailure"] == "ts-unit-failed@%n.service"
    assert os.path.exists(path.replace(".service", ".timer")), f"{name} has no timer"


@pytest.mark.parametrize("name", sorted(PIPED))
def test_piped_services_report_through_ts_alert_and_list_only_its_success(name):
    """1, 2 and 3 are pipe's own report that the news went to ts-alert; 75 (a lock held too
    long), 70 (a crash) and the rest are not success: they reach OnFailure=."""
    service = parse(os.path.join(UNITS, name))["Service"]
    argv = service["ExecStart"].split()
    assert argv[:3] == ["/usr/bin/ts-alert", "pipe", "--queue-only"]
    assert argv[argv.index("--") + 1:] == PIPED[name]
    assert service["SuccessExitStatus"].split() == ["1", "2", "3"]


def test_every_service_with_a_timer_is_piped_or_delivers():
    names = {os.path.basename(p) for p in services()} - {FAILURE_TEMPLATE} - DAEMONS
    assert names == set(PIPED) | set(NOTICES) | {"ts-alert-flush.service"}


# Options that give a unit its own mount namespace: a FUSE mount made in one is not seen by
# anyone else (systemd.exec(5), MountFlags=).
NAMESPACING = ("ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateMounts",
               "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths", "ProtectKernelTunables",
               "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
               "ProtectProc", "ProcSubset", "TemporaryFileSystem", "BindPaths",
               "BindReadOnlyPaths", "StateDirectory", "CacheDirectory", "LogsDirectory",
               "RuntimeDirectory", "ConfigurationDirectory", "MountFlags", "ProtectHostname")


def test_the_drive_mount_is_a_notify_daemon_whose_mount_the_host_sees():
    unit = parse(os.path.join(UNITS, "ts-gdrive-mount.service"))
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["Restart"] == "on-failure"
    assert service["ExecStart"] == "/usr/bin/ts-gdrive-mount serve"
    assert service["ExecStopPost"] == "-/usr/bin/ts-gdrive-mount unmount"
    assert unit["Unit"]["OnFailure"] == "ts-unit-failed@%n.service"
    assert "/mnt/storage" in unit["Unit"]["RequiresMountsFor"].split()
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "/dev/fuse rw" in service["DeviceAllow"]
    assert [key for key in NAMESPACING if key in service] == []


@pytest.mark.parametrize("name", sorted(NOTICES))
def test_notice_services_send_one_message_and_fail_when_it_fails(name):
    """A digest that could not be made sends nothing and exits 2: only 0 is success."""
    service = parse(os.path.join(UNITS, name))["Service"]
    argv = service["ExecStart"].split()
    assert argv[:4] == ["/usr/bin/ts-alert", "notice", "--queue-only", "--"]
    assert argv[4:] == NOTICES[name]
    assert "SuccessExitStatus" not in service


def test_flush_counts_only_a_message_kept_for_later_as_success():
    service = parse(os.path.join(UNITS, "ts-alert-flush.service"))["Service"]
    assert service["ExecStart"] == "/usr/bin/ts-alert flush"
    assert service["SuccessExitStatus"].split() == ["75"]
    path = parse(os.path.join(UNITS, "ts-alert-flush.path"))
    # Level-triggered: checked again when a delivery ends, so no queued message waits for the
    # timer (PathChanged= loses an event that comes while the service runs).
    assert path["Path"]["PathExists"] == "/var/lib/trainserver/alert-outbox"
    assert service["ExecStartPre"] == "/bin/rm -f /var/lib/trainserver/alert-outbox"
    assert path["Path"]["Unit"] == "ts-alert-flush.service"
    assert path["Install"]["WantedBy"] == "paths.target"


@pytest.mark.parametrize("path", timers(), ids=os.path.basename)
def test_timer_schedule_is_designs(path):
    name = os.path.basename(path)
    assert name in SCHEDULE, f"add {name}'s schedule to SCHEDULE and to docs/design.md"
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


def test_snapshot_and_scrub_run_at_idle_io_and_long_jobs_get_time():
    snapshot = parse(os.path.join(UNITS, "ts-snapshot.service"))["Service"]
    assert snapshot["IOSchedulingClass"] == "idle"
    scrub = parse(os.path.join(UNITS, "ts-storage-scrub.service"))["Service"]
    assert "--timeout 7d" in scrub["ExecStart"]
    backup = parse(os.path.join(UNITS, "ts-backup.service"))["Service"]
    assert "--timeout 1d" in backup["ExecStart"]


@pytest.mark.parametrize("path", services(), ids=os.path.basename)
def test_no_network_for_units_that_need_none(path):
    service = parse(path)["Service"]
    families = service.get("RestrictAddressFamilies", "").split()
    if os.path.basename(path) in NETWORKED:
        assert {"AF_INET", "AF_INET6"} <= set(families)
    elif os.path.basename(path) in HOST_RULES:
        assert "PrivateNetwork" not in service, "the rules to read are the host's own"
        assert families == ["AF_UNIX", "AF_NETLINK"] and service["IPAddressDeny"] == "any"
    else:
        assert service["PrivateNetwork"] == "yes"
        assert families == ["AF_UNIX"]


def exposure(path):
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", path],
                            capture_output=True, text=True)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    return float(found.group(1))


@pytest.mark.parametrize("path", services(), ids=os.path.basename)
def test_sandbox_meets_its_exposure_target(path):
    name = os.path.basename(path)
    target = EXPOSURE.get(name, DEFAULT_EXPOSURE)
    assert exposure(path) <= target, f"{name}: systemd-analyze security rates it above {target}"
