"""docker/compose.yaml through docker-compose's own parser, and docker/prometheus/prometheus.yml
through promtool. No engine: `docker-compose config` only interpolates and validates. No root,
but for the two tests that run `ts-docker compose` with the Cloudflare tunnel enabled.

docker-compose (Debian's docker-compose package: 1.29 on bookworm, Compose v2 on trixie) and
promtool (Debian's prometheus package) are not build dependencies, hence integration tests;
`make deps` installs both, so a missing one fails the test, saying which package to install.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
EXAMPLE_ENV = DOCKER / "stack.env.example"


def compose_command():
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        return ["docker", "compose"]
    pytest.fail("neither docker-compose nor the docker compose plugin is installed (Debian "
                "package docker-compose)")


def run_config(env_file, *extra, project_dir=None):
    # A clean environment: a DOMAIN or STORAGE exported in the caller's shell must not hide a
    # variable the env file lacks.
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(compose_command() + ["-f", str(COMPOSE), "--env-file", str(env_file),
                                               "-p", "trainserver", *extra, "config"],
                          capture_output=True, text=True, env=env, cwd=project_dir or DOCKER,
                          timeout=60)


def test_compose_config_passes_with_the_example_env_and_no_warning():
    result = run_config(EXAMPLE_ENV)
    assert result.returncode == 0, result.stderr
    assert "not set" not in result.stderr, result.stderr
    assert "WARN" not in result.stderr.upper(), result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    published = {name: service["ports"] for name, service in services.items()
                 if service.get("ports")}
    assert set(published) == {"traefik"}
    for port in published["traefik"]:
        # 1.29 prints "ADDR:80:80/tcp", Compose v2 a mapping with host_ip.
        text = port if isinstance(port, str) else f"{port['host_ip']}:{port['published']}"
        assert text.startswith("192.168.1.10:"), port
    assert config["networks"]["web"]["name"] == "trainserver-web"
    assert config["networks"]["monitoring"]["internal"] is True
    volumes = services["node-exporter"]["volumes"]
    text = repr(volumes)
    assert "/var/lib/prometheus/node-exporter" in text and "/textfile" in text


def test_the_gpu_profile_adds_dcgm_exporter():
    result = run_config(EXAMPLE_ENV, "--profile", "gpu")
    assert result.returncode == 0, result.stderr
    assert "dcgm-exporter" in yaml.safe_load(result.stdout)["services"]


def test_a_variable_missing_from_the_env_file_is_reported(tmp_path):
    """The check above can fail: leave DOCKER_DATA_ROOT out and compose warns (or fails)."""
    partial = tmp_path / "partial.env"
    partial.write_text("".join(line + "\n" for line in EXAMPLE_ENV.read_text().splitlines()
                               if not line.startswith("DOCKER_DATA_ROOT=")))
    result = run_config(partial)
    assert "DOCKER_DATA_ROOT" in result.stderr


def test_without_a_lan_address_compose_refuses_rather_than_publish_everywhere(tmp_path):
    """"${LAN_ADDRESS}:80:80" with an empty address would be ":80:80": every address."""
    partial = tmp_path / "nolan.env"
    partial.write_text("".join(line + "\n" for line in EXAMPLE_ENV.read_text().splitlines()
                               if not line.startswith("LAN_ADDRESS=")))
    result = run_config(partial)
    assert result.returncode != 0
    assert "lan_address" in result.stderr


def promtool():
    path = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if not path:
        pytest.fail("promtool not installed (Debian package prometheus; or set PROMTOOL to a "
                    "promtool binary, e.g. one extracted with apt-get download prometheus)")
    return path


def test_promtool_accepts_the_prometheus_config():
    result = subprocess.run([promtool(), "check", "config", str(DOCKER / "prometheus" /
                                                                 "prometheus.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_refuses_a_broken_config(tmp_path):
    """The check above can fail."""
    broken = tmp_path / "prometheus.yml"
    broken.write_text((DOCKER / "prometheus" / "prometheus.yml").read_text()
                      .replace("scrape_interval: 30s", "scrape_interval: thirty", 1))
    result = subprocess.run([promtool(), "check", "config", str(broken)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


# --- the Cloudflare tunnel (cloudflared, profile "tunnel") ----------------------------------------

def test_the_tunnel_profile_adds_cloudflared_on_the_web_network():
    result = run_config(EXAMPLE_ENV, "--profile", "tunnel")
    assert result.returncode == 0, result.stderr
    cloudflared = yaml.safe_load(result.stdout)["services"]["cloudflared"]
    assert "ports" not in cloudflared, "published by the generated file, on 127.0.0.1 only"
    assert list(cloudflared["networks"]) == ["web"]


def tunnel_token():
    import base64
    import json

    return base64.b64encode(json.dumps({
        "a": "0123456789abcdef0123456789abcdef", "t": "c0ffee00-0000-4000-8000-000000000001",
        "s": base64.b64encode(b"y" * 32).decode()}).encode()).decode()


@pytest.mark.root  # ts-docker compose gives Grafana's password file to Grafana's uid
def test_ts_docker_with_the_tunnel_enabled_passes_compose(tmp_path, run_tool):
    """The generated file adds the token's env file and the metrics port, and Compose
    merges them into compose.yaml's cloudflared; nothing is published off the loopback."""
    import stat

    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "traefik-users").write_text("admin:$2y$05$abcdefghijklmnopqrstuu5sMYhQwJ3rGx\n")
    (secrets / "traefik-users").chmod(0o600)
    token = tunnel_token()
    (secrets / "cloudflared-token").write_text(token + "\n")
    (secrets / "cloudflared-token").chmod(0o600)
    config = tmp_path / "trainserver.toml"
    config.write_text("\n".join([
        "[paths]", f'state_dir = "{tmp_path}/state"', f'secrets_dir = "{secrets}"',
        f'lock_dir = "{tmp_path}"', f'storage = "{tmp_path}/storage"',
        "[services]", 'domain = "lab.example"', 'lan_address = "192.168.77.10"',
        "[docker]", f'daemon_json = "{tmp_path}/daemon.json"',
        "[tunnel]", "enabled = true", f'token_file = "{secrets}/cloudflared-token"',
        'metrics_address = "127.0.0.1:20300"']) + "\n")
    result = run_tool("ts-docker", "--config", str(config), "compose", "--stack-dir",
                      str(DOCKER))
    assert result.returncode == 0, result.stderr
    assert token not in result.stdout + result.stderr
    env_file = secrets / "cloudflared.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    state = tmp_path / "state" / "compose"
    assert token not in (state / "workspaces.yaml").read_text() + (state / "stack.env").read_text()
    argv = compose_command() + ["--project-name", "trainserver", "--env-file",
                                str(state / "stack.env"), "--file", str(COMPOSE),
                                "--file", str(state / "workspaces.yaml"), "--profile", "tunnel",
                                "config"]
    merged = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert merged.returncode == 0, merged.stderr
    services = yaml.safe_load(merged.stdout)["services"]
    cloudflared = services["cloudflared"]
    assert cloudflared["environment"]["TUNNEL_TOKEN"] == token
    [port] = cloudflared["ports"]
    text = port if isinstance(port, str) else \
        f"{port['host_ip']}:{port['published']}:{port['target']}"
    assert text.split("/")[0] == "127.0.0.1:20300:20241", port
    assert cloudflared["command"][-1] == "run" and "--metrics" in cloudflared["command"]
    again = run_tool("ts-docker", "--config", str(config), "compose", "--stack-dir", str(DOCKER))
    assert again.returncode == 0 and "nothing to change" in again.stdout, again.stdout


@pytest.mark.root
def test_ts_docker_refuses_a_token_others_can_read(tmp_path, run_tool):
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "cloudflared-token").write_text(tunnel_token() + "\n")
    (secrets / "cloudflared-token").chmod(0o644)
    config = tmp_path / "trainserver.toml"
    config.write_text("\n".join([
        "[paths]", f'state_dir = "{tmp_path}/state"', f'secrets_dir = "{secrets}"',
        f'lock_dir = "{tmp_path}"', "[services]", 'domain = "lab.example"',
        'lan_address = "192.168.77.10"', "[docker]", f'daemon_json = "{tmp_path}/daemon.json"',
        "[tunnel]", "enabled = true", f'token_file = "{secrets}/cloudflared-token"']) + "\n")
    result = run_tool("ts-docker", "--config", str(config), "compose", "--stack-dir",
                      str(DOCKER))
    assert result.returncode == 2
    assert "readable or writable by group or others" in result.stderr
    assert not (secrets / "cloudflared.env").exists()
    assert not (tmp_path / "state" / "compose" / "workspaces.yaml").exists()
