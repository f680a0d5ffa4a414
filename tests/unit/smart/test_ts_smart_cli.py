"""ts-smart's command line as a process: help, exit statuses, start-up imports."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HEAVY = ("plumbum", "requests", "pyudev", "btrfsutil", "pynvml")


def test_help_lists_the_commands_and_exit_statuses(run_tool):
    result = run_tool("ts-smart", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "check" in text and "scan" in text
    assert "0 every subject is ok" in text
    assert "2 at least one critical finding" in text
    assert "75 another run of the same tool holds its lock" in text
    check = run_tool("ts-smart", "check", "--help")
    assert check.returncode == 0
    assert "skipped: in standby" in check.stdout


def test_help_imports_no_heavy_module(run_tool, tmp_path):
    probe = tmp_path / "sitecustomize.py"
    probe.write_text(
        "import atexit, sys\n"
        "def _report():\n"
        f"    heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "    sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n"
        "atexit.register(_report)\n"
    )
    pythonpath = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    if os.environ.get("TRAINSERVER_TEST_INSTALLED") != "1":
        pythonpath += os.pathsep + os.path.join(ROOT, "tools")
    for args in (["--help"], ["check", "--help"], ["scan", "--help"]):
        result = run_tool("ts-smart", *args, env={"PYTHONPATH": pythonpath})
        assert result.returncode == 0, result.stderr
        assert "HEAVY=\n" in result.stderr, (args, result.stderr)


def test_missing_config_exits_3_without_traceback(run_tool, tmp_path):
    result = run_tool("ts-smart", "--config", str(tmp_path / "nope.toml"), "check", "--json")
    assert result.returncode == 3
    assert result.stdout == ""
    assert "no such file" in result.stderr
    assert "Traceback" not in result.stderr
