"""ts-snapshot: read-only BTRFS snapshots with counted retention (24 hourly, 7 daily, 4 weekly)."""

import sys

import click

from trainserver.core import cli as core_cli
from trainserver.snapshot import TOOL

EXIT_STATUS = {
    0: "success: every snapshot made or deleted as planned",
    1: "a warning (a configured subvolume missing, free space below min_free: the "
       "free-space guard deleted kept snapshots, or found that they do not hold the space)",
    2: "critical: a snapshot could not be created or deleted; restore refused or failed; the "
       "storage is configured but not a mounted BTRFS filesystem, so nothing was done (a "
       "machine without the storage: 0, with one finding saying so)",
    3: "unknown: a usage or config error; plan and list when the storage is configured but "
       "not a mounted BTRFS filesystem",
    75: "another run (a long prune, a restore) held the lock for [snapshot] lock_wait; nothing "
        "was done (with --json a finding names the holder)",
}


@core_cli.tool_group(TOOL, exit_status=EXIT_STATUS)
def cli():
    """Read-only BTRFS snapshots of homes, docker-volumes and TensorBoard logs.

    Each configured subvolume (and each subvolume nested in it) is snapshotted into
    SNAPSHOT_DIR/<subvolume path>/<UTC time>, for example
    /mnt/storage/snapshots/homes/alice/20261128T160000Z. Retention counts periods that contain
    snapshots: the first snapshot of each of the newest 24 hours, 7 days (from 02:00) and
    4 weeks (from Sunday 03:00) that have one, in local time, plus the newest and any younger
    than min_age.

    Only snapshots ts-snapshot made are ever deleted: it records each one it creates (UUID and
    path, in [paths] state_dir/snapshot-record.json). Anything else under SNAPSHOT_DIR (a
    snapshot made by hand, a keepsake of `ts-users remove`, a directory such as keep/ or
    old-stuff/, a file) is reported as left alone and never deleted. When no record exists
    yet (snapshots of an earlier version, or a lost state directory), the first run that
    changes anything adopts the read-only snapshots of each configured subvolume that sit
    directly in its series directory and are snapshots of that very subvolume (parent UUID),
    except keepsakes ts-users recorded.

    ts-snapshot.timer runs `ts-snapshot run --json` hourly through ts-alert.
    """


def _settings(tool):
    from trainserver.snapshot.actions import Settings

    return Settings(tool.config)


def _now(now):
    """The moment a command acts as of: --now (Unix seconds, from core.cli.now_option) or now."""
    import datetime as dt

    return dt.datetime.fromtimestamp(now, dt.timezone.utc) if now is not None \
        else dt.datetime.now(dt.timezone.utc)


def _finish(tool, settings, findings, as_json, now=None):
    from trainserver.core import commands
    from trainserver.core.checks import report
    from trainserver.snapshot import actions

    if not commands.dry_run() and actions.storage_problem(settings) is None:
        tool.write_metrics("trainserver_snapshot",
                           actions.metrics(settings, actions.make_plan(settings, _now(None))))
    return report(findings, as_json)


@cli.command()
@core_cli.reports(core_cli.ACTION, job="snapshot")
@core_cli.dry_run_option
@click.pass_obj
def create(tool, as_json, dry_run):
    """Snapshot every configured subvolume read-only, now.

    Prints one finding per subvolume. A plain directory where a subvolume was expected, or a
    configured subvolume that does not exist, is a warning; a snapshot that fails is critical.
    """
    from trainserver.snapshot import actions

    settings = _settings(tool)
    with tool.lock(wait=settings.lock_wait):
        problem = actions.storage_problem(settings)
        findings = [problem] if problem else actions.create(settings)
        return _finish(tool, settings, findings, as_json)


@cli.command()
@core_cli.reports(core_cli.ACTION)
@core_cli.dry_run_option
@core_cli.now_option("Prune as if it were this time (for testing a policy).")
@click.pass_obj
def prune(tool, as_json, dry_run, now):
    """Delete the snapshots that `plan` marks DELETE, then apply the free-space guard.

    The batch is committed and the BTRFS cleaner waited for, so the space is back when prune
    returns rather than a minute later (BTRFS commits every 30 s on its own). When free space is
    below [snapshot] min_free, kept snapshots are deleted next, oldest first and one at a time,
    each committed and the space it gave back measured, until free space is above the floor;
    never a subvolume's newest, newest daily or newest weekly, nor one younger than min_age.

    The guard stops as soon as deletions stop giving space back (two in a row each gave back
    less than 1% of min_free): then live data holds the space, and the warning says which
    subvolumes hold how much and how much each grew since its oldest snapshot (measured by
    walking them, as du does, within 2 minutes). After such a stop, later runs delete nothing
    until the live data has shrunk. Every guard action is reported as a warning.
    """
    from trainserver.snapshot import actions

    settings = _settings(tool)
    now = _now(now)
    with tool.lock(wait=settings.lock_wait):
        problem = actions.storage_problem(settings)
        findings = [problem] if problem else actions.prune(settings, now)
        return _finish(tool, settings, findings, as_json)


@cli.command()
@core_cli.reports(core_cli.ACTION, job="snapshot")
@core_cli.dry_run_option
@click.pass_obj
def run(tool, as_json, dry_run):
    """create, then prune: what the hourly timer runs. Pruning runs even when a create failed."""
    from trainserver.snapshot import actions

    settings = _settings(tool)
    with tool.lock(wait=settings.lock_wait):
        problem = actions.storage_problem(settings)
        if problem:
            return _finish(tool, settings, [problem], as_json)
        findings = actions.adopt(settings)
        try:
            findings += actions.create(settings, adopting=False)
        finally:
            findings += actions.prune(settings, adopting=False)
        return _finish(tool, settings, findings, as_json)


@cli.command()
@core_cli.json_option
@core_cli.now_option("Plan as if it were this time: what would pruning do at TIME?")
@click.pass_obj
def plan(tool, as_json, now):
    """List every snapshot as keep or DELETE, with the rules that keep it. Changes nothing."""
    return _show(tool, as_json, now, show_age=False)


@cli.command(name="list")
@core_cli.json_option
@core_cli.now_option("Compute ages and rules as of this time.")
@click.pass_obj
def list_(tool, as_json, now):
    """Show each subvolume's snapshots, newest first, with age and the rules keeping each."""
    return _show(tool, as_json, now, show_age=True)


def _show(tool, as_json, now, show_age):
    import json

    from trainserver.core.findings import Severity
    from trainserver.snapshot import actions, render

    settings = _settings(tool)
    now = _now(now)
    problem = actions.storage_problem(settings)
    if problem:
        click.echo(problem.summary, err=True)
        return core_cli.EXIT_OK if problem.severity == Severity.OK else core_cli.EXIT_UNKNOWN
    plan_ = actions.make_plan(settings, now)
    if as_json:
        json.dump(render.plan_json(plan_), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        click.echo(render.plan_text(plan_, show_age=show_age), nl=False)
    return core_cli.EXIT_OK


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--from", "source", metavar="SNAPSHOT",
              help="Snapshot to restore from, by name (20261128T160000Z) or path "
                   "[default: the newest snapshot holding PATH].")
@click.option("--to", "destination", metavar="DEST", type=click.Path(),
              help="Where to put the copy [default: PATH itself].")
@click.option("--overwrite", is_flag=True,
              help="Replace DEST when it exists; the replaced version is kept aside as "
                   "DEST.replaced-<UTC time> (as ts-backup restore does).")
@core_cli.dry_run_option
@click.pass_obj
def restore(tool, path, source, destination, overwrite, dry_run):
    """Copy the file or directory PATH back out of a snapshot, with reflinks.

    PATH is the live path (it may have been deleted), for example
    /mnt/storage/homes/alice/project/train.py. The copy shares the snapshot's data (instant, no
    space used) and keeps owners, modes and times. It goes to PATH itself unless --to names
    another place. An existing destination is refused without --overwrite, and with it the old
    version is renamed aside, not deleted; ts-backup restore takes the same options.

    A whole subvolume restored over itself (a home, /mnt/storage/docker-volumes) becomes a
    new subvolume that takes its place, so it stays in the snapshots and the backups; the live
    subvolumes nested in it move into the restored one.
    """
    import os

    from trainserver.snapshot import actions, restore as restore_module

    settings = _settings(tool)
    path = os.path.abspath(path)
    destination = os.path.abspath(destination) if destination else path
    # The lock keeps an hourly prune from deleting the snapshot mid-copy; wait out a run.
    with tool.lock(wait=300):
        found = actions.scan(settings)
        snap, source_path = restore_module.choose(found, settings.storage, path, source)
        aside = restore_module.restore(source_path, destination, overwrite=overwrite)
    verb = "would restore" if dry_run else "restored"
    click.echo(f"{verb} {destination} from snapshot {snap.series}/{snap.name}")
    if aside:
        click.echo(("the version it would replace would be kept as " if dry_run else
                    "the version it replaced is kept as ") + aside)
    return core_cli.EXIT_OK


def main():
    core_cli.main(cli)
