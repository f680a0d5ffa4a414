"""ts-oom's command line: help, and what it costs to start."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HEAVY = ("plumbum", "requests", "pyudev", "btrfsutil", "pynvml", "jsonschema")


def test_help_names_the_exit_statuses(run_tool):
    result = run_tool("ts-oom", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "Exit status: 0 every subject is ok; 1 at least one warning" in text
    assert "check" in text


def test_help_imports_only_click_and_the_core(run_tool, tmp_path):
    probe = tmp_path / "sitecustomize.py"
    probe.write_text(
        "import atexit, sys\n"
        "def _report():\n"
        f"    heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "    ours = sorted(m for m in sys.modules if m.startswith('trainserver.')\n"
        "                  and m not in ('trainserver.oom', 'trainserver.oom.cli')\n"
        "                  and not m.startswith('trainserver.core'))\n"
        "    sys.stderr.write('HEAVY=' + ','.join(heavy + ours) + '\\n')\n"
        "atexit.register(_report)\n"
    )
    pythonpath = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    if os.environ.get("TRAINSERVER_TEST_INSTALLED") != "1":
        pythonpath += os.pathsep + os.path.join(ROOT, "tools")
    for args in (["--help"], ["check", "--help"]):
        result = run_tool("ts-oom", *args, env={"PYTHONPATH": pythonpath})
        assert result.returncode == 0, result.stderr
        assert "HEAVY=\n" in result.stderr, (args, result.stderr)


def test_unknown_source_is_a_usage_error(run_tool):
    result = run_tool("ts-oom", "check", "--source", "syslog")
    assert result.returncode == 3
    assert "syslog" in result.stderr
