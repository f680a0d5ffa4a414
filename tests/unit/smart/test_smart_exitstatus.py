"""smartctl's exit status is a bit mask: only bits 3, 4 and 7 mean a failing disk."""

import re

import pytest
from smartfixtures import fixture_json

from trainserver.core.findings import Severity, exit_status
from trainserver.smart import exitstatus, parse, thresholds


@pytest.mark.parametrize("status,severity", [
    (0, Severity.OK),
    (64, Severity.OK),  # error log has old records: common on healthy drives
    (32, Severity.OK),  # an attribute was at its threshold in the past (when-failed warns)
    (96, Severity.OK),
    (8, Severity.CRITICAL),
    (16, Severity.CRITICAL),
    (128, Severity.CRITICAL),
    (2, Severity.UNKNOWN),
    (1, Severity.UNKNOWN),
    (4, Severity.UNKNOWN),
    (4 | 64, Severity.UNKNOWN),
    (2 | 8, Severity.CRITICAL),  # failing outranks unreadable
    (216, Severity.CRITICAL),
])
def test_severity(status, severity):
    assert exitstatus.severity(status) == severity


@pytest.mark.parametrize("status,severity", [
    (4, Severity.OK),  # an optional log could not be read; the data that was read is checked
    (4 | 64, Severity.OK),
    (4 | 16, Severity.CRITICAL),
    (2, Severity.UNKNOWN),
    (1 | 4, Severity.UNKNOWN),
])
def test_severity_when_the_disks_data_was_read(status, severity):
    assert exitstatus.severity(status, has_data=True) == severity


def test_bits_and_names():
    assert exitstatus.bits(216) == [3, 4, 6, 7]
    assert exitstatus.describe(0) == "0: no bit set"
    assert exitstatus.describe(64) == "64: bit 6 (the device error log contains records of errors)"
    assert exitstatus.describe(2) == (
        "2: bit 1 (device open failed, no IDENTIFY data, or device in a low-power mode)")
    assert exitstatus.describe(128) == "128: bit 7 (the device self-test log contains records of errors)"
    # Any byte smartctl can exit with is described, every bit by its own name.
    named = re.findall(r"bit (\d) \(([^)]+)\)", exitstatus.describe(255))
    assert [int(bit) for bit, _ in named] == list(range(8))
    assert len({name for _, name in named}) == 8


def finding_for_status(status):
    """The smartctl finding of the healthy WDC fixture with its exit status replaced."""
    document = fixture_json("sata-hdd-healthy_wdc-wd140edfz.json")
    document["smartctl"]["exit_status"] = status
    return thresholds.smartctl_finding(parse.parse(document, "/dev/sdb"))


def test_healthy_64_is_ok_and_named():
    finding = finding_for_status(64)
    assert finding.severity == Severity.OK
    assert finding.value == 64
    assert finding.summary == ("/dev/sdb: smartctl exit status 64: bit 6 (the device error log "
                               "contains records of errors)")


@pytest.mark.parametrize("status,words", [
    (8, "bit 3 (SMART status check returned DISK FAILING)"),
    (16, "bit 4 (prefail attributes at or below their threshold)"),
    (128, "bit 7 (the device self-test log contains records of errors)"),
])
def test_failing_bits_are_critical(status, words):
    finding = finding_for_status(status)
    assert finding.severity == Severity.CRITICAL
    assert words in finding.summary


# What smartctl says when --xall asks a disk for a log it does not keep (bit 2 is set).
OPTIONAL_LOGS_FAILED = [
    {"string": "Read SMART Thresholds failed: scsi error aborted command", "severity": "error"},
    {"string": "Device does not support Self Test logging", "severity": "error"},
]


def test_bit_2_with_data_is_ok_names_the_failed_commands_and_the_data_is_checked():
    document = fixture_json("sata-hdd-healthy_wdc-wd140edfz.json")
    document["smartctl"]["exit_status"] = 4
    document["smartctl"]["messages"] = OPTIONAL_LOGS_FAILED
    findings = {f.check: f for f in thresholds.evaluate(parse.parse(document, "/dev/sdb"), {}, 60)}
    assert findings["smartctl"].severity == Severity.OK
    assert findings["smartctl"].value == 4
    assert findings["smartctl"].summary == (
        "/dev/sdb: smartctl read the disk, except what this disk most likely does not support: "
        "Read SMART Thresholds failed: scsi error aborted command; "
        "Device does not support Self Test logging (exit status 4: bit 2 (some command failed))")
    assert findings["health"].severity == Severity.OK
    assert findings["reallocated"].severity == Severity.OK
    # A healthy disk whose optional logs cannot be read exits 0 every night, not 3.
    assert exit_status(findings.values()) == 0


def test_bit_2_with_a_failing_disk_is_still_critical():
    document = fixture_json("sata-hdd-healthy_wdc-wd140edfz.json")
    document["smartctl"]["exit_status"] = 4 | 8
    document["smartctl"]["messages"] = OPTIONAL_LOGS_FAILED
    finding = thresholds.smartctl_finding(parse.parse(document, "/dev/sdb"))
    assert finding.severity == Severity.CRITICAL
    assert "most likely does not support" not in finding.summary  # no reassurance when failing
    assert "some SMART commands failed: Read SMART Thresholds failed" in finding.summary


def test_bit_2_without_a_message_and_with_other_bits_says_so():
    document = fixture_json("sata-hdd-healthy_wdc-wd140edfz.json")
    document["smartctl"]["exit_status"] = 4 | 64
    document["smartctl"]["messages"] = []
    finding = thresholds.smartctl_finding(parse.parse(document, "/dev/sdb"))
    assert finding.severity == Severity.OK
    assert finding.summary == (
        "/dev/sdb: smartctl read the disk, except something it did not name, most likely not "
        "supported by this disk (exit status 68: bit 2 (some command failed), bit 6 (the device "
        "error log contains records of errors))")


def test_bit_2_when_nothing_was_read_is_unknown():
    document = fixture_json("smartctl-error-exit2_no-device-data.json")
    document["smartctl"]["exit_status"] = 4
    report = parse.parse(document, "/dev/sda")
    assert not report.has_data
    finding = thresholds.smartctl_finding(report)
    assert finding.severity == Severity.UNKNOWN
    assert "smartctl could not read the disk" in finding.summary


def test_json_without_exit_status_uses_the_process_status():
    document = fixture_json("sata-hdd-healthy_wdc-wd140edfz.json")
    del document["smartctl"]["exit_status"]
    assert parse.parse(document, "/dev/sdb", returncode=64).exit_status == 64
