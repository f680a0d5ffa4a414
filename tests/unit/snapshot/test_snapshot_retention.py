"""The retention engine: counted periods in local time, checked by examples and by properties."""

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings, strategies as st

from tests.unit.snapshot import oracle
from trainserver.snapshot import retention
from trainserver.snapshot.policy import Policy

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
ZONES = [UTC, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"),
         ZoneInfo("Australia/Lord_Howe")]  # Lord Howe: a 30-minute daylight-saving shift
NO_MIN_AGE = dt.timedelta(0)


def hourly_times(start, hours, step=dt.timedelta(hours=1)):
    return [start + i * step for i in range(hours)]


def kept(times, policy, now):
    decisions = retention.decide([(str(i), t) for i, t in enumerate(times)], policy, now)
    return {d.time for d in decisions if d.keep}


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


# Examples ---------------------------------------------------------------------------------------

def test_server_manual_policy_on_three_weeks_of_hourly_snapshots():
    policy = Policy(timezone=UTC)
    now = utc(2026, 11, 29, 12, 0)  # a Sunday
    times = hourly_times(utc(2026, 11, 8, 0), 21 * 24 + 13)  # Sunday 8th 00:00 to now
    result = kept(times, policy, now)
    hourly = {now - dt.timedelta(hours=i) for i in range(24)}
    # the first snapshot at or after 02:00 of each of the last 7 days with snapshots
    daily = {utc(2026, 11, d, 2) for d in range(23, 30)}
    # the first at or after Sunday 03:00 of each of the last 4 weeks
    weekly = {utc(2026, 11, d, 3) for d in (8, 15, 22, 29)}
    assert result == hourly | daily | weekly


def test_two_days_off_still_keeps_24_hourlies():
    policy = Policy(timezone=UTC, min_age=NO_MIN_AGE)
    before_off = hourly_times(utc(2026, 11, 20, 0), 5 * 24)  # 20th to the 24th
    now = utc(2026, 11, 27, 1)  # back after two days off: one snapshot since
    result = kept(before_off + [now], policy, now)
    hourlies = {d.time for d in retention.decide([(str(i), t) for i, t in
                                                  enumerate(before_off + [now])], policy, now)
                if any(r.startswith("hourly") for r in d.reasons)}
    assert len(hourlies) == 24
    assert now in result and max(before_off) in result


def test_daily_starts_at_daily_at_so_a_snapshot_before_it_belongs_to_the_day_before():
    policy = Policy(hourly=0, daily=2, weekly=0, timezone=UTC, min_age=NO_MIN_AGE)
    times = [utc(2026, 11, 27, 1, 59), utc(2026, 11, 27, 2, 0), utc(2026, 11, 27, 3),
             utc(2026, 11, 28, 1)]
    # periods: 26th 02:00 (holds 27th 01:59), 27th 02:00 (holds 02:00, 03:00 and 28th 01:00)
    assert kept(times, policy, utc(2026, 11, 28, 1)) == {
        utc(2026, 11, 27, 1, 59), utc(2026, 11, 27, 2, 0), utc(2026, 11, 28, 1)}


def test_weekly_starts_at_sunday_0300_local():
    policy = Policy(hourly=0, daily=0, weekly=1, timezone=BERLIN, min_age=NO_MIN_AGE)
    saturday = dt.datetime(2026, 11, 28, 23, 0, tzinfo=BERLIN)
    sunday_early = dt.datetime(2026, 11, 29, 2, 59, tzinfo=BERLIN)
    sunday_three = dt.datetime(2026, 11, 29, 3, 0, tzinfo=BERLIN)
    monday = dt.datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)
    times = [saturday, sunday_early, sunday_three, monday]
    assert kept(times, policy, monday) == {sunday_three, monday}


def test_the_repeated_hour_when_clocks_go_back_counts_as_two_hours():
    # Europe/Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:xx happens twice.
    policy = Policy(hourly=3, daily=0, weekly=0, timezone=BERLIN, min_age=NO_MIN_AGE)
    # UTC 23:00 23:30 | 00:00 00:30 | 01:00 01:30 are local 01:00 01:30 CEST | 02:00 02:30 CEST |
    # 02:00 02:30 CET: three local hours
    now = utc(2026, 10, 25, 1, 30)
    times = hourly_times(utc(2026, 10, 24, 23, 0), 6, step=dt.timedelta(minutes=30))
    assert kept(times, policy, now) == {utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 0, 0),
                                        utc(2026, 10, 25, 1, 0), now}


def test_a_half_hour_shift_back_makes_two_hours_of_one_local_hour():
    # Australia/Lord_Howe, 2026-04-05: 02:00 (+11) becomes 01:30 (+10:30). UTC 14:00 is 01:00
    # before the change, UTC 15:00 is 01:30 after it: two local hours, found by hypothesis.
    policy = Policy(hourly=1, daily=0, weekly=0, timezone=ZoneInfo("Australia/Lord_Howe"),
                    min_age=NO_MIN_AGE)
    times = [utc(2026, 4, 4, 14, 0), utc(2026, 4, 4, 15, 0)]
    assert kept(times, policy, times[-1]) == {times[-1]}
    assert retention.hour_key(times[0], policy.timezone) != \
        retention.hour_key(times[1], policy.timezone)


def test_a_daily_at_inside_the_skipped_hour_takes_the_first_snapshot_after_it():
    # Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 never happens.
    policy = Policy(hourly=0, daily=1, daily_at=dt.time(2, 30), weekly=0, timezone=BERLIN,
                    min_age=NO_MIN_AGE)
    times = [dt.datetime(2026, 3, 29, 1, 0, tzinfo=BERLIN),
             dt.datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN),
             dt.datetime(2026, 3, 29, 4, 0, tzinfo=BERLIN)]
    assert kept(times, policy, times[-1]) == {times[1], times[2]}


def test_the_newest_and_young_snapshots_are_kept_and_future_ones_untouched():
    policy = Policy(hourly=0, daily=0, weekly=1, timezone=UTC, min_age=dt.timedelta(hours=2))
    now = utc(2026, 11, 28, 12)
    times = [utc(2026, 11, 22, 3), utc(2026, 11, 28, 9), utc(2026, 11, 28, 10, 30),
             utc(2026, 11, 28, 11), utc(2026, 11, 28, 13)]
    decisions = {d.time: d.reasons for d in retention.decide(
        [(str(i), t) for i, t in enumerate(times)], policy, now)}
    assert decisions[utc(2026, 11, 28, 9)] == []
    assert decisions[utc(2026, 11, 28, 10, 30)] == [retention.MIN_AGE]
    assert decisions[utc(2026, 11, 28, 11)] == [retention.NEWEST, retention.MIN_AGE]
    assert decisions[utc(2026, 11, 28, 13)] == [retention.FUTURE]


def test_one_hourly_timer_keeps_what_three_timers_keep():
    policy = Policy(timezone=BERLIN)
    start = dt.datetime(2026, 10, 1, 0, 0, tzinfo=BERLIN).astimezone(UTC)
    hourly = hourly_times(start, 40 * 24)
    now = hourly[-1]
    # separate daily (02:00) and weekly (Sun 03:00) timers firing a few seconds after the hourly
    extra = []
    for moment in hourly:
        local = moment.astimezone(BERLIN)
        if (local.hour, local.minute) == (2, 0):
            extra.append(moment + dt.timedelta(seconds=4))
        if local.weekday() == 6 and (local.hour, local.minute) == (3, 0):
            extra.append(moment + dt.timedelta(seconds=7))
    assert extra
    assert kept(hourly, policy, now) == kept(hourly + extra, policy, now)


# Properties --------------------------------------------------------------------------------------

START = dt.datetime(2026, 1, 1)
END = dt.datetime(2027, 1, 1)
instants = st.datetimes(min_value=START, max_value=END, timezones=st.just(UTC)).map(
    lambda t: t.replace(microsecond=0))
policies = st.builds(
    Policy,
    hourly=st.integers(0, 30), daily=st.integers(0, 10), weekly=st.integers(0, 6),
    daily_at=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    weekly_day=st.integers(0, 6),
    weekly_at=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    min_age=st.sampled_from([dt.timedelta(0), dt.timedelta(hours=1), dt.timedelta(days=1)]),
    timezone=st.sampled_from(ZONES))


@st.composite
def histories(draw):
    """Snapshot times: bursts of hourly runs with gaps of downtime, and some stray extra runs."""
    moment = draw(instants)
    times = []
    for _ in range(draw(st.integers(1, 6))):
        times += hourly_times(moment, draw(st.integers(1, 60)))
        moment = times[-1] + dt.timedelta(hours=draw(st.integers(1, 24 * 9)))
    times += draw(st.lists(instants, max_size=8))
    return sorted(set(times))


@settings(max_examples=300, deadline=None)
@given(histories(), policies, st.integers(0, 48))
def test_matches_the_naive_statement_of_the_rules(times, policy, hours_after):
    now = max(times) + dt.timedelta(hours=hours_after)
    assert kept(times, policy, now) == oracle.kept(times, policy, now)


@settings(max_examples=200, deadline=None)
@given(histories(), policies)
def test_the_newest_snapshot_is_always_kept(times, policy):
    assert max(times) in kept(times, policy, max(times) + dt.timedelta(days=30))


@settings(max_examples=200, deadline=None)
@given(histories(), policies, st.integers(0, 48))
def test_pruning_twice_deletes_nothing_the_second_time(times, policy, hours_after):
    now = max(times) + dt.timedelta(hours=hours_after)
    first = kept(times, policy, now)
    assert kept(sorted(first), policy, now) == first


@settings(max_examples=200, deadline=None)
@given(histories(), policies, st.integers(0, 48))
def test_never_keeps_more_than_the_counts_plus_one(times, policy, hours_after):
    policy.min_age = NO_MIN_AGE
    now = max(times) + dt.timedelta(hours=hours_after)
    assert len(kept(times, policy, now)) <= policy.hourly + policy.daily + policy.weekly + 1


@settings(max_examples=200, deadline=None)
@given(histories(), policies, st.integers(1, 30), st.integers(0, 5))
def test_downtime_never_drops_the_hourly_count_below_what_exists(times, policy, days_off, after):
    now = max(times) + dt.timedelta(days=days_off)
    times = times + hourly_times(now - dt.timedelta(hours=after), after + 1)
    decisions = retention.decide([(str(i), t) for i, t in enumerate(times)], policy, now)
    hours = {retention.hour_key(t, policy.timezone) for t in times}
    hourly = [d for d in decisions if any(r.startswith("hourly") for r in d.reasons)]
    assert len(hourly) == min(policy.hourly, len(hours))


@settings(max_examples=200, deadline=None)
@given(histories(), policies, st.integers(0, 48), st.integers(1, 72))
def test_what_is_deleted_at_one_time_is_deleted_later_too(times, policy, hours_after, later):
    # So pruning every hour deletes what pruning once at the end would: the timer schedule
    # never changes the outcome.
    now = max(times) + dt.timedelta(hours=hours_after)
    gone = set(times) - kept(times, policy, now)
    assert not gone & kept(times, policy, now + dt.timedelta(hours=later))
