"""Findings of `ts-caches status`, from facts: pure logic.

A cache is ok when it is as apply sets it (its plan is empty) and the group can use everything
in it; a warning when it lost something (someone chmod'ed it, moved files in from a home);
unknown when it could not be looked at. The value of a cache's finding is its size in bytes.
"""

from dataclasses import dataclass, field

from trainserver.core.findings import Finding, Severity
from trainserver.core.units import format_size
from trainserver.caches import TOOL


@dataclass
class CacheReport:
    name: str
    path: str
    shared: bool
    exists: bool = True
    subvolume: bool = None  # None: not known (not BTRFS)
    differences: list = field(default_factory=list)  # plan step texts
    problems: list = field(default_factory=list)
    usage: object = None  # walk.Usage
    unknown: str = None  # why it could not be checked


def cache_finding(report, group):
    if report.unknown:
        return Finding(TOOL, "cache", report.name, Severity.UNKNOWN,
                       f"{report.name}: cannot check: {report.unknown}")
    if not report.exists:
        return Finding(TOOL, "cache", report.name, Severity.WARNING,
                       f"{report.name}: {report.path} is missing: run ts-caches apply")
    usage = report.usage
    size = f"{format_size(usage.bytes)} in {usage.files:,} files"
    value = usage.bytes
    what = f"shared with {group}" if report.shared else "root's (apt downloads as _apt)"
    if report.subvolume is False:
        what += "; a plain directory, not a subvolume"
    wrong = list(report.problems) + list(report.differences)
    if report.shared and usage.unshared:
        examples = ", ".join(f"{path} ({why})" for path, why in usage.examples)
        wrong.append(f"{usage.unshared:,} entries the group cannot use, e.g. {examples}: "
                     f"ts-caches apply --fix-existing gives them to the group")
    if wrong:
        return Finding(TOOL, "cache", report.name, Severity.WARNING,
                       f"{report.name}: not as ts-caches apply sets it: " + "; ".join(wrong)
                       + f" ({size}, {report.path})", value)
    summary = f"{report.name}: {size}, {what} ({report.path})"
    if usage.errors:
        summary += f"; {len(usage.errors)} entries unreadable, not counted"
    return Finding(TOOL, "cache", report.name, Severity.OK, summary, value)


def file_finding(path, step, problem, note):
    if problem:
        return Finding(TOOL, "file", path, Severity.WARNING, problem)
    if step is not None:
        return Finding(TOOL, "file", path, Severity.WARNING,
                       f"{path}: {step.why}: run ts-caches apply")
    summary = f"{path}: as ts-caches apply writes it"
    if note:
        summary += f" ({note})"
    return Finding(TOOL, "file", path, Severity.OK, summary)


def group_finding(group, gid, members):
    if gid is None:
        return Finding(TOOL, "group", group, Severity.WARNING,
                       f"the shared group {group} does not exist: run ts-caches apply "
                       f"(ts-users apply also makes it and puts every person in it)")
    return Finding(TOOL, "group", group, Severity.OK,
                   f"{group} (gid {gid}): {len(members)} members"
                   + (f" ({', '.join(members)})" if members else ""), len(members))
