"""Measure each person's usage: simple quotas where they count everything, a walk elsewhere.

A subvolume is read from its simple quota only when quotas are on in simple mode and the
subvolume was created at or after the generation they were switched on: older subvolumes hold
data squota never counts, so they are walked (nothing is silently under-counted). Everything
else (method "walk", no simple quotas, plain directories) is walked, all people in one
parallel walk. Quotas are never switched on here.
"""

import os
from dataclasses import dataclass, field

from trainserver.core import priority
from trainserver.core.findings import Finding, Severity
from trainserver.quota import squota
from trainserver.quota.grace import TOOL

KINDS = ("home", "workspace")


@dataclass
class Usage:
    name: str
    limit: int
    home: int = 0
    workspace: int = 0
    # kind -> "walk", "squota", "squota+walk" or "missing"
    sources: dict = field(default_factory=dict)
    errors: int = 0
    first_error: str = ""

    @property
    def total(self):
        return self.home + self.workspace


@dataclass
class Measurement:
    people: list
    method: str  # what was used overall: "walk", "squota" or "squota+walk"
    walk_seconds: float = 0.0
    walked_entries: int = 0
    workers: int = 0
    findings: list = field(default_factory=list)  # about the measuring itself
    notes: list = field(default_factory=list)


def skipped_dirs(config, storage):
    """The snapshot directories of ts-snapshot and ts-backup: never walked (snapshots are
    nobody's usage)."""
    return [os.path.normpath(os.path.join(storage, config[table]["snapshot_dir"]))
            for table in ("snapshot", "backup")]


def _squota_state(storage, method, features_dir):
    """(fs_dir, enable_gen, findings): where simple quotas can be read, if anywhere."""
    findings = []
    if method == "walk":
        return None, None, findings
    try:
        fs_dir = squota.sysfs_dir(storage)
    except OSError as exc:
        if method == "squota":
            findings.append(Finding(TOOL, "method", storage, Severity.UNKNOWN,
                                    f"[quota] method is squota, but {storage} is not a mounted "
                                    f"BTRFS ({exc.strerror}): usage was walked"))
        return None, None, findings
    mode = squota.mode(fs_dir)
    if mode == squota.FULL:
        findings.append(Finding(
            TOOL, "qgroups", storage, Severity.WARNING,
            f"full BTRFS qgroups are on for {storage}: with hourly snapshots they make snapshot "
            f"cleanup hundreds of times slower. Switch them off (btrfs quota disable {storage}; "
            f"it can take minutes) and use simple quotas (ts-quota enable) or the walk; usage "
            f"was walked"))
        return None, None, findings
    if mode != squota.SIMPLE:
        if method == "squota":
            hint = ("switch them on with ts-quota enable" if squota.kernel_has_squota(features_dir)
                    else "this kernel has none (6.7 or later has them)")
            findings.append(Finding(TOOL, "method", storage, Severity.UNKNOWN,
                                    f"[quota] method is squota, but simple quotas are off on "
                                    f"{storage} ({hint}): usage was walked"))
        return None, None, findings
    generation = squota.enable_generation(storage)
    findings.append(Finding(TOOL, "method", storage, Severity.OK,
                            f"simple quotas are on for {storage} (counting from generation "
                            f"{generation})"))
    return fs_dir, generation, findings


def _subvolumes(path):
    """[(path, id, created generation)] of `path` (a subvolume) and those nested in it."""
    import btrfsutil

    if not btrfsutil.is_subvolume(path):
        return []
    found = [(path, btrfsutil.subvolume_id(path), btrfsutil.subvolume_info(path).otransid)]
    with btrfsutil.SubvolumeIterator(path, info=True) as nested:
        for relative, info in nested:
            found.append((os.path.join(path, relative), info.id, info.otransid))
    return found


def measure(config, people, method="auto", workers=None, kind="process",
            features_dir=squota.FEATURES_DIR, limit_default=None, trusted=()):
    """A Measurement of every person of `people` (core.people.People).

    trusted: ids of subvolumes that were empty when simple quotas were switched on (ts-quota
    enable records them): their quota counts everything, however old the subvolume is.
    """
    from trainserver.quota import walk

    storage = config["paths"]["storage"]
    limit_default = config["quota"]["user_limit"] if limit_default is None else limit_default
    fs_dir, generation, findings = _squota_state(storage, method, features_dir)
    skip = skipped_dirs(config, storage)
    usages, roots, from_squota = [], [], {}
    for person in people:
        usage = Usage(person.name, person.quota_limit if person.quota_limit is not None
                      else limit_default)
        usages.append(usage)
        for kind_name, relative in (("home", person.home), ("workspace", person.workspace)):
            path = os.path.join(storage, relative)
            if not os.path.isdir(path):
                usage.sources[kind_name] = "missing"
                continue
            tag = (person.name, kind_name)
            counted, walked = 0, []
            if fs_dir is not None and generation is not None:
                subvolumes = _subvolumes(path)
                for sub_path, sub_id, created in subvolumes:
                    counts_all = created >= generation or sub_id in trusted
                    value = squota.referenced(fs_dir, sub_id) if counts_all else None
                    if value is None:
                        walked.append(sub_path)
                    else:
                        counted += value
                        skip.append(sub_path)
                if not subvolumes:  # a plain directory
                    walked = [path]
            else:
                walked = [path]
            from_squota[tag] = counted
            roots.extend((tag, sub_path) for sub_path in walked)
            usage.sources[kind_name] = ("squota+walk" if counted and walked else
                                        "walk" if walked else "squota")
    # A subvolume read from its quota is skipped by the walk, but never its own root.
    root_paths = {path for _, path in roots}
    skip = [path for path in skip if path not in root_paths]
    measurement = Measurement(usages, "walk", findings=findings)
    tallies = {}
    if roots:
        measurement.notes.append(priority.idle_io())
        tallies, seconds = walk.walk(roots, workers=workers, skip=skip, kind=kind)
        measurement.walk_seconds = seconds
        measurement.workers = max(1, workers or os.cpu_count() or 1)
    for usage in usages:
        mine = []
        for kind_name in KINDS:
            tally = tallies.get((usage.name, kind_name))
            value = from_squota.get((usage.name, kind_name), 0)
            if tally is not None:
                mine.append(tally)
                value += tally.total
                measurement.walked_entries += tally.entries
                usage.errors += tally.errors
                usage.first_error = usage.first_error or tally.first_error
            setattr(usage, kind_name, value)
        # Hard links between a person's home and workspace count once in the total.
        if len(mine) == 2:
            doubled = sum(v for k, v in mine[0].linked.items() if k in mine[1].linked)
            usage.workspace -= doubled
    used = {source for usage in usages for source in usage.sources.values()}
    if "squota" in used or "squota+walk" in used:
        measurement.method = "squota+walk" if ("walk" in used or "squota+walk" in used) \
            else "squota"
    return measurement
