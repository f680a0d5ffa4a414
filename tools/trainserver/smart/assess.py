"""One run of ts-smart check, without touching the system: readings in, findings out.

The adapter (smartctl.py) reads the disks; this module turns what it read into reports,
findings, the state to save and the metrics to write, so that two runs over fixtures can be
tested like two nights on the server.
"""

import logging
from dataclasses import dataclass

from trainserver.core.findings import Finding, Severity
from trainserver.smart import gauges, history, parse, thresholds

log = logging.getLogger(__name__)

SCAN_SUBJECT = "disks"


@dataclass
class Reading:
    """What smartctl printed for one device, or why it printed nothing usable."""

    device: str
    stdout: str | None = None
    returncode: int | None = None
    error: str | None = None  # smartctl could not be run (not found, timed out)


@dataclass
class Outcome:
    findings: list
    reports: list
    state: dict
    metrics: list


def report_for(reading, identify=None):
    """The DiskReport for one reading; `identify(device)` names a disk smartctl did not."""
    if reading.error:
        report = parse.unreadable(reading.device, reading.error, reading.returncode)
    else:
        try:
            document = parse.load(reading.stdout or "")
            report = parse.parse(document, reading.device, reading.returncode)
        except parse.ParseError as exc:
            report = parse.unreadable(reading.device, str(exc), reading.returncode)
    if not report.has_identity and identify is not None:
        found = identify(reading.device)
        if found:
            report.model, report.serial = found
    return report


def scan_finding(devices, messages=(), source="smartctl --scan-open", problem=None):
    """Whether there were disks to check: ok with their list, else unknown.

    No disk at all is unknown, not ok: on a server it means smartctl cannot see the disks
    (no root, a missing driver, a virtual machine), so nothing was checked.
    """
    if problem:
        return Finding(thresholds.TOOL, "scan", SCAN_SUBJECT, Severity.UNKNOWN,
                       f"{source} failed: {problem}")
    if not devices:
        detail = f" ({'; '.join(messages)})" if messages else ""
        return Finding(thresholds.TOOL, "scan", SCAN_SUBJECT, Severity.UNKNOWN,
                       f"no disks found by {source}{detail}", 0)
    names = ", ".join(devices)
    return Finding(thresholds.TOOL, "scan", SCAN_SUBJECT, Severity.OK,
                   f"{len(devices)} disk{'s' if len(devices) != 1 else ''} from {source}: {names}",
                   len(devices))


def _read(report):
    return report.has_data and not report.standby


def one_per_disk(reports):
    """One report per subject, in the order the disks were first met.

    One disk can be reachable by two paths (e.g. /dev/sda and /dev/bus/0 -d megaraid,0); it is
    checked once, under the first path that smartctl could read. A path that could not be read
    (named through udev) must not hide a later one that could, and two findings for the same
    (check, subject) would contradict each other in ts-alert.
    """
    chosen = {}
    for report in reports:
        kept = chosen.get(report.subject)
        if kept is None:
            chosen[report.subject] = report
            continue
        if _read(report) and not _read(kept):
            log.info("%s: same disk as %s (%s), which was not read; checked here", report.device,
                     kept.device, report.subject)
            chosen[report.subject] = report  # keeps the first path's place in the order
        else:
            log.info("%s: same disk as %s (%s), checked once", report.device, kept.device,
                     report.subject)
    return list(chosen.values())


def assess(readings, state, temperature_warning, now, identify=None):
    """Findings, reports, the new state and the metrics for one run over `readings`."""
    reports = one_per_disk(report_for(reading, identify) for reading in readings)
    findings = []
    for report in reports:
        findings += thresholds.evaluate(report, history.previous(state, report.subject),
                                        temperature_warning)
    new_state = history.updated(state, reports, now)
    metrics = gauges.build(reports, findings, new_state, now, temperature_warning)
    return Outcome(findings, reports, new_state, metrics)
