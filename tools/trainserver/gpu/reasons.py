"""Why a GPU's clocks are held down: NVML's clock event ("throttle") reason bits.

NVML's nvmlDeviceGetCurrentClocksEventReasons() and nvidia-smi's clocks_event_reasons.active
(clocks_throttle_reasons.active before driver 535) report the same bit mask; the names are
nvidia-smi's query field suffixes, so one table serves both readers and the metric labels.
"""

GPU_IDLE = 0x1
APPLICATIONS_CLOCKS_SETTING = 0x2
SW_POWER_CAP = 0x4
HW_SLOWDOWN = 0x8
SYNC_BOOST = 0x10
SW_THERMAL_SLOWDOWN = 0x20
HW_THERMAL_SLOWDOWN = 0x40
HW_POWER_BRAKE_SLOWDOWN = 0x80
DISPLAY_CLOCK_SETTING = 0x100

NAMES = {
    GPU_IDLE: "gpu_idle",
    APPLICATIONS_CLOCKS_SETTING: "applications_clocks_setting",
    SW_POWER_CAP: "sw_power_cap",
    HW_SLOWDOWN: "hw_slowdown",
    SYNC_BOOST: "sync_boost",
    SW_THERMAL_SLOWDOWN: "sw_thermal_slowdown",
    HW_THERMAL_SLOWDOWN: "hw_thermal_slowdown",
    HW_POWER_BRAKE_SLOWDOWN: "hw_power_brake_slowdown",
    DISPLAY_CLOCK_SETTING: "display_clock_setting",
}


def flags(mask):
    """{name: True/False} for every known reason (for metrics)."""
    return {name: bool(mask & bit) for bit, name in NAMES.items()}
