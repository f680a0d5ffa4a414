"""From new kills and what earlier runs remembered to findings (pure; the clock is passed in).

ts-alert keys a problem on (tool, check, subject), so each container gets one finding per run,
however many kills it had: a warning for new kills, critical once `repeat_critical` kills fall
within `repeat_window`, and ok on the runs after, so that the alert is resolved. Recent kills
are kept (as plain dicts, for the state file) to count repeats across runs.
"""

import time as _time
from dataclasses import dataclass, field

from trainserver.core.findings import Finding, Severity
from trainserver.core.units import format_size
from trainserver.oom import TOOL

CHECK_KILLS = "oom-kill"
HOST_SUBJECT = "host"

# How long a subject's kill total is kept (for the kills_total metric) after its last kill.
TOTALS_KEPT = 90 * 86400


@dataclass
class Attributed:
    """A kill with the subject it is reported under."""

    kill: object  # kernel_log.Kill
    subject: str
    container: bool


@dataclass
class Memory:
    """What the tool remembers between runs about kills (a part of its state file)."""

    recent: list = field(default_factory=list)  # [{"subject", "time", "pid", "process"}]
    open: list = field(default_factory=list)  # subjects whose last finding was not ok
    totals: dict = field(default_factory=dict)  # subject -> {"kills", "last"}

    @classmethod
    def from_state(cls, state):
        """What the state file holds; entries that are not what to_state() writes are dropped."""
        if not isinstance(state, dict):
            return cls()
        recent = [dict(r) for r in _list(state.get("recent"))
                  if isinstance(r, dict) and isinstance(r.get("subject"), str) and _number(r.get("time"))]
        subjects = [s for s in _list(state.get("open")) if isinstance(s, str)]
        totals = state.get("totals")
        totals = {s: {"kills": t["kills"], "last": t["last"]}
                  for s, t in (totals.items() if isinstance(totals, dict) else ())
                  if isinstance(t, dict) and _number(t.get("kills")) and _number(t.get("last"))}
        return cls(recent=recent, open=subjects, totals=totals)

    def to_state(self):
        return {"recent": self.recent, "open": self.open, "totals": self.totals}


def _list(value):
    return value if isinstance(value, list) else []


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _when(seconds):
    return _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(seconds)) if seconds else "unknown time"


def _duration_text(seconds):
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def describe_kill(kill):
    """One kill in words: process, pid, memory held when killed, the cgroup's limit, time."""
    details = [f"pid {kill.pid}"]
    if kill.rss_kb is not None:
        details.append(f"{format_size(kill.rss_kb * 1024)} resident")
    if kill.limit_kb is not None:
        details.append(f"cgroup limit {format_size(kill.limit_kb * 1024)}")
    return f"{kill.process} ({', '.join(details)}) at {_when(kill.time)}"


def assess(attributed, memory, now, window, repeat_critical):
    """Return (findings, memory after this run) for this run's new kills.

    attributed: [Attributed] found in the log since the last run; memory: Memory (not modified).
    """
    recent = [dict(r) for r in memory.recent if r.get("time") and r["time"] > now - window]
    totals = {s: dict(t) for s, t in memory.totals.items() if t.get("last", 0) > now - TOTALS_KEPT}
    by_subject = {}
    for item in attributed:
        by_subject.setdefault(item.subject, []).append(item)
        recent.append({"subject": item.subject, "time": item.kill.time or now,
                       "pid": item.kill.pid, "process": item.kill.process})
        total = totals.setdefault(item.subject, {"kills": 0, "last": 0})
        total["kills"] += 1
        total["last"] = max(total["last"], item.kill.time or now)

    findings = []
    for subject, items in by_subject.items():
        # A kill found late (a journal read after downtime) may be older than the window, but it
        # is new to us: it counts.
        in_window = sum(1 for r in recent if r["subject"] == subject and r["time"] > now - window)
        count = max(in_window, len(items))
        severity = Severity.CRITICAL if count >= repeat_critical else Severity.WARNING
        where = "container" if items[0].container else "cgroup"
        latest = max(items, key=lambda i: i.kill.time or 0).kill
        new = f"{len(items)} new OOM kill{'s' if len(items) > 1 else ''}"
        summary = (f"{where} {subject}: {new}, {count} within {_duration_text(window)}; "
                   f"last: {describe_kill(latest)}")
        if len(items) > 1:
            others = ", ".join(f"{i.kill.process} (pid {i.kill.pid})" for i in items if i.kill is not latest)
            summary += f"; also {others}"
        findings.append(Finding(TOOL, CHECK_KILLS, subject, severity, summary,
                                value=count, threshold=repeat_critical))

    quiet = [s for s in dict.fromkeys(memory.open + [r["subject"] for r in recent])
             if s not in by_subject]
    for subject in quiet:
        count = sum(1 for r in recent if r["subject"] == subject)
        summary = (f"{subject}: no new OOM kill"
                   + (f" ({count} within {_duration_text(window)})" if count else ""))
        findings.append(Finding(TOOL, CHECK_KILLS, subject, Severity.OK, summary,
                                value=count, threshold=repeat_critical))
    if not findings:
        findings.append(Finding(TOOL, CHECK_KILLS, HOST_SUBJECT, Severity.OK, "no OOM kills",
                                value=0, threshold=repeat_critical))
    after = Memory(recent=recent, open=sorted(by_subject), totals=totals)
    return findings, after
