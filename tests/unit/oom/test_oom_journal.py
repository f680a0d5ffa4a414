"""The journal reader against the real journalctl, on a journal file made from captured kills.

systemd-journal-remote (Debian package systemd-journal-remote) writes the journal file from
journal export format, so that journalctl reads it exactly as it reads journald's files.
"""

import json
import subprocess

import pytest

from trainserver.oom import journal, kernel_log, kmsg

from .conftest import fixture_records

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
OLD_BOOT = "0123456789abcdef0123456789abcdef"


def _export(records, boot_id, realtime_base):
    entries = []
    for record in records:
        usec = int(round((record.time - 1_700_000_000.0) * 1e6))
        entries.append("\n".join([
            f"__REALTIME_TIMESTAMP={realtime_base + usec}",
            f"__MONOTONIC_TIMESTAMP={usec}",
            f"_BOOT_ID={boot_id}",
            "_TRANSPORT=kernel",
            "SYSLOG_IDENTIFIER=kernel",
            f"MESSAGE={record.message}",
        ]) + "\n")
    return entries


@pytest.fixture
def journal_file(tmp_path):
    """A journal with a kill in an earlier boot, then two kills and a user message in this one."""
    current = kmsg.boot_id()
    base = 1_700_000_000_000_000
    entries = _export(fixture_records("kmsg-cgroupfs-path.txt"), OLD_BOOT, base)
    entries += _export(fixture_records("kmsg-docker-container.txt")
                       + fixture_records("kmsg-systemd-scope-path.txt"), current, base + 10**10)
    user = ("__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=1\n_BOOT_ID=%s\n_TRANSPORT=stdout\n"
            "MESSAGE=Memory cgroup out of memory: Killed process 1 (fake) total-vm:1kB, anon-rss:1kB, "
            "file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1kB oom_score_adj:0\n"
            % (base + 2 * 10**10, current))
    export = tmp_path / "kernel.export"
    export.write_text("\n".join(entries + [user]))
    path = tmp_path / "kernel.journal"
    subprocess.run([JOURNAL_REMOTE, f"--output={path}", str(export)], check=True,
                   capture_output=True, timeout=60)
    return str(path)


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
