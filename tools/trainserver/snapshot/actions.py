"""create, prune and the free-space guard, on the configured storage; each returns findings."""

import datetime as dt
import logging
import os

from trainserver.core.findings import Finding, Severity
from trainserver.snapshot import (btrfs, guard as guard_module, inventory, naming,
                                  plan as plan_module, policy, record as record_module, sources,
                                  usage)
from trainserver.snapshot import TOOL

log = logging.getLogger(__name__)

UTC = dt.timezone.utc


class Settings:
    """The [snapshot] table resolved against [paths] storage."""

    def __init__(self, config):
        table = config["snapshot"]
        self.storage = config["paths"]["storage"]
        self.state_dir = config["paths"]["state_dir"]
        self.snapshot_dir = table["snapshot_dir"].strip("/")
        self.snapshot_root = os.path.join(self.storage, self.snapshot_dir)
        self.patterns = list(table["subvolumes"])
        self.policy = policy.from_config(table)
        self.min_free = int(table["min_free"])  # bytes: the loader parsed the size
        self.lock_wait = float(table["lock_wait"])  # seconds
        self.config = config


def storage_problem(settings):
    """A finding when storage is not a mounted BTRFS filesystem, else None (storage_finding)."""
    from trainserver.core.storage_setup import not_configured

    if btrfs.is_btrfs(settings.storage) and btrfs.is_subvolume(settings.storage):
        return None
    return storage_finding(settings.storage, not_configured(settings.config))


def storage_finding(storage, unconfigured):
    """The finding for a `storage` that is not a mounted BTRFS filesystem. `unconfigured`:
    why this machine does not use the storage at all (core.storage_setup), or None.

    Ok when it is not configured, so the hourly run does not nag a machine without it.
    Critical when it is configured but not there, as ts-storage check says: no snapshot is
    taken while it lasts, and the hourly snapshots are the first line of recovery."""
    if unconfigured:
        return Finding(TOOL, "storage", storage, Severity.OK,
                       f"{unconfigured}: no snapshots to take")
    return Finding(TOOL, "storage", storage, Severity.CRITICAL,
                   f"{storage} is not a mounted BTRFS filesystem (is ts-storage set up, and the "
                   f"filesystem mounted?): no snapshot taken")


def create(settings, now=None, adopting=True):
    """Snapshot every selected subvolume read-only, named by `now` (UTC), and record each."""
    now = now or dt.datetime.now(UTC)
    name = naming.name_for(now)
    findings = adopt(settings) if adopting else []
    selection = sources.select(settings.storage, settings.patterns, settings.snapshot_dir)
    findings += [Finding(TOOL, "create", rel, Severity.WARNING, f"{rel} {why}")
                 for rel, why in selection.skipped]
    record = record_module.load(settings.state_dir) or record_module.Record()
    planned = {}
    for rel in selection.subvolumes:
        destination = os.path.join(settings.snapshot_root, rel, name)
        if os.path.lexists(destination):
            continue
        try:
            planned[rel] = btrfs.identity(os.path.join(settings.storage, rel))[0]
        except btrfs.BtrfsError as exc:
            log.warning("%s", exc)  # the snapshot itself will fail and say why
    # Recorded as pending before creating: a crash between the two leaves no orphan.
    if planned and not _dry_run():
        record.pending.update({f"{rel}/{name}": uuid for rel, uuid in planned.items()})
        record_module.save(settings.state_dir, record)
    for rel in selection.subvolumes:
        destination = os.path.join(settings.snapshot_root, rel, name)
        findings.append(_create_one(os.path.join(settings.storage, rel), destination, rel, name))
        if rel in planned and not _dry_run():
            record.pending.pop(f"{rel}/{name}", None)
            try:
                record.made[btrfs.identity(destination)[0]] = f"{rel}/{name}"
            except btrfs.BtrfsError:
                pass  # not created: _create_one said so
    if planned and not _dry_run():
        record_module.save(settings.state_dir, record)
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


def live_sources(settings):
    """{series: uuid} of the configured subvolumes as they are now."""
    found = {}
    selection = sources.select(settings.storage, settings.patterns, settings.snapshot_dir)
    for rel in selection.subvolumes:
        try:
            found[rel] = btrfs.identity(os.path.join(settings.storage, rel))[0]
        except btrfs.BtrfsError as exc:
            log.warning("%s", exc)
    return found


def scan(settings, record=False):
    """The Inventory, judged by the record (`record` False: the stored one)."""
    if record is False:
        record = record_module.load(settings.state_dir)
    return inventory.scan(settings.snapshot_root, live_sources(settings), record,
                          record_module.users_keepsakes(settings.state_dir))


def adopt(settings):
    """Start the record when there is none, adopting the snapshots earlier versions made."""
    if record_module.load(settings.state_dir) is not None:
        return []
    found = scan(settings, record=None)
    adopted = [snap for snaps in found.series.values() for snap in snaps]
    if _dry_run():
        return [Finding(TOOL, "adopt", settings.snapshot_root, Severity.OK,
                        f"would adopt {len(adopted)} snapshots made before ts-snapshot kept "
                        f"a record", value=len(adopted))]
    record_module.save(settings.state_dir, record_module.Record(
        {snap.uuid: f"{snap.series}/{snap.name}" for snap in adopted}))
    log.info("started the record of snapshots made, adopting %d", len(adopted))
    return [Finding(TOOL, "adopt", settings.snapshot_root, Severity.OK,
                    f"adopted {len(adopted)} snapshots made before ts-snapshot kept a record "
                    f"(read-only snapshots of each configured subvolume in its series "
                    f"directory); the rest is left alone", value=len(adopted))]


def make_plan(settings, now, found=None):
    return plan_module.make(found if found is not None else scan(settings), settings.policy, now)


def _forget_gone(settings, found):
    """Keep the record to what exists: deleted snapshots and resolved pending ones drop out."""
    if _dry_run():
        return
    record = record_module.load(settings.state_dir)
    if record is None:
        return
    ours = {snap.uuid: f"{snap.series}/{snap.name}"
            for snaps in found.series.values() for snap in snaps}
    kept = record_module.Record(ours, {})
    if kept.to_json() != record.to_json():
        record_module.save(settings.state_dir, kept)


def prune(settings, now=None, guard=True, adopting=True):
    """Delete what the plan says, commit once, then apply the free-space guard."""
    now = now or dt.datetime.now(UTC)
    findings = adopt(settings) if adopting else []
    plan = make_plan(settings, now)
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
    _forget_gone(settings, scan(settings))
    return findings


def _dry_run():
    from trainserver.core import commands

    return commands.dry_run()


def free_space_guard(settings, now):
    """Below [snapshot] min_free, delete the oldest unprotected snapshots, one at a time and
    measured, until above it or until deletions stop giving space back (guard.py)."""
    from trainserver.core.state import StateFile
    from trainserver.core.units import format_size

    floor = settings.min_free
    if floor:
        # Space freed by deletions not yet committed (files, the prune's snapshots) shows only
        # after a commit; measured without one, the guard would credit it to its first deletion.
        btrfs.commit(settings.storage)
    free = btrfs.free_bytes(settings.storage)
    subject = settings.storage
    memory = StateFile(os.path.join(settings.state_dir, "snapshot-guard.json"))
    if floor == 0:
        return Finding(TOOL, "free-space", subject, Severity.OK,
                       "free-space guard off (min_free 0)",
                       value=free)
    if free >= floor:
        if not _dry_run() and memory.load(None) is not None:
            os.unlink(memory.path)  # resolved: a later shortage starts afresh
        return Finding(TOOL, "free-space", subject, Severity.OK,
                       f"{format_size(free)} free, floor {format_size(floor)}",
                       value=free, threshold=floor)
    found = scan(settings)
    order = plan_module.guard_order(make_plan(settings, now, found))
    if _dry_run():
        return Finding(TOOL, "free-space", subject, Severity.WARNING,
                       f"{format_size(free)} free, below the floor {format_size(floor)}: would "
                       f"delete up to {len(order)} kept snapshots, oldest first, while each "
                       f"gives space back",
                       value=free, threshold=floor)
    stall = memory.load(None)
    stall = stall if isinstance(stall, dict) else None
    live = None
    if stall:
        live = _measure_live(settings, found)
        if not guard_module.may_retry(stall, _total(live), floor):
            return Finding(TOOL, "free-space", subject, Severity.WARNING,
                           f"{format_size(free)} free, below the floor {format_size(floor)}: "
                           f"deleting nothing, since deleting snapshots stopped giving space "
                           f"back at {stall.get('time', '?')} and the live data has not "
                           f"shrunk since; "
                           f"{_holders(settings, found, live, [])}",
                           value=free, threshold=floor)
        log.info("the live data shrank since the guard last stopped: trying again")
    progress = guard_module.Progress(floor, free)
    deleted, failed, slow = [], [], False
    for entry in order:
        if progress.reached or progress.stalled:
            break
        try:
            btrfs.delete_snapshot(entry.snapshot.path)
        except btrfs.BtrfsError as exc:
            log.error("%s", exc)
            failed.append(entry.snapshot)
            continue
        deleted.append(entry.snapshot)
        # Committed and cleaned before measuring: what this one deletion gave back.
        cleaned = btrfs.reclaim(settings.storage, timeout=RECLAIM_WAIT)
        progress.measured(btrfs.free_bytes(settings.storage))
        log.warning("free-space guard deleted %s/%s: %s back", entry.snapshot.series,
                    entry.snapshot.name, format_size(progress.freed[-1]))
        if not cleaned:
            slow = True  # what came back cannot be told yet: the next run measures again
            break
    free = progress.free
    gained = sum(progress.freed)
    oldest = f" (oldest {deleted[0].series}/{deleted[0].name})" if deleted else ""
    text = (f"free space was below the floor {format_size(floor)}: deleted {len(deleted)} "
            f"kept snapshots, oldest first{oldest}, which gave back {format_size(gained)}; "
            f"now {format_size(free)} free")
    if live is None and not progress.reached and not slow:
        live = _measure_live(settings, found)  # deleting snapshots leaves live data as it was
    if progress.stalled:
        memory.save({"time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "free": free,
                     "live_total": _total(live)})
        text += (f"; stopped: the last {guard_module.STALL} deletions each gave back less than "
                 f"{format_size(progress.least)}, so the snapshots it may delete do not hold "
                 f"the space; no more are deleted until the live data shrinks; "
                 f"{_holders(settings, found, live, deleted)}")
    elif slow:
        text += f"; stopped: the BTRFS cleaner was still busy after {RECLAIM_WAIT:.0f} s"
    elif not progress.reached:
        text += ("; still below it: only protected snapshots are left (each subvolume's "
                 "newest, newest daily and newest weekly, and any younger than min_age); "
                 f"{_holders(settings, found, live, deleted)}")
    if stall and not progress.stalled:
        os.unlink(memory.path)  # deleting helped this time: a later stop is judged afresh
    if failed:
        text += f"; {len(failed)} could not be deleted (see the log)"
    return Finding(TOOL, "free-space", subject, Severity.CRITICAL if failed else Severity.WARNING,
                   text, value=free, threshold=floor)


RECLAIM_WAIT = 60.0  # seconds for the cleaner after one deletion
WALK_BUDGET = 120.0  # seconds for measuring what holds the space


def _total(live):
    if live is None or not all(complete for _, complete in live.values()):
        return None
    return sum(size for size, _ in live.values())


def _measure_live(settings, found):
    """{series: (bytes, complete)} of the live subvolumes that have snapshots, within the
    walk budget (usage.py)."""
    import time

    deadline = time.monotonic() + WALK_BUDGET
    live = {}
    for series in sorted(found.series):
        path = os.path.join(settings.storage, series)
        if btrfs.is_subvolume(path):
            live[series] = usage.tree_bytes(path, deadline)
    return live


def _holders(settings, found, live, deleted):
    """guard.holders, with the oldest remaining snapshot of the largest subvolumes walked as the
    baseline for how much each grew."""
    import time

    from trainserver.core.units import format_size

    gone = {snap.uuid for snap in deleted}
    deadline = time.monotonic() + WALK_BUDGET
    baselines = {}
    for series, _ in sorted(live.items(), key=lambda kv: -kv[1][0])[:guard_module.SHOWN]:
        left = [snap for snap in found.series.get(series, []) if snap.uuid not in gone]
        if left:
            size, complete = usage.tree_bytes(left[0].path, deadline)
            if complete:
                baselines[series] = (left[0].name, size)
    info = os.statvfs(settings.storage)
    used = (info.f_blocks - info.f_bfree) * info.f_frsize
    return guard_module.holders(live, baselines, used, len(found.foreign), format_size)


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
