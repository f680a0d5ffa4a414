"""The command line up to the point where it would read ufw: config gaps and errors."""

import json

import pytest

from trainserver.core.findings import parse_line


@pytest.fixture
def conf(tmp_path):
    def write(networks):
        path = tmp_path / "trainserver.toml"
        path.write_text("[paths]\n"
                        f'state_dir = "{tmp_path}/state"\n'
                        f'lock_dir = "{tmp_path}/lock"\n'
                        f'metrics_dir = "{tmp_path}/metrics"\n'
                        f"[firewall]\nlan_networks = {json.dumps(networks)}\n")
        return str(path)

    return write


@pytest.mark.parametrize("command", [["apply"], ["apply", "--dry-run"], ["plan"]])
def test_empty_lan_is_a_config_error(run_tool, conf, command):
    result = run_tool("ts-firewall", "--config", conf([]), *command)
    assert result.returncode == 3
    assert "[firewall] lan_networks: empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_without_lan_is_one_ok_finding(run_tool, conf):
    result = run_tool("ts-firewall", "--config", conf([]), "check", "--json")
    assert result.returncode == 0, result.stderr
    (finding,) = [parse_line(line) for line in result.stdout.splitlines()]
    assert (finding.tool, finding.check, finding.severity.label) == ("firewall", "config", "ok")
    assert finding.summary.startswith("not configured")


def test_a_bad_network_is_named(run_tool, conf):
    result = run_tool("ts-firewall", "--config", conf(["10.0.0.0/24", "10.0.0.0/40"]), "check",
                      "--json")
    assert result.returncode == 3
    assert "[firewall] lan_networks: not an IPv4 or IPv6 network" in result.stderr
    assert "10.0.0.0/40" in result.stderr
    (finding,) = [parse_line(line) for line in result.stdout.splitlines()]
    assert finding.severity.label == "unknown"
