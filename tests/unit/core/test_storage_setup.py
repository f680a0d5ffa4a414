"""The one rule of whether a machine uses the storage (ts-storage, ts-snapshot, ts-doctor)."""

from trainserver.core import storage_setup

POINT = "/mnt/storage"
NONE = {"cache_device": "", "backing_devices": []}
FSTAB = ("# /etc/fstab: static file system information.\n"
         "UUID=2f1c-aa / ext4 errors=remount-ro 0 1\n")


def test_nothing_named_and_no_fstab_entry_is_not_configured():
    reason = storage_setup.unconfigured_reason(NONE, POINT, FSTAB)
    assert reason == ("not configured: [storage] names no devices and /etc/fstab has no entry "
                      "for /mnt/storage")


def test_a_named_device_or_any_fstab_entry_is_configured():
    disk = "/dev/disk/by-id/ata-HDD_1"
    assert storage_setup.unconfigured_reason({**NONE, "backing_devices": [disk]}, POINT,
                                             FSTAB) is None
    assert storage_setup.unconfigured_reason({**NONE, "cache_device": disk}, POINT, FSTAB) is None
    for line in ("UUID=495223b3 /mnt/storage btrfs noatime 0 0",
                 "/dev/sdb  /mnt/storage/  btrfs  defaults  0 0",  # not by UUID, trailing /
                 "LABEL=trainserver /mnt/storage btrfs noauto 0 0"):
        assert storage_setup.unconfigured_reason(NONE, POINT, FSTAB + line + "\n") is None, line


def test_a_commented_out_or_other_entry_does_not_configure_it():
    for line in ("#UUID=495223b3 /mnt/storage btrfs noatime 0 0",
                 "UUID=495223b3 /mnt/storage-old btrfs noatime 0 0",
                 "UUID=495223b3 /mnt btrfs noatime 0 0"):
        assert storage_setup.unconfigured_reason(NONE, POINT, FSTAB + line + "\n"), line


def config(tmp_path, fstab_text=None, **storage):
    fstab = tmp_path / "fstab"
    if fstab_text is not None:
        fstab.write_text(fstab_text)
    return {"paths": {"storage": str(tmp_path / "storage")},
            "storage": {**NONE, "fstab": str(fstab), **storage}}


def test_the_adapter_reads_the_configured_fstab(tmp_path):
    (tmp_path / "storage").mkdir()
    why = storage_setup.not_configured(config(tmp_path, FSTAB))
    assert why == (f"not configured: [storage] names no devices and {tmp_path}/fstab has no "
                   f"entry for {tmp_path}/storage, and nothing is mounted there")
    assert storage_setup.not_configured(config(tmp_path)) is not None  # no fstab at all
    entry = f"UUID=495223b3 {tmp_path}/storage btrfs noatime 0 0\n"
    assert storage_setup.not_configured(config(tmp_path, FSTAB + entry)) is None
    assert storage_setup.not_configured(
        config(tmp_path, FSTAB, backing_devices=["/dev/disk/by-id/ata-HDD_1"])) is None


def test_something_mounted_there_is_configured(tmp_path):
    # / is always a mount point: whatever is mounted at [paths] storage is in use
    assert storage_setup.not_configured(
        {"paths": {"storage": "/"}, "storage": {**NONE, "fstab": str(tmp_path / "none")}}) is None


def test_an_fstab_that_cannot_be_read_counts_as_configured(tmp_path):
    # A problem is never hidden behind "not configured": a directory stands for any read error
    (tmp_path / "fstab").mkdir()
    assert storage_setup.not_configured(config(tmp_path)) is None
