"""What `ts-alert pipe` makes of a command's end: its "run" finding. Pure.

A command's exit status must never vanish: a non-zero status that its own findings do not
explain (no finding at all, findings less bad than the status, a status outside 0-3, a kill,
a timeout, a program that would not start) becomes a finding of pipe's own, keyed
(tool, "run", "ts-backup run"), from the command's last stderr lines. When the command ran to
its end and its findings say why it exited as it did, the same key is reported ok, which
resolves an earlier "could not run". A command that reported its own "run" finding (the
boundary of every ts-* tool does, under --json, when it fails) is taken at its word.
"""

import signal

from trainserver.core.findings import Finding, Severity, rank, worst
from trainserver.core.naming import command_label, tool_of

RUN = "run"
TAIL_CHARS = 400

_MEANING = {1: "warning", 2: "critical", 3: "unknown", 70: "internal error",
            75: "a lock held too long", 126: "not executable", 127: "not found",
            130: "interrupted"}


def severity_of(status):
    """What an exit status says, as a severity: 0-3 as monitoring plugins, anything else
    critical (a crash, a kill, a status that no check gives)."""
    return {0: Severity.OK, 1: Severity.WARNING, 2: Severity.CRITICAL,
            3: Severity.UNKNOWN}.get(status, Severity.CRITICAL)


def stderr_tail(stderr, lines=3):
    """The last non-empty lines of stderr, joined, at most TAIL_CHARS characters."""
    kept = [line.strip() for line in (stderr or "").splitlines() if line.strip()][-lines:]
    text = " / ".join(kept)
    return text if len(text) <= TAIL_CHARS else "..." + text[-TAIL_CHARS:]


def _how_it_ended(status):
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"was killed by {name}"
    meaning = _MEANING.get(status)
    return f"exited {status}" + (f" ({meaning})" if meaning else "")


def run_finding(argv, status, findings, bad_lines=0, stderr="", problem=None):
    """The finding pipe adds for the command `argv`, or None when the command reported its own.

    status: the exit status (negative: killed by that signal), or None when `problem` says why
    there is none (the program could not be started, or was stopped at pipe's timeout).
    """
    tool, label = tool_of(argv[0]), command_label(argv)
    if any(f.check == RUN for f in findings):
        return None
    tail = stderr_tail(stderr)
    said = f": {tail}" if tail else ""
    if problem is not None:
        return Finding(tool, RUN, label, Severity.CRITICAL, f"{label} {problem}{said}")
    bad = f"; {bad_lines} output lines were not findings" if bad_lines else ""
    reported = worst(f.severity for f in findings) if findings else None
    if status == 0 and not bad_lines:
        return Finding(tool, RUN, label, Severity.OK, f"{label} ran", value=0)
    if status in (1, 2, 3) and reported is not None and \
            rank(reported) >= rank(severity_of(status)) and not bad_lines:
        return Finding(tool, RUN, label, Severity.OK,
                       f"{label} ran; its findings explain exit status {status}", value=status)
    if status == 0:
        return Finding(tool, RUN, label, Severity.UNKNOWN, f"{label} ran{bad}", value=0)
    if reported is None:
        told = " without reporting a finding"
    else:
        told = f", but its findings are no worse than {reported.label}"
    severity = Severity.UNKNOWN if status == 3 else Severity.CRITICAL
    return Finding(tool, RUN, label, severity, f"{label} {_how_it_ended(status)}{told}{bad}{said}",
                   value=status)
