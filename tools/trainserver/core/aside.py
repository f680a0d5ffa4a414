"""What a restore replaces is kept, never deleted: DEST.replaced-<UTC time> beside it.

ts-snapshot restore and ts-backup restore share this, so one restore vocabulary holds for both:
the copy goes to the path itself unless --to says otherwise, an existing destination is refused
without --overwrite, and with it the old version is renamed aside (same directory, so a rename,
instant and on the same filesystem) just before the new copy is renamed into its place, and
renamed back when the new copy cannot take it. The new copy is always made beside the
destination first, so a restore that fails half-way never leaves a partial copy in its place.
"""

import datetime as dt
import os

from trainserver.core.errors import ActionError

MARK = ".replaced-"


def stamp(now):
    """The UTC time `now` (an aware datetime, or Unix seconds) as snapshots are named:
    20261128T160000Z."""
    if not isinstance(now, dt.datetime):
        now = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    elif now.tzinfo is None:
        raise ValueError("the time of a restore must be timezone-aware")
    return now.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def aside_name(destination, now, taken=os.path.lexists):
    """DEST.replaced-<UTC time>, or with -2, -3, ... added when `taken` says that name is
    already used (two restores within one second, or a copy kept from before)."""
    base = f"{destination.rstrip('/')}{MARK}{stamp(now)}"
    name, number = base, 1
    while taken(name):
        number += 1
        name = f"{base}-{number}"
    return name


def refusal(destination):
    """The error for an existing destination without --overwrite."""
    return ActionError(f"{destination} exists: not overwritten (give --to for another place, "
                       f"or --overwrite to replace it, the old one kept aside as "
                       f"{destination.rstrip('/')}{MARK}<UTC time>)")


def put_in_place(new, destination, aside=None):
    """Rename NEW to DESTINATION. With ASIDE, the existing DESTINATION is first renamed to
    ASIDE, and renamed back when NEW cannot take its place. Returns ASIDE (None without)."""
    if aside is None:
        if os.path.lexists(destination):
            raise refusal(destination)
        os.rename(new, destination)
        return None
    if os.path.lexists(aside):
        # A rename would silently replace what is there; it was free when the name was chosen.
        raise ActionError(f"{aside} exists already: move it away first")
    os.rename(destination, aside)
    try:
        os.rename(new, destination)
    except BaseException:
        os.rename(aside, destination)
        raise
    return aside
