"""The role discover gives each disk under the [storage] config."""

from trainserver.storage import roles

NVME = "/dev/disk/by-id/nvme-Samsung_SSD_990_PRO_2TB_S7DNNJ0X000001"
HDDS = [f"/dev/disk/by-id/ata-ST8000VN004_ZA1000{i}" for i in range(4)]


def disk(path="/dev/sda", ids=(), rotational=True, holds_root=False, kind="disk", mounts=(),
         holders=(), partitions=(), probe_error=None):
    return {"path": path, "ids": list(ids), "rotational": rotational, "holds_root": holds_root,
            "kind": kind, "mounts": list(mounts), "holders": list(holders),
            "partitions": list(partitions), "probe_error": probe_error}


def part(path, mounts=(), holders=()):
    return {"path": path, "mounts": list(mounts), "holders": list(holders)}


CONFIG = {"cache_device": NVME, "backing_devices": HDDS, "cache": "bcache"}


def test_the_configured_nvme_is_the_cache_even_with_the_os_on_it():
    nvme = disk("/dev/nvme0n1", [NVME], rotational=False, holds_root=True,
                partitions=[part("/dev/nvme0n1p2", mounts=["/"])])
    role, why = roles.assign(nvme, CONFIG)
    assert role == "cache" and "only a new partition in its free space" in why


def test_configured_hard_disks_are_backing_and_in_use_is_said():
    assert roles.assign(disk(ids=[HDDS[0]]), CONFIG)[0] == "backing"
    role, why = roles.assign(disk(ids=[HDDS[1]], holders=["bcache0"]), CONFIG)
    assert role == "backing" and "held by bcache0" in why


def test_a_disk_holding_root_is_never_a_backing_device():
    role, why = roles.assign(disk(ids=[HDDS[2]], holds_root=True), CONFIG)
    assert role == "skip" and "root filesystem" in why


def test_anything_not_named_is_skipped_with_the_reason():
    assert roles.assign(disk(ids=["/dev/disk/by-id/ata-other"]), CONFIG) == \
        ("skip", "not named in [storage]")
    assert roles.assign(disk(kind="loop"), CONFIG)[1] == "a loop device, not a disk"
    role, why = roles.assign(disk(partitions=[part("/dev/sda1", mounts=["/home"])]), CONFIG)
    assert role == "skip" and "mounted on /home" in why


def test_unconfigured_disks_get_a_hint():
    empty = {"cache_device": "", "backing_devices": [], "cache": "bcache"}
    assert "could be a backing device" in roles.assign(disk(), empty)[1]
    assert "could hold the cache" in roles.assign(disk(rotational=False), empty)[1]


def test_cache_none_and_unprobeable_disks():
    none = dict(CONFIG, cache="none")
    assert roles.assign(disk("/dev/nvme0n1", [NVME], rotational=False), none)[0] == "skip"
    role, why = roles.assign(disk(ids=[HDDS[3]], probe_error="Operation not permitted"), CONFIG)
    assert role == "skip" and "cannot be probed" in why


def test_a_path_in_the_config_matches_too():
    assert roles.assign(disk("/dev/sdb"), dict(CONFIG, backing_devices=["/dev/sdb"]))[0] == \
        "backing"
