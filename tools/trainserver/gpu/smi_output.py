"""nvidia-smi's output, parsed: the --query-gpu CSV and the `-q -d TEMPERATURE` report.

Pure text in, data out, so every driver message we know of is tested without a GPU.
Field names are those of `nvidia-smi --help-query-gpu`. Driver 535 renamed
clocks_throttle_reasons.* to clocks_event_reasons.*; older drivers reject the new names with
'Field "..." is not a valid field to query', and the reader then asks again with the old ones.
The slowdown threshold is no query field: `nvidia-smi -q -d TEMPERATURE` prints it in each GPU's
section, headed by the GPU's PCI address, as "GPU Slowdown Temp" or, with newer drivers and GPUs,
only as T.Limit values it can be worked out from (see _slowdown).
"""

import csv
import re
from dataclasses import dataclass, field

from trainserver.gpu.readings import GpuReading, normalize_bus_id

_COMMON = ("index", "name", "uuid", "pci.bus_id", "temperature.gpu")
_REASONS = ("active", "hw_thermal_slowdown", "sw_thermal_slowdown")
EVENT_FIELDS = _COMMON + tuple(f"clocks_event_reasons.{r}" for r in _REASONS) + ("driver_version",)
THROTTLE_FIELDS = _COMMON + tuple(f"clocks_throttle_reasons.{r}" for r in _REASONS) + ("driver_version",)

TEMPERATURE_ARGV = ["nvidia-smi", "-q", "-d", "TEMPERATURE"]

# What nvidia-smi prints when the kernel module is not loaded (exit status 9) or libnvidia-ml
# is not installed (exit status 12): no driver, as opposed to a driver in trouble.
_NO_DRIVER = (
    "couldn't communicate with the nvidia driver",
    "couldn't find libnvidia-ml.so",
    "driver not loaded",
)
_LOST = "gpu is lost"


def query_argv(fields):
    return ["nvidia-smi", "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"]


@dataclass
class QueryOutput:
    gpus: list = field(default_factory=list)  # GpuReading, lost ones included
    driver_version: object = None
    invalid_field: bool = False  # the driver does not know a field we asked for
    no_devices: bool = False
    no_driver: object = None  # the line saying there is no driver
    errors: list = field(default_factory=list)  # other lines that are not rows


def _value(text):
    """The field's text, or None for nvidia-smi's "[N/A]", "[Not Supported]", "[Unknown Error]"..."""
    text = text.strip()
    if not text or text == "N/A" or (text.startswith("[") and text.endswith("]")):
        return None
    return text


def _int(text):
    value = _value(text)
    if value is None:
        return None
    try:
        return round(float(value))
    except ValueError:
        return None


def _active(text):
    return {"active": True, "not active": False}.get((_value(text) or "").lower())


def _mask(text):
    value = _value(text)
    if value is None:
        return None
    try:
        return int(value, 16) if value.lower().startswith("0x") else int(value)
    except ValueError:
        return None


def _row(cells):
    values = dict(zip(("index", "name", "uuid", "bus", "temp", "mask", "hw", "sw", "driver"), cells))
    lost = any(_LOST in cell.lower() for cell in cells)
    return GpuReading(
        index=_int(values["index"]),
        name=_value(values["name"]),
        uuid=_value(values["uuid"]),
        pci_bus_id=normalize_bus_id(values["bus"]),
        temperature=_int(values["temp"]),
        reasons=_mask(values["mask"]),
        hw_thermal=_active(values["hw"]),
        sw_thermal=_active(values["sw"]),
        lost=lost,
        error="nvidia-smi reports the GPU is lost" if lost else None,
    ), _value(values["driver"])


def parse_query(text, fields=EVENT_FIELDS):
    """Parse --query-gpu output (stdout and stderr together: nvidia-smi mixes rows and errors)."""
    out = QueryOutput()
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        cells = next(csv.reader([stripped], skipinitialspace=True))
        if len(cells) == len(fields) and cells[0].strip().isdigit():
            gpu, driver = _row(cells)
            out.gpus.append(gpu)
            out.driver_version = out.driver_version or driver
            continue
        lower = stripped.lower()
        if "is not a valid field to query" in lower:
            out.invalid_field = True
        elif "no devices were found" in lower:
            out.no_devices = True
        elif any(pattern in lower for pattern in _NO_DRIVER):
            out.no_driver = out.no_driver or stripped
        elif _LOST in lower:
            # "Unable to determine the device handle for GPU 0000:41:00.0: GPU is lost.  Reboot..."
            out.gpus.append(GpuReading(pci_bus_id=normalize_bus_id(stripped), lost=True,
                                       error=stripped))
        elif normalize_bus_id(stripped) and "unable to determine the device handle" in lower:
            out.gpus.append(GpuReading(pci_bus_id=normalize_bus_id(stripped), error=stripped))
        else:
            out.errors.append(stripped)
    return out


_SECTION = re.compile(r"^GPU\s+([0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])\s*$")
_LINE = re.compile(r"^\s*(GPU Current Temp|GPU Slowdown Temp|GPU T\.Limit Temp|GPU Slowdown T\.Limit Temp)"
                   r"\s*:\s*(-?\d+)\s*C\s*$")


def _slowdown(values):
    """The absolute slowdown threshold from one GPU section's values, or None.

    Older drivers print it ("GPU Slowdown Temp"). Newer ones may print only T.Limit values
    instead: "GPU T.Limit Temp" is the headroom between the current temperature and the GPU's
    T.Limit, and "GPU Slowdown T.Limit Temp" the headroom at which slowdown starts, so the
    threshold is current + headroom - slowdown headroom. Checked against NVML on an H200 with
    driver 580.159.04: 36 + 51 - (-2) = 89 °C, NVML's own slowdown threshold.
    """
    if "GPU Slowdown Temp" in values:
        return values["GPU Slowdown Temp"]
    needed = ("GPU Current Temp", "GPU T.Limit Temp", "GPU Slowdown T.Limit Temp")
    if all(name in values for name in needed):
        current, headroom, slowdown_headroom = (values[name] for name in needed)
        return current + headroom - slowdown_headroom
    return None


def parse_slowdown_temperatures(text):
    """{PCI address: slowdown threshold in °C, or None} from `nvidia-smi -q -d TEMPERATURE`."""
    sections = {}
    values = None
    for line in text.splitlines():
        section = _SECTION.match(line.strip())
        if section:
            values = sections.setdefault(normalize_bus_id(section.group(1)), {})
            continue
        match = _LINE.match(line)
        if match and values is not None:
            values[match.group(1)] = int(match.group(2))
    return {bus: _slowdown(values) for bus, values in sections.items()}
