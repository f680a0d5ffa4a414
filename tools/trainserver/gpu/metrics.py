"""The trainserver_gpu_* metrics, for node-exporter's textfile collector (trainserver_gpu.prom)."""

from trainserver.core.metrics import Metric
from trainserver.gpu import reasons


def _labels(status):
    return {"uuid": status.uuid or "", "name": status.name or "",
            "index": "" if status.index is None else str(status.index)}


def build(statuses, driver_up):
    """Metrics for the GpuStatus rows of one check (none when the driver could not be read)."""
    driver = Metric("trainserver_gpu_driver_up",
                    "1 when NVML or nvidia-smi could read the GPUs, 0 when neither could.")
    driver.add(1 if driver_up else 0)
    up = Metric("trainserver_gpu_up",
                "1 when the GPU was read; 0 when it is lost, missing or could not be read.")
    temperature = Metric("trainserver_gpu_temperature_celsius", "GPU core temperature in °C.")
    slowdown = Metric("trainserver_gpu_slowdown_temperature_celsius",
                      "Temperature in °C at which the GPU slows itself down (its own threshold).")
    reason = Metric("trainserver_gpu_throttle_reason_active",
                    "1 when this clock event (throttle) reason holds the GPU's clocks down.")
    for status in statuses:
        labels = _labels(status)
        gpu = status.reading
        readable = gpu is not None and not gpu.lost and gpu.temperature is not None
        up.add(1 if readable else 0, **labels)
        if gpu is None or gpu.lost:
            continue
        if gpu.temperature is not None:
            temperature.add(gpu.temperature, **labels)
        if gpu.slowdown is not None:
            slowdown.add(gpu.slowdown, **labels)
        flags = reasons.flags(gpu.reasons) if gpu.reasons is not None else {}
        # nvidia-smi's own columns for the thermal reasons win over the mask, as in GpuReading.
        for name, value in (("hw_thermal_slowdown", gpu.hw_thermal_slowdown),
                            ("sw_thermal_slowdown", gpu.sw_thermal_slowdown)):
            if value is not None:
                flags[name] = value
        for name, value in sorted(flags.items()):
            reason.add(1 if value else 0, reason=name, **labels)
    return [driver, up, temperature, slowdown, reason]
