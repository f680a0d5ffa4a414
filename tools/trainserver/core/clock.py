"""--now: the time a command pretends it is, for tests and for planning ahead."""

import datetime as dt


def parse_moment(text):
    """An ISO 8601 time such as 2026-12-06T06:00Z as an aware UTC datetime; without a zone it
    is UTC (as snapshot names are). Raises ValueError."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)
