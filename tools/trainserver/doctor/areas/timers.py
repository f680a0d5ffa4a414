"""the timers: every installed ts-*.timer enabled and active, its service's last run
succeeded, and no scheduled job overdue (ts-alert overdue, from the jobs' own records)."""

import os
import time

from trainserver.doctor import parse, tools
from trainserver.doctor.results import FAIL, PASS, SKIP, Result
from trainserver.doctor.runner import Probe, run_command

AREA = "timers"
NOT_RUNNING = "systemd is not running"
TIMER_PROPERTIES = "Id,UnitFileState,ActiveState,LastTriggerUSec,NextElapseUSecRealtime,Unit"
SERVICE_PROPERTIES = "Id,Result,ExecMainStatus,ActiveState"
# A timer whose next run lies further in the past than this has stopped firing.
OVERDUE_AFTER = 3600


def systemd_running(root="/"):
    """sd_booted(3): systemd is PID 1 when /run/systemd/system exists."""
    return os.path.isdir(os.path.join(root, "run", "systemd", "system"))


def _show(ctx, units, properties):
    completed = run_command(ctx, ["systemctl", "show", "--timestamp=unix", "-p", properties,
                                  *units])
    if completed.returncode:
        # --timestamp=unix came with systemd 251; without it the times are for people, and
        # only the overdue test by the next elapse is lost.
        completed = run_command(ctx, ["systemctl", "show", "-p", properties, *units])
    if completed.returncode:
        raise RuntimeError(f"systemctl show failed (exit status {completed.returncode}): "
                           f"{completed.stderr.strip()}")
    return parse.systemctl_show(completed.stdout)


def timers(ctx, now=None):
    if not systemd_running():
        return Result(AREA, "ts-*.timer", SKIP, NOT_RUNNING)
    listed = run_command(ctx, ["systemctl", "list-unit-files", "--no-legend", "--no-pager",
                               "ts-*.timer"])
    names = parse.unit_files(listed.stdout)
    if not names:
        return Result(AREA, "ts-*.timer", FAIL, "no ts-*.timer unit is installed "
                      "(is the trainserver package installed?)")
    try:
        shown = _show(ctx, names, TIMER_PROPERTIES)
        by_timer = {block.get("Id"): block for block in shown}
        services = [by_timer.get(name, {}).get("Unit") or name[:-len(".timer")] + ".service"
                    for name in names]
        by_service = {block.get("Id"): block for block in _show(ctx, services,
                                                                SERVICE_PROPERTIES)}
    except RuntimeError as exc:
        return Result(AREA, "ts-*.timer", FAIL, str(exc))
    now = time.time() if now is None else now
    found = []
    for name, service in zip(names, services):
        ok, reason = parse.timer_verdict(by_timer.get(name, {"Id": name}),
                                         by_service.get(service, {"Id": service}),
                                         OVERDUE_AFTER, now)
        found.append(Result(AREA, name, PASS if ok else FAIL, reason,
                            f"systemctl status {name} {service}; journalctl -u {service}"))
    return found


def overdue(ctx):
    if not systemd_running():
        return Result(AREA, "jobs overdue", SKIP, NOT_RUNNING)
    return tools.check(ctx, AREA, "jobs overdue", "ts-alert", ["overdue", "--json"])


def probes(config):
    return [
        Probe(AREA, "ts-*.timer", timers, "systemctl list-timers 'ts-*'"),
        Probe(AREA, "jobs overdue", overdue, "ts-alert overdue"),
    ]
