"""ts-storage plan and apply on real loop devices (cache = "none": this kernel has no bcache).

Five loop devices stand for the hard disks; four are named in [storage] through stable-id
links made here (the build machine has no udev), the fifth is not named and carries a
filesystem that must survive everything. The fstab is a test file. Needs root, btrfs-progs,
util-linux and python3-btrfsutil; everything made is removed afterwards, also on failure.
"""

import hashlib
import json
import os
import subprocess
import uuid as uuids

import pytest

pytestmark = pytest.mark.root
BY_ID = "/dev/disk/by-id"
SUBVOLUMES = ["docker-volumes", "cache/pip", "cache/huggingface", "cache/gdrive",
              "homes/alice", "workspaces/alice", "tensorboard/alice",
              "docker-volumes/alice-state"]
DIRECTORIES = ["homes", "workspaces", "tensorboard", "cache", "snapshots", "shared"]


def sh(*argv, check=True):
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def digest(path, length=64 * 2**20):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read(length)).hexdigest()


@pytest.fixture
def machine(tmp_path):
    """Five 512 MiB loop disks with /dev/disk/by-id links, a config naming four of them, an
    fstab with one existing line; all of it taken apart afterwards."""
    tag = f"ts-test-{uuids.uuid4().hex[:8]}"
    # The build machine has no udev: /dev/disk itself may be this test's to make and remove.
    made = [path for path in ("/dev/disk", BY_ID) if not os.path.isdir(path)]
    devices, links = [], []
    point = tmp_path / "storage"
    try:
        os.makedirs(BY_ID, exist_ok=True)
        for index in range(5):
            image = tmp_path / f"disk{index}.img"
            sh("truncate", "-s", "512M", str(image))
            devices.append(sh("losetup", "--find", "--show", str(image)).stdout.strip())
            link = os.path.join(BY_ID, f"{tag}-disk{index}")
            os.symlink(devices[-1], link)
            links.append(link)
        other = tmp_path / "other"
        other.mkdir()
        fstab = tmp_path / "fstab"
        fstab.write_text(f"# the machine's own lines stay as they are\n"
                         f"tmpfs {other} tmpfs defaults 0 0\n")
        state = tmp_path / "state"
        config = tmp_path / "trainserver.toml"

        def configure(**storage):
            table = {"cache": "none", "backing_devices": links[:4], "fstab": str(fstab),
                     **storage}
            config.write_text(
                f'[paths]\nstorage = "{point}"\nstate_dir = "{state}"\nlock_dir = "{state}"\n'
                f'metrics_dir = "{state}/metrics"\n[storage]\n' + "".join(
                    f"{key} = {json.dumps(value)}\n" for key, value in table.items())
                + '[[users.people]]\nname = "alice"\nuid = 1000\n')

        configure()
        # The disk nobody named: a filesystem with a file, which must stay byte for byte.
        sh("mkfs.ext4", "-q", "-L", "not-ours", devices[4])
        yield {"devices": devices, "ids": links, "point": str(point), "fstab": str(fstab),
               "config": str(config), "configure": configure, "tmp": tmp_path}
    finally:
        for mounted in (str(point), str(tmp_path / "probe")):
            if os.path.ismount(mounted):
                if sh("umount", mounted, check=False).returncode:
                    sh("umount", "--lazy", mounted, check=False)
        for link in links:
            os.unlink(link)
        for device in devices:
            sh("losetup", "--detach", device, check=False)
        # The kernel remembers the members of every BTRFS it saw: forget the detached ones.
        sh("btrfs", "device", "scan", "--forget", check=False)
        for path in reversed(made):
            os.rmdir(path)


def storage(run_tool, machine, *args):
    return run_tool("ts-storage", *args, env={"TRAINSERVER_CONFIG": machine["config"]})


def plan_json(run_tool, machine, *args):
    result = storage(run_tool, machine, "plan", "--json", *args)
    assert result.returncode in (0, 2), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_apply_builds_raid10_with_the_layout_and_fstab_and_a_rerun_does_nothing(
        run_tool, machine):
    import btrfsutil

    untouched = digest(machine["devices"][4])
    old_fstab = open(machine["fstab"]).read()
    status, plan = plan_json(run_tool, machine)
    assert status == 0, plan["refusals"]
    steps = {step["key"]: step for step in plan["steps"]}
    assert list(steps) == ["mkfs", "mount", "tree", "fstab", "scrub-timer"]
    assert steps["mkfs"]["command"] == ["mkfs.btrfs", "--label", "trainserver", "--data",
                                        "raid10", "--metadata", "raid10", *machine["ids"][:4]]
    assert {step["state"] for step in plan["steps"][:4]} == {"to do"}
    assert steps["scrub-timer"]["state"] == "skipped"  # no systemd in the build machine

    refused = storage(run_tool, machine, "apply")  # no --yes: the plan, and nothing else
    assert refused.returncode == 3 and "--yes" in refused.stderr
    assert "[to do] make BTRFS raid10" in refused.stdout
    assert not os.path.ismount(machine["point"])

    applied = storage(run_tool, machine, "apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "done: 4 steps" in applied.stdout

    point = machine["point"]
    mount = json.loads(sh("findmnt", "--json", "--output", "SOURCE,UUID,FSTYPE,OPTIONS",
                          "--mountpoint", point).stdout)["filesystems"][0]
    assert mount["fstype"] == "btrfs" and "noatime" in mount["options"]
    assert "compress=zstd:1" in mount["options"]
    df = sh("btrfs", "filesystem", "df", point).stdout
    assert "Data, RAID10" in df and "Metadata, RAID10" in df, df
    assert sh("btrfs", "filesystem", "show", point).stdout.count("devid") == 4
    for path in SUBVOLUMES:
        assert btrfsutil.is_subvolume(os.path.join(point, path)), path
    for path in DIRECTORIES:
        assert os.path.isdir(os.path.join(point, path))
        assert not btrfsutil.is_subvolume(os.path.join(point, path)), path
    assert os.listdir(os.path.join(point, "shared")) == []
    # alice has no account on this machine yet: her home is root's, but private from the start.
    home = os.stat(os.path.join(point, "homes/alice"))
    assert (home.st_uid, home.st_mode & 0o777) == (0, 0o700)
    quota = sh("btrfs", "qgroup", "show", point, check=False)
    assert quota.returncode != 0 and "not enabled" in quota.stderr

    fstab = open(machine["fstab"]).read()
    assert fstab.startswith(old_fstab)
    assert f"UUID={mount['uuid']} {point} btrfs noatime,compress=zstd:1,space_cache=v2 0 0\n" \
        in fstab
    backups = [p for p in os.listdir(machine["tmp"]) if p.startswith("fstab.trainserver-")]
    assert len(backups) == 1 and open(machine["tmp"] / backups[0]).read() == old_fstab
    assert sh("findmnt", "--verify", "--tab-file", machine["fstab"], check=False).returncode == 0
    assert digest(machine["devices"][4]) == untouched

    again = storage(run_tool, machine, "apply", "--yes")
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout
    status, plan = plan_json(run_tool, machine)
    assert status == 0 and plan["nothing_to_do"], plan
    assert open(machine["fstab"]).read() == fstab
    assert [p for p in os.listdir(machine["tmp"]) if p.startswith("fstab.trainserver-")] == \
        backups

    check = storage(run_tool, machine, "check", "--json")
    found = {(f["check"], f["subject"]): f["severity"] for f in map(json.loads,
                                                                     check.stdout.splitlines())}
    assert found[("mount", point)] == "ok"
    assert digest(machine["devices"][4]) == untouched


def test_a_rerun_after_a_crash_resumes_at_the_first_step_not_done(run_tool, machine):
    """A crash after mkfs, the mount and part of the tree: what a killed apply leaves."""
    ids = machine["ids"][:4]
    sh("mkfs.btrfs", "--label", "trainserver", "--data", "raid10", "--metadata", "raid10", *ids)
    os.makedirs(machine["point"])
    sh("mount", "-o", "noatime", ids[0], machine["point"])
    os.mkdir(os.path.join(machine["point"], "homes"))
    sh("btrfs", "subvolume", "create", os.path.join(machine["point"], "docker-volumes"))
    with open(os.path.join(machine["point"], "docker-volumes", "kept"), "w") as handle:
        handle.write("written before the crash\n")

    status, plan = plan_json(run_tool, machine)
    states = {step["key"]: step["state"] for step in plan["steps"]}
    assert status == 0 and states == {"mkfs": "done", "mount": "done", "tree": "to do",
                                      "fstab": "to do", "scrub-timer": "skipped"}, plan
    applied = storage(run_tool, machine, "apply", "--yes", "--json")
    assert applied.returncode == 0, applied.stderr
    ran = [step["key"] for step in json.loads(applied.stdout)["ran"]]
    assert ran == ["tree", "fstab"]
    with open(os.path.join(machine["point"], "docker-volumes", "kept")) as handle:
        assert handle.read() == "written before the crash\n"


def test_a_disk_holding_data_is_refused_without_wipe_and_its_serial(run_tool, machine):
    victim = machine["devices"][2]
    sh("mkfs.ext4", "-q", "-L", "precious", victim)
    before = digest(victim)
    name = os.path.basename(machine["ids"][2])  # a loop device has no serial: its id's name

    status, plan = plan_json(run_tool, machine)
    assert status == 2
    assert any("ext4 labelled 'precious'" in r and f"--wipe --confirm {name}" in r
               for r in plan["refusals"]), plan["refusals"]
    refused = storage(run_tool, machine, "apply", "--yes")
    assert refused.returncode == 2 and "refused:" in refused.stdout
    status, plan = plan_json(run_tool, machine, "--wipe")
    assert status == 2 and any(f"needs --confirm {name}" in r for r in plan["refusals"])
    assert storage(run_tool, machine, "apply", "--yes", "--wipe").returncode == 2
    assert digest(victim) == before and not os.path.ismount(machine["point"])

    wiped = storage(run_tool, machine, "apply", "--yes", "--wipe", "--confirm", name, "--json")
    assert wiped.returncode == 0, wiped.stderr
    ran = [step["key"] for step in json.loads(wiped.stdout)["ran"]]
    assert ran[0] == f"wipe:{machine['ids'][2]}" and "mkfs" in ran


def test_a_mounted_disk_is_refused_even_with_wipe(run_tool, machine):
    mounted = machine["devices"][1]
    sh("mkfs.ext4", "-q", mounted)
    probe = machine["tmp"] / "probe"
    probe.mkdir()
    sh("mount", mounted, str(probe))
    name = os.path.basename(machine["ids"][1])
    status, plan = plan_json(run_tool, machine, "--wipe", "--confirm", name)
    assert status == 2
    assert any(f"{mounted} is mounted on {probe}" in r for r in plan["refusals"]), plan
    result = storage(run_tool, machine, "apply", "--yes", "--wipe", "--confirm", name)
    assert result.returncode == 2
    assert sh("blkid", "-p", "-s", "TYPE", "-o", "value", machine["devices"][0],
              check=False).stdout.strip() == ""  # nothing else was touched either


def test_a_disk_the_config_does_not_name_is_refused(run_tool, machine):
    stranger = os.path.basename(machine["ids"][4])
    before = digest(machine["devices"][4])
    status, plan = plan_json(run_tool, machine, "--wipe", "--confirm", stranger)
    assert status == 2
    assert any(f"--confirm {stranger}: not the serial of a disk named in [storage]" in r
               for r in plan["refusals"]), plan["refusals"]
    assert storage(run_tool, machine, "apply", "--yes", "--wipe", "--confirm",
                   stranger).returncode == 2
    # A kernel name instead of a stable id: the config itself is refused.
    machine["configure"](backing_devices=machine["devices"][:4])
    result = storage(run_tool, machine, "plan")
    assert result.returncode == 3 and "backing_devices" in result.stderr
    assert digest(machine["devices"][4]) == before


def test_raid10_needs_four_disks_and_raid1_only_when_asked(run_tool, machine):
    machine["configure"](backing_devices=machine["ids"][:3])
    status, plan = plan_json(run_tool, machine)
    assert status == 2 and any("RAID10 needs at least 4 disks" in r for r in plan["refusals"])
    machine["configure"](backing_devices=machine["ids"][:2], raid_profile="raid1")
    applied = storage(run_tool, machine, "apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    df = sh("btrfs", "filesystem", "df", machine["point"]).stdout
    assert "Data, RAID1" in df and "Metadata, RAID1" in df, df


def test_bcache_on_a_kernel_without_it_is_refused_with_the_way_out(run_tool, machine):
    if os.path.isdir("/sys/module/bcache"):
        pytest.skip("this kernel has bcache; the refusal is for kernels without it")
    machine["configure"](cache="bcache", cache_device=machine["ids"][4])
    status, plan = plan_json(run_tool, machine)
    assert status == 2
    assert any("no bcache module" in r and 'cache = "none"' in r for r in plan["refusals"])


def test_an_fstab_that_fails_verification_is_not_touched(run_tool, machine):
    with open(machine["fstab"], "a") as handle:
        handle.write("UUID=00000000-dead-beef-0000-000000000000 /nowhere ext4 defaults 0 2\n")
    before = open(machine["fstab"]).read()
    status, plan = plan_json(run_tool, machine)
    assert status == 2 and any("fails findmnt --verify" in r for r in plan["refusals"]), plan
    assert storage(run_tool, machine, "apply", "--yes").returncode == 2
    assert open(machine["fstab"]).read() == before
    assert not os.path.ismount(machine["point"])


def mkfs_labelled(*devices):
    sh("mkfs.btrfs", "--force", "--label", "trainserver", "--data", "raid10", "--metadata",
       "raid10", *devices)


def test_a_rerun_after_a_kill_between_mkfs_and_the_mount_registers_the_members(
        run_tool, machine):
    """After a kill between mkfs and the mount, a reboot or a container leaves the members
    unknown to the kernel (no udev event registers them): a mount by UUID alone fails."""
    mkfs_labelled(*machine["ids"][:4])
    for device in machine["devices"][:4]:
        sh("btrfs", "device", "scan", "--forget", device)
    status, plan = plan_json(run_tool, machine)
    states = {step["key"]: step["state"] for step in plan["steps"]}
    assert status == 0 and states["mkfs"] == "done" and states["mount"] == "to do", plan
    applied = storage(run_tool, machine, "apply", "--yes", "--json")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert [step["key"] for step in json.loads(applied.stdout)["ran"]] == [
        "mount", "tree", "fstab"]
    assert sh("btrfs", "filesystem", "show", machine["point"]).stdout.count("devid") == 4


def test_a_mount_that_fails_stops_apply_with_exit_2_and_a_rerun_resumes_there(
        run_tool, machine):
    machine["configure"](mount_options="noatime,no_such_btrfs_option")
    failed = storage(run_tool, machine, "apply", "--yes")
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "mount" in failed.stderr and not os.path.ismount(machine["point"])
    machine["configure"]()
    status, plan = plan_json(run_tool, machine)
    assert status == 0 and [s["key"] for s in plan["steps"] if s["state"] == "to do"] == [
        "mount", "tree", "fstab"], plan
    assert storage(run_tool, machine, "apply", "--yes").returncode == 0
    assert os.path.ismount(machine["point"])


def test_a_filesystem_that_spans_a_disk_the_config_does_not_name_is_never_adopted(
        run_tool, machine):
    devices = machine["devices"]
    mkfs_labelled(*devices)  # the four configured disks and the fifth, which is not
    before = open(machine["fstab"]).read()
    for mounted in (False, True):
        if mounted:
            os.makedirs(machine["point"])
            sh("mount", devices[0], machine["point"])
        status, plan = plan_json(run_tool, machine)
        assert status == 2, plan
        assert any(devices[4] in r and "does not name" in r for r in plan["refusals"]), plan
        states = {step["key"]: step["state"] for step in plan["steps"]}
        assert states["mkfs"] == "to do", plan
        applied = storage(run_tool, machine, "apply", "--yes")
        assert applied.returncode == 2, applied.stdout + applied.stderr
        assert "refused:" in applied.stdout and devices[4] in applied.stdout
        assert os.path.ismount(machine["point"]) is mounted
        if mounted:
            assert os.listdir(machine["point"]) == []
        assert open(machine["fstab"]).read() == before
    # A wipe does not help: the configured disks are the filesystem's, not a stranger's.
    names = [os.path.basename(i) for i in machine["ids"][:4]]
    assert storage(run_tool, machine, "apply", "--yes", "--wipe", "--confirm",
                   ",".join(names)).returncode == 2
    sh("umount", machine["point"])
    assert sh("blkid", "-p", "-s", "TYPE", "-o", "value", devices[0]).stdout.strip() == "btrfs"


def test_a_filesystem_with_a_member_that_is_not_there_is_never_adopted(run_tool, machine):
    devices = machine["devices"]
    mkfs_labelled(*devices)
    sh("wipefs", "--all", devices[4])  # the fifth member is gone; the other four remain
    status, plan = plan_json(run_tool, machine)
    assert status == 2, plan
    assert any("1 of its 5 devices" in r for r in plan["refusals"]), plan["refusals"]
    assert storage(run_tool, machine, "apply", "--yes").returncode == 2
    assert not os.path.ismount(machine["point"])


def test_a_stable_id_that_climbs_out_of_by_id_is_refused(run_tool, machine):
    climbing = f"{BY_ID}/../../{os.path.basename(machine['devices'][3])}"
    assert os.path.realpath(climbing) == machine["devices"][3]
    machine["configure"](backing_devices=machine["ids"][:3] + [climbing])
    checked = run_tool("ts-config", "--config", machine["config"], "check")
    assert checked.returncode == 3 and "[storage] backing_devices" in checked.stderr, \
        checked.stdout + checked.stderr
    assert climbing in checked.stderr
    result = storage(run_tool, machine, "plan")
    assert result.returncode == 3 and climbing in result.stderr, result.stdout + result.stderr


def test_a_stable_id_that_is_not_a_link_to_a_block_device_is_refused(run_tool, machine):
    target = machine["tmp"] / "disk-image-not-a-device"
    target.write_bytes(b"\0" * 4096)
    link = os.path.join(BY_ID, f"ts-test-{uuids.uuid4().hex[:8]}-file")
    os.symlink(target, link)
    try:
        machine["configure"](backing_devices=machine["ids"][:3] + [link])
        status, plan = plan_json(run_tool, machine)
        assert status == 2
        assert any(link in r and "not a block device" in r for r in plan["refusals"]), plan
    finally:
        os.unlink(link)
