"""The journal reader against the real journalctl, on a journal file made from captured kills.

systemd-journal-remote (Debian package systemd-journal-remote) writes the journal file from
journal export format, so that journalctl reads it exactly as it reads journald's files.

Each file is written once and never appended to: opening an existing journal file for writing
compares the file's machine id with /etc/machine-id (journal_file_verify_header), and where that
file is empty, as in a build chroot, systemd 252 fails with ENOMEDIUM ("No medium found"). A new
file takes the null machine id without complaint. A later batch goes into a second file, as
journald's own rotation does, and journalctl reads both.
"""

import json
import os
import subprocess

import pytest

from trainserver.oom import journal, kernel_log, kmsg

from .conftest import fixture_records

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
OLD_BOOT = "0123456789abcdef0123456789abcdef"
ID = "661bab0e70b394cc20a23527ba2cde38ba212a1c8899f07bffc63a87b53a0fe2"


def _export(records, boot_id, realtime_base):
    entries = []
    for record in records:
        usec = int(round((record.time - 1_700_000_000.0) * 1e6))
        entries.append("\n".join([
            f"__REALTIME_TIMESTAMP={realtime_base + usec}",
            f"__MONOTONIC_TIMESTAMP={usec}",
            f"_BOOT_ID={boot_id}",
            "_TRANSPORT=kernel",
            "SYSLOG_FACILITY=0",
            "SYSLOG_IDENTIFIER=kernel",
            f"MESSAGE={record.message}",
        ]) + "\n")
    return entries


FAKE_KILL = ("Memory cgroup out of memory: Killed process 1 (fake) total-vm:1kB, anon-rss:1kB, "
             "file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1kB oom_score_adj:0")


def _written_to_kmsg(boot_id, realtime):
    """`echo "<4>kernel: <FAKE_KILL>" > /dev/kmsg` as journald records it (journald-kmsg.c): the
    kernel gave it the user facility (it never lets user space write facility 0), and journald
    took "kernel" from its text for the identifier."""
    return "\n".join([
        f"__REALTIME_TIMESTAMP={realtime}",
        "__MONOTONIC_TIMESTAMP=1",
        f"_BOOT_ID={boot_id}",
        "_TRANSPORT=kernel",
        "PRIORITY=4",
        "SYSLOG_FACILITY=1",
        "SYSLOG_IDENTIFIER=kernel",
        f"MESSAGE={FAKE_KILL}",
    ]) + "\n"


def _write_journal(path, entries):
    """Write the new journal file `path` from export-format entries."""
    assert not os.path.exists(path), f"{path}: appending needs a machine id (see the top)"
    export = f"{path}.export"
    with open(export, "w", encoding="utf-8") as handle:
        # Each entry ends with an empty line: journal-remote drops one that does not.
        handle.write("".join(entry + "\n" for entry in entries))
    subprocess.run([JOURNAL_REMOTE, f"--output={path}", export], check=True,
                   capture_output=True, timeout=60)


@pytest.fixture
def journal_file(tmp_path):
    """A journal with a kill in an earlier boot, then two kills and two fakes in this one: a
    service's output, and a line written to /dev/kmsg from user space."""
    current = kmsg.boot_id()
    base = 1_700_000_000_000_000
    entries = _export(fixture_records("kmsg-cgroupfs-path.txt"), OLD_BOOT, base)
    entries += _export(fixture_records("kmsg-docker-container.txt")
                       + fixture_records("kmsg-systemd-scope-path.txt"), current, base + 10**10)
    user = ("__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=1\n_BOOT_ID=%s\n_TRANSPORT=stdout\n"
            "MESSAGE=%s\n" % (base + 2 * 10**10, current, FAKE_KILL))
    path = str(tmp_path / "kernel.journal")
    _write_journal(path, entries + [user, _written_to_kmsg(current, base + 2 * 10**10 + 1)])
    return path


def test_first_read_is_this_boot_and_a_second_finds_nothing_new(journal_file):
    batch = journal.read(None, ["--file", journal_file])
    assert {r.boot_id for r in batch.records} == {kmsg.boot_id()}
    kills = kernel_log.find_kills(batch.records)
    assert [(k.pid, k.process) for k in kills] == [(22643, "tail"), (25061, "python3")]
    assert kills[0].time == pytest.approx(1_700_000_000 + 10**4 + 1101.891070)
    assert batch.position["cursor"] == batch.records[-1].position

    again = journal.read(batch.position, ["--file", journal_file])
    assert again.records == []
    assert again.position == batch.position


def test_cursor_in_an_earlier_boot_reads_on_across_the_reboot(journal_file):
    first = subprocess.run(["journalctl", "--file", journal_file, "-o", "json", "-n", "all",
                            "--no-pager"], capture_output=True, text=True, check=True, timeout=60)
    cursor = json.loads(first.stdout.splitlines()[0])["__CURSOR"]
    batch = journal.read({"cursor": cursor}, ["--file", journal_file])
    kills = kernel_log.find_kills(batch.records)
    assert [(k.pid, k.boot_id) for k in kills] == [(19350, OLD_BOOT), (22643, kmsg.boot_id()),
                                                    (25061, kmsg.boot_id())]


def test_a_journal_that_cannot_be_read_is_an_error(tmp_path):
    from trainserver.core.errors import CommandError

    path = tmp_path / "broken.journal"
    path.write_bytes(b"not a journal file" * 100)
    with pytest.raises(CommandError, match="Bad message"):
        journal.read(None, ["--file", str(path)])


def test_lines_written_to_dev_kmsg_from_user_space_are_not_kills(journal_file):
    # journald gives them _TRANSPORT=kernel, and this one SYSLOG_IDENTIFIER=kernel too.
    both = subprocess.run(["journalctl", "--file", journal_file, "-o", "cat", "--no-pager",
                           "_TRANSPORT=kernel", "SYSLOG_IDENTIFIER=kernel"],
                          capture_output=True, text=True, check=True, timeout=60)
    assert FAKE_KILL in both.stdout.splitlines()
    batch = journal.read(None, ["--file", journal_file])
    assert FAKE_KILL not in [r.message for r in batch.records]
    assert 1 not in [k.pid for k in kernel_log.find_kills(batch.records)]


def test_a_kill_split_across_two_reads_is_one_kill(tmp_path):
    """A read that ends between a kill's summary and its "Killed process" line."""
    from trainserver.oom import check

    records = fixture_records("kmsg-docker-container.txt")
    (split,) = [i for i, r in enumerate(records) if r.message.startswith("oom-kill:")]
    assert "Killed process" in records[split + 1].message
    path = str(tmp_path / "kernel.journal")
    base = 1_700_000_000_000_000
    boot = kmsg.boot_id()
    _write_journal(path, _export(records[:split + 1], boot, base))
    now = records[split].time + 1  # the summary was just logged

    batch, cut = check.whole_kills(journal.read(None, ["--file", path]), now)
    assert cut and kernel_log.find_kills(batch.records) == []
    assert batch.position["cursor"] == batch.records[-1].position
    assert batch.records[-1].message == records[split - 1].message

    rotated = str(tmp_path / "kernel-2.journal")
    _write_journal(rotated, _export(records[split + 1:], boot, base))
    both = ["--file", path, "--file", rotated]
    batch, cut = check.whole_kills(journal.read(batch.position, both), now + 1800)
    assert not cut
    (kill,) = kernel_log.find_kills(batch.records)
    assert (kill.pid, kill.memcg, kill.rss_kb) == (22643, f"/docker/{ID}", 64512 + 1164)


def test_a_summary_whose_kill_line_never_came_is_a_kill_later(tmp_path):
    from trainserver.oom import check

    records = [r for r in fixture_records("kmsg-docker-container.txt")
               if "Killed process" not in r.message]
    path = str(tmp_path / "kernel.journal")
    _write_journal(path, _export(records, kmsg.boot_id(), 1_700_000_000_000_000))
    batch = journal.read(None, ["--file", path])
    assert check.whole_kills(batch, records[-1].time + 5)[1]
    batch, cut = check.whole_kills(batch, records[-1].time + 1800)
    assert not cut
    assert [(k.pid, k.memcg) for k in kernel_log.find_kills(batch.records)] == [(22643, f"/docker/{ID}")]


def test_output_lines_that_are_not_json_objects_are_skipped(caplog):
    good = json.dumps({"__CURSOR": "c2", "__REALTIME_TIMESTAMP": "1700000000000000",
                       "_BOOT_ID": "b", "MESSAGE": "text"})
    text = "\n".join(['{"__CURSOR": "c1", "MESSAGE": "cut sh', "[1, 2]", "17", good,
                      json.dumps({"__CURSOR": ["x"], "__REALTIME_TIMESTAMP": None, "MESSAGE": [300]}), ""])
    records, cursor = journal.parse(text, "c0")
    assert [(r.position, r.time, r.boot_id, r.message) for r in records] == [
        ("c2", 1_700_000_000.0, "b", "text"), (["x"], None, None, "")]
    assert cursor == "c2"
    assert "line 1 is not JSON" in caplog.text and "line 2 is not a JSON object" in caplog.text
