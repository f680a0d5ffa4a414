"""tests/prefixed: make check's two streams, each line labelled as it comes."""

import os
import subprocess
import sys

PREFIXED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "prefixed")


def test_every_line_of_both_streams_is_labelled_and_the_status_is_kept():
    result = subprocess.run([sys.executable, PREFIXED, "trixie", "sh", "-c",
                             "echo one; echo two >&2; printf 'no newline'; exit 3"],
                            capture_output=True, text=True)
    assert result.returncode == 3
    assert result.stdout.splitlines() == ["trixie| one", "trixie| two", "trixie| no newline"]
    assert result.stderr == ""


def test_a_command_killed_by_a_signal_exits_as_a_shell_says_so():
    result = subprocess.run([sys.executable, PREFIXED, "bookworm", "sh", "-c", "kill -KILL $$"],
                            capture_output=True, text=True)
    assert result.returncode == 128 + 9


def test_without_a_command_it_says_how_to_use_it():
    result = subprocess.run([sys.executable, PREFIXED, "trixie"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "usage: tests/prefixed NAME COMMAND" in result.stderr
