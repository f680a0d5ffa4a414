"""backups: a recent BTRFS snapshot (ts-snapshot), and a recent restic success (ts-backup)."""

import os
import time

from trainserver.doctor.areas.storage import not_configured as storage_not_configured
from trainserver.doctor.results import FAIL, PASS, SKIP, Result
from trainserver.doctor.runner import Probe

AREA = "backups"
# snapshots/<subvolume path>/<time>: series are at most a few directories deep (homes/alice,
# homes/alice/project for a nested subvolume); deeper is not ours.
MAX_DEPTH = 8


def newest_snapshot(directory, depth=MAX_DEPTH):
    """(path, aware UTC datetime) of the newest entry named in ts-snapshot's scheme under
    `directory`, or None. Named entries are not descended into: they are snapshots, whose
    contents are a whole home."""
    from trainserver.snapshot import naming

    best = None
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return None
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        moment = naming.parse_name(entry.name)
        if moment is not None:
            candidate = (entry.path, moment)
        elif depth > 1:
            candidate = newest_snapshot(entry.path, depth - 1)
        else:
            candidate = None
        if candidate and (best is None or candidate[1] > best[1]):
            best = candidate
    return best


def age_verdict(age, limit):
    from trainserver.core.jobs import age_text

    if age <= limit:
        return True, f"{age_text(age)} old (limit {age_text(limit)})"
    return False, f"{age_text(age)} old, older than {age_text(limit)}"


def snapshot(ctx, now=None):
    why = storage_not_configured(ctx.config)
    if why:
        return Result(AREA, "snapshot", SKIP, why)
    if not ctx.config["snapshot"]["subvolumes"]:
        return Result(AREA, "snapshot", SKIP, "no snapshots configured ([snapshot] subvolumes "
                      "is empty)")
    directory = os.path.join(ctx.config["paths"]["storage"],
                             ctx.config["snapshot"]["snapshot_dir"])
    found = newest_snapshot(directory)
    if found is None:
        return Result(AREA, "snapshot", FAIL, f"no snapshot under {directory}")
    path, moment = found
    now = time.time() if now is None else now
    ok, reason = age_verdict(now - moment.timestamp(), ctx.config["doctor"]["snapshot_max_age"])
    return Result(AREA, "snapshot", PASS if ok else FAIL, f"newest {path}: {reason}")


def restic(ctx, now=None):
    from trainserver.core import jobs

    if not ctx.config["backup"]["repository"]:
        return Result(AREA, "restic", SKIP, "backup not configured ([backup] repository is "
                      "empty)")
    why = storage_not_configured(ctx.config)
    if why:
        return Result(AREA, "restic", SKIP, why)
    state_dir = ctx.config["paths"]["state_dir"]
    try:
        record = jobs.load(state_dir, "backup")
    except OSError as exc:
        return Result(AREA, "restic", FAIL, f"cannot read the record of ts-backup runs in "
                      f"{state_dir}/jobs: {exc.strerror or exc}")
    success = record.get("last_success") if isinstance(record.get("last_success"), dict) else None
    last = record.get("last_run") if isinstance(record.get("last_run"), dict) else {}
    failed = "" if not last or last.get("ok") else \
        f"; the last run failed with exit status {last.get('status')}"
    ended = None
    if success:
        ended = success.get("finished") or success.get("time")
    if not isinstance(ended, (int, float)):
        return Result(AREA, "restic", FAIL, f"no successful ts-backup run on record{failed}")
    now = time.time() if now is None else now
    ok, reason = age_verdict(now - ended, ctx.config["doctor"]["backup_max_age"])
    return Result(AREA, "restic", PASS if ok else FAIL, f"last success {reason}{failed}")


def probes(config):
    return [
        Probe(AREA, "snapshot", snapshot, "ts-snapshot list"),
        Probe(AREA, "restic", restic, "ts-backup status"),
    ]
