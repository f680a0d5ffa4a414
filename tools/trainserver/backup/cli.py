"""ts-backup: restic backups of the storage's snapshots to Google Drive through rclone."""

import sys

import click

from trainserver.core import cli as core_cli
from trainserver.core.checks import CHECK_EXIT_STATUS
from trainserver.backup import TOOL

STATE_NAME = "backup"
EXIT_STATUS = {
    **CHECK_EXIT_STATUS,
    1: "run, verify, prune: the worst finding is a warning (a configured subvolume not backed "
       "up, no backup yet to verify); the job itself was done",
    2: "run, prune: failed (critical; with --json a finding says why); verify: the repository "
       "or the restored sample is damaged; init, snapshots, restore: failed or refused",
    3: "verify: could not verify (with --json an unknown finding says why); any command: a "
       "usage or config error",
    75: "run, verify and prune share one lock with init and restore: run, verify and prune "
        "wait [backup] lock_wait for it, init and restore not at all; nothing was done (the "
        "message, and with --json a finding, names the holder)",
}


@core_cli.tool_group(TOOL, exit_status=EXIT_STATUS)
def cli():
    """Off-site backups of homes, docker-volumes and TensorBoard logs with restic, to the
    repository in [backup] (an rclone remote on Google Drive).

    ts-backup.timer runs `ts-backup run --json` daily at 06:00 through ts-alert: read-only
    BTRFS snapshots of the [backup] subvolumes, then `restic backup` reading them under their
    original paths (a private mount namespace binds each snapshot there), and the report: the
    daily run does this one job, and costs what restic's backup costs. A failed backup is a
    critical finding. With [backup] healthcheck_url set, each run pings its start and its end
    (with restic's last lines on failure). The repository password is read from [backup]
    password_file (root, 0600, not empty); restic's cache is [backup] cache_dir. The upload
    is limited to [backup] bandwidth and shares [network] upload_limit with ts-sync: a backup
    that starts while a sync uploads takes half of it, and the sync makes room
    (trainserver(7), UPLINK).

    ts-backup-prune.timer runs `prune` weekly (Sunday 09:00): the work that locks the
    repository exclusively, stale locks removed, `restic forget --prune` with keep_daily and
    keep_weekly (applied weekly, the policy keeps the same backups), and a `restic check` of
    the index and the packs that reads no data. ts-backup-verify.timer runs `verify` on the
    1st of each month at 08:00: it reads the next 1/verify_subsets of the packs, so every
    pack is read once in verify_subsets months (`status` shows when each part was last read).

    Each day's BTRFS snapshot has a new device ID. Debian 12's restic (0.14) stores it for
    every file and directory, so each run stores the metadata of every directory again (about
    340 bytes per file; dirs_changed in `status --json` shows it). A restic that lists the
    feature flag device-id-for-hardlinks in `restic features` (0.17 and later, Debian 13's
    0.18) runs the backup with RESTIC_FEATURES=device-id-for-hardlinks, which stores the device
    ID only for hard links; the first such run stores every directory once more.

    The three units run in a sandbox that leaves the file system read-only but for the storage,
    restic's cache, /etc/trainserver (rclone saves refreshed Drive tokens there) and the state.
    A repository on a local path (a NAS mount, a second disk) must be made writable for them:
    `systemctl edit ts-backup.service` (and ts-backup-verify.service, ts-backup-prune.service)
    with [Service] ReadWritePaths=/path/of/the/repository.
    """


def _settings(tool):
    from trainserver.backup.job import Settings

    return Settings.from_config(tool.config)


@cli.command()
@core_cli.dry_run_option
@click.pass_obj
def init(tool, dry_run):
    """Create the restic repository when it does not exist yet (nothing to do when it does).
    The password comes from [backup] password_file: keep a copy of it off this machine,
    since without it the backups cannot be read."""
    from trainserver.backup import job

    # By hand, at once: a person is told who holds the lock rather than left waiting for hours.
    with tool.lock():
        click.echo(job.init(_settings(tool)))
    return core_cli.EXIT_OK


@cli.command()
@core_cli.reports(core_cli.ACTION, job="backup")
@core_cli.dry_run_option
@click.pass_obj
def run(tool, as_json, dry_run):
    """Back up now: snapshots, then restic backup under the original paths. Retention is
    the weekly `prune`'s.

    Prints findings: `backup` (ok with what was saved, or critical with why: restic's error,
    or the files it could not read), and a warning for each configured subvolume that does
    not exist or is not a subvolume. A password file that is missing, empty or readable by
    others is refused before any snapshot and before the start ping. The last run is kept
    for `status` and written as trainserver_backup metrics.
    """
    import time

    from trainserver.backup import job, report
    from trainserver.core.checks import report as print_findings
    from trainserver.core.heartbeat import Heartbeat, log_tail

    settings = _settings(tool)
    # A config that cannot work (password file missing or readable by others, no rclone
    # config) is refused before the start ping: the admin must fix it, and the missing end
    # ping makes healthchecks.io alert too.
    job.preflight(settings)
    with tool.lock(wait=settings.lock_wait):
        beat = Heartbeat(settings.healthcheck_url)
        if not dry_run:
            beat.start()
        lines = []
        result = job.run(settings, now=time.time(), lines=lines)
        found = report.findings(result)
        if not dry_run:
            state = tool.state_file(STATE_NAME)
            previous = state.load({})
            record = report.status_record(result, previous if isinstance(previous, dict)
                                          else {})
            state.save(record)
            tool.write_metrics("trainserver_backup", report.metrics(record))
            text = log_tail(report.log_text(result, lines), 60)
            if result.ok:
                beat.success(text)
            else:
                beat.failure(2, text)
    return print_findings(found, as_json)


@cli.command()
@core_cli.json_option
@click.pass_obj
def snapshots(tool, as_json):
    """List the repository's snapshots made by this tool (its [backup] host and tag)."""
    import json

    from trainserver.backup import job

    found = job.snapshots(_settings(tool))
    if as_json:
        json.dump(found, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return core_cli.EXIT_OK
    for entry in found:
        click.echo(f"{entry['short_id']}  {entry['time'][:19]}  {', '.join(entry['paths'])}")
    click.echo(f"{len(found)} snapshots")
    return core_cli.EXIT_OK


@cli.command()
@core_cli.json_option
@click.pass_obj
def status(tool, as_json):
    """Show the last run and the last successful one, from the state file, and when every
    pack was last read by `verify` (the full-read cycle: verify_subsets months). Exit 0 when
    the last run succeeded, 2 when it failed, 3 when no run is on record."""
    import json
    import time

    from trainserver.backup import verify as verifying

    record = tool.state_file(STATE_NAME).load({})
    record = record if isinstance(record, dict) else {}
    subsets = _settings(tool).verify_subsets
    cycle = verifying.read_cycle(tool.state_file(STATE_NAME + "-verify").load({}), subsets)

    def when(stamp):
        return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(stamp))

    if as_json:
        json.dump(dict(record, packs_read=cycle), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for label, key in (("last run", "last_run"), ("last success", "last_success")):
            run_record = record.get(key)
            if not run_record:
                click.echo(f"{label}: none on record")
                continue
            click.echo(f"{label}: {when(run_record['time'])}: {run_record['summary']}")
        click.echo(f"packs: {verifying.cycle_text(cycle, when)}")
    last = record.get("last_run")
    if not last:
        return core_cli.EXIT_UNKNOWN
    return core_cli.EXIT_OK if last["ok"] else core_cli.EXIT_CRITICAL


@cli.command()
@core_cli.reports(core_cli.CHECK, job="backup-verify")
@click.pass_obj
def verify(tool, as_json):
    """Prove the backups can be read back (monthly, from ts-backup-verify.timer).

    `restic check --read-data-subset n/T` reads the next T-th of the repository's packs
    (T = [backup] verify_subsets, so every pack is read over T runs); then random directories
    of the last backup (at most verify_sample_dirs, verify_sample_bytes in all) are restored
    into a temporary directory and every file compared with the BTRFS snapshot that backup
    read. Errors in the check, or any file that differs, are critical.
    """
    import time

    from trainserver.backup import verify as verifying
    from trainserver.core.checks import report as print_findings

    settings = _settings(tool)
    # Waits for a running backup (up to [backup] lock_wait) rather than skipping the month.
    with tool.lock(wait=settings.lock_wait):
        record = tool.state_file(STATE_NAME).load({})
        position_file = tool.state_file(STATE_NAME + "-verify")
        state = position_file.load({})
        state = state if isinstance(state, dict) else {}
        subset = verifying.subset_for(state.get("next_subset", 1), settings.verify_subsets)
        found, _ = verifying.verify(
            settings, record if isinstance(record, dict) else {}, subset,
            settings.verify_subsets, max_dirs=settings.verify_sample_dirs,
            max_bytes=settings.verify_sample_bytes)
        checked = all(f.severity.label == "ok" for f in found if f.check == "check")
        position_file.save(verifying.record_read(state, subset, settings.verify_subsets,
                                                 checked, time.time()))
    return print_findings(found, as_json)


@cli.command()
@core_cli.reports(core_cli.ACTION, job="backup-prune")
@core_cli.dry_run_option
@click.pass_obj
def prune(tool, as_json, dry_run):
    """The weekly repository work (ts-backup-prune.timer), which locks it exclusively.

    Stale locks are removed (never a live run's), then `restic forget --prune` applies
    [backup] keep_daily and keep_weekly and frees the data no snapshot needs any more
    (--max-unused [backup] prune_max_unused; a week that forgot nothing still gets a `restic
    prune`, for the packs killed backups left). Then `restic check` reads the index and checks
    every pack's presence and size, without reading data: a lost or cut pack is found within a
    week, and named. Findings: `forget`, `prune`, `structure`; a failure is critical.
    """
    from trainserver.backup import job
    from trainserver.core.checks import report as print_findings

    settings = _settings(tool)
    with tool.lock(wait=settings.lock_wait):
        found = job.prune(settings)
    return print_findings(found, as_json)


@cli.command()
@click.argument("path")
@click.option("--from", "source", default="latest", show_default=True, metavar="ID",
              help="The restic snapshot to restore from (ts-backup snapshots lists them).")
@click.option("--to", "destination", metavar="DEST",
              help="Where to put the copy [default: PATH itself].")
@click.option("--overwrite", is_flag=True,
              help="Replace DEST when it exists; the replaced version is kept aside as "
                   "DEST.replaced-<UTC time> (as ts-snapshot restore does).")
@core_cli.dry_run_option
@click.pass_obj
def restore(tool, path, source, destination, overwrite, dry_run):
    """Restore PATH (a file or directory, as it was backed up, such as
    /mnt/storage/homes/alice/project) from the repository.

    It goes to PATH itself unless --to names another place. An existing destination is
    refused without --overwrite, and with it the old version is renamed aside, not deleted;
    ts-snapshot restore takes the same options.

    A destination that is a whole subvolume (/mnt/storage/docker-volumes, a home) is restored
    into a new subvolume that takes its place, so it stays in the backups and the snapshots;
    the subvolumes nested in it are made anew and restored too, and the replaced copy keeps the
    old ones. A mount point is refused: restore it elsewhere with --to."""
    from trainserver.backup import restore as restoring

    with tool.lock():  # by hand: says at once who holds it (exit 75), as init does
        placed, kept = restoring.restore(_settings(tool), path, source=source,
                                         destination=destination, overwrite=overwrite)
    click.echo(("dry run: would restore" if dry_run else "restored") +
               f" {path} from snapshot {source} to {placed}")
    if kept:
        click.echo(("the version it would replace would be kept as " if dry_run else
                    "the version it replaced is kept as ") + kept)
    return core_cli.EXIT_OK


def main():
    core_cli.main(cli)
