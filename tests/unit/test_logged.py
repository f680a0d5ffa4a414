"""tests/logged, which `make deps` runs apt through: one line a phase, the output in a log, and
the failing command's last lines with its exit status."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOGGED = os.path.join(ROOT, "tests", "logged")


def logged(log, what, *argv):
    return subprocess.run([LOGGED, str(log), what, *argv], capture_output=True, text=True,
                          timeout=60)


def test_a_phase_shows_one_line_counts_apt_installs_and_keeps_the_output(tmp_path):
    log = tmp_path / "deps.log"
    noisy = "seq 1 450; echo '0 upgraded, 12 newly installed, 0 to remove and 3 not upgraded.'"
    done = logged(log, "deps: installing", "sh", "-c", noisy)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("deps: installing ... done (12 newly installed), ")
    assert done.stdout.endswith(f"s (log: {log})\n") and done.stdout.count("\n") == 1
    again = logged(log, "deps: updating", "true")
    assert again.stdout.startswith("deps: updating ... done, ")  # no apt count from before
    assert "450\n" in log.read_text() and "$ true" in log.read_text()


def test_a_failure_shows_the_commands_last_lines_and_its_exit_status(tmp_path):
    log = tmp_path / "deps.log"
    logged(log, "deps: first", "sh", "-c", "echo from the first phase")
    failed = logged(log, "deps: second", "sh", "-c", "seq 1 100; echo 'E: broken' >&2; exit 100")
    assert failed.returncode == 100
    first, *tail = failed.stdout.splitlines()
    assert first.startswith("deps: second ... FAILED (exit status 100, ")
    assert tail[-1] == "    E: broken" and len(tail) == 30
    assert "from the first phase" not in failed.stdout
