"""Findings of `ts-storage check` from the facts about the storage filesystem: pure logic.

Device error counters are compared with the previous run (state). BTRFS keeps them until they
are reset (`btrfs device stats --reset`), so an error stays a warning for as long as it is
counted, from the first run on (also one counted before ts-storage first looked), and a rise
since the previous run is critical: the device is failing now. People silence a count they know
about with `ts-alert ack storage device-errors SUBJECT`; a rise lifts the acknowledgement.
"""

from dataclasses import dataclass, field

from trainserver.core.findings import Finding, Severity
from trainserver.storage import TOOL

# btrfs device stats: lost or unreadable writes and reads, data that no longer matches its
# checksum. Any of them rising means the device is failing now.
COUNTERS = ("write_io_errs", "read_io_errs", "flush_io_errs", "corruption_errs",
            "generation_errs")
GiB = 2**30


@dataclass
class Facts:
    """What the adapter found; a part it could not read is None and its error in `problems`."""

    mount_point: str
    mount: object = None  # parse.mount() or None when nothing is mounted there
    expected_uuid: object = None  # from fstab
    show: object = None
    usage: object = None
    stats: object = None
    scrub: object = None
    qgroups: object = None  # True, False, or None when unknown
    bcache: list = field(default_factory=list)  # bcache.devices()
    problems: dict = field(default_factory=dict)  # part -> error text
    unconfigured: object = None  # why this machine does not use the storage, or None
    filesystems: list = field(default_factory=list)  # facts.filesystems(): the other ones


@dataclass
class Limits:
    full_warning_percent: int = 90
    full_critical_percent: int = 98
    scrub_max_age: float = 35 * 86400


def _finding(check, subject, severity, summary, value=None, threshold=None):
    return Finding(TOOL, check, subject, severity, summary, value=value, threshold=threshold)


def mount_findings(facts):
    point = facts.mount_point
    mount = facts.mount
    if mount is None:
        if facts.expected_uuid:
            return [_finding("mount", point, Severity.CRITICAL,
                             f"{point} is not mounted (fstab expects UUID {facts.expected_uuid})")]
        if facts.unconfigured:
            # Said once, at ok: a machine that does not use the storage is not nagged.
            return [_finding("mount", point, Severity.OK,
                             f"{facts.unconfigured}: nothing checked (to set it up: "
                             f"ts-storage discover, [storage], ts-storage apply)")]
        return [_finding("mount", point, Severity.CRITICAL,
                         f"{point} is not mounted, and fstab has no UUID= entry for it: the "
                         f"storage is configured but not built or not mounted (ts-storage plan "
                         f"shows what is missing)")]
    if mount["fstype"] != "btrfs":
        return [_finding("mount", point, Severity.CRITICAL,
                         f"{point} is {mount['fstype']}, not BTRFS (from {mount['source']})")]
    findings = []
    if facts.expected_uuid and mount["uuid"] != facts.expected_uuid:
        findings.append(_finding("mount", point, Severity.CRITICAL,
                                 f"{point} is mounted from UUID {mount['uuid']}, but fstab says "
                                 f"{facts.expected_uuid}"))
    elif "degraded" in mount["options"]:
        findings.append(_finding("mount", point, Severity.CRITICAL,
                                 f"{point} is mounted degraded: a device is missing, and the "
                                 f"RAID10 copies are not all there"))
    else:
        findings.append(_finding("mount", point, Severity.OK,
                                 f"{point} mounted from UUID {mount['uuid']}"))
    return findings


def device_findings(facts):
    show, usage = facts.show, facts.usage
    missing = show["missing"] or (usage or {}).get("overall", {}).get("device_missing", 0) > 0
    total = show["total"] or len(show["devices"])
    present = [d for d in show["devices"] if "missing" not in d["path"].lower()]
    if missing:
        return [_finding("devices", facts.mount_point, Severity.CRITICAL,
                         f"{total - len(present)} of {total} devices missing: the filesystem runs "
                         f"without redundancy", value=len(present), threshold=total)]
    return [_finding("devices", facts.mount_point, Severity.OK,
                     f"all {total} devices present: "
                     + ", ".join(d["path"] for d in present), value=total)]


def counter_findings(facts, previous):
    """Findings per device and the counters to remember (state key: "<fs uuid>/<devid>")."""
    uuid = facts.show["uuid"] if facts.show else "unknown"
    findings, remembered = [], {}
    for devid, row in sorted(facts.stats.items()):
        key = f"{uuid}/{devid}"
        before = previous.get(key)
        now = {name: row[name] for name in COUNTERS}
        remembered[key] = now
        subject = f"{row['device']} (devid {devid})"
        total = sum(now.values())
        if not total:
            findings.append(_finding("device-errors", subject, Severity.OK,
                                     f"{row['device']}: no I/O or checksum errors", value=0))
            continue
        counted = ", ".join(f"{name} {count}" for name, count in now.items() if count)
        reset = f"; once dealt with: btrfs device stats --reset {row['device']}"
        if before is None:
            findings.append(_finding(
                "device-errors", subject, Severity.WARNING,
                f"{row['device']}: {counted} (first reading: counted before ts-storage first "
                f"looked){reset}", value=total))
            continue
        rises = {name: now[name] - before.get(name, 0) for name in now
                 if now[name] > before.get(name, 0)}
        if rises:
            rose = ", ".join(f"{name} +{rise} (now {now[name]})"
                             for name, rise in sorted(rises.items()))
            findings.append(_finding("device-errors", subject, Severity.CRITICAL,
                                     f"{row['device']}: error counters rose: {rose}", value=total))
        else:
            findings.append(_finding("device-errors", subject, Severity.WARNING,
                                     f"{row['device']}: {counted}, unchanged since the previous "
                                     f"run{reset}", value=total))
    return findings, remembered


def scrub_findings(facts, now, limits):
    """Findings about the last scrub. Its result stands until the next scrub; ts-alert, not
    this check, keeps it from being sent again and again."""
    scrub, point = facts.scrub, facts.mount_point
    if scrub is None:
        return [_finding("scrub", point, Severity.WARNING,
                         "no scrub on record: ts-storage-scrub.timer runs one monthly "
                         "(or run ts-storage scrub)")]
    started = scrub.get("started")
    age = now - started if started else None
    when = ago(age) if age is not None else "at an unknown time"
    if scrub["status"] == "running":
        return [_finding("scrub", point, Severity.OK, f"a scrub is running (started {when})")]
    uncorrectable = scrub.get("uncorrectable_errors", 0)
    corrected = scrub.get("corrected_errors", 0)
    findings = []
    if uncorrectable:
        findings.append(_finding("scrub", point, Severity.CRITICAL,
                                 f"last scrub {when} found {uncorrectable} uncorrectable errors: "
                                 f"data is damaged in every copy (see the kernel log for paths)",
                                 value=uncorrectable))
    elif corrected:
        findings.append(_finding("scrub", point, Severity.WARNING,
                                 f"last scrub {when} repaired {corrected} errors from the other "
                                 f"copy: watch the device error counters", value=corrected))
    elif scrub["status"] != "finished":
        findings.append(_finding("scrub", point, Severity.WARNING,
                                 f"last scrub {when} did not finish: {scrub['status']}"))
    else:
        findings.append(_finding("scrub", point, Severity.OK, f"last scrub {when}: no errors"))
    if age is not None and age > limits.scrub_max_age:
        findings.append(_finding("scrub-age", point, Severity.WARNING,
                                 f"the last scrub was {when}, more than "
                                 f"{limits.scrub_max_age / 86400:.0f} days ago",
                                 value=round(age / 86400), threshold=limits.scrub_max_age / 86400))
    else:
        findings.append(_finding("scrub-age", point, Severity.OK, f"last scrub {when}"))
    return findings


def ago(seconds):
    if seconds < 2 * 86400:
        return f"{max(seconds, 0) / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def used_percent(overall):
    """Used space as df counts it: logical bytes used over used plus free (estimated)."""
    used = overall["used"] / (overall.get("data_ratio") or 1)
    total = used + overall["free_estimated"]
    return 100 * used / total if total else 100.0


def _percent_severity(percent, limits):
    if percent > limits.full_critical_percent:
        return Severity.CRITICAL
    if percent > limits.full_warning_percent:
        return Severity.WARNING
    return Severity.OK


def space_findings(facts, limits):
    from trainserver.core.units import format_size

    overall = facts.usage["overall"]
    point = facts.mount_point
    ratio = overall.get("data_ratio") or 1
    free = overall["free_estimated"]
    percent = used_percent(overall)
    findings = [_finding("space", point, _percent_severity(percent, limits),
                         f"{percent:.1f}% used, {format_size(free)} free",
                         value=round(percent, 1), threshold=limits.full_warning_percent)]
    # A chunk type can fill up while the filesystem still has free space elsewhere: that is
    # only a problem when no unallocated space is left to give it a new chunk.
    unallocated = overall.get("device_unallocated", 0)
    for kind in ("data", "metadata"):
        profile = facts.usage["profiles"].get(kind)
        if not profile or not profile["size"]:
            continue
        filled = 100 * profile["used"] / profile["size"]
        severity = _percent_severity(filled, limits) if unallocated < GiB * ratio else Severity.OK
        findings.append(_finding(f"{kind}-allocation", point, severity,
                                 f"{kind} chunks {filled:.1f}% full, {format_size(unallocated)} "
                                 f"unallocated", value=round(filled, 1),
                                 threshold=limits.full_warning_percent))
    return findings


def quota_findings(facts):
    if facts.qgroups:
        return [_finding("quotas", facts.mount_point, Severity.WARNING,
                         "BTRFS quotas (qgroups) are enabled on a filesystem with hourly "
                         "snapshots: snapshot cleanup runs hundreds of times slower (measured "
                         "450x); `btrfs quota disable` unless they are needed")]
    return [_finding("quotas", facts.mount_point, Severity.OK, "BTRFS quotas off")]


def bcache_findings(facts):
    findings = []
    for device in facts.bcache:
        # Named by backing disk and bcache UUID: the bcacheN number changes between boots.
        subject = f"bcache on {device['backing']}" + (
            f" ({device['uuid'][:8]})" if device.get("uuid") else "")
        where = f"{device['name']} on {device['backing']}"
        state, mode = device["state"], device["cache_mode"]
        dirty, errors = device.get("dirty_bytes") or 0, device.get("cache_io_errors") or 0
        if state == "no cache" or not device.get("cache_set"):
            findings.append(_finding("bcache", subject, Severity.CRITICAL,
                                     f"{where} is detached from its cache set: reads and "
                                     f"writes bypass the cache, and nothing is in writeback"))
        elif state == "inconsistent":
            findings.append(_finding("bcache", subject, Severity.CRITICAL,
                                     f"{where} is inconsistent: its cache is unusable"))
        elif dirty and errors:
            findings.append(_finding("bcache", subject, Severity.CRITICAL,
                                     f"{where}: {dirty} bytes of dirty data wait for a cache "
                                     f"device that reports {errors} I/O errors", value=dirty))
        elif mode != "writeback":
            findings.append(_finding("bcache", subject, Severity.WARNING,
                                     f"{where} caches in {mode} mode, not writeback"))
        else:
            ratio = f", hit ratio {device['hit_ratio']}%" if device.get("hit_ratio") is not None \
                else ""
            findings.append(_finding("bcache", subject, Severity.OK,
                                     f"{where}: writeback, {state}, {dirty} bytes dirty{ratio}",
                                     value=dirty))
    return findings


def filesystem_findings(facts, limits):
    """How full every other local filesystem is (facts.filesystems), with the storage's
    thresholds: one "space" finding per mount point."""
    from trainserver.core.units import format_size
    from trainserver.storage.filesystems import percent_used

    findings = []
    for item in facts.filesystems:
        point = item["mount_point"]
        if "error" in item:
            findings.append(_finding("space", point, Severity.UNKNOWN,
                                     f"could not read how full {point} is: {item['error']}"))
            continue
        if not item["size"]:
            continue  # no blocks at all: nothing that could fill up
        percent = percent_used(item["size"], item["free"], item["available"])
        findings.append(_finding("space", point, _percent_severity(percent, limits),
                                 f"{percent:.1f}% used, {format_size(item['available'])} free "
                                 f"({item['fstype']} on {item['source']})",
                                 value=round(percent, 1), threshold=limits.full_warning_percent))
    return findings


def assess(facts, now, limits, state):
    """(findings, new state) for one check run."""
    findings, new_state = _storage_findings(facts, now, limits, state)
    return findings + filesystem_findings(facts, limits), new_state


def _storage_findings(facts, now, limits, state):
    findings = mount_findings(facts)
    new_state = dict(state)
    if facts.mount is None or facts.mount["fstype"] != "btrfs":
        return findings, new_state
    for part, error in sorted(facts.problems.items()):
        findings.append(_finding(part, facts.mount_point, Severity.UNKNOWN,
                                 f"could not read the {part}: {error}"))
    if facts.show is not None:
        findings += device_findings(facts)
    if facts.stats is not None:
        counters, remembered = counter_findings(facts, state.get("counters", {}))
        findings += counters
        new_state["counters"] = {**state.get("counters", {}), **remembered}
    if "scrub" not in facts.problems:
        findings += scrub_findings(facts, now, limits)
    if facts.usage is not None:
        findings += space_findings(facts, limits)
    if facts.qgroups is not None:
        findings += quota_findings(facts)
    findings += bcache_findings(facts)
    return findings, new_state
