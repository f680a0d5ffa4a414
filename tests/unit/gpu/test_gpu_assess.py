"""Thresholds and GPU identity: pure decisions, no GPU needed."""

import pytest

from trainserver.core.findings import Severity
from trainserver.gpu import assess, reasons
from trainserver.gpu.readings import GpuReadError, GpuReading, Reading

NOW = "2026-11-28T12:00:00Z"
UUID0 = "GPU-1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
UUID1 = "GPU-6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"


def gpu(index=0, uuid=UUID0, temperature=50, slowdown=87, **extra):
    return GpuReading(index=index, name="NVIDIA RTX A6000", uuid=uuid,
                      pci_bus_id=f"0000:{0x01 + 0x40 * index:02x}:00.0",
                      temperature=temperature, slowdown=slowdown, **extra)


def verdict(reading, warning=80):
    severity, summary, threshold = assess.temperature_verdict(reading, warning)
    return severity, threshold, summary


@pytest.mark.parametrize("temperature, expected", [
    (80, Severity.OK),  # "above 80" is a warning; 80 itself is not
    (81, Severity.WARNING),
    (86, Severity.WARNING),
    (87, Severity.CRITICAL),  # at the slowdown threshold
    (95, Severity.CRITICAL),
])
def test_temperature_thresholds(temperature, expected):
    assert verdict(gpu(temperature=temperature))[0] == expected


def test_thresholds_reported_with_the_finding():
    assert verdict(gpu(temperature=50))[1] == 80
    severity, threshold, summary = verdict(gpu(temperature=90))
    assert threshold == 87
    assert summary.startswith("90 °C: at or above the GPU's slowdown threshold of 87 °C")


def test_warning_is_configurable():
    assert verdict(gpu(temperature=76), warning=75)[0] == Severity.WARNING
    assert verdict(gpu(temperature=76), warning=85)[0] == Severity.OK


def test_hardware_thermal_slowdown_is_critical_even_when_cool():
    severity, threshold, summary = verdict(gpu(temperature=70, reasons=reasons.HW_THERMAL_SLOWDOWN))
    assert severity == Severity.CRITICAL and threshold == 87
    assert "hardware thermal slowdown active" in summary
    # nvidia-smi's own column wins over the mask
    assert verdict(gpu(temperature=70, reasons=0, hw_thermal=True))[0] == Severity.CRITICAL


def test_other_clock_reasons_are_not_thermal():
    mask = reasons.GPU_IDLE | reasons.SW_POWER_CAP | reasons.HW_POWER_BRAKE_SLOWDOWN
    assert verdict(gpu(temperature=70, reasons=mask))[0] == Severity.OK


def test_software_thermal_slowdown_is_shown_but_no_warning_by_itself():
    """GeForce cards hold a target temperature by slowing down in software during training."""
    severity, _, summary = verdict(gpu(temperature=70, reasons=reasons.SW_THERMAL_SLOWDOWN))
    assert severity == Severity.OK
    assert summary == ("70 °C, ok; software thermal slowdown active "
                       "(warning above 80 °C, slowdown at 87 °C)")
    severity, _, summary = verdict(gpu(temperature=84, sw_thermal=True))
    assert severity == Severity.WARNING
    assert summary.startswith("84 °C: above the warning threshold of 80 °C; software thermal "
                              "slowdown active (")
    assert verdict(gpu(temperature=None, sw_thermal=True))[0] == Severity.UNKNOWN


def test_unknown_temperature_and_threshold():
    severity, _, summary = verdict(gpu(temperature=None, slowdown=None))
    assert severity == Severity.UNKNOWN and "no temperature" in summary
    severity, _, summary = verdict(gpu(temperature=85, slowdown=None))
    assert severity == Severity.WARNING and "slowdown threshold not reported" in summary


def test_subject_is_uuid_with_name_and_index():
    assert assess.subject(UUID0, "NVIDIA RTX A6000", 0) == f"{UUID0} (NVIDIA RTX A6000, index 0)"
    assert assess.subject(UUID0) == UUID0


def run(gpus, remembered=None, reader="NVML"):
    return assess.assess(Reading(reader, gpus, "550.144.03"), remembered or {}, 80, NOW)


def test_healthy_gpus_are_reported_ok_and_remembered():
    result = run([gpu(0, UUID0, 45), gpu(1, UUID1, 50)])
    driver, first, second = result.findings
    assert (driver.check, driver.severity, driver.value) == ("driver", Severity.OK, 2)
    assert driver.summary == "NVML, driver 550.144.03: 2 GPUs"
    assert [f.severity for f in (first, second)] == [Severity.OK, Severity.OK]
    assert second.subject == f"{UUID1} (NVIDIA RTX A6000, index 1)"
    assert result.state["gpus"][UUID1] == {"name": "NVIDIA RTX A6000", "index": 1,
                                           "pci_bus_id": "0000:41:00.0", "slowdown": 87,
                                           "last_seen": NOW}


def test_gpu_missing_since_an_earlier_run_is_critical_until_forgotten():
    before = run([gpu(0, UUID0), gpu(1, UUID1)]).state["gpus"]
    result = run([gpu(0, UUID0)], before)
    missing = result.findings[-1]
    assert missing.severity == Severity.CRITICAL
    assert missing.subject == f"{UUID1} (NVIDIA RTX A6000, index 1)"
    assert f"seen until {NOW}" in missing.summary and f"ts-gpu-temp forget {UUID1}" in missing.summary
    # still remembered, so the next run reports it again
    assert UUID1 in result.state["gpus"]
    assert run([gpu(0, UUID0)], result.state["gpus"]).findings[-1].severity == Severity.CRITICAL


def test_lost_gpu_takes_its_identity_from_the_state():
    before = run([gpu(0, UUID0), gpu(1, UUID1)]).state["gpus"]
    lost_by_bus = GpuReading(pci_bus_id="0000:41:00.0", lost=True, error="GPU is lost")
    result = run([gpu(0, UUID0), lost_by_bus], before, reader="nvidia-smi")
    assert len(result.findings) == 3, "the lost GPU must not be reported missing as well"
    lost = result.findings[2]
    assert lost.severity == Severity.CRITICAL and lost.subject == f"{UUID1} (NVIDIA RTX A6000, index 1)"
    assert lost.summary.startswith("GPU is lost")
    assert result.state["gpus"][UUID1] == before[UUID1], "a lost GPU's memory is kept as it was"
    lost_by_index = GpuReading(index=1, lost=True, error="NVML: GPU is lost")
    assert run([gpu(0, UUID0), lost_by_index], before).findings[2].subject.startswith(UUID1)


def test_lost_gpu_never_seen_before():
    result = run([GpuReading(pci_bus_id="0000:41:00.0", lost=True, error="GPU is lost")])
    assert result.findings[1].subject == "GPU at PCI 0000:41:00.0"
    assert result.findings[1].severity == Severity.CRITICAL
    assert run([GpuReading(index=3, lost=True, error="x")]).findings[1].subject == "GPU index 3"


def test_unreadable_gpu_is_unknown():
    finding = run([GpuReading(index=0, error="NVML: Unknown Error")]).findings[1]
    assert finding.severity == Severity.UNKNOWN and "Unknown Error" in finding.summary


def test_remembered_slowdown_threshold_fills_a_gap():
    before = run([gpu(0, UUID0, slowdown=87)]).state["gpus"]
    result = run([gpu(0, UUID0, temperature=88, slowdown=None)], before)
    assert result.findings[1].severity == Severity.CRITICAL
    assert result.state["gpus"][UUID0]["slowdown"] == 87


def test_no_gpu_at_all_is_unknown_but_missing_ones_are_critical():
    driver = run([]).findings[0]
    assert driver.severity == Severity.UNKNOWN and "finds no NVIDIA GPU" in driver.summary
    before = run([gpu(0, UUID0)]).state["gpus"]
    driver, missing = run([], before).findings
    assert driver.severity == Severity.OK and missing.severity == Severity.CRITICAL


def test_read_failure_is_one_unknown_finding():
    finding = assess.read_failure(GpuReadError("nvidia-smi is not installed", no_driver=True), {})
    assert (finding.check, finding.subject, finding.severity) == ("driver", "nvidia-driver",
                                                                  Severity.UNKNOWN)
    assert finding.summary.startswith("no NVIDIA driver found")
    other = assess.read_failure(GpuReadError("nvidia-smi: timed out after 60 s"), {UUID0: {}})
    assert other.summary == "cannot read the GPUs: nvidia-smi: timed out after 60 s (1 GPU seen here before)"


def test_hung_driver_is_critical():
    error = GpuReadError("NVML did not answer within 60 s (driver hung?)", hung=True)
    finding = assess.read_failure(error, {UUID0: {}})
    assert (finding.check, finding.subject, finding.severity) == ("driver", "nvidia-driver",
                                                                  Severity.CRITICAL)
    assert finding.summary == "NVML did not answer within 60 s (driver hung?) (1 GPU seen here before)"


def test_corrupt_state_shapes_are_ignored():
    assert assess.remembered_gpus({"gpus": [1, 2]}) == {}
    assert assess.remembered_gpus([]) == {}
    assert assess.remembered_gpus({"gpus": {UUID0: {"index": 0}, "x": 3}}) == {UUID0: {"index": 0}}
