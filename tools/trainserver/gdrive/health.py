"""Is the Drive mount healthy, and what did a restart bring: pure logic.

A mount is judged from facts gathered without ever touching it in this process (facts.py):
- hung: a stat of the mount point did not return within [gdrive] check_timeout, or rclone
  is stopped (state T): every access to the mount waits in the kernel for rclone;
- dead: the recorded rclone process is gone (or a zombie, or no longer rclone), or the mount
  answers "Transport endpoint is not connected";
- missing: nothing is mounted at the mount point.
Each is repaired by a restart of ts-gdrive-mount.service (a hung rclone is killed first).
Restarts are counted: [gdrive] restarts_critical of them within restart_window is critical,
fewer a warning, since a mount that keeps failing needs a person.
"""

import errno
from dataclasses import dataclass

from trainserver.core.findings import Finding, Severity
from trainserver.gdrive import TOOL

HUNG, DEAD, MISSING = "hung", "dead", "missing"


@dataclass(frozen=True)
class MountFacts:
    mount_point: str
    mounted: bool
    fstype: str = None
    probe: str = "ok"  # ok, timeout, error, skipped (not mounted)
    probe_errno: int = None
    probe_error: str = ""
    pid: int = None  # the rclone `serve` exec'd, from its record
    process: str = None  # running, stopped, zombie, gone, other (not rclone); None: no record


@dataclass(frozen=True)
class Problem:
    kind: str  # HUNG, DEAD or MISSING
    summary: str


def assess(facts, timeout):
    """The mount's problem (a Problem), or None when it is healthy."""
    point = facts.mount_point
    stopped = f"rclone (PID {facts.pid}) is stopped (state T)"
    if facts.probe == "timeout":
        return Problem(HUNG, f"{point} hangs: a stat did not return within {timeout:g} s"
                             + (f"; {stopped}" if facts.process == "stopped" else ""))
    if facts.process == "stopped":
        return Problem(HUNG, f"{stopped}: every access to {point} waits for it")
    if facts.process in ("gone", "zombie", "other"):
        what = {"gone": "is gone", "zombie": "has exited (zombie)",
                "other": "is no longer rclone"}[facts.process]
        return Problem(DEAD, f"the rclone process of the mount (PID {facts.pid}) {what}")
    if facts.mounted and facts.probe == "error":
        if facts.probe_errno == errno.ENOTCONN:
            return Problem(DEAD, f"{point}: transport endpoint is not connected (rclone died)")
        return Problem(DEAD, f"{point}: {facts.probe_error or 'stat failed'}")
    if not facts.mounted:
        return Problem(MISSING, f"nothing is mounted at {point}")
    return None


def within(times, now, window):
    """The times (epoch seconds) that lie within `window` seconds before `now`."""
    return [t for t in times if now - window <= t <= now]


def ordinal(number):
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10,
                                                                                   "th")
    return f"{number}{suffix}"


def healthy_finding(point, fstype, recent, window_text):
    summary = f"{point} is mounted ({fstype or 'fuse'}) and answers"
    if recent:
        summary += f"; {len(recent)} restarts by this check within {window_text}"
    return Finding(TOOL, "mount", point, Severity.OK, summary, value=len(recent))


def repair_finding(point, problem, outcome, recent, critical_at, window_text):
    """The finding after a repair: `outcome` is None when the mount works again, else why not
    (a failed restart, a mount still unhealthy); `recent` holds this restart too."""
    count = len(recent)
    counted = f"{ordinal(count)} restart within {window_text}"
    if outcome is None:
        severity = Severity.CRITICAL if count >= critical_at else Severity.WARNING
        summary = f"{problem.summary}: restarted the mount, it works again ({counted})"
        if severity is Severity.CRITICAL:
            summary += f": it keeps failing ({critical_at} restarts make this critical)"
    else:
        severity = Severity.CRITICAL
        summary = f"{problem.summary}: the restart did not bring it back: {outcome} ({counted})"
    return Finding(TOOL, "mount", point, severity, summary, value=count, threshold=critical_at)


def dry_run_finding(point, problem):
    return Finding(TOOL, "mount", point, Severity.WARNING,
                   f"{problem.summary}: dry run: would {remedy(problem)}")


def remedy(problem):
    if problem.kind == HUNG:
        return "kill rclone, unmount lazily and restart the mount"
    return "restart the mount"


def not_set_up_finding(point, why):
    return Finding(TOOL, "mount", point, Severity.OK,
                   f"the Drive mount is not set up ({why}): nothing to check "
                   "(ts-gdrive-mount setup)")


def cache_finding(cache_dir, limit, floor):
    """The cache limit the running mount was given, against the floor."""
    from trainserver.core.units import format_size

    if limit is None:
        return None
    if limit < floor:
        return Finding(TOOL, "cache-size", cache_dir, Severity.WARNING,
                       f"the storage is too full for a Drive cache: the mount was given "
                       f"{format_size(limit)} (below {format_size(floor)}; "
                       "ts-gdrive-mount cache-size shows why)", value=limit, threshold=floor)
    return Finding(TOOL, "cache-size", cache_dir, Severity.OK,
                   f"cache limit {format_size(limit)}", value=limit, threshold=floor)
