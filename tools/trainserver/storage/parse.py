"""Parsers of btrfs-progs output (6.2, Debian 12): device stats (JSON), filesystem usage -b,
filesystem show --raw, scrub status -R, and findmnt --json. Pure functions of text."""

import json
import re
import time

from trainserver.core.storage_setup import fstab_entries

COUNTERS = ("write_io_errs", "read_io_errs", "flush_io_errs", "corruption_errs", "generation_errs")


class ParseError(ValueError):
    pass


def device_stats(text):
    """{devid: {"device": path, counter: int}} from `btrfs --format json device stats`."""
    try:
        document = json.loads(text)
        rows = document["device-stats"]
        return {int(row["devid"]): {"device": row["device"],
                                    **{name: int(row[name]) for name in COUNTERS}}
                for row in rows}
    except (ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"btrfs device stats: unexpected output ({exc})") from None


_KEY_VALUE = re.compile(r"^\s+([A-Za-z][A-Za-z ,()]*?):\s+(\S+)")
_PROFILE = re.compile(r"^(Data|Metadata|System),(\S+): Size:(\d+), Used:(\d+)")


def usage(text):
    """Overall figures (bytes) and per-type profiles from `btrfs filesystem usage -b`."""
    overall, profiles = {}, {}
    for line in text.splitlines():
        profile = _PROFILE.match(line)
        if profile:
            kind, name, size, used = profile.groups()
            profiles[kind.lower()] = {"profile": name.lower(), "size": int(size),
                                      "used": int(used)}
            continue
        pair = _KEY_VALUE.match(line)
        if pair:
            key, value = pair.groups()
            key = re.sub(r"[^a-z]+", "_", key.lower()).strip("_")  # "Free (estimated)"
            try:
                overall[key] = float(value) if "." in value else int(value)
            except ValueError:
                overall[key] = value
    if "device_size" not in overall or "data" not in profiles:
        raise ParseError("btrfs filesystem usage: no 'Device size' or no Data profile")
    return {"overall": overall, "profiles": profiles}


_DEVID = re.compile(r"^\s+devid\s+(\d+)\s+size\s+(\d+)\s+used\s+(\d+)\s+path\s+(.+?)\s*$")


def show(text):
    """{"uuid", "label", "devices": [{devid, size, used, path}], "missing": bool}."""
    result = {"uuid": None, "label": None, "devices": [], "missing": False, "total": None}
    for line in text.splitlines():
        if line.startswith("Label:"):
            match = re.match(r"Label:\s+(.*?)\s+uuid:\s+(\S+)", line)
            if match:
                label, result["uuid"] = match.groups()
                result["label"] = None if label == "none" else label.strip("'")
        elif "Total devices" in line:
            result["total"] = int(line.split("Total devices")[1].split()[0])
        elif "devices missing" in line.lower():
            result["missing"] = True
        else:
            match = _DEVID.match(line)
            if match:
                devid, size, used, path = match.groups()
                if "missing" in path.lower():  # "MISSING" in btrfs-progs 6.2
                    result["missing"] = True
                result["devices"].append({"devid": int(devid), "size": int(size),
                                          "used": int(used), "path": path})
    if result["uuid"] is None:
        raise ParseError("btrfs filesystem show: no uuid line")
    if result["total"] is not None and len(result["devices"]) < result["total"]:
        result["missing"] = True
    return result


def scrub_status(text):
    """The last scrub from `btrfs scrub status -R`: None when there is none on record, else
    {"started": epoch or None, "status", "duration", counters...}."""
    if "no stats available" in text:
        return None
    result = {"started": None, "status": None, "duration": None}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "Scrub started":
            try:
                # btrfs-progs prints it with ctime(): local time, no zone.
                result["started"] = time.mktime(time.strptime(value, "%a %b %d %H:%M:%S %Y"))
            except ValueError:
                result["started"] = None
        elif key == "Status":
            result["status"] = value
        elif key == "Duration":
            result["duration"] = value
        elif re.fullmatch(r"[a-z_]+", key) and value.isdigit():
            result[key] = int(value)
    if result["status"] is None:
        raise ParseError("btrfs scrub status: no Status line")
    return result


def mount(text):
    """The one filesystem of `findmnt --json ...`, or None when nothing is mounted there."""
    try:
        found = json.loads(text).get("filesystems", []) if text.strip() else []
    except ValueError:
        raise ParseError("findmnt: unexpected output") from None
    if not found:
        return None
    entry = found[0]
    return {"target": entry.get("target"), "source": entry.get("source"),
            "uuid": entry.get("uuid"), "fstype": entry.get("fstype"),
            "options": (entry.get("options") or "").split(",")}


def fstab_uuid(text, mount_point):
    """The UUID of the first fstab entry for `mount_point` (UUID=... only), or None."""
    entries = fstab_entries(text, mount_point)
    if entries and entries[0][0].startswith("UUID="):
        return entries[0][0][5:]
    return None


def dump_super(text):
    """{"fsid", "label", "num_devices", "devid"} from `btrfs inspect-internal dump-super DEVICE`:
    how many devices the filesystem has, as its own superblock says."""
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition("\t")
        if key and value.strip():
            fields.setdefault(key.strip(), value.strip())
    try:
        return {"fsid": fields["fsid"], "label": fields.get("label") or None,
                "num_devices": int(fields["num_devices"]),
                "devid": int(fields["dev_item.devid"]) if "dev_item.devid" in fields else None}
    except (KeyError, ValueError):
        raise ParseError("btrfs inspect-internal dump-super: no fsid or num_devices") from None
