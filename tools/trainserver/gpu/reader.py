"""Which reader reads the GPUs: NVML when pynvml imports and the driver answers, else nvidia-smi."""

import logging

from trainserver.gpu import deadline, nvml_reader, smi_reader
from trainserver.gpu.readings import GpuReadError

log = logging.getLogger(__name__)


def read_nvml(timeout):
    """nvml_reader.read() in a child process, given at most `timeout` seconds (NVML has no timeout)."""
    try:
        return deadline.call(nvml_reader.read, timeout)
    except deadline.TimedOut:
        raise GpuReadError(f"NVML did not answer within {timeout:g} s (driver hung?)",
                           hung=True) from None
    except deadline.ChildFailed as exc:
        raise GpuReadError(f"NVML: {exc}") from None


def read_gpus(timeout):
    """A Reading, or GpuReadError naming why neither NVML nor nvidia-smi could read the GPUs."""
    try:
        return read_nvml(timeout)
    except GpuReadError as exc:
        if exc.hung:
            # nvidia-smi goes through the same driver: it would hang as well, and cost another
            # timeout before the finding is out.
            raise
        nvml_failure = exc
    # pynvml not being installed is an ordinary set-up; NVML failing on a driver that
    # nvidia-smi can still use is worth a line in the journal.
    log.log(logging.DEBUG if nvml_failure.no_driver else logging.WARNING,
            "%s; trying nvidia-smi", nvml_failure)
    try:
        return smi_reader.read(timeout)
    except GpuReadError as exc:
        raise GpuReadError(f"{nvml_failure}; {exc}",
                           no_driver=nvml_failure.no_driver and exc.no_driver) from None
