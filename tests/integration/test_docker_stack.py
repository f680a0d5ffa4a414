"""ts-docker compose on a 5-person config, checked by the real docker-compose with the shipped
stack (docker/compose.yaml). Nothing is started: the shared services' images live on Docker
Hub, which cannot be reached from here, so the stack is validated by Compose itself."""

import os
import shutil
import stat
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The installed package's stack when the tests run against it, else the tree's.
STACK = ("/usr/share/trainserver/docker" if os.environ.get("TRAINSERVER_TEST_INSTALLED") == "1"
         else os.path.join(ROOT, "docker"))
LAN = "192.168.77.10"
PEOPLE = [("alice", 1001), ("bob", 1002), ("carol", 1003), ("dave", 1004), ("erin", 1005)]


def compose_program():
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("docker-compose is missing: install the Debian package docker-compose")


@pytest.fixture
def config(tmp_path):
    lines = ["[paths]", f'state_dir = "{tmp_path}/state"', f'secrets_dir = "{tmp_path}/secrets"',
             f'lock_dir = "{tmp_path}"', f'storage = "{tmp_path}/storage"',
             "[services]", 'domain = "lab.example"', f'lan_address = "{LAN}"',
             "[docker]", f'daemon_json = "{tmp_path}/daemon.json"', "[users]"]
    for name, uid in PEOPLE:
        lines += ["[[users.people]]", f'name = "{name}"', f"uid = {uid}"]
    lines += ['memory_limit = "4GiB"', 'memory_guarantee = "1GiB"', "cpu_limit = 1.5"]  # erin's
    path = tmp_path / "trainserver.toml"
    path.write_text("\n".join(lines) + "\n")
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    users = secrets / "traefik-users"
    users.write_text("admin:$2y$05$abcdefghijklmnopqrstuu5sMYhQwJ3rGxVhuLp6b5hN0wz7mQ4S.\n")
    users.chmod(0o600)
    return path


def test_the_generated_stack_for_five_people_passes_compose(config, tmp_path, run_tool):
    result = run_tool("ts-docker", "--config", str(config), "compose", "--stack-dir", STACK)
    assert result.returncode == 0, result.stderr
    assert "passwords of erin" in result.stdout
    state = tmp_path / "state" / "compose"
    for name, _ in PEOPLE:
        secret = tmp_path / "secrets" / f"workspace-{name}.env"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert set(line.split("=")[0] for line in secret.read_text().split()) == {
            "PASSWORD", "JUPYTER_TOKEN", "VNC_PASSWORD"}
    grafana = (tmp_path / "secrets" / "grafana-admin-password").stat()
    assert (grafana.st_uid, stat.S_IMODE(grafana.st_mode)) == (472, 0o400)
    argv = compose_program() + ["--project-name", "trainserver", "--env-file",
                                str(state / "stack.env"), "--file", f"{STACK}/compose.yaml",
                                "--file", str(state / "workspaces.yaml")]
    merged = subprocess.run(argv + ["config"], capture_output=True, text=True, timeout=120)
    assert merged.returncode == 0, merged.stderr
    # A variable stack.env lacks ("The X variable is not set. Defaulting to a blank string.").
    assert "WARNING" not in merged.stderr and "not set" not in merged.stderr, merged.stderr
    document = yaml.safe_load(merged.stdout)
    services = document["services"]
    for name, uid in PEOPLE:
        workspace = services[f"workspace-{name}"]
        assert workspace["environment"]["WORKSPACE_UID"] == str(uid)
    assert services["workspace-erin"]["mem_limit"] in (4 * 2**30, str(4 * 2**30), "4g")
    # Traefik's and the workspaces' ports are the only published ones, all on the LAN address.
    published = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else port.split(":")[0]
            published.setdefault(name, []).append(host_ip)
    assert set(published) == {"traefik"} | {f"workspace-{name}" for name, _ in PEOPLE}
    assert all(ip == LAN for ips in published.values() for ip in ips), published
    # Every workspace is on the network Traefik routes through.
    web = document["networks"]
    assert any(net.get("name") == "trainserver-web" for net in web.values())

    again = run_tool("ts-docker", "--config", str(config), "compose", "--stack-dir", STACK)
    assert again.returncode == 0 and "nothing to change" in again.stdout, again.stdout


def test_a_stack_compose_refuses_leaves_the_old_files(config, tmp_path, run_tool):
    assert run_tool("ts-docker", "--config", str(config), "compose",
                    "--stack-dir", STACK).returncode == 0
    overlay = tmp_path / "state" / "compose" / "workspaces.yaml"
    before = overlay.read_text()
    broken = tmp_path / "broken-stack"
    shutil.copytree(STACK, broken)
    (broken / "compose.yaml").write_text("services:\n  traefik:\n    image: [not, a, string]\n")
    text = config.read_text().replace('cpu_limit = 1.5', 'cpu_limit = 3')
    config.write_text(text)
    result = run_tool("ts-docker", "--config", str(config), "compose", "--stack-dir", str(broken))
    assert result.returncode == 2
    assert "Compose refused the generated stack, nothing was written" in result.stderr
    assert overlay.read_text() == before


def test_without_the_admin_pages_users_file_compose_warns(config, tmp_path, run_tool):
    users = tmp_path / "secrets" / "traefik-users"
    users.unlink()
    result = run_tool("ts-docker", "--config", str(config), "compose", "--stack-dir", STACK)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"warning: {users} is missing" in result.stderr
    assert f"htpasswd -cB {users} admin" in result.stderr
    assert not users.exists()
