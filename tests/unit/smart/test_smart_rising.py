"""Two nights on the server: a real fixture, then a copy with a raised count, compared through the
state saved by the first run (a real StateFile in a temporary directory)."""

import json

import pytest
from smartfixtures import fixture_json, set_raw

from trainserver.core.state import StateFile
from trainserver.smart import assess

WDC = "sata-hdd-healthy_wdc-wd140edfz.json"
SUBJECT = "WDC WD140EDFZ-11A0VA0 9RK1XXXX"
NVME = "nvme-media-errors7_samsung-970evo.json"
SCSI = "scsi-hdd-grown-defects260-uncorrected_seagate-st373453lc.json"


def night(state_file, device, document, now):
    """One run of check over one disk: load the saved state, assess, save; {check: finding}."""
    reading = assess.Reading(device=device, stdout=json.dumps(document))
    outcome = assess.assess([reading], state_file.load({}), 60, now)
    state_file.save(outcome.state)
    return {f.check: f for f in outcome.findings}


def severities(findings, *checks):
    return {check: findings[check].severity.label for check in checks}


def test_reallocated_and_pending_rising(tmp_path):
    state_file = StateFile(tmp_path / "smart.json")
    first = night(state_file, "/dev/sdb", fixture_json(WDC), 1000)
    assert severities(first, "reallocated", "pending") == {"reallocated": "ok", "pending": "ok"}
    saved = json.loads((tmp_path / "smart.json").read_text())
    assert saved["disks"][SUBJECT]["counters"] == {"reallocated": 0, "pending": 0}
    assert saved["disks"][SUBJECT]["read_at"] == 1000

    # The same disk, now as /dev/sdc, with 3 reallocated sectors and 1 pending sector.
    raised = set_raw(set_raw(fixture_json(WDC), 5, 3), 197, 1)
    second = night(state_file, "/dev/sdc", raised, 2000)
    assert severities(second, "reallocated", "pending") == {"reallocated": "critical", "pending": "critical"}
    assert second["reallocated"].summary == (
        "/dev/sdc: 3 reallocated sectors (attribute 5, up from 0 at the previous run)")
    assert second["pending"].value == 1

    # A third night with the same counts: nothing rises. 3 stable reallocated sectors stay a
    # warning (the damage is real; people acknowledge it in ts-alert); 1 pending sector is the
    # plain warning.
    third = night(state_file, "/dev/sdc", raised, 3000)
    assert severities(third, "reallocated", "pending") == {"reallocated": "warning", "pending": "warning"}
    assert third["reallocated"].summary.endswith("unchanged since the previous run)")


def test_damage_already_there_at_the_first_run_is_reported(tmp_path):
    """Nothing can be rising at the first run, but a disk installed with damage has it."""
    state_file = StateFile(tmp_path / "smart.json")
    raised = set_raw(set_raw(fixture_json(WDC), 5, 3), 197, 1)
    first = night(state_file, "/dev/sdb", raised, 1000)
    assert severities(first, "reallocated", "pending") == {"reallocated": "warning", "pending": "warning"}
    assert "first reading" in first["reallocated"].summary


def test_reallocated_at_17_is_critical_without_rising(tmp_path):
    state_file = StateFile(tmp_path / "smart.json")
    first = night(state_file, "/dev/sdb", set_raw(fixture_json(WDC), 5, 17), 1000)
    assert first["reallocated"].severity.label == "critical"
    sixteen = night(StateFile(tmp_path / "other.json"), "/dev/sdb", set_raw(fixture_json(WDC), 5, 16), 1000)
    assert sixteen["reallocated"].severity.label == "warning"


def test_nvme_media_errors_rising_is_critical(tmp_path):
    state_file = StateFile(tmp_path / "smart.json")
    assert night(state_file, "/dev/nvme0", fixture_json(NVME), 1000)["media-errors"].severity.label == "warning"
    document = fixture_json(NVME)
    document["nvme_smart_health_information_log"]["media_errors"] = 9
    second = night(state_file, "/dev/nvme0", document, 2000)
    assert second["media-errors"].severity.label == "critical"
    assert second["media-errors"].summary == "/dev/nvme0: 9 media errors (up from 7 at the previous run)"
    # Steady again: back to the warning, which an acknowledgement in ts-alert silences.
    assert night(state_file, "/dev/nvme0", document, 3000)["media-errors"].severity.label == "warning"


def test_scsi_grown_defects_rising_is_critical(tmp_path):
    state_file = StateFile(tmp_path / "smart.json")
    first = night(state_file, "/dev/sdb", fixture_json(SCSI), 1000)
    assert first["grown-defects"].severity.label == "warning"
    document = fixture_json(SCSI)
    document["scsi_grown_defect_list"] = 261
    assert night(state_file, "/dev/sdb", document, 2000)["grown-defects"].severity.label == "critical"
    # Not rising any more: back to the warning for a non-empty list.
    assert night(state_file, "/dev/sdb", document, 3000)["grown-defects"].severity.label == "warning"


def standby_output(device):
    """smartctl 7.3's output for a disk in standby under --nocheck=standby (shape from its source,
    ataprint.cpp: jinf("Device is in %s mode, exit(%d)"); envelope from a real fixture)."""
    document = fixture_json("smartctl-error-exit2_no-device-data.json")
    document["smartctl"]["messages"] = [{"string": "Device is in STANDBY mode, exit(2)",
                                         "severity": "information"}]
    document["device"] = {"name": device, "info_name": f"{device} [SAT]", "type": "sat", "protocol": "ATA"}
    return document


def test_standby_is_skipped_and_keeps_the_previous_counts(tmp_path):
    state_file = StateFile(tmp_path / "smart.json")
    night(state_file, "/dev/sdb", fixture_json(WDC), 1000)
    names = {"/dev/sdb": ("WDC WD140EDFZ-11A0VA0", "9RK1XXXX")}
    reading = assess.Reading(device="/dev/sdb", stdout=json.dumps(standby_output("/dev/sdb")), returncode=2)
    outcome = assess.assess([reading], state_file.load({}), 60, 2000, identify=names.get)
    state_file.save(outcome.state)
    (finding,) = outcome.findings
    assert (finding.check, finding.subject, finding.severity.label) == ("smartctl", SUBJECT, "ok")
    assert finding.summary.startswith("/dev/sdb: skipped: in standby (STANDBY mode)")
    assert outcome.state["disks"][SUBJECT]["read_at"] == 1000  # not read this time
    # Awake again the next night, with a reallocated sector more than two nights ago.
    third = night(state_file, "/dev/sdb", set_raw(fixture_json(WDC), 5, 1), 3000)
    assert third["reallocated"].severity.label == "critical"
    assert third["reallocated"].summary.endswith("up from 0 at the previous run)")


def test_standby_output_with_the_disks_identity_keeps_the_previous_counts(tmp_path):
    # smartctl may print the disk's identity before it sees the power mode and stops: then the
    # output holds data, but no counters, and the last real reading must stay.
    state_file = StateFile(tmp_path / "smart.json")
    night(state_file, "/dev/sdb", set_raw(fixture_json(WDC), 5, 2), 1000)
    document = standby_output("/dev/sdb")
    document["model_name"], document["serial_number"] = "WDC WD140EDFZ-11A0VA0", "9RK1XXXX"
    reading = assess.Reading(device="/dev/sdb", stdout=json.dumps(document), returncode=2)
    outcome = assess.assess([reading], state_file.load({}), 60, 2000)
    assert [(f.check, f.severity.label) for f in outcome.findings] == [("smartctl", "ok")]
    assert outcome.state["disks"][SUBJECT]["read_at"] == 1000
    assert outcome.state["disks"][SUBJECT]["counters"] == {"reallocated": 2, "pending": 0}
    state_file.save(outcome.state)
    third = night(state_file, "/dev/sdb", set_raw(fixture_json(WDC), 5, 3), 3000)
    assert third["reallocated"].summary.endswith("(attribute 5, up from 2 at the previous run)")


@pytest.mark.parametrize("disks", [
    {SUBJECT: [1, 2]},
    {SUBJECT: "read"},
    {SUBJECT: None},
    {SUBJECT: {"counters": [0, 0]}},
    {SUBJECT: {"counters": {"reallocated": "3", "pending": True}, "read_at": "yesterday"}},
    [SUBJECT],
])
def test_a_state_of_another_shape_is_no_previous_state(disks):
    state = {"version": 1, "disks": disks}
    reading = assess.Reading(device="/dev/sdb", stdout=json.dumps(set_raw(fixture_json(WDC), 5, 3)))
    outcome = assess.assess([reading], state, 60, 1000)
    findings = {f.check: f for f in outcome.findings}
    assert findings["reallocated"].summary == "/dev/sdb: 3 reallocated sectors (attribute 5, first reading)"
    assert findings["reallocated"].severity.label == "warning"
    assert outcome.state["disks"][SUBJECT]["counters"] == {"reallocated": 3, "pending": 0}
    assert outcome.metrics


def test_a_state_entry_of_another_shape_does_not_hide_the_other_disks():
    state = {"version": 1, "disks": {"OLD DISK": 7, SUBJECT: {"counters": {"reallocated": 1}, "read_at": 5,
                                                              "device": "/dev/sdb"}}}
    reading = assess.Reading(device="/dev/sdb", stdout=json.dumps(set_raw(fixture_json(WDC), 5, 3)))
    outcome = assess.assess([reading], state, 60, 1000)
    reallocated = next(f for f in outcome.findings if f.check == "reallocated")
    assert reallocated.severity.label == "critical"  # 1 -> 3
    assert set(outcome.state["disks"]) == {SUBJECT}
