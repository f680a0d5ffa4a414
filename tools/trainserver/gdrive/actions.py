"""What each command does with the system: setup, serve, unmount, check, resize, stats."""

import logging
import os
import time

from trainserver.core import commands, secrets
from trainserver.core.errors import ActionError, CommandError
from trainserver.core.findings import Finding, Severity
from trainserver.gdrive import cachesize, facts, health, mountargs, remoteconf, service
from trainserver.gdrive.settings import SERVICE_ACCOUNT_FILE, UNIT

log = logging.getLogger(__name__)
DRIVE_ID_HINT = ("the Shared Drive's id: the last part of its address in the browser "
                 "(drive.google.com/drive/folders/ID)")


# --- setup -------------------------------------------------------------------------------

def setup(settings, drive_id, service_account=None, token_text=None, start=True,
          dry_run=False):
    """Write the remote (and the copied key file); enable and start the mount. Returns the
    lines to show (never a credential)."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9_-]{8,}", drive_id or ""):
        raise ActionError(f"--drive-id {drive_id!r} does not look like {DRIVE_ID_HINT}")
    lines = []
    key_text = key_path = None
    if service_account:
        key_text, email = remoteconf.read_service_account(service_account)
        key_path = os.path.join(settings.secrets_dir, SERVICE_ACCOUNT_FILE)
        values = remoteconf.drive_section(drive_id, service_account_file=key_path)
        who = f"service account {email} (its key copied to {key_path}; give it access to the " \
              "Shared Drive as a member)"
    else:
        token = remoteconf.parse_token(token_text)
        secrets.register(token)
        values = remoteconf.drive_section(drive_id, token=token)
        who = "an OAuth token (rclone saves refreshed tokens into the file)"
    current = remoteconf.read_text(settings.rclone_config)
    merged = remoteconf.merge(current, settings.remote, values)
    key_changed = key_text is not None and _content(key_path) != key_text
    conf_changed = merged != current or _loose(settings.rclone_config)
    if dry_run:
        lines.append(f"dry run: [{settings.remote}] in {settings.rclone_config} would be "
                     f"({'changed' if conf_changed else 'unchanged'}):")
        lines.extend("  " + line for line in
                     remoteconf.render(settings.remote, values, masked=True).splitlines())
        if key_text is not None:
            lines.append(f"dry run: {key_path} would be "
                         f"{'written (0600)' if key_changed else 'unchanged'}")
        if start:
            verb = "restart" if conf_changed or key_changed else "start"
            lines.append(f"dry run: would enable and {verb} {UNIT}")
        return lines
    if key_changed:
        remoteconf.write_secret(key_path, key_text)
    if conf_changed:
        remoteconf.write_secret(settings.rclone_config, merged)
    state = "written" if conf_changed else "unchanged"
    lines.append(f"[{settings.remote}] in {settings.rclone_config} {state}: Shared Drive "
                 f"{drive_id} through {who}")
    if start:
        service.enable()
        (service.restart if conf_changed or key_changed else service.start)()
        lines.append(f"{UNIT} enabled and running: the Shared Drive is mounted at "
                     f"{settings.mount_point}")
    else:
        lines.append(f"{UNIT} not started (--no-start): systemctl enable --now {UNIT}")
    return lines


def _content(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def _loose(path):
    """A file that exists with a mode other than 0600 (rewriting it fixes the mode)."""
    try:
        return (os.stat(path).st_mode & 0o777) != 0o600
    except FileNotFoundError:
        return False


# --- serve -------------------------------------------------------------------------------

def configured(settings):
    """None when the remote is set up, else why not (for a quiet check on a fresh install)."""
    if not os.path.exists(settings.rclone_config):
        return f"no {settings.rclone_config}"
    sections = remoteconf.sections(remoteconf.read_text(settings.rclone_config))
    if settings.remote not in sections:
        return f"no [{settings.remote}] remote in {settings.rclone_config}"
    return None


def group_id(name):
    import grp

    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ActionError(f"[users] group {name!r} does not exist (ts-users apply makes it): "
                          "the mount's files would belong to no group") from None


def sizing(settings):
    """(Space, Sizing) of the storage now."""
    space = facts.space(settings.storage, settings.cache_dir)
    return space, cachesize.compute(space, settings.rule)


def prepare(settings):
    """Everything the mount needs: (argv, environment additions, record to keep)."""
    from trainserver.core.rclone import RemoteControl, free_port

    secrets.check_file(settings.rclone_config)
    why = configured(settings)
    if why:
        raise ActionError(f"{why}: run ts-gdrive-mount setup first")
    for path, what in ((settings.mount_point, "mount point"),
                       (settings.cache_dir, "cache directory")):
        if not os.path.isdir(path):
            raise ActionError(f"the {what} {path} is missing (ts-storage apply makes it; is "
                              f"the storage mounted?)")
    gid = group_id(settings.group)
    space, sized = sizing(settings)
    control = RemoteControl(free_port())
    secrets.register(control.password)
    argv = mountargs.mount_argv(settings, sized.limit, gid, control.flags())
    env = mountargs.environment(settings, control.environment())
    record = {"pid": os.getpid(), "started": time.time(), "limit": sized.limit,
              "sizing": sized.to_dict(), "space": {"size": space.size, "used": space.used,
                                                   "cache_used": space.cache_used},
              "gid": gid, "rc": {"port": control.port, "user": control.user,
                                 "password": control.password}}
    if sized.too_small:
        log.warning("the storage is too full for a Drive cache: rclone gets %d bytes "
                    "(ts-gdrive-mount cache-size)", sized.limit)
    log.info("cache limit %d bytes (%s binds)", sized.limit, sized.binding)
    return argv, env, record


def unmount(mount_point):
    """Lazily unmount whatever is mounted at `mount_point` (a dead or hung rclone's mount);
    True when something was."""
    if facts.mount_entry(mount_point) is None:
        return False
    # umount as root handles FUSE mounts too; --lazy detaches even while files are open.
    commands.run(["umount", "--lazy", mount_point], changes=True, timeout=30)
    return True


def execute(argv, env):
    """Become rclone: same PID, so systemd's main PID and rclone's READY=1 line up."""
    import sys

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(argv[0], argv, {**os.environ, **env})


# --- check -------------------------------------------------------------------------------

def check(settings, mount_state, check_state, now, dry_run=False):
    """The findings of one check, repairing what it finds (not under dry_run); and the
    metrics."""
    point = settings.mount_point
    why = configured(settings)
    if why is None and not service.is_enabled():
        why = f"{UNIT} is not enabled"
    if why:
        return [health.not_set_up_finding(point, why)], _metrics(None, None, 0)
    record = mount_state.load({}) or {}
    found = facts.gather(point, record.get("pid"), settings.check_timeout)
    problem = health.assess(found, settings.check_timeout)
    history = (check_state.load({}) or {}).get("restarts", [])
    window_text = _span(settings.restart_window)
    findings = []
    up = problem is None
    if problem is None:
        recent = health.within(history, now, settings.restart_window)
        findings.append(health.healthy_finding(point, found.fstype, recent, window_text))
    elif dry_run:
        recent = health.within(history, now, settings.restart_window)
        findings.append(health.dry_run_finding(point, problem))
    else:
        log.warning("%s: %s", point, problem.summary)
        outcome = repair(settings, problem, mount_state)
        up = outcome is None
        history = health.within(history + [now], now, max(settings.restart_window, 86400))
        check_state.save({"restarts": history, "last": {"time": now, "problem": problem.kind,
                                                        "summary": problem.summary,
                                                        "outcome": outcome or "ok"}})
        recent = health.within(history, now, settings.restart_window)
        findings.append(health.repair_finding(point, problem, outcome, recent,
                                              settings.restarts_critical, window_text))
    record = mount_state.load({}) or {}
    cache = health.cache_finding(settings.cache_dir, record.get("limit"), cachesize.FLOOR)
    if cache is not None:
        findings.append(cache)
    return findings, _metrics(up, record.get("limit"), len(recent))


def repair(settings, problem, mount_state):
    """Kill (when hung) and restart the mount; None when it works again, else why not."""
    try:
        if problem.kind == health.HUNG:
            service.kill()
        service.reset_failed()
        service.restart()
    except CommandError as exc:
        return f"systemctl failed: {exc}"
    record = mount_state.load({}) or {}
    after = facts.gather(settings.mount_point, record.get("pid"), settings.check_timeout)
    still = health.assess(after, settings.check_timeout)
    return None if still is None else still.summary


def _metrics(up, limit, restarts):
    from trainserver.core.metrics import Metric

    metrics = [Metric("trainserver_gdrive_restarts",
                      "Restarts of the Drive mount by ts-gdrive-mount check within "
                      "[gdrive] restart_window").add(restarts)]
    if up is not None:
        metrics.append(Metric("trainserver_gdrive_mount_up",
                              "1 when the Drive mount answers (after any repair)")
                       .add(1 if up else 0))
    if limit is not None:
        metrics.append(Metric("trainserver_gdrive_cache_limit_bytes",
                              "--vfs-cache-max-size the running mount was given").add(limit))
    return metrics


def _span(seconds):
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


# --- resize ------------------------------------------------------------------------------

def running_record(mount_state):
    """The running mount's record, or None when no rclone of ours runs."""
    record = mount_state.load({}) or {}
    pid = record.get("pid")
    if not pid or facts.process_state(pid) not in ("running", "stopped"):
        return None
    return record


def remote_control(record):
    from trainserver.core.rclone import RemoteControl

    rc = record.get("rc") or {}
    if not rc.get("port"):
        return None
    secrets.register(rc.get("password"))
    return RemoteControl(rc["port"], rc.get("user"), rc.get("password"))


def resize(settings, mount_state, dry_run=False):
    """Recompute the cache size; restart the mount when it drifted more than 10%."""
    from trainserver.core.units import format_size

    subject = settings.cache_dir
    record = running_record(mount_state)
    if record is None:
        return [Finding(health.TOOL, "resize", subject, Severity.OK,
                        "the mount is not running: nothing to resize (it computes the size "
                        "when it starts)")]
    running = int(record.get("limit") or 0)
    _, sized = sizing(settings)
    change = f"{format_size(running)} -> {format_size(sized.limit)}, {sized.binding} binds"
    if not cachesize.drifted(running, sized.limit):
        return [Finding(health.TOOL, "resize", subject, Severity.OK,
                        f"cache limit {format_size(running)} stands (now computed "
                        f"{format_size(sized.limit)}: within {cachesize.DRIFT:.0%})",
                        value=sized.limit)]
    pending = _pending_uploads(record)
    if pending:
        return [Finding(health.TOOL, "resize", subject, Severity.WARNING,
                        f"cache limit should change ({change}) but {pending} uploads are "
                        "pending: not restarted now; the next daily run tries again",
                        value=sized.limit)]
    if dry_run:
        return [Finding(health.TOOL, "resize", subject, Severity.OK,
                        f"dry run: would restart {UNIT} for the new cache limit ({change})",
                        value=sized.limit)]
    service.try_restart()
    return [Finding(health.TOOL, "resize", subject, Severity.OK,
                    f"restarted {UNIT} with the new cache limit ({change})", value=sized.limit)]


def _pending_uploads(record):
    """Uploads queued or in progress, from rclone's remote control (0 when it cannot say)."""
    control = remote_control(record)
    if control is None:
        return 0
    try:
        cache = control.call("vfs/stats").get("diskCache") or {}
    except ActionError as exc:
        log.warning("could not ask rclone for pending uploads: %s", exc)
        return 0
    return int(cache.get("uploadsInProgress") or 0) + int(cache.get("uploadsQueued") or 0)


# --- stats -------------------------------------------------------------------------------

def stats(settings, mount_state):
    """The cache's size on disk, its files and the limits in force (a dict)."""
    on_disk, files = facts.allocated(settings.cache_dir)
    result = {"cache_dir": settings.cache_dir, "bytes_on_disk": on_disk,
              "files_on_disk": files, "source": "disk", "running": False,
              "max_size": None, "max_age": settings.cache_max_age}
    record = running_record(mount_state)
    if record is not None:
        result.update(running=True, max_size=record.get("limit"), pid=record.get("pid"))
        control = remote_control(record)
        if control is not None:
            try:
                answer = control.call("vfs/stats")
            except ActionError as exc:
                log.warning("rclone's remote control did not answer (%s): figures from disk",
                            exc)
            else:
                cache, opt = answer.get("diskCache") or {}, answer.get("opt") or {}
                result.update(source="remote control", bytes_used=cache.get("bytesUsed"),
                              files=cache.get("files"),
                              uploads_in_progress=cache.get("uploadsInProgress"),
                              uploads_queued=cache.get("uploadsQueued"),
                              errored_files=cache.get("erroredFiles"),
                              out_of_space=cache.get("outOfSpace"),
                              max_size=opt.get("CacheMaxSize", result["max_size"]),
                              max_age=(opt["CacheMaxAge"] / 1e9 if "CacheMaxAge" in opt
                                       else result["max_age"]))
    return result
