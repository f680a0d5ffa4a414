"""Parsers of btrfs-progs 6.2 output, on outputs recorded from real filesystems
(tests/fixtures/storage/PROVENANCE.md)."""

import os

import pytest

from trainserver.storage import parse

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "fixtures", "storage")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def test_device_stats_by_devid():
    stats = parse.device_stats(fixture("device-stats-corruption.json"))
    assert sorted(stats) == [1, 2, 3, 4]
    assert sum(row["corruption_errs"] for row in stats.values()) == 1
    assert stats[1]["device"] == "/dev/loop0"


def test_device_stats_of_a_missing_device_name_it_by_devid():
    stats = parse.device_stats(fixture("device-stats-degraded.json"))
    assert stats[4]["device"] == "devid:4"


def test_usage_overall_and_profiles():
    usage = parse.usage(fixture("usage-raid10.txt"))
    assert usage["overall"]["device_size"] == 4 * 2**30
    assert usage["overall"]["data_ratio"] == 2.0
    assert usage["overall"]["device_missing"] == 0
    assert {kind: p["profile"] for kind, p in usage["profiles"].items()} == {
        "data": "raid10", "metadata": "raid10", "system": "raid10"}
    assert "free_estimated" in usage["overall"]


def test_usage_counts_the_missing_device():
    assert parse.usage(fixture("usage-degraded.txt"))["overall"]["device_missing"] == 2**30


def test_show_lists_devices_and_sees_the_missing_one():
    healthy = parse.show(fixture("show-raid10.txt"))
    assert healthy["total"] == 4 and not healthy["missing"]
    assert [d["path"] for d in healthy["devices"]] == [f"/dev/loop{i}" for i in range(4)]
    degraded = parse.show(fixture("show-degraded.txt"))
    assert degraded["missing"] and degraded["devices"][3]["path"] == "MISSING"


def test_scrub_status_with_corrected_errors():
    scrub = parse.scrub_status(fixture("scrub-status-corrected.txt"))
    assert scrub["status"] == "finished"
    assert scrub["corrected_errors"] == 1 and scrub["uncorrectable_errors"] == 0
    assert scrub["csum_errors"] == 1
    assert scrub["started"] > 1.7e9


def test_a_filesystem_never_scrubbed_has_no_scrub():
    assert parse.scrub_status(fixture("scrub-status-none.txt")) is None


def test_findmnt_gives_uuid_and_options():
    mount = parse.mount(fixture("findmnt-degraded.json"))
    assert mount["fstype"] == "btrfs" and "degraded" in mount["options"]
    assert parse.mount("") is None
    assert parse.mount('{"filesystems": []}') is None


def test_fstab_uuid_for_the_mount_point():
    text = ("# comment\nUUID=abc / ext4 defaults 0 1\n"
            "UUID=1234-5678 /mnt/storage btrfs noatime 0 0  # the storage\n")
    assert parse.fstab_uuid(text, "/mnt/storage") == "1234-5678"
    assert parse.fstab_uuid(text, "/mnt/storage/") == "1234-5678"
    assert parse.fstab_uuid("/dev/sdb /mnt/storage btrfs defaults 0 0\n", "/mnt/storage") is None
    assert parse.fstab_uuid(text, "/srv") is None


@pytest.mark.parametrize("parser, text", [
    (parse.device_stats, "not json"), (parse.device_stats, '{"x": 1}'),
    (parse.usage, "nothing here"), (parse.show, "no label line"),
    (parse.scrub_status, "UUID: x\n"), (parse.mount, "{broken"),
])
def test_unexpected_output_is_a_parse_error(parser, text):
    with pytest.raises(parse.ParseError):
        parser(text)


def test_dump_super_gives_the_device_count_the_superblock_records():
    found = parse.dump_super(fixture("dump-super-raid10-five.txt"))
    assert found == {"fsid": "2125f52d-2dd0-4792-9393-e402d0764825", "label": "trainserver",
                     "num_devices": 5, "devid": 5}
    with pytest.raises(parse.ParseError):
        parse.dump_super("superblock: bytenr=65536, device=/dev/loop0\n")
