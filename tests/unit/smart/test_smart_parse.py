"""Where smartctl keeps each value, and the thresholds that the fixtures alone do not reach.

Each test starts from a real fixture and changes one value, so the rest of the document stays
as smartctl writes it.
"""

import json

import pytest
from smartfixtures import attribute, fixture_json, set_raw

from trainserver.smart import assess, identity, parse, scan, thresholds
from trainserver.smart.parse import Attribute

WDC = "sata-hdd-healthy_wdc-wd140edfz.json"
EVO = "sata-ssd-healthy_samsung-860evo_full-xall.json"
SEAGATE = "sata-hdd-passed-but-realloc304_seagate-st3500418as.json"
NVME = "nvme-healthy_intel-660p.json"
SAS = "sas-hdd-healthy_seagate-st1200mm0088.json"


def findings(document, device="/dev/sdx", before=None, temperature_warning=60):
    report = parse.parse(document, device)
    return {f.check: f for f in thresholds.evaluate(report, before or {}, temperature_warning)}


def test_subject_is_model_and_serial():
    assert parse.parse(fixture_json(WDC), "/dev/sdb").subject == "WDC WD140EDFZ-11A0VA0 9RK1XXXX"
    document = fixture_json(SAS)  # smartctl 6.7: vendor, product and model_name
    assert parse.parse(document, "/dev/sdb").subject == "SEAGATE ST1200MM0088 Z4028VRY0000C810BZXB"
    del document["model_name"]
    assert parse.parse(document, "/dev/sdb").model == "SEAGATE ST1200MM0088"


def test_temperature_at_the_drives_own_limit_is_a_warning():
    document = fixture_json(EVO)
    document["temperature"]["current"] = 69
    assert findings(document)["temperature"].severity.label == "ok"
    document["temperature"]["current"] = 70
    found = findings(document, temperature_warning=90)["temperature"]
    assert (found.severity.label, found.value, found.threshold) == ("warning", 70, 70)
    assert "the drive's limit: ATA maximum operating temperature" in found.summary


def test_ata_sct_limit_when_device_statistics_lack_one():
    document = fixture_json(EVO)
    for key in ("op_limit_max", "limit_max"):
        del document["temperature"][key]
    document["ata_sct_status"]["temperature"]["op_limit_max"] = 55
    report = parse.parse(document, "/dev/sda")
    assert (report.temperature_limit, report.temperature_limit_source) == (
        55, "ATA SCT maximum operating temperature")


def test_config_limit_only_when_the_drive_has_none():
    document = fixture_json(WDC)
    document["temperature"]["current"] = 45
    found = findings(document, temperature_warning=45)["temperature"]
    assert (found.severity.label, found.threshold) == ("warning", 45)
    assert "[smart] temperature_warning; the drive reports no limit" in found.summary
    # A drive limit wins over the config, even a lower config value.
    scsi = fixture_json(SAS)
    scsi["temperature"]["current"] = 59
    assert findings(scsi, temperature_warning=40)["temperature"].severity.label == "ok"
    scsi["temperature"]["current"] = 60  # drive_trip 60
    assert findings(scsi, temperature_warning=90)["temperature"].severity.label == "warning"


def test_nvme_wctemp_from_smartctl_73_text_output():
    document = fixture_json(NVME)
    # smartctl 7.3 --json=o carries the text output; WCTEMP is printed only there.
    document["smartctl"]["output"] = [
        "Maximum Data Transfer Size:         32 Pages",
        "Warning  Comp. Temp. Threshold:     77 Celsius",
        "Critical Comp. Temp. Threshold:     80 Celsius",
    ]
    report = parse.parse(document, "/dev/nvme0")
    assert (report.temperature_limit, report.temperature_limit_source) == (
        77, "NVMe warning composite temperature (WCTEMP)")
    document["smartctl"]["output"][1] = "Warning  Comp. Temp. Threshold:     -"
    assert parse.parse(document, "/dev/nvme0").temperature_limit is None


def test_nvme_wctemp_from_smartctl_74_json():
    document = fixture_json(NVME)
    document["nvme_composite_temperature_threshold"] = {"warning": 70, "critical": 80}
    document["temperature"]["current"] = 70
    found = findings(document, temperature_warning=90)["temperature"]
    assert (found.severity.label, found.threshold) == ("warning", 70)


@pytest.mark.parametrize("used,severity", [(79, "ok"), (80, "warning"), (95, "warning"), (96, "critical")])
def test_nvme_percentage_used(used, severity):
    document = fixture_json(NVME)
    document["nvme_smart_health_information_log"]["percentage_used"] = used
    assert findings(document)["percentage-used"].severity.label == severity


def test_nvme_spare_below_threshold_and_every_warning_bit_named():
    document = fixture_json(NVME)
    log = document["nvme_smart_health_information_log"]
    log["available_spare"] = 9
    log["critical_warning"] = 0x3F
    found = findings(document, "/dev/nvme0")
    assert found["available-spare"].severity.label == "critical"
    assert found["available-spare"].summary == "/dev/nvme0: available spare 9% (below its threshold 10%)"
    assert found["critical-warning"].severity.label == "critical"
    assert found["critical-warning"].summary == (
        "/dev/nvme0: NVMe critical warning 0x3f: available spare below threshold, temperature above or "
        "below threshold, reliability degraded, media in read-only mode, volatile memory backup failed, "
        "persistent memory region read-only or unreliable")


@pytest.mark.parametrize("attribute_id,check", [(198, "offline-uncorrectable"), (187, "reported-uncorrect"),
                                                (10, "spin-retry")])
def test_any_count_is_critical(attribute_id, check):
    document = set_raw(fixture_json(SEAGATE), attribute_id, 1)
    found = findings(document)[check]
    assert (found.severity.label, found.value) == ("critical", 1)


def test_pending_one_is_a_warning_two_critical():
    assert findings(set_raw(fixture_json(WDC), 197, 1))["pending"].severity.label == "warning"
    assert findings(set_raw(fixture_json(WDC), 197, 2))["pending"].severity.label == "critical"


def test_command_timeout_uses_the_last_of_three_parts():
    document = fixture_json(SEAGATE)
    # Three parts as smartctl prints them with the raw16 format: the high words are ignored.
    attribute(document, 188)["raw"] = {"value": (500 << 32) | (400 << 16) | 100, "string": "500 400 100"}
    assert findings(document)["command-timeout"].severity.label == "ok"
    attribute(document, 188)["raw"] = {"value": (5 << 32) | 101, "string": "5 0 101"}
    found = findings(document)["command-timeout"]
    assert (found.severity.label, found.value) == ("critical", 101)
    # Printed as one 48-bit number: the last part is the low 16 bits.
    raw = (3 << 32) | (2 << 16) | 7
    packed = Attribute(188, "Command_Timeout", raw, str(raw), "")
    assert thresholds.command_timeouts(packed) == 7


def test_when_failed_past_is_a_warning():
    document = fixture_json(WDC)
    attribute(document, 3)["when_failed"] = "past"
    found = findings(document)["when-failed"]
    assert (found.severity.label, found.summary) == (
        "warning", "/dev/sdx: attributes at or below threshold in the past: 3 Spin_Up_Time")


def test_reallocated_when_failed_now_is_critical_at_any_count():
    document = set_raw(fixture_json(WDC), 5, 1)
    attribute(document, 5)["when_failed"] = "now"
    assert findings(document, before={"reallocated": 1})["reallocated"].severity.label == "critical"


def test_self_test_errors_outdated_ones_excluded():
    document = fixture_json(WDC)
    log = document["ata_smart_self_test_log"]["standard"]
    log["error_count_total"], log["error_count_outdated"] = 2, 2
    assert findings(document)["self-test"].severity.label == "ok"
    log["error_count_outdated"] = 1
    assert findings(document)["self-test"].severity.label == "critical"


def test_missing_health_is_unknown():
    document = fixture_json(WDC)
    del document["smart_status"]
    assert findings(document)["health"].severity.label == "unknown"


def test_garbage_from_smartctl_is_one_unknown_finding():
    garbage = assess.Reading(device="/dev/sdz", stdout="Segmentation fault\n", returncode=139)
    outcome = assess.assess([garbage], {}, 60, 0)
    (finding,) = outcome.findings
    assert (finding.check, finding.subject, finding.severity.label) == ("smartctl", "/dev/sdz", "unknown")
    assert "smartctl printed no JSON" in finding.summary
    failed = assess.assess([assess.Reading(device="/dev/sdz", error="smartctl: timed out after 120 s")],
                           {}, 60, 0)
    assert failed.findings[0].summary == ("/dev/sdz: smartctl could not read the disk (no exit status): "
                                          "smartctl: timed out after 120 s")


def test_one_disk_seen_by_two_paths_is_checked_once():
    text = json.dumps(fixture_json(WDC))
    readings = [assess.Reading("/dev/sdb", text), assess.Reading("/dev/bus/0", text)]
    outcome = assess.assess(readings, {}, 60, 0)
    assert [r.device for r in outcome.reports] == ["/dev/sdb"]
    assert len({(f.check, f.subject) for f in outcome.findings}) == len(outcome.findings)


def test_an_unreadable_path_does_not_hide_a_readable_path_to_the_same_disk():
    # The first path cannot be read, but udev names the disk; the second path reads it.
    names = {"/dev/sdb": ("WDC WD140EDFZ-11A0VA0", "9RK1XXXX")}
    unreadable = assess.Reading("/dev/sdb", error="smartctl: timed out after 120 s")
    readable = assess.Reading("/dev/bus/0", json.dumps(fixture_json(WDC)), returncode=0)
    for readings in ([unreadable, readable], [readable, unreadable]):
        outcome = assess.assess(readings, {}, 60, 0, identify=names.get)
        assert [r.device for r in outcome.reports] == ["/dev/bus/0"]
        checks = {f.check: f for f in outcome.findings}
        assert len(checks) == len(outcome.findings)  # one finding per (check, subject)
        assert checks["smartctl"].severity.label == "ok"
        assert checks["health"].severity.label == "ok"
        assert outcome.state["disks"]["WDC WD140EDFZ-11A0VA0 9RK1XXXX"]["device"] == "/dev/bus/0"


def test_two_unreadable_paths_to_one_disk_give_one_finding():
    names = {"/dev/sdb": ("WDC WD140EDFZ-11A0VA0", "9RK1XXXX"),
             "/dev/sdc": ("WDC WD140EDFZ-11A0VA0", "9RK1XXXX")}
    readings = [assess.Reading("/dev/sdb", error="timed out"), assess.Reading("/dev/sdc", error="timed out")]
    (finding,) = assess.assess(readings, {}, 60, 0, identify=names.get).findings
    assert (finding.check, finding.severity.label) == ("smartctl", "unknown")
    assert finding.summary.startswith("/dev/sdb: ")


def odd(document, path, value):
    """`document` with the value at `path` (a list of keys and indexes) replaced by `value`."""
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return document


@pytest.mark.parametrize("name,path,value", [
    (NVME, ["nvme_smart_health_information_log"], None),
    (NVME, ["nvme_smart_health_information_log"], [1, 2]),
    (NVME, ["nvme_composite_temperature_threshold"], "70"),
    (WDC, ["ata_smart_attributes", "table", 0, "id"], None),
    (WDC, ["ata_smart_attributes", "table", 0, "id"], "five"),
    (WDC, ["ata_smart_attributes", "table", 0, "raw"], 7),
    (WDC, ["ata_smart_attributes", "table", 0], "not an attribute"),
    (WDC, ["ata_smart_attributes", "table"], {"id": 5}),
    (WDC, ["ata_smart_attributes"], [1]),
    (WDC, ["ata_smart_self_test_log"], "none"),
    (WDC, ["temperature"], 41),
    (WDC, ["temperature", "current"], float("nan")),
    (WDC, ["smart_status"], True),
    (WDC, ["device"], "/dev/sdb"),
    (WDC, ["smartctl", "messages"], 3),
    (WDC, ["smartctl", "exit_status"], "²"),
    (SAS, ["scsi_error_counter_log", "read"], 0),
])
def test_odd_json_gives_findings_not_a_traceback(name, path, value):
    document = odd(fixture_json(name), path, value)
    reading = assess.Reading("/dev/sdx", json.dumps(document), returncode=0)
    outcome = assess.assess([reading], {}, 60, 0)
    checks = {f.check: f for f in outcome.findings}
    assert checks["smartctl"].subject == parse.parse(fixture_json(name), "/dev/sdx").subject
    assert outcome.metrics


def test_odd_json_leaves_out_only_the_odd_part():
    document = fixture_json(NVME)
    document["nvme_smart_health_information_log"] = None
    report = parse.parse(document, "/dev/nvme0")
    assert (report.nvme, report.protocol, report.passed) == (None, "NVMe", True)
    # Without the generic temperature block, the temperature is looked for in the NVMe log.
    del document["temperature"]
    report = parse.parse(document, "/dev/nvme0")
    assert (report.nvme, report.temperature, report.passed) == (None, None, True)
    assert [f.check for f in thresholds.evaluate(report, {}, 60)] == ["smartctl", "health", "temperature"]
    document = fixture_json(WDC)
    table = document["ata_smart_attributes"]["table"]
    without_id = next(entry for entry in table if entry["id"] == 5)
    del without_id["id"]
    attributes = parse.parse(document, "/dev/sdb").attributes
    assert 5 not in attributes and 197 in attributes


def test_scan_of_odd_shape_is_a_parse_error_or_ignored():
    with pytest.raises(parse.ParseError):
        scan.parse_scan('{"smartctl": {"exit_status": 0}, "devices": {"name": "/dev/sda"}}')
    devices, messages = scan.parse_scan(
        '{"smartctl": {"exit_status": 0, "messages": "odd"}, "devices": [{"name": "/dev/sda"}]}')
    assert ([d.name for d in devices], messages) == (["/dev/sda"], [])


def test_scan_finding():
    assert assess.scan_finding([]).severity.label == "unknown"
    assert assess.scan_finding([], ["not running as root"]).summary == (
        "no disks found by smartctl --scan-open (not running as root)")
    found = assess.scan_finding(["/dev/sda", "/dev/nvme0"])
    assert (found.severity.label, found.value) == ("ok", 2)


def test_parse_scan():
    # The shape smartctl 7.3 writes (smartctl.cpp scan_devices and js_device_info); with no
    # disk, as on a virtual machine, there is no "devices" key (the integration test runs it).
    text = """{"json_format_version": [1, 0], "smartctl": {"version": [7, 3], "exit_status": 0},
      "devices": [
        {"name": "/dev/sda", "info_name": "/dev/sda [SAT]", "type": "sat", "protocol": "ATA"},
        {"name": "/dev/sda", "info_name": "/dev/sda [SAT]", "type": "sat", "protocol": "ATA"},
        {"name": "/dev/sdb", "info_name": "/dev/sdb", "type": "scsi", "protocol": "SCSI",
         "open_error": "Permission denied"},
        {"name": "/dev/nvme0", "info_name": "/dev/nvme0", "type": "nvme", "protocol": "NVMe"}]}"""
    devices, messages = scan.parse_scan(text)
    assert [(d.name, d.type, d.open_error) for d in devices] == [
        ("/dev/sda", "sat", None), ("/dev/sdb", "scsi", "Permission denied"), ("/dev/nvme0", "nvme", None)]
    assert messages == []
    with pytest.raises(parse.ParseError):
        scan.parse_scan("/dev/sda -d sat # /dev/sda [SAT], ATA device\n")


def test_read_argv_passes_the_scanned_type():
    from trainserver.smart import smartctl

    argv = smartctl.read_argv(scan.Device("/dev/sda", "sat", "ATA"))
    assert argv[1:] == ["--json=o", "--xall", "--nocheck=standby", "-d", "sat", "/dev/sda"]
    assert smartctl.read_argv(scan.Device("/dev/disk/by-id/ata-X"))[-2:] == ["--nocheck=standby",
                                                                            "/dev/disk/by-id/ata-X"]


def test_udev_identity():
    ata = {"ID_BUS": "ata", "ID_MODEL": "WDC_WD140EDFZ-11A0VA0",
           "ID_MODEL_ENC": "WDC\\x20WD140EDFZ-11A0VA0\\x20\\x20\\x20\\x20", "ID_SERIAL_SHORT": "9RK1XXXX"}
    assert identity.from_udev(ata) == ("WDC WD140EDFZ-11A0VA0", "9RK1XXXX")
    sas = {"ID_BUS": "scsi", "ID_VENDOR": "SEAGATE", "ID_VENDOR_ENC": "SEAGATE\\x20",
           "ID_MODEL": "ST1200MM0088", "ID_MODEL_ENC": "ST1200MM0088\\x20\\x20\\x20\\x20",
           "ID_SERIAL_SHORT": "Z4028VRY0000C810BZXB"}
    assert identity.from_udev(sas) == ("SEAGATE ST1200MM0088", "Z4028VRY0000C810BZXB")
    nvme_controller = {"model": "INTEL SSDPEKNW010T8                     ",
                       "serial": "BTNH93710FS91P0B    "}
    assert identity.from_udev({}, nvme_controller) == ("INTEL SSDPEKNW010T8", "BTNH93710FS91P0B")
    assert identity.from_udev({"DEVNAME": "/dev/vda"}) is None
