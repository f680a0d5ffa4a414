"""ts-config as an admin runs it: a real process, its output and its exit status."""

import json
import tomllib

import pytest

from trainserver.core import schema, toml_text


@pytest.fixture
def conf(tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    path = tmp_path / "trainserver.toml"
    path.write_text(
        "[alert]\n"
        f'telegram_token_file = "{secrets}/telegram-token"\n'
        "[backup]\n"
        f'password_file = "{secrets}/restic-password"\n'
        'healthcheck_url = "https://hc-ping.example/5a1d-secret-uuid"\n'
        'bandwidth = "50Mbit/s"\n',
        encoding="utf-8",
    )
    return path, secrets


def test_check_valid(run_tool, conf):
    path, _ = conf
    result = run_tool("ts-config", "--config", str(path), "check")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{path}: valid\n"


def test_check_invalid_lists_every_problem_and_exits_3(run_tool, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[backup]\nbandwith = "1"\nkeep_daily = "7"\n[gpus]\n', encoding="utf-8")
    result = run_tool("ts-config", "--config", str(path), "check")
    assert result.returncode == 3
    lines = result.stderr.splitlines()
    assert f'{path}: [gpus]: unknown table; did you mean "gpu"?' in lines
    assert f'{path}: [backup] bandwith: unknown key; did you mean "bandwidth"?' in lines
    assert f'{path}: [backup] keep_daily: expected a whole number (got "7")' in lines
    assert "Traceback" not in result.stderr


def test_check_json(run_tool, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[gpu]\ntemperature_warning = 5\n", encoding="utf-8")
    result = run_tool("ts-config", "--config", str(path), "check", "--json")
    assert result.returncode == 3
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert report["problems"] == [f"{path}: [gpu] temperature_warning: must be at least 30 (got 5)"]


def test_check_refuses_secret_file_others_can_read(run_tool, conf):
    path, secrets = conf
    token = secrets / "telegram-token"
    token.write_text("123:abc\n")
    token.chmod(0o644)
    result = run_tool("ts-config", "--config", str(path), "check")
    assert result.returncode == 3
    assert f"chmod 600 {token}" in result.stderr
    token.chmod(0o600)
    assert run_tool("ts-config", "--config", str(path), "check").returncode == 0


def test_show_fills_defaults_masks_secrets_and_is_toml(run_tool, conf):
    path, secrets = conf
    (secrets / "restic-password").write_text("hunter2-very-secret\n")
    (secrets / "restic-password").chmod(0o600)
    result = run_tool("ts-config", "--config", str(path), "show")
    assert result.returncode == 0, result.stderr
    assert "5a1d-secret-uuid" not in result.stdout
    assert "hunter2" not in result.stdout
    shown = tomllib.loads(result.stdout)
    assert shown["backup"]["healthcheck_url"] == "********"
    assert shown["backup"]["bandwidth"] == "50Mbit/s"
    assert shown["snapshot"]["keep_hourly"] == 24
    assert f'password_file = "{secrets}/restic-password"  # secret file: ok' in result.stdout
    assert f'telegram_token_file = "{secrets}/telegram-token"  # secret file: missing' in result.stdout


def test_show_json(run_tool, conf):
    path, _ = conf
    result = run_tool("ts-config", "--config", str(path), "show", "--json")
    shown = json.loads(result.stdout)
    assert set(shown) == set(schema.SCHEMA["properties"])
    assert shown["backup"]["healthcheck_url"] == "********"


def test_config_from_environment(run_tool, tmp_path):
    path = tmp_path / "env.toml"
    path.write_text("[gpu]\ntemperature_warning = 85\n")
    result = run_tool("ts-config", "show", "--json", env={"TRAINSERVER_CONFIG": str(path)})
    assert json.loads(result.stdout)["gpu"]["temperature_warning"] == 85


def test_missing_config_is_one_clear_line(run_tool, tmp_path):
    path = tmp_path / "nope.toml"
    result = run_tool("ts-config", "--config", str(path), "show")
    assert result.returncode == 3
    assert result.stderr == (f"ts-config: error: {path}: no such file. Create it with the documented "
                             f"defaults: ts-config default > {path} (or reinstall trainserver to "
                             "restore the shipped one)\n")


def test_malformed_toml_gives_line_and_column_without_traceback(run_tool, tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[paths\n")
    result = run_tool("ts-config", "--config", str(path), "show")
    assert result.returncode == 3
    assert "line 1, column" in result.stderr
    assert "Traceback" not in result.stderr


def test_default_prints_the_documented_file(run_tool):
    result = run_tool("ts-config", "default")
    assert result.returncode == 0
    assert result.stdout == toml_text.default_text()


def test_usage_error_exits_3(run_tool):
    result = run_tool("ts-config", "frobnicate")
    assert result.returncode == 3
    assert "No such command" in result.stderr


def test_help_and_version(run_tool):
    from trainserver import __version__

    result = run_tool("ts-config", "--help")
    assert result.returncode == 0
    assert "Exit status: 0 success; 3 usage error" in " ".join(result.stdout.split())
    assert run_tool("ts-config", "--version").stdout == f"ts-config {__version__}\n"


def test_get_prints_one_effective_value(run_tool, tmp_path):
    path = tmp_path / "trainserver.toml"
    path.write_text('[paths]\nsecrets_dir = "/srv/site secrets"\n[snapshot]\nkeep_hourly = 12\n'
                    '[backup]\nhealthcheck_url = "https://hc-ping.example/5a1d-secret-uuid"\n')

    def get(name):
        result = run_tool("ts-config", "--config", str(path), "get", name)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert get("paths.secrets_dir") == "/srv/site secrets\n"
    assert get("snapshot.keep_hourly") == "12\n"
    assert get("paths.storage") == "/mnt/storage\n"  # a default
    assert get("backup.healthcheck_url") == "********\n"
    assert get("storage.backing_devices") == "[]\n"


def test_get_reads_its_table_when_another_is_invalid(run_tool, tmp_path):
    path = tmp_path / "trainserver.toml"
    path.write_text('[paths]\nsecrets_dir = "/srv/secrets"\n[backup]\nbandwith = "1"\n')
    result = run_tool("ts-config", "--config", str(path), "get", "paths.secrets_dir")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "/srv/secrets\n"
    assert "problems outside [paths]" in result.stderr


@pytest.mark.parametrize("text, error", [
    ('[paths]\nsecrets_dir = "relative"\n', '[paths] secrets_dir: expected an absolute path'),
    ("[paths\n", "not valid TOML"),
])
def test_get_fails_when_the_value_cannot_be_read(run_tool, tmp_path, text, error):
    path = tmp_path / "trainserver.toml"
    path.write_text(text)
    result = run_tool("ts-config", "--config", str(path), "get", "paths.secrets_dir")
    assert (result.returncode, result.stdout) == (3, "")
    assert error in result.stderr
    assert "Traceback" not in result.stderr


def test_get_unknown_key_is_a_usage_error(run_tool):
    result = run_tool("ts-config", "get", "paths.secret_dir")
    assert result.returncode == 3
    assert 'no such key: paths.secret_dir; did you mean "paths.secrets_dir"?' in result.stderr
