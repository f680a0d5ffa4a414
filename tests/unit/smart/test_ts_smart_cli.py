"""ts-smart's command line as a process: help and exit statuses."""


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


def test_missing_config_exits_3_without_traceback(run_tool, tmp_path):
    result = run_tool("ts-smart", "--config", str(tmp_path / "nope.toml"), "check", "--json")
    assert result.returncode == 3
    assert result.stdout == ""
    assert "no such file" in result.stderr
    assert "Traceback" not in result.stderr
