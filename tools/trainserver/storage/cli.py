"""ts-storage: discover the disks, plan and apply the storage layout, its status, health
checks and scrub."""

import sys

import click

from trainserver.core import cli as core_cli
from trainserver.core.checks import CHECK_EXIT_STATUS, CHECK_LOCK_WAIT
from trainserver.storage import TOOL

STATE_NAME = "storage"
# The check has a lock of its own: it never waits for a scrub that runs for hours. scrub and
# apply share the tool's lock: the scrub waits [storage] lock_wait for it, apply (by hand) not.
CHECK_LOCK = "storage-check"

EXIT_STATUS = {
    **CHECK_EXIT_STATUS,
    1: "check and scrub: the worst finding is a warning",
    2: "check and scrub: the worst finding is critical, or the scrub could not run; plan and "
       "apply: refused (the reasons are printed, nothing was changed); apply: a step failed "
       "(what was done stays done, and a re-run resumes there)",
}


@core_cli.tool_group(TOOL, exit_status=EXIT_STATUS)
def cli():
    """The storage at [paths] storage (/mnt/storage): bcache (writeback) in front of the hard
    disks, BTRFS RAID10 over them. Discover the disks, plan and apply the layout, show its
    status, check its health, scrub it.

    ts-storage.timer runs `ts-storage check --json` every 6 hours and ts-storage-scrub.timer
    runs `ts-storage scrub --json` monthly, both through ts-alert. plan and apply touch only the
    disks named in [storage] by stable id; see `ts-storage apply --help` for what apply refuses.
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


def _gather(tool, others=False):
    from trainserver.core.storage_setup import not_configured
    from trainserver.storage import facts

    return facts.gather(tool.config["paths"]["storage"], tool.config["storage"]["fstab"],
                        others=others, unconfigured=not_configured(tool.config))


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
@core_cli.reports(core_cli.CHECK, job="storage-check")
@click.pass_obj
def check(tool, as_json):
    """Check the storage's health and how full every local filesystem is; print findings.

    Critical: not mounted (when configured: [storage] names devices, or the fstab has an
    entry for [paths] storage), not mounted from the fstab's UUID, mounted degraded, a device
    missing, a rise in
    any of a device's error counters (write, flush, corruption, read, generation) since the
    previous run, uncorrectable errors in the last scrub, more than full_critical_percent used.
    Warning: error counters above 0 that did not rise (also on the first run: BTRFS counts
    until `btrfs device stats --reset`; acknowledge a known count with ts-alert ack), errors the
    last scrub corrected, a scrub older than scrub_max_age or none on record, more than
    full_warning_percent used (or a data or metadata chunk type that full with nothing left to
    allocate), BTRFS quotas enabled. Error counters are compared with the previous run (state
    file storage.json). The check runs beside a scrub or an apply: it has a lock of its own.

    Every other local filesystem (/, /var, the NVMe's other partitions; not tmpfs, FUSE,
    network, squashfs or read-only ones, nor a second mount of the same filesystem) gets a
    "space" finding named by its mount point, with the same full_warning_percent and
    full_critical_percent, counted as df counts them.

    A machine that does not use the storage (no devices in [storage], no fstab entry for
    [paths] storage, nothing mounted there) gets one ok finding saying it is not configured.
    """
    import time

    from trainserver.core.checks import report
    from trainserver.storage import assess, limits

    with tool.lock(CHECK_LOCK, wait=CHECK_LOCK_WAIT):
        state_file = tool.state_file(STATE_NAME)
        state = state_file.load({})
        found = _gather(tool, others=True)
        findings, state = assess.assess(found, time.time(), limits.from_config(
            tool.config["storage"]), state if isinstance(state, dict) else {})
        state_file.save(state)
    return report(findings, as_json)


@cli.command()
@core_cli.reports(core_cli.ACTION)
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
    with tool.lock(wait=tool.config["storage"]["lock_wait"]):
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


_wipe_option = click.option(
    "--wipe", is_flag=True,
    help="Erase signatures (filesystems, partition tables, old bcache superblocks) on the "
         "configured disks; each disk must also be named with --confirm.")
_confirm_option = click.option(
    "--confirm", "confirmed", multiple=True, metavar="SERIAL",
    help="With --wipe: the serial of a disk whose contents may be erased (as discover shows "
         "it; its stable id's last part when it has no serial). Repeat for each disk; a "
         "comma-separated list works too.")


def _confirmations(values):
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _step_lines(step):
    from trainserver.core.commands import format_argv

    if step.command:
        return [f"$ {format_argv(argv)}" for argv in (step.prepare, step.command) if argv]
    if step.write:
        return [f"write {step.write[1]!r} to {step.write[0]}"]
    return [step.action] if step.action else []


def _print_plan(plan):
    for number, step in enumerate(plan.steps, 1):
        state = f"skipped: {step.skipped}" if step.skipped else "done" if step.done else "to do"
        click.echo(f"{number:2}. [{state}] {step.title}")
        if not step.done and not step.skipped:
            for line in _step_lines(step):
                click.echo(f"      {line}")
    for note in plan.notes:
        click.echo(f"note: {note}")
    for refusal in plan.refusals:
        click.echo(f"refused: {refusal}")
    if not plan.refusals:
        click.echo("nothing to do: the layout is complete" if not plan.todo else
                   f"{len(plan.todo)} of {len(plan.steps)} steps to do")


def _done_count(planned, ran):
    """The steps done, counted as `ts-storage plan` counted them to do: '25 steps (11 run; the
    other 14 followed from them)'. Some steps are done by an earlier one (udev registers a new
    bcache device), and apply checks them without running anything."""
    run_keys = {step.key for step in ran}
    done = run_keys | {step.key for step in planned}
    text = f"{len(done)} step{'s' if len(done) != 1 else ''}"
    if len(done) > len(run_keys):
        text += f" ({len(ran)} run; the other {len(done) - len(run_keys)} followed from them)"
    return text


def _settings(tool):
    from trainserver.storage.plan import Settings

    return Settings.from_config(tool.config)


@cli.command()
@core_cli.json_option
@_wipe_option
@_confirm_option
@click.pass_obj
def plan(tool, as_json, wipe, confirmed):
    """Show, in order, every step ts-storage apply would take to build the layout from the
    [storage] config, each marked done or to do with the exact command it runs, and whatever
    apply would refuse. Reads the disks; changes nothing. Exit 0 when apply could go ahead
    (or there is nothing to do), 2 when it would refuse."""
    import json

    from trainserver.storage import plan as plans, survey

    found = plans.make(_settings(tool), survey.gather(_settings(tool)), wipe=wipe,
                       confirmed=_confirmations(confirmed))
    if as_json:
        json.dump(found.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_plan(found)
    return core_cli.EXIT_CRITICAL if found.refusals else core_cli.EXIT_OK


@cli.command()
@core_cli.json_option
@core_cli.dry_run_option
@click.option("--yes", is_flag=True, help="Carry the plan out (without it apply shows the plan "
              "and stops).")
@_wipe_option
@_confirm_option
@click.pass_obj
def apply(tool, as_json, dry_run, yes, wipe, confirmed):
    """Build the layout: the cache partition in the free space of the cache disk (existing
    partitions stay byte for byte), make-bcache and writeback for every hard disk, BTRFS
    raid10 (or raid1 when [storage] raid_profile says so) over the bcache devices, mounted on
    [paths] storage with the subvolume layout, the fstab line by filesystem UUID (dated
    backup, atomic write, findmnt --verify before and after), the monthly scrub timer. BTRFS
    quotas are never enabled: with hourly snapshots they make cleanup hundreds of times slower.

    \b
    Refused, before anything changes:
    - a disk not named in [storage] by stable id (--confirm names only those); an id must be
      udev's link itself in /dev/disk/by-id (no "." or "..", no deeper path) and lead to a
      block device;
    - anything mounted, held (by bcache, md, dm) or opened exclusively, except the layout;
    - on the disk holding /, anything but a new partition in its free space;
    - signatures apply did not make, unless --wipe and --confirm name each disk's serial;
    - fewer than 4 disks for raid10; cache = "bcache" on a kernel without bcache;
    - a filesystem labelled "trainserver" whose devices are not exactly the configured ones
      (it spans a disk not named, or lacks one): it is never adopted, never built over, and
      the refusal names the devices.

    Each step checks its result before the next: a re-run after a crash resumes at the
    first step not done, and a re-run after success has nothing to do. Before the mount,
    `btrfs device scan` registers the members with the kernel, which no udev event may have
    done (a container, a kill between mkfs and the mount).
    """
    import json

    from trainserver.storage import apply as applying, plan as plans, survey

    settings = _settings(tool)
    confirmed = _confirmations(confirmed)
    if dry_run or not yes:
        found = plans.make(settings, survey.gather(settings), wipe=wipe, confirmed=confirmed)
        if as_json:
            json.dump({"ran": [], "plan": found.to_dict()}, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            _print_plan(found)
        if found.refusals:
            return core_cli.EXIT_CRITICAL
        if not dry_run and found.todo:
            raise click.UsageError("apply changes disks: run it again with --yes to carry this "
                                   "plan out (or --dry-run to only show it)")
        return core_cli.EXIT_OK

    def announce(step):
        if not as_json:
            click.echo(f"- {step.title}")
            for line in _step_lines(step):
                click.echo(f"    {line}")

    with tool.lock():  # by hand: says at once who holds it (a scrub), exit 75
        try:
            ran, final, planned = applying.run(settings, wipe=wipe, confirmed=confirmed,
                                               announce=announce)
        except applying.Refused as refused:
            if as_json:
                json.dump({"ran": [s.to_dict() for s in refused.ran],
                           "plan": refused.plan.to_dict()}, sys.stdout, indent=2)
                sys.stdout.write("\n")
            else:
                _print_plan(refused.plan)
                if refused.ran:
                    click.echo(f"stopped after {len(refused.ran)} steps")
            return core_cli.EXIT_CRITICAL
    if as_json:
        json.dump({"ran": [s.to_dict() for s in ran], "plan": final.to_dict()}, sys.stdout,
                  indent=2)
        sys.stdout.write("\n")
    elif ran:
        click.echo(f"done: {_done_count(planned, ran)}; the layout is complete")
    else:
        click.echo("nothing to do: the layout is complete")
    return core_cli.EXIT_OK


def main():
    core_cli.main(cli)
