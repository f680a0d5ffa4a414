"""ts-storage: the storage filesystem's status, health checks and scrub."""

import sys

import click

from trainserver.core import cli as core_cli
from trainserver.core.checks import CHECK_EXIT_STATUS

STATE_NAME = "storage"


@core_cli.tool_group("storage", exit_status=CHECK_EXIT_STATUS)
def cli():
    """The BTRFS RAID10 storage at [paths] storage (/mnt/storage): disks, status, checks, scrub.

    ts-storage.timer runs `ts-storage check --json` every 6 hours and ts-storage-scrub.timer
    runs `ts-storage scrub --json` monthly, both through ts-alert. Setting the storage up
    (plan and apply: bcache and mkfs) comes in a later release; discover shows the disks.
    """


@cli.command()
@core_cli.json_option
@click.pass_obj
def discover(tool, as_json):
    """List every disk: stable id, model, serial, size, rotational or not; its partitions with
    their signatures, holders and mounts; and the role ts-storage would give it (cache,
    backing or skip) under the [storage] config, and why. Changes nothing."""
    import json

    from trainserver.core.units import format_size
    from trainserver.storage import disks, roles

    found = disks.discover()
    for disk in found:
        disk["role"], disk["why"] = roles.assign(disk, tool.config["storage"])
    if as_json:
        json.dump(found, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return core_cli.EXIT_OK
    for disk in found:
        kind = "rotational" if disk["rotational"] else "solid-state"
        click.echo(f"{disk['path']}  {format_size(disk['size'])} {kind}  "
                   f"model {disk['model'] or '?'}  serial {disk['serial'] or '?'}")
        click.echo(f"  id: {disk['ids'][0] if disk['ids'] else '(no stable id)'}")
        click.echo(f"  role: {disk['role']}: {disk['why']}")
        for item in [disk] + disk["partitions"]:
            notes = []
            signature = item["signatures"].get("TYPE") or item["signatures"].get("PTTYPE")
            if signature:
                notes.append(f"signature {signature}")
            if item["mounts"]:
                notes.append(f"mounted on {', '.join(item['mounts'])}")
            if item["holders"]:
                notes.append(f"held by {', '.join(item['holders'])}")
            if item.get("probe_error"):
                notes.append(f"not probed: {item['probe_error']}")
            if item is disk and not notes:
                continue
            size = f" {format_size(item['size'])}" if item is not disk else ""
            click.echo(f"  {item['path']}{size}: {', '.join(notes) or 'empty'}")
    return core_cli.EXIT_OK


def _gather(tool):
    from trainserver.storage import facts

    return facts.gather(tool.config["paths"]["storage"], tool.config["storage"]["fstab"])


@cli.command()
@core_cli.json_option
@click.pass_obj
def status(tool, as_json):
    """Show the filesystem: mount and UUID, profiles, space, devices and their error counters,
    the last scrub, quotas. Exit 0 when the storage is mounted, 3 when it is not."""
    import json
    import time

    from trainserver.storage import report

    found = _gather(tool)
    now = time.time()
    if as_json:
        json.dump(report.document(found, now), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        click.echo(report.text(found, now), nl=False)
    return core_cli.EXIT_OK if found.mount else core_cli.EXIT_UNKNOWN


@cli.command()
@core_cli.json_option
@click.pass_obj
def check(tool, as_json):
    """Check the storage's health and print findings.

    Critical: not mounted from the fstab's UUID, mounted degraded, a device missing, a rise in
    a device's write, flush or corruption errors, uncorrectable errors in the last scrub, more
    than full_critical_percent used. Warning: a rise in read or generation errors, errors the
    last scrub corrected, a scrub older than scrub_max_age or none on record, more than
    full_warning_percent used (or a data or metadata chunk type that full with nothing left to
    allocate), BTRFS quotas enabled. Error counters are compared with the previous run (state
    file storage.json): an old error is reported once, a new increase again.
    """
    import time

    from trainserver.core.checks import report
    from trainserver.storage import assess, limits

    with tool.lock():
        state_file = tool.state_file(STATE_NAME)
        state = state_file.load({})
        found = _gather(tool)
        findings, state = assess.assess(found, time.time(), limits.from_config(
            tool.config["storage"]), state if isinstance(state, dict) else {})
        state_file.save(state)
    return report(findings, as_json)


@cli.command()
@core_cli.json_option
@core_cli.dry_run_option
@click.pass_obj
def scrub(tool, as_json, dry_run):
    """Scrub the whole filesystem now at idle I/O priority, then report what it found.

    Every block is read and checked against its checksum; a bad copy is rewritten from the good
    one (RAID10 keeps two). Corrected errors are a warning, uncorrectable ones critical. The
    result stays on record for `status` and `check` (btrfs-progs keeps it in /var/lib/btrfs).
    """
    import time

    from trainserver.core.checks import report
    from trainserver.storage import assess, facts, limits

    point = tool.config["paths"]["storage"]
    with tool.lock():
        found = _gather(tool)
        findings = assess.mount_findings(found)
        if found.mount is None or found.mount["fstype"] != "btrfs":
            return report(findings, as_json)
        facts.scrub(point)
        if dry_run:
            return report(findings, as_json)
        found = _gather(tool)
        findings += assess.scrub_findings(found, time.time(),
                                          limits.from_config(tool.config["storage"]))
    return report(findings, as_json)


def main():
    core_cli.main(cli)
