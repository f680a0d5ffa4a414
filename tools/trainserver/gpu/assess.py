"""From a Reading and what earlier runs remembered to findings, the next state and metric rows.

Thresholds: above [gpu] temperature_warning is a warning; at or above the GPU's own slowdown
threshold, or with hardware thermal slowdown active, is critical; so is a GPU the driver calls
lost, a GPU seen before that is no longer there, and a driver that never answers. Software
thermal slowdown is shown in the summary and the metrics but raises no severity by itself.
GPUs are remembered by UUID (the state file) until they come back or an admin runs
`ts-gpu-temp forget UUID`, so a missing GPU stays critical rather than being reported once and
then silently dropped.
"""

from dataclasses import dataclass, field

from trainserver.core.findings import Finding, Severity, worst
from trainserver.gpu import TOOL

CHECK = "temperature"
DRIVER_CHECK = "driver"
DRIVER_SUBJECT = "nvidia-driver"


def subject(uuid, name=None, index=None):
    """The UUID (stable across reboots and slot changes), with name and index for people."""
    details = ", ".join(filter(None, [name, None if index is None else f"index {index}"]))
    return f"{uuid} ({details})" if details else uuid


def remembered_gpus(document):
    """{uuid: {"name", "index", "pci_bus_id", "slowdown", "last_seen"}} from the state file."""
    gpus = (document or {}).get("gpus") if isinstance(document, dict) else None
    if not isinstance(gpus, dict):
        return {}
    return {uuid: info for uuid, info in gpus.items() if isinstance(info, dict)}


@dataclass
class GpuStatus:
    """One GPU's row for the metrics: who it is and what was read (reading None: missing)."""

    uuid: object
    name: object
    index: object
    reading: object = None


@dataclass
class Assessment:
    findings: list = field(default_factory=list)
    state: dict = field(default_factory=dict)
    gpus: list = field(default_factory=list)  # GpuStatus


def _celsius(value):
    return f"{value} °C"


def temperature_verdict(gpu, warning):
    """(severity, summary, threshold) for a GPU that could be read."""
    temperature, slowdown = gpu.temperature, gpu.slowdown
    severities, problems = [], []
    threshold = warning
    if temperature is not None and slowdown is not None and temperature >= slowdown:
        severities.append(Severity.CRITICAL)
        problems.append(f"at or above the GPU's slowdown threshold of {_celsius(slowdown)}")
        threshold = slowdown
    elif temperature is not None and temperature > warning:
        severities.append(Severity.WARNING)
        problems.append(f"above the warning threshold of {_celsius(warning)}")
    if gpu.hw_thermal_slowdown:
        severities.append(Severity.CRITICAL)
        problems.append("hardware thermal slowdown active: the GPU is cutting its clocks to cool down")
        threshold = slowdown if slowdown is not None else threshold
    if temperature is None and not severities:
        severities.append(Severity.UNKNOWN)
        problems.append("the driver reports no temperature for this GPU"
                        + (f" ({gpu.error})" if gpu.error else ""))
    # Information only: GPUs with a target temperature (GeForce cards) slow down in software
    # to hold it during ordinary training; the temperature itself says whether that is a problem.
    notes = ["software thermal slowdown active"] if gpu.sw_thermal_slowdown else []
    limits = [f"warning above {_celsius(warning)}"]
    limits.append(f"slowdown at {_celsius(slowdown)}" if slowdown is not None
                  else "slowdown threshold not reported")
    head = _celsius(temperature) if temperature is not None else "temperature unknown"
    if problems:
        summary = f"{head}: {'; '.join(problems + notes)} ({', '.join(limits)})"
    else:
        summary = f"{head}, {'; '.join(['ok'] + notes)} ({', '.join(limits)})"
    return worst(severities), summary, threshold


def _match_remembered(gpu, remembered, taken):
    """The remembered UUID of a GPU read without one (lost, or its handle unreadable)."""
    for key, wanted in (("pci_bus_id", gpu.pci_bus_id), ("index", gpu.index)):
        if wanted is None:
            continue
        for uuid, info in remembered.items():
            if uuid not in taken and info.get(key) == wanted:
                return uuid
    return None


def assess(reading, remembered, warning, now):
    """Findings for every GPU read and every remembered GPU, the state to keep, and metric rows."""
    result = Assessment()
    present = {gpu.uuid for gpu in reading.gpus if gpu.uuid}
    taken = set(present)
    state = {uuid: dict(info) for uuid, info in remembered.items()}
    for gpu in reading.gpus:
        uuid = gpu.uuid or _match_remembered(gpu, remembered, taken)
        if uuid:
            taken.add(uuid)
        known = remembered.get(uuid, {})
        name = gpu.name or known.get("name")
        index = gpu.index if gpu.index is not None else known.get("index")
        # The slowdown threshold is a fixed property of the GPU: a reader that misses it this
        # time (nvidia-smi -q timing out, say) must not lose the critical threshold.
        if gpu.slowdown is None and known.get("slowdown") is not None and not gpu.lost:
            gpu.slowdown = known["slowdown"]
        if uuid:
            who = subject(uuid, name, index)
        elif gpu.pci_bus_id:
            who = f"GPU at PCI {gpu.pci_bus_id}"
        else:
            who = f"GPU index {index}"
        if gpu.lost:
            severity = Severity.CRITICAL
            summary = ("GPU is lost (fallen off the bus): it cannot be used until the machine is "
                       f"rebooted; check its power, seating and cooling ({gpu.error})")
            value, threshold = None, None
        elif gpu.temperature is None and gpu.error and not gpu.hw_thermal_slowdown:
            severity, summary = Severity.UNKNOWN, f"cannot read the GPU: {gpu.error}"
            value, threshold = None, None
        else:
            severity, summary, threshold = temperature_verdict(gpu, warning)
            value = gpu.temperature
        result.findings.append(Finding(TOOL, CHECK, who, severity, summary, value, threshold))
        result.gpus.append(GpuStatus(uuid, name, index, gpu))
        if gpu.uuid and not gpu.lost:
            state[uuid] = {
                "name": name, "index": index, "pci_bus_id": gpu.pci_bus_id or known.get("pci_bus_id"),
                "slowdown": gpu.slowdown, "last_seen": now,
            }
    for uuid, info in sorted(remembered.items()):
        if uuid in taken:
            continue
        summary = (f"missing: seen until {info.get('last_seen', 'an earlier run')}, not found now "
                   f"by {reading.reader} (if it was removed on purpose: ts-gpu-temp forget {uuid})")
        result.findings.append(Finding(TOOL, CHECK, subject(uuid, info.get("name"), info.get("index")),
                                       Severity.CRITICAL, summary))
        result.gpus.append(GpuStatus(uuid, info.get("name"), info.get("index")))
    result.findings.insert(0, driver_finding(reading, remembered))
    result.state = {"gpus": state}
    return result


def driver_finding(reading, remembered):
    """The driver answered: ok, unless it knows of no GPU and none was ever seen here."""
    version = f" {reading.driver_version}" if reading.driver_version else ""
    count = len(reading.gpus)
    summary = f"{reading.reader}, driver{version}: {count} GPU{'' if count == 1 else 's'}"
    if count == 0 and not remembered:
        return Finding(TOOL, DRIVER_CHECK, DRIVER_SUBJECT, Severity.UNKNOWN,
                       summary + ": the driver answers but finds no NVIDIA GPU", value=0)
    return Finding(TOOL, DRIVER_CHECK, DRIVER_SUBJECT, Severity.OK, summary, value=count)


def read_failure(error, remembered):
    """The one finding when neither NVML nor nvidia-smi could read the GPUs.

    Unknown, except for a driver that never answered: that is critical, since a hung driver
    usually means a GPU in trouble and jobs stuck on it, not merely a check that cannot tell.
    """
    severity = Severity.UNKNOWN
    if error.no_driver:
        summary = f"no NVIDIA driver found, so no GPU can be checked: {error}"
    elif error.hung:
        severity, summary = Severity.CRITICAL, str(error)
    else:
        summary = f"cannot read the GPUs: {error}"
    if remembered:
        summary += f" ({len(remembered)} GPU{'' if len(remembered) == 1 else 's'} seen here before)"
    return Finding(TOOL, DRIVER_CHECK, DRIVER_SUBJECT, severity, summary)
