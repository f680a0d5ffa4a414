"""ts-ups as a process, where no UPS is needed: not configured, and upsc not installed.

(The checks against a real upsd and NUT's dummy-ups driver are in
tests/integration/test_ups_nut.py: they need root.)"""

import json

import pytest

from trainserver.core.findings import Severity, parse_line


@pytest.fixture
def conf(tmp_path):
    def write(name=""):
        path = tmp_path / "trainserver.toml"
        path.write_text("[paths]\n"
                        f'state_dir = "{tmp_path}/state"\n'
                        f'lock_dir = "{tmp_path}/lock"\n'
                        f'metrics_dir = "{tmp_path}/metrics"\n'
                        "[ups]\n"
                        f"name = {json.dumps(name)}\n", encoding="utf-8")
        return str(path)

    return write


def findings(result):
    assert "Traceback" not in result.stderr, result.stderr
    return [parse_line(line, n) for n, line in enumerate(result.stdout.splitlines(), 1)]


def test_not_configured_is_one_ok_finding(run_tool, conf, tmp_path):
    result = run_tool("ts-ups", "--config", conf(), "check", "--json")
    [finding] = findings(result)
    assert result.returncode == 0
    assert (finding.tool, finding.check, finding.severity) == ("ups", "connection", Severity.OK)
    assert "not configured" in finding.summary
    assert not (tmp_path / "metrics").exists()
    status = run_tool("ts-ups", "--config", conf(), "status", "--json")
    assert (status.returncode, json.loads(status.stdout)) == (0, {"ups": None, "variables": {}})
    text = run_tool("ts-ups", "--config", conf(), "status")
    assert (text.returncode, text.stdout) == (0, "no UPS configured ([ups] name is empty)\n")


def test_upsc_not_installed_is_unknown_and_says_what_to_install(run_tool, conf, tmp_path):
    # No upsc on this PATH: the real "program not found" of core.commands, no stand-in.
    env = {"PATH": str(tmp_path)}
    result = run_tool("ts-ups", "--config", conf("ups@localhost"), "check", "--json", env=env)
    [finding] = findings(result)
    assert result.returncode == 3
    assert (finding.check, finding.subject, finding.severity) == (
        "connection", "ups@localhost", Severity.UNKNOWN)
    assert "install nut-client" in finding.summary
    metrics = (tmp_path / "metrics" / "trainserver_ups.prom").read_text()
    assert 'trainserver_ups_up{ups="ups@localhost"} 0\n' in metrics
    status = run_tool("ts-ups", "--config", conf("ups@localhost"), "status", env=env)
    assert status.returncode == 3
    assert "install nut-client" in status.stderr and status.stdout == ""


def test_a_bad_now_is_a_usage_error(run_tool, conf):
    result = run_tool("ts-ups", "--config", conf("ups@localhost"), "check", "--now", "soon")
    assert result.returncode == 3
    assert "not an ISO 8601 time" in result.stderr
