"""Which findings deserve a message now: new, worse, reminder or resolved; and acknowledgements.

Pure logic over the previous state and an injected clock. A problem is keyed on
(tool, check, subject). Reminders follow a "diminishing" schedule, as smartd's: the first after
`repeat_after`, each later one after twice the previous wait, never more than `repeat_max`.
A problem that gets better but is still a problem sends nothing; the next reminder says where it
stands. A subject that a run does not mention stays as it was (a disk in standby, say).

An acknowledged problem (`ts-alert ack`, as Nagios acknowledgements and Alertmanager silences)
sends no reminders until it gets worse than it has been since the acknowledgement: its level
follows the problem down, so a damage counter acknowledged during a run where it rose (critical)
and then steady (warning) breaks its acknowledgement when it rises again. Getting worse lifts the
acknowledgement and sends a "worse" message; resolving ends it with the problem. An
acknowledgement may have an end (`--for`); reminders then resume on their schedule.
"""

from dataclasses import dataclass

from trainserver.core.findings import Severity, rank

NEW, WORSE, REMINDER, RESOLVED = "new", "worse", "reminder", "resolved"


@dataclass
class Event:
    kind: str
    finding: object  # the Finding of this run
    since: float = None  # when the problem was first seen (reminders, resolved)
    previous: Severity = None  # the severity before (worse, resolved)
    acknowledged: bool = False  # worse: an acknowledgement was lifted by it


@dataclass
class Schedule:
    repeat_after: float  # seconds
    repeat_max: float

    def wait(self, reminders_sent):
        """Seconds between the last message and the next reminder."""
        return min(self.repeat_after * (2 ** reminders_sent), self.repeat_max)


def key_from(tool, check, subject):
    return "\x1f".join((tool, check, subject))


def key_of(finding):
    return key_from(*finding.key)


def _open_record(finding, now):
    return {"tool": finding.tool, "check": finding.check, "subject": finding.subject,
            "severity": finding.severity.label, "summary": finding.summary,
            "value": finding.value, "since": now, "last_sent": now, "reminders": 0}


def _lower(first, second):
    """The less bad of two severity labels."""
    return first if rank(Severity.parse(first)) <= rank(Severity.parse(second)) else second


def decide(open_problems, findings, now, schedule):
    """Return (open problems after this run, events to send).

    open_problems: {key: record} as kept in the state file; it is not modified.
    """
    problems = {key: dict(record) for key, record in open_problems.items()}
    events = []
    for finding in findings:
        key = key_of(finding)
        record = problems.get(key)
        if finding.severity == Severity.OK:
            if record:
                events.append(Event(RESOLVED, finding, record["since"],
                                    Severity.parse(record["severity"])))
                del problems[key]
            continue
        if record is None:
            problems[key] = _open_record(finding, now)
            events.append(Event(NEW, finding))
            continue
        previous = Severity.parse(record["severity"])
        record.update(severity=finding.severity.label, summary=finding.summary,
                      value=finding.value)
        ack = dict(record["ack"]) if isinstance(record.get("ack"), dict) else None
        if ack and ack.get("until") is not None and now >= ack["until"]:
            ack = None  # expired: the reminder schedule takes over again
            record.pop("ack", None)
        if ack:
            if rank(finding.severity) > rank(Severity.parse(ack["severity"])):
                del record["ack"]
                record.update(last_sent=now, reminders=0)
                events.append(Event(WORSE, finding, record["since"], previous, acknowledged=True))
            else:
                ack["severity"] = _lower(ack["severity"], finding.severity.label)
                record["ack"] = ack
            continue
        if rank(finding.severity) > rank(previous):
            record.update(last_sent=now, reminders=0)
            events.append(Event(WORSE, finding, record["since"], previous))
        elif now - record["last_sent"] >= schedule.wait(record["reminders"]):
            record.update(last_sent=now, reminders=record["reminders"] + 1)
            events.append(Event(REMINDER, finding, record["since"]))
    return problems, events


class NotOpen(LookupError):
    """No open problem has that key."""


def acknowledge(open_problems, key, now, comment="", until=None):
    """(open problems, the acknowledged record). Raises NotOpen."""
    if key not in open_problems:
        raise NotOpen(key)
    problems = {k: dict(v) for k, v in open_problems.items()}
    record = problems[key]
    record["ack"] = {"severity": record["severity"], "time": now, "comment": comment,
                     "until": until}
    return problems, record


def unacknowledge(open_problems, key):
    """(open problems, the record, whether it was acknowledged). Raises NotOpen."""
    if key not in open_problems:
        raise NotOpen(key)
    problems = {k: dict(v) for k, v in open_problems.items()}
    record = problems[key]
    had = record.pop("ack", None) is not None
    return problems, record, had
