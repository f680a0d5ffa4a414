"""The retention policy and snapshot set from the [snapshot] config table.

Holds the cross-key config rules a schema cannot say (an empty policy, subvolume patterns that
would reach into the snapshot directory), which `ts-config check` runs too.
"""

import datetime as dt
import os
import posixpath
from fnmatch import fnmatchcase

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class Policy:
    """Counts of periods to keep, where the daily and weekly periods start, and min_age."""

    def __init__(self, hourly=24, daily=7, weekly=4, daily_at=dt.time(2, 0),
                 weekly_day=6, weekly_at=dt.time(3, 0), min_age=dt.timedelta(hours=1),
                 timezone=None):
        self.hourly = hourly
        self.daily = daily
        self.weekly = weekly
        self.daily_at = daily_at
        self.weekly_day = weekly_day  # Monday is 0, as datetime.weekday()
        self.weekly_at = weekly_at
        self.min_age = min_age
        self.timezone = timezone or dt.timezone.utc

    def __repr__(self):
        return (f"Policy(hourly={self.hourly}, daily={self.daily}@{self.daily_at:%H:%M}, "
                f"weekly={self.weekly}@{WEEKDAYS[self.weekly_day]} {self.weekly_at:%H:%M}, "
                f"min_age={self.min_age}, timezone={self.timezone})")


def _clock(text):
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


def local_timezone(name=""):
    """The zone NAME, or this machine's zone ($TZ, then /etc/localtime, else UTC)."""
    from zoneinfo import ZoneInfo

    if name:
        return ZoneInfo(name)
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        try:
            return ZoneInfo(env)
        except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
            pass
    # /etc/localtime links into /usr/share/zoneinfo: its name (Europe/Berlin) reads better in
    # plans than "localtime".
    target = os.path.realpath("/etc/localtime")
    if "/zoneinfo/" in target:
        try:
            return ZoneInfo(target.split("/zoneinfo/", 1)[1])
        except (KeyError, ValueError, OSError):
            pass
    try:
        with open("/etc/localtime", "rb") as handle:
            return ZoneInfo.from_file(handle, key="localtime")
    except (OSError, ValueError):
        return dt.timezone.utc


def from_config(table):
    """The Policy of a validated [snapshot] table (units already parsed: min_age in seconds)."""
    day, clock = table["weekly_at"].split()
    return Policy(
        hourly=table["keep_hourly"], daily=table["keep_daily"], weekly=table["keep_weekly"],
        daily_at=_clock(table["daily_at"]), weekly_day=WEEKDAYS.index(day),
        weekly_at=_clock(clock), min_age=dt.timedelta(seconds=float(table["min_age"])),
        timezone=local_timezone(table["timezone"]))


def _pattern_problem(pattern, snapshot_dir):
    if pattern.startswith("/"):
        return "is absolute; patterns are relative to [paths] storage"
    parts = pattern.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "must name subvolumes below [paths] storage, without '.', '..' or empty parts"
    snapshot_parts = posixpath.normpath(snapshot_dir).split("/")
    common = min(len(parts), len(snapshot_parts))
    if all(fnmatchcase(snapshot_parts[i], parts[i]) for i in range(common)):
        if len(parts) >= len(snapshot_parts):
            return f"reaches into snapshot_dir ({snapshot_dir}): it would snapshot snapshots"
        return f"holds snapshot_dir ({snapshot_dir}): it would snapshot snapshots"
    return None


def config_problems(effective):
    """Cross-key problems of the [snapshot] table, as `[snapshot] key: what (got VALUE)`."""
    table = effective["snapshot"]
    problems = []
    if table["keep_hourly"] == 0 and table["keep_daily"] == 0 and table["keep_weekly"] == 0:
        problems.append("[snapshot] keep_hourly, keep_daily, keep_weekly: an empty policy keeps "
                        "only the newest snapshot; keep at least one period (got 0, 0, 0)")
    if table["timezone"]:
        try:
            local_timezone(table["timezone"])
        except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
            problems.append(f"[snapshot] timezone: not a time zone name such as Europe/Berlin "
                            f"(got {table['timezone']!r})")
    snapshot_dir = table["snapshot_dir"]
    if snapshot_dir.startswith("/") or any(p in ("", ".", "..") for p in snapshot_dir.split("/")):
        problems.append(f"[snapshot] snapshot_dir: must be a path below [paths] storage "
                        f"(got {snapshot_dir!r})")
        return problems
    seen = set()
    for pattern in table["subvolumes"]:
        problem = _pattern_problem(pattern, snapshot_dir)
        if problem:
            problems.append(f"[snapshot] subvolumes: {pattern!r} {problem} (got {pattern!r})")
        if pattern in seen:
            problems.append(f"[snapshot] subvolumes: {pattern!r} is listed twice (got {pattern!r})")
        seen.add(pattern)
    return problems
