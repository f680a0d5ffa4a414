"""The role each disk would get in the storage layout, and why: pure logic over discovery.

cache: the NVMe disk named as [storage] cache_device (its existing partitions, the OS's, stay;
only free space after them becomes the bcache cache partition). backing: a hard disk named in
[storage] backing_devices. skip: everything else, with the reason. With nothing configured yet,
the reason says which role a disk could take, so that discover helps write the config.
"""


def _named(disk, wanted):
    return bool(set(disk["ids"]) & set(wanted)) or disk["path"] in wanted


def _in_use(disk):
    """Why the disk is in use (mounted, swap, held), or None."""
    reasons = []
    for part in [disk] + disk["partitions"]:
        if part["mounts"]:
            reasons.append(f"{part['path']} is mounted on {', '.join(part['mounts'])}")
        if part["holders"]:
            reasons.append(f"{part['path']} is held by {', '.join(part['holders'])}")
    return "; ".join(reasons) or None


def assign(disk, storage):
    """(role, why) for one discovered disk under the [storage] table."""
    cache_device = storage.get("cache_device") or ""
    backing = storage.get("backing_devices") or []
    in_use = _in_use(disk)
    named = (cache_device and _named(disk, [cache_device])) or _named(disk, backing)
    if disk.get("probe_error") and (named or not disk["holds_root"]):
        # What cannot be read cannot be checked for data: never a member of the layout.
        return "skip", f"cannot be probed for signatures: {disk['probe_error']}"
    if cache_device and _named(disk, [cache_device]):
        if storage.get("cache") == "none":
            return "skip", "named as cache_device, but [storage] cache is \"none\""
        if disk["rotational"]:
            return "cache", "named as [storage] cache_device (but it is rotational: a slow cache)"
        if disk["holds_root"]:
            return "cache", ("named as [storage] cache_device; it holds the root filesystem, so "
                             "only a new partition in its free space is used")
        return "cache", "named as [storage] cache_device"
    if _named(disk, backing):
        if disk["holds_root"]:
            return "skip", "named in backing_devices, but it holds the root filesystem: refused"
        if in_use:
            return "backing", f"named in [storage] backing_devices; in use now: {in_use}"
        return "backing", "named in [storage] backing_devices"
    if disk["holds_root"]:
        return "skip", "holds the root filesystem"
    if disk["kind"] != "disk":
        return "skip", f"a {disk['kind']} device, not a disk"
    if in_use:
        return "skip", f"not named in [storage]; in use: {in_use}"
    if cache_device or backing:
        return "skip", "not named in [storage]"
    if disk["rotational"]:
        return "skip", "not configured; a rotational disk: could be a backing device"
    return "skip", "not configured; a solid-state disk: could hold the cache partition"
