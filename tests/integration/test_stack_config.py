"""docker/compose.yaml through docker-compose's own parser, and docker/prometheus/prometheus.yml
through promtool. No engine and no root: `docker-compose config` only interpolates and validates.

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
