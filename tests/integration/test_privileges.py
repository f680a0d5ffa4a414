"""ts-config run by an unprivileged user: clear refusals, never a traceback (needs root to set up)."""

import os
import subprocess

import pytest

pytestmark = pytest.mark.root

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def as_nobody(args, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "tools")}
    code = "import sys; sys.argv[0] = 'ts-config'; from trainserver.configtool.cli import main; main()"
    return subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                           "/usr/bin/python3", "-c", code, *args],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)


@pytest.fixture
def readable_tree():
    """A directory nobody can enter (pytest's tmp_path sits under a 0700 directory)."""
    import pathlib
    import shutil
    import tempfile

    path = pathlib.Path(tempfile.mkdtemp(prefix="trainserver-test-", dir="/tmp"))
    path.chmod(0o755)
    # A copy of the code nobody can read: the clone may sit under a directory only root enters.
    shutil.copytree(os.path.join(ROOT, "tools"), path / "tools")
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_unreadable_config_says_permission_denied(readable_tree):
    path = readable_tree / "trainserver.toml"
    path.write_text("")
    path.chmod(0o600)
    assert as_nobody(["--version"], readable_tree).returncode == 0  # the tool itself runs
    result = as_nobody(["--config", str(path), "check"], readable_tree)
    assert result.returncode == 3
    assert f"{path}: permission denied" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_root_only_secret_is_reported_unreadable_not_crashing(readable_tree):
    secrets = readable_tree / "secrets"
    secrets.mkdir(mode=0o700)
    token = secrets / "telegram-token"
    token.write_text("123:abc")
    token.chmod(0o600)
    path = readable_tree / "trainserver.toml"
    path.write_text(f'[alert]\ntelegram_token_file = "{token}"\n')
    path.chmod(0o644)
    result = as_nobody(["--config", str(path), "show"], readable_tree)
    assert result.returncode == 0, result.stderr
    assert "# secret file: unreadable" in result.stdout
    assert "123:abc" not in result.stdout
