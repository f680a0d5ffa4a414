"""The free-space guard's decisions (guard.py) and which snapshots it may delete (plan.py)."""

import datetime as dt
from zoneinfo import ZoneInfo

from trainserver.core.units import format_size
from trainserver.snapshot import guard, inventory, plan, record
from trainserver.snapshot.policy import Policy

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
MiB = 1024 * 1024
GiB = 1024 * MiB


def test_stops_after_two_deletions_in_a_row_that_gave_nothing_back():
    progress = guard.Progress(floor=100 * GiB, free=10 * GiB)
    assert progress.least == 1 * GiB  # 1% of min_free
    progress.measured(10 * GiB + 5 * GiB)  # a snapshot that held 5 GiB
    progress.measured(15 * GiB + 16 * 1024)  # its metadata only
    assert not progress.stalled  # one miss is a chain's first link, perhaps
    progress.measured(15 * GiB + 2 * GiB)
    progress.measured(17 * GiB)
    progress.measured(17 * GiB - 300 * MiB)  # writes going on meanwhile
    assert progress.stalled and not progress.reached
    assert progress.freed == [5 * GiB, 16 * 1024, 2 * GiB - 16 * 1024, 0, -300 * MiB]


def test_reaching_the_floor_and_the_smallest_return():
    progress = guard.Progress(floor=10 * MiB, free=9 * MiB)
    assert progress.least == MiB  # never below 1 MiB
    progress.measured(10 * MiB)
    assert progress.reached and not progress.stalled


def test_after_a_stop_it_tries_again_only_when_the_live_data_shrank():
    floor = 100 * GiB
    stall = {"time": "2026-12-09T12:00:00Z", "live_total": 500 * GiB}
    assert guard.may_retry(None, None, floor)
    assert not guard.may_retry(stall, 500 * GiB, floor)
    assert not guard.may_retry(stall, 520 * GiB, floor)  # grew further
    assert not guard.may_retry(stall, 500 * GiB - 100 * MiB, floor)  # less than 1 GiB
    assert guard.may_retry(stall, 480 * GiB, floor)
    # not measured (the walk ran out of time): keep the history
    assert not guard.may_retry(stall, None, floor)
    assert not guard.may_retry({"live_total": None}, 1, floor)


def test_holders_names_the_largest_live_subvolumes_and_their_growth():
    live = {"homes/bob": (61 * GiB, True), "homes/alice": (2 * GiB, True),
            "tensorboard/bob": (3 * GiB, True), "docker-volumes": (1 * GiB, False)}
    baselines = {"homes/bob": ("20261122T023000Z", 3 * GiB),
                 "tensorboard/bob": ("20261122T023000Z", 4 * GiB)}
    text = guard.holders(live, baselines, 70 * GiB, 2, format_size)
    assert text == ("live data holds 67.0 GiB of the 70.0 GiB used: homes/bob 61.0 GiB (grew by "
                    "58.0 GiB since its snapshot 20261122T023000Z), tensorboard/bob 3.0 GiB "
                    "(shrank by 1.0 GiB since its snapshot 20261122T023000Z), homes/alice "
                    "2.0 GiB; 2 snapshot(s) or directories ts-snapshot did not make are left "
                    "alone (ts-snapshot list shows them)")
    assert guard.holders({}, {}, GiB, 0, format_size).startswith("no snapshotted")
    partial = guard.holders({"homes/bob": (GiB, False)}, {}, GiB, 0, format_size)
    assert "homes/bob at least 1.0 GiB" in partial


def _plan(times, now, policy):
    found = inventory.Inventory(series={"homes/bob": [
        inventory.Snapshot("homes/bob", f"s{i}", f"/s{i}", t, uuid=str(i))
        for i, t in enumerate(times)]})
    return plan.make(found, policy, now)


def test_guard_order_spares_the_newest_daily_and_weekly():
    """Sunday 03:30 (the newest weekly), Wednesday 03:00 (the newest daily), two later hourlies
    and older ones: only what is neither of those, nor the newest, nor young, may go."""
    local = [(2026, 11, 22, 3, 30), (2026, 11, 29, 3, 30), (2026, 12, 6, 3, 30),
             (2026, 12, 7, 3, 0), (2026, 12, 9, 3, 0), (2026, 12, 9, 9, 0),
             (2026, 12, 9, 10, 0), (2026, 12, 9, 12, 45)]
    times = [dt.datetime(*t, tzinfo=BERLIN).astimezone(UTC) for t in local]
    now = dt.datetime(2026, 12, 9, 13, 0, tzinfo=BERLIN).astimezone(UTC)
    order = plan.guard_order(_plan(times, now, Policy(timezone=BERLIN)))
    # s2: weekly 1/4; s4: daily 1/7; s7: the newest and younger than min_age
    assert [entry.snapshot.name for entry in order] == ["s0", "s1", "s3", "s5", "s6"]


def test_the_record_owns_what_it_made_and_pending_snapshots_of_their_source():
    made = record.Record({"aa": "homes/bob/20261209T120000Z"},
                         {"homes/bob/20261209T130000Z": "source"})
    assert made.owns("homes/bob/20261209T120000Z", "aa", "source")
    assert not made.owns("homes/bob/keep/20261209T120000Z", "aa", "source")  # moved
    assert not made.owns("homes/bob/20261209T120000Z", "bb", "source")  # same name, by hand
    assert made.owns("homes/bob/20261209T130000Z", "cc", "source")  # crashed before recording
    assert not made.owns("homes/bob/20261209T130000Z", "cc", "other")
    assert made.series() == {"homes/bob"}


def test_a_missing_or_corrupt_record_is_none_and_adoption_starts_again(tmp_path):
    assert record.load(str(tmp_path)) is None
    record.save(str(tmp_path), record.Record({"aa": "homes/bob/20261209T120000Z"}))
    assert record.load(str(tmp_path)).made == {"aa": "homes/bob/20261209T120000Z"}
    (tmp_path / "snapshot-record.json").write_text("{not json")
    assert record.load(str(tmp_path)) is None


def test_keepsakes_of_ts_users_remove(tmp_path):
    assert record.users_keepsakes(str(tmp_path)) == {}
    (tmp_path / "users.json").write_text(
        '{"removals": {"bob": {"homes/bob": "20261209T120000Z", "homes/bob/nested": "x"}}}')
    assert record.users_keepsakes(str(tmp_path)) == {
        "homes/bob/20261209T120000Z": "bob", "homes/bob/nested/x": "bob"}
    (tmp_path / "users.json").write_text('["odd"]')
    assert record.users_keepsakes(str(tmp_path)) == {}
