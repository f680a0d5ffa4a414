"""The report's table, its JSON, its metrics and the monthly digest text. Pure."""

import time

from trainserver.core.metrics import Metric
from trainserver.quota.grace import day_text, days_left, size_text

COLUMNS = ("USER", "HOME", "WORKSPACE", "TOTAL", "LIMIT", "OVER LIMIT SINCE")


def rows(measurement, states, now, grace, hard=None):
    """One dict per person: sizes in bytes, over_since (epoch or None), days of grace left,
    the hard limit the kernel enforces (bytes or None; `hard`: name -> bytes)."""
    hard = hard or {}
    result = []
    for usage in measurement.people:
        state = states.get(usage.name) or {}
        over_since = state.get("over_since")
        result.append({
            "user": usage.name, "home": usage.home, "workspace": usage.workspace,
            "total": usage.total, "limit": usage.limit, "over_since": over_since,
            "grace_days_left": (days_left(over_since, now, grace) if over_since is not None
                                else None),
            "sources": dict(usage.sources), "errors": usage.errors,
            "hard_limit": hard.get(usage.name),
        })
    return result


def document(table, measurement_info, now):
    """What `ts-quota show --json` prints and the state keeps as the last report."""
    return {"time": now, "time_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            **measurement_info, "people": table}


def _since(row):
    if row["over_since"] is None:
        return "-"
    left = row["grace_days_left"]
    grace = f" ({left} day{'s' if left != 1 else ''} of grace left)" if left else \
        " (grace period over)"
    return day_text(row["over_since"]) + grace


def render_table(table):
    """The table; a HARD LIMIT column only where the kernel enforces one for someone."""
    with_hard = any(row.get("hard_limit") is not None for row in table)
    columns = COLUMNS[:5] + (("HARD LIMIT",) if with_hard else ()) + COLUMNS[5:]
    lines = [columns]
    for row in table:
        missing = {kind for kind, source in row.get("sources", {}).items() if source == "missing"}
        hard = row.get("hard_limit")
        lines.append((row["user"],
                      "-" if "home" in missing else size_text(row["home"]),
                      "-" if "workspace" in missing else size_text(row["workspace"]),
                      size_text(row["total"]), size_text(row["limit"]))
                     + ((size_text(hard) if hard is not None else "-",) if with_hard else ())
                     + (_since(row),))
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    numbers = len(columns) - 1
    out = []
    for line in lines:
        cells = [cell.rjust(width) if 0 < i < numbers else cell.ljust(width)
                 for i, (cell, width) in enumerate(zip(line, widths))]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"


def describe(doc):
    """One line: when and how the table was measured."""
    how = doc.get("method", "walk")
    text = f"measured {doc.get('time_iso', '?')} by {how}"
    if doc.get("walk_seconds"):
        text += (f"; the walk took {doc['walk_seconds']:.2f} s for "
                 f"{doc.get('walked_entries', 0):,} "
                 f"entries ({doc.get('workers', 1)} workers, {doc.get('priority', '')})")
    return text


def digest_text(doc):
    """The monthly reminder: a title line, then the table (ts-alert notice sends it)."""
    month = time.strftime("%B %Y", time.gmtime(doc["time"]))
    over = [row["user"] for row in doc["people"] if row["over_since"] is not None]
    head = f"Storage usage per person, {month} (home + workspace; limit per person)"
    tail = (f"Over the limit: {', '.join(over)}." if over else "Everyone is within the limit.")
    return f"{head}\n{render_table(doc['people'])}{tail}\n{describe(doc)}\n"


def metrics(doc):
    used = Metric("trainserver_quota_bytes", "Bytes a person uses (allocated), by kind: home, "
                  "workspace, total.")
    limit = Metric("trainserver_quota_limit_bytes", "A person's limit for home plus workspace.")
    since = Metric("trainserver_quota_over_limit_since_seconds", "When the person went over "
                   "the limit (Unix time; 0: not over).")
    left = Metric("trainserver_quota_grace_days_left", "Days of grace left (0 when not over or "
                  "the grace period is over).")
    hard = Metric("trainserver_quota_hard_limit_bytes", "The hard limit the kernel enforces "
                  "on a person's home plus workspace (only people who have one).")
    for row in doc["people"]:
        if row.get("hard_limit") is not None:
            hard.add(row["hard_limit"], user=row["user"])
        for kind in ("home", "workspace", "total"):
            used.add(row[kind], user=row["user"], kind=kind)
        limit.add(row["limit"], user=row["user"])
        since.add(row["over_since"] or 0, user=row["user"])
        left.add(row["grace_days_left"] or 0, user=row["user"])
    walk = Metric("trainserver_quota_walk_duration_seconds", "How long the walk of the files "
                  "took (0: simple quotas gave every figure).").add(doc.get("walk_seconds", 0))
    entries = Metric("trainserver_quota_walked_entries", "Files and directories walked.").add(
        doc.get("walked_entries", 0))
    last = Metric("trainserver_quota_last_report_timestamp_seconds",
                  "When the report last measured (Unix time).").add(doc["time"])
    return [used, limit, since, left, walk, entries, last] + ([hard] if hard.samples else [])
