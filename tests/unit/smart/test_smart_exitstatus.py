"""smartctl's exit status is a bit mask: only bits 3, 4 and 7 mean a failing disk."""

import pytest
from smartfixtures import fixture_json

from trainserver.core.findings import Severity
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


def test_bits_and_names():
    assert exitstatus.bits(216) == [3, 4, 6, 7]
    assert exitstatus.describe(0) == "0: no bit set"
    assert exitstatus.describe(64) == "64: bit 6 (the device error log contains records of errors)"
    assert exitstatus.describe(2) == (
        "2: bit 1 (device open failed, no IDENTIFY data, or device in a low-power mode)")
    assert exitstatus.describe(128) == "128: bit 7 (the device self-test log contains records of errors)"
    assert set(exitstatus.BIT_NAMES) == set(range(8))


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


@pytest.mark.parametrize("status,bit", [(8, 3), (16, 4), (128, 7)])
def test_failing_bits_are_critical(status, bit):
    finding = finding_for_status(status)
    assert finding.severity == Severity.CRITICAL
    assert f"bit {bit} ({exitstatus.BIT_NAMES[bit]})" in finding.summary


def test_bit_2_with_data_is_unknown_but_the_data_is_still_checked():
    document = fixture_json("sata-hdd-healthy_wdc-wd140edfz.json")
    document["smartctl"]["exit_status"] = 4
    findings = {f.check: f for f in thresholds.evaluate(parse.parse(document, "/dev/sdb"), {}, 60)}
    assert findings["smartctl"].severity == Severity.UNKNOWN
    assert findings["health"].severity == Severity.OK
    assert findings["reallocated"].severity == Severity.OK


def test_json_without_exit_status_uses_the_process_status():
    document = fixture_json("sata-hdd-healthy_wdc-wd140edfz.json")
    del document["smartctl"]["exit_status"]
    assert parse.parse(document, "/dev/sdb", returncode=64).exit_status == 64
