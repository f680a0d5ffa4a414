"""Every ts-* tool starts fast: --help (and each subcommand's --help) imports click and the core,
never the heavy modules that only some commands need, nor the tool's own domain modules."""

import os

import pytest

from trainserver.manpage import console_scripts, load_command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HEAVY = ("plumbum", "requests", "pyudev", "btrfsutil", "pynvml", "jsonschema")
FAKE_NVML = os.path.join(ROOT, "tests", "fixtures", "gpu", "fake_nvml")

PROBE = f"""
import atexit, sys
def _report():
    heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
    sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
atexit.register(_report)
"""


def subcommands(target):
    command = load_command(target)
    return [[]] + [[name] for name in getattr(command, "commands", {})]


CASES = [(name, args) for name, target in console_scripts(os.path.join(ROOT, "setup.cfg"))
         for args in subcommands(target)]


@pytest.mark.parametrize("name,args", CASES, ids=[" ".join([n, *a]) for n, a in CASES])
def test_help_imports_no_heavy_module(run_tool, tmp_path, name, args):
    (tmp_path / "sitecustomize.py").write_text(PROBE)
    # The fake pynvml is importable, so an import of it at start-up would show too.
    paths = [str(tmp_path), FAKE_NVML]
    if os.environ.get("TRAINSERVER_TEST_INSTALLED") != "1":
        paths.append(os.path.join(ROOT, "tools"))
    result = run_tool(name, *args, "--help", env={"PYTHONPATH": os.pathsep.join(paths)})
    assert result.returncode == 0, result.stderr
    assert "HEAVY=\n" in result.stderr, result.stderr


def test_config_check_imports_no_heavy_module_but_jsonschema(run_tool, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(PROBE)
    config = tmp_path / "empty.toml"
    config.write_text("")
    paths = [str(tmp_path)]
    if os.environ.get("TRAINSERVER_TEST_INSTALLED") != "1":
        paths.append(os.path.join(ROOT, "tools"))
    result = run_tool("ts-config", "--config", str(config), "check",
                      env={"PYTHONPATH": os.pathsep.join(paths)})
    assert result.returncode == 0, result.stderr
    assert "HEAVY=jsonschema\n" in result.stderr, result.stderr

