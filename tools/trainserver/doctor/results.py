"""What ts-doctor reports: one PASS, FAIL or SKIP per item, and how findings become one. Pure.

A tool's own check is reused through its --json findings, so the doctor and the timers judge
a subject the same way: the worst finding at ok is a PASS; a warning, critical or unknown is a
FAIL (the doctor is run by a person who wants to know about warnings too); a single ok finding
saying "not configured" is a SKIP with that reason.
"""

import json
from dataclasses import asdict, dataclass

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
STATUSES = (PASS, FAIL, SKIP)

EXIT_PASSED = 0  # nothing failed (passes and skips only)
EXIT_FAILED = 2  # at least one item failed
EXIT_USAGE = 3  # a usage or config error: nothing was tested

# Long reasons (a tool with twenty findings) are cut in the table; --json keeps them whole.
TABLE_REASON_WIDTH = 160


@dataclass
class Result:
    area: str
    item: str
    status: str
    reason: str
    investigate: str = ""
    seconds: float = 0.0

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)} (got {self.status!r})")

    def to_json(self):
        record = asdict(self)
        record["seconds"] = round(self.seconds, 3)
        return json.dumps(record, ensure_ascii=False)


def exit_status(results):
    return EXIT_FAILED if any(r.status == FAIL for r in results) else EXIT_PASSED


def _not_configured(finding):
    return "not configured" in (finding.summary or "").lower()


def _join(summaries, limit=5):
    summaries = list(summaries)
    text = "; ".join(summaries[:limit])
    if len(summaries) > limit:
        text += f"; and {len(summaries) - limit} more"
    return text


def from_findings(area, item, findings, investigate, returncode=0, stderr=""):
    """The Result of a tool's check from its findings (core.findings.Finding) and exit status.

    No findings with a failing exit status is a FAIL naming the status and the last line of
    stderr: a tool that could not even report is not healthy.
    """
    from trainserver.core.findings import Severity, rank

    findings = list(findings)
    if not findings:
        if returncode == 0:
            return Result(area, item, PASS, "nothing to check", investigate)
        last = (stderr or "").strip().splitlines()[-1:] or ["no output"]
        return Result(area, item, FAIL, f"exit status {returncode}, no findings: {last[0]}",
                      investigate)
    if len(findings) == 1 and findings[0].severity == Severity.OK and _not_configured(findings[0]):
        return Result(area, item, SKIP, findings[0].summary, investigate)
    bad = [f for f in findings if f.severity != Severity.OK]
    if not bad:
        if len(findings) == 1:
            return Result(area, item, PASS, findings[0].summary, investigate)
        return Result(area, item, PASS, f"all {len(findings)} findings ok", investigate)
    bad.sort(key=lambda f: -rank(f.severity))
    return Result(area, item, FAIL,
                  _join(f"{f.severity.label}: {f.summary}" for f in bad), investigate)


def render_table(results, wall_seconds):
    """An aligned table for people, in the order the probes were registered, and the total."""
    columns = ("AREA", "ITEM", "STATUS", "SECONDS", "REASON")
    rows = []
    for r in results:
        reason = r.reason if len(r.reason) <= TABLE_REASON_WIDTH else \
            r.reason[:TABLE_REASON_WIDTH - 3] + "..."
        if r.investigate and r.status != PASS:
            reason += f" (investigate: {r.investigate})"
        rows.append((r.area, r.item, r.status, f"{r.seconds:.1f}", reason))
    widths = [max(len(row[i]) for row in [columns, *rows]) for i in range(len(columns) - 1)]
    lines = ["  ".join([c.ljust(w) for c, w in zip(row, widths)] + [row[-1]]).rstrip()
             for row in [columns, *rows]]
    counts = {status: sum(1 for r in results if r.status == status) for status in STATUSES}
    lines.append("")
    lines.append(f"{counts[PASS]} passed, {counts[FAIL]} failed, {counts[SKIP]} skipped "
                 f"in {wall_seconds:.1f} s")
    return "\n".join(lines) + "\n"


def render_json(results, wall_seconds):
    """One object a line per item, then one line with the total wall time."""
    lines = [r.to_json() for r in results]
    counts = {status.lower(): sum(1 for r in results if r.status == status) for status in STATUSES}
    lines.append(json.dumps({"total_seconds": round(wall_seconds, 3), **counts}))
    return "\n".join(lines) + "\n"
