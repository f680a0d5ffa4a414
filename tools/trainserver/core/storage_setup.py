"""Whether this machine uses the storage at [paths] storage at all: one rule for every tool.

A machine without the storage (a workstation with the package, a server before its disks
arrive) must not be told hourly that it cannot be checked. The storage is in use when any of
these holds: [storage] names a device (cache_device or backing_devices), the fstab has an
entry for [paths] storage, or something is mounted there. Otherwise it is "not configured":
the checks and the snapshots report that once, at ok. A storage that is configured but not
there (not mounted) stays a problem.
"""

import os


def fstab_entries(text, mount_point):
    """The (source, line) of every fstab entry that mounts something at `mount_point`."""
    found = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[1].rstrip("/") == mount_point.rstrip("/"):
            found.append((fields[0], line))
    return found


def unconfigured_reason(table, mount_point, fstab_text, fstab_path="/etc/fstab"):
    """Why the storage is not configured ([storage] `table`, the fstab's text), or None when
    it is. Pure: whether something is mounted is the caller's to know."""
    if table.get("cache_device") or table.get("backing_devices"):
        return None
    if fstab_entries(fstab_text, mount_point):
        return None
    return (f"not configured: [storage] names no devices and {fstab_path} has no entry for "
            f"{mount_point}")


def not_configured(config):
    """Why the storage of `config` is not configured, or None when this machine uses it."""
    point = config["paths"]["storage"]
    fstab = config["storage"]["fstab"]
    if os.path.ismount(point):
        return None
    try:
        with open(fstab, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except FileNotFoundError:
        text = ""
    except OSError:
        return None  # cannot tell: treated as configured, so that no problem is hidden
    reason = unconfigured_reason(config["storage"], point, text, fstab)
    return f"{reason}, and nothing is mounted there" if reason else None
