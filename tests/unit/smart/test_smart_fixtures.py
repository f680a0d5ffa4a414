"""Every real smartctl output in tests/fixtures/smart, with its expected findings spelt out.

One finding per (disk, check); ok findings are part of the expectation, so a check that goes
missing fails here as surely as a wrong severity. Values are the ones the README lists.
"""

import glob
import os

import pytest
from smartfixtures import FIXTURES, fixture_text

from trainserver.core.findings import Severity
from trainserver.smart import assess

HITACHI = "sata-hdd-FAILED_hitachi_realloc1975-pending8-selftest-errors.json"

# fixture -> (device given to smartctl, subject, {check: (severity, value, threshold)})
EXPECTED = {
    "sata-hdd-healthy_wdc-wd140edfz.json": ("/dev/sdb", "WDC WD140EDFZ-11A0VA0 9RK1XXXX", {
        "smartctl": ("ok", 0, None),
        "health": ("ok", "passed", None),
        "temperature": ("ok", 32, 60),  # no limit of its own: [smart] temperature_warning
        "reallocated": ("ok", 0, 17),
        "pending": ("ok", 0, 1),
        "offline-uncorrectable": ("ok", 0, 1),
        "spin-retry": ("ok", 0, 1),
        "when-failed": ("ok", 0, None),
        "self-test": ("ok", 0, 0),  # 21 entries, no error
    }),
    "sata-ssd-healthy_samsung-860evo_full-xall.json": (
        "/dev/sda", "Samsung SSD 860 EVO 500GB S3YZNB0KB00864E", {
        "smartctl": ("ok", 0, None),
        "health": ("ok", "passed", None),
        "temperature": ("ok", 36, 70),  # temperature.op_limit_max from the drive
        "reallocated": ("ok", 0, 17),
        "reported-uncorrect": ("ok", 0, 1),
        "when-failed": ("ok", 0, None),
        "self-test": ("ok", 0, 0),
        }),
    HITACHI: (
        "/dev/sdc", "Hitachi HDS721050DLE630 MSK423Y20S3HBC", {
            "smartctl": ("critical", 216, None),  # bits 3, 4, 6, 7
            "health": ("critical", "failed", None),
            "temperature": ("ok", 25, 60),
            "reallocated": ("critical", 1975, 17),  # and when_failed = now
            "pending": ("critical", 8, 2),
            "offline-uncorrectable": ("ok", 0, 1),
            "spin-retry": ("ok", 0, 1),
            "when-failed": ("critical", 1, None),
            "self-test": ("critical", 3, 0),  # error_count_total 3, outdated 0
        }),
    "sata-hdd-passed-but-realloc304_seagate-st3500418as.json": ("/dev/sda", "ST3500418AS REDACTED", {
        "smartctl": ("ok", 0, None),
        "health": ("ok", "passed", None),  # passed, yet 304 reallocated sectors
        "temperature": ("ok", 33, 60),
        "reallocated": ("critical", 304, 17),
        "pending": ("ok", 0, 1),
        "offline-uncorrectable": ("ok", 0, 1),
        "reported-uncorrect": ("ok", 0, 1),
        "spin-retry": ("ok", 0, 1),
        "command-timeout": ("ok", 0, 100),
        "when-failed": ("ok", 0, None),
        # captured without the self-test log: no self-test finding
    }),
    "nvme-healthy_intel-660p.json": ("/dev/nvme0", "INTEL SSDPEKNW010T8 BTNH93710FS91P0B", {
        "smartctl": ("ok", 0, None),
        "health": ("ok", "passed", None),
        "temperature": ("ok", 36, 60),
        "critical-warning": ("ok", 0, 0),
        "available-spare": ("ok", 100, 10),
        "percentage-used": ("ok", 0, 80),
        "media-errors": ("ok", 0, None),
    }),
    "nvme-media-errors7_samsung-970evo.json": ("/dev/nvme0", "Samsung SSD 970 EVO 500GB S466NX0M776250H", {
        "smartctl": ("ok", 0, None),
        "health": ("ok", "passed", None),
        "temperature": ("ok", 35, 60),
        "critical-warning": ("ok", 0, 0),
        "available-spare": ("ok", 99, 10),
        "percentage-used": ("ok", 3, 80),
        # 7 media errors on the first run: damage already there is a warning; a rise is
        # critical (test_smart_rising.py)
        "media-errors": ("warning", 7, None),
    }),
    "nvme-CRITICAL-WARNING-0x10_samsung-mzwll3t2.json": (
        "/dev/nvme0", "SAMSUNG MZWLL3T2HAJQ-00005 REDACTED", {
        "smartctl": ("critical", 8, None),  # bit 3
        "health": ("critical", "failed", None),
        "temperature": ("ok", 40, 60),
            "critical-warning": ("critical", 16, 0),  # bit 4: volatile memory backup failed
            "available-spare": ("ok", 100, 10),
            "percentage-used": ("ok", 0, 80),
            "media-errors": ("ok", 0, None),
        }),
    "nvme-worn-percentage-used-75_intel-p4500.json": ("/dev/nvme6", "INTEL SSDPE2KX020T7 REDACTED", {
        "smartctl": ("ok", 0, None),
        "health": ("ok", "passed", None),
        "temperature": ("ok", 19, 60),
        "critical-warning": ("ok", 0, 0),
        "available-spare": ("ok", 99, 10),
        "percentage-used": ("ok", 75, 80),  # worn, still below the warning at 80
        "media-errors": ("ok", 0, None),
    }),
    "sas-hdd-healthy_seagate-st1200mm0088.json": ("/dev/sdb", "SEAGATE ST1200MM0088 Z4028VRY0000C810BZXB", {
        "smartctl": ("ok", 0, None),
        "health": ("ok", "passed", None),
        "temperature": ("ok", 31, 60),  # drive_trip 60 (equal to the config default here)
        "grown-defects": ("ok", 0, 0),
        "uncorrected-errors": ("ok", 0, 0),
    }),
    "scsi-hdd-grown-defects260-uncorrected_seagate-st373453lc.json": (
        "/dev/sdb", "SEAGATE ST373453LC REDACTED", {
        "smartctl": ("ok", 0, None),
        "health": ("ok", "passed", None),
        "temperature": ("ok", 33, 68),  # drive_trip 68
        "grown-defects": ("warning", 260, 0),  # above 0, not rising (first run)
            "uncorrected-errors": ("critical", 536, 0),  # read 1 + write 535
        }),
    "smartctl-error-exit2_no-device-data.json": ("/dev/sda", "/dev/sda", {
        "smartctl": ("unknown", 2, None),
    }),
    # Recorded in a Debian 12 guest under QEMU: an emulated IDE disk. smartctl exits 4 (bit 2)
    # on every healthy one, because reading the SMART log directory fails; the data was read.
    "qemu-ide-hdd-exit4-log-directory-failed_recorded-in-guest.json": (
        "/dev/sda", "TS-HDD-0 HDD0000", {
            "smartctl": ("ok", 4, None),
            "health": ("ok", "passed", None),
            "temperature": ("ok", 31, 60),
            "reallocated": ("ok", 0, 17),
            "when-failed": ("ok", 0, None),
            "self-test": ("ok", 0, 0),  # an empty log: no error_count_total in the JSON
        }),
    "qemu-nvme-healthy_recorded-in-guest.json": ("/dev/nvme0", "QEMU NVMe Ctrl NVME0001", {
        "smartctl": ("ok", 0, None),
        "health": ("ok", "passed", None),
        "temperature": ("ok", 50, 70),  # WCTEMP from the text output (smartctl 7.3, --json=o)
        "critical-warning": ("ok", 0, 0),
        "available-spare": ("ok", 0, 0),
        "percentage-used": ("ok", 0, 80),
        "media-errors": ("ok", 0, None),
    }),
}


def run_once(name, device, temperature_warning=60):
    reading = assess.Reading(device=device, stdout=fixture_text(name), returncode=None)
    return assess.assess([reading], {}, temperature_warning, now=1_700_000_000)


def test_every_fixture_has_an_expectation():
    names = {os.path.basename(p) for p in glob.glob(os.path.join(FIXTURES, "*.json"))}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_findings(name):
    device, subject, checks = EXPECTED[name]
    outcome = run_once(name, device)
    got = {f.check: (f.severity.label, f.value, f.threshold) for f in outcome.findings}
    assert got == checks
    assert len(got) == len(outcome.findings), "one finding per (disk, check)"
    for finding in outcome.findings:
        assert finding.tool == "smart"
        assert finding.subject == subject
        assert finding.summary.startswith(f"{device}: ")


def test_failed_hitachi_names_every_exit_status_bit_and_the_failing_attribute():
    findings = {f.check: f for f in run_once(HITACHI, "/dev/sdc").findings}
    summary = findings["smartctl"].summary
    assert "216" in summary
    for text in ("bit 3 (SMART status check returned DISK FAILING)",
                 "bit 4 (prefail attributes at or below their threshold)",
                 "bit 6 (the device error log contains records of errors)",
                 "bit 7 (the device self-test log contains records of errors)"):
        assert text in summary
    assert "bit 5" not in summary
    assert findings["when-failed"].summary.endswith("now: 5 Reallocated_Sector_Ct")
    assert "at or below its threshold now" in findings["reallocated"].summary


def test_emulated_ide_disk_names_the_command_that_failed():
    findings = {f.check: f for f in run_once(
        "qemu-ide-hdd-exit4-log-directory-failed_recorded-in-guest.json", "/dev/sda").findings}
    # Rated ok, so it must not read as an error: what failed, and what that means.
    assert findings["smartctl"].severity == Severity.OK
    assert findings["smartctl"].summary == (
        "/dev/sda: smartctl read the disk, except what this disk most likely does not support: "
        "Read SMART Log Directory failed: scsi error aborted command "
        "(exit status 4: bit 2 (some command failed))")


def test_nvme_critical_warning_bit_is_named():
    findings = {f.check: f for f in run_once("nvme-CRITICAL-WARNING-0x10_samsung-mzwll3t2.json",
                                             "/dev/nvme0").findings}
    assert findings["critical-warning"].summary == (
        "/dev/nvme0: NVMe critical warning 0x10: volatile memory backup failed")


def test_scsi_uncorrected_errors_are_split_by_direction():
    findings = {f.check: f for f in run_once(
        "scsi-hdd-grown-defects260-uncorrected_seagate-st373453lc.json", "/dev/sdb").findings}
    assert findings["uncorrected-errors"].summary == "/dev/sdb: 536 uncorrected errors (read 1, write 535)"


def test_no_device_data_is_unknown_naming_the_device_and_smartctls_message():
    (finding,) = run_once("smartctl-error-exit2_no-device-data.json", "/dev/sda").findings
    assert finding.subject == "/dev/sda"
    assert finding.summary.startswith("/dev/sda: smartctl could not read the disk (exit status 2: bit 1 (")
    assert finding.summary.endswith(
        "Smartctl open device: /dev/sda failed: \\\\.\\PhysicalDrive0: Open failed, Error=5")


def test_no_device_data_takes_a_udev_identity_when_there_is_one():
    text = fixture_text("smartctl-error-exit2_no-device-data.json")
    reading = assess.Reading(device="/dev/sda", stdout=text)
    names = {"/dev/sda": ("WDC WD140EDFZ-11A0VA0", "9RK1XXXX")}
    outcome = assess.assess([reading], {}, 60, now=0, identify=names.get)
    (finding,) = outcome.findings
    assert finding.subject == "WDC WD140EDFZ-11A0VA0 9RK1XXXX"
    assert finding.severity.label == "unknown"
    # Nothing was read, so the history keeps nothing for it.
    assert outcome.state == {"version": 1, "disks": {}}
