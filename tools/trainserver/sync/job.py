"""The system side of ts-sync: preflight, the daily run, the migration and its check."""

import json
import logging
import os
import sys
import tempfile
import time

from trainserver.core import commands, rclone, secrets
from trainserver.core.errors import ActionError
from trainserver.sync import estimate, jsonlog, plan, report, runner

log = logging.getLogger(__name__)

SIZE_TIMEOUT = 24 * 3600     # listing tens of terabytes of objects takes a while
CHECK_TIMEOUT = 7 * 24 * 3600
PROGRESS_EVERY = 10.0        # seconds between progress lines in a journal
CHECK_FINDINGS = 1000


def preflight(settings):
    """Refuse early, with the fix, what would make rclone fail obscurely."""
    problems = plan.validate(settings)
    if problems:
        raise ActionError("; ".join(problems))
    secrets.check_file(settings.rclone_config)  # missing, empty or readable by others


def utc_stamp(now):
    return time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime(now))


def run(settings, now, dry_run=False):
    """The daily run; a runner.Outcome."""
    stamp = utc_stamp(now)

    def build(rate, control):
        return plan.run_argv(settings, rate, stamp, dry_run=dry_run, control=control)

    return runner.run(build, settings, "sync", dry_run=dry_run)


def size(settings, path):
    """Bytes under an rclone path (0 when it does not exist yet)."""
    result = commands.run(plan.size_argv(path), changes=False, timeout=SIZE_TIMEOUT,
                          ok_codes=None, env=rclone.environment(settings.rclone_config))
    if result.returncode != 0:
        if "directory not found" in result.stderr:
            return 0
        errors = jsonlog.parse(result.stderr).error_lines(3) or [result.stderr.strip()]
        raise ActionError(f"rclone size {path} failed (exit {result.returncode}): "
                          f"{'; '.join(errors)}")
    try:
        return int(json.loads(result.stdout)["bytes"])
    except (ValueError, KeyError, TypeError):
        raise ActionError(f"rclone size {path}: unexpected output {result.stdout[:200]!r}") \
            from None


def own_rate(settings):
    """ts-sync's rate when it has the uplink to itself."""
    return min(settings.bandwidth, settings.upload_limit)


class Progress:
    """Progress of a migration for an admin: one line rewritten in place on a terminal, a
    line at most every PROGRESS_EVERY seconds otherwise (a journal)."""

    def __init__(self, settings, total, before, stream=None, clock=time.monotonic):
        self.settings = settings
        self.total = total
        self.before = before
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.clock = clock
        self.last = None

    def line(self, stats, rate):
        from trainserver.core.units import format_size

        done = min(self.total, self.before + int(stats.get("bytes") or 0)) if self.total else (
            self.before + int(stats.get("bytes") or 0))
        left = max(0, self.total - done)
        seconds = estimate.time_left(left, rate or own_rate(self.settings),
                                     self.settings.daily_upload_cap)
        percent = f" ({100.0 * done / self.total:.1f}%)" if self.total else ""
        return (f"{format_size(done, binary=False)} of "
                f"{format_size(self.total, binary=False)}{percent} at the destination, "
                f"{format_size(float(stats.get('speed') or 0), binary=False)}/s now, "
                f"{stats.get('transfers', 0)} files this run, "
                f"about {_span(seconds)} left")

    def __call__(self, record, rate):
        stats = record.get("stats")
        if not isinstance(stats, dict):
            return
        now = self.clock()
        if not self.tty and self.last is not None and now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        text = self.line(stats, rate)
        if self.tty:
            self.stream.write("\r" + text.ljust(110))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def end(self):
        if self.tty and self.last is not None:
            self.stream.write("\n")
            self.stream.flush()


def _span(seconds):
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 60:.0f} min"


def migrate(settings, source, destination, dry_run=False, stream=None):
    """The migration's copy: (outcome, estimate lines). Sizes first, for the progress and
    the estimate; then `rclone copy`, which skips what an earlier run copied."""
    stream = stream or sys.stderr
    total = size(settings, source)
    before = size(settings, destination)
    left = max(0, total - before)
    found = estimate.estimate(left, own_rate(settings), settings.daily_upload_cap)
    lines = [f"source {source}: {total / 1e12:.3f} TB; destination {destination}: "
             f"{before / 1e12:.3f} TB already"] + estimate.describe(found)
    verdict = estimate.manual_verdict(estimate.estimate(total, own_rate(settings),
                                                        settings.daily_upload_cap))
    if verdict:
        lines.append(verdict)
    for line in lines:
        stream.write(line + "\n")
    progress = Progress(settings, total, before, stream)

    def build(rate_now, control):
        return plan.migrate_argv(source, destination, rate_now, dry_run=dry_run,
                                 control=control)

    try:
        outcome = runner.run(build, settings, "sync-migrate", dry_run=dry_run,
                             on_record=None if dry_run else progress)
    finally:
        progress.end()
    return outcome, lines


def check(settings, source, destination, keep=None):
    """`rclone check --one-way`: (mismatches, hash used, returncode, errors). `keep`: where to
    keep the combined list of mismatches (every one of them), or None."""
    with tempfile.TemporaryDirectory(prefix="ts-sync-check-") as scratch:
        combined = os.path.join(scratch, "combined.txt")
        result = commands.run(plan.check_argv(source, destination, combined), changes=False,
                              timeout=CHECK_TIMEOUT, ok_codes=None,
                              env=rclone.environment(settings.rclone_config))
        parsed = jsonlog.parse(result.stderr)
        mismatches = []
        if os.path.exists(combined):
            with open(combined, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    mismatches += jsonlog.parse_combined(line.rstrip("\n"))
        if keep is not None and mismatches:
            from trainserver.core.state import atomic_write

            atomic_write(keep, "".join(f"{kind} {path}\n" for kind, path in mismatches),
                         mode=0o600)
    return mismatches, parsed.hash, result.returncode, parsed.error_lines(10)


def check_findings(settings, source, destination, keep):
    mismatches, hash_used, returncode, errors = check(settings, source, destination, keep)
    log.info("rclone check compared %s", "sizes only (no common hash)" if hash_used == "size"
             else f"{hash_used} checksums" if hash_used else "(hash not reported)")
    return report.check_findings(mismatches, source, destination, hash_used, returncode,
                                 errors, limit=CHECK_FINDINGS,
                                 full_list=keep if mismatches else None)
