"""ts-gpu-temp with a real NVIDIA GPU and driver: the paths the unit tests can only fake.

Marked `gpu` and skipped without /dev/nvidia0 (there is no GPU on the development and CI
machines). On a GPU machine, as any user that can open /dev/nvidia*:
    python3 -m pytest -q -m gpu tests/integration/test_gpu_real.py
The NVML path needs pynvml (python3-pynvml, or nvidia-ml-py); the nvidia-smi path needs
nvidia-smi. Each is skipped when its program is missing. The tool runs under the interpreter
that runs pytest, so a virtual environment holding pynvml works too.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from trainserver.core.findings import Severity, parse_line

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not os.path.exists("/dev/nvidia0"), reason="no NVIDIA GPU (/dev/nvidia0)"),
]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUBJECT = re.compile(r"^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} "
                     r"\(.+, index \d+\)$")
# Makes `import pynvml` fail in the tool's process, so that it falls back to nvidia-smi.
HIDE_PYNVML = """\
import sys
class _HidePynvml:
    def find_spec(self, name, path=None, target=None):
        if name == "pynvml":
            raise ImportError("hidden by the test")
sys.meta_path.insert(0, _HidePynvml())
"""


def run_check(tmp_path, hide_pynvml=False):
    config = tmp_path / "trainserver.toml"
    config.write_text(f'[paths]\nstate_dir = "{tmp_path}/state"\nlock_dir = "{tmp_path}/lock"\n'
                      f'metrics_dir = "{tmp_path}/metrics"\n')
    env = dict(os.environ)
    env.pop("TRAINSERVER_CONFIG", None)
    pythonpath = []
    if hide_pynvml:
        (tmp_path / "hide").mkdir(exist_ok=True)
        (tmp_path / "hide" / "sitecustomize.py").write_text(HIDE_PYNVML)
        pythonpath.append(str(tmp_path / "hide"))
    if os.environ.get("TRAINSERVER_TEST_INSTALLED") == "1":
        argv = ["/usr/bin/ts-gpu-temp"]
    else:
        pythonpath.append(os.path.join(ROOT, "tools"))
        argv = [sys.executable, "-c", "import sys; sys.argv[0] = 'ts-gpu-temp'; "
                "from trainserver.gpu.cli import main; main()"]
    env["PYTHONPATH"] = os.pathsep.join(pythonpath + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    result = subprocess.run(argv + ["--config", str(config), "check", "--json"], capture_output=True,
                            text=True, env=env, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    findings = [parse_line(line) for line in result.stdout.splitlines() if line.strip()]
    metrics = (tmp_path / "metrics" / "trainserver_gpu.prom").read_text()
    return result, findings, metrics


def slowdown_temperatures(metrics):
    """{GPU UUID: slowdown threshold in °C} from trainserver_gpu.prom."""
    found = {}
    for labels, value in re.findall(
            r'^trainserver_gpu_slowdown_temperature_celsius\{([^}]*)\} (\S+)$', metrics, re.MULTILINE):
        found[re.search(r'uuid="([^"]*)"', labels).group(1)] = float(value)
    return found


def gpu_count():
    result = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60)
    return sum(1 for line in result.stdout.splitlines() if line.startswith("GPU "))


def assert_shape(result, findings, metrics, reader):
    assert result.returncode in (0, 1, 2), (result.returncode, result.stdout, result.stderr)
    driver, gpus = findings[0], findings[1:]
    assert (driver.tool, driver.check, driver.subject, driver.severity) == (
        "gpu-temp", "driver", "nvidia-driver", Severity.OK)
    assert driver.summary.startswith(f"{reader}, driver "), driver.summary
    assert gpus and driver.value == len(gpus)
    for finding in gpus:
        assert finding.check == "temperature"
        assert SUBJECT.match(finding.subject), finding.subject
        assert finding.severity in (Severity.OK, Severity.WARNING, Severity.CRITICAL), finding
        assert isinstance(finding.value, int) and 0 < finding.value < 120, finding
        assert isinstance(finding.threshold, int), finding
        uuid = finding.subject.split()[0]
        assert re.search(r'^trainserver_gpu_temperature_celsius\{.*uuid="%s"\} \d+$' % uuid, metrics,
                         re.MULTILINE), metrics
        assert re.search(r'^trainserver_gpu_up\{.*uuid="%s"\} 1$' % uuid, metrics, re.MULTILINE)
    assert "trainserver_gpu_driver_up 1" in metrics
    return {f.subject: f for f in gpus}


@pytest.mark.skipif(importlib.util.find_spec("pynvml") is None, reason="pynvml is not installed")
def test_real_nvml(tmp_path):
    result, findings, metrics = run_check(tmp_path)
    gpus = assert_shape(result, findings, metrics, "NVML")
    if shutil.which("nvidia-smi"):
        assert len(gpus) == gpu_count()
    assert "trainserver_gpu_slowdown_temperature_celsius{" in metrics
    assert 'reason="hw_thermal_slowdown"' in metrics
    state = json.loads((tmp_path / "state" / "gpu.json").read_text())
    assert set(state["gpus"]) == {subject.split()[0] for subject in gpus}


@pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="nvidia-smi is not installed")
def test_real_nvidia_smi_agrees_with_nvml(tmp_path):
    result, findings, metrics = run_check(tmp_path, hide_pynvml=True)
    by_smi = assert_shape(result, findings, metrics, "nvidia-smi")
    assert len(by_smi) == gpu_count()
    assert "trainserver_gpu_slowdown_temperature_celsius{" in metrics, \
        "the slowdown threshold from nvidia-smi -q -d TEMPERATURE was not found"
    if importlib.util.find_spec("pynvml") is None:
        return
    nvml_dir = tmp_path / "nvml"
    nvml_dir.mkdir()
    # Its own state directory: neither run fills a threshold in from what the other remembered.
    _, nvml_findings, nvml_metrics = run_check(nvml_dir)
    by_nvml = {f.subject: f for f in nvml_findings[1:]}
    assert set(by_nvml) == set(by_smi)
    for subject, finding in by_smi.items():
        assert abs(finding.value - by_nvml[subject].value) <= 5, (finding, by_nvml[subject])
    # The findings' threshold is the configured warning unless a GPU is at its slowdown
    # threshold, so the thresholds each reader found are compared in the metrics.
    slowdown_by_nvml = slowdown_temperatures(nvml_metrics)
    assert slowdown_by_nvml, nvml_metrics
    assert slowdown_temperatures(metrics) == slowdown_by_nvml
