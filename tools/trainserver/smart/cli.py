"""ts-smart: disk health from smartctl, one finding per disk and check."""

import sys

import click

from trainserver.core import cli as core_cli
from trainserver.core.checks import CHECK_EXIT_STATUS
from trainserver.smart import TOOL


@core_cli.tool_group(TOOL, exit_status=CHECK_EXIT_STATUS)
def cli():
    """Check every disk's health with smartctl (SMART), as the daily timer does at 03:00.

    Disks come from `smartctl --scan-open`, or from [smart] devices when that is set. Each is
    read with `smartctl --json=o --xall --nocheck=standby`: a disk in standby is not spun up
    and is reported as skipped. Findings name a disk by model and serial. Counts that must not grow
    (reallocated and pending sectors, NVMe media errors, SCSI grown defects) are compared with
    the previous run, kept in the state directory (smart.json). Metrics go to
    trainserver_smart.prom in the metrics directory.
    """


@cli.command()
@core_cli.reports(core_cli.CHECK, job="smart")
@click.pass_obj
def check(tool, as_json):
    """Check every disk; exit with the worst finding.

    \b
    One finding per disk and check, ok ones included:
      smartctl           exit status bits 3, 4, 7: critical; bits 0-1, or
                         nothing read: unknown; bit 2 alone with the disk's
                         data read: ok, the failed commands named;
                         a disk in standby: ok, "skipped: in standby"
      health             SMART overall health failed: critical
      temperature        at the drive's own limit (else [smart]
                         temperature_warning): warning
      reallocated        ATA 5: above 0: warning; rising, 17 or more, or
                         failing now: critical
      pending            ATA 197: 1: warning; 2 or more, or rising: critical
      offline-uncorrectable, reported-uncorrect, spin-retry
                         ATA 198, 187, 10: 1 or more: critical
      command-timeout    ATA 188, last part of the raw value: above 100:
                         critical
      when-failed        an attribute failed in the past: warning; now:
                         critical
      self-test          failed self-tests, outdated ones excluded: critical
      critical-warning   NVMe: any bit set: critical
      available-spare    NVMe: below its threshold: critical
      percentage-used    NVMe: 80 or more: warning; above 95: critical
      media-errors       NVMe: above 0: warning; rising: critical
      grown-defects      SCSI: above 0: warning; rising: critical
      uncorrected-errors SCSI: above 0: critical
      scan               no disk found: unknown

    "Rising" compares with the previous run that read the disk. Damage that
    never heals (reallocated and pending sectors, media errors, grown defects)
    is reported from the first run on, also when it was already there when
    the package was installed: a steady count stays a warning for as long as
    the disk is in use, and a rise is critical. To stop the reminders about a
    count you know of (a spare is ordered, the disk is watched), acknowledge
    it: `ts-alert ack smart reallocated SUBJECT` (ts-alert status prints the
    exact command). The acknowledgement holds until the count rises again,
    which is critical and worse than the warning you acknowledged, so the
    rise is sent at once.
    """
    from trainserver.core.checks import CHECK_LOCK_WAIT, report
    from trainserver.smart import run

    with tool.lock(wait=CHECK_LOCK_WAIT):
        findings = run.check(tool)
    return report(findings, as_json)


@cli.command()
@core_cli.json_option
@click.pass_obj
def scan(tool, as_json):
    """List the disks `check` would read (exit 0, also when none is found).

    With --json, one JSON object a line: name, type, protocol, open_error.
    """
    import json

    from trainserver.smart import run

    devices, finding = run.scan(tool)
    if as_json:
        for device in devices:
            sys.stdout.write(json.dumps(device.to_json()) + "\n")
    elif devices:
        for device in devices:
            detail = f"  (open failed: {device.open_error})" if device.open_error else ""
            line = f"{device.name}  -d {device.type or 'auto'}  {device.protocol or ''}{detail}"
            click.echo(line.rstrip())
    click.echo(finding.summary, err=True)
    return core_cli.EXIT_OK


def main():
    core_cli.main(cli)
