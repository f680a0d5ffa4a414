"""What a reader returns: one GpuReading per GPU, whichever of NVML or nvidia-smi produced it."""

import re
from dataclasses import dataclass, field

from trainserver.gpu import reasons

_BUS_ID = re.compile(r"([0-9a-fA-F]{4,8}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])")


def normalize_bus_id(text):
    """A PCI address as "0000:41:00.0", or None.

    NVML and nvidia-smi's CSV print the domain with 8 digits ("00000000:41:00.0") while
    nvidia-smi's error lines use 4, so both are brought to one form before they are compared.
    """
    match = _BUS_ID.search(text or "")
    if not match:
        return None
    domain, bus, device, function = match.groups()
    return f"{int(domain, 16):04x}:{bus.lower()}:{device.lower()}.{function}"


@dataclass
class GpuReading:
    """One GPU as read now; fields the driver did not report are None."""

    index: object = None
    name: object = None
    uuid: object = None
    pci_bus_id: object = None
    temperature: object = None  # °C
    slowdown: object = None  # °C: the GPU's own slowdown threshold
    reasons: object = None  # clock event reason bit mask (reasons.py)
    hw_thermal: object = None  # hardware thermal slowdown, as a flag of its own (nvidia-smi)
    sw_thermal: object = None
    lost: bool = False  # the driver says the GPU is lost (fell off the bus)
    error: object = None  # why the GPU could not be read, when it is not lost

    def _flag(self, own, bit):
        if own is not None:
            return own
        if self.reasons is not None:
            return bool(self.reasons & bit)
        return None

    @property
    def hw_thermal_slowdown(self):
        return self._flag(self.hw_thermal, reasons.HW_THERMAL_SLOWDOWN)

    @property
    def sw_thermal_slowdown(self):
        return self._flag(self.sw_thermal, reasons.SW_THERMAL_SLOWDOWN)


@dataclass
class Reading:
    """Every GPU the driver knows of, and how they were read."""

    reader: str  # "NVML" or "nvidia-smi"
    gpus: list = field(default_factory=list)
    driver_version: object = None
    notes: list = field(default_factory=list)  # partial failures worth a log line


class GpuReadError(Exception):
    """The GPUs could not be read: `no_driver` when there is no driver, `hung` when it never answered."""

    def __init__(self, message, no_driver=False, hung=False):
        super().__init__(message)
        self.no_driver = no_driver
        self.hung = hung
