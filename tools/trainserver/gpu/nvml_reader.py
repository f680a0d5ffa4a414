"""Reads the GPUs through NVML (pynvml, from the nvidia-ml-py project), the driver's own library.

pynvml is imported here, when a check runs, never at start-up. Every call can fail on its own:
NOT_SUPPORTED leaves that one value unknown, GPU_IS_LOST marks the GPU lost, and anything else is
kept as the GPU's error, so one bad GPU never hides the others.
"""

from trainserver.gpu.readings import GpuReading, GpuReadError, Reading, normalize_bus_id


def _text(value):
    # nvidia-ml-py returns str since 11.515; older bindings (nvidia-ml-py3) return bytes.
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


# nvmlDeviceGetTemperature is deprecated in favour of nvmlDeviceGetTemperatureV (nvidia-ml-py
# 12.560 on); clock "throttle" reasons were renamed clock "event" reasons with driver 535.
_TEMPERATURE = ["nvmlDeviceGetTemperatureV", "nvmlDeviceGetTemperature"]
_REASONS = ["nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"]


class _Lost(Exception):
    pass


class _Device:
    def __init__(self, nvml, handle, gpu):
        self.nvml = nvml
        self.handle = handle
        self.gpu = gpu

    def get(self, names, *args):
        """The first of the functions `names` that the bindings and the driver both have.

        Returns None when the GPU does not support the value or the call failed (kept as the
        GPU's error). Newer names come first: NVML deprecates the old ones, while a driver older
        than the bindings answers FUNCTION_NOT_FOUND for the new ones.
        """
        nvml = self.nvml
        functions = [getattr(nvml, name) for name in names if hasattr(nvml, name)]
        for function in functions:
            try:
                return function(self.handle, *args)
            except nvml.NVMLError as exc:
                if exc.value == nvml.NVML_ERROR_GPU_IS_LOST:
                    raise _Lost(str(exc)) from None
                if exc.value == nvml.NVML_ERROR_FUNCTION_NOT_FOUND and function is not functions[-1]:
                    continue
                if exc.value != nvml.NVML_ERROR_NOT_SUPPORTED and self.gpu.error is None:
                    self.gpu.error = f"NVML {function.__name__}: {exc}"
                return None
        return None


def _read_gpu(nvml, index):
    gpu = GpuReading(index=index)
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
    except nvml.NVMLError as exc:
        gpu.lost = exc.value == nvml.NVML_ERROR_GPU_IS_LOST
        gpu.error = f"NVML: {exc}"
        return gpu
    device = _Device(nvml, handle, gpu)
    try:
        gpu.name = _text(device.get(["nvmlDeviceGetName"]))
        gpu.uuid = _text(device.get(["nvmlDeviceGetUUID"]))
        pci = device.get(["nvmlDeviceGetPciInfo"])
        gpu.pci_bus_id = normalize_bus_id(_text(getattr(pci, "busId", None))) if pci else None
        gpu.temperature = device.get(_TEMPERATURE, nvml.NVML_TEMPERATURE_GPU)
        gpu.slowdown = device.get(["nvmlDeviceGetTemperatureThreshold"],
                                  nvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN)
        gpu.reasons = device.get(_REASONS)
    except _Lost as exc:
        gpu.lost = True
        gpu.error = f"NVML: {exc}"
    return gpu


def read(nvml=None):
    """A Reading of every GPU, or GpuReadError (no_driver when pynvml or the driver is missing)."""
    if nvml is None:
        try:
            import pynvml as nvml
        except ImportError:
            raise GpuReadError("pynvml is not installed (Debian: python3-pynvml; PyPI: nvidia-ml-py)",
                               no_driver=True) from None
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        no_driver = exc.value in (nvml.NVML_ERROR_DRIVER_NOT_LOADED, nvml.NVML_ERROR_LIBRARY_NOT_FOUND)
        raise GpuReadError(f"NVML could not start: {exc}", no_driver=no_driver) from None
    try:
        try:
            driver = _text(nvml.nvmlSystemGetDriverVersion())
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as exc:
            raise GpuReadError(f"NVML: {exc}") from None
        return Reading("NVML", [_read_gpu(nvml, index) for index in range(count)], driver)
    finally:
        try:
            nvml.nvmlShutdown()
        except nvml.NVMLError:
            pass
