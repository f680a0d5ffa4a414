"""trainserver.core.commands: the one place programs are started (real programs, no mocks)."""

import logging
import time

import pytest

from trainserver.core import commands, secrets
from trainserver.core.commands import CommandError, format_argv, run

SECRET = "s3cr3tvalue"


@pytest.fixture(autouse=True)
def no_dry_run():
    commands.set_dry_run(False)
    yield
    commands.set_dry_run(False)


@pytest.fixture
def registered():
    """Register secrets for the test; remove exactly those afterwards."""
    added = []

    def register(value):
        if value not in secrets._REGISTERED:
            added.append(value)
        secrets.register(value)
        assert value in secrets._REGISTERED
        return value

    yield register
    secrets._REGISTERED.difference_update(added)


def test_stdout_and_stderr():
    result = run(["sh", "-c", "echo out; echo err >&2"], changes=False)
    assert result.stdout == "out\n"
    assert result.stderr == "err\n"
    assert result.returncode == 0
    assert result.dry_run is False
    assert result.argv == ["sh", "-c", "echo out; echo err >&2"]


def test_arguments_are_passed_verbatim_not_through_a_shell(tmp_path):
    odd = "a b; $(touch x) 'q' \"d\" *"
    result = run(["sh", "-c", 'printf "%s|" "$@"', "sh", odd, "two"], changes=False, cwd=str(tmp_path))
    assert result.stdout == f"{odd}|two|"
    assert list(tmp_path.iterdir()) == []


def test_arguments_are_converted_to_strings(tmp_path):
    result = run(["sh", "-c", 'echo "$1 $2"', "sh", 42, tmp_path], changes=False)
    assert result.stdout == f"42 {tmp_path}\n"
    assert result.argv[4:] == ["42", str(tmp_path)]


def test_non_zero_exit_raises_with_status_and_stderr():
    with pytest.raises(CommandError) as info:
        run(["sh", "-c", "echo out; echo 'disk on fire' >&2; exit 4"], changes=False)
    error = info.value
    assert error.returncode == 4
    assert error.stderr == "disk on fire\n"
    assert "exit status 4" in str(error)
    assert "disk on fire" in str(error)
    assert str(error).startswith("sh -c ")
    assert error.argv == ["sh", "-c", "echo out; echo 'disk on fire' >&2; exit 4"]


def test_non_zero_exit_without_stderr():
    with pytest.raises(CommandError) as info:
        run(["sh", "-c", "exit 1"], changes=False)
    assert str(info.value) == "sh -c 'exit 1': exit status 1"


def test_ok_codes():
    assert run(["sh", "-c", "exit 3"], changes=False, ok_codes=(0, 3)).returncode == 3
    assert run(["true"], changes=False, ok_codes=(0, 3)).returncode == 0
    with pytest.raises(CommandError) as info:
        run(["sh", "-c", "exit 0"], changes=False, ok_codes=(3,))
    assert info.value.returncode == 0


@pytest.mark.parametrize("status", [0, 1, 7, 255])
def test_ok_codes_none_returns_any_status(status):
    result = run(["sh", "-c", f"echo e >&2; exit {status}"], changes=False, ok_codes=None)
    assert result.returncode == status
    assert result.stderr == "e\n"


def test_timeout_is_quick():
    started = time.monotonic()
    with pytest.raises(CommandError) as info:
        run(["sleep", "5"], changes=False, timeout=0.3)
    elapsed = time.monotonic() - started
    assert "timed out" in str(info.value)
    assert "0.3 s" in str(info.value)
    assert str(info.value).startswith("sleep 5: ")
    assert elapsed < 3


def test_missing_program():
    with pytest.raises(CommandError) as info:
        run(["trainserver-no-such-program-xyz", "--help"], changes=False)
    assert "not found" in str(info.value)
    assert info.value.returncode is None


def test_missing_program_by_path():
    """The same words as for a name not on PATH: one way to say a program is missing."""
    with pytest.raises(CommandError, match="program not found"):
        run(["/nonexistent/trainserver-prog"], changes=False)


@pytest.mark.parametrize("argv", ["echo hi; rm -rf /", b"echo hi"])
def test_shell_string_is_refused(argv):
    with pytest.raises(TypeError, match="never shell strings"):
        run(argv, changes=False)


def test_empty_command_is_refused():
    with pytest.raises(ValueError, match="empty command"):
        run([], changes=False)


def test_changes_is_keyword_only_and_required():
    with pytest.raises(TypeError):
        run(["true"])
    with pytest.raises(TypeError):
        run(["true"], False)


def test_input_reaches_stdin():
    text = "line one\nzwei – drei\n"
    assert run(["cat"], changes=False, input=text).stdout == text


def test_empty_input_is_an_empty_stdin():
    assert run(["cat"], changes=False, input="", timeout=5).stdout == ""


def test_env_and_cwd(tmp_path):
    result = run(["sh", "-c", 'echo "$TRAINSERVER_TEST_VAR"; pwd'], changes=False,
                 env={"TRAINSERVER_TEST_VAR": "value 1"}, cwd=str(tmp_path))
    assert result.stdout == f"value 1\n{tmp_path}\n"


# --- dry run -----------------------------------------------------------------------------------

def test_dry_run_skips_changing_commands(tmp_path, caplog):
    marker = tmp_path / "created"
    commands.set_dry_run(True)
    caplog.set_level(logging.INFO, logger="trainserver.core.commands")

    result = run(["sh", "-c", f"touch {marker}"], changes=True)

    assert not marker.exists()
    assert result.dry_run is True
    assert result.returncode == 0
    assert result.stdout == "" and result.stderr == ""
    assert any("dry run, not running" in r.getMessage() and str(marker) in r.getMessage()
               for r in caplog.records)


def test_dry_run_still_runs_read_only_commands(tmp_path):
    marker = tmp_path / "created"
    commands.set_dry_run(True)
    result = run(["sh", "-c", f"touch {marker}; echo read"], changes=False)
    assert marker.exists()
    assert result.stdout == "read\n"
    assert result.dry_run is False


def test_changing_commands_run_without_dry_run(tmp_path):
    marker = tmp_path / "created"
    commands.set_dry_run(True)
    commands.set_dry_run(False)
    result = run(["sh", "-c", f"touch {marker}"], changes=True)
    assert marker.exists()
    assert result.dry_run is False


# --- secrets -----------------------------------------------------------------------------------

def test_secret_in_stderr_is_masked_in_the_error(registered):
    registered(SECRET)
    with pytest.raises(CommandError) as info:
        run(["sh", "-c", f"echo 'auth failed for {SECRET}' >&2; exit 1"], changes=False)
    message = str(info.value)
    assert SECRET not in message
    assert f"auth failed for {secrets.MASK}" in message
    assert SECRET not in info.value.stderr


def test_format_argv_masks_secrets(registered):
    registered(SECRET)
    text = format_argv(["restic", "--password", SECRET, "backup", "/srv data"])
    assert text == f"restic --password '{secrets.MASK}' backup '/srv data'"


def test_format_argv_without_secrets_is_shell_quoted():
    assert format_argv(["echo", "a b", "it's", 3]) == "echo 'a b' 'it'\"'\"'s' 3"


def test_format_argv_masks_a_secret_that_needs_quoting(registered):
    # Passwords may hold quotes. Masking after shlex.join misses the secret once it has been
    # quoted ('pa'"'"'ss word'), so it reaches the logs in pieces.
    secret = registered("pa'ss word")
    text = format_argv(["curl", "--user", f"admin:{secret}", "https://example.invalid/"])
    assert secrets.MASK in text
    assert "ss word" not in text


def test_debug_log_of_a_run_masks_secrets(registered, caplog):
    registered(SECRET)
    caplog.set_level(logging.DEBUG, logger="trainserver.core.commands")
    with pytest.raises(CommandError):
        run(["sh", "-c", f"echo {SECRET} >&2; exit 1", "sh", SECRET], changes=False)
    records = [r for r in caplog.records if r.name == "trainserver.core.commands"]
    assert records, "the run was not logged"
    debug = [r.getMessage() for r in records if r.levelno == logging.DEBUG]
    assert any(secrets.MASK in message for message in debug)
    assert all(SECRET not in r.getMessage() for r in records)


def test_dry_run_log_masks_secrets(registered, caplog):
    registered(SECRET)
    commands.set_dry_run(True)
    caplog.set_level(logging.INFO, logger="trainserver.core.commands")
    run(["rclone", "config", "create", "x", "b2", f"key={SECRET}"], changes=True)
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"key={secrets.MASK}" in m for m in messages)
    assert all(SECRET not in m for m in messages)
