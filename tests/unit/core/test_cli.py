"""The one error boundary: each kind of error becomes one message and its documented status."""

import os
import subprocess
import sys

import click
import pytest

from trainserver.core import cli as core_cli
from trainserver.core.errors import ActionError, CommandError, ConfigError, LockHeld, SecretError


@core_cli.tool_group("demo", exit_status={1: "the demo failed"})
def demo():
    """A tool for testing the boundary."""


@demo.command()
@click.argument("kind")
@click.pass_obj
def fail(tool, kind):
    """Raise the error named KIND."""
    if kind == "config":
        raise ConfigError(["a.toml: [x] y: first", "a.toml: [x] z: second"])
    if kind == "secret":
        raise SecretError("/s/token: too open", "too-open")
    if kind == "lock":
        raise LockHeld("/run/lock/trainserver-demo.lock", 4242)
    if kind == "command":
        raise CommandError(["false"], "exit status 1", 1, "it broke")
    if kind == "bug":
        raise RuntimeError("unexpected")
    if kind == "interrupt":
        raise KeyboardInterrupt
    return int(kind)


@demo.command()
@core_cli.dry_run_option
@click.pass_obj
def change(tool, dry_run):
    """Touch a file unless --dry-run."""
    from trainserver.core import commands

    result = commands.run(["touch", os.environ["DEMO_FILE"]], changes=True)
    click.echo(f"dry_run={result.dry_run}")


@demo.command()
@click.pass_obj
def where(tool):
    """Print the configured lock directory."""
    click.echo(tool.config["paths"]["lock_dir"])


def run(args, capsys):
    with pytest.raises(SystemExit) as caught:
        core_cli.main(demo, args)
    captured = capsys.readouterr()
    return caught.value.code, captured.out, captured.err


@pytest.mark.parametrize("kind,status", [
    # A command that is not declared a check is an action: its failure is critical, never 1.
    ("config", 3), ("secret", 2), ("lock", 75), ("command", 2), ("bug", 70), ("interrupt", 130),
])
def test_error_kinds_map_to_documented_status(kind, status, capsys):
    code, _, err = run(["fail", kind], capsys)
    assert code == status
    assert "Traceback" not in err


def test_config_error_prints_every_problem(capsys):
    _, _, err = run(["fail", "config"], capsys)
    assert err == "ts-demo: error: a.toml: [x] y: first\nts-demo: error: a.toml: [x] z: second\n"


def test_lock_held_names_the_holder(capsys):
    _, _, err = run(["fail", "lock"], capsys)
    assert "process 4242" in err and "/run/lock/trainserver-demo.lock" in err


def test_command_error_carries_stderr(capsys):
    _, _, err = run(["fail", "command"], capsys)
    assert err == "ts-demo: error: false: exit status 1: it broke\n"


def test_bug_is_one_line_without_verbose_and_a_traceback_with_it(capsys):
    _, _, err = run(["fail", "bug"], capsys)
    assert err == ("ts-demo: error: internal error: RuntimeError: unexpected "
                   "(run with --verbose for details)\n")
    _, _, err = run(["-v", "fail", "bug"], capsys)
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: unexpected" in err


def test_command_return_value_is_the_exit_status(capsys):
    assert run(["fail", "2"], capsys)[0] == 2
    assert run(["fail", "0"], capsys)[0] == 0


def test_usage_error_is_unknown(capsys):
    code, _, err = run(["nonsense"], capsys)
    assert code == 3
    assert "No such command" in err


def test_help_lists_tool_and_common_exit_status(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    text = " ".join(out.split())
    assert "Exit status: 0 success; 1 the demo failed; 3 usage error" in text
    assert "75 another run held the lock for longer than this one waits" in text
    assert demo.exit_status[75].startswith("another run")


def test_dry_run_option_reaches_the_command_runner(tmp_path, capsys, monkeypatch):
    target = tmp_path / "touched"
    monkeypatch.setenv("DEMO_FILE", str(target))
    try:
        code, out, _ = run(["change", "--dry-run"], capsys)
        assert (code, out, target.exists()) == (0, "dry_run=True\n", False)
        code, out, _ = run(["change"], capsys)
        assert (code, out, target.exists()) == (0, "dry_run=False\n", True)
    finally:
        from trainserver.core import commands

        commands.set_dry_run(False)


def test_config_is_loaded_from_option_or_environment(tmp_path, capsys, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text(f'[paths]\nlock_dir = "{tmp_path}/locks"\n')
    assert run(["--config", str(path), "where"], capsys)[1] == f"{tmp_path}/locks\n"
    monkeypatch.setenv("TRAINSERVER_CONFIG", str(path))
    assert run(["where"], capsys)[1] == f"{tmp_path}/locks\n"


def test_journal_lines_carry_syslog_priority(tmp_path):
    """Under systemd (JOURNAL_STREAM names stderr) each line starts with <priority>."""
    tools = os.path.dirname(os.path.dirname(os.path.dirname(core_cli.__file__)))
    code = (
        "import os, sys\n"
        "st = os.fstat(2)\n"
        "os.environ['JOURNAL_STREAM'] = f'{st.st_dev}:{st.st_ino}'\n"
        "import logging\n"
        "from trainserver.core import logs\n"
        "logs.setup('ts-demo', verbose=True)\n"
        "logging.getLogger('x').error('bad\\nsecond line')\n"
        "logging.getLogger('x').warning('careful')\n"
        "logging.getLogger('x').debug('detail')\n"
    )
    err = tmp_path / "err"
    with open(err, "w") as handle:
        subprocess.run([sys.executable, "-c", code], stderr=handle, check=True,
                       env={**os.environ, "PYTHONPATH": tools})
    assert err.read_text() == "<3>bad\n<3>second line\n<4>careful\n<7>detail\n"


def test_terminal_lines_name_the_tool(capsys, monkeypatch):
    import logging

    from trainserver.core import logs

    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    logs.setup("ts-demo", verbose=False)
    logging.getLogger("x").warning("careful")
    logging.getLogger("x").info("note")
    logging.getLogger("x").debug("hidden")
    assert capsys.readouterr().err == "ts-demo: warning: careful\nts-demo: note\n"


@demo.command()
@click.pass_obj
def metrics(tool):
    """Write a metrics file."""
    from trainserver.core.metrics import Metric

    path = tool.write_metrics("demo", [Metric("trainserver_demo", "A demo.").add(1)])
    click.echo(f"written={path}")


def test_metrics_are_best_effort(tmp_path, capsys):
    """A finding matters more than a metric: an unwritable directory is a warning, not a crash."""
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    path = tmp_path / "c.toml"
    path.write_text(f'[paths]\nmetrics_dir = "{in_the_way}/metrics"\n')
    code, out, err = run(["--config", str(path), "metrics"], capsys)
    assert (code, out) == (0, "written=None\n")
    assert f"metrics not written to {in_the_way}/metrics" in err
    path.write_text(f'[paths]\nmetrics_dir = "{tmp_path}/metrics"\n')
    code, out, _ = run(["--config", str(path), "metrics"], capsys)
    assert out == f"written={tmp_path}/metrics/demo.prom\n"
    assert (tmp_path / "metrics" / "demo.prom").read_text().endswith("trainserver_demo 1\n")


@demo.command()
@core_cli.reports(core_cli.ACTION, job="backup")
@click.argument("kind")
@click.pass_obj
def act(tool, as_json, kind):
    """An action that fails as KIND says, or succeeds with exit int(KIND)."""
    tool.config  # loaded first, as every real action does
    if kind == "secret":
        raise SecretError("/s/restic-password: secret file missing", "missing")
    if kind == "action":
        raise ActionError("/etc/trainserver/rclone.conf does not exist")
    if kind == "lock":
        raise LockHeld("/run/lock/trainserver-demo.lock", 4242, waited=7200)
    if kind == "bug":
        raise RuntimeError("unexpected")
    return int(kind)


@demo.command()
@core_cli.reports(core_cli.CHECK, job="smart")
@click.argument("kind")
@click.pass_obj
def look(tool, as_json, kind):
    """A check that fails as KIND says."""
    if kind == "command":
        raise CommandError(["smartctl"], "program not found (is its package installed?)")
    if kind == "lock":
        raise LockHeld("/run/lock/trainserver-demo.lock", 4242, waited=600)
    if kind == "bug":
        raise RuntimeError("unexpected")
    return int(kind)


def one_finding(out):
    import json

    (line,) = out.splitlines()
    return json.loads(line)


@pytest.fixture
def demo_config(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(f'[paths]\nstate_dir = "{tmp_path}/state"\nlock_dir = "{tmp_path}/lock"\n')
    return str(path)


@pytest.mark.parametrize("kind,status", [("secret", 2), ("action", 2), ("lock", 75), ("bug", 70)])
def test_an_action_that_failed_is_a_critical_finding_under_json(kind, status, capsys,
                                                                 demo_config):
    code, out, err = run(["--config", demo_config, "act", "--json", kind], capsys)
    assert code == status
    finding = one_finding(out)
    assert (finding["tool"], finding["check"], finding["subject"], finding["severity"]) == \
        ("demo", "run", "ts-demo act", "critical")
    assert finding["summary"].startswith("ts-demo act could not do its job: ")
    assert "Traceback" not in err


def test_a_lock_held_too_long_names_the_holder_in_the_finding(capsys, demo_config):
    _, out, _ = run(["--config", demo_config, "act", "--json", "lock"], capsys)
    assert "gave up after waiting 2 h for the lock" in one_finding(out)["summary"]
    assert "process 4242" in one_finding(out)["summary"]


@pytest.mark.parametrize("kind,status", [("command", 3), ("lock", 75), ("bug", 70)])
def test_a_check_that_could_not_check_is_an_unknown_finding(kind, status, capsys, demo_config):
    code, out, _ = run(["--config", demo_config, "look", "--json", kind], capsys)
    assert code == status
    assert one_finding(out)["severity"] == "unknown"


def test_a_config_error_is_unknown_for_actions_too(tmp_path, capsys):
    code, out, _ = run(["--config", str(tmp_path / "missing.toml"), "act", "--json", "0"],
                       capsys)
    assert code == 3
    assert one_finding(out)["severity"] == "unknown"
    assert "no such file" in one_finding(out)["summary"]


def test_without_json_a_failure_prints_no_finding(capsys, demo_config):
    code, out, err = run(["--config", demo_config, "act", "action"], capsys)
    assert (code, out) == (2, "")
    assert "rclone.conf does not exist" in err


def test_the_failure_state_of_one_run_does_not_leak_into_the_next(capsys, demo_config):
    run(["--config", demo_config, "act", "--json", "action"], capsys)
    code, out, _ = run(["--config", demo_config, "fail", "command"], capsys)
    assert (code, out) == (2, "")


def test_jobs_record_their_runs_for_the_age_check(tmp_path, capsys, demo_config):
    from trainserver.core import jobs

    state = str(tmp_path / "state")
    run(["--config", demo_config, "act", "1"], capsys)
    first = jobs.load(state, "backup")
    assert first["last_run"]["status"] == 1 and first["last_run"]["ok"]
    assert first["last_success"] == first["last_run"]
    run(["--config", demo_config, "act", "action"], capsys)
    second = jobs.load(state, "backup")
    assert second["last_run"]["status"] == 2 and not second["last_run"]["ok"]
    assert second["last_success"] == first["last_success"]  # the failure keeps it
    run(["--config", demo_config, "look", "2"], capsys)
    assert jobs.load(state, "smart")["last_run"]["ok"]  # a check that found trouble ran
    run(["--config", demo_config, "look", "lock"], capsys)
    assert not jobs.load(state, "smart")["last_run"]["ok"]  # one that never ran did not
