"""ts-oom's command line: help, and what it costs to start."""



def test_help_names_the_exit_statuses(run_tool):
    result = run_tool("ts-oom", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "Exit status: 0 every subject is ok; 1 at least one warning" in text
    assert "check" in text


def test_unknown_source_is_a_usage_error(run_tool):
    result = run_tool("ts-oom", "check", "--source", "syslog")
    assert result.returncode == 3
    assert "syslog" in result.stderr
