"""How long a copy to Drive takes. Pure.

Two limits bind: the uplink (bytes / rate) and Drive's upload cap per account and day (about
750 GB: a day's upload stops there, whatever the line could carry). The slower one decides.
At 100 Mbit/s a line carries 1.08 TB a day, so for large copies the cap binds: the manual's
50 TB take about 46 days at 100 Mbit/s and at least 67 days under the cap, not "7-10 days"
(that would need 463-579 Mbit/s and 5-7 TB a day through a 750 GB/day cap).
"""

import math
from dataclasses import dataclass

DAY = 86400.0
MANUAL_CLAIM = "7-10 days"
MANUAL_DAYS = (7, 10)


@dataclass(frozen=True)
class Estimate:
    size: float          # bytes
    rate: float          # bytes per second
    cap: float           # bytes per day
    line_days: float     # at the rate, around the clock
    cap_days: float      # under the daily cap
    days: float          # the larger
    binds: str           # "bandwidth" or "upload cap"

    @property
    def whole_cap_days(self):
        """Days of uploading under the cap: a day begun is a day used."""
        return math.ceil(self.cap_days - 1e-9) if self.cap_days > 0 else 0


def estimate(size, rate, cap):
    """Time to upload `size` bytes at `rate` bytes/s with a daily cap of `cap` bytes."""
    line_days = size / rate / DAY if rate > 0 else math.inf
    cap_days = size / cap if cap > 0 else 0.0
    if cap_days > line_days:
        return Estimate(size, rate, cap, line_days, cap_days, cap_days, "upload cap")
    return Estimate(size, rate, cap, line_days, cap_days, line_days, "bandwidth")


def _mbit(rate):
    return f"{rate * 8 / 1e6:.3g} Mbit/s"


def _tb(size):
    return f"{size / 1e12:.3g} TB" if size >= 1e12 else f"{size / 1e9:.3g} GB"


def describe(found):
    """The estimate in words, both limits and which binds."""
    lines = [f"{_tb(found.size)} at {_mbit(found.rate)}: about {found.line_days:.0f} days of "
             f"uploading around the clock ({_tb(found.rate * DAY)} a day)."]
    if found.cap > 0:
        lines.append(f"Under Drive's upload cap of {_tb(found.cap)} a day: at least "
                     f"{found.whole_cap_days} days.")
    lines.append(f"The {found.binds} binds: expect at least {math.ceil(found.days - 1e-9)} days.")
    return lines


def manual_verdict(found):
    """What the server manual's "7-10 days" for the migration is worth against `found`."""
    low, high = MANUAL_DAYS
    if found.days <= high:
        return None
    need_rate = found.size / (high * DAY)
    why = [f"{_mbit(need_rate)} for 10 days"]
    if found.cap > 0:
        why.append(f"{_tb(found.size / high)} a day against Drive's {_tb(found.cap)}")
    return (f"The server manual's \"{MANUAL_CLAIM}\" is wrong: it would need "
            f"{' and '.join(why)}.")


def time_left(remaining, rate, cap):
    """Seconds left for `remaining` bytes, whichever limit binds (for progress lines)."""
    return estimate(remaining, rate, cap).days * DAY
