"""What the previous run saw, per disk, so that a count can be called "rising".

The state document (ToolContext.state_file("smart")) is
{"version": 1, "disks": {SUBJECT: {"model", "serial", "device", "read_at", "counters": {...}}}},
keyed by the disk's subject (model and serial): a disk keeps its history when it moves from
/dev/sdb to /dev/sdc. A disk that was skipped (standby) or unreadable this run keeps the
counters of the last run that read it, so a rise is measured against the last real reading.
"""

VERSION = 1

# Counters whose rise is itself a finding (thresholds.py says how bad).
TRACKED = ("reallocated", "pending", "media_errors", "grown_defects")


def counters(report):
    """The tracked counters `report` holds (absent ones are left out)."""
    values = {
        "reallocated": report.attributes[5].raw if 5 in report.attributes else None,
        "pending": report.attributes[197].raw if 197 in report.attributes else None,
        "media_errors": report.nvme.media_errors if report.nvme else None,
        "grown_defects": report.grown_defects,
    }
    return {name: value for name, value in values.items() if value is not None}


def _disks(state):
    if not isinstance(state, dict) or state.get("version") != VERSION:
        return {}
    if isinstance(state.get("disks"), dict):
        return state["disks"]
    return {}


def previous(state, subject):
    """The counters saved for `subject` by an earlier run ({} on the first run)."""
    entry = _disks(state).get(subject) or {}
    saved = entry.get("counters") or {}
    return {name: value for name, value in saved.items() if isinstance(value, int)}


def rising(before, name, now):
    """True when counter `name` grew since the previous reading; never on the first run."""
    old = before.get(name)
    return old is not None and now is not None and now > old


def updated(state, reports, now):
    """The state to save after a run that produced `reports` at time `now` (epoch seconds)."""
    disks = {subject: dict(entry) for subject, entry in _disks(state).items()}
    for report in reports:
        if not report.has_data:
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
        if isinstance(entry.get("read_at"), int):
            labels = {"device": entry.get("device") or "", "model": entry.get("model") or "",
                      "serial": entry.get("serial") or ""}
            rows.append((labels, entry["read_at"]))
    return rows
