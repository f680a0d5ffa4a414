"""Which disks to check: smartctl --scan-open --json, or the [smart] devices config key."""

from dataclasses import dataclass

from trainserver.smart.parse import ParseError, load


@dataclass
class Device:
    name: str  # /dev/sda, /dev/nvme0, /dev/disk/by-id/...
    type: str | None = None  # smartctl's -d type (sat, nvme, megaraid,0, ...); None: autodetect
    protocol: str | None = None
    open_error: str | None = None  # --scan-open could not open it

    def to_json(self):
        return {"name": self.name, "type": self.type, "protocol": self.protocol,
                "open_error": self.open_error}


def parse_scan(text):
    """(devices, smartctl's messages) from `smartctl --scan-open --json` output.

    smartctl 7.3 supports --json with --scan-open: {"devices": [{"name", "info_name", "type",
    "protocol", "open_error"?}]}; with no disk found there is no "devices" key at all.
    """
    document = load(text)
    devices = []
    seen = set()
    for entry in document.get("devices") or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ParseError(f"smartctl --scan-open: unexpected device entry {entry!r}")
        key = (entry["name"], entry.get("type"))
        if key in seen:
            continue
        seen.add(key)
        devices.append(Device(name=entry["name"], type=entry.get("type"),
                              protocol=entry.get("protocol"), open_error=entry.get("open_error")))
    messages = [m.get("string", "") for m in document["smartctl"].get("messages") or []
                if isinstance(m, dict)]
    return devices, messages


def configured(names):
    """Devices named in [smart] devices: smartctl detects their type itself."""
    return [Device(name=name) for name in dict.fromkeys(names)]
