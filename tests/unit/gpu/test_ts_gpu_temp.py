"""ts-gpu-temp as the timer runs it: a real process, its findings, exit status, state and metrics.

There is no GPU here. The no-driver path runs for real (no pynvml, no nvidia-smi); every other
path runs the real tool against STAND-INS: a fake nvidia-smi on PATH printing outputs written in
nvidia-smi's documented format, or a fake pynvml on PYTHONPATH (tests/fixtures/gpu/README.md).
"""

import configparser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from trainserver.core.findings import Severity
from trainserver.core.schema import defaults
from trainserver.core.units import parse_duration

from .conftest import ROOT, SYSTEM_PATH, nvml_gpu

A6000_0 = "GPU-1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
A6000_1 = "GPU-6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"


def by_subject(findings):
    return {f.subject: f for f in findings}


@pytest.mark.skipif(shutil.which("nvidia-smi", path=SYSTEM_PATH) is not None
                    or importlib.util.find_spec("pynvml") is not None,
                    reason="this machine has nvidia-smi or pynvml: not the no-driver machine")
def test_no_driver_for_real_is_one_unknown_finding(gpu_temp):
    status, findings, stderr = gpu_temp.check()
    assert status == 3
    [finding] = findings
    assert (finding.tool, finding.check, finding.subject, finding.severity) == (
        "gpu-temp", "driver", "nvidia-driver", Severity.UNKNOWN)
    assert finding.summary == ("no NVIDIA driver found, so no GPU can be checked: pynvml is not "
                               "installed (Debian: python3-pynvml; PyPI: nvidia-ml-py); nvidia-smi "
                               "is not installed")
    assert stderr == ""
    assert "trainserver_gpu_driver_up 0\n" in gpu_temp.metrics.read_text()
    text = gpu_temp.run("check")
    assert text.returncode == 3 and "UNKNOWN" in text.stdout and "Traceback" not in text.stderr


def test_one_gpu_ok_through_nvidia_smi(gpu_temp):
    status, findings, stderr = gpu_temp.check(smi="one-gpu-ok")
    assert status == 0, stderr
    driver, gpu = findings
    assert driver.summary == "nvidia-smi, driver 550.144.03: 1 GPU"
    assert gpu.subject == "GPU-8f6a1c3e-2b7d-4e59-a0c1-5d3e9b7f2a64 (NVIDIA GeForce RTX 4090, index 0)"
    assert (gpu.check, gpu.severity, gpu.value, gpu.threshold) == ("temperature", Severity.OK, 45, 80)
    assert gpu.summary == "45 °C, ok (warning above 80 °C, slowdown at 90 °C)"
    assert gpu_temp.smi_calls()[1] == "-q -d TEMPERATURE"
    labels = 'index="0",name="NVIDIA GeForce RTX 4090",{}uuid="GPU-8f6a1c3e-2b7d-4e59-a0c1-5d3e9b7f2a64"'
    metrics = gpu_temp.metrics.read_text()
    for line in ["trainserver_gpu_driver_up 1",
                 "trainserver_gpu_up{%s} 1" % labels.format(""),
                 "trainserver_gpu_temperature_celsius{%s} 45" % labels.format(""),
                 "trainserver_gpu_slowdown_temperature_celsius{%s} 90" % labels.format(""),
                 "trainserver_gpu_throttle_reason_active{%s} 1" % labels.format('reason="gpu_idle",'),
                 "trainserver_gpu_throttle_reason_active{%s} 0"
                 % labels.format('reason="hw_thermal_slowdown",')]:
        assert line in metrics.splitlines(), line
    state = json.loads(gpu_temp.state.read_text())
    assert state["gpus"]["GPU-8f6a1c3e-2b7d-4e59-a0c1-5d3e9b7f2a64"]["slowdown"] == 90


def test_recorded_h200_output_gives_what_nvml_gave_on_that_gpu(gpu_temp):
    """h200-driver-580 is real nvidia-smi output; NVML on the same GPU gave this same finding."""
    status, findings, _ = gpu_temp.check(smi="h200-driver-580")
    assert status == 0
    assert findings[1].subject == "GPU-25626968-f401-3050-0001-5646c8eedd41 (NVIDIA H200, index 0)"
    assert findings[1].summary == "36 °C, ok (warning above 80 °C, slowdown at 89 °C)"


def test_hot_gpu_is_a_warning(gpu_temp):
    status, findings, _ = gpu_temp.check(smi="two-gpus-one-hot")
    assert status == 1
    gpus = by_subject(findings)
    hot = gpus[f"{A6000_0} (NVIDIA RTX A6000, index 0)"]
    assert (hot.severity, hot.value, hot.threshold) == (Severity.WARNING, 84, 80)
    assert gpus[f"{A6000_1} (NVIDIA RTX A6000, index 1)"].severity == Severity.OK
    table = gpu_temp.run("check", smi="two-gpus-one-hot")
    assert table.returncode == 1
    assert table.stdout.splitlines()[1].startswith("WARNING   gpu-temp/temperature  " + A6000_0)


def test_throttling_gpu_is_critical(gpu_temp):
    status, findings, _ = gpu_temp.check(smi="throttling")
    assert status == 2
    gpu = findings[1]
    assert (gpu.severity, gpu.value, gpu.threshold) == (Severity.CRITICAL, 90, 89)
    assert "hardware thermal slowdown active" in gpu.summary
    metrics = gpu_temp.metrics.read_text().splitlines()
    for reason in ("hw_thermal_slowdown", "sw_thermal_slowdown"):
        assert any(line.startswith("trainserver_gpu_throttle_reason_active{")
                   and f'reason="{reason}"' in line and line.endswith(" 1") for line in metrics), reason


def test_software_thermal_slowdown_alone_is_ok_but_shown(gpu_temp):
    scenario = {"gpus": [nvml_gpu(0, temperature=70, reasons=0x20)]}  # SW_THERMAL_SLOWDOWN
    status, findings, stderr = gpu_temp.check(nvml=scenario)
    assert status == 0, stderr
    assert findings[1].severity == Severity.OK
    assert findings[1].summary == ("70 °C, ok; software thermal slowdown active "
                                   "(warning above 80 °C, slowdown at 87 °C)")
    assert (f'trainserver_gpu_throttle_reason_active{{index="0",name="NVIDIA RTX A6000",'
            f'reason="sw_thermal_slowdown",uuid="{scenario["gpus"][0]["uuid"]}"}} 1'
            in gpu_temp.metrics.read_text().splitlines())


def test_fields_not_available_are_unknown(gpu_temp):
    status, findings, _ = gpu_temp.check(smi="na-fields")
    assert status == 3
    assert findings[1].severity == Severity.UNKNOWN
    assert "no temperature" in findings[1].summary


def test_lost_gpu_is_critical_and_named_from_the_previous_run(gpu_temp):
    assert gpu_temp.check(smi="two-gpus-one-hot")[0] == 1
    status, findings, _ = gpu_temp.check(smi="lost-gpu")
    assert status == 2
    lost = by_subject(findings)[f"{A6000_1} (NVIDIA RTX A6000, index 1)"]
    assert lost.severity == Severity.CRITICAL
    assert "Unable to determine the device handle for GPU 0000:41:00.0: GPU is lost" in lost.summary
    assert len(findings) == 3
    assert f'trainserver_gpu_up{{index="1",name="NVIDIA RTX A6000",uuid="{A6000_1}"}} 0' in \
        gpu_temp.metrics.read_text()


def test_lost_gpu_without_history(gpu_temp):
    status, findings, _ = gpu_temp.check(smi="lost-gpu")
    assert status == 2
    assert findings[2].subject == "GPU at PCI 0000:41:00.0"


def test_missing_gpu_is_critical_until_forgotten(gpu_temp):
    gpu_temp.check(smi="two-gpus-one-hot")
    status, findings, _ = gpu_temp.check(smi="gpu-missing")
    assert status == 2
    missing = findings[-1]
    assert missing.subject == f"{A6000_1} (NVIDIA RTX A6000, index 1)"
    assert missing.severity == Severity.CRITICAL and missing.summary.startswith("missing: seen until ")
    assert gpu_temp.check(smi="gpu-missing")[0] == 2, "reported again, not dropped after one run"

    wrong = gpu_temp.run("forget", "GPU-not-a-real-one")
    assert wrong.returncode == 3 and "not remembered: GPU-not-a-real-one" in wrong.stderr
    forgot = gpu_temp.run("forget", A6000_1)
    assert forgot.returncode == 0 and forgot.stdout == f"forgot {A6000_1}\n"
    assert gpu_temp.check(smi="gpu-missing")[0] == 0


def test_forget_dry_run_keeps_the_gpu(gpu_temp):
    gpu_temp.check(smi="two-gpus-one-hot")
    before = gpu_temp.state.read_bytes()
    would = gpu_temp.run("forget", "--dry-run", A6000_1)
    assert would.returncode == 0 and would.stdout == f"would forget {A6000_1}\n"
    assert gpu_temp.state.read_bytes() == before
    assert gpu_temp.check(smi="gpu-missing")[0] == 2, "still remembered, so still missing"
    assert gpu_temp.run("forget", "-n", "GPU-not-a-real-one").returncode == 3


def test_driver_not_loaded_through_nvidia_smi(gpu_temp):
    status, findings, stderr = gpu_temp.check(smi="driver-missing")
    assert status == 3 and len(findings) == 1
    assert findings[0].summary.startswith("no NVIDIA driver found, so no GPU can be checked: pynvml")
    assert "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver" in \
        findings[0].summary


def test_driver_not_loaded_with_gpus_seen_before_keeps_them(gpu_temp):
    gpu_temp.check(smi="two-gpus-one-hot")
    remembered = json.loads(gpu_temp.state.read_text())
    status, findings, _ = gpu_temp.check(smi="driver-missing")
    assert status == 3 and findings[0].summary.endswith("(2 GPUs seen here before)")
    assert json.loads(gpu_temp.state.read_text()) == remembered


def test_old_driver_field_names_are_retried(gpu_temp):
    status, findings, _ = gpu_temp.check(smi="old-driver")
    assert status == 1
    assert (findings[1].value, "slowdown at 87 °C" in findings[1].summary) == (83, True)
    first, second, third = gpu_temp.smi_calls()
    assert "clocks_event_reasons.active" in first and "clocks_throttle_reasons.active" in second
    assert third == "-q -d TEMPERATURE"


def test_no_devices(gpu_temp):
    status, findings, _ = gpu_temp.check(smi="no-devices")
    assert status == 3 and "finds no NVIDIA GPU" in findings[0].summary


def test_nvidia_smi_failing_otherwise_is_unknown_not_no_driver(gpu_temp, tmp_path):
    broken = tmp_path / "bin"
    broken.mkdir()
    program = broken / "nvidia-smi"
    program.write_text("#!/bin/sh\necho 'Failed to initialize NVML: Driver/library version mismatch'\n"
                       "exit 18\n")
    program.chmod(0o755)
    status, findings, _ = gpu_temp.check(env={"PATH": f"{broken}:{SYSTEM_PATH}"})
    assert status == 3
    assert findings[0].summary.startswith("cannot read the GPUs: pynvml is not installed")
    assert findings[0].summary.endswith(
        "nvidia-smi exit status 18: Failed to initialize NVML: Driver/library version mismatch")


def test_nvml_is_used_when_pynvml_imports(gpu_temp):
    scenario = {"driver_version": "580.95.05",
                "gpus": [nvml_gpu(0, temperature=72), nvml_gpu(1, temperature=88, slowdown=88)]}
    status, findings, stderr = gpu_temp.check(smi="one-gpu-ok", nvml=scenario)
    assert status == 2, stderr
    assert findings[0].summary == "NVML, driver 580.95.05: 2 GPUs"
    assert [f.severity for f in findings[1:]] == [Severity.OK, Severity.CRITICAL]
    assert findings[2].threshold == 88
    assert gpu_temp.smi_calls() == [], "nvidia-smi must not run when NVML answers"


def test_nvml_lost_gpu(gpu_temp):
    gpus = [nvml_gpu(0), nvml_gpu(1)]
    gpu_temp.check(nvml={"gpus": gpus})
    status, findings, _ = gpu_temp.check(nvml={"gpus": [gpus[0], {"handle_error": "GPU_IS_LOST"}]})
    assert status == 2
    assert findings[2].subject == f"{gpus[1]['uuid']} (NVIDIA RTX A6000, index 1)"
    assert findings[2].summary.endswith("(NVML: GPU is lost)")


def test_hung_nvml_is_critical_within_the_timeout(gpu_temp, tmp_path):
    """The STAND-IN pynvml never returns from one call, as NVML does on a wedged driver."""
    gpu_temp.config.write_text(gpu_temp.config.read_text() + '[gpu]\ntimeout = "2s"\n')
    pid_file = tmp_path / "hung.pid"
    scenario = {"gpus": [nvml_gpu(0)], "hang": "nvmlDeviceGetTemperatureV",
                "hang_pid_file": str(pid_file)}
    started = time.monotonic()
    status, findings, stderr = gpu_temp.check(smi="one-gpu-ok", nvml=scenario)
    assert time.monotonic() - started < 10, "the check must not wait for the hung call"
    assert status == 2, stderr
    [finding] = findings
    assert (finding.check, finding.subject, finding.severity) == (
        "driver", "nvidia-driver", Severity.CRITICAL)
    assert finding.summary == "NVML did not answer within 2 s (driver hung?)"
    assert gpu_temp.smi_calls() == [], "nvidia-smi would hang on the same driver"
    assert "trainserver_gpu_driver_up 0\n" in gpu_temp.metrics.read_text()
    hung = int(pid_file.read_text())
    assert hung and not os.path.exists(f"/proc/{hung}"), "the hung reader is killed"


def test_service_start_timeout_outlasts_the_checks_own_bounds():
    """A hang the check cannot bound fails the unit (OnFailure alerts); a slow but bounded
    check (one NVML read, three nvidia-smi calls, each within [gpu] timeout) must not."""
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str
    unit.read(os.path.join(ROOT, "systemd", "ts-gpu-temp.service"))
    timespan = subprocess.run(["systemd-analyze", "timespan", unit["Service"]["TimeoutStartSec"]],
                              capture_output=True, text=True, check=True).stdout
    start_timeout = int(re.search(r"μs: (\d+)", timespan).group(1)) / 1e6
    bounded = 4 * parse_duration(defaults()["gpu"]["timeout"])
    assert bounded < start_timeout < 15 * 60, "and it ends before the next timer run"


def test_nvml_without_driver_falls_back_to_nvidia_smi(gpu_temp):
    status, findings, stderr = gpu_temp.check(smi="one-gpu-ok", nvml={"init_error": "DRIVER_NOT_LOADED",
                                                                     "gpus": []})
    assert status == 0
    assert findings[0].summary.startswith("nvidia-smi, ")
    assert "NVML" not in stderr, "pynvml without a driver is no news worth a warning"


def test_nvml_failing_with_a_driver_is_logged_and_nvidia_smi_used(gpu_temp):
    status, findings, stderr = gpu_temp.check(smi="one-gpu-ok",
                                              nvml={"init_error": "NO_PERMISSION", "gpus": []})
    assert status == 0 and findings[0].summary.startswith("nvidia-smi, ")
    assert "NVML could not start: Insufficient Permissions; trying nvidia-smi" in stderr


def test_no_driver_at_all_with_pynvml_installed(gpu_temp):
    status, findings, _ = gpu_temp.check(smi="driver-missing",
                                         nvml={"init_error": "LIBRARY_NOT_FOUND", "gpus": []})
    assert status == 3
    assert findings[0].summary.startswith(
        "no NVIDIA driver found, so no GPU can be checked: NVML could not start: NVML Shared Library "
        "Not Found; nvidia-smi: NVIDIA-SMI has failed")


def test_unusable_state_and_metrics_directories_still_report(gpu_temp, tmp_path):
    """As a check run by hand without root meets them; a file in the way fails for root too."""
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    gpu_temp.config.write_text(f'[paths]\nstate_dir = "{in_the_way}/s"\nmetrics_dir = "{in_the_way}/m"\n'
                               f'lock_dir = "{tmp_path}/lock"\n')
    status, findings, stderr = gpu_temp.check(smi="one-gpu-ok")
    assert status == 0 and len(findings) == 2
    assert f"cannot read {in_the_way}/s/gpu.json" in stderr
    assert f"cannot write {in_the_way}/s/gpu.json" in stderr
    assert "metrics not written to" in stderr


def test_help_names_the_exit_statuses(gpu_temp):
    assert "Exit status: 0 every subject is ok" in " ".join(
        gpu_temp.run_tool("ts-gpu-temp", "--help").stdout.split())
