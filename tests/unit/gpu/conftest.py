"""ts-gpu-temp's test harness, built on STAND-INS: there is no GPU on these machines.

The fake nvidia-smi (tests/fixtures/gpu/bin) and the fake pynvml (tests/fixtures/gpu/fake_nvml)
are put on the PATH and PYTHONPATH of the real ts-gpu-temp process only; see
tests/fixtures/gpu/README.md.
"""

import importlib.util
import json
import os

import pytest

from trainserver.core.findings import parse_line

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "gpu")
SMI_SCENARIOS = os.path.join(FIXTURES, "nvidia-smi")
FAKE_SMI_BIN = os.path.join(FIXTURES, "bin")
FAKE_NVML_DIR = os.path.join(FIXTURES, "fake_nvml")
# Where Debian puts programs; nvidia-smi is not among them on a machine without the driver.
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def smi_recording(scenario, name):
    """A recording with the fake's comment lines removed: what nvidia-smi would print."""
    with open(os.path.join(SMI_SCENARIOS, scenario, name), encoding="utf-8") as handle:
        return "".join(line for line in handle if not line.startswith("#"))


def load_fake_nvml(scenario):
    """A fresh copy of the STAND-IN pynvml module, loaded by path (sys.path is not touched)."""
    spec = importlib.util.spec_from_file_location("fake_pynvml", os.path.join(FAKE_NVML_DIR, "pynvml.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.use_scenario(scenario)
    return module


def nvml_gpu(index, temperature=50, slowdown=87, reasons=0x1, **extra):
    """A GPU for a fake NVML scenario (an RTX A6000 unless told otherwise)."""
    gpu = {"name": "NVIDIA RTX A6000", "uuid": f"GPU-0000000{index}-aaaa-4bbb-8ccc-dddddddddddd",
           "bus_id": f"00000000:{0x01 + 0x40 * index:02X}:00.0", "temperature": temperature,
           "slowdown": slowdown, "reasons": reasons}
    gpu.update(extra)
    return gpu


class GpuTemp:
    """Runs the real ts-gpu-temp with a test config, and with stand-ins where a test asks."""

    def __init__(self, run_tool, tmp_path):
        self.run_tool = run_tool
        self.tmp = tmp_path
        self.config = tmp_path / "trainserver.toml"
        self.config.write_text(
            "[paths]\n"
            f'state_dir = "{tmp_path}/state"\n'
            f'lock_dir = "{tmp_path}/lock"\n'
            f'metrics_dir = "{tmp_path}/metrics"\n'
        )
        self.smi_log = tmp_path / "nvidia-smi.log"
        self.state = tmp_path / "state" / "gpu.json"
        self.metrics = tmp_path / "metrics" / "trainserver_gpu.prom"

    def run(self, *args, smi=None, nvml=None, env=None):
        """smi: an nvidia-smi scenario name (None: no nvidia-smi on PATH).
        nvml: a fake NVML scenario dict (None: no pynvml, as on this machine)."""
        full_env = {"PATH": SYSTEM_PATH}
        if smi is not None:
            full_env["PATH"] = FAKE_SMI_BIN + os.pathsep + SYSTEM_PATH
            full_env["FAKE_NVIDIA_SMI_SCENARIO"] = os.path.join(SMI_SCENARIOS, smi)
            full_env["FAKE_NVIDIA_SMI_LOG"] = str(self.smi_log)
        if nvml is not None:
            scenario = self.tmp / "nvml-scenario.json"
            scenario.write_text(json.dumps(nvml))
            full_env["FAKE_NVML_SCENARIO"] = str(scenario)
            pythonpath = [FAKE_NVML_DIR]
            if os.environ.get("TRAINSERVER_TEST_INSTALLED") != "1":
                pythonpath.append(os.path.join(ROOT, "tools"))
            full_env["PYTHONPATH"] = os.pathsep.join(pythonpath)
        full_env.update(env or {})
        return self.run_tool("ts-gpu-temp", "--config", str(self.config), *args, env=full_env)

    def check(self, smi=None, nvml=None, env=None):
        """(exit status, [Finding], stderr) of `ts-gpu-temp check --json`."""
        result = self.run("check", "--json", smi=smi, nvml=nvml, env=env)
        assert "Traceback" not in result.stderr, result.stderr
        findings = [parse_line(line) for line in result.stdout.splitlines() if line.strip()]
        return result.returncode, findings, result.stderr

    def smi_calls(self):
        return self.smi_log.read_text().splitlines() if self.smi_log.exists() else []


@pytest.fixture
def gpu_temp(run_tool, tmp_path):
    return GpuTemp(run_tool, tmp_path)
