"""What the previous run saw, per disk, so that a count can be called "rising".

The state document (ToolContext.state_file("smart")) is
{"version": 1, "disks": {SUBJECT: {"model", "serial", "device", "read_at", "counters": {...}}}},
keyed by the disk's subject (model and serial): a disk keeps its history when it moves from
/dev/sdb to /dev/sdc. A disk that was skipped (standby) or unreadable this run keeps the
counters of the last run that read it, so a rise is measured against the last real reading.
"""

VERSION = 1


def counters(report):
    """The counters whose rise is itself a finding (thresholds.py says how bad) that `report`
    holds; absent ones are left out."""
    values = {
        "reallocated": report.attributes[5].raw if 5 in report.attributes else None,
        "pending": report.attributes[197].raw if 197 in report.attributes else None,
        "media_errors": report.nvme.media_errors if report.nvme else None,
        "grown_defects": report.grown_defects,
    }
    return {name: value for name, value in values.items() if value is not None}


def _disks(state):
    """{subject: entry} of the saved state; entries of any other shape are left out.

    The state file is ours, but a hand edit or a bug in an older version could leave anything
    in it; a disk whose entry is not understood is treated as never read before.
    """
    if not isinstance(state, dict) or state.get("version") != VERSION:
        return {}
    disks = state.get("disks")
    if not isinstance(disks, dict):
        return {}
    return {subject: entry for subject, entry in disks.items() if isinstance(entry, dict)}


def _count(value):
    return isinstance(value, int) and not isinstance(value, bool)


def previous(state, subject):
    """The counters saved for `subject` by an earlier run ({} on the first run)."""
    saved = _disks(state).get(subject, {}).get("counters")
    if not isinstance(saved, dict):
        return {}
    return {name: value for name, value in saved.items() if _count(value)}


def rising(before, name, now):
    """True when counter `name` grew since the previous reading; never on the first run."""
    old = before.get(name)
    return old is not None and now is not None and now > old


def updated(state, reports, now):
    """The state to save after a run that produced `reports` at time `now` (epoch seconds)."""
    disks = {subject: dict(entry) for subject, entry in _disks(state).items()}
    for report in reports:
        # A disk in standby was not read: its last reading stays, even when smartctl printed
        # some of the disk's identity before it stopped.
        if not report.has_data or report.standby:
            continue
        disks[report.subject] = {
            "model": report.model,
            "serial": report.serial,
            "device": report.device,
            "read_at": int(now),
            "counters": counters(report),
        }
    return {"version": VERSION, "disks": disks}


def last_reads(state):
    """[(labels, read_at)] for every disk ever read, for the metrics (device as last read)."""
    rows = []
    for _subject, entry in sorted(_disks(state).items()):
        if _count(entry.get("read_at")):
            labels = {key: str(entry.get(key) or "") for key in ("device", "model", "serial")}
            rows.append((labels, entry["read_at"]))
    return rows
