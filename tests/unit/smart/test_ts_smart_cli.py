"""ts-smart's command line as a process: help and exit statuses."""

import json


def test_help_lists_the_commands_and_exit_statuses(run_tool):
    result = run_tool("ts-smart", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "check" in text and "scan" in text
    assert "0 every subject is ok" in text
    assert "2 at least one critical finding" in text
    assert "75 another run held the lock for longer than this one waits" in text
    check = run_tool("ts-smart", "check", "--help")
    assert check.returncode == 0
    assert "skipped: in standby" in check.stdout


def test_missing_config_exits_3_without_traceback(run_tool, tmp_path):
    result = run_tool("ts-smart", "--config", str(tmp_path / "nope.toml"), "check", "--json")
    assert result.returncode == 3
    # Under --json the failure is a finding too, so ts-alert pipe reports why.
    (line,) = result.stdout.splitlines()
    failure = json.loads(line)
    assert (failure["tool"], failure["check"], failure["subject"], failure["severity"]) == \
        ("smart", "run", "ts-smart check", "unknown")
    assert "no such file" in failure["summary"]
    assert "no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_findings_are_printed_and_state_saved_when_metrics_cannot_be_written(run_tool, tmp_path):
    # The state is saved before the metrics: a finding that a count rose is this run's only
    # chance to be reported, so a metrics directory that cannot be made must not swallow it.
    (tmp_path / "in-the-way").write_text("a regular file where a directory should be\n")
    missing = "/dev/nonexistent-ts-smart-test"
    config = tmp_path / "trainserver.toml"
    config.write_text("[paths]\n"
                      f'state_dir = "{tmp_path}/state"\n'
                      f'lock_dir = "{tmp_path}/lock"\n'
                      f'metrics_dir = "{tmp_path}/in-the-way/metrics"\n'
                      "[smart]\n"
                      f'devices = ["{missing}"]\n', encoding="utf-8")
    result = run_tool("ts-smart", "--config", str(config), "check", "--json")
    assert "Traceback" not in result.stderr
    assert result.returncode == 3, (result.returncode, result.stderr)
    findings = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(f["check"], f["subject"], f["severity"]) for f in findings] == [
        ("scan", "disks", "ok"), ("smartctl", missing, "unknown")]
    assert "metrics not written" in result.stderr
    assert "in-the-way" in result.stderr
    assert json.loads((tmp_path / "state" / "smart.json").read_text())["version"] == 1
