"""Reads the GPUs by running nvidia-smi, for machines without pynvml.

Two calls: the --query-gpu CSV for identity, temperature and clock event reasons, and
`nvidia-smi -q -d TEMPERATURE` for the slowdown thresholds (no query field holds them). The
second is best effort: without it the thresholds are the ones remembered from earlier runs.
"""

import shutil

from trainserver.gpu import smi_output
from trainserver.gpu.readings import GpuReadError, Reading


def _run(argv, timeout):
    from trainserver.core import commands
    from trainserver.core.errors import CommandError

    try:
        result = commands.run(argv, changes=False, timeout=timeout, ok_codes=None)
    except CommandError as exc:
        raise GpuReadError(str(exc)) from None
    return result.returncode, "\n".join(filter(None, (result.stdout, result.stderr)))


def _query(timeout):
    for fields in (smi_output.EVENT_FIELDS, smi_output.THROTTLE_FIELDS):
        returncode, text = _run(smi_output.query_argv(fields), timeout)
        output = smi_output.parse_query(text, fields)
        if not output.invalid_field:
            return returncode, output
    raise GpuReadError("nvidia-smi knows neither the clocks_event_reasons nor the "
                       "clocks_throttle_reasons query fields")


def read(timeout):
    """A Reading of every GPU, or GpuReadError (no_driver when nvidia-smi or the driver is missing)."""
    if shutil.which("nvidia-smi") is None:
        raise GpuReadError("nvidia-smi is not installed", no_driver=True)
    returncode, output = _query(timeout)
    if not output.gpus and not output.no_devices:
        if output.no_driver:
            raise GpuReadError(f"nvidia-smi: {output.no_driver}", no_driver=True)
        detail = "; ".join(output.errors) or "no output"
        raise GpuReadError(f"nvidia-smi exit status {returncode}: {detail}")
    reading = Reading("nvidia-smi", output.gpus, output.driver_version)
    reading.notes.extend(f"nvidia-smi: {line}" for line in output.errors)
    if output.gpus:
        _add_slowdown_thresholds(reading, timeout)
    return reading


def _add_slowdown_thresholds(reading, timeout):
    try:
        returncode, text = _run(smi_output.TEMPERATURE_ARGV, timeout)
    except GpuReadError as exc:
        reading.notes.append(f"no slowdown thresholds: {exc}")
        return
    thresholds = smi_output.parse_slowdown_temperatures(text)
    if not thresholds:
        reading.notes.append(f"no slowdown thresholds: nvidia-smi -q -d TEMPERATURE exit status "
                             f"{returncode} printed no GPU section")
    for gpu in reading.gpus:
        gpu.slowdown = thresholds.get(gpu.pci_bus_id)
