"""Choosing the new records of /dev/kmsg: saved position, gaps, user-space records."""

import os

from trainserver.oom import kernel_log, kmsg

from .conftest import FIXTURES


def raw(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.readlines()


def test_everything_on_a_first_read():
    lines = raw("kmsg-docker-container.txt")  # seq 419..531
    records, last, lost = kmsg.select(lines, None, "boot", 1000.0)
    assert [r.position for r in records] == list(range(419, 532))
    assert last == 531
    assert lost == 419  # records 0..418 are not in the capture, as if the ring had overwritten them
    assert records[0].time == 1000.0 + 1101.706721
    assert records[0].boot_id == "boot"


def test_only_what_follows_the_saved_position():
    lines = raw("kmsg-docker-container.txt")
    records, last, lost = kmsg.select(lines, 529, "boot", 0.0)
    assert [r.position for r in records] == [530, 531]
    assert (last, lost) == (531, 0)
    assert [k.pid for k in kernel_log.find_kills(records)] == [22643]


def test_nothing_new_keeps_the_position():
    records, last, lost = kmsg.select(raw("kmsg-docker-container.txt"), 531, "boot", 0.0)
    assert (records, last, lost) == ([], 531, 0)


def test_records_overwritten_before_they_were_read_are_counted():
    lines = raw("kmsg-docker-container.txt")
    # The saved position is 400, the oldest record left is 419: 18 lost. Then a gap of 10 inside
    # (what EPIPE leaves behind when the ring wraps during the read).
    lines = [line for line in lines if not 500 <= int(line.split(",")[1]) < 510]
    records, last, lost = kmsg.select(lines, 400, "boot", 0.0)
    assert lost == 18 + 10
    assert last == 531
    assert [k.pid for k in kernel_log.find_kills(records)] == [22643]


def test_user_space_records_move_the_position_but_are_not_read():
    fake = ("12,532,1101900000,-;Memory cgroup out of memory: Killed process 1 (fake) "
            "total-vm:1kB, anon-rss:1kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1kB "
            "oom_score_adj:0\n")
    records, last, _ = kmsg.select(raw("kmsg-docker-container.txt")[-2:] + [fake], 529, "b", 0.0)
    assert last == 532
    assert [r.position for r in records] == [530, 531]


def test_boot_id_is_written_as_journald_writes_it(tmp_path):
    path = tmp_path / "boot_id"
    path.write_text("bc782f72-7a39-457f-9b53-cf846f52142d\n")
    assert kmsg.boot_id(str(path)) == "bc782f727a39457f9b53cf846f52142d"


def test_a_kill_split_across_two_reads_is_one_kill():
    """A read that ends between a kill's summary (530) and its "Killed process" line (531)."""
    from trainserver.oom import check

    lines = raw("kmsg-docker-container.txt")
    offset = 1000.0
    records, last, lost = kmsg.select(lines[:-1], None, "boot", offset)
    assert records[-1].message.startswith("oom-kill:") and last == 530
    now = records[-1].time + 1
    batch, cut = check.whole_kills(kmsg.Batch(records, {"boot_id": "boot", "seq": last}, lost), now)
    assert cut and kernel_log.find_kills(batch.records) == []
    assert batch.position == {"boot_id": "boot", "seq": 529}
    assert batch.lost == lost

    records, last, lost = kmsg.select(lines, batch.position["seq"], "boot", offset)
    batch, cut = check.whole_kills(kmsg.Batch(records, {"boot_id": "boot", "seq": last}, lost), now + 1)
    assert not cut and lost == 0
    (kill,) = kernel_log.find_kills(batch.records)
    assert (kill.pid, kill.rss_kb) == (22643, 64512 + 1164)
    assert kill.memcg.startswith("/docker/661bab0e70b3")


def test_positions_that_are_not_this_boots_sequence_numbers_read_everything(tmp_path):
    boot = tmp_path / "boot_id"
    boot.write_text("bc782f72-7a39-457f-9b53-cf846f52142d\n")
    device = tmp_path / "empty"
    device.write_bytes(b"")
    for saved in (None, "text", [1], {"boot_id": "bc782f727a39457f9b53cf846f52142d", "seq": True},
                  {"boot_id": "bc782f727a39457f9b53cf846f52142d", "seq": "5"}):
        batch = kmsg.read(saved, device=str(device), boot_path=str(boot))
        assert batch.position == {"boot_id": "bc782f727a39457f9b53cf846f52142d", "seq": -1}, saved
