"""The plan of ts-storage apply, over facts as the survey records them (bcache mode, which the
build machine cannot run: the VM test runs it for real), with recorded bcache-super-show and
sfdisk output."""

import json
import os

import pytest

from trainserver.storage import bcache, layout, plan as plans

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "storage")
NVME_ID = "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_NVME0001"
HDD_IDS = [f"/dev/disk/by-id/ata-TS-HDD-8T_TSHDD000{n}" for n in range(1, 5)]
HDDS = ["/dev/sda", "/dev/sdb", "/dev/sdc", "/dev/sdd"]
GiB = 2**30


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def table(name):
    found = json.loads(fixture(name))["partitiontable"]
    for part in found["partitions"]:
        part["node"] = part["node"].replace("/dev/loop2p", "/dev/nvme0n1p")
    return found


CACHE = bcache.parse_super(fixture("bcache-super-cache.txt"))
BACKING = bcache.parse_super(fixture("bcache-super-backing.txt"))
CSET = CACHE["cset_uuid"]


def disk(path, ids, serial, rotational, partitions=(), **extra):
    found = {"path": path, "ids": ids, "serial": serial, "rotational": rotational,
             "size": 8 * GiB, "sector_size": 512, "signatures": {}, "mounts": [],
             "holders": [], "busy": False, "holds_root": False, "partitions": []}
    for number, start, size, mounts in partitions:
        found["partitions"].append({"path": f"{path}p{number}", "start": start * 512,
                                    "size": size * 512, "signatures": {}, "mounts": mounts,
                                    "holders": [], "busy": bool(mounts), "number": number})
    found.update(extra)
    return found


def fresh():
    """The VM's machine before apply: an NVMe holding / on its one partition, four empty HDDs."""
    nvme = disk("/dev/nvme0n1", [NVME_ID], "NVME0001", False,
                partitions=[(1, 2048, 2097152, ["/"])], holds_root=True,
                signatures={"PTTYPE": "gpt"})
    hdds = [disk(path, [i], f"TSHDD000{n}", True)
            for n, (path, i) in enumerate(zip(HDDS, HDD_IDS), 1)]
    return plans.LayoutFacts(
        disks=[nvme] + hdds, resolved={NVME_ID: "/dev/nvme0n1", **dict(zip(HDD_IDS, HDDS))},
        table=table("sfdisk-os-partition.json"), bcache_available=True, systemd=True,
        fstab_text="# UNCONFIGURED FSTAB FOR BASE SYSTEM\n", mount_point_entries=0)


SETTINGS = plans.Settings(backing=HDD_IDS, cache_device=NVME_ID, users=["alice"])


def cached(facts):
    """After the cache partition: made, registered, visible to the kernel."""
    facts.table = table("sfdisk-with-cache.json")
    facts.disks[0]["partitions"].append(
        {"path": "/dev/nvme0n1p2", "start": 2099200 * 512, "size": 14675968 * 512,
         "signatures": {"TYPE": "bcache"}, "mounts": [], "holders": [], "busy": True})
    facts.supers["/dev/nvme0n1p2"] = CACHE
    facts.bcache_loaded = True
    facts.cache_sets = {CSET}
    return facts


def backed(facts, count=4, mode="writeback"):
    """After make-bcache --bdev, registration and attach of the first COUNT disks."""
    for index, path in enumerate(HDDS[:count]):
        facts.supers[path] = BACKING
        facts.registered[os.path.basename(path)] = {
            "bcache_dev": f"/dev/bcache{3 - index}", "cache_set": CSET, "cache_mode": mode}
        facts.disks[index + 1].update(holders=[f"bcache{3 - index}"], busy=True,
                                      signatures={"TYPE": "bcache"})
    return facts


def complete():
    facts = backed(cached(fresh()))
    # Each attached disk's bcache device holds the cache partition, as sysfs shows it.
    facts.disks[0]["partitions"][1]["holders"] = [f"bcache{n}" for n in range(4)]
    uuid = "5a1ad5e4-0000-4000-8000-000000000001"
    for index in range(4):
        facts.members[f"/dev/bcache{index}"] = {"TYPE": "btrfs", "LABEL": "trainserver",
                                                "UUID": uuid}
    facts.filesystems = {uuid: {"num_devices": 4, "error": None}}
    facts.mount = {"uuid": uuid, "source": "/dev/bcache3", "fstype": "btrfs"}
    facts.tree = {path: kind for path, kind in layout.tree(["alice"])}
    facts.fstab_text += plans.fstab_line(uuid, SETTINGS) + "\n"
    facts.scrub_timer_enabled = True
    return facts


def keys(plan, state=None):
    return [s.key for s in plan.steps if state is None or plans.Step.to_dict(s)["state"] == state]


def test_a_fresh_machine_gets_every_step_in_order_and_only_new_partition_on_the_os_disk():
    plan = plans.make(SETTINGS, fresh())
    assert plan.refusals == []
    per_disk = [f"{step}:{os.path.basename(i)}" for i in HDD_IDS
                for step in ("make-backing", "register", "attach", "writeback")]
    assert keys(plan) == ["module", "partition", "partition-visible", "make-cache",
                          "register-cache", *per_disk, "mkfs", "mount", "tree", "fstab",
                          "scrub-timer"]
    steps = {s.key: s for s in plan.steps}
    # The free space after the 1 GiB "os" partition, 1 MiB aligned, before the backup GPT.
    assert steps["partition"].command == [
        "sgdisk", "--new=2:2099200:16775167", "--typecode=2:8300",
        "--change-name=2:trainserver-bcache", NVME_ID]
    assert steps["make-cache"].command == ["make-bcache", "--cache", "/dev/nvme0n1p2"]
    assert steps["register-cache"].write == ("/sys/fs/bcache/register", "/dev/nvme0n1p2")
    assert steps["mkfs"].command[:7] == ["mkfs.btrfs", "--label", "trainserver", "--data",
                                         "raid10", "--metadata", "raid10"]
    assert not any(s.done for s in plan.steps)


def test_each_step_is_done_by_its_own_result_so_a_rerun_resumes():
    facts = cached(fresh())
    plan = plans.make(SETTINGS, facts)
    assert keys(plan, "done") == ["module", "partition", "partition-visible", "make-cache",
                                  "register-cache"]
    steps = {s.key: s for s in plan.steps}
    assert steps["make-backing:ata-TS-HDD-8T_TSHDD0001"].command == [
        "make-bcache", "--bdev", "--writeback", "--cset-uuid", CSET, HDD_IDS[0]]
    backed(facts, count=2, mode="writethrough")
    plan = plans.make(SETTINGS, facts)
    assert plan.refusals == []
    first = plan.todo[0]
    assert first.key == "writeback:ata-TS-HDD-8T_TSHDD0001"
    assert first.write == ("/sys/class/block/sda/bcache/cache_mode", "writeback")
    assert "make-backing:ata-TS-HDD-8T_TSHDD0003" in keys(plan, "to do")


def test_a_complete_layout_has_nothing_to_do():
    plan = plans.make(SETTINGS, complete())
    assert plan.refusals == [] and plan.todo == []
    assert plan.to_dict()["nothing_to_do"]


def test_the_partition_in_the_table_but_not_in_the_kernel_needs_partx():
    facts = fresh()
    facts.table = table("sfdisk-with-cache.json")
    steps = {s.key: s for s in plans.make(SETTINGS, facts).steps}
    assert steps["partition"].done and not steps["partition-visible"].done
    assert steps["partition-visible"].command == ["partx", "--add", "--nr", "2", "/dev/nvme0n1"]


def test_a_backing_device_of_another_cache_set_needs_wipe_and_its_serial():
    facts = cached(fresh())
    facts.supers["/dev/sdc"] = dict(BACKING, cset_uuid="0d0d0d0d-0000-4000-8000-000000000000")
    facts.disks[3]["signatures"] = {"TYPE": "bcache"}
    plan = plans.make(SETTINGS, facts)
    assert plan.refusals == [f"{HDD_IDS[2]} (serial TSHDD0003): carries bcache of another cache "
                             f"set; apply never overwrites data unless run with --wipe "
                             f"--confirm TSHDD0003"]
    plan = plans.make(SETTINGS, facts, wipe=True, confirmed=["TSHDD0003"])
    assert plan.refusals == []
    assert plan.todo[0].command == ["wipefs", "--all", HDD_IDS[2]]


def test_a_cache_partition_held_by_a_device_not_of_the_layout_is_refused():
    facts = complete()
    facts.disks[0]["partitions"][1]["holders"].append("bcache7")
    assert plans.make(SETTINGS, facts).refusals == [
        "/dev/nvme0n1p2: the cache partition is in use: bcache7"]


def test_disks_in_use_are_refused_even_with_wipe():
    facts = cached(fresh())
    facts.disks[1].update(holders=["md127"], busy=True, signatures={"TYPE": "linux_raid_member"})
    facts.disks[2].update(busy=True)
    facts.disks[4]["partitions"] = [{"path": "/dev/sdd1", "mounts": ["/srv"], "holders": [],
                                     "signatures": {"TYPE": "ext4"}}]
    plan = plans.make(SETTINGS, facts, wipe=True, confirmed=["TSHDD0001", "TSHDD0004"])
    assert f"{HDD_IDS[0]} (serial TSHDD0001): /dev/sda is held by md127" in plan.refusals
    assert f"{HDD_IDS[1]} (serial TSHDD0002): /dev/sdb is open exclusively by another " \
           f"program" in plan.refusals
    assert f"{HDD_IDS[3]} (serial TSHDD0004): /dev/sdd1 is mounted on /srv" in plan.refusals


def test_the_root_disk_as_a_backing_device_is_refused():
    facts = fresh()
    facts.disks[2]["holds_root"] = True
    plan = plans.make(SETTINGS, facts)
    assert plan.refusals == [f"{HDD_IDS[1]} (serial TSHDD0002): holds the root filesystem"]


@pytest.mark.parametrize("change, refusal", [
    (lambda f: f.table.update(label="dos"), "has a dos partition table; apply adds the cache "
                                            "partition to GPT disks only"),
    (lambda f: f.table["partitions"][0].update(size=16775000), "0 MiB free after the last "
                                                               "partition"),
    (lambda f: setattr(f, "bcache_available", False), "this kernel has no bcache module"),
    (lambda f: setattr(f, "mount", {"uuid": "x", "source": "/dev/sde1"}),
     "is already mounted from /dev/sde1"),
    (lambda f: setattr(f, "mount_point_entries", 3), "is not empty (3 entries)"),
    (lambda f: setattr(f, "fstab_text", "/dev/sde1 /mnt/storage ext4 defaults 0 2\n"),
     "already mounts something else on /mnt/storage"),
    (lambda f: setattr(f, "resolved", {**f.resolved, HDD_IDS[3]: None}), "no such device"),
    (lambda f: setattr(f, "resolved", {**f.resolved, HDD_IDS[3]: "/dev/nvme0n1p1"}),
     "is a partition (/dev/nvme0n1p1); name the whole disk"),
])
def test_refusals(change, refusal):
    facts = fresh()
    change(facts)
    plan = plans.make(SETTINGS, facts)
    assert any(refusal in r for r in plan.refusals), plan.refusals


def test_config_refusals():
    facts = fresh()
    three = plans.Settings(backing=HDD_IDS[:3], cache_device=NVME_ID)
    assert any("RAID10 needs at least 4 disks" in r and 'raid_profile = "raid1"' in r
               for r in plans.make(three, facts).refusals)
    raid1 = plans.Settings(backing=HDD_IDS[:2], cache_device=NVME_ID, profile="raid1")
    assert plans.make(raid1, facts).refusals == []
    twice = plans.Settings(backing=HDD_IDS[:3] + [NVME_ID], cache_device=NVME_ID)
    assert any(f"{NVME_ID} is named twice" in r for r in plans.make(twice, facts).refusals)
    stranger = plans.make(SETTINGS, facts, wipe=True, confirmed=["WD-SOMEONE-ELSE"])
    assert stranger.refusals == ["--confirm WD-SOMEONE-ELSE: not the serial of a disk named in "
                                 "[storage]; apply touches only those"]


def test_a_directory_where_a_subvolume_belongs_is_refused():
    facts = complete()
    facts.tree["docker-volumes"] = "directory"
    assert any("docker-volumes is a directory, not a subvolume" in r
               for r in plans.make(SETTINGS, facts).refusals)


def test_free_region_is_after_every_partition_aligned_and_before_the_backup_gpt():
    # 4 KiB sectors and no table yet: 1 MiB is 256 sectors; the backup GPT takes 6 sectors.
    total = 8 * GiB // 4096
    assert layout.free_region(None, 8 * GiB, 4096) == (256, (total - 6) // 256 * 256 - 1)
    gap = {"firstlba": 34, "lastlba": 16777182, "partitions": [
        {"node": "/dev/x1", "start": 2048, "size": 2048},
        {"node": "/dev/x3", "start": 1050624, "size": 1000}]}
    assert layout.free_region(gap, 8 * GiB, 512)[0] == 1052672  # never the gap before x3
    assert layout.next_partition_number(gap) == 2
    full = {"firstlba": 34, "lastlba": 16777182,
            "partitions": [{"node": "/dev/x1", "start": 2048, "size": 16775135}]}
    assert layout.free_region(full, 8 * GiB, 512) is None


def test_bcache_super_show_is_parsed_from_recorded_output():
    assert CACHE["kind"] == "cache" and CSET == "ad8eb7e7-e0dd-4557-bf14-362f84ea9557"
    assert BACKING == {"kind": "backing", "uuid": BACKING["uuid"], "cset_uuid": CSET,
                       "cache_mode": "writeback", "cache_state": "detached"}
    with pytest.raises(ValueError):
        bcache.parse_super("sb.magic\t\tbad magic\n")


PLAIN = plans.Settings(backing=HDD_IDS, cache="none", users=["alice"])
FS_UUID = "2125f52d-2dd0-4792-9393-e402d0764825"


def labelled(facts, paths, num_devices):
    """A BTRFS made by apply (label and all) over PATHS, whose superblock counts NUM_DEVICES."""
    by_path = {d["path"]: d for d in facts.disks}
    for path in paths:
        by_path[path]["signatures"] = {"TYPE": "btrfs", "LABEL": "trainserver",
                                       "UUID": FS_UUID}
    facts.filesystems = {FS_UUID: {"num_devices": num_devices, "error": None}}
    return facts


def fifth(facts):
    facts.disks.append(disk("/dev/sde", ["/dev/disk/by-id/ata-TS-HDD-8T_TSHDD0005"],
                            "TSHDD0005", True))
    return facts


def test_a_filesystem_over_exactly_the_configured_disks_is_adopted_and_mounted_after_a_scan():
    plan = plans.make(PLAIN, labelled(fresh(), HDDS, 4))
    assert plan.refusals == []
    steps = {s.key: s for s in plan.steps}
    assert steps["mkfs"].done and not steps["mount"].done
    # Nothing may have registered the members (a container, a kill before the mount).
    assert steps["mount"].prepare == ["btrfs", "device", "scan", *HDD_IDS]
    assert steps["mount"].command[-2:] == [f"UUID={FS_UUID}", "/mnt/storage"]


def test_a_filesystem_that_also_spans_a_disk_not_named_is_refused_mounted_or_not():
    facts = labelled(fifth(fresh()), HDDS + ["/dev/sde"], 5)
    for mount in (None, {"uuid": FS_UUID, "source": "/dev/sda", "fstype": "btrfs"}):
        facts.mount = mount
        plan = plans.make(PLAIN, facts, wipe=True, confirmed=["TSHDD0001"])
        assert plan.refusals == [
            f"the BTRFS labelled 'trainserver' (UUID {FS_UUID}): spans /dev/sde, which "
            f"[storage] does not name. apply adopts a filesystem only when its devices are "
            f"exactly the configured ones, and never builds over one that is not: make the two "
            f"agree first (name its other devices in [storage], or btrfs device add/remove)"]
        steps = {s.key: s for s in plan.steps}
        assert not steps["mkfs"].done and not steps["mount"].done and not steps["tree"].done


def test_a_filesystem_with_a_device_missing_or_unreadable_is_refused():
    facts = labelled(fresh(), HDDS, 5)
    refusal, = plans.make(PLAIN, facts).refusals
    assert "1 of its 5 devices is not present on this machine" in refusal
    facts.filesystems[FS_UUID] = {"num_devices": None, "error": "dump-super: bad magic"}
    refusal, = plans.make(PLAIN, facts).refusals
    assert "its device count cannot be read (dump-super: bad magic)" in refusal


def test_a_filesystem_on_some_configured_disks_only_needs_wipe_of_each_of_them():
    facts = labelled(fifth(fresh()), HDDS[:3] + ["/dev/sde"], 4)
    plan = plans.make(PLAIN, facts)
    assert any(f"spans /dev/sde, which [storage] does not name; does not span {HDD_IDS[3]}"
               in r for r in plan.refusals), plan.refusals
    assert any(r.startswith(f"{HDD_IDS[0]} (serial TSHDD0001): carries btrfs labelled")
               for r in plan.refusals)
    # Erasing it on every configured disk that carries it is what --wipe is for.
    plan = plans.make(PLAIN, facts, wipe=True, confirmed=["TSHDD0001", "TSHDD0002", "TSHDD0003"])
    assert plan.refusals == [] and any("--wipe erases it" in n for n in plan.notes)
    assert [s.key for s in plan.todo][:3] == [f"wipe:{i}" for i in HDD_IDS[:3]]


@pytest.mark.parametrize("name, problem", [
    ("/dev/disk/by-id/../../sdd", "not an entry of /dev/disk/by-id itself"),
    ("/dev/disk/by-id/nested/ata-TS-HDD-8T_TSHDD0004", "not an entry of /dev/disk/by-id"),
    ("/dev/sdd", "not a stable id"),
])
def test_a_name_that_is_no_entry_of_by_id_itself_is_refused(name, problem):
    facts = fresh()
    facts.resolved[name] = "/dev/sdd"
    settings = plans.Settings(backing=HDD_IDS[:3] + [name], cache_device=NVME_ID)
    assert [r for r in plans.make(settings, facts).refusals if name in r] == [
        f"{name}: {layout.stable_id_problem(name)}"]
    assert problem in layout.stable_id_problem(name)


def test_an_id_the_survey_could_not_trust_is_refused_with_its_reason():
    facts = fresh()
    facts.resolved[HDD_IDS[3]] = None
    facts.id_problems[HDD_IDS[3]] = "leads to /tmp/x, which is not a block device"
    assert plans.make(SETTINGS, facts).refusals == [
        f"{HDD_IDS[3]}: leads to /tmp/x, which is not a block device"]


def test_with_bcache_a_filesystem_that_also_spans_another_bcache_device_is_refused():
    facts = complete()
    uuid = facts.mount["uuid"]
    facts.disks.append(disk("/dev/bcache4", [], None, True,
                            signatures={"TYPE": "btrfs", "LABEL": "trainserver", "UUID": uuid}))
    facts.filesystems[uuid]["num_devices"] = 5
    plan = plans.make(SETTINGS, facts)
    assert len(plan.refusals) == 1 and "spans /dev/bcache4, which [storage] does not name" in \
        plan.refusals[0]
    assert [s.key for s in plan.todo][:2] == ["mkfs", "mount"]
    assert plans.make(SETTINGS, complete()).refusals == []
