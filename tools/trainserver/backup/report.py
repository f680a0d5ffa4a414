"""What a backup run tells: findings, the status record and the Prometheus metrics. Pure."""

from dataclasses import dataclass, field

from trainserver.core.findings import Finding, Severity
from trainserver.backup import TOOL


@dataclass
class RunResult:
    """What one `ts-backup run` did; filled in as it goes."""
    started: float
    repository: str
    storage: str = None
    finished: float = None
    backup: dict = None        # restic.outcome() of the backup, or None when it did not run
    summary: dict = None       # restic's backup summary
    forget: dict = None        # {"ok", "removed", "kept", "summary"} or None
    problem: str = None        # why the run stopped before or around restic
    skipped: list = field(default_factory=list)  # (subvolume pattern or path, why)
    subvolumes: list = field(default_factory=list)
    pause: dict = field(default_factory=dict)  # pause.paused()'s report
    kept_set: str = None     # the snapshot set this run backed up, kept for verify
    snapshot_seconds: float = None  # pause, snapshots and unpause: what the containers wait
    cleanup_problem: str = None
    feature_flags: str = ""  # RESTIC_FEATURES the backup ran with
    feature_problem: str = None  # why restic's feature flags are unknown

    @property
    def ok(self):
        return self.problem is None and bool(self.backup and self.backup["ok"])


def findings(result):
    found = [Finding(TOOL, "source", rel, Severity.WARNING, f"{rel}: {why}; not backed up")
             for rel, why in result.skipped]
    found += pause_findings(result.pause)
    if result.ok:
        found.append(Finding(TOOL, "backup", result.repository, Severity.OK,
                             result.backup["summary"],
                             value=(result.summary or {}).get("data_added")))
    else:
        # The server manual's level: a failed backup is critical, whatever the cause.
        why = result.problem or (result.backup or {}).get("summary") or "backup did not run"
        found.append(Finding(TOOL, "backup", result.repository, Severity.CRITICAL, why))
    if result.feature_problem:
        found.append(Finding(TOOL, "restic-features", result.repository, Severity.WARNING,
                             result.feature_problem))
    if result.cleanup_problem:
        found.append(Finding(TOOL, "cleanup", result.storage or "storage", Severity.WARNING,
                             result.cleanup_problem))
    if result.forget is not None:
        found.append(Finding(TOOL, "forget", result.repository,
                             Severity.OK if result.forget["ok"] else Severity.CRITICAL,
                             result.forget["summary"], value=result.forget.get("removed")))
    return found


def pause_findings(pause):
    """Containers left paused are critical; a pause skipped is said, with why."""
    found = [Finding(TOOL, "pause", "containers", Severity.CRITICAL, error)
             for error in pause.get("unpause_errors", [])]
    skipped = pause.get("skipped")
    if skipped:
        # Configured containers that could not be paused make the backup less consistent.
        severity = Severity.OK if skipped.startswith("no containers") else Severity.WARNING
        found.append(Finding(TOOL, "pause", "containers", severity, f"pause skipped: {skipped}"))
    elif "seconds" in pause and not found:
        found.append(Finding(TOOL, "pause", "containers", Severity.OK,
                             f"containers paused for {pause['seconds']:.1f} s while the "
                             f"snapshots were taken", value=round(pause["seconds"], 3)))
    return found


def status_record(result, previous):
    """The status file's new content, from this run and the previous record."""
    summary = result.summary or {}
    run = {
        "time": result.started,
        "finished": result.finished,
        "duration": (result.finished - result.started) if result.finished else None,
        "ok": result.ok,
        "summary": (result.backup or {}).get("summary") or result.problem,
        "snapshot_id": summary.get("snapshot_id"),
        "bytes_added": summary.get("data_added"),
        "files_new": summary.get("files_new"),
        "files_changed": summary.get("files_changed"),
        # Every directory "changed" in a no-change run is restic storing device IDs (0.14).
        "dirs_changed": summary.get("dirs_changed"),
        "restic_features": result.feature_flags,
        "subvolumes": result.subvolumes,
        "paused_seconds": result.pause.get("seconds"),
        "snapshot_seconds": result.snapshot_seconds,
        "set": result.kept_set,
        "storage": result.storage,
    }
    record = {"last_run": run, "last_success": (previous or {}).get("last_success")}
    if result.ok:
        record["last_success"] = run
    return record


def metrics(record):
    from trainserver.core.metrics import Metric

    run, success = record["last_run"], record.get("last_success")
    found = [
        Metric("trainserver_backup_last_run_timestamp_seconds",
               "When the last backup run started (UNIX time).").add(run["time"]),
        Metric("trainserver_backup_last_run_ok", "1 when the last backup run succeeded.")
        .add(1 if run["ok"] else 0),
    ]
    if run.get("snapshot_seconds") is not None:
        found.append(Metric("trainserver_backup_snapshot_seconds",
                            "How long the last run's snapshot step took (containers paused)."
                            ).add(run["snapshot_seconds"]))
    if run.get("paused_seconds") is not None:
        found.append(Metric("trainserver_backup_paused_seconds",
                            "How long the last run kept the containers paused.")
                     .add(run["paused_seconds"]))
    if success:
        found += [
            Metric("trainserver_backup_last_success_timestamp_seconds",
                   "When the last successful backup started (UNIX time).").add(success["time"]),
            Metric("trainserver_backup_duration_seconds",
                   "How long the last successful backup took.").add(success["duration"] or 0),
            Metric("trainserver_backup_bytes_added",
                   "Bytes the last successful backup added to the repository.")
            .add(success["bytes_added"] or 0),
            Metric("trainserver_backup_files_new", "New files in the last successful backup.")
            .add(success["files_new"] or 0),
            Metric("trainserver_backup_files_changed",
                   "Changed files in the last successful backup.")
            .add(success["files_changed"] or 0),
            Metric("trainserver_backup_last_success_info",
                   "The restic snapshot of the last successful backup, as a label.")
            .add(1, snapshot_id=success.get("snapshot_id") or ""),
        ]
    return found


def log_text(result, lines):
    """The text sent with the heartbeat: the verdict, then restic's last lines."""
    head = [f.summary for f in findings(result)]
    return "\n".join(head + ["", *lines])
