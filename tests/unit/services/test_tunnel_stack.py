"""cloudflared in the services stack: the shipped service in docker/compose.yaml, and what
ts-docker generates for it from [tunnel] (services/stack.py). Pure: no Compose, no engine
(tests/integration/test_stack_config.py runs docker-compose on the result)."""

import base64
import json
import os
import stat
from pathlib import Path

import pytest
import yaml

from trainserver.core import config as config_module
from trainserver.core.errors import ActionError, SecretError
from trainserver.services.stack import Stack

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"
TUNNEL = "c0ffee00-0000-4000-8000-000000000001"
TOKEN = base64.b64encode(json.dumps({"a": "0123456789abcdef", "t": TUNNEL,
                                     "s": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}).encode()).decode()


@pytest.fixture(scope="module")
def service():
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["cloudflared"]


def test_the_shipped_service_is_in_the_tunnel_profile_on_the_web_network(service):
    assert service["profiles"] == ["tunnel"]
    assert service["networks"] == ["web"], "it reaches Traefik by name on the web network"
    assert service["restart"] == "unless-stopped"
    assert service["image"].startswith("cloudflare/cloudflared:2026.")
    assert service["command"] == ["tunnel", "--no-autoupdate", "--metrics", "0.0.0.0:20241",
                                  "run"]


def test_no_token_and_no_port_in_the_shipped_file(service):
    """Both come from the generated file, only when the tunnel is enabled: Compose 1.29 reads
    every service's env_file, profile or not."""
    text = json.dumps(service)
    assert "TUNNEL_TOKEN" not in text and "token" not in text.lower()
    assert "ports" not in service and "env_file" not in service and "environment" not in service


def test_the_healthcheck_asks_the_metrics_port_the_command_opens(service):
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "cloudflared", "tunnel"] and test[-1] == "ready"
    metrics = service["command"][service["command"].index("--metrics") + 1]
    assert test[test.index("--metrics") + 1] == "127.0.0.1:" + metrics.rsplit(":", 1)[1]


def write_config(tmp_path, tunnel_lines):
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700, exist_ok=True)
    path = tmp_path / "trainserver.toml"
    path.write_text("\n".join([
        "[paths]", f'state_dir = "{tmp_path}/state"', f'secrets_dir = "{secrets}"',
        "[services]", 'domain = "lab.example"', 'lan_address = "192.168.77.10"',
        "[docker]", f'daemon_json = "{tmp_path}/daemon.json"',
        "[tunnel]", f'token_file = "{secrets}/cloudflared-token"', *tunnel_lines]) + "\n")
    return config_module.load(path)


def write_token(tmp_path, text=TOKEN, mode=0o600):
    (tmp_path / "secrets").mkdir(mode=0o700, exist_ok=True)
    path = tmp_path / "secrets" / "cloudflared-token"
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


def stack_of(tmp_path, *tunnel_lines):
    return Stack(write_config(tmp_path, list(tunnel_lines)), str(DOCKER), str(tmp_path))


def test_disabled_adds_nothing(tmp_path):
    stack = stack_of(tmp_path, "enabled = false")
    files = stack.render([])
    assert set(files) == {stack.overlay, stack.env_file}
    assert "cloudflared" not in files[stack.overlay][0]
    assert "tunnel" not in stack.profiles()


def test_enabled_adds_the_profile_the_env_file_and_a_loopback_port(tmp_path):
    write_token(tmp_path)
    stack = stack_of(tmp_path, "enabled = true", 'metrics_address = "127.0.0.1:20300"')
    assert stack.profiles() == ["tunnel"]
    files = stack.render([])
    env_path = str(tmp_path / "secrets" / "cloudflared.env")
    assert list(files) == [stack.overlay, stack.env_file, env_path]
    text, mode = files[env_path]
    assert mode == 0o600
    assert f"TUNNEL_TOKEN={TOKEN}\n" in text
    overlay = yaml.safe_load(files[stack.overlay][0])
    assert overlay["services"]["cloudflared"] == {"env_file": [env_path],
                                                  "ports": ["127.0.0.1:20300:20241"]}
    assert TOKEN not in files[stack.overlay][0] and TOKEN not in files[stack.env_file][0]


def test_the_check_render_points_at_the_scratch_directory(tmp_path):
    """ts-docker checks the files with Compose in a scratch directory first."""
    write_token(tmp_path)
    stack = stack_of(tmp_path, "enabled = true")
    files = stack.render([], secrets_dir=str(tmp_path / "scratch"))
    scratch_env = str(tmp_path / "scratch" / "cloudflared.env")
    assert scratch_env in files
    assert yaml.safe_load(files[stack.overlay][0])["services"]["cloudflared"]["env_file"] == \
        [scratch_env]


@pytest.mark.parametrize("address", ["0.0.0.0:20241", "192.168.77.10:20241",
                                     "localhost:20241"])
def test_a_metrics_address_off_the_loopback_is_refused(tmp_path, address):
    write_token(tmp_path)
    stack = stack_of(tmp_path, "enabled = true", f'metrics_address = "{address}"')
    with pytest.raises(ActionError, match="must be 127.0.0.1:PORT"):
        stack.render([])


def test_a_token_others_can_read_is_refused(tmp_path):
    write_token(tmp_path, mode=0o644)
    stack = stack_of(tmp_path, "enabled = true")
    with pytest.raises(SecretError, match="readable or writable by group or others"):
        stack.render([])


def test_a_missing_token_is_refused(tmp_path):
    stack = stack_of(tmp_path, "enabled = true")
    with pytest.raises(SecretError, match="secret file missing"):
        stack.render([])


def test_the_install_command_instead_of_the_token_is_refused(tmp_path):
    write_token(tmp_path, text=f"sudo cloudflared service install {TOKEN}")
    stack = stack_of(tmp_path, "enabled = true")
    with pytest.raises(ActionError, match="it has spaces") as raised:
        stack.render([])
    assert TOKEN not in str(raised.value)


def test_the_env_file_is_0600_when_written_as_ts_docker_writes_it(tmp_path):
    """ts-docker writes every rendered file with core.state.atomic_write and its mode."""
    from trainserver.core.state import atomic_write

    write_token(tmp_path)
    stack = stack_of(tmp_path, "enabled = true")
    for path, (text, mode) in stack.render([]).items():
        atomic_write(path, text, mode=mode)
    env_path = tmp_path / "secrets" / "cloudflared.env"
    assert stat.S_IMODE(os.stat(env_path).st_mode) == 0o600
