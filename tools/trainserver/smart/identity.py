"""A disk's model and serial from udev, for a disk smartctl did not identify.

A disk in standby is skipped before smartctl reads its IDENTIFY data, and an unreadable one has
none; udev's database still names it, so its findings keep the subject its healthy runs used
(model and serial, as smartctl prints them).
"""

import re

_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def decode_udev(text):
    r"""udev's *_ENC values escape spaces and other bytes as \xNN."""
    if not text:
        return None
    decoded = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return " ".join(decoded.split()) or None


def from_udev(properties, attributes=None):
    """(model, serial) from a udev device's properties (and sysfs attributes), or None.

    ATA and NVMe disks: ID_MODEL_ENC / ID_SERIAL_SHORT, as smartctl's model_name and
    serial_number. SCSI disks: smartctl names them "VENDOR PRODUCT", so the vendor goes first.
    `attributes` (sysfs model, serial) cover NVMe controller devices such as /dev/nvme0, which
    have no ID_* properties.
    """
    attributes = attributes or {}
    model = decode_udev(properties.get("ID_MODEL_ENC")) or decode_udev(
        (properties.get("ID_MODEL") or "").replace("_", " "))
    if model and properties.get("ID_BUS") == "scsi":
        vendor = decode_udev(properties.get("ID_VENDOR_ENC")) or properties.get("ID_VENDOR")
        if vendor:
            model = f"{vendor} {model}"
    serial = properties.get("ID_SERIAL_SHORT")
    model = model or decode_udev(attributes.get("model"))
    serial = (serial or decode_udev(attributes.get("serial")) or "").strip() or None
    if model and serial:
        return model, serial
    return None
