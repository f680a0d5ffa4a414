"""ts-smart check with the real smartctl on this machine (root).

The machine may have no SMART-capable disk at all (a virtual machine's virtio disks): then the
check must say so as an unknown finding and exit 3, never crash. Where there are disks, each
one smartctl finds gets its findings. Needs smartmontools (smartctl 7.x, for --json).
"""

import json
import os
import shutil
import stat
import subprocess

import pytest

from tool_findings import findings_of
from trainserver.core.lock import ToolLock

pytestmark = pytest.mark.root

MISSING = "/dev/nonexistent-ts-smart-test"


def smartctl():
    path = shutil.which("smartctl") or "/usr/sbin/smartctl"
    assert os.access(path, os.X_OK), "smartctl is missing: apt-get install smartmontools"
    return path


def scanned_names():
    """What smartctl itself finds, to compare ts-smart with."""
    result = subprocess.run([smartctl(), "--scan-open", "--json"], capture_output=True, text=True,
                            timeout=120)
    return [d["name"] for d in json.loads(result.stdout).get("devices", [])]


@pytest.fixture
def conf(tmp_path):
    def write(devices=()):
        path = tmp_path / "trainserver.toml"
        path.write_text(
            "[paths]\n"
            f'state_dir = "{tmp_path}/state"\n'
            f'lock_dir = "{tmp_path}/lock"\n'
            f'metrics_dir = "{tmp_path}/metrics"\n'
            "[smart]\n"
            f"devices = {json.dumps(list(devices))}\n", encoding="utf-8")
        return path

    return write


def test_check_every_disk_smartctl_finds(run_tool, conf, tmp_path):
    result = run_tool("ts-smart", "--config", str(conf()), "check", "--json")
    findings = findings_of(result, tool="smart")
    names = scanned_names()
    (scan,) = [f for f in findings if f.check == "scan"]
    if not names:
        assert findings == [scan]
        assert (scan.severity.label, scan.value) == ("unknown", 0)
        assert scan.summary.startswith("no disks found by smartctl --scan-open")
        assert result.returncode == 3
    else:
        assert (scan.severity.label, scan.value) == ("ok", len(names))
        read = {f.summary.split(":")[0] for f in findings if f.check == "smartctl"}
        assert read <= set(names) and read, (read, names)
    metrics = (tmp_path / "metrics" / "trainserver_smart.prom").read_text()
    assert "\ntrainserver_smart_last_run_timestamp_seconds " in metrics
    assert f"\ntrainserver_smart_disks {len(names)}\n" in metrics
    assert stat.S_IMODE(os.stat(tmp_path / "metrics" / "trainserver_smart.prom").st_mode) == 0o644
    state_path = tmp_path / "state" / "smart.json"
    assert json.loads(state_path.read_text())["version"] == 1
    assert stat.S_IMODE(os.stat(state_path).st_mode) == 0o600


def a_real_disk():
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "ram", "zram", "dm-", "md", "sr", "bcache")):
            return f"/dev/{name}"
    pytest.skip("no block device on this machine")


def test_configured_devices_replace_the_scan(run_tool, conf):
    disk = a_real_disk()
    result = run_tool("ts-smart", "--config", str(conf([disk, MISSING])), "check", "--json")
    findings = findings_of(result, tool="smart")
    (scan,) = [f for f in findings if f.check == "scan"]
    assert scan.summary == f"2 disks from [smart] devices: {disk}, {MISSING}"
    # Whatever this disk is (virtio: smartctl cannot tell its type), it has a smartctl finding.
    assert [f for f in findings if f.check == "smartctl" and f.summary.startswith(f"{disk}: ")]
    (missing,) = [f for f in findings if f.subject == MISSING]
    assert (missing.check, missing.severity.label) == ("smartctl", "unknown")
    own = subprocess.run([smartctl(), "--json", "--xall", "--nocheck=standby", MISSING],
                         capture_output=True, text=True, timeout=60)
    messages = [m["string"] for m in json.loads(own.stdout)["smartctl"].get("messages", [])]
    assert messages
    for message in messages:
        assert message in missing.summary
    assert missing.value == own.returncode


def test_table_output_for_people(run_tool, conf):
    result = run_tool("ts-smart", "--config", str(conf([MISSING])), "check")
    assert result.returncode == 3
    assert result.stdout.splitlines()[0].split() == ["SEVERITY", "CHECK", "SUBJECT", "VALUE", "SUMMARY"]
    assert f"UNKNOWN   smart/smartctl  {MISSING}" in result.stdout


def test_scan_lists_what_smartctl_finds(run_tool, conf):
    result = run_tool("ts-smart", "--config", str(conf()), "scan", "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    listed = [json.loads(line)["name"] for line in result.stdout.splitlines()]
    assert listed == scanned_names()


def test_a_second_run_waits_for_the_first_and_then_checks(run_tool, conf, tmp_path):
    import threading

    path = conf([MISSING])
    lock = ToolLock("smart", str(tmp_path / "lock"), command="ts-smart check").acquire()
    threading.Timer(2, lock.release).start()
    result = run_tool("ts-smart", "--config", str(path), "check", "--json")
    assert result.returncode == 3  # the missing device: it ran, and said so
    assert "waiting up to 600 s for the lock" in result.stderr
    assert MISSING in result.stdout
