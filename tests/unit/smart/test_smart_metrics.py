"""trainserver_smart_* metrics from real fixtures, rendered as node-exporter reads them."""

import json

from smartfixtures import fixture_text

from trainserver.core.metrics import render
from trainserver.smart import assess

HITACHI = "sata-hdd-FAILED_hitachi_realloc1975-pending8-selftest-errors.json"


def rendered(readings, state=None, now=1_700_000_000):
    outcome = assess.assess(readings, state or {}, 60, now)
    return render(outcome.metrics).splitlines(), outcome


def test_metrics_for_ata_nvme_scsi_and_an_unreadable_disk():
    lines, _ = rendered([
        assess.Reading("/dev/sdc", fixture_text(HITACHI)),
        assess.Reading("/dev/nvme0", fixture_text("nvme-worn-percentage-used-75_intel-p4500.json")),
        assess.Reading("/dev/sdb",
                       fixture_text("scsi-hdd-grown-defects260-uncorrected_seagate-st373453lc.json")),
        assess.Reading("/dev/sda", fixture_text("smartctl-error-exit2_no-device-data.json")),
    ])
    hitachi = 'device="/dev/sdc",model="Hitachi HDS721050DLE630",serial="MSK423Y20S3HBC"'
    intel = 'device="/dev/nvme0",model="INTEL SSDPE2KX020T7",serial="REDACTED"'
    seagate = 'device="/dev/sdb",model="SEAGATE ST373453LC",serial="REDACTED"'
    unread = 'device="/dev/sda",model="",serial=""'
    for line in (
        "trainserver_smart_last_run_timestamp_seconds 1700000000",
        "trainserver_smart_disks 4",
        f"trainserver_smart_health_passed{{{hitachi}}} 0",
        f"trainserver_smart_exit_status{{{hitachi}}} 216",
        f"trainserver_smart_reallocated_sectors{{{hitachi}}} 1975",
        f"trainserver_smart_pending_sectors{{{hitachi}}} 8",
        f"trainserver_smart_self_test_errors{{{hitachi}}} 3",
        f"trainserver_smart_temperature_celsius{{{hitachi}}} 25",
        f"trainserver_smart_temperature_limit_celsius{{{hitachi}}} 60",
        f"trainserver_smart_severity{{{hitachi}}} 2",
        f"trainserver_smart_health_passed{{{intel}}} 1",
        f"trainserver_smart_percentage_used{{{intel}}} 75",
        f"trainserver_smart_media_errors{{{intel}}} 0",
        f"trainserver_smart_available_spare_percent{{{intel}}} 99",
        f"trainserver_smart_nvme_critical_warning{{{intel}}} 0",
        f"trainserver_smart_severity{{{intel}}} 0",
        f"trainserver_smart_grown_defects{{{seagate}}} 260",
        f"trainserver_smart_uncorrected_errors{{{seagate}}} 536",
        f"trainserver_smart_temperature_limit_celsius{{{seagate}}} 68",
        f"trainserver_smart_exit_status{{{unread}}} 2",
        f"trainserver_smart_severity{{{unread}}} 3",
        f"trainserver_smart_last_read_timestamp_seconds{{{hitachi}}} 1700000000",
    ):
        assert line in lines, line
    assert not any(line.startswith("trainserver_smart_health_passed{" + unread) for line in lines)


def test_last_read_of_a_disk_now_in_standby_stays_old():
    _, first = rendered([assess.Reading("/dev/sdc", fixture_text(HITACHI))], now=1000)
    standby = json.loads(fixture_text("smartctl-error-exit2_no-device-data.json"))
    standby["smartctl"]["messages"] = [{"string": "Device is in STANDBY mode, exit(2)",
                                        "severity": "information"}]
    lines, _ = rendered([assess.Reading("/dev/sdc", json.dumps(standby))], state=first.state, now=2000)
    assert ('trainserver_smart_last_read_timestamp_seconds{device="/dev/sdc",'
            'model="Hitachi HDS721050DLE630",serial="MSK423Y20S3HBC"} 1000') in lines
    assert 'trainserver_smart_standby{device="/dev/sdc",model="",serial=""} 1' in lines
    assert "trainserver_smart_last_run_timestamp_seconds 2000" in lines
