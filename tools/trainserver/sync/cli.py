"""ts-sync: the daily copy of customer data from Google Cloud Storage to the Shared Drive,
and the one-time migration."""

import sys

import click

from trainserver.core import cli as core_cli
from trainserver.sync import TOOL

STATE_NAME = "sync"
EXIT_STATUS = {
    1: "run, migrate: Drive's daily upload cap stopped the copy (a warning finding; the rest "
       "follows on the next run)",
    2: "run, migrate: the copy failed or was refused (critical; with --json a finding says "
       "why), --max-delete stopped a mirror, or the verification found mismatches",
    3: "a usage or config error",
    75: "run: the previous run still holds the lock \"sync\"; migrate: another migration holds "
        "\"sync-migrate\"; nothing was done (the message, and with --json a finding, names "
        "the holder)",
}


@core_cli.tool_group(TOOL, exit_status=EXIT_STATUS)
def cli():
    """Copy customer data from a Google Cloud Storage bucket to the Shared Drive with rclone
    (Debian's rclone, remotes in [gdrive] rclone_config).

    ts-sync.timer runs `ts-sync run --json` daily at 04:00 through ts-alert. By default
    ([sync] mode = "copy") it runs `rclone copy` from [sync] source to [sync] destination:
    new and changed files are copied, and nothing is ever deleted at the destination. Mirror
    mode ([sync] mode = "mirror", asked for explicitly) runs `rclone sync`, which also
    removes what left the source; every deleted or overwritten file is moved into a dated
    folder of that run under [sync] backup_dir (on the destination's remote, beside it, not
    inside it), and a run that would remove more than [sync] max_delete files stops there
    (rclone --max-delete) with a critical finding. With [sync] source empty the run does
    nothing and says so.

    Drive accepts about 750 GB of uploads per account and day ([sync] daily_upload_cap). Runs
    use --drive-stop-on-upload-limit: at the cap rclone stops instead of retrying for hours,
    and the run reports a warning ("Drive's daily upload cap reached after N GB; the rest
    follows on the next run"), not a crash. Other rclone failures are critical, with rclone's
    error lines. Each run parses rclone's JSON log (--use-json-log) into a summary (files,
    bytes, errors, duration), kept for `ts-sync status` and written as trainserver_sync_*
    metrics; with [sync] healthcheck_url set it pings its start and its end. A run started
    while the previous one still holds the lock exits 75 at once, naming the holder.

    \b
    The shared uplink. The office uplink carries the backup too: ts-backup starts at 06:00,
    and a sync that runs longer than two hours would otherwise upload beside it at the full
    rate, twice [network] upload_limit together. Decision: the two split the uplink.
    - Every upload holds a claim on [network] upload_limit (core.uplink: a file under
      [paths] lock_dir under an flock, dropped by the kernel when its holder dies).
    - restic's rate is fixed for its run; rclone's is not: ts-sync starts rclone with
      --bwlimit at its share and its remote control on 127.0.0.1, and every 10 seconds
      computes its share again and sets it live (rc core/bwlimit).
    - A backup that starts while a sync runs takes half the uplink; the sync drops to the
      other half within seconds. When the backup ends, the sync gets the whole uplink
      (capped by [sync] bandwidth) back within seconds.
    - A sync (or migration) that starts while a backup holds the whole uplink waits, logging
      who holds it, and starts when the backup ends.
    - A migration and the daily run are two uploaders and share the same way.

    The migration (`ts-sync migrate`) is the one-time bulk copy: resumable (a re-run skips
    what has arrived), with progress for an admin and a verification by `rclone check`.
    Plan with `ts-sync estimate`: 50 TB take about 46 days at 100 Mbit/s, and at least 67
    days under Drive's 750 GB/day cap, which binds. The server manual's "7-10 days" is wrong.
    """


def _settings(tool):
    from trainserver.sync.plan import Settings

    return Settings.from_config(tool.config)


def _print(found, as_json, lines=()):
    from trainserver.core.checks import report as print_findings

    # Under --json stdout carries findings only: the list goes to stderr.
    for line in lines:
        click.echo(line, err=as_json)
    return print_findings(found, as_json)


@cli.command()
@core_cli.reports(core_cli.ACTION, job="sync")
@core_cli.dry_run_option
@click.pass_obj
def run(tool, as_json, dry_run):
    """Copy (or mirror) [sync] source to [sync] destination now.

    Prints the finding `run`: ok with what was copied; a warning when Drive's daily upload cap
    stopped the copy; critical when --max-delete stopped a mirror (with the count), or rclone
    failed (with its error lines). With --dry-run, lists what would be transferred, replaced
    or deleted, and changes nothing.
    """
    import time

    from trainserver.core.findings import Finding, Severity
    from trainserver.core.heartbeat import Heartbeat, log_tail
    from trainserver.sync import job, report

    settings = _settings(tool)
    if not settings.source:
        found = [Finding(report.TOOL, "run", settings.destination or "sync", Severity.OK,
                         "not configured: [sync] source is empty, nothing to copy")]
        return _print(found, as_json)
    job.preflight(settings)
    with tool.lock("sync"):
        beat = Heartbeat(settings.healthcheck_url)
        if not dry_run:
            beat.start()
        started = time.time()
        outcome = job.run(settings, started, dry_run=dry_run)
        subject = f"{settings.source} -> {settings.destination}"
        if dry_run:
            return _print([report.dry_run_finding(outcome, "run", subject)], as_json,
                          report.would_lines(outcome))
        finding = report.copy_finding(outcome, "run", subject, settings.max_delete)
        state = tool.state_file(STATE_NAME)
        previous = state.load({})
        record = report.status_record(outcome, started, previous if isinstance(previous, dict)
                                      else {})
        state.save(record)
        tool.write_metrics("trainserver_sync", report.metrics(record))
        text = log_tail(finding.summary + "\n" + "\n".join(outcome.tail) + "\n", 60)
        if record["last_run"]["ok"]:
            beat.success(text)
        else:
            beat.failure(2, text)
    return _print([finding], as_json)


@cli.command()
@click.option("--from", "source", metavar="RCLONE_PATH",
              help="What to copy (default: [sync] source).")
@click.option("--to", "destination", metavar="RCLONE_PATH",
              help="Where to (default: [sync] destination).")
@click.option("--yes", is_flag=True, help="Start the copy (without it, only --dry-run and "
              "--verify-only run).")
@click.option("--verify-only", is_flag=True, help="Only run the verification.")
@core_cli.reports(core_cli.ACTION)
@core_cli.dry_run_option
@click.pass_obj
def migrate(tool, source, destination, yes, verify_only, as_json, dry_run):
    """The one-time bulk copy from SOURCE to DESTINATION, resumable, then verified.

    First the sizes of both sides (`rclone size`) and the estimate of the time left. Then
    `rclone copy`: it skips what an earlier run copied, so the migration can be stopped (or
    killed) and started again as often as needed; Drive's daily upload cap stops it for the
    day with a warning, and the next run goes on. Progress (bytes at the destination, rate,
    time left) goes to stderr: one line rewritten in place on a terminal, a line every 10
    seconds in a journal. The uplink is shared as for `run` (lock and claim
    "sync-migrate").

    When the copy is complete, `rclone check --one-way` verifies that every source file is at
    the destination: by checksum where both sides have a common hash (GCS and Drive share
    MD5), by size otherwise, and the finding says which. Every mismatch (missing, differing,
    unreadable) is a critical finding (at most 1000; the full list goes to
    STATE_DIR/sync-migrate-mismatches.txt), and the command exits 2.
    """
    import os

    from trainserver.sync import job, report

    settings = _settings(tool)
    source = source or settings.source
    destination = destination or settings.destination
    if not source or not destination:
        raise click.UsageError("no source: set [sync] source or give --from (and --to)")
    if not (yes or dry_run or verify_only):
        raise click.UsageError("the migration uploads for weeks: add --yes to start it (or "
                               "--dry-run to see what it would copy)")
    from trainserver.core import secrets

    secrets.check_file(settings.rclone_config)
    subject = f"{source} -> {destination}"
    keep = os.path.join(tool.config["paths"]["state_dir"], "sync-migrate-mismatches.txt")
    with tool.lock("sync-migrate"):
        if verify_only:
            return _print(job.check_findings(settings, source, destination, keep), as_json)
        outcome, lines = job.migrate(settings, source, destination, dry_run=dry_run)
        if dry_run:
            return _print([report.dry_run_finding(outcome, "migrate", subject)], as_json,
                          report.would_lines(outcome))
        finding = report.copy_finding(outcome, "migrate", subject,
                                      next_step="the next `ts-sync migrate --yes` (tomorrow)")
        found = [finding]
        if outcome.returncode == 0:
            found += job.check_findings(settings, source, destination, keep)
    return _print(found, as_json)


@cli.command()
@click.argument("size", required=False)
@core_cli.json_option
@click.pass_obj
def estimate(tool, size, as_json):
    """How long copying SIZE (such as "50TB"; default: the size of [sync] source, from
    `rclone size`) to Drive takes: at the configured rate (the smaller of [sync] bandwidth
    and [network] upload_limit), and under Drive's daily upload cap; the slower decides."""
    import json

    from trainserver.core.units import UnitError, parse_size
    from trainserver.sync import estimate as estimating
    from trainserver.sync import job

    settings = _settings(tool)
    if size is None:
        if not settings.source:
            raise click.UsageError("give a SIZE, or set [sync] source")
        n_bytes = job.size(settings, settings.source)
    else:
        try:
            n_bytes = parse_size(size)
        except UnitError as exc:
            raise click.BadParameter(str(exc), param_hint="SIZE") from None
    found = estimating.estimate(n_bytes, job.own_rate(settings), settings.daily_upload_cap)
    verdict = estimating.manual_verdict(found)
    if as_json:
        json.dump({"bytes": found.size, "rate": found.rate, "daily_upload_cap": found.cap,
                   "line_days": round(found.line_days, 2), "cap_days": found.whole_cap_days,
                   "days": round(found.days, 2), "binds": found.binds,
                   "manual": verdict}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return core_cli.EXIT_OK
    for line in estimating.describe(found) + ([verdict] if verdict else []):
        click.echo(line)
    return core_cli.EXIT_OK


@cli.command()
@core_cli.json_option
@click.pass_obj
def status(tool, as_json):
    """Show the last daily run and the last successful one. Exit 0 when the last run did its
    job, 2 when it failed, 3 when no run is on record."""
    import json
    import time

    record = tool.state_file(STATE_NAME).load({})
    if as_json:
        json.dump(record, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for label, key in (("last run", "last_run"), ("last success", "last_success")):
            run_record = (record or {}).get(key)
            if not run_record:
                click.echo(f"{label}: none on record")
                continue
            when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(run_record["time"]))
            click.echo(f"{label}: {when}: {run_record['summary']}")
    last = (record or {}).get("last_run")
    if not last:
        return core_cli.EXIT_UNKNOWN
    return core_cli.EXIT_OK if last["ok"] else core_cli.EXIT_CRITICAL


def main():
    core_cli.main(cli)
