"""Sizes, rates and durations written the way people say them.

Sizes ("1TB", "100GiB", "512 MiB", "4096"):
  decimal prefixes kB MB GB TB PB are powers of 1000 (1TB = 10**12 bytes, as disk vendors count);
  binary prefixes KiB MiB GiB TiB PiB are powers of 1024 (1TiB = 2**40 bytes, as df -h counts).
  A bare number is bytes; "1.1GiB" is rounded down to whole bytes. The unit letters are case-insensitive except that a size always ends
  in B (bytes): "100G" is refused because it does not say whether 10**9 or 2**30 is meant.
Rates ("100Mbit/s", "100Mbps", "12MB/s", "12MiB/s"):
  "bit"/"b"/"bps" are bits, "B" is bytes; prefixes as for sizes. The result is bytes per second,
  so 100Mbit/s = 12,500,000 B/s (restic's --limit-upload wants KiB/s: 12,207).
Durations ("30d", "15min", "1h 30min", "90s", "2w"):
  s/sec/second(s), min/minute(s) (also "m", as systemd does), h/hour(s), d/day(s), w/week(s).
  Months and years are refused: their length varies. The result is seconds. "0" is 0.
"""

import re
from fractions import Fraction

_DECIMAL = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}
_BINARY = {"ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40, "pi": 2**50}

_NUMBER = r"(?P<num>\d+(?:\.\d+)?)"
_SIZE_RE = re.compile(_NUMBER + r"\s*(?:(?P<prefix>[kmgtp]i?)?(?P<unit>b))?", re.IGNORECASE)
_RATE_RE = re.compile(
    _NUMBER + r"\s*(?P<prefix>[kKmMgGtT]i?)?(?:(?P<unit>bit|b|B)/s|(?P<bps>bps))"
)
_DURATION_PART = re.compile(r"(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]+)", re.IGNORECASE)

_SECONDS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
}

SIZE_HINT = 'a size such as "1TB" (decimal: 10^12 bytes) or "100GiB" (binary: 100 x 2^30 bytes)'
RATE_HINT = 'a rate such as "100Mbit/s", "100Mbps", "12MB/s" or "12MiB/s"'
DURATION_HINT = 'a duration such as "90s", "15min", "6h", "30d" or "1h 30min"'


class UnitError(ValueError):
    """A value that is not a size, rate or duration; the message says what was expected."""


def _multiplier(prefix):
    prefix = (prefix or "").lower()
    if prefix in _BINARY:
        return _BINARY[prefix]
    return _DECIMAL[prefix]


def _number(value):
    """An exact int when the value is whole, else a float. Arithmetic is done in Fractions so
    that "4.1TB" is 4,100,000,000,000 bytes, not 4,099,999,999,999.9995."""
    return int(value) if value.denominator == 1 else float(value)


def parse_size(text):
    """Bytes (int) in a size such as "1TB" or "100GiB"."""
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return text
    match = _SIZE_RE.fullmatch(str(text).strip()) if isinstance(text, str) else None
    if not match:
        raise UnitError(f"expected {SIZE_HINT}")
    return int(Fraction(match["num"]) * _multiplier(match["prefix"]))


def parse_rate(text):
    """Bytes per second in a rate such as "100Mbit/s" or "12MiB/s"."""
    match = _RATE_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise UnitError(f"expected {RATE_HINT}")
    per_second = Fraction(match["num"]) * _multiplier(match["prefix"])
    bits = match["bps"] is not None or match["unit"] in ("bit", "b")
    return _number(per_second / 8 if bits else per_second)


def parse_duration(text):
    """Seconds in a duration such as "30d", "15min" or "1h 30min"."""
    if not isinstance(text, str) or not text.strip():
        raise UnitError(f"expected {DURATION_HINT}")
    if text.strip() == "0":  # where a key allows it, "0" turns something off
        return 0
    total = Fraction(0)
    position = 0
    text = text.strip()
    for match in _DURATION_PART.finditer(text):
        if text[position:match.start()].strip():
            break
        unit = match["unit"].lower()
        if unit not in _SECONDS:
            raise UnitError(f'unknown unit "{match["unit"]}": expected {DURATION_HINT}')
        total += Fraction(match["num"]) * _SECONDS[unit]
        position = match.end()
    if position == 0 or text[position:].strip():
        raise UnitError(f"expected {DURATION_HINT}")
    return _number(total)


def format_size(n_bytes, binary=True):
    """A short human size: 1.5 GiB (binary) or 1.6 GB (decimal)."""
    base, units = (1024, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]) if binary else (
        1000, ["B", "kB", "MB", "GB", "TB", "PB"])
    value = float(n_bytes)
    for unit in units:
        if abs(value) < base or unit == units[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= base
    raise AssertionError("unreachable")


PARSERS = {"size": parse_size, "rate": parse_rate, "duration": parse_duration}
