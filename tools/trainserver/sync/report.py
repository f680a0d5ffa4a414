"""ts-sync's findings, its state record and its metrics, from an rclone outcome. Pure."""

from trainserver.core.findings import Finding, Severity
from trainserver.core.units import format_size
from trainserver.sync.jsonlog import describe_would
from trainserver.sync import TOOL

GB = 1e9


def _gb(n_bytes):
    return f"{n_bytes / GB:.1f} GB"


def outcome_kind(outcome):
    """ok, upload-cap, file-limit, max-delete or failed."""
    if outcome.returncode == 0:
        return "ok"
    if outcome.log.upload_limit:
        return "upload-cap"
    if outcome.log.file_limit:
        return "file-limit"
    if outcome.log.max_delete:
        return "max-delete"
    return "failed"


def copy_finding(outcome, what, subject, max_delete=None, next_step="the next run"):
    """The finding of one copying rclone run (the daily run or the migration)."""
    summary = outcome.log.summary()
    kind = outcome_kind(outcome)
    moved = f"{summary['files']} files ({format_size(summary['bytes'], binary=False)})"
    if kind == "ok":
        deleted = (f", {summary['deletes']} deleted or replaced into the backup dir"
                   if summary["deletes"] else "")
        return Finding(TOOL, what, subject, Severity.OK,
                       f"{what}: copied {moved}{deleted}, checked {summary['checks']} in "
                       f"{summary['duration']:.0f} s", value=summary["bytes"])
    if kind == "upload-cap":
        return Finding(TOOL, what, subject, Severity.WARNING,
                       f"Drive's daily upload cap reached after {_gb(summary['bytes'])}; the "
                       f"rest follows on {next_step}", value=summary["bytes"])
    if kind == "file-limit":
        return Finding(TOOL, what, subject, Severity.CRITICAL,
                       "the Shared Drive holds the most items Google allows (400,000): nothing "
                       "more can be added until files are removed or moved to another drive")
    if kind == "max-delete":
        # rclone's own count of what it then kept; how many more it would have removed is
        # not known: it stops at the threshold.
        kept = outcome.log.not_deleted
        held = kept if kept is not None else "the rest"
        return Finding(TOOL, what, subject, Severity.CRITICAL,
                       f"mirror stopped by --max-delete {max_delete}: more than {max_delete} "
                       f"files would have left the destination, {held} were kept; check the "
                       f"source, then raise [sync] max_delete if it is right", value=kept,
                       threshold=max_delete)
    errors = "; ".join(outcome.log.error_lines(5)) or "no error line"
    return Finding(TOOL, what, subject, Severity.CRITICAL,
                   f"rclone failed (exit {outcome.returncode}) after copying {moved}: {errors}",
                   value=outcome.returncode)


def dry_run_finding(outcome, what, subject):
    would = outcome.log.would
    if outcome.returncode != 0:
        return copy_finding(outcome, what, subject)
    copies = sum(1 for entry in would if entry["action"] == "copy")
    deletes = sum(1 for entry in would if entry["action"] != "copy")
    return Finding(TOOL, what, subject, Severity.OK,
                   f"dry run: would transfer {copies} files, delete or replace {deletes}",
                   value=len(would))


def would_lines(outcome):
    return [describe_would(entry) for entry in outcome.log.would]


def status_record(outcome, started, previous):
    summary = outcome.log.summary()
    kind = outcome_kind(outcome)
    run = {"time": started, "ok": kind in ("ok", "upload-cap"), "outcome": kind,
           "returncode": outcome.returncode, **summary,
           "waited": round(outcome.waited, 1)}
    run["summary"] = (f"{kind}: {summary['files']} files, "
                      f"{format_size(summary['bytes'], binary=False)}, "
                      f"{summary['errors']} errors, {summary['duration']:.0f} s")
    return {"last_run": run,
            "last_success": run if run["ok"] else (previous or {}).get("last_success")}


def metrics(record):
    from trainserver.core.metrics import Metric

    run, success = record["last_run"], record.get("last_success")
    found = [
        Metric("trainserver_sync_last_run_timestamp_seconds",
               "When the last ts-sync run started (UNIX time).").add(run["time"]),
        Metric("trainserver_sync_success", "1 when the last ts-sync run did its job (the "
               "upload cap counts: the rest follows the next day).").add(1 if run["ok"] else 0),
        Metric("trainserver_sync_upload_cap_reached",
               "1 when the last run stopped at Drive's daily upload cap.")
        .add(1 if run["outcome"] == "upload-cap" else 0),
        Metric("trainserver_sync_bytes", "Bytes the last run copied.").add(run["bytes"]),
        Metric("trainserver_sync_files", "Files the last run copied.").add(run["files"]),
        Metric("trainserver_sync_errors", "Errors rclone counted in the last run.")
        .add(run["errors"]),
        Metric("trainserver_sync_duration_seconds", "How long the last run took.")
        .add(run["duration"]),
    ]
    if success:
        found.append(Metric("trainserver_sync_last_success_timestamp_seconds",
                            "When the last successful run started (UNIX time).")
                     .add(success["time"]))
    return found


def check_findings(mismatches, source, destination, hash_used, returncode, errors, limit=1000,
                   full_list=None):
    """One critical finding per mismatch (at most `limit`; the full list is in `full_list`),
    then the verdict."""
    how = ("sizes only: the two sides share no hash" if hash_used == "size"
           else f"{hash_used} checksums and sizes" if hash_used else "sizes and checksums")
    found = []
    for kind, path in mismatches[:limit]:
        words = {"missing": "missing at the destination", "differ": "differs from the source",
                 "error": "could not be read or compared", "extra": "only at the destination"}
        found.append(Finding(TOOL, "verify", path, Severity.CRITICAL,
                             f"{path}: {words.get(kind, kind)}"))
    subject = f"{source} -> {destination}"
    if mismatches:
        where = f"; the full list is in {full_list}" if full_list else ""
        counts = {}
        for kind, _ in mismatches:
            counts[kind] = counts.get(kind, 0) + 1
        text = ", ".join(f"{count} {kind}" for kind, count in sorted(counts.items()))
        found.append(Finding(TOOL, "verify", subject, Severity.CRITICAL,
                             f"verification ({how}) found {len(mismatches)} mismatches: "
                             f"{text}{where}", value=len(mismatches)))
    elif returncode != 0:
        found.append(Finding(TOOL, "verify", subject, Severity.CRITICAL,
                             f"rclone check failed (exit {returncode}): "
                             f"{'; '.join(errors[-5:]) or 'no error line'}"))
    else:
        found.append(Finding(TOOL, "verify", subject, Severity.OK,
                             f"every file of the source is at the destination ({how})",
                             value=0))
    return found
