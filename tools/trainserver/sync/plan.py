"""What ts-sync asks rclone to do, from the config. Pure: no program is run here.

Every copying run carries the same flags: JSON log lines with stats at NOTICE (rclone 1.60
prints no stats in JSON otherwise), --drive-stop-on-upload-limit (Drive's daily upload cap is
a fatal error then, not hours of retries) and an upload-only --bwlimit.
"""

import posixpath
from dataclasses import dataclass

from trainserver.core import rclone

# Stats every 30 s in the daily run's journal; every 5 s while an admin watches a migration
# (its progress line is printed at most every PROGRESS_EVERY seconds when not on a terminal).
RUN_STATS = "30s"
MIGRATE_STATS = "5s"


class PlanError(ValueError):
    """The [sync] settings cannot work; the message says which key and why."""


@dataclass(frozen=True)
class Settings:
    source: str
    destination: str
    mode: str
    backup_dir: str
    max_delete: int
    bandwidth: float          # bytes per second, ts-sync's own cap
    upload_limit: float       # bytes per second, [network]: all uploads together
    daily_upload_cap: float   # bytes per day
    healthcheck_url: str
    rclone_config: str
    lock_dir: str

    @classmethod
    def from_config(cls, config):
        table = config["sync"]
        return cls(source=table["source"], destination=table["destination"],
                   mode=table["mode"], backup_dir=table["backup_dir"],
                   max_delete=int(table["max_delete"]), bandwidth=float(table["bandwidth"]),
                   upload_limit=float(config["network"]["upload_limit"]),
                   daily_upload_cap=float(table["daily_upload_cap"]),
                   healthcheck_url=table["healthcheck_url"],
                   rclone_config=config["gdrive"]["rclone_config"],
                   lock_dir=config["paths"]["lock_dir"])


def split_remote(path):
    """("remote", "path") of an rclone path; ("", path) for a local one. The remote part keeps
    any connection-string parameters ("gdrive,shared_drive=X"), which rclone compares too."""
    head, colon, tail = path.partition(":")
    if colon and "/" not in head:
        return head, tail
    return "", path


def _parts(path):
    normal = posixpath.normpath("/" + path.strip("/"))
    return [part for part in normal.split("/") if part]


def overlaps(first, second):
    """True when one path is the other or lies inside it (rclone's Overlapping)."""
    a, b = _parts(first), _parts(second)
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def validate(settings):
    """Problems of the [sync] table that would make rclone fail obscurely, or lose data.

    rclone refuses a --backup-dir on another remote than the destination ("has to be on the
    same remote as destination") or overlapping it ("destination and parameter to
    --backup-dir mustn't overlap"); said here with the keys to change."""
    problems = []
    if not settings.destination:
        problems.append("[sync] destination is empty: name the Drive folder to copy to")
    if settings.source and settings.destination:
        src_remote, src_path = split_remote(settings.source)
        dst_remote, dst_path = split_remote(settings.destination)
        if src_remote == dst_remote and overlaps(src_path, dst_path):
            problems.append(f"[sync] source {settings.source!r} and destination "
                            f"{settings.destination!r} overlap")
    if settings.mode == "mirror":
        problems += _backup_dir_problems(settings)
    return problems


def _backup_dir_problems(settings):
    if not settings.backup_dir:
        return ["[sync] backup_dir is empty: mirror mode moves deleted and overwritten files "
                "there, and will not run without it"]
    dst_remote, dst_path = split_remote(settings.destination)
    bak_remote, bak_path = split_remote(settings.backup_dir)
    if bak_remote != dst_remote:
        return [f"[sync] backup_dir {settings.backup_dir!r} must be on the destination's "
                f"remote {dst_remote + ':' if dst_remote else '(local)'} (rclone moves files "
                f"into it on the server side)"]
    if overlaps(dst_path, bak_path):
        return [f"[sync] backup_dir {settings.backup_dir!r} overlaps the destination "
                f"{settings.destination!r}: put it beside the destination, not inside it"]
    return []


def backup_path(backup_dir, stamp):
    """This run's dated folder under backup_dir ("gdrive:ingest-deleted/2026-12-06T040000Z")."""
    return f"{backup_dir.rstrip('/')}/{stamp}"


def common_flags(bwlimit, stats=RUN_STATS):
    return ["--use-json-log", "--stats", stats, "--stats-log-level", "NOTICE",
            "--drive-stop-on-upload-limit", "--bwlimit", bwlimit]


def run_argv(settings, rate, stamp, dry_run=False, control=()):
    """The daily run: `rclone copy` (never deletes), or in mirror mode `rclone sync` with this
    run's dated --backup-dir and the --max-delete guard. `rate`: bytes per second now."""
    if settings.mode == "mirror":
        argv = ["rclone", "sync", settings.source, settings.destination,
                "--backup-dir", backup_path(settings.backup_dir, stamp),
                "--max-delete", str(settings.max_delete)]
    else:
        argv = ["rclone", "copy", settings.source, settings.destination]
    argv += common_flags(rclone.upload_limit(rate)) + list(control)
    return argv + (["--dry-run"] if dry_run else [])


def migrate_argv(source, destination, rate, dry_run=False, control=()):
    """The migration: `rclone copy`, idempotent, so a re-run skips what has arrived."""
    argv = ["rclone", "copy", source, destination]
    argv += common_flags(rclone.upload_limit(rate), stats=MIGRATE_STATS) + list(control)
    return argv + (["--dry-run"] if dry_run else [])


def check_argv(source, destination, combined):
    """`rclone check --one-way`: every source file must be at the destination, equal by a hash
    both sides have (rclone picks it and logs "Using md5 for hash comparisons" at -v), or by
    size when they share none ("No common hash found"). --combined writes one line per file."""
    return ["rclone", "check", source, destination, "--one-way", "--combined", combined,
            "--use-json-log", "-v"]


def size_argv(path):
    return ["rclone", "size", "--json", path]
