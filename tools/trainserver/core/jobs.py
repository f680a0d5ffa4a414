"""Every scheduled job's last run and last success, and how old they may get.

Each job's command records its runs in STATE_DIR/jobs/<job>.json when it ends (core.cli.reports
does it for every reporting command that names a job). `ts-alert overdue`, hourly, turns "no
success for longer than the job's schedule plus a margin" into a finding, so a job skipped for
any reason (its timer disabled, a lock never free, a machine off, a unit that cannot start) is
caught within one period. A job never seen to succeed is watched from the first time the
overdue check looked, so a fresh install is not flagged at once, and is flagged one period
later if the job still has not succeeded.

For an action "success" means it did its job (exit 0 or 1). For a check it means it ran and
reported (exit 0 to 3): a check that cannot check reports that itself, as an unknown finding,
every time it runs. The restore verification counts when it verified (0 to 2), whatever it
found: what it found is its own finding; a month in which it could not verify at all is not.
The monthly scrub is not here: `ts-storage check` judges its age from btrfs's own scrub
record (scrub-age), which also sees a scrub started by hand.
"""

import os
import time
from dataclasses import dataclass

from trainserver.alert import TOOL  # ts-alert overdue reports these findings
from trainserver.core.findings import Finding, Severity
from trainserver.core.state import StateFile

DID_ITS_JOB = (0, 1)
RAN = (0, 1, 2, 3)
CHECK_NAME = "overdue"


@dataclass(frozen=True)
class Job:
    name: str
    command: str  # what the timer runs, for messages
    success: tuple  # the exit statuses that count as a success of the job
    limit: tuple  # (config table, key) of the age limit
    severity: Severity
    timer: str


JOBS = {job.name: job for job in (
    Job("backup", "ts-backup run", DID_ITS_JOB, ("backup", "max_age"), Severity.CRITICAL,
        "ts-backup.timer"),
    Job("backup-verify", "ts-backup verify", (0, 1, 2), ("backup", "verify_max_age"),
        Severity.WARNING, "ts-backup-verify.timer"),
    Job("backup-prune", "ts-backup prune", DID_ITS_JOB, ("backup", "prune_max_age"),
        Severity.WARNING, "ts-backup-prune.timer"),
    Job("snapshot", "ts-snapshot run", DID_ITS_JOB, ("snapshot", "max_age"), Severity.WARNING,
        "ts-snapshot.timer"),
    Job("smart", "ts-smart check", RAN, ("smart", "max_age"), Severity.WARNING,
        "ts-smart.timer"),
    Job("storage-check", "ts-storage check", RAN, ("storage", "check_max_age"),
        Severity.WARNING, "ts-storage.timer"),
    Job("gpu-temp", "ts-gpu-temp check", RAN, ("gpu", "max_age"), Severity.WARNING,
        "ts-gpu-temp.timer"),
    Job("oom", "ts-oom check", RAN, ("oom", "max_age"), Severity.WARNING, "ts-oom.timer"),
    Job("quota", "ts-quota report", RAN, ("quota", "max_age"), Severity.WARNING,
        "ts-quota.timer"),
    Job("ups", "ts-ups check", RAN, ("ups", "check_max_age"), Severity.WARNING, "ts-ups.timer"),
    Job("sync", "ts-sync run", DID_ITS_JOB, ("sync", "max_age"), Severity.WARNING,
        "ts-sync.timer"),
    Job("gdrive-check", "ts-gdrive-mount check", RAN, ("gdrive", "check_max_age"),
        Severity.WARNING, "ts-gdrive-mount-check.timer"),
)}


def succeeded(name, status):
    """Whether exit `status` counts as a success of the job `name`."""
    job = JOBS.get(name)
    return status in (job.success if job else DID_ITS_JOB)


def _file(state_dir, name):
    return StateFile(os.path.join(state_dir, "jobs", f"{name}.json"))


def record(state_dir, name, status, started, finished=None):
    """Write the run that began at `started` and ended with `status` into the job's record."""
    state = _file(state_dir, name)
    previous = state.load({})
    finished = time.time() if finished is None else finished
    run = {"time": started, "finished": finished, "status": status,
           "ok": succeeded(name, status)}
    document = {"job": name, "last_run": run,
                "last_success": run if run["ok"] else (previous or {}).get("last_success")}
    state.save(document)
    return document


def load(state_dir, name):
    document = _file(state_dir, name).load({})
    return document if isinstance(document, dict) else {}


def _finished(run):
    """When a run ended (its start, for a record without an end): a backup that takes three
    hours must not look three hours older than it is."""
    ended = _time_of(run, "finished")
    return ended if ended is not None else _time_of(run)


def _time_of(run, field="time"):
    value = run.get(field) if isinstance(run, dict) else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def age_text(seconds):
    """An age as people say it: 40 min, 5 h, 3 days 4 h."""
    seconds = max(0, seconds)
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} days" + (f" {hours} h" if hours else "")


def _stamp(epoch):
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch))


def assess(jobs, limits, records, watched, now):
    """(findings, watched) for the overdue check. Pure.

    limits: {job name: seconds, 0 turning the check off}; records: {job name: record};
    watched: {job name: when the check first saw the job without a success}.
    """
    findings, still_watched = [], {}
    for job in jobs:
        limit = limits.get(job.name, 0)
        document = records.get(job.name) or {}
        success = _finished(document.get("last_success"))
        last = document.get("last_run") if isinstance(document.get("last_run"), dict) else None
        if not limit:
            findings.append(Finding(TOOL, CHECK_NAME, job.name, Severity.OK,
                                    f"{job.command}: age not checked (the limit is 0)"))
            continue
        failed = ""
        if last and not last.get("ok") and _time_of(last) is not None:
            failed = f"; the last run, {_stamp(last['time'])}, failed (exit {last.get('status')})"
        if success is None:
            since = watched.get(job.name, now)
            still_watched[job.name] = since
            waited = now - since
            if waited <= limit:
                findings.append(Finding(TOOL, CHECK_NAME, job.name, Severity.OK,
                                        f"{job.command}: no success on record yet; watched "
                                        f"since {_stamp(since)}{failed}"))
            else:
                findings.append(Finding(
                    TOOL, CHECK_NAME, job.name, job.severity,
                    f"{job.command} has not succeeded in the {age_text(waited)} since "
                    f"{_stamp(since)} (limit {age_text(limit)}){failed}; is {job.timer} "
                    f"enabled? (systemctl list-timers {job.timer})",
                    value=round(waited / 3600, 1), threshold=round(limit / 3600, 1)))
            continue
        age = now - success
        if age <= limit:
            findings.append(Finding(TOOL, CHECK_NAME, job.name, Severity.OK,
                                    f"{job.command}: last success {age_text(age)} ago"
                                    f"{failed}", value=round(age / 3600, 1),
                                    threshold=round(limit / 3600, 1)))
        else:
            findings.append(Finding(
                TOOL, CHECK_NAME, job.name, job.severity,
                f"{job.command}: last success {age_text(age)} ago ({_stamp(success)}), "
                f"longer than {age_text(limit)}{failed}",
                value=round(age / 3600, 1), threshold=round(limit / 3600, 1)))
    return findings, still_watched
