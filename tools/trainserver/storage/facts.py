"""Gather the facts about the storage filesystem with btrfs-progs and findmnt (read only)."""

from trainserver.core import commands
from trainserver.core.errors import CommandError
from trainserver.storage import bcache, parse
from trainserver.storage.assess import Facts

TIMEOUT = 120


def _run(argv, **kwargs):
    return commands.run(argv, changes=False, timeout=TIMEOUT, **kwargs)


def expected_uuid(fstab, mount_point):
    try:
        with open(fstab) as handle:
            return parse.fstab_uuid(handle.read(), mount_point)
    except FileNotFoundError:
        return None


def mount_of(mount_point):
    """What is mounted at `mount_point` (parse.mount), or None."""
    found = _run(["findmnt", "--json", "--output", "TARGET,SOURCE,UUID,FSTYPE,OPTIONS",
                  "--mountpoint", mount_point], ok_codes=(0, 1))
    return parse.mount(found.stdout)


def gather(mount_point, fstab="/etc/fstab"):
    facts = Facts(mount_point, expected_uuid=expected_uuid(fstab, mount_point))
    facts.mount = mount_of(mount_point)
    if facts.mount is None or facts.mount["fstype"] != "btrfs":
        return facts
    parts = (
        ("devices", "show", ["btrfs", "filesystem", "show", "--raw", mount_point], parse.show),
        ("usage", "usage", ["btrfs", "filesystem", "usage", "-b", mount_point], parse.usage),
        ("device error counters", "stats",
         ["btrfs", "--format", "json", "device", "stats", mount_point], parse.device_stats),
        ("scrub", "scrub", ["btrfs", "scrub", "status", "-R", mount_point], parse.scrub_status),
    )
    for part, attribute, argv, parser in parts:
        try:
            setattr(facts, attribute, parser(_run(argv).stdout))
        except (CommandError, parse.ParseError) as exc:
            facts.problems[part] = str(exc)
    try:
        facts.bcache = bcache.devices()
    except (OSError, ValueError) as exc:
        facts.problems["bcache"] = str(exc)
    quota = _run(["btrfs", "qgroup", "show", mount_point], ok_codes=None)
    if quota.returncode == 0:
        facts.qgroups = True
    elif "not enabled" in quota.stderr:
        facts.qgroups = False
    else:
        facts.problems["quotas"] = quota.stderr.strip() or f"exit status {quota.returncode}"
    return facts


def scrub(mount_point):
    """Scrub the whole filesystem now, in the foreground, at idle I/O priority."""
    # -B: wait for the end; -c 3: the idle I/O class, so training jobs' reads come first.
    # Exit 3 is btrfs-progs' "scrub found uncorrectable errors": a result, not a failure to run.
    return commands.run(["btrfs", "scrub", "start", "-B", "-c", "3", mount_point], changes=True,
                        timeout=7 * 86400, ok_codes=(0, 3))


