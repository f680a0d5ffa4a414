"""The findings of a ts-* run with --json, as the integration tests read them."""

from trainserver.core.findings import exit_status, parse_line


def findings_of(result, tool=None):
    """The findings `result` (a CompletedProcess with text output) printed, after what every
    run must show: no traceback, at least one finding, and an exit status equal to the worst
    finding's. `tool`: the name every finding must carry."""
    assert "Traceback" not in result.stderr, result.stderr
    found = [parse_line(line, n) for n, line in enumerate(result.stdout.splitlines(), 1)]
    assert found, result.stderr
    assert result.returncode == exit_status(found), (result.returncode, result.stdout)
    if tool is not None:
        assert all(f.tool == tool for f in found), [f.tool for f in found]
    return found
