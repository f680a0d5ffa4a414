"""Which snapshots of one subvolume to keep: counted periods, as restic and snapper count.

A rule keeps the first snapshot of each of its newest N periods that contain a snapshot. Periods
without snapshots are not counted, so a machine that was off for two days still keeps its 24
hourlies (time windows would have deleted them all: btrbk issue 308). Periods are in local time:
- hourly: each local clock hour (the repeated hour when clocks go back counts as two hours);
- daily: from daily_at to daily_at the next day, so its first snapshot is the first at or after
  daily_at;
- weekly: from the weekly weekday and time to the same a week later.
A snapshot is kept when any rule keeps it; the newest is always kept, and so is any snapshot
younger than min_age or newer than `now`. The rules look at the snapshots only, never at which
timer made them, so one hourly timer keeps the same set as three timers would.
Pruning is idempotent: what a plan keeps, a second plan at the same `now` keeps too.
"""

import datetime as dt
from dataclasses import dataclass, field

UTC = dt.timezone.utc

NEWEST = "newest"
MIN_AGE = "younger than min_age"
FUTURE = "newer than now"


@dataclass
class Decision:
    name: str
    time: dt.datetime  # aware, UTC
    reasons: list = field(default_factory=list)

    @property
    def keep(self):
        return bool(self.reasons)


def hour_key(moment, zone):
    """The start of the local clock hour holding `moment`, as a UTC instant (so the two 01:00
    hours of a night when clocks go back stay apart).

    Found by going back the local minutes from the moment itself, not by rounding the local
    time and converting it back: where clocks go back by 30 minutes (Lord Howe), 01:30 after
    the change rounds to an 01:00 that happened only before it, which would merge two hours.
    """
    local = moment.astimezone(zone)
    return (moment - dt.timedelta(minutes=local.minute, seconds=local.second,
                                  microseconds=local.microsecond)).astimezone(UTC)


def day_key(moment, zone, start):
    """The local date on which the daily period holding `moment` starts."""
    local = moment.astimezone(zone).replace(tzinfo=None)
    return (local - dt.timedelta(hours=start.hour, minutes=start.minute)).date()


def week_key(moment, zone, weekday, start):
    """The local date on which the weekly period holding `moment` starts."""
    shifted = moment.astimezone(zone).replace(tzinfo=None) - \
        dt.timedelta(hours=start.hour, minutes=start.minute)
    return shifted.date() - dt.timedelta(days=(shifted.weekday() - weekday) % 7)


def rules(policy):
    """(label, count, period key function) for each rule of `policy`."""
    zone = policy.timezone
    return (
        ("hourly", policy.hourly, lambda t: hour_key(t, zone)),
        ("daily", policy.daily, lambda t: day_key(t, zone, policy.daily_at)),
        ("weekly", policy.weekly, lambda t: week_key(t, zone, policy.weekly_day, policy.weekly_at)),
    )


def decide(snapshots, policy, now):
    """A Decision for each (name, aware time) in `snapshots`, oldest first."""
    decisions = sorted((Decision(name, time.astimezone(UTC)) for name, time in snapshots),
                       key=lambda d: (d.time, d.name))
    past = [d for d in decisions if d.time <= now]
    for decision in decisions[len(past):]:
        decision.reasons.append(FUTURE)
    for label, count, key in rules(policy):
        if count <= 0:
            continue
        firsts = {}
        for decision in past:  # oldest first: setdefault keeps each period's first snapshot
            firsts.setdefault(key(decision.time), decision)
        newest_periods = sorted(firsts, reverse=True)[:count]
        for rank, period in enumerate(newest_periods, start=1):
            firsts[period].reasons.append(f"{label} {rank}/{count}")
    if past:
        past[-1].reasons.append(NEWEST)
    for decision in past:
        if now - decision.time < policy.min_age:
            decision.reasons.append(MIN_AGE)
    return decisions
