"""Which filesystems ts-storage check watches for space, on a recorded mountinfo (see
tests/fixtures/storage/PROVENANCE.md), and how full each one reads."""

from tests.unit.storage.test_storage_parse import fixture
from trainserver.core import mountinfo
from trainserver.core.findings import Severity
from trainserver.storage import assess, filesystems
from trainserver.storage.assess import Facts, Limits

ENTRIES = mountinfo.parse(fixture("mountinfo-mixed.txt"))


def watched(storage="/mnt/storage"):
    return [w.mount_point for w in filesystems.select(ENTRIES, storage)]


def test_mountinfo_lines_are_parsed_with_the_filesystems_own_options():
    by_point = {}
    for entry in ENTRIES:
        by_point.setdefault(entry.mount_point, entry)
    private = by_point["/var/tmp-private"]
    assert private.options[0] == "ro" and private.super_options[0] == "rw"
    assert by_point["/var/lib/docker-like"].root == "/docker-volumes"
    assert by_point["/var/lib/docker-like"].device == by_point["/mnt/storage"].device == "0:41"
    assert by_point["/snap/core22/1380"].fstype == "squashfs"  # past the optional fields
    assert "/srv/scratch disk" in by_point  # \040 unescaped


def test_only_local_writable_block_filesystems_are_watched_once_each():
    assert watched() == ["/", "/boot/efi", "/mnt/storage-old", "/srv/scratch disk", "/var"]


def test_what_is_left_out_and_why():
    left_out = set(e.mount_point for e in ENTRIES) - set(watched())
    # memory, kernel, overlay, network, FUSE (also on a block device), squashfs, ISO, read-only
    for point in ("/proc", "/dev/shm", "/sys/fs/cgroup", "/tmpfs", "/ov/m", "/srv/nfs", "/drive",
                  "/mnt/ntfs", "/snap/core22/1380", "/media/cdrom", "/media/ro"):
        assert point in left_out, point
    # the storage, its subvolume mounted elsewhere and what is below it: its own check counts them
    assert {"/mnt/storage", "/var/lib/docker-like", "/mnt/storage/shared"} <= left_out
    # second mounts of / and /var (PrivateTmp's /tmp, a bind, the sandbox's read-only bind)
    assert {"/tmp", "/srv/root-bind", "/var/tmp-private"} <= left_out
    # /home is hidden by a tmpfs (ProtectHome=yes): what can be seen there is not the partition
    assert "/home" in left_out


def test_a_filesystem_is_reported_at_its_shortest_mount_point_whatever_the_order():
    reordered = list(reversed(ENTRIES))
    points = [w.mount_point for w in filesystems.select(reordered, "/mnt/storage")]
    assert "/var" in points and "/var/tmp-private" not in points
    assert "/" in points and "/tmp" not in points and "/srv/root-bind" not in points


def test_another_storage_path_changes_what_is_left_out():
    points = watched("/mnt/storage-old")
    assert "/mnt/storage-old" not in points
    # the BTRFS filesystem is now an ordinary one, at its shortest mount point
    assert "/mnt/storage" in points and "/var/lib/docker-like" not in points


def test_percent_used_counts_as_df_does():
    # df: 1000 blocks, 300 free of which 250 available to users: 700 / (700 + 250)
    assert round(filesystems.percent_used(1000, 300, 250), 1) == 73.7
    assert filesystems.percent_used(0, 0, 0) == 0.0


def space(mount_point, percent, **extra):
    size = 100 * 2**30
    available = int(size * (100 - percent) / 100)
    return {"mount_point": mount_point, "fstype": "ext4", "source": "/dev/vda", "size": size,
            "free": available, "available": available, **extra}


def test_every_filesystem_gets_the_storage_thresholds_whether_or_not_the_storage_is_there():
    facts = Facts("/mnt/storage", unconfigured="not configured: nothing here",
                  filesystems=[space("/", 50), space("/var", 91), space("/srv", 99)])
    findings, _ = assess.assess(facts, 0, Limits(), {})
    found = {(f.check, f.subject): f for f in findings}
    assert found[("mount", "/mnt/storage")].severity == Severity.OK
    assert found[("space", "/")].severity == Severity.OK
    assert found[("space", "/var")].severity == Severity.WARNING
    assert found[("space", "/var")].value == 91.0 and found[("space", "/var")].threshold == 90
    assert "ext4 on /dev/vda" in found[("space", "/var")].summary
    assert found[("space", "/srv")].severity == Severity.CRITICAL
    limits = Limits(full_warning_percent=40, full_critical_percent=95)
    findings, _ = assess.assess(facts, 0, limits, {})
    assert [f.severity for f in findings if f.check == "space"] == [
        Severity.WARNING, Severity.WARNING, Severity.CRITICAL]


def test_a_filesystem_that_cannot_be_read_is_unknown_and_one_without_blocks_is_skipped():
    facts = Facts("/mnt/storage", unconfigured="not configured",
                  filesystems=[{"mount_point": "/data", "error": "Permission denied"},
                               space("/empty", 0, size=0)])
    findings = assess.filesystem_findings(facts, Limits())
    assert [(f.subject, f.severity) for f in findings] == [("/data", Severity.UNKNOWN)]
    assert "Permission denied" in findings[0].summary
