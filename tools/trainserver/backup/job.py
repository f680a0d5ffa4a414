"""The system side of ts-backup: restic runs, the snapshot set, the repository's snapshots.

Every restic call goes through core.commands (argument lists, timeouts, secrets masked,
--dry-run honoured) with the environment restic needs under systemd: rclone's config file and
an explicit cache directory (a unit has no HOME).
"""

import logging
import os
import sys
import time
from dataclasses import dataclass

from trainserver.backup import pause, report, restic, snapset
from trainserver.core import commands, secrets, uplink
from trainserver.core.errors import ActionError, CommandError
from trainserver.snapshot.btrfs import BtrfsError

log = logging.getLogger(__name__)

BACKUP_TIMEOUT = 20 * 3600  # a first upload of terabytes at 100 Mbit/s takes days: resumable
FORGET_TIMEOUT = 3600
PRUNE_TIMEOUT = 12 * 3600
QUICK_TIMEOUT = 600
RCLONE_PROBE_TIMEOUT = 120
LOG_LINES = 40


@dataclass
class Settings:
    storage: str
    repository: str
    password_file: str
    bandwidth: float          # bytes per second
    keep_daily: int
    keep_weekly: int
    healthcheck_url: str
    patterns: list
    host: str
    tag: str
    snapshot_dir: str
    rclone_config: str
    cache_dir: str
    containers: list
    pause_timeout: float      # seconds
    prune_max_unused: str = "5%"
    verify_subsets: int = 12
    verify_sample_bytes: int = 2**30
    verify_sample_dirs: int = 20
    lock_wait: float = 0.0    # seconds run, verify and prune wait for one another
    upload_limit: float = 0.0  # [network] upload_limit, bytes per second (0: only bandwidth)
    lock_dir: str = ""        # where the uplink claims live ([paths] lock_dir)

    @classmethod
    def from_config(cls, config):
        table = config["backup"]
        return cls(storage=config["paths"]["storage"], repository=table["repository"],
                   password_file=table["password_file"], bandwidth=table["bandwidth"],
                   keep_daily=table["keep_daily"], keep_weekly=table["keep_weekly"],
                   healthcheck_url=table["healthcheck_url"], patterns=list(table["subvolumes"]),
                   host=table["host"], tag=table["tag"], snapshot_dir=table["snapshot_dir"],
                   rclone_config=table["rclone_config"], cache_dir=table["cache_dir"],
                   containers=list(table["containers"]),
                   pause_timeout=float(table["pause_timeout"]),
                   prune_max_unused=table["prune_max_unused"],
                   verify_subsets=table["verify_subsets"],
                   verify_sample_bytes=int(table["verify_sample_bytes"]),
                   verify_sample_dirs=table["verify_sample_dirs"],
                   lock_wait=float(table["lock_wait"]),
                   upload_limit=float(config["network"]["upload_limit"]),
                   lock_dir=config["paths"]["lock_dir"])


def environment(settings):
    # TMPDIR: restic check's temporary cache goes there, and a killed check leaves it behind.
    return {"RCLONE_CONFIG": settings.rclone_config, "RESTIC_CACHE_DIR": settings.cache_dir,
            "TMPDIR": settings.cache_dir}


def preflight(settings):
    """Refuse early, with the fix, what would make restic fail obscurely."""
    # SecretError: missing, too open, or empty (restic trims the file as read() does; an empty
    # password would fail only after the snapshots were taken and the start was pinged).
    secrets.read(settings.password_file)
    if settings.repository.startswith("rclone:") and not os.path.isfile(settings.rclone_config):
        raise ActionError(f"{settings.rclone_config} does not exist: the repository "
                          f"{settings.repository} is an rclone remote; create the remote with "
                          f"`rclone config --config {settings.rclone_config}`")
    os.makedirs(settings.cache_dir, mode=0o700, exist_ok=True)


def version():
    result = commands.run(["restic", "version"], changes=False, timeout=60)
    return restic.parse_version(result.stdout)


def features(found_version):
    """(RESTIC_FEATURES for the backup, problem or None). "" when this restic has no flag to
    set or predates `restic features` (0.14 would fail on the command).

    A list that cannot be read is a problem to report, not a reason to skip the backup: the
    flags only make the backup smaller."""
    if not restic.at_least(found_version, restic.FEATURES_SINCE):
        return "", None
    try:
        result = commands.run(["restic", "features"], changes=False, timeout=60, ok_codes=None)
        if result.returncode != 0:
            raise restic.ParseError(f"exit {result.returncode}: {restic.error_line(result.stderr)}")
        return restic.wanted_features(restic.parse_features(result.stdout)), None
    except (CommandError, restic.ParseError) as exc:
        return "", (f"`restic features` could not be read ({exc}); backed up without "
                    f"{restic.STABLE_DEVICE_IDS}, storing every directory again")


def base(settings, found_version):
    return restic.base_argv(settings.repository, found_version, settings.password_file,
                            settings.cache_dir)


def with_rclone_cause(settings, summary):
    """`summary` of a failure through restic's rclone backend, with rclone's own reason.

    restic stops its rclone when it gives up, and now and then that is before rclone wrote
    why (no network, wrong credentials): restic then says only "error talking HTTP to
    rclone: context canceled". One listing of the remote by rclone itself gets the reason."""
    if not settings.repository.startswith("rclone:") or "(rclone:" in summary or \
            "rclone" not in summary.replace(settings.repository, ""):
        return summary
    remote = settings.repository[len("rclone:"):]
    try:
        # One attempt: the reason is the same on every retry, and rclone's ten low-level
        # retries of a refused connection alone take 11 s.
        probe = commands.run(["rclone", "lsf", "--max-depth", "1", "--low-level-retries", "1",
                              "--retries", "1", remote], changes=False,
                             timeout=RCLONE_PROBE_TIMEOUT, ok_codes=None,
                             env={"RCLONE_CONFIG": settings.rclone_config})
    except CommandError as exc:
        log.warning("rclone could not be asked why the repository failed: %s", exc)
        return summary
    reason = restic.rclone_reason(probe.stderr) if probe.returncode else ""
    return f"{summary} (rclone: {reason})" if reason else summary


def restic_run(argv, settings, changes, timeout=QUICK_TIMEOUT, feature_flags=""):
    env = environment(settings)
    if feature_flags:
        env["RESTIC_FEATURES"] = feature_flags
    return commands.run(argv, changes=changes, timeout=timeout, ok_codes=None, env=env)


def repository_exists(settings, argv_base):
    """True, False (restic says there is no repository there), or raises ActionError."""
    result = restic_run(argv_base + ["cat", "config"], settings, changes=False)
    if result.returncode == 0:
        return True
    cause = restic.error_line(result.stderr)
    if "unable to open config file" in result.stderr or "does not exist" in result.stderr:
        return False
    raise ActionError(f"cannot read the repository {settings.repository} "
                      f"(exit {result.returncode}): {cause}")


def init(settings):
    """Create the repository when it is missing; returns what happened, in words."""
    preflight(settings)
    argv_base = base(settings, version())
    if repository_exists(settings, argv_base):
        return f"the repository {settings.repository} exists already: nothing to do"
    result = restic_run(argv_base + ["init"], settings, changes=True)
    if result.dry_run:
        return f"dry run: would create the repository {settings.repository}"
    if result.returncode != 0:
        raise ActionError(f"restic init failed (exit {result.returncode}): "
                          f"{restic.error_line(result.stderr)}")
    return f"created the repository {settings.repository}"


def snapshots(settings):
    preflight(settings)
    argv = restic.snapshots_argv(base(settings, version()), host=settings.host, tag=settings.tag)
    result = restic_run(argv, settings, changes=False)
    if result.returncode != 0:
        raise ActionError(f"restic snapshots failed (exit {result.returncode}): "
                          f"{restic.error_line(result.stderr)}")
    return restic.parse_snapshots(result.stdout)


def _selection(settings):
    from trainserver.snapshot import sources

    return sources.select(settings.storage, settings.patterns, settings.snapshot_dir)


def unlock(settings, argv_base):
    """Remove stale locks only (dead process on this host, or older than 30 minutes), before
    exclusive work. Never --remove-all: it also removes a live run's lock, and that run does
    not notice (docs/measured.md)."""
    restic_run(argv_base + ["unlock"], settings, changes=True)


def _forget_finding(settings, stdout):
    from trainserver.core.findings import Finding, Severity

    groups = restic.parse_forget(stdout)
    removed = sum(len(g["remove"]) for g in groups)
    kept = sum(len(g["keep"]) for g in groups)
    return Finding(report.TOOL, "forget", settings.repository, Severity.OK,
                   f"kept {kept} snapshots, forgot {removed} (keep daily {settings.keep_daily}, "
                   f"weekly {settings.keep_weekly})", value=removed), removed


def _freed(stdout):
    return [line.strip() for line in (stdout or "").splitlines()
            if line.strip().startswith(("total prune", "remaining:", "unused size after"))]


def _retention(settings, argv_base):
    """restic forget --prune: [findings]. restic prunes only when the forget removed a
    snapshot (0.14 and 0.18); a week that forgot none still gets a prune of its own, which
    frees what killed backups uploaded (their packs are in no index, docs/measured.md)."""
    from trainserver.core.findings import Finding, Severity

    subject = settings.repository
    argv = restic.forget_argv(argv_base, settings.host, settings.tag, settings.keep_daily,
                              settings.keep_weekly, prune=True,
                              max_unused=settings.prune_max_unused)
    result = restic_run(argv, settings, changes=True, timeout=PRUNE_TIMEOUT)
    if result.dry_run:
        return [Finding(report.TOOL, "prune", subject, Severity.OK,
                        "dry run: forget --prune not run")]
    if result.returncode != 0:
        return [Finding(report.TOOL, "prune", subject, Severity.CRITICAL,
                        f"restic forget --prune failed (exit {result.returncode}): "
                        f"{restic.explained(result.stderr)}")]
    try:
        forgot, removed = _forget_finding(settings, result.stdout)
    except restic.ParseError as exc:
        return [Finding(report.TOOL, "prune", subject, Severity.CRITICAL,
                        f"restic forget --prune printed what ts-backup cannot read: {exc}")]
    freed = _freed(result.stdout)
    if not removed:
        result = restic_run(argv_base + ["prune", "--max-unused", settings.prune_max_unused],
                            settings, changes=True, timeout=PRUNE_TIMEOUT)
        if result.returncode != 0:
            return [forgot, Finding(report.TOOL, "prune", subject, Severity.CRITICAL,
                                    f"restic prune failed (exit {result.returncode}): "
                                    f"{restic.explained(result.stderr)}")]
        freed = _freed(result.stdout)
    return [forgot, Finding(report.TOOL, "prune", subject, Severity.OK,
                            "restic prune done" + (f": {'; '.join(freed)}" if freed else ""))]


def clean_check_caches(settings):
    # A killed check leaves its temporary cache behind in TMPDIR (docs/measured.md): ours is the
    # cache directory, and a leftover there is from a check of ours that died.
    import glob
    import shutil

    for leftover in glob.glob(os.path.join(settings.cache_dir, "restic-check-cache-*")):
        shutil.rmtree(leftover, ignore_errors=True)


def structure_check(settings, argv_base):
    """`restic check` without reading data: every pack the index names exists with the size
    the index gives, and the snapshots' trees are whole. Minutes, whatever the repository's
    size; a damaged pack is named. Returns a finding."""
    from trainserver.core.findings import Finding, Severity

    clean_check_caches(settings)
    # changes=True: it locks the repository exclusively (--dry-run shows it, runs nothing).
    result = restic_run(argv_base + ["check"], settings, changes=True, timeout=PRUNE_TIMEOUT)
    subject = settings.repository
    if result.dry_run:
        return Finding(report.TOOL, "structure", subject, Severity.OK, "dry run: check not run")
    if result.returncode == 0:
        return Finding(report.TOOL, "structure", subject, Severity.OK,
                       "restic check of the index and the packs' presence and sizes (no data "
                       "read): no errors")
    damaged = restic.damaged_packs(result.stderr + "\n" + result.stdout)
    what = (f"damaged: {restic.packs_text(damaged)}; " if damaged else "") + \
        (restic.explained(result.stderr) or "see the log")
    return Finding(report.TOOL, "structure", subject, Severity.CRITICAL,
                   f"restic check of the index and the packs found errors (exit "
                   f"{result.returncode}): {what}", value=len(damaged) or None)


def prune(settings):
    """The weekly job (ts-backup-prune.timer), the one that locks the repository exclusively:
    stale locks removed, `restic forget --prune` with the retention, then a `restic check` of
    the structure. Returns findings: forget, prune, structure."""
    preflight(settings)
    argv_base = base(settings, version())
    unlock(settings, argv_base)
    found = _retention(settings, argv_base)
    found.append(structure_check(settings, argv_base))
    return found


def _uplink(settings):
    """restic's claim on the shared uplink (core.uplink): fixed for the run, since restic's
    --limit-upload cannot change while it runs; ts-sync, adjustable, makes room."""
    limit = settings.upload_limit or settings.bandwidth
    return uplink.Uplink(settings.lock_dir or "/run/lock", "backup", limit, settings.bandwidth,
                         adjustable=False)


def _claim_share(claim, settings):
    """The rate restic gets now, claimed for the run: [backup] bandwidth, or an equal share of
    [network] upload_limit with the uploads running now (ts-sync gives way within seconds)."""
    rate, others = claim.current_share()
    if rate <= 0:
        # Only fixed claims of others could leave nothing, and only ts-backup makes one: a
        # claim file of another backup run, which the backup lock rules out. Never unlimited.
        rate = min(settings.bandwidth, 1024.0)
    try:
        claim.claim(rate)
    except OSError as exc:  # the limits still hold for restic; only ts-sync cannot see them
        log.warning("the uplink claim could not be written in %s (ts-sync will not make "
                    "room): %s", claim.lock_dir, exc)
    if others:
        log.info("the uplink is shared with %s: restic uploads at %.1f MB/s of %.1f MB/s",
                 uplink.describe(others), rate / 1e6, claim.limit / 1e6)
    return rate


def run(settings, now=None, lines=None):
    """One backup: snapshots, restic from them under the original paths, clean up.

    Returns a report.RunResult; restic's failures are in it, not raised. `lines` collects
    restic's last stderr lines for the heartbeat's log. The caller has run preflight().
    """
    now = time.time() if now is None else now
    lines = [] if lines is None else lines
    result = report.RunResult(started=now, repository=settings.repository,
                              storage=settings.storage)
    try:
        found_version = version()
        argv_base = base(settings, found_version)
        result.feature_flags, result.feature_problem = features(found_version)
    except (ActionError, CommandError, restic.ParseError) as exc:
        result.problem = str(exc)
        result.finished = time.time()
        return result
    selection = _selection(settings)
    result.skipped = list(selection.skipped)
    result.subvolumes = list(selection.subvolumes)
    if not selection.subvolumes:
        result.problem = (f"nothing to back up: no subvolume under {settings.storage} matches "
                          f"{', '.join(settings.patterns)}")
        result.finished = time.time()
        return result
    if commands.dry_run():
        originals = [os.path.join(settings.storage, rel) for rel in selection.subvolumes]
        commands.run(restic.backup_argv(argv_base, originals, settings.host, settings.tag,
                                        restic.limit_kib(settings.bandwidth)),
                     changes=True)
        result.backup = {"ok": True, "summary": "dry run: nothing backed up"}
        result.finished = time.time()
        return result
    window = time.monotonic()
    try:
        # Paused for the snapshots only (seconds); restic then reads the snapshots while the
        # containers run on.
        with pause.paused(settings.containers, settings.pause_timeout, result.pause):
            pending, taken = snapset.take(settings.storage, settings.snapshot_dir,
                                          selection.subvolumes, now)
        result.snapshot_seconds = time.monotonic() - window
    except pause.PauseError as exc:
        result.problem = str(exc)
    except (OSError, BtrfsError) as exc:
        result.problem = f"the snapshots could not be taken: {exc}"
    if result.problem:
        result.finished = time.time()
        return result
    claim = _uplink(settings)
    try:
        rate = _claim_share(claim, settings)
        argv = (["unshare", "--mount", "--propagation", "private", "--", sys.executable, "-m",
                 "trainserver.backup.bindrun"] + [f"{snap}={orig}" for snap, orig in taken] +
                ["--"] + restic.backup_argv(argv_base, [orig for _, orig in taken],
                                            settings.host, settings.tag,
                                            restic.limit_kib(rate)))
        done = restic_run(argv, settings, changes=True, timeout=BACKUP_TIMEOUT,
                          feature_flags=result.feature_flags)
        lines.extend(done.stderr.splitlines()[-LOG_LINES:])
        if done.returncode == 125 and "bindrun:" in done.stderr:
            result.problem = restic.error_line(done.stderr)
        else:
            parsed = restic.parse_backup(done.stdout, done.stderr)
            result.backup = restic.outcome(done.returncode, found_version, parsed, done.stderr)
            if not result.backup["ok"]:
                result.backup["summary"] = with_rclone_cause(settings,
                                                             result.backup["summary"])
            result.summary = parsed.get("summary")
    except CommandError as exc:
        result.problem = str(exc)
    finally:
        claim.release()
    try:
        if result.ok:
            result.kept_set = snapset.complete(pending)
            snapset.prune(settings.storage, settings.snapshot_dir, keep=result.kept_set)
        else:
            snapset.remove(pending)
    except (OSError, BtrfsError) as exc:
        # The backup's verdict stands; a set left behind is removed by the next good run.
        result.cleanup_problem = f"old snapshot sets not all deleted: {exc}"
    # No forget here: retention needs an exclusive lock and another key derivation, and the
    # policy (daily and weekly) gives the same kept set when applied weekly (prune()).
    result.finished = time.time()
    return result
