"""Parsing nvidia-smi's output. The inputs are STAND-INS written in nvidia-smi's documented
format (tests/fixtures/gpu/nvidia-smi), not recordings from a GPU: there is none here. The one
exception, h200-driver-580, was recorded on a real H200 and says so in its header."""

from trainserver.gpu import reasons, smi_output
from trainserver.gpu.readings import normalize_bus_id

from .conftest import smi_recording


def test_two_gpus():
    out = smi_output.parse_query(smi_recording("two-gpus-one-hot", "query-gpu.event.txt"))
    assert [(g.index, g.name, g.uuid, g.pci_bus_id, g.temperature) for g in out.gpus] == [
        (0, "NVIDIA RTX A6000", "GPU-1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "0000:01:00.0", 84),
        (1, "NVIDIA RTX A6000", "GPU-6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d", "0000:41:00.0", 61),
    ]
    assert out.gpus[1].reasons == reasons.SW_POWER_CAP
    assert out.gpus[0].hw_thermal is False and out.gpus[0].sw_thermal is False
    assert out.driver_version == "550.144.03"
    assert not (out.errors or out.invalid_field or out.no_devices or out.no_driver)


def test_thermal_slowdown_flags_and_mask():
    gpu = smi_output.parse_query(smi_recording("throttling", "query-gpu.event.txt")).gpus[0]
    assert gpu.hw_thermal is True and gpu.sw_thermal is True
    assert gpu.reasons == reasons.SW_THERMAL_SLOWDOWN | reasons.HW_THERMAL_SLOWDOWN


def test_not_available_values_become_none():
    gpu = smi_output.parse_query(smi_recording("na-fields", "query-gpu.event.txt")).gpus[0]
    assert gpu.uuid == "GPU-5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
    assert (gpu.temperature, gpu.reasons, gpu.hw_thermal, gpu.sw_thermal) == (None, None, None, None)
    assert gpu.hw_thermal_slowdown is None
    assert not gpu.lost


def test_lost_gpu_line_among_rows():
    out = smi_output.parse_query(smi_recording("lost-gpu", "query-gpu.event.txt"))
    good, lost = out.gpus
    assert good.temperature == 58 and not good.lost
    assert lost.lost and lost.pci_bus_id == "0000:41:00.0" and lost.uuid is None
    assert "GPU is lost" in lost.error


def test_lost_gpu_inside_a_row():
    fields = smi_output.EVENT_FIELDS
    text = "1, [GPU is lost], [GPU is lost], 00000000:41:00.0, [GPU is lost], [GPU is lost], " \
           "[GPU is lost], [GPU is lost], 550.144.03\n"
    gpu = smi_output.parse_query(text, fields).gpus[0]
    assert gpu.lost and gpu.index == 1 and gpu.uuid is None and gpu.pci_bus_id == "0000:41:00.0"


def test_unreadable_gpu_that_is_not_lost_keeps_its_error():
    text = "Unable to determine the device handle for GPU 0000:41:00.0: Unknown Error\n"
    gpu = smi_output.parse_query(text).gpus[0]
    assert not gpu.lost and gpu.pci_bus_id == "0000:41:00.0" and "Unknown Error" in gpu.error


def test_driver_missing():
    out = smi_output.parse_query(smi_recording("driver-missing", "query-gpu.event.txt"))
    assert out.gpus == []
    assert out.no_driver.startswith("NVIDIA-SMI has failed because it couldn't communicate")


def test_no_devices_and_invalid_field():
    assert smi_output.parse_query("No devices were found\n").no_devices
    out = smi_output.parse_query('Field "clocks_event_reasons.active" is not a valid field to query.\n\n')
    assert out.invalid_field and out.gpus == []


def test_other_errors_are_kept():
    out = smi_output.parse_query("Failed to initialize NVML: Driver/library version mismatch\n")
    assert out.errors == ["Failed to initialize NVML: Driver/library version mismatch"]
    assert out.no_driver is None


def test_recorded_h200_row():
    out = smi_output.parse_query(smi_recording("h200-driver-580", "query-gpu.event.txt"))
    [gpu] = out.gpus
    assert (gpu.index, gpu.name, gpu.uuid, gpu.pci_bus_id, gpu.temperature, gpu.reasons) == (
        0, "NVIDIA H200", "GPU-25626968-f401-3050-0001-5646c8eedd41", "0000:00:06.0", 36,
        reasons.GPU_IDLE)
    assert (gpu.hw_thermal, gpu.sw_thermal, out.driver_version) == (False, False, "580.159.04")


def test_old_driver_field_names():
    out = smi_output.parse_query(smi_recording("old-driver", "query-gpu.throttle.txt"),
                                 smi_output.THROTTLE_FIELDS)
    assert out.gpus[0].name == "Tesla V100-PCIE-32GB" and out.gpus[0].pci_bus_id == "0000:3b:00.0"


def test_slowdown_temperatures_by_pci_address():
    text = smi_recording("two-gpus-one-hot", "temperature.txt")
    assert smi_output.parse_slowdown_temperatures(text) == {"0000:01:00.0": 95, "0000:41:00.0": 95}


def test_absolute_slowdown_temperature_wins_over_t_limit_values():
    text = smi_recording("one-gpu-ok", "temperature.txt")
    assert smi_output.parse_slowdown_temperatures(text) == {"0000:01:00.0": 90}


def test_slowdown_worked_out_from_t_limit_values_recorded_on_an_h200():
    """Driver 580 printed only T.Limit values for the H200; NVML said 89 °C for the same GPU."""
    text = smi_recording("h200-driver-580", "temperature.txt")
    assert "GPU Slowdown Temp " not in text
    assert smi_output.parse_slowdown_temperatures(text) == {"0000:00:06.0": 89}


def test_t_limit_values_without_the_current_temperature_give_no_threshold():
    text = ("GPU 00000000:00:06.0\n    Temperature\n        GPU Current Temp : N/A\n"
            "        GPU T.Limit Temp : 51 C\n        GPU Slowdown T.Limit Temp : -2 C\n")
    assert smi_output.parse_slowdown_temperatures(text) == {"0000:00:06.0": None}


def test_slowdown_not_available_and_lost_sections():
    assert smi_output.parse_slowdown_temperatures(smi_recording("na-fields", "temperature.txt")) == {
        "0000:17:00.0": None}
    assert smi_output.parse_slowdown_temperatures(smi_recording("lost-gpu", "temperature.txt")) == {
        "0000:01:00.0": 95}


def test_bus_id_forms_compare_equal():
    assert normalize_bus_id("00000000:3B:00.0") == normalize_bus_id("0000:3b:00.0") == "0000:3b:00.0"
    assert normalize_bus_id("GPU0000:41:00.0: GPU is lost") == "0000:41:00.0"
    assert normalize_bus_id("no address") is None
