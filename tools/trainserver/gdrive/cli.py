"""ts-gdrive-mount: the Google Shared Drive at [paths] storage/shared, with a full local cache."""

import sys

import click

from trainserver.core import cli as core_cli
from trainserver.core.checks import CHECK_EXIT_STATUS
from trainserver.gdrive import TOOL

EXIT_STATUS = {
    **CHECK_EXIT_STATUS,
    1: "check: a problem was found and repaired (a restart), or the cache is below 1 GiB; "
       "cache-size: the cache is below 1 GiB (the storage is too full); resize: a change "
       "postponed (uploads pending)",
    2: "check: the mount could not be repaired, or it keeps failing ([gdrive] "
       "restarts_critical restarts within restart_window); setup, serve, resize, unmount: "
       "failed or refused (the message says why)",
    75: "check and resize share a lock; the other held it for longer than this one waits "
        "(2 minutes); nothing was done",
}
LOCK_WAIT = 120


@core_cli.tool_group(TOOL, exit_status=EXIT_STATUS)
def cli():
    """The Google Shared Drive at /mnt/storage/shared, mounted by rclone with a full cache.

    The team's Google Workspace Shared Drive is mounted at [paths] storage/[gdrive] mount_dir
    by rclone with its full VFS cache, so that a file read once is read again from the local
    disk instead of from Google.

    \b
    Set up once: `ts-gdrive-mount setup --drive-id ID --service-account KEY.json` (or
    --token-stdin) writes the remote [gdrive] remote into [gdrive] rclone_config (0600) and
    enables ts-gdrive-mount.service. The package ships the service disabled: until setup has
    run nothing is mounted and the check stays quiet.

    \b
    The mount (ts-gdrive-mount.service, Type=notify, Restart=on-failure) runs
    `ts-gdrive-mount serve`, which computes the cache size and then becomes
      rclone mount REMOTE: /mnt/storage/shared --vfs-cache-mode full
        --cache-dir /mnt/storage/cache/gdrive --vfs-cache-max-age 30d
        --vfs-cache-max-size <computed> --allow-other --default-permissions
        --uid 0 --gid <[users] group> --umask 0002 --rc --rc-addr 127.0.0.1:<port>
    Directories are 0775 and files 0664, owned by root and the [users] group: every member
    of the group reads and writes, other accounts only read. Writes land in the cache and are
    uploaded 5 s after the file is closed. rclone runs with GOGC=off and
    GOMEMLIMIT=[gdrive] go_memory_limit (256 MiB): reads from the cache are bound by rclone's
    own garbage collection, and this made them 1.1 to 2.3 times as fast on the machines
    measured, for about 280 MiB of peak memory instead of 90 ("0": Go's defaults; raise it for
    a Drive of millions of files, whose listings alone need more).

    \b
    The cache size rule (`ts-gdrive-mount cache-size` shows the figures). The server manual
    says 80% of the space left after user data and snapshots. Taken literally, a full cache
    pushes the filesystem past ts-storage's warning once data and snapshots pass half the
    disk, and it eats ts-snapshot's min_free. So the cache gets the smallest of three:
      other = used - what the cache holds now   (user data, snapshots)
      left  = size - other
      a = cache_share_percent (80%) of left
      b = (full_warning_percent - cache_margin_percent) (90 - 5 = 85%) of size - other
      c = left - [snapshot] min_free
      cache = max(0, min(a, b, c))
    Size and used are ts-storage's own figures (`btrfs filesystem usage`: logical bytes, the
    second copy of RAID10 not counted twice). With 10 TB and 2 TB of other data, a binds
    (6.4 TB); with 5 TB, b binds (3.5 TB, not 4 TB). A cache below 1 GiB is a warning ("the
    storage is too full for a Drive cache"); the mount still runs and reads through to Drive.
    The size is computed each time the mount starts; ts-gdrive-mount-resize.timer recomputes
    it daily at 05:30 and restarts the mount when it moved more than 10% (not while uploads
    are pending). A restart ends reads of files that are open at that moment.

    \b
    Health (ts-gdrive-mount-check.timer, every 5 minutes, through ts-alert): a missing
    mount, a hung one (a stat that does not return within [gdrive] check_timeout; the stat
    runs in a child process that is killed, so the check never hangs) and a dead rclone are
    each repaired by restarting the service (a hung rclone is killed first). Each repair is a
    warning; [gdrive] restarts_critical repairs within restart_window are critical.

    \b
    Files: [gdrive] rclone_config (0600), [paths] secrets_dir/gdrive-service-account.json
    (0600), [paths] state_dir/gdrive-mount.json (what the running mount was given, with its
    remote control credentials; 0600) and gdrive-check.json (the repairs).
    """


def _settings(tool):
    from trainserver.gdrive.settings import Settings

    return Settings.from_config(tool.config)


def _state(tool, which):
    from trainserver.gdrive import settings as settings_module

    return tool.state_file(getattr(settings_module, which))


@cli.command()
@click.option("--drive-id", required=True, metavar="ID",
              help="The Shared Drive's id (the last part of its address in the browser).")
@click.option("--service-account", "service_account", metavar="FILE",
              type=click.Path(dir_okay=False),
              help="A service account's JSON key; it is copied into [paths] secrets_dir "
                   "(0600). The service account must be a member of the Shared Drive.")
@click.option("--token-stdin", is_flag=True,
              help="Read an OAuth token (the JSON line `rclone authorize \"drive\"` prints on "
                   "a machine with a browser) from standard input instead.")
@click.option("--no-start", is_flag=True, help="Write the config only; do not enable and "
                                                "start ts-gdrive-mount.service.")
@core_cli.dry_run_option
@click.pass_obj
def setup(tool, drive_id, service_account, token_stdin, no_start, dry_run):
    """Write the Shared Drive's rclone remote and start the mount.

    The remote [gdrive] remote (type drive, scope drive, team_drive ID, and the service
    account key or the token) is written into [gdrive] rclone_config, atomically and 0600
    (its directory 0700); other remotes and comments in that file are kept. Credentials are
    never printed: --dry-run shows the section with them masked. Then
    ts-gdrive-mount.service is enabled and started (restarted when the remote changed).
    Running it again with the same arguments changes nothing.
    """
    if bool(service_account) == bool(token_stdin):
        raise click.UsageError("give exactly one of --service-account FILE and --token-stdin")
    from trainserver.gdrive import actions

    token_text = sys.stdin.read() if token_stdin else None
    for line in actions.setup(_settings(tool), drive_id, service_account=service_account,
                              token_text=token_text, start=not no_start, dry_run=dry_run):
        click.echo(line)
    return core_cli.EXIT_OK


@cli.command()
@core_cli.dry_run_option
@click.pass_obj
def serve(tool, dry_run):
    """Run the mount (ts-gdrive-mount.service's ExecStart; not for use by hand).

    Refuses a missing or group-readable rclone_config, a missing mount point or cache
    directory and a missing [users] group. Computes the cache size, unmounts a stale mount
    left by a dead rclone, records what the mount is given in gdrive-mount.json (0600: it
    holds the remote control's password, made afresh at each start), then becomes `rclone
    mount` in the same process: the service's main PID is rclone's, and rclone's own
    READY=1 tells systemd the mount is up. --dry-run prints the command line and the
    environment (the password masked) and mounts nothing.
    """
    from trainserver.core import commands, secrets
    from trainserver.gdrive import actions

    settings = _settings(tool)
    argv, env, record = actions.prepare(settings)
    if dry_run:
        click.echo(commands.format_argv(argv))
        for key, value in sorted(env.items()):
            click.echo(f"{key}={secrets.mask(value)}")
        return core_cli.EXIT_OK
    actions.unmount(settings.mount_point)
    _state(tool, "MOUNT_STATE").save(record)
    actions.execute(argv, env)


@cli.command()
@core_cli.dry_run_option
@click.pass_obj
def unmount(tool, dry_run):
    """Lazily unmount the mount point if anything is mounted there (the service's
    ExecStopPost: a killed rclone leaves its mount behind, answering "Transport endpoint is
    not connected")."""
    from trainserver.gdrive import actions

    point = _settings(tool).mount_point
    if not actions.unmount(point):
        click.echo(f"nothing mounted at {point}")
    else:
        click.echo(f"{'dry run: would unmount' if dry_run else 'unmounted'} {point}")
    return core_cli.EXIT_OK


@cli.command("cache-size")
@core_cli.json_option
@click.pass_obj
def cache_size(tool, as_json):
    """Show the cache size rule's figures now: the filesystem's size and use, what the cache
    holds, the three limits and the one that binds. Exit 1 when the result is below 1 GiB
    (the storage is too full for a Drive cache)."""
    import json

    from trainserver.gdrive import actions, cachesize

    settings = _settings(tool)
    space, sized = actions.sizing(settings)
    if as_json:
        document = {"space": {"size": space.size, "used": space.used,
                              "cache_used": space.cache_used, "source": space.source},
                    "rule": {"share_percent": settings.rule.share_percent,
                             "full_warning_percent": settings.rule.full_warning_percent,
                             "margin_percent": settings.rule.margin_percent,
                             "min_free": settings.rule.min_free},
                    **sized.to_dict()}
        click.echo(json.dumps(document, indent=2))
    else:
        for line in cachesize.explain(space, settings.rule, sized):
            click.echo(line)
    return core_cli.EXIT_WARNING if sized.too_small else core_cli.EXIT_OK


@cli.command()
@core_cli.reports(core_cli.CHECK, job="gdrive-check")
@core_cli.dry_run_option
@click.pass_obj
def check(tool, as_json, dry_run):
    """Check the mount and repair it (every 5 minutes, from ts-gdrive-mount-check.timer).

    Finds a missing mount, a hung one (a stat of the mount point, in a child process killed
    after [gdrive] check_timeout) and a dead rclone (its process gone, or "Transport endpoint
    is not connected"); restarts ts-gdrive-mount.service (killing a hung rclone first),
    checks again, and reports: a repair that worked is a warning, [gdrive] restarts_critical
    repairs within restart_window or a repair that did not work are critical. A healthy
    mount is an ok finding; so is a Drive that is not set up (no remote, or the service not
    enabled). The cache limit the mount was given is a warning below 1 GiB. Writes
    trainserver_gdrive_* metrics. --dry-run reports and repairs nothing.
    """
    import time

    from trainserver.core.checks import report
    from trainserver.gdrive import actions

    settings = _settings(tool)
    with tool.lock(wait=LOCK_WAIT):
        found, metrics = actions.check(settings, _state(tool, "MOUNT_STATE"),
                                       _state(tool, "CHECK_STATE"), time.time(),
                                       dry_run=dry_run)
    if not dry_run:
        tool.write_metrics("trainserver_gdrive", metrics)
    return report(found, as_json)


@cli.command()
@core_cli.reports(core_cli.ACTION)
@core_cli.dry_run_option
@click.pass_obj
def resize(tool, as_json, dry_run):
    """Recompute the cache size and restart the mount when it moved more than 10% from what
    the running mount was given (daily at 05:30, from ts-gdrive-mount-resize.timer). Not
    while rclone reports uploads pending (a warning; the next day tries again)."""
    from trainserver.core.checks import report
    from trainserver.gdrive import actions

    with tool.lock(wait=LOCK_WAIT):
        found = actions.resize(_settings(tool), _state(tool, "MOUNT_STATE"), dry_run=dry_run)
    return report(found, as_json)


@cli.command()
@core_cli.json_option
@click.pass_obj
def stats(tool, as_json):
    """Show the cache: its size on disk and file count, and the limits in force (from
    rclone's remote control while the mount runs, with rclone's own count and pending
    uploads; otherwise from disk and the record of the last start). rclone's byte count is
    refreshed at its cache poll, once a minute; the size on disk is walked now."""
    import json

    from trainserver.core.units import format_size
    from trainserver.gdrive import actions

    result = actions.stats(_settings(tool), _state(tool, "MOUNT_STATE"))
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return core_cli.EXIT_OK
    click.echo(f"cache {result['cache_dir']}: {format_size(result['bytes_on_disk'])} on disk "
               f"in {result['files_on_disk']:,} files")
    if result["source"] == "remote control":
        click.echo(f"rclone: {format_size(result['bytes_used'] or 0)} in {result['files']} "
                   f"files, {result['uploads_in_progress']} uploading, "
                   f"{result['uploads_queued']} queued, {result['errored_files']} errored"
                   + (", OUT OF SPACE" if result.get("out_of_space") else ""))
    limit = format_size(result["max_size"]) if result["max_size"] else "none (not running)"
    click.echo(f"limits ({result['source']}): max size {limit}, max age "
               f"{result['max_age'] / 86400:g} days")
    return core_cli.EXIT_OK


def main():
    core_cli.main(cli)
