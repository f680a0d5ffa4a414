"""`ts-docker configure`: the one click command; the lead's cli.py adds it to the group."""

import click

from trainserver.core import cli as core_cli
from trainserver.services.output import finish
from trainserver.services import TOOL


def settings_of(config, daemon_json=None):
    from trainserver.services.daemon_config import Settings

    table = config["docker"]
    return Settings(
        daemon_json=daemon_json or table["daemon_json"], data_root=table["data_root"],
        storage=config["paths"]["storage"], snapshot_patterns=config["snapshot"]["subvolumes"],
        backup_patterns=config["backup"]["subvolumes"],
        storage_driver=table["storage_driver"], log_max_size=int(table["log_max_size"]),
        log_max_files=int(table["log_max_files"]))


def _finding(check, subject, severity, summary, value=None):
    from trainserver.core.findings import Finding

    return Finding(TOOL, check, subject, severity, summary, value)


@click.command()
@core_cli.reports(core_cli.ACTION)
@core_cli.dry_run_option
@click.option("--daemon-json", metavar="PATH", type=click.Path(dir_okay=False),
              help="Work on this file instead of [docker] daemon_json (for tests, or to "
                   "prepare a file for another machine; use it with --no-restart).")
@click.option("--no-restart", is_flag=True,
              help="Write the file but do not restart Docker: the settings apply at its next "
                   "start.")
@click.pass_obj
def configure(tool, as_json, dry_run, daemon_json, no_restart):
    """Set Docker up for this server's storage: merge the keys below into
    /etc/docker/daemon.json ([docker] daemon_json), keep everything else the admin wrote, check
    the result, and restart Docker.

    \b
    The keys configure owns (all others stay as they are, in their place):
      data-root       [docker] data_root (default /mnt/storage/docker)
      storage-driver  from the filesystem under the data root: btrfs on BTRFS,
                      overlay2 on ext4 and xfs ([docker] storage_driver = auto);
                      a driver named in [docker] storage_driver must fit that filesystem
      log-driver      json-file, unless the admin set another one: that is kept, and
                      then log-opts is left alone too
      log-opts        max-size ([docker] log_max_size) and max-file ([docker]
                      log_max_files); other log options stay
      runtimes.nvidia added when nvidia-container-toolkit is installed
                      (nvidia-container-runtime on PATH); an existing one is kept.
                      default-runtime is left alone: workspaces ask for GPUs themselves
      live-restore    true: containers keep running while dockerd restarts

    THE DATA ROOT NEVER LIES IN A SNAPSHOTTED OR BACKED-UP SUBVOLUME. ts-snapshot and
    ts-backup take [snapshot] subvolumes and [backup] subvolumes (glob patterns below [paths]
    storage) and every subvolume nested below a match, so a data root under homes/* or
    docker-volumes would put every image layer into the hourly snapshots and the daily upload.
    configure refuses such a data root (exit 2), and one that is [paths] storage itself or
    holds covered paths, and says where it should go: [paths] storage/docker, or
    /var/lib/docker. A missing data root is made root-only (0710): a subvolume of its own when
    its parent is on BTRFS, a directory otherwise.

    Refused, with the reason: the legacy storage drivers, whether daemon.json already names
    one or [docker] storage_driver asks for it (aufs and overlay: removed in Docker 24.0;
    devicemapper: disabled by default in 23.0, removed in 25.0); a driver that does not fit
    the filesystem (btrfs on ext4; overlay2 on BTRFS, which dockerd refuses); a filesystem
    that is neither BTRFS, ext4 nor xfs; a daemon.json that is not a JSON object; a key
    configure writes that dockerd's command line in docker.service or DOCKER_OPTS in
    /etc/default/docker also sets (dockerd refuses to start when a setting comes both ways);
    and moving the data root or changing the driver while containers run (with live-restore
    they would go on running out of Docker's sight: ts-docker down first).

    Changing the data root or the storage driver of a Docker that has images hides them: they
    stay in the old place, nothing is deleted. configure says so in a warning finding that
    names the old directory (exit 1).

    The new file is checked before it is installed: `dockerd --validate` where the installed
    dockerd has it (Docker 23 and later, found from its --help; Debian 12's 20.10 has not),
    else the types of the keys configure writes. The first file it replaces is kept as
    daemon.json.trainserver-old (once: later runs keep that first one). The file is replaced
    atomically, then docker.service is restarted when the content changed, Docker runs and
    --no-restart is not given, and `docker info` must answer within 90 s; otherwise the old
    file is put back, Docker is restarted again and the finding is critical (exit 2).

    --dry-run prints the change as a diff and changes nothing; a second run finds nothing to
    change. With --json, findings: daemon-json (the file), data-root (hidden images), restart.
    """
    from trainserver.core.findings import Severity
    from trainserver.services import daemon_config

    settings = settings_of(tool.config, daemon_json)
    path = settings.daemon_json
    try:
        with tool.lock():
            return _configure(settings, path, as_json, dry_run, no_restart)
    except daemon_config.Refusal as exc:
        return finish([_finding("daemon-json", path, Severity.CRITICAL,
                                 f"{path}: refused: {exc}")], as_json)


def _configure(settings, path, as_json, dry_run, no_restart):
    import os

    from trainserver.core.findings import Severity
    from trainserver.services import daemon_apply, daemon_config

    old_text, facts = daemon_apply.gather(settings)
    plan = daemon_config.make_plan(settings, facts)
    new_text = daemon_config.render(plan.config)
    findings = [_finding("data-root", settings.data_root, Severity.WARNING, warning)
                for warning in plan.warnings]
    lines = [f"note: {note}" for note in plan.notes]
    # A file with the right values but written otherwise (spacing) is left as it is.
    changed = plan.changed
    if not changed and not plan.create_root:
        findings.append(_finding("daemon-json", path, Severity.OK, f"{path}: nothing to change "
                                 f"(storage driver {plan.driver})", 0))
        return finish(findings, as_json, lines)

    conflicts = daemon_config.flag_conflicts(daemon_apply.service_argv(), plan.config)
    if conflicts:
        said = ", ".join(f"{key} (also {flag})" for key, flag in conflicts)
        raise daemon_config.Refusal(
            f"dockerd's command line (docker.service, DOCKER_OPTS) already sets {said}: dockerd "
            f"would refuse to start; remove them there first")
    if plan.relocates:
        running = daemon_apply.running_containers()
        if running:
            raise daemon_config.Refusal(
                f"{len(running)} containers are running and {plan.relocates} would change: "
                f"stop them first (ts-docker down), then run configure again")

    if not as_json:
        lines.append(daemon_config.diff(old_text, new_text, path).rstrip("\n") or
                     f"{path}: only the data root is missing")
    verb = "would " if dry_run else ""
    steps = []
    if plan.create_root:
        steps.append(f"{verb}create {settings.data_root} ({plan.create_root})")
    if dry_run:
        steps.append(f"would write {path} ({len(plan.changes)} keys)")
        findings.append(_finding("daemon-json", path, Severity.OK,
                                 f"{path}: dry run: " + "; ".join(steps), len(plan.changes)))
        return finish(findings, as_json, lines)

    problems = daemon_apply.validate(new_text, path)
    if problems:
        findings.append(_finding("daemon-json", path, Severity.CRITICAL,
                                 f"{path}: the merged file does not validate, nothing was "
                                 f"changed: " + "; ".join(problems)))
        return finish(findings, as_json, lines)
    if plan.create_root:
        daemon_apply.make_root(settings.data_root, plan.create_root)
    existed = facts.current is not None or os.path.exists(path)
    backup = daemon_apply.write(path, new_text, old_text, existed)
    keys = ", ".join(key for key, _, _ in plan.changes) or "none"
    kept = f"; the first file replaced is kept as {backup}" if backup else ""
    findings.append(_finding("daemon-json", path, Severity.OK,
                             f"{path}: written (storage driver {plan.driver}; changed: "
                             f"{keys}){kept}", len(plan.changes)))
    findings.append(_restart(path, old_text, existed, no_restart, plan.changed))
    return finish(findings, as_json, lines)


def _restart(path, old_text, existed, no_restart, changed):
    from trainserver.core.findings import Severity
    from trainserver.services import daemon_apply

    unit = "docker.service"
    if no_restart or not changed:
        return _finding("restart", unit, Severity.OK,
                        f"{unit}: not restarted (--no-restart): the settings apply at its next "
                        f"start" if no_restart else f"{unit}: no restart needed")
    if not daemon_apply.docker_active():
        return _finding("restart", unit, Severity.OK,
                        f"{unit}: not running: the settings apply when it starts")
    if daemon_apply.restart_and_wait():
        return _finding("restart", unit, Severity.OK, f"{unit}: restarted, docker info answers")
    daemon_apply.restore(path, old_text, existed)
    back = daemon_apply.restart_and_wait()
    return _finding("restart", unit, Severity.CRITICAL,
                    f"{unit}: Docker did not come back with the new {path}; the old file was "
                    f"put back and Docker " + ("runs again with it" if back else
                                               "does not answer either: see journalctl -u "
                                               "docker"))
