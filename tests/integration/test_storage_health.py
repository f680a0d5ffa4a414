"""ts-storage status, check and scrub on a real BTRFS RAID10 over four loop devices, with
faults injected for real: a corrupted copy repaired by scrub, a missing device (degraded
mount), a filesystem filled past the warning, quotas turned on. Needs root and btrfs-progs."""

import json
import os
import subprocess

import pytest

from trainserver.core.findings import parse_line
from trainserver.core.lock import ToolLock

pytestmark = pytest.mark.root
MiB = 2**20


def storage(run_tool, fs, *args):
    return run_tool("ts-storage", *args, env={"TRAINSERVER_CONFIG": fs["config"]})


def findings(result):
    return {(f.check, f.subject): f for f in
            (parse_line(line) for line in result.stdout.splitlines() if line.strip())}


def severities(result, check):
    return {f.severity.label for (c, _), f in findings(result).items() if c == check}


def test_a_healthy_raid10_is_ok_except_that_it_was_never_scrubbed(run_tool, raid10):
    result = storage(run_tool, raid10, "check", "--json")
    found = findings(result)
    assert found[("mount", raid10["mount"])].severity.label == "ok"
    assert severities(result, "devices") == {"ok"}
    assert severities(result, "device-errors") == {"ok"}
    assert severities(result, "space") == {"ok"}
    assert severities(result, "quotas") == {"ok"}
    assert severities(result, "scrub") == {"warning"}  # none on record yet
    assert result.returncode == 1
    status = json.loads(storage(run_tool, raid10, "status", "--json").stdout)
    assert status["mounted_from_expected_uuid"] is True
    assert status["usage"]["profiles"]["data"]["profile"] == "raid10"
    assert status["usage"]["profiles"]["metadata"]["profile"] == "raid10"
    assert len(status["filesystem"]["devices"]) == 4
    text = storage(run_tool, raid10, "status").stdout
    assert "profiles: data raid10, metadata raid10" in text


def _corrupt_one_copy(fs, payload):
    """Overwrite the first 4 KiB of the file's data on one device only (found by content)."""
    needle = payload[:4096]
    hits = []
    for image in fs["images"]:
        with open(image, "rb") as handle:
            data = handle.read()
        offset = data.find(needle)
        if offset >= 0:
            hits.append((image, offset))
    assert len(hits) == 2, f"RAID10 keeps two copies, found {len(hits)}"
    image, offset = hits[0]
    with open(image, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\0" * 4096)
        handle.flush()
        os.fsync(handle.fileno())
    return image


def test_scrub_repairs_a_corrupted_copy_and_check_reports_the_rise_then_the_count(run_tool,
                                                                                  raid10):
    payload = os.urandom(MiB)
    with open(os.path.join(raid10["mount"], "weights.bin"), "wb") as handle:
        handle.write(payload)
    subprocess.run(["sync"], check=True)
    before = storage(run_tool, raid10, "check", "--json")
    assert severities(before, "device-errors") == {"ok"}
    _corrupt_one_copy(raid10, payload)
    subprocess.run(["sh", "-c", "echo 3 > /proc/sys/vm/drop_caches"], check=True)
    scrubbed = storage(run_tool, raid10, "scrub", "--json")
    assert severities(scrubbed, "scrub") == {"warning"}, scrubbed.stdout + scrubbed.stderr
    assert "repaired" in findings(scrubbed)[("scrub", raid10["mount"])].summary
    with open(os.path.join(raid10["mount"], "weights.bin"), "rb") as handle:
        assert handle.read() == payload
    first = storage(run_tool, raid10, "check", "--json")
    assert severities(first, "scrub") == {"warning"}  # the corrected errors
    # the scrub counted the bad copy on its device: a rise in corruption errors is critical
    assert "critical" in severities(first, "device-errors")
    assert first.returncode == 2
    second = storage(run_tool, raid10, "check", "--json")
    # The count stays until reset: a warning (acknowledge it in ts-alert), never ok.
    assert severities(second, "device-errors") == {"ok", "warning"}
    assert any("unchanged since the previous run" in f.summary
               for f in findings(second).values())
    devices = [f.subject.split()[0] for f in findings(second).values()
               if f.check == "device-errors" and f.severity.label == "warning"]
    for device in devices:
        subprocess.run(["btrfs", "device", "stats", "--reset", device], check=True,
                       capture_output=True)
    third = storage(run_tool, raid10, "check", "--json")
    assert severities(third, "device-errors") == {"ok"}


def test_the_check_runs_while_a_scrub_holds_the_storage_lock(run_tool, raid10):
    """A monthly scrub runs for hours: the 6-hourly check must not wait for it, nor give way."""
    state = os.path.join(os.path.dirname(raid10["config"]), "state")
    with ToolLock("storage", state, command="ts-storage scrub"):
        result = storage(run_tool, raid10, "check", "--json")
    assert result.returncode == 1, result.stdout + result.stderr  # the never-scrubbed warning
    assert severities(result, "devices") == {"ok"} and severities(result, "mount") == {"ok"}
    assert "lock" not in result.stderr  # no "waiting up to ... for the lock", no giving up


def test_a_missing_device_and_a_degraded_mount_are_critical(run_tool, raid10):
    subprocess.run(["umount", raid10["mount"]], check=True)
    subprocess.run(["losetup", "--detach", raid10["devices"][3]], check=True)
    # The kernel still remembers the detached device: forget it, register the other three.
    subprocess.run(["btrfs", "device", "scan", "--forget"], capture_output=True)
    subprocess.run(["btrfs", "device", "scan", *raid10["devices"][:3]], check=True,
                   capture_output=True)
    subprocess.run(["mount", "-o", "degraded", raid10["devices"][0], raid10["mount"]],
                   check=True)
    result = storage(run_tool, raid10, "check", "--json")
    assert result.returncode == 2
    assert findings(result)[("mount", raid10["mount"])].severity.label == "critical"
    assert severities(result, "devices") == {"critical"}
    assert "DEGRADED" in storage(run_tool, raid10, "status").stdout


def test_filling_past_the_warning_is_a_warning(run_tool, raid10):
    free = json.loads(storage(run_tool, raid10, "status", "--json").stdout)["usage"]["overall"]
    target = int(free["free_estimated"] * 0.93)
    subprocess.run(["fallocate", "-l", str(target), os.path.join(raid10["mount"], "big")],
                   check=True)
    subprocess.run(["btrfs", "filesystem", "sync", raid10["mount"]], check=True)
    result = storage(run_tool, raid10, "check", "--json")
    space = findings(result)[("space", raid10["mount"])]
    assert space.severity.label == "warning", space.summary
    assert 90 < space.value <= 98


def test_quotas_on_a_snapshot_filesystem_are_a_warning_that_names_the_cost(run_tool, raid10):
    subprocess.run(["btrfs", "quota", "enable", raid10["mount"]], check=True)
    result = storage(run_tool, raid10, "check", "--json")
    quota = findings(result)[("quotas", raid10["mount"])]
    assert quota.severity.label == "warning" and "450x" in quota.summary


def test_not_mounted_where_fstab_expects_it_is_critical(run_tool, raid10):
    subprocess.run(["umount", raid10["mount"]], check=True)
    result = storage(run_tool, raid10, "check", "--json")
    assert result.returncode == 2
    mount = findings(result)[("mount", raid10["mount"])]
    assert mount.severity.label == "critical" and raid10["uuid"] in mount.summary
    status = storage(run_tool, raid10, "status")
    assert status.returncode == 3 and "NOT MOUNTED" in status.stdout


def test_discover_sees_every_member_of_the_mounted_raid10_as_in_use(run_tool, raid10):
    result = storage(run_tool, raid10, "discover", "--json")
    assert result.returncode == 0, result.stderr
    by_path = {disk["path"]: disk for disk in json.loads(result.stdout)}
    for device in raid10["devices"]:
        disk = by_path[device]
        assert disk["kind"] == "loop" and disk["size"] == 512 * MiB
        assert disk["signatures"]["TYPE"] == "btrfs"
        assert disk["signatures"]["UUID"] == raid10["uuid"]
        # findmnt names one device as the source; the others are found by filesystem UUID
        assert disk["mounts"] == [raid10["mount"]], disk
        assert disk["role"] == "skip"
    text = storage(run_tool, raid10, "discover").stdout
    assert f"{raid10['devices'][3]}: signature btrfs, mounted on {raid10['mount']}" in text


def unconfigured(tmp_path, fstab_text="", storage_table=""):
    """A config whose storage is an empty directory, with its own fstab (and [storage] text)."""
    (tmp_path / "storage").mkdir(exist_ok=True)
    (tmp_path / "fstab").write_text(fstab_text)
    state = tmp_path / "state"
    config = tmp_path / "trainserver.toml"
    config.write_text(f'[paths]\nstorage = "{tmp_path}/storage"\nstate_dir = "{state}"\n'
                      f'lock_dir = "{state}"\nmetrics_dir = "{state}/metrics"\n'
                      f'[storage]\nfstab = "{tmp_path}/fstab"\n{storage_table}')
    return {"config": str(config), "mount": str(tmp_path / "storage")}


def test_a_machine_without_the_storage_gets_one_ok_finding_about_it(run_tool, tmp_path):
    from trainserver.core.findings import exit_status

    fs = unconfigured(tmp_path, "UUID=2f1c / ext4 defaults 0 1\n")
    result = storage(run_tool, fs, "check", "--json")
    found = findings(result)
    mine = [f for (_, subject), f in found.items() if subject == fs["mount"]]
    assert [(f.check, f.severity.label) for f in mine] == [("mount", "ok")], result.stdout
    assert mine[0].summary.startswith("not configured: [storage] names no devices")
    # Everything else is how full the machine's filesystems are (ok where nobody filled one).
    assert {c for c, _ in found} == {"mount", "space"}
    assert result.returncode == exit_status(found.values()), result.stderr
    others = [f for (c, _), f in found.items() if c == "space" and f.severity.label != "ok"]
    if not others:
        assert result.returncode == 0
    scrubbed = storage(run_tool, fs, "scrub", "--json")
    assert scrubbed.returncode == 0 and len(findings(scrubbed)) == 1, scrubbed.stdout


def test_configured_by_its_devices_but_not_there_is_critical(run_tool, tmp_path):
    fs = unconfigured(tmp_path, storage_table='backing_devices = ["/dev/disk/by-id/ata-X_1"]\n')
    result = storage(run_tool, fs, "check", "--json")
    mount = findings(result)[("mount", fs["mount"])]
    assert mount.severity.label == "critical" and "configured but not" in mount.summary
    assert result.returncode == 2


def test_configured_by_a_non_uuid_fstab_entry_but_not_mounted_is_critical(run_tool, tmp_path):
    fs = unconfigured(tmp_path, f"LABEL=trainserver {tmp_path}/storage btrfs noatime 0 0\n")
    result = storage(run_tool, fs, "check", "--json")
    assert findings(result)[("mount", fs["mount"])].severity.label == "critical"
    assert result.returncode == 2


@pytest.fixture
def small_ext4(tmp_path):
    """A 64 MiB ext4 loop filesystem mounted at tmp_path/scratch; unmounted and detached after."""
    image, point, device = tmp_path / "scratch.img", tmp_path / "scratch", None
    point.mkdir()
    try:
        subprocess.run(["truncate", "-s", "64M", str(image)], check=True)
        device = subprocess.run(["losetup", "--find", "--show", str(image)], check=True,
                                capture_output=True, text=True).stdout.strip()
        subprocess.run(["mkfs.ext4", "-q", "-F", device], check=True)
        subprocess.run(["mount", device, str(point)], check=True)
        yield str(point)
    finally:
        if os.path.ismount(point):
            if subprocess.run(["umount", str(point)]).returncode:
                subprocess.run(["umount", "--lazy", str(point)])
        if device:
            subprocess.run(["losetup", "--detach", device], capture_output=True)


def test_every_local_filesystem_is_watched_with_the_storage_thresholds(run_tool, tmp_path,
                                                                        small_ext4):
    fs = unconfigured(tmp_path)
    before = findings(storage(run_tool, fs, "check", "--json"))
    assert before[("space", small_ext4)].severity.label == "ok"
    root = before[("space", "/")]  # the real root filesystem is among them
    assert root.threshold == 90 and root.summary.endswith(")")
    numbers = os.statvfs(small_ext4)
    # fill to 93% of what df counts: used / (used + available)
    used = (numbers.f_blocks - numbers.f_bfree) * numbers.f_frsize
    total = used + numbers.f_bavail * numbers.f_frsize
    subprocess.run(["fallocate", "-l", str(int(total * 0.93) - used),
                    os.path.join(small_ext4, "big")], check=True)
    result = storage(run_tool, fs, "check", "--json")
    space = findings(result)[("space", small_ext4)]
    assert space.severity.label == "warning", space.summary
    assert 90 < space.value <= 98 and "ext4 on /dev/loop" in space.summary
    assert result.returncode in (1, 2)  # 2 only when another filesystem is past critical
    # the storage's own thresholds: 95% warns no more
    with open(fs["config"], "a") as handle:
        handle.write("full_warning_percent = 95\n")
    again = findings(storage(run_tool, fs, "check", "--json"))
    assert again[("space", small_ext4)].severity.label == "ok"
