"""--now: the time a command pretends it is, for tests and for planning ahead."""

import datetime as dt


def parse_instant(text):
    """Seconds since the epoch of an ISO 8601 time such as 2026-12-06T06:00Z; without a zone
    it is UTC. Raises ValueError."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()
