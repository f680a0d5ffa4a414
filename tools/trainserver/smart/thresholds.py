"""DiskReport -> findings: one finding per (disk, check), ok ones included.

The limits are those of the issue that specified ts-smart (and of Backblaze's drive statistics
for the ATA attributes). `before` holds the previous run's counters (history.previous); on the
first run it is empty and nothing is "rising".

Damage counters that never go back down (reallocated sectors, NVMe media errors, SCSI grown
defects) are judged by what they are, from the first run on: a count above 0 is a warning
whether it is new, steady or was already there when ts-smart first read the disk; a count
that rose since the previous run is critical (the disk is failing now); 17 or more
reallocated sectors are critical whatever the trend. A steady count stays a warning, because
the damage is real: people silence a problem they know about with `ts-alert ack`, which
holds until the count rises again (critical is worse than the acknowledged warning), never by
the check calling it ok.
"""

from trainserver.core.findings import Finding, Severity
from trainserver.smart import exitstatus
from trainserver.smart.history import rising
from trainserver.smart import TOOL


REALLOCATED_CRITICAL = 17
PENDING_WARNING = 1
PENDING_CRITICAL = 2
COMMAND_TIMEOUT_CRITICAL = 100  # critical above this
PERCENTAGE_USED_WARNING = 80
PERCENTAGE_USED_CRITICAL = 95  # critical above this

# Attributes where any count is critical: (check name, what the count is).
ANY_COUNT_CRITICAL = {
    198: ("offline-uncorrectable", "offline uncorrectable sectors"),
    187: ("reported-uncorrect", "reported uncorrectable errors"),
    10: ("spin-retry", "spin retries"),
}

NVME_CRITICAL_WARNING_BITS = {
    0: "available spare below threshold",
    1: "temperature above or below threshold",
    2: "reliability degraded",
    3: "media in read-only mode",
    4: "volatile memory backup failed",
    5: "persistent memory region read-only or unreliable",
}


def _finding(report, check, severity, summary, value=None, threshold=None):
    return Finding(TOOL, check, report.subject, severity, f"{report.device}: {summary}", value,
                   threshold)


def _plural(count, word):
    return f"{count} {word}" if count != 1 else f"1 {word.rstrip('s')}"


def _trend(before, name, now):
    """A few words on how `now` compares with the previous run."""
    old = before.get(name)
    if old is None:
        return "first reading"
    if now > old:
        return f"up from {old} at the previous run"
    if now < old:
        return f"down from {old} at the previous run"
    return "unchanged since the previous run"


def smartctl_finding(report):
    """How smartctl itself ended: its exit status decoded, standby, or nothing read."""
    status = report.exit_status
    if status is None:
        decoded = "no exit status"
    else:
        decoded = f"exit status {exitstatus.describe(status)}"
    if report.standby:
        # ok, not unknown: spinning disks down is intended, and an unknown would alert every
        # night for a healthy idle disk. Its other checks are simply not reported this run,
        # so ts-alert keeps their last state (nothing is falsely resolved), and
        # trainserver_smart_last_read_timestamp_seconds shows how long ago it was read.
        return _finding(report, "smartctl", Severity.OK,
                        f"skipped: in standby ({report.standby} mode); not spun up to be checked",
                        status)
    if not report.has_data:
        messages = "; ".join(report.messages) or "no message"
        return _finding(report, "smartctl", Severity.UNKNOWN,
                        f"smartctl could not read the disk ({decoded}): {messages}",
                        status)
    if status is None:
        return _finding(report, "smartctl", Severity.UNKNOWN, "smartctl gave no exit status")
    severity = exitstatus.severity(status, has_data=True)
    summary = f"smartctl {decoded}"
    if exitstatus.commands_failed(status) and severity is Severity.OK:
        # Rated ok, so worded as what it means: the data was read (and the other checks judge
        # it); a command failed that, with --xall, is nearly always a log the disk lacks.
        failed = "; ".join(report.messages)
        summary = ("smartctl read the disk, except " +
                   (f"what this disk most likely does not support: {failed}" if failed else
                    "something it did not name, most likely not supported by this disk"))
        names = {**exitstatus.BIT_NAMES, exitstatus.COMMAND_FAILED_BIT: "some command failed"}
        named = ", ".join(f"bit {bit} ({names[bit]})" for bit in exitstatus.bits(status))
        summary += f" (exit status {status}: {named})"
    elif exitstatus.commands_failed(status):
        messages = "; ".join(report.messages) or "no message"
        summary += f"; some SMART commands failed: {messages}"
    return _finding(report, "smartctl", severity, summary, status)


def _health(report):
    if report.passed is True:
        return _finding(report, "health", Severity.OK, "SMART overall health: passed", "passed")
    if report.passed is False:
        return _finding(report, "health", Severity.CRITICAL, "SMART overall health: FAILED",
                        "failed")
    return _finding(report, "health", Severity.UNKNOWN,
                    "no SMART overall health reported (SMART unavailable or disabled?)")


def _temperature(report, configured_warning):
    if report.temperature is None:
        return _finding(report, "temperature", Severity.OK, "no temperature reported")
    if report.temperature_limit is not None:
        limit = report.temperature_limit
        source = f"the drive's limit: {report.temperature_limit_source}"
    else:
        limit = configured_warning
        source = "[smart] temperature_warning; the drive reports no limit"
    severity = Severity.WARNING if report.temperature >= limit else Severity.OK
    return _finding(report, "temperature", severity,
                    f"temperature {report.temperature} °C (warning at {limit} °C, {source})",
                    report.temperature, limit)


def _reallocated(report, before):
    attribute = report.attributes[5]
    count = attribute.raw
    text = (f"{_plural(count, 'reallocated sectors')} "
            f"(attribute 5, {_trend(before, 'reallocated', count)})")
    if attribute.when_failed == "now":
        return _finding(report, "reallocated", Severity.CRITICAL,
                        text + "; normalized value at or below its threshold now", count,
                        REALLOCATED_CRITICAL)
    return _finding(report, "reallocated", _damage(before, "reallocated", count,
                                                   REALLOCATED_CRITICAL),
                    text, count, REALLOCATED_CRITICAL)


def _damage(before, name, count, critical_at=None):
    """A counter of damage that never goes down: 0 ok, above 0 a warning (the first reading
    too), rising since the previous run or at `critical_at` critical."""
    if count <= 0:
        return Severity.OK
    if rising(before, name, count) or (critical_at is not None and count >= critical_at):
        return Severity.CRITICAL
    return Severity.WARNING


def _pending(report, before):
    count = report.attributes[197].raw
    text = (f"{_plural(count, 'pending sectors')} "
            f"(attribute 197, {_trend(before, 'pending', count)})")
    if count >= PENDING_CRITICAL or rising(before, "pending", count):
        return _finding(report, "pending", Severity.CRITICAL, text, count, PENDING_CRITICAL)
    if count >= PENDING_WARNING:
        return _finding(report, "pending", Severity.WARNING, text, count, PENDING_WARNING)
    return _finding(report, "pending", Severity.OK, text, count, PENDING_WARNING)


def _any_count(report, attribute_id):
    check, words = ANY_COUNT_CRITICAL[attribute_id]
    count = report.attributes[attribute_id].raw
    severity = Severity.CRITICAL if count >= 1 else Severity.OK
    return _finding(report, check, severity, f"{count} {words} (attribute {attribute_id})", count,
                    1)


def command_timeouts(attribute):
    """Attribute 188's count: the last of its three 16-bit parts.

    Some drives pack three counters into the raw value; smartctl prints them "A B C" when the
    drive database says so (the last part is the low word), else as one 48-bit number, whose low
    16 bits are that same last part.
    """
    parts = attribute.raw_string.split()
    if len(parts) == 3 and all(part.isdigit() for part in parts):
        return int(parts[-1])
    return attribute.raw & 0xFFFF


def _command_timeout(report):
    count = command_timeouts(report.attributes[188])
    severity = Severity.CRITICAL if count > COMMAND_TIMEOUT_CRITICAL else Severity.OK
    return _finding(report, "command-timeout", severity,
                    f"{count} command timeouts (attribute 188, last part of the raw value)",
                    count, COMMAND_TIMEOUT_CRITICAL)


def _when_failed(report):
    now = [a for a in report.attributes.values() if a.when_failed == "now"]
    past = [a for a in report.attributes.values() if a.when_failed == "past"]

    def names(attributes):
        return ", ".join(f"{a.id} {a.name}" for a in attributes)

    if now:
        return _finding(report, "when-failed", Severity.CRITICAL,
                        f"attributes at or below threshold now: {names(now)}", len(now))
    if past:
        return _finding(report, "when-failed", Severity.WARNING,
                        f"attributes at or below threshold in the past: {names(past)}", len(past))
    return _finding(report, "when-failed", Severity.OK,
                    "no attribute has ever been at or below its threshold", 0)


def _self_test(report):
    errors = report.self_test_errors
    severity = Severity.CRITICAL if errors > 0 else Severity.OK
    return _finding(report, "self-test", severity,
                    f"{_plural(errors, 'failed self-tests')} in the log (not outdated by a later "
                    "extended test)", errors, 0)


def nvme_warning_names(value):
    """The names of the bits set in NVMe's critical_warning byte."""
    names = [name for bit, name in NVME_CRITICAL_WARNING_BITS.items() if value & (1 << bit)]
    other = value & ~0x3F
    if other:
        names.append(f"other bits 0x{other:02x}")
    return names


def _nvme(report, before):
    health = report.nvme
    findings = []
    warning = health.critical_warning
    if warning:
        names = ", ".join(nvme_warning_names(warning))
        findings.append(_finding(report, "critical-warning", Severity.CRITICAL,
                                 f"NVMe critical warning 0x{warning:02x}: {names}", warning, 0))
    else:
        findings.append(_finding(report, "critical-warning", Severity.OK,
                                 "NVMe critical warning 0x00", 0, 0))
    if health.available_spare is not None and health.available_spare_threshold is not None:
        spare, threshold = health.available_spare, health.available_spare_threshold
        below = spare < threshold
        findings.append(_finding(
            report, "available-spare", Severity.CRITICAL if below else Severity.OK,
            f"available spare {spare}% ({'below' if below else 'at or above'} its threshold "
            f"{threshold}%)", spare, threshold))
    if health.percentage_used is not None:
        used = health.percentage_used
        if used > PERCENTAGE_USED_CRITICAL:
            severity, threshold = Severity.CRITICAL, PERCENTAGE_USED_CRITICAL
        elif used >= PERCENTAGE_USED_WARNING:
            severity, threshold = Severity.WARNING, PERCENTAGE_USED_WARNING
        else:
            severity, threshold = Severity.OK, PERCENTAGE_USED_WARNING
        findings.append(_finding(report, "percentage-used", severity,
                                 f"{used}% of the rated endurance used", used, threshold))
    if health.media_errors is not None:
        count = health.media_errors
        severity = _damage(before, "media_errors", count)
        trend = _trend(before, "media_errors", count)
        findings.append(_finding(report, "media-errors", severity,
                                 f"{_plural(count, 'media errors')} ({trend})", count))
    return findings


def _scsi(report, before):
    findings = []
    if report.grown_defects is not None:
        count = report.grown_defects
        severity = _damage(before, "grown_defects", count)
        trend = _trend(before, "grown_defects", count)
        findings.append(_finding(report, "grown-defects", severity,
                                 f"{_plural(count, 'grown defects')} ({trend})", count, 0))
    if report.uncorrected_errors is not None:
        total = sum(report.uncorrected_errors.values())
        parts = ", ".join(f"{kind} {count}" for kind, count in report.uncorrected_errors.items())
        findings.append(_finding(report, "uncorrected-errors",
                                 Severity.CRITICAL if total > 0 else Severity.OK,
                                 f"{_plural(total, 'uncorrected errors')} ({parts})", total, 0))
    return findings


def evaluate(report, before, temperature_warning):
    """The findings for one disk. A disk smartctl did not read gets only its smartctl finding."""
    findings = [smartctl_finding(report)]
    if not report.has_data or report.standby:
        return findings
    findings.append(_health(report))
    findings.append(_temperature(report, temperature_warning))
    attributes = report.attributes
    if 5 in attributes:
        findings.append(_reallocated(report, before))
    if 197 in attributes:
        findings.append(_pending(report, before))
    for attribute_id in ANY_COUNT_CRITICAL:
        if attribute_id in attributes:
            findings.append(_any_count(report, attribute_id))
    if 188 in attributes:
        findings.append(_command_timeout(report))
    if attributes:
        findings.append(_when_failed(report))
    if report.self_test_errors is not None:
        findings.append(_self_test(report))
    if report.nvme is not None:
        findings += _nvme(report, before)
    if report.protocol == "SCSI" or report.grown_defects is not None:
        findings += _scsi(report, before)
    return findings
