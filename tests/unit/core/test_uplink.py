"""The shared uplink: the split rule, and claims that die with their holder."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from trainserver.core import uplink
from trainserver.core.uplink import Claim, Uplink, share

MBIT = 125_000  # bytes per second


def test_alone_an_uploader_gets_its_own_cap_within_the_limit():
    assert share(100 * MBIT, 100 * MBIT, []) == 100 * MBIT
    assert share(100 * MBIT, 40 * MBIT, []) == 40 * MBIT
    assert share(50 * MBIT, 100 * MBIT, []) == 50 * MBIT


def test_a_backup_starting_while_a_sync_runs_takes_half_and_the_sync_makes_room():
    sync = Claim("sync", 100 * MBIT, adjustable=True)
    backup_rate = share(100 * MBIT, 100 * MBIT, [sync], adjustable=False)
    assert backup_rate == 50 * MBIT
    backup = Claim("backup", backup_rate, adjustable=False)
    assert share(100 * MBIT, 100 * MBIT, [backup], adjustable=True) == 50 * MBIT
    assert backup_rate + 50 * MBIT <= 100 * MBIT


def test_a_sync_starting_during_a_backup_that_holds_the_whole_uplink_waits():
    backup = Claim("backup", 100 * MBIT, adjustable=False)
    assert share(100 * MBIT, 100 * MBIT, [backup]) == 0


def test_two_adjustable_uploads_split_what_the_fixed_one_leaves():
    others = [Claim("backup", 40 * MBIT, False), Claim("sync-migrate", 30 * MBIT, True)]
    assert share(100 * MBIT, 100 * MBIT, others) == 30 * MBIT
    # never negative, even when the others claim more than the limit (a lowered limit)
    assert share(10 * MBIT, 100 * MBIT, [Claim("backup", 40 * MBIT, False)]) == 0


def test_a_claim_is_seen_while_held_and_gone_after_release(tmp_path):
    with Uplink(str(tmp_path), "sync", 100 * MBIT, 100 * MBIT, adjustable=True) as mine:
        assert mine.claim() == 100 * MBIT
        seen = uplink.live_claims(str(tmp_path))
        assert seen == [Claim("sync", 100 * MBIT, True, os.getpid())]
        backup = Uplink(str(tmp_path), "backup", 100 * MBIT, 100 * MBIT, adjustable=False)
        rate, others = backup.current_share()
        assert rate == 50 * MBIT and [c.name for c in others] == ["sync"]
        mine.claim(25 * MBIT)  # rewritten in place
        assert uplink.live_claims(str(tmp_path))[0].rate == 25 * MBIT
    assert uplink.live_claims(str(tmp_path)) == []
    assert os.listdir(tmp_path) == []


def test_a_killed_holders_claim_counts_for_nothing(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from trainserver.core.uplink import Uplink
        Uplink({str(tmp_path)!r}, "backup", 1e7, 1e7, adjustable=False).claim(1e7)
        print("held", flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "held"
        assert [c.name for c in uplink.live_claims(str(tmp_path))] == ["backup"]
        assert share(1e7, 1e7, uplink.live_claims(str(tmp_path))) == 0
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The file is still there; its flock died with the process.
    assert os.listdir(tmp_path) == ["trainserver-uplink-backup.claim"]
    assert uplink.live_claims(str(tmp_path)) == []


def test_a_second_claim_under_one_name_is_refused(tmp_path):
    first = Uplink(str(tmp_path), "sync", 1e7, 1e7, True)
    first.claim()
    try:
        with pytest.raises(OSError):
            Uplink(str(tmp_path), "sync", 1e7, 1e7, True).claim()
    finally:
        first.release()
