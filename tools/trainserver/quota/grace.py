"""The quota rule: over the limit starts a grace period; only a long stay is a problem. Pure.

A person above their limit (home plus workspace) is "over" from the first report that sees it.
While the grace period lasts the finding is ok and says how many days are left, so nothing is
alerted for a download that is cleaned up the next day. Over for longer than the grace period
is a finding at [quota] severity. Back under the limit counts only below limit - hysteresis
(at most a tenth of the limit):
a person hovering at the limit stays over (the days keep counting) instead of flapping between
"over" and "fine", which would restart the grace period each time.

The state kept per person is {"over_since": epoch or None, "total": bytes, "time": epoch};
the caller stores it in the state directory so that a reboot does not restart the grace period.
"""

import math
import time
from dataclasses import dataclass

from trainserver.core.findings import Finding, Severity
from trainserver.quota import TOOL

CHECK = "usage"
DAY = 86400


@dataclass(frozen=True)
class Rule:
    grace: float  # seconds
    hysteresis: int  # bytes
    severity: Severity  # after the grace period


def size_text(n_bytes):
    """Decimal, as the limit is written: 1.20 TB, 950.3 GB, 12.0 MB."""
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if abs(n_bytes) >= factor:
            digits = 2 if unit == "TB" else 1
            return f"{n_bytes / factor:.{digits}f} {unit}"
    return f"{n_bytes} B"


def limit_text(n_bytes):
    """A limit as it is written in the config when it is round: 1 TB, 10 MB."""
    for unit, factor in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n_bytes >= factor and n_bytes % factor == 0:
            return f"{n_bytes // factor} {unit}"
    return size_text(n_bytes)


def day_text(epoch):
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def days_left(over_since, now, grace):
    """Whole days of grace left (rounded up: 2.1 days left is "3 days"), never below 0."""
    return max(0, math.ceil((over_since + grace - now) / DAY))


def band_of(limit, rule):
    """The hysteresis, at most a tenth of the limit: a band as wide as the limit would never
    let anyone back under it."""
    return min(rule.hysteresis, limit // 10)


def judge(name, total, limit, previous, now, rule, moment=None):
    """(finding, state) for one person whose usage is `total` bytes at `now` (epoch).

    `previous` is the state the last report stored for the person (or None).
    """
    previous = previous if isinstance(previous, dict) else {}
    over_since = previous.get("over_since")
    if not isinstance(over_since, (int, float)) or isinstance(over_since, bool):
        over_since = None
    if total > limit:
        over_since = over_since if over_since is not None else now
    elif over_since is not None and total >= limit - band_of(limit, rule):
        pass  # within the hysteresis band: still over, the grace period keeps running
    else:
        over_since = None
    state = {"over_since": over_since, "total": total, "time": now}
    clear_below = limit - band_of(limit, rule)
    uses = f"{name} uses {size_text(total)} of {limit_text(limit)}"
    stamp = moment or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    gb = lambda value: round(value / 10**9, 3)  # noqa: E731
    if over_since is None:
        return Finding(TOOL, CHECK, name, Severity.OK, f"{uses}", value=gb(total),
                       threshold=gb(limit), time=stamp), state
    since = day_text(over_since)
    band = "" if total > limit else (
        f" (under the limit, but not yet below {size_text(clear_below)})")
    elapsed = max(0.0, now - over_since)
    if elapsed <= rule.grace:
        left = days_left(over_since, now, rule.grace)
        summary = (f"{uses}{band}: over the limit since {since}, "
                   f"{left} day{'s' if left != 1 else ''} of grace left")
        return Finding(TOOL, CHECK, name, Severity.OK, summary, value=gb(total),
                       threshold=gb(limit), time=stamp), state
    days = math.floor(elapsed / DAY)
    summary = (f"{uses}{band}: over the limit since {since} ({days} days; the grace period "
               f"of {rule.grace / DAY:g} days is over): please free space below "
               f"{size_text(clear_below)}")
    return Finding(TOOL, CHECK, name, rule.severity, summary, value=gb(total),
                   threshold=gb(limit), time=stamp), state
