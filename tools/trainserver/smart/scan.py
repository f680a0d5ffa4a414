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
    listed = document.get("devices") or []
    if not isinstance(listed, list):
        raise ParseError(f"smartctl --scan-open: devices is not a list: {listed!r}")
    for entry in listed:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            raise ParseError(f"smartctl --scan-open: unexpected device entry {entry!r}")
        key = (entry["name"], entry.get("type"))
        if key in seen:
            continue
        seen.add(key)
        devices.append(Device(name=entry["name"], type=entry.get("type"),
                              protocol=entry.get("protocol"), open_error=entry.get("open_error")))
    messages = document["smartctl"].get("messages")
    if not isinstance(messages, list):
        messages = []
    return devices, [str(m.get("string", "")) for m in messages if isinstance(m, dict)]


def configured(names):
    """Devices named in [smart] devices: smartctl detects their type itself."""
    return [Device(name=name) for name in dict.fromkeys(names)]
