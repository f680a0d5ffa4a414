"""Findings: what a check reports, one JSON object a line.

{"tool", "check", "subject", "severity", "summary", "value", "threshold", "time"}
Healthy subjects are reported as "ok" too, so that a sink can tell when a problem is resolved.
A check exits with its worst severity, as monitoring plugins do.
"""

import enum
import json
import time as _time
from dataclasses import asdict, dataclass, field


class Severity(enum.IntEnum):
    """Values are the exit statuses of monitoring plugins."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def label(self):
        return self.name.lower()

    @classmethod
    def parse(cls, text):
        try:
            return cls[str(text).upper()]
        except KeyError:
            raise ValueError(f"severity must be ok, warning, critical or unknown (got {text!r})") from None


# Worse first: a critical disk outranks a disk whose state is unknown (monitoring-plugins'
# max_state_alt order), so a check with both exits 2, not 3.
_RANK = {Severity.OK: 0, Severity.UNKNOWN: 1, Severity.WARNING: 2, Severity.CRITICAL: 3}

FIELDS = ("tool", "check", "subject", "severity", "summary", "value", "threshold", "time")


def _now_iso():
    return _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime())


@dataclass
class Finding:
    tool: str
    check: str
    subject: str
    severity: Severity
    summary: str
    value: object = None
    threshold: object = None
    time: str = field(default_factory=_now_iso)

    def __post_init__(self):
        if not isinstance(self.severity, Severity):
            self.severity = Severity.parse(self.severity)

    @property
    def key(self):
        """What identifies the same problem from run to run."""
        return (self.tool, self.check, self.subject)

    def to_json(self):
        record = asdict(self)
        record["severity"] = self.severity.label
        return json.dumps(record, ensure_ascii=False, sort_keys=False)


class FindingsError(ValueError):
    """A line of input is not a finding."""


def rank(severity):
    """How bad a severity is, for comparisons (critical > warning > unknown > ok)."""
    return _RANK[severity]


def worst(severities):
    """The worst severity of `severities` (OK when there are none)."""
    return max(severities, key=_RANK.__getitem__, default=Severity.OK)


def exit_status(findings):
    return int(worst(f.severity for f in findings))


def write_jsonl(findings, stream):
    for finding in findings:
        stream.write(finding.to_json() + "\n")
    stream.flush()


def parse_line(line, number=0):
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise FindingsError(f"line {number}: not JSON: {exc.msg}") from None
    if not isinstance(record, dict):
        raise FindingsError(f"line {number}: expected a JSON object")
    missing = [name for name in ("tool", "check", "subject", "severity", "summary") if name not in record]
    if missing:
        raise FindingsError(f"line {number}: missing {', '.join(missing)}")
    unknown = sorted(set(record) - set(FIELDS))
    if unknown:
        raise FindingsError(f"line {number}: unknown fields {', '.join(unknown)}")
    try:
        return Finding(**record)
    except ValueError as exc:
        raise FindingsError(f"line {number}: {exc}") from None


def read_jsonl(stream, errors=None):
    """Yield findings from JSON lines; blank lines are skipped.

    A bad line raises FindingsError, or, when `errors` is a list, is appended to it as an error
    and skipped, so that a sink keeps every valid finding of a partly broken input.
    """
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield parse_line(line, number)
        except FindingsError as exc:
            if errors is None:
                raise
            errors.append(exc)


def _cell(value):
    if value is None:
        return "-"
    return str(value)


def render_table(findings):
    """An aligned table for people, worst findings first."""
    columns = ("SEVERITY", "CHECK", "SUBJECT", "VALUE", "SUMMARY")
    rows = [
        (f.severity.label.upper(), f"{f.tool}/{f.check}", f.subject, _cell(f.value), f.summary)
        for f in sorted(findings, key=lambda f: -_RANK[f.severity])
    ]
    widths = [max(len(str(r[i])) for r in [columns, *rows]) for i in range(len(columns) - 1)]
    lines = []
    for row in [columns, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths)] + [str(row[-1])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
