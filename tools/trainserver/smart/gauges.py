"""The trainserver_smart_* metrics of one run, for node-exporter's textfile collector."""

from trainserver.core.findings import worst
from trainserver.core.metrics import Metric
from trainserver.smart import history


def _labels(report):
    return {"device": report.device, "model": report.model or "", "serial": report.serial or ""}


def build(reports, findings, state, now, temperature_warning):
    """Metrics for `reports` (one per disk), their `findings`, and the saved `state` (history)."""
    def gauge(name, help_text):
        return Metric(f"trainserver_smart_{name}", help_text)

    run = gauge("last_run_timestamp_seconds", "When ts-smart check last ran (Unix time).").add(now)
    disks = gauge("disks", "Disks ts-smart checked in its last run.").add(len(reports))
    exit_status = gauge("exit_status", "smartctl's exit status bit mask for the disk.")
    standby = gauge("standby", "1 when the disk was in standby and skipped, else 0.")
    severity = gauge("severity",
                     "Worst finding for the disk: 0 ok, 1 warning, 2 critical, 3 unknown.")
    passed = gauge("health_passed", "1 when SMART overall health passed, 0 when it failed.")
    temperature = gauge("temperature_celsius", "Current drive temperature in °C.")
    limit = gauge("temperature_limit_celsius",
                  "Temperature warning limit in °C: the drive's own, else [smart] "
                  "temperature_warning.")
    reallocated = gauge("reallocated_sectors", "ATA attribute 5 raw: reallocated sectors.")
    pending = gauge("pending_sectors", "ATA attribute 197 raw: sectors pending reallocation.")
    self_test = gauge("self_test_errors", "Failed self-tests in the log, outdated ones excluded.")
    media = gauge("media_errors", "NVMe media and data integrity errors.")
    used = gauge("percentage_used", "NVMe percentage of rated endurance used.")
    spare = gauge("available_spare_percent", "NVMe available spare in percent.")
    warning = gauge("nvme_critical_warning", "NVMe critical warning byte (0 when healthy).")
    defects = gauge("grown_defects", "SCSI grown defect list length.")
    uncorrected = gauge("uncorrected_errors",
                        "SCSI total uncorrected read, write and verify errors.")
    last_read = gauge("last_read_timestamp_seconds",
                      "When smartctl last read the disk's data (Unix time); old when it "
                      "stays in standby.")

    by_subject = {}
    for finding in findings:
        by_subject.setdefault(finding.subject, []).append(finding.severity)
    for report in reports:
        labels = _labels(report)
        if report.exit_status is not None:
            exit_status.add(report.exit_status, **labels)
        standby.add(1 if report.standby else 0, **labels)
        severity.add(int(worst(by_subject.get(report.subject, []))), **labels)
        if not report.has_data or report.standby:
            continue
        if report.passed is not None:
            passed.add(1 if report.passed else 0, **labels)
        if report.temperature is not None:
            temperature.add(report.temperature, **labels)
            limit.add(report.temperature_limit or temperature_warning, **labels)
        if 5 in report.attributes:
            reallocated.add(report.attributes[5].raw, **labels)
        if 197 in report.attributes:
            pending.add(report.attributes[197].raw, **labels)
        if report.self_test_errors is not None:
            self_test.add(report.self_test_errors, **labels)
        if report.nvme:
            warning.add(report.nvme.critical_warning, **labels)
            nvme = report.nvme
            for metric, value in ((media, nvme.media_errors), (used, nvme.percentage_used),
                                  (spare, nvme.available_spare)):
                if value is not None:
                    metric.add(value, **labels)
        if report.grown_defects is not None:
            defects.add(report.grown_defects, **labels)
        if report.uncorrected_errors is not None:
            uncorrected.add(sum(report.uncorrected_errors.values()), **labels)
    for labels, read_at in history.last_reads(state):
        last_read.add(read_at, **labels)
    metrics = [run, disks, exit_status, standby, severity, passed, temperature, limit, reallocated,
               pending, self_test, media, used, spare, warning, defects, uncorrected, last_read]
    return [metric for metric in metrics if metric.samples]
