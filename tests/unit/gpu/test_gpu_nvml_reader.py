"""The NVML reader against a STAND-IN pynvml (tests/fixtures/gpu/fake_nvml/pynvml.py), loaded by
file path: there is no GPU and no NVIDIA driver here. The real module is exercised by
tests/integration/test_gpu_real.py on a GPU machine."""

import importlib.util

import pytest

from trainserver.gpu import nvml_reader, reasons
from trainserver.gpu.readings import GpuReadError

from .conftest import load_fake_nvml, nvml_gpu


def read(scenario):
    return nvml_reader.read(load_fake_nvml(scenario))


def test_reads_every_gpu():
    reading = read({"driver_version": "550.144.03",
                    "gpus": [nvml_gpu(0, temperature=45), nvml_gpu(1, temperature=84, reasons=0x40)]})
    assert (reading.reader, reading.driver_version) == ("NVML", "550.144.03")
    first, second = reading.gpus
    assert (first.index, first.name, first.uuid, first.pci_bus_id) == (
        0, "NVIDIA RTX A6000", "GPU-00000000-aaaa-4bbb-8ccc-dddddddddddd", "0000:01:00.0")
    assert (first.temperature, first.slowdown, first.reasons) == (45, 87, 1)
    assert second.pci_bus_id == "0000:41:00.0" and second.hw_thermal_slowdown is True
    assert not any(g.error or g.lost for g in reading.gpus)


def test_shuts_nvml_down_after_reading():
    nvml = load_fake_nvml({"gpus": [nvml_gpu(0)]})
    nvml_reader.read(nvml)
    with pytest.raises(nvml.NVMLError_Uninitialized):
        nvml.nvmlDeviceGetCount()


def test_driver_older_than_the_bindings_uses_the_old_functions():
    reading = read({"missing_functions": ["nvmlDeviceGetTemperatureV",
                                          "nvmlDeviceGetCurrentClocksEventReasons"],
                    "gpus": [nvml_gpu(0, temperature=66, reasons=reasons.SW_THERMAL_SLOWDOWN)]})
    gpu = reading.gpus[0]
    assert gpu.temperature == 66 and gpu.sw_thermal_slowdown is True and gpu.error is None


def test_bindings_older_than_the_driver():
    nvml = load_fake_nvml({"gpus": [nvml_gpu(0, temperature=61)]})
    del nvml.nvmlDeviceGetTemperatureV, nvml.nvmlDeviceGetCurrentClocksEventReasons
    assert nvml_reader.read(nvml).gpus[0].temperature == 61


def test_lost_gpu_at_its_handle():
    reading = read({"gpus": [nvml_gpu(0), {"handle_error": "GPU_IS_LOST"}]})
    lost = reading.gpus[1]
    assert lost.lost and lost.index == 1 and lost.uuid is None and lost.error == "NVML: GPU is lost"
    assert not reading.gpus[0].lost


def test_gpu_lost_while_being_read():
    gpu = nvml_gpu(0, errors={"nvmlDeviceGetTemperatureV": "GPU_IS_LOST"})
    lost = read({"gpus": [gpu]}).gpus[0]
    assert lost.lost and lost.uuid == gpu["uuid"] and lost.temperature is None


def test_not_supported_values_are_none_without_error():
    gpu = read({"gpus": [nvml_gpu(0, slowdown=None, reasons=None)]}).gpus[0]
    assert gpu.slowdown is None and gpu.reasons is None and gpu.error is None and gpu.temperature == 50


def test_other_errors_are_kept_on_the_gpu():
    gpu = read({"gpus": [nvml_gpu(0, errors={"nvmlDeviceGetTemperatureV": "UNKNOWN"})]}).gpus[0]
    assert gpu.temperature is None and not gpu.lost
    assert gpu.error == "NVML nvmlDeviceGetTemperatureV: Unknown Error"


def test_handle_error_that_is_not_lost():
    gpu = read({"gpus": [{"handle_error": "NO_PERMISSION"}]}).gpus[0]
    assert not gpu.lost and gpu.error == "NVML: Insufficient Permissions"


@pytest.mark.parametrize("code, no_driver", [
    ("DRIVER_NOT_LOADED", True),
    ("LIBRARY_NOT_FOUND", True),
    ("LIB_RM_VERSION_MISMATCH", False),  # a driver upgraded without a reboot: a driver in trouble
    ("NO_PERMISSION", False),
])
def test_init_failures(code, no_driver):
    with pytest.raises(GpuReadError) as caught:
        read({"init_error": code, "gpus": []})
    assert caught.value.no_driver is no_driver
    assert str(caught.value).startswith("NVML could not start: ")


@pytest.mark.skipif(importlib.util.find_spec("pynvml") is not None,
                    reason="pynvml is installed here; this tests the machine without it")
def test_without_pynvml_for_real():
    with pytest.raises(GpuReadError) as caught:
        nvml_reader.read()
    assert caught.value.no_driver and "pynvml is not installed" in str(caught.value)
