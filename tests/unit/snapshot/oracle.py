"""A second, deliberately naive statement of the retention rules, to test retention.py against.

It shares no code with retention.py: each period is identified by walking the local wall
clock, and a snapshot is kept by a rule when it is the first of its period and fewer than COUNT
periods with snapshots are newer than its own.
"""

import datetime as dt


def _hour_id(moment, zone):
    local = moment.astimezone(zone)
    return (local.strftime("%Y-%m-%d %H"), local.utcoffset())


def _shifted_date(moment, zone, at):
    local = moment.astimezone(zone)
    wall = dt.datetime(local.year, local.month, local.day, local.hour, local.minute, local.second)
    if (wall.hour, wall.minute) < (at.hour, at.minute):
        return wall.date() - dt.timedelta(days=1)
    return wall.date()


def _week_id(moment, zone, weekday, at):
    day = _shifted_date(moment, zone, at)
    while day.weekday() != weekday:
        day -= dt.timedelta(days=1)
    return day


def _period_ids(policy):
    zone = policy.timezone
    return [
        (policy.hourly, lambda t: _hour_id(t, zone), "hour"),
        (policy.daily, lambda t: _shifted_date(t, zone, policy.daily_at), "day"),
        (policy.weekly, lambda t: _week_id(t, zone, policy.weekly_day, policy.weekly_at), "week"),
    ]


def kept(times, policy, now):
    """The set of kept times among `times` (aware datetimes) at `now`."""
    past = sorted(t for t in times if t <= now)
    keep = {t for t in times if t > now}
    if past:
        keep.add(past[-1])
    keep.update(t for t in past if now - t < policy.min_age)
    for count, period, _ in _period_ids(policy):
        for index, moment in enumerate(past):
            mine = period(moment)
            if any(period(earlier) == mine for earlier in past[:index]):
                continue  # not the first of its period
            newer = {period(later) for later in past[index + 1:]} - {mine}
            if len(newer) < count:
                keep.add(moment)
    return keep
