"""bcache devices as sysfs shows them, read without assuming which bcacheN is which disk.

The bcacheN number of a backing disk changes between boots (docs/vm-testing.md), so each device is
named by its backing disk and its bcache UUID, found through /sys/block/bcacheN/bcache (a link
to the backing disk's bcache directory) and, for the cache set, its `cache` link.
"""

import glob
import os
import re

_UNITS = {"": 1, "k": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}


def parse_cache_mode(text):
    """The selected mode of "writethrough [writeback] writearound none"."""
    match = re.search(r"\[(\w+)\]", text)
    return match.group(1) if match else text.strip() or None


def parse_size(text):
    """Bytes from bcache's human sizes ("0.0k", "1.5M", "512", "12G")."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([kMGTP]?)\s*", text)
    if not match:
        raise ValueError(f"not a bcache size: {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def _read(path, default=None):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return default


def devices(sysfs="/sys"):
    """One dict per bcache device: name, backing, uuid, state, cache_mode, dirty_bytes,
    hit_ratio, cache_set, cache_io_errors (None where sysfs does not say)."""
    found = []
    for link in sorted(glob.glob(os.path.join(sysfs, "block", "bcache*", "bcache"))):
        name = os.path.basename(os.path.dirname(link))
        directory = os.path.realpath(link)
        dirty = _read(os.path.join(directory, "dirty_data"))
        ratio = _read(os.path.join(directory, "stats_total", "cache_hit_ratio"))
        cache_link = os.path.join(directory, "cache")
        cache_set = os.path.basename(os.path.realpath(cache_link)) \
            if os.path.exists(cache_link) else None
        io_errors = None
        if cache_set:
            counts = [_read(path) for path in glob.glob(
                os.path.join(sysfs, "fs", "bcache", cache_set, "cache*", "io_errors"))]
            io_errors = sum(int(count) for count in counts if count and count.isdigit())
        found.append({
            "name": name,
            "backing": _read(os.path.join(directory, "backing_dev_name")) or
            os.path.basename(os.path.dirname(directory)),
            "uuid": _read(os.path.join(directory, "backing_dev_uuid")),
            "state": _read(os.path.join(directory, "state")),
            "cache_mode": parse_cache_mode(_read(os.path.join(directory, "cache_mode"), "")),
            "dirty_bytes": parse_size(dirty) if dirty else None,
            "hit_ratio": int(ratio) if ratio and ratio.isdigit() else None,
            "cache_set": cache_set,
            "cache_io_errors": io_errors,
        })
    return found


def parse_super(text):
    """The fields of `bcache-super-show DEVICE` that tell whose a superblock is.

    {"kind": "backing" | "cache", "uuid", "cset_uuid", "cache_mode", "cache_state"}; the last
    two only for backing devices (the mode make-bcache --writeback or a later write stored).
    A backing device made alone gets a random cset.uuid, not zeros: only a match with the
    cache set of apply's own partition says it belongs to the layout.
    """
    fields = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            fields[parts[0]] = parts[1].strip()
    version = fields.get("sb.version", "")
    if "[backing device]" in version:
        kind = "backing"
    elif "[cache device]" in version:
        kind = "cache"
    else:
        raise ValueError(f"bcache-super-show: unexpected sb.version {version!r}")
    found = {"kind": kind, "uuid": fields.get("dev.uuid"), "cset_uuid": fields.get("cset.uuid")}
    if kind == "backing":
        found["cache_mode"] = parse_cache_mode(fields.get("dev.data.cache_mode", ""))
        found["cache_state"] = parse_cache_mode(fields.get("dev.data.cache_state", ""))
    return found


def cache_sets(sysfs="/sys"):
    """UUIDs of the registered cache sets."""
    return {name for name in _listdir(os.path.join(sysfs, "fs", "bcache"))
            if re.fullmatch(r"[0-9a-f-]{36}", name)}


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def registration(kernel_name, sysfs="/sys"):
    """How the kernel sees a backing device by its kernel name (sda, loop3): None when it is not
    registered, else {"bcache_dev": "/dev/bcacheN", "cache_set": UUID or None, "cache_mode"}.

    Read from the backing device's own sysfs directory, so it never depends on which bcacheN
    number this boot gave it.
    """
    directory = os.path.join(sysfs, "class", "block", kernel_name, "bcache")
    if not os.path.isdir(directory):
        return None
    dev_link = os.path.join(directory, "dev")
    cache_link = os.path.join(directory, "cache")
    return {
        "bcache_dev": "/dev/" + os.path.basename(os.path.realpath(dev_link))
        if os.path.exists(dev_link) else None,
        "cache_set": os.path.basename(os.path.realpath(cache_link))
        if os.path.exists(cache_link) else None,
        "cache_mode": parse_cache_mode(_read(os.path.join(directory, "cache_mode"), "")),
    }
