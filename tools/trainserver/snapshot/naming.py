"""The snapshot naming scheme: snapshots/<subvolume path>/<UTC timestamp>.

Names are UTC in ISO 8601 basic format (20261128T160000Z): unambiguous when local clocks jump
for daylight saving, sorted in time order by name, and free of colons, which `scp`, `rsync` and
`docker -v` would read as separators. Only names in this scheme are ever deleted.
"""

import datetime as dt
import re

_PATTERN = re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$")
UTC = dt.timezone.utc


def name_for(moment):
    """The snapshot name of the aware datetime `moment` (to the second, in UTC)."""
    if moment.tzinfo is None:
        raise ValueError("snapshot times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_name(name):
    """The UTC time a snapshot name stands for, or None when the name is not in the scheme."""
    match = _PATTERN.match(name)
    if not match:
        return None
    try:
        return dt.datetime(*(int(part) for part in match.groups()), tzinfo=UTC)
    except ValueError:  # 20261399T..., a name that only looks like ours
        return None
