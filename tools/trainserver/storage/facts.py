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


def gather(mount_point, fstab="/etc/fstab", others=False, unconfigured=None):
    """The Facts of the storage; with `others`, the space of every other local filesystem too.
    `unconfigured`: why this machine does not use the storage (core.storage_setup), or None."""
    facts = Facts(mount_point, expected_uuid=expected_uuid(fstab, mount_point),
                  unconfigured=unconfigured)
    if others:
        try:
            facts.filesystems = filesystems(mount_point)
        except OSError as exc:
            from trainserver.core.mountinfo import MOUNTINFO

            facts.filesystems = [{"mount_point": MOUNTINFO, "error": exc.strerror or str(exc)}]
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


def filesystems(storage, mountinfo=None):
    """The space of every other local filesystem (storage.filesystems says which): a dict per
    filesystem with mount_point, fstype, source and size, free, available in bytes, or error
    when statvfs failed."""
    import os

    from trainserver.core import mountinfo as mountinfo_module
    from trainserver.storage import filesystems as selection

    found = []
    entries = mountinfo_module.read(mountinfo or mountinfo_module.MOUNTINFO)
    for watched in selection.select(entries, storage):
        item = {"mount_point": watched.mount_point, "fstype": watched.fstype,
                "source": watched.source}
        # A mount listed but hidden from this process (below a private /tmp, under
        # ProtectHome=) is not there to measure: statvfs would read what hides it.
        if not os.path.ismount(watched.mount_point):
            continue
        try:
            numbers = os.statvfs(watched.mount_point)
        except OSError as exc:
            item["error"] = exc.strerror or str(exc)
        else:
            item.update(size=numbers.f_blocks * numbers.f_frsize,
                        free=numbers.f_bfree * numbers.f_frsize,
                        available=numbers.f_bavail * numbers.f_frsize)
        found.append(item)
    return found


def scrub(mount_point):
    """Scrub the whole filesystem now, in the foreground, at idle I/O priority."""
    # -B: wait for the end; -c 3: the idle I/O class, so training jobs' reads come first.
    # Exit 3 is btrfs-progs' "scrub found uncorrectable errors": a result, not a failure to run.
    return commands.run(["btrfs", "scrub", "start", "-B", "-c", "3", mount_point], changes=True,
                        timeout=7 * 86400, ok_codes=(0, 3))


