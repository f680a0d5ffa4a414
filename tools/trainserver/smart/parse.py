"""smartctl --json output -> DiskReport: the facts the thresholds need, named once.

smartctl's JSON differs by protocol (ATA, NVMe, SCSI) and by version (7.3 on Debian 12, 7.4 on
Debian 13); this module is the one place that knows where each value lives.
"""

import json
import re
from dataclasses import dataclass, field

# Keys smartctl writes before it has read anything from the disk.
_ENVELOPE_KEYS = frozenset({"json_format_version", "smartctl", "local_time", "device"})

# smartctl -n standby: "Device is in STANDBY mode, exit(2)" (also SLEEP, STANDBY_Y and
# "STANDBY (OS)"), an information message; the exit status alone (2) cannot be told apart
# from a device that failed to open.
_STANDBY = re.compile(r"Device is in (.+?) mode, exit\(\d+\)")

# smartctl 7.3 prints an NVMe drive's warning temperature (WCTEMP) only as text; with
# --json=o the text comes along in smartctl.output. 7.4 also has it as JSON (read first).
_NVME_WCTEMP = re.compile(r"^Warning\s+Comp\.\s+Temp\.\s+Threshold:\s+(-?\d+) Celsius")


class ParseError(ValueError):
    """smartctl's output is not the JSON document expected."""


@dataclass
class Attribute:
    """One ATA SMART attribute."""

    id: int
    name: str
    raw: int
    raw_string: str
    when_failed: str  # "now", "past" or ""


@dataclass
class NvmeHealth:
    critical_warning: int
    available_spare: int | None
    available_spare_threshold: int | None
    percentage_used: int | None
    media_errors: int | None


@dataclass
class DiskReport:
    device: str
    exit_status: int | None
    protocol: str | None = None
    model: str | None = None
    serial: str | None = None
    messages: list = field(default_factory=list)
    standby: str | None = None  # the power mode that made smartctl skip the disk
    has_data: bool = False
    passed: bool | None = None
    temperature: int | None = None
    temperature_limit: int | None = None
    temperature_limit_source: str | None = None
    attributes: dict = field(default_factory=dict)  # id -> Attribute
    self_test_errors: int | None = None
    nvme: NvmeHealth | None = None
    grown_defects: int | None = None
    uncorrected_errors: dict | None = None  # "read"/"write"/"verify" -> count

    @property
    def subject(self):
        """The disk's stable name for findings: model and serial, else the device path."""
        if self.model and self.serial:
            return f"{self.model} {self.serial}"
        return self.device

    @property
    def has_identity(self):
        return bool(self.model and self.serial)


def load(text):
    """The JSON document smartctl printed, or ParseError."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"smartctl printed no JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(document, dict) or not isinstance(document.get("smartctl"), dict):
        raise ParseError("smartctl printed JSON without its smartctl block")
    return document


def _clean(text):
    """One space between words: smartctl pads SCSI vendor and product fields."""
    if text is None:
        return None
    text = " ".join(str(text).split())
    return text or None


def _dict(value):
    """`value` when it is a JSON object, else {}: a block of another shape is ignored."""
    return value if isinstance(value, dict) else {}


def _list(value):
    return value if isinstance(value, list) else []


def _int(value):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        # json.loads accepts NaN and Infinity, which have no int.
        return int(value) if value == value and abs(value) != float("inf") else None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _model(document):
    for key in ("model_name", "scsi_model_name"):
        if document.get(key):
            return _clean(document[key])
    vendor = document.get("vendor") or document.get("scsi_vendor")
    product = document.get("product") or document.get("scsi_product")
    if product:
        return _clean(f"{vendor or ''} {product}")
    return None


def _protocol(document):
    protocol = _dict(document.get("device")).get("protocol")
    if protocol in ("ATA", "NVMe", "SCSI"):
        return protocol
    if "nvme_smart_health_information_log" in document:
        return "NVMe"
    if "ata_smart_attributes" in document:
        return "ATA"
    if "scsi_grown_defect_list" in document or "scsi_error_counter_log" in document:
        return "SCSI"
    return protocol


def _attributes(document):
    table = _list(_dict(document.get("ata_smart_attributes")).get("table"))
    attributes = {}
    for entry in table:
        # An entry without a usable id cannot be told apart from another: left out.
        attribute_id = _int(entry.get("id")) if isinstance(entry, dict) else None
        if attribute_id is None:
            continue
        raw = _dict(entry.get("raw"))
        when_failed = entry.get("when_failed")
        attribute = Attribute(id=attribute_id, name=str(entry.get("name") or ""),
                              raw=_int(raw.get("value")) or 0,
                              raw_string=str(raw.get("string", raw.get("value", ""))),
                              when_failed=when_failed if isinstance(when_failed, str) else "")
        attributes[attribute.id] = attribute
    return attributes


def _self_test_errors(document):
    """Errors in the self-test logs that no later successful extended test outdated.

    smartctl reads the standard log, the extended one, or both; the worse count is taken.
    An empty log ("count": 0) has no error_count_total in smartctl 7.3's JSON: no errors.
    """
    log = _dict(document.get("ata_smart_self_test_log"))
    counts = []
    for part in ("standard", "extended"):
        entry = log.get(part)
        if isinstance(entry, dict) and "error_count_total" in entry:
            total = _int(entry["error_count_total"]) or 0
            outdated = _int(entry.get("error_count_outdated")) or 0
            counts.append(total - outdated)
        elif isinstance(entry, dict) and _int(entry.get("count")) == 0:
            counts.append(0)
    return max(counts) if counts else None


def _nvme(document):
    log = document.get("nvme_smart_health_information_log")
    if not isinstance(log, dict):
        return None
    return NvmeHealth(critical_warning=_int(log.get("critical_warning")) or 0,
                      available_spare=_int(log.get("available_spare")),
                      available_spare_threshold=_int(log.get("available_spare_threshold")),
                      percentage_used=_int(log.get("percentage_used")),
                      media_errors=_int(log.get("media_errors")))


def _uncorrected(document):
    log = document.get("scsi_error_counter_log")
    if not isinstance(log, dict):
        return None
    counts = {}
    for kind in ("read", "write", "verify"):
        value = _int(_dict(log.get(kind)).get("total_uncorrected_errors"))
        if value is not None:
            counts[kind] = value
    return counts or None


def _temperature(document):
    current = _int(_dict(document.get("temperature")).get("current"))
    if current is None:
        current = _int(_dict(document.get("nvme_smart_health_information_log")).get("temperature"))
    return current


def _temperature_limit(document, protocol):
    """(limit in °C, where it came from) as the drive itself reports it, or (None, None).

    Zero or less means "not reported" (NVMe's WCTEMP is 0 when unsupported).
    """
    temperature = _dict(document.get("temperature"))
    sct = _dict(_dict(document.get("ata_sct_status")).get("temperature"))
    candidates = []
    if protocol == "NVMe":
        wctemp = "NVMe warning composite temperature (WCTEMP)"
        threshold = _dict(document.get("nvme_composite_temperature_threshold"))
        candidates += [(threshold.get("warning"), wctemp),
                       (temperature.get("op_limit_max"), wctemp)]
        for line in _list(_dict(document.get("smartctl")).get("output")):
            match = _NVME_WCTEMP.match(str(line))
            if match:
                candidates.append((match.group(1), wctemp))
    elif protocol == "SCSI":
        candidates.append((temperature.get("drive_trip"), "SCSI drive trip temperature"))
    else:
        candidates += [(temperature.get("op_limit_max"), "ATA maximum operating temperature"),
                       (sct.get("op_limit_max"), "ATA SCT maximum operating temperature"),
                       (temperature.get("limit_max"), "ATA SCT temperature limit")]
    for value, source in candidates:
        value = _int(value)
        if value is not None and value > 0:
            return value, source
    return None, None


# smartctl 7.3 reports a failed log read ("Read SMART Log Directory failed: scsi error aborted
# command", exit status bit 2) only in its text output, which --json=o carries as `output`.
_FAILED_LINE = re.compile(r"\bfailed: ")


def _messages(block):
    messages = []
    for message in _list(block.get("messages")):
        if isinstance(message, dict) and message.get("string"):
            messages.append(str(message["string"]))
    for line in _list(block.get("output")):
        if isinstance(line, str) and _FAILED_LINE.search(line) and line.strip() not in messages:
            messages.append(line.strip())
    return messages


def parse(document, device=None, returncode=None):
    """A DiskReport from smartctl's JSON `document` for `device` (the path smartctl was given).

    `returncode` is the process's exit status, used when the JSON lacks smartctl.exit_status.
    """
    block = _dict(document.get("smartctl"))
    exit_status = _int(block.get("exit_status"))
    if exit_status is None:
        exit_status = returncode
    if device is None:
        device = _dict(document.get("device")).get("name")
    if not isinstance(device, str) or not device:
        argv = _list(block.get("argv"))
        device = str(argv[-1]) if argv else "unknown device"
    messages = _messages(block)
    standby = None
    for message in messages:
        match = _STANDBY.search(message)
        if match:
            standby = match.group(1)
    protocol = _protocol(document)
    limit, source = _temperature_limit(document, protocol)
    passed = _dict(document.get("smart_status")).get("passed")
    scsi_defects = document.get("scsi_grown_defect_list")
    return DiskReport(
        device=device,
        exit_status=exit_status,
        protocol=protocol,
        model=_model(document),
        serial=_clean(document.get("serial_number")),
        messages=messages,
        standby=standby,
        has_data=bool(set(document) - _ENVELOPE_KEYS),
        passed=passed if isinstance(passed, bool) else None,
        temperature=_temperature(document),
        temperature_limit=limit,
        temperature_limit_source=source,
        attributes=_attributes(document),
        self_test_errors=_self_test_errors(document),
        nvme=_nvme(document),
        grown_defects=_int(scsi_defects),
        uncorrected_errors=_uncorrected(document),
    )


def unreadable(device, reason, returncode=None):
    """A DiskReport for a device smartctl gave no JSON for (timeout, crash, garbage)."""
    return DiskReport(device=device, exit_status=returncode, messages=[reason])
