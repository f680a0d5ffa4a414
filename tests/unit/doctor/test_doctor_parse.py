"""Parsers and verdicts on recorded outputs. Pure."""

import os

import pytest

from trainserver.doctor import parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def fixture(name):
    with open(os.path.join(HERE, "fixtures", name)) as handle:
        return handle.read()


def test_df_of_a_raid10_parses_every_line():
    assert parse.btrfs_df(fixture("df-raid10.txt")) == [
        ("Data", "raid10", 214695936, 0),
        ("System", "raid10", 16777216, 16384),
        ("Metadata", "raid10", 134217728, 131072),
        ("GlobalReserve", "single", 5767168, 0),
    ]


@pytest.mark.parametrize("name", ["df-raid10.txt", "df-converted-back.txt"])
def test_an_all_raid10_filesystem_passes_global_reserve_ignored(name):
    ok, reason = parse.chunk_verdict(fixture(name), "raid10")
    assert ok, reason
    assert reason == "Data, Metadata, System: all RAID10"


def test_one_single_data_chunk_fails_naming_it():
    ok, reason = parse.chunk_verdict(fixture("df-data-single.txt"), "raid10")
    assert not ok
    assert reason == "not RAID10: Data single (180355072 of 436207616 bytes used)"


def test_single_metadata_and_system_are_named_too():
    ok, reason = parse.chunk_verdict(fixture("df-metadata-single.txt"), "raid10")
    assert not ok
    assert "Data single" in reason and "System single" in reason and "Metadata single" in reason
    assert "RAID10 (" not in reason  # the chunks still RAID10 are not listed


def test_dup_metadata_fails_and_the_profile_follows_the_config():
    ok, reason = parse.chunk_verdict(fixture("df-one-device-dup.txt"), "raid10")
    assert not ok and "Metadata dup" in reason and "System dup" in reason
    assert parse.chunk_verdict(fixture("df-raid10.txt"), "raid1")[0] is False


def test_no_chunk_lines_is_not_a_pass():
    assert parse.chunk_verdict("ERROR: not a btrfs filesystem\n", "raid10") == (
        False, "btrfs filesystem df printed no chunk lines")


def test_cuda_version_from_a_recorded_q_report_and_from_the_default_header():
    with open(os.path.join(ROOT, "tests", "fixtures", "gpu", "nvidia-smi", "h200-driver-580",
                           "temperature.txt")) as handle:
        recorded = handle.read()  # real output of nvidia-smi -q on an H200
    assert parse.cuda_version(recorded) == "13.0"
    assert parse.driver_version(recorded) == "580.159.04"
    # The default view's box header (format as nvidia-smi prints it; not recorded here).
    header = ("| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      "
              "CUDA Version: 12.4     |\n")
    assert parse.cuda_version(header) == "12.4"
    assert parse.driver_version(header) == "550.54.15"
    assert parse.cuda_version("No devices were found\n") is None


@pytest.mark.parametrize("text, expected", [
    ("deb.debian.org:443", ("deb.debian.org", 443)),
    ("192.0.2.1:80", ("192.0.2.1", 80)),
    ("[2001:db8::1]:443", ("2001:db8::1", 443)),
])
def test_host_port(text, expected):
    assert parse.host_port(text) == expected


@pytest.mark.parametrize("text", ["deb.debian.org", "host:http", ":443", "h:70000", "[::1]"])
def test_host_port_refuses(text):
    with pytest.raises(ValueError):
        parse.host_port(text)


SHOW = """Id=ts-backup.timer
UnitFileState=enabled
ActiveState=active
LastTriggerUSec=@1764316800
NextElapseUSecRealtime=@1764403200
Unit=ts-backup.service

Id=ts-sync.timer
UnitFileState=disabled
ActiveState=inactive
LastTriggerUSec=n/a
NextElapseUSecRealtime=
Unit=ts-sync.service
"""


def test_systemctl_show_blocks_in_order():
    blocks = parse.systemctl_show(SHOW)
    assert [b["Id"] for b in blocks] == ["ts-backup.timer", "ts-sync.timer"]
    assert blocks[0]["LastTriggerUSec"] == "@1764316800"
    assert parse.epoch_of(blocks[0]["NextElapseUSecRealtime"]) == 1764403200
    assert parse.epoch_of("n/a") is None


def test_unit_files():
    text = "ts-backup.timer  enabled enabled\nts-sync.timer disabled enabled\n"
    assert parse.unit_files(text) == ["ts-backup.timer", "ts-sync.timer"]


TIMER = {"Id": "ts-backup.timer", "UnitFileState": "enabled", "ActiveState": "active",
         "LastTriggerUSec": "@1764316800", "NextElapseUSecRealtime": "@1764403200"}
SERVICE = {"Id": "ts-backup.service", "Result": "success", "ExecMainStatus": "0",
           "ActiveState": "inactive"}


def test_a_healthy_timer_passes():
    assert parse.timer_verdict(TIMER, SERVICE, 3600, 1764320000) == (
        True, "enabled and active; last run succeeded")


def test_a_timer_that_never_ran_passes_saying_so():
    never = {**TIMER, "LastTriggerUSec": "n/a"}
    failed_default = {**SERVICE, "Result": "success"}
    assert parse.timer_verdict(never, failed_default, 3600, 1764320000)[1].endswith("not run yet")


def test_a_disabled_inactive_timer_fails_with_the_fix():
    ok, reason = parse.timer_verdict({**TIMER, "UnitFileState": "disabled",
                                      "ActiveState": "inactive"}, SERVICE)
    assert not ok
    assert "not enabled (disabled): systemctl enable --now ts-backup.timer" in reason
    assert "not active (inactive)" in reason


def test_a_failed_last_run_fails_naming_the_status_and_the_journal():
    ok, reason = parse.timer_verdict(TIMER, {**SERVICE, "Result": "exit-code",
                                             "ExecMainStatus": "70"})
    assert not ok
    assert reason == "its last run failed (exit-code, exit status 70): journalctl -u " \
                     "ts-backup.service"


def test_a_service_still_running_is_not_a_failure():
    running = {**SERVICE, "Result": "exit-code", "ActiveState": "activating"}
    assert parse.timer_verdict(TIMER, running)[0]


def test_a_next_run_long_past_is_overdue():
    ok, reason = parse.timer_verdict(TIMER, SERVICE, 3600, 1764403200 + 7200)
    assert not ok and reason == "overdue: its next run was due 120 min ago"


TARGETS = """{"status":"success","data":{"activeTargets":[
 {"labels":{"job":"node","instance":"node-exporter:9100"},"health":"up","lastError":""},
 {"labels":{"job":"cadvisor","instance":"cadvisor:8080"},"health":"down",
  "lastError":"Get \\"http://cadvisor:8080/metrics\\": dial tcp: lookup cadvisor: no such host"}
],"droppedTargets":[]}}"""


def test_prometheus_targets_up_and_down():
    up, down, ignored = parse.prometheus_targets(TARGETS)
    assert up == ["node node-exporter:9100"]
    assert down == ['cadvisor cadvisor:8080: down (Get "http://cadvisor:8080/metrics": dial '
                    'tcp: lookup cadvisor: no such host)']
    assert ignored == []
    assert parse.prometheus_targets(TARGETS, ("cadvisor",))[1:] == ([], down)
    with pytest.raises(ValueError):
        parse.prometheus_targets("<html>")
    with pytest.raises(ValueError):
        parse.prometheus_targets('{"status":"error"}')


def test_grafana_health():
    assert parse.grafana_health('{"commit":"x","database":"ok","version":"11.2.2"}') == (
        True, "Grafana 11.2.2 answers, database ok")
    assert parse.grafana_health('{"database":"failing"}')[0] is False
    assert parse.grafana_health("Bad Gateway")[0] is False


@pytest.mark.parametrize("code, ok", [(200, True), (302, True), (401, True), (403, True),
                                      (404, False), (502, False), (503, False), (None, False)])
def test_web_verdict(code, ok):
    assert parse.web_verdict(code)[0] is ok


def test_http_status():
    assert parse.http_status("HTTP/1.1 302 Found\r\nLocation: ./login\r\n") == 302
    assert parse.http_status("HTTP/2 200\r\n") == 200
    assert parse.http_status("SSH-2.0-OpenSSH") is None
