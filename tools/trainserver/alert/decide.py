"""Which findings deserve a message now: new, worse, reminder or resolved.

Pure logic over the previous state and an injected clock. A problem is keyed on
(tool, check, subject). Reminders follow a "diminishing" schedule, as smartd's: the first after
`repeat_after`, each later one after twice the previous wait, never more than `repeat_max`.
A problem that gets better but is still a problem sends nothing; the next reminder says where it
stands. A subject that a run does not mention stays as it was (a disk in standby, say).
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


@dataclass
class Schedule:
    repeat_after: float  # seconds
    repeat_max: float

    def wait(self, reminders_sent):
        """Seconds between the last message and the next reminder."""
        return min(self.repeat_after * (2 ** reminders_sent), self.repeat_max)


def key_of(finding):
    return "\x1f".join(finding.key)


def _open_record(finding, now):
    return {"tool": finding.tool, "check": finding.check, "subject": finding.subject,
            "severity": finding.severity.label, "summary": finding.summary,
            "since": now, "last_sent": now, "reminders": 0}


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
        record.update(severity=finding.severity.label, summary=finding.summary)
        if rank(finding.severity) > rank(previous):
            record.update(last_sent=now, reminders=0)
            events.append(Event(WORSE, finding, record["since"], previous))
        elif now - record["last_sent"] >= schedule.wait(record["reminders"]):
            record.update(last_sent=now, reminders=record["reminders"] + 1)
            events.append(Event(REMINDER, finding, record["since"]))
    return problems, events
