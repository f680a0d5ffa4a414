"""Which reader reads the GPUs: NVML when pynvml imports and the driver answers, else nvidia-smi."""

import logging

from trainserver.gpu import nvml_reader, smi_reader
from trainserver.gpu.readings import GpuReadError

log = logging.getLogger(__name__)


def read_gpus(timeout):
    """A Reading, or GpuReadError naming why neither NVML nor nvidia-smi could read the GPUs."""
    try:
        return nvml_reader.read()
    except GpuReadError as exc:
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
