"""create, prune and the free-space guard, on the configured storage; each returns findings."""

import datetime as dt
import logging
import os

from trainserver.core.findings import Finding, Severity
from trainserver.snapshot import btrfs, inventory, naming, plan as plan_module, policy, sources

log = logging.getLogger(__name__)

TOOL = "snapshot"
UTC = dt.timezone.utc


class Settings:
    """The [snapshot] table resolved against [paths] storage."""

    def __init__(self, config):
        table = config["snapshot"]
        self.storage = config["paths"]["storage"]
        self.snapshot_dir = table["snapshot_dir"].strip("/")
        self.snapshot_root = os.path.join(self.storage, self.snapshot_dir)
        self.patterns = list(table["subvolumes"])
        self.policy = policy.from_config(table)
        self.min_free = int(table["min_free"])  # bytes: the loader parsed the size
        self.lock_wait = float(table["lock_wait"])  # seconds


def storage_problem(settings):
    """A finding when storage is not a mounted BTRFS filesystem, else None."""
    if btrfs.is_btrfs(settings.storage) and btrfs.is_subvolume(settings.storage):
        return None
    return Finding(TOOL, "storage", settings.storage, Severity.UNKNOWN,
                   f"{settings.storage} is not a mounted BTRFS filesystem (is ts-storage set up, "
                   f"and the filesystem mounted?): nothing done")


def create(settings, now=None):
    """Snapshot every selected subvolume read-only, named by `now` (UTC)."""
    now = now or dt.datetime.now(UTC)
    name = naming.name_for(now)
    selection = sources.select(settings.storage, settings.patterns, settings.snapshot_dir)
    findings = [Finding(TOOL, "create", rel, Severity.WARNING, f"{rel} {why}")
                for rel, why in selection.skipped]
    for rel in selection.subvolumes:
        destination = os.path.join(settings.snapshot_root, rel, name)
        findings.append(_create_one(os.path.join(settings.storage, rel), destination, rel, name))
    if not selection.subvolumes and not selection.skipped:
        findings.append(Finding(TOOL, "create", settings.storage, Severity.WARNING,
                                "no subvolume matches [snapshot] subvolumes: nothing to snapshot",
                                value=settings.patterns))
    return findings


def _create_one(source, destination, rel, name):
    if os.path.lexists(destination):
        # A second run in the same second (a timer and an admin, say) finds the snapshot made.
        if btrfs.is_subvolume(destination) and btrfs.read_only(destination):
            return Finding(TOOL, "create", rel, Severity.OK, f"snapshot {name} already exists")
        return Finding(TOOL, "create", rel, Severity.CRITICAL,
                       f"{destination} exists and is not a read-only snapshot: not snapshotted")
    try:
        btrfs.create_snapshot(source, destination)
    except btrfs.BtrfsError as exc:
        log.error("%s", exc)
        return Finding(TOOL, "create", rel, Severity.CRITICAL, f"snapshot failed: {exc}")
    if _dry_run():
        return Finding(TOOL, "create", rel, Severity.OK, f"would create snapshot {name}")
    log.info("created %s", destination)
    return Finding(TOOL, "create", rel, Severity.OK, f"snapshot {name} created")


def make_plan(settings, now):
    return plan_module.make(inventory.scan(settings.snapshot_root), settings.policy, now)


def prune(settings, now=None, guard=True):
    """Delete what the plan says, commit once, then apply the free-space guard."""
    now = now or dt.datetime.now(UTC)
    plan = make_plan(settings, now)
    findings = []
    failed = set()
    deleted = 0
    for entry in plan.deletions():
        try:
            btrfs.delete_snapshot(entry.snapshot.path)
            deleted += 1
        except btrfs.BtrfsError as exc:
            log.error("%s", exc)
            failed.add(entry.snapshot.series)
            findings.append(Finding(TOOL, "prune", entry.snapshot.series, Severity.CRITICAL,
                                    f"could not delete {entry.snapshot.name}: {exc}"))
    if deleted and not btrfs.reclaim(settings.storage):
        # Space back when prune returns (btrfs.reclaim), so the guard and df see it.
        log.warning("the BTRFS cleaner is still busy; more space will come back shortly")
    verb = "would delete" if _dry_run() else "deleted"
    for series, entries in plan.series.items():
        gone = sum(not entry.keep for entry in entries)
        if series not in failed:
            findings.append(Finding(TOOL, "prune", series, Severity.OK,
                                    f"kept {len(entries) - gone}, {verb} {gone}",
                                    value=len(entries) - gone))
    for item in plan.foreign:
        log.warning("left alone: %s: %s", item.path, item.why)
        findings.append(Finding(TOOL, "foreign", os.path.relpath(item.path, settings.storage),
                                Severity.OK, f"not ts-snapshot's, left alone: {item.why}"))
    if guard:
        findings.append(free_space_guard(settings, now))
    return findings


def _dry_run():
    from trainserver.core import commands

    return commands.settings.dry_run


def free_space_guard(settings, now):
    """Below [snapshot] min_free, delete the oldest unprotected snapshots until above it."""
    from trainserver.core.units import format_size

    floor = settings.min_free
    free = btrfs.free_bytes(settings.storage)
    subject = settings.storage
    if floor == 0:
        return Finding(TOOL, "free-space", subject, Severity.OK,
                       "free-space guard off (min_free 0)",
                       value=free)
    if free >= floor:
        return Finding(TOOL, "free-space", subject, Severity.OK,
                       f"{format_size(free)} free, floor {format_size(floor)}",
                       value=free, threshold=floor)
    order = plan_module.guard_order(make_plan(settings, now))
    if _dry_run():
        return Finding(TOOL, "free-space", subject, Severity.WARNING,
                       f"{format_size(free)} free, below the floor {format_size(floor)}: would "
                       f"delete up to {len(order)} kept snapshots, oldest first",
                       value=free, threshold=floor)
    deleted, failed = [], []
    for entry in order:
        if free >= floor:
            break
        # One at a time, each reclaimed before free space is measured again: every snapshot
        # deleted here was meant to be kept, so not one more goes than the floor needs.
        try:
            btrfs.delete_snapshot(entry.snapshot.path)
        except btrfs.BtrfsError as exc:
            log.error("%s", exc)
            failed.append(entry.snapshot)
            continue
        deleted.append(entry.snapshot)
        log.warning("free-space guard deleted %s/%s", entry.snapshot.series, entry.snapshot.name)
        btrfs.reclaim(settings.storage)
        free = btrfs.free_bytes(settings.storage)
    oldest = f" (oldest {deleted[0].series}/{deleted[0].name})" if deleted else ""
    still = "; still below it: only protected snapshots are left" if free < floor else ""
    errors = f"; {len(failed)} could not be deleted (see the log)" if failed else ""
    return Finding(TOOL, "free-space", subject, Severity.CRITICAL if failed else Severity.WARNING,
                   f"free space was below the floor {format_size(floor)}: deleted {len(deleted)} "
                   f"kept snapshots, oldest first{oldest}; now {format_size(free)} free"
                   f"{still}{errors}", value=free, threshold=floor)


def metrics(settings, plan):
    from trainserver.core.metrics import Metric

    count = Metric("trainserver_snapshot_count", "Snapshots kept per subvolume.")
    newest = Metric("trainserver_snapshot_newest_timestamp_seconds",
                    "Time of the newest snapshot per subvolume (UNIX time).")
    for series, entries in plan.series.items():
        count.add(sum(entry.keep for entry in entries), subvolume=series)
        if entries:
            newest.add(entries[-1].snapshot.time.timestamp(), subvolume=series)
    free = Metric("trainserver_snapshot_free_bytes", "Free space on the snapshot filesystem.")
    free.add(btrfs.free_bytes(settings.storage))
    return [count, newest, free]
