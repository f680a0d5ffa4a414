"""The small workspace image, built from docker/workspace/ and run for two people under a dockerd of
the test's own that can publish ports (root; docker.io, iproute2, openssh-client, iptables).

The image is built from the local bookworm minbase image (no registry here) with the host's CA
bundle in a copy of the build context (the egress proxy's CA, which pip and npm need), then kept
as a `docker save` tarball (about 885 MB) in /var/cache/trainserver-tests, keyed by a hash of
docker/workspace/. A clean machine, or any change under docker/workspace/, builds it: about 3 to
3.5 minutes on 2 cores (measured 167-188 s from daemon start to saved tarball, load average
0.7-1.7; most of it compiling code-server's native modules and installing Jupyter Lab). With the
tarball the image is ready in 14-19 s (docker load), and the whole module takes about 37 s.

The engine publishes the SSH ports through docker-proxy on 127.0.0.1 (--iptables=false, a bridge
of the test's own); Jupyter and code-server are reached at the container's address on that bridge.

Two people's workspaces are generated from [users] and [workspaces] of a test config and started
by the real `ts-docker up workspace-alice workspace-bob` (Compose on the test's engine, with the
shipped compose.yaml; the shared services are not started: their images are on Docker Hub). Then
ts-oom attributes a real OOM kill inside a workspace to it, and ts-backup's pause freezes one.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from docker_engine import DEBIAN_PATH, IMAGE_CACHE, import_minbase, run_dockerd_bridged

from tests.conftest import tool_argv, tool_env

pytestmark = pytest.mark.root

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTEXT = os.path.join(REPO, "docker", "workspace")
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
ENV = {"PATH": DEBIAN_PATH}

# The people and their workspace limits ([workspaces] scaled down to this machine); the
# workspaces are what `ts-docker up` starts from the generated compose file.
LIMITS = {"memory_limit": 1536 << 20, "memory_guarantee": 512 << 20, "cpus": 1.5, "shm_size": 64 << 20}
PEOPLE = [{"user": "alice", "uid": 2001}, {"user": "bob", "uid": 2002}]
STACK = ("/usr/share/trainserver/docker" if os.environ.get("TRAINSERVER_TEST_INSTALLED") == "1"
         else os.path.join(REPO, "docker"))


def docker_run(docker, argv, **kwargs):
    kwargs.setdefault("timeout", 120)
    result = subprocess.run(docker + argv, capture_output=True, text=True, env=ENV, **kwargs)
    assert result.returncode == 0, f"docker {' '.join(argv[:3])}: {result.stdout[-3000:]}{result.stderr[-2000:]}"
    return result.stdout


def run_tool(name, config, host, *args, timeout=600):
    """The real ts-* tool (the installed one, or the tree's), on the test's own engine."""
    return subprocess.run(tool_argv(name) + ["--config", str(config), *args], capture_output=True,
                          text=True, env=tool_env(dict(ENV, DOCKER_HOST=host)), timeout=timeout)


def ts_docker(config, host, *args):
    return run_tool("ts-docker", config, host, *args)


def write_config(root, storage, image, ports):
    lines = ["[paths]", f'storage = "{storage}"', f'state_dir = "{root}/state"',
             f'secrets_dir = "{root}/secrets"', f'lock_dir = "{root}/lock"',
             f'metrics_dir = "{root}/metrics"', "[services]", 'domain = "test.lan"',
             'lan_address = "127.0.0.1"', "[docker]", f'daemon_json = "{root}/daemon.json"',
             "[workspaces]", f'image = "{image}"', f'memory_limit = "{LIMITS["memory_limit"]}"',
             f'memory_guarantee = "{LIMITS["memory_guarantee"]}"', f'cpu_limit = {LIMITS["cpus"]}',
             f'shm_size = "{LIMITS["shm_size"]}"', "[oom]", f'log_file = "{root}/oom-kills.log"',
             "[users]"]
    for person in PEOPLE:
        lines += ["[[users.people]]", f'name = "{person["user"]}"', f'uid = {person["uid"]}',
                  f'ssh_port = {ports[person["user"]]}']
    path = root / "trainserver.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _context_hash():
    digest = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(CONTEXT)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, CONTEXT).encode() + b"\0")
            digest.update(oct(os.stat(path).st_mode & 0o111).encode())
            with open(path, "rb") as handle:
                digest.update(hashlib.sha256(handle.read()).digest())
    return digest.hexdigest()[:16]


def _load_or_build(docker):
    """The small image: loaded from the cached tarball, else built (minutes) and saved there."""
    key = _context_hash()
    image = f"ts-workspace:small-{key}"
    tarball = os.path.join(IMAGE_CACHE, f"workspace-small-{key}.tar")
    if os.path.exists(tarball):
        with open(tarball, "rb") as handle:
            docker_run(docker, ["load"], stdin=handle, timeout=600)
        return image
    base_image = import_minbase(docker, "ts-workspace-base")
    with tempfile.TemporaryDirectory(prefix="ts-ws-context-") as context:
        shutil.copytree(CONTEXT, context, dirs_exist_ok=True)
        if os.path.exists(HOST_CA):
            shutil.copy(HOST_CA, os.path.join(context, "ca-certificates", "host-egress.crt"))
        docker_run(docker, ["build", "--network", "host", "--target", "small",
                            "--build-arg", f"BASE_IMAGE={base_image}", "--tag", image, context],
                   timeout=3600)
    os.makedirs(IMAGE_CACHE, exist_ok=True)
    partial = tarball + ".partial"
    try:
        docker_run(docker, ["save", "--output", partial, image], timeout=600)
        os.replace(partial, tarball)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    for name in os.listdir(IMAGE_CACHE):
        if name.startswith("workspace-small-") and name != os.path.basename(tarball):
            os.unlink(os.path.join(IMAGE_CACHE, name))
    return image


def _iptables_rules():
    """The rules, without counters (traffic changes those) and comments (they carry a date)."""
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, env=ENV).stdout
    return [re.sub(r"\[\d+:\d+\]", "", line) for line in out.splitlines() if not line.startswith("#")]


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def engine():
    """The bridged dockerd and the small image in it; afterwards no iptables rule has changed."""
    rules_before = _iptables_rules()
    bridges_before = set(os.listdir("/sys/class/net"))
    started = time.monotonic()
    runner = run_dockerd_bridged("ts-workspace-image", import_base=False)
    try:
        docker, host, _ = next(runner)
        image = _load_or_build(docker)
        print(f"image ready in {time.monotonic() - started:.1f} s")
        yield docker, host, image
    finally:
        runner.close()
    assert set(os.listdir("/sys/class/net")) - bridges_before == set(), "a bridge was left behind"
    assert _iptables_rules() == rules_before, "the test's dockerd changed iptables rules"


@pytest.fixture(scope="module")
def workspaces(engine, tmp_path_factory):
    """alice's and bob's workspaces, generated from [users] and started by `ts-docker up`, with
    their host directories (as ts-storage and ts-users make them) and an SSH key."""
    docker, host, image = engine
    root = tmp_path_factory.mktemp("workspaces")
    storage = root / "storage"
    key = root / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, env=ENV)
    (storage / "cache" / "pip").mkdir(parents=True)
    # ts-caches writes caches.env beside the config; the generated services read it.
    (root / "caches.env").write_text(f"PIP_CACHE_DIR={storage}/cache/pip\n")
    secrets_dir = root / "secrets"
    secrets_dir.mkdir(mode=0o700)
    (secrets_dir / "traefik-users").write_text("admin:$2y$05$abcdefghijklmnopqrstuu\n")
    ports = {person["user"]: _free_port() for person in PEOPLE}
    config = write_config(root, storage, image, ports)
    for person in PEOPLE:
        user, uid = person["user"], person["uid"]
        home = storage / "homes" / user
        for path in (home / ".ssh", storage / "workspaces" / user, storage / "tensorboard" / user):
            path.mkdir(parents=True)
        (storage / "docker-volumes" / f"{user}-state").mkdir(parents=True)
        shutil.copy(f"{key}.pub", home / ".ssh" / "authorized_keys")
        # A root-owned file the entrypoint must leave alone (no recursive chown of the home).
        (home / "root-owned").write_text("")
        for path in (home, home / ".ssh", home / ".ssh" / "authorized_keys", storage / "workspaces" / user,
                     storage / "tensorboard" / user):
            os.chown(path, uid, uid)
        home.chmod(0o750)
        (home / ".ssh").chmod(0o700)
    names = [f"workspace-{person['user']}" for person in PEOPLE]
    started = time.monotonic()
    try:
        result = ts_docker(config, host, "up", "--stack-dir", STACK, *names)
        assert result.returncode == 0, result.stdout + result.stderr
        people = []
        for person in PEOPLE:
            user = person["user"]
            secret = dict(line.split("=", 1) for line in
                          (secrets_dir / f"workspace-{user}.env").read_text().split())
            environment = dict(item.split("=", 1) for item in
                               _inspect(docker, f"workspace-{user}")["Config"]["Env"])
            people.append(dict(person, gid=int(environment["WORKSPACE_GID"]),
                               groups=environment["WORKSPACE_GROUPS"], home=storage / "homes" / user,
                               ssh_port=ports[user], state=storage / "docker-volumes" / f"{user}-state",
                               token=secret["JUPYTER_TOKEN"], password=secret["PASSWORD"],
                               pip_cache=f"{storage}/cache/pip", container=f"workspace-{user}"))
        for person in people:
            _wait_healthy(docker, person["container"], deadline=started + 180)
        print(f"both workspaces healthy {time.monotonic() - started:.1f} s after ts-docker up")
        yield docker, people, key, {"config": config, "host": host, "root": root}
    finally:
        # Compose's networks are bridges of their own: `down` removes them with the containers.
        down = ts_docker(config, host, "down", "--stack-dir", STACK)
        assert down.returncode == 0, down.stdout + down.stderr


def _inspect(docker, container):
    return json.loads(docker_run(docker, ["inspect", container]))[0]


def _wait_healthy(docker, container, deadline):
    while True:
        state = _inspect(docker, container)["State"]
        health = state.get("Health", {})
        if health.get("Status") == "healthy":
            return
        if not state["Running"] or time.monotonic() > deadline:
            logs = subprocess.run(docker + ["logs", "--tail", "60", container], capture_output=True,
                                  text=True, env=ENV)
            pytest.fail(f"{container} is {health.get('Status') or state['Status']}; last checks: "
                        f"{[entry.get('Output') for entry in health.get('Log', [])][-2:]}\n"
                        f"{logs.stdout[-3000:]}{logs.stderr[-3000:]}")
        time.sleep(1)


def _get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _raw(address, port, method, path, body=None, headers=None):
    """One request, redirects not followed: (status, lower-cased headers, body)."""
    import http.client
    connection = http.client.HTTPConnection(address, port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return (response.status, {key.lower(): value for key, value in response.getheaders()},
                response.read().decode(errors="replace"))
    finally:
        connection.close()


def test_limits_are_what_was_asked(workspaces):
    docker, people, _, _ = workspaces
    for person in people:
        host_config = _inspect(docker, person["container"])["HostConfig"]
        assert host_config["Memory"] == LIMITS["memory_limit"]
        assert host_config["MemoryReservation"] == LIMITS["memory_guarantee"]
        assert host_config["NanoCpus"] == int(LIMITS["cpus"] * 1e9)
        assert host_config["ShmSize"] == LIMITS["shm_size"]
        assert host_config["PortBindings"] == {"22/tcp": [{"HostIp": "127.0.0.1",
                                                            "HostPort": str(person["ssh_port"])}]}


def test_ssh_logs_in_with_a_key_as_the_person(workspaces):
    docker, people, key, _ = workspaces
    for person in people:
        with socket.create_connection(("127.0.0.1", person["ssh_port"]), timeout=10) as conn:
            assert conn.recv(256).startswith(b"SSH-2.0-")
        common = ["-p", str(person["ssh_port"]), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                  "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
        result = subprocess.run(["ssh", "-i", str(key), *common, f"{person['user']}@127.0.0.1",
                                 "id -u; id -G; echo $PIP_CACHE_DIR"],
                                capture_output=True, text=True, env=ENV, timeout=60)
        assert result.returncode == 0, result.stderr
        uid, groups, pip_cache = result.stdout.split("\n")[:3]
        # The shared caches' variables reach SSH sessions too, not only the supervised services.
        assert pip_cache == person["pip_cache"]
        assert int(uid) == person["uid"]
        wanted = {person["gid"]} | {int(pair.split(":")[1]) for pair in person["groups"].split(",") if pair}
        assert set(map(int, groups.split())) == wanted
        # Keys only: with no key offered the server refuses, and root cannot log in at all.
        for login, extra in ((person["user"], ["-o", "PubkeyAuthentication=no"]), ("root", ["-i", str(key)])):
            refused = subprocess.run(["ssh", *extra, *common, f"{login}@127.0.0.1", "true"],
                                     capture_output=True, text=True, env=ENV, timeout=60)
            assert refused.returncode == 255 and "Permission denied" in refused.stderr, refused.stderr
        # The host key served is the one kept in the person's state volume.
        scanned = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(person["ssh_port"]), "127.0.0.1"],
                                 capture_output=True, text=True, env=ENV, timeout=30).stdout.split()
        kept = (person["state"] / "ssh-host-keys" / "ssh_host_ed25519_key.pub").read_text().split()
        assert scanned[1:3] == kept[:2]


def test_jupyter_and_code_server_answer(workspaces):
    docker, people, _, _ = workspaces
    for person in people:
        # On the stack's web network (a bridge of its own: the host is its gateway).
        (network,) = _inspect(docker, person["container"])["NetworkSettings"]["Networks"].values()
        address = network["IPAddress"]
        status, body = _get(f"http://{address}:8888/api")
        assert status == 200 and "version" in json.loads(body)
        # The token guards everything else.
        assert _get(f"http://{address}:8888/api/contents")[0] == 403
        status, body = _get(f"http://{address}:8888/api/contents",
                            {"Authorization": f"token {person['token']}"})
        assert status == 200 and json.loads(body)["type"] == "directory"
        status, body = _get(f"http://{address}:8080/healthz")
        assert status == 200 and json.loads(body)["status"] in ("alive", "expired")
        # code-server asks for its password, and behind it VS Code really loads (a broken install
        # still answers /healthz but hangs here).
        status, headers, _ = _raw(address, 8080, "GET", "/")
        assert status == 302 and headers["location"].split("?")[0].endswith("login"), (status, headers)
        status, headers, _ = _raw(address, 8080, "POST", "/login", f"password={person['password']}",
                                  {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 302 and "set-cookie" in headers, (status, headers)
        cookie = headers["set-cookie"].split(";")[0]
        status, headers, _ = _raw(address, 8080, "GET", "/", headers={"Cookie": cookie})
        assert status == 302 and headers["location"] == f"./?folder=/home/{person['user']}", headers
        status, _, body = _raw(address, 8080, "GET", f"/?folder=/home/{person['user']}",
                               headers={"Cookie": cookie})
        assert status == 200 and "vs/workbench" in body, body[:500]


def test_files_made_inside_belong_to_the_person_on_the_host(workspaces):
    docker, people, _, _ = workspaces
    for person in people:
        user = person["user"]
        docker_run(docker, ["exec", "--user", user, person["container"], "touch", f"/home/{user}/made-inside"])
        made = os.stat(person["home"] / "made-inside")
        assert (made.st_uid, made.st_gid) == (person["uid"], person["gid"])
        # The home was neither chowned nor filled from /etc/skel.
        assert os.stat(person["home"] / "root-owned").st_uid == 0
        assert not (person["home"] / ".bashrc").exists()


def test_the_full_flavour_parses(engine):
    """The full target is not built here (an hour of KDE, LibreOffice and compilers); the engine's own
    parser reads the whole Dockerfile, all stages, before it looks for the (missing) base image."""
    docker, _, _ = engine
    missing = "ts-missing/base:0"  # no registry answers here either
    result = subprocess.run(docker + ["build", "--target", "full", "--build-arg", f"BASE_IMAGE={missing}",
                                      "--network", "none", CONTEXT],
                            capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode != 0
    assert "parse error" not in result.stderr.lower() and "unknown instruction" not in result.stderr.lower()
    # It got as far as the first FROM, having counted every step of every stage.
    steps = re.search(r"Step 2/(\d+) : FROM \$\{BASE_IMAGE\} AS base\n", result.stdout)
    assert steps and int(steps.group(1)) > 40, result.stdout + result.stderr


def test_a_restarted_workspace_comes_back_with_the_same_host_key(workspaces):
    """The entrypoint runs again on every start: the account exists by then, the keys too."""
    docker, people, key, _ = workspaces
    person = people[-1]
    keys = person["state"] / "ssh-host-keys" / "ssh_host_ed25519_key.pub"
    before = keys.read_text()
    docker_run(docker, ["restart", "--time", "5", person["container"]])
    deadline = time.monotonic() + 60
    while True:
        login = subprocess.run(
            ["ssh", "-i", str(key), "-p", str(person["ssh_port"]), "-o", "BatchMode=yes",
             "-o", "ConnectTimeout=5", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "LogLevel=ERROR", f"{person['user']}@127.0.0.1", "id -u"],
            capture_output=True, text=True, env=ENV, timeout=30)
        if login.returncode == 0 or time.monotonic() > deadline:
            break
        assert _inspect(docker, person["container"])["State"]["Running"], "the restarted workspace exited"
        time.sleep(0.5)
    assert login.returncode == 0, login.stderr
    assert int(login.stdout) == person["uid"]
    assert keys.read_text() == before


def test_an_oom_kill_in_a_workspace_is_attributed_to_it(workspaces):
    """A process past the workspace's memory limit is killed by the kernel (no swap on top of the
    limit), and ts-oom names the workspace."""
    docker, people, _, setup = workspaces
    person = people[0]

    def check():
        result = run_tool("ts-oom", setup["config"], setup["host"], "check", "--json", "--source",
                          "kmsg", timeout=120)
        assert result.returncode in (0, 1, 2), result.stderr
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    check()  # the first run takes the kernel log's position
    hog = subprocess.run(docker + ["exec", "--user", person["user"], person["container"], "python3", "-c",
                                   "hog = b'\\x01' * (2 << 30)"],
                         capture_output=True, text=True, env=ENV, timeout=300)
    assert hog.returncode == 137, (hog.returncode, hog.stderr)
    mine = [f for f in check() if f["subject"] == person["container"]]
    assert [f["severity"] for f in mine] == ["warning"], mine
    assert f"container {person['container']}: 1 new OOM kill" in mine[0]["summary"]
    assert "python3 (pid " in mine[0]["summary"] and "cgroup limit 1.5 GiB" in mine[0]["summary"], mine
    # The workspace itself goes on: only the process past the limit was killed.
    assert _inspect(docker, person["container"])["State"]["Running"]


def test_ts_backup_pauses_a_workspace_and_lets_it_go(workspaces):
    """ts-backup's pause (the one around its snapshots) on a generated workspace: frozen while the
    block runs (SSH gives no banner), running and answering right after."""
    from trainserver.backup import pause

    from plumbum import local

    docker, people, _, setup = workspaces
    person = people[1]
    report = {}
    # plumbum (core.commands) keeps its own copy of the environment, taken when it was imported.
    with local.env(DOCKER_HOST=setup["host"], PATH=DEBIAN_PATH), \
            pause.paused([person["container"]], timeout=30, report=report):
        assert _inspect(docker, person["container"])["State"]["Paused"] is True
        with socket.create_connection(("127.0.0.1", person["ssh_port"]), timeout=10) as conn:
            conn.settimeout(2)
            with pytest.raises(socket.timeout):
                conn.recv(256)  # sshd is frozen: docker-proxy accepts, nobody answers
    assert report["unpause_errors"] == [] and report["seconds"] < 30
    state = _inspect(docker, person["container"])["State"]
    assert state["Paused"] is False and state["Running"] is True
    with socket.create_connection(("127.0.0.1", person["ssh_port"]), timeout=10) as conn:
        assert conn.recv(256).startswith(b"SSH-2.0-")


def test_status_tells_running_workspaces_from_services_never_started(workspaces):
    """`ts-docker status --json` on the real engine: the two workspaces running and healthy, the
    shared services (not started here) each a critical finding, and the exit status says so."""
    docker, people, _, setup = workspaces
    for person in people:  # a workspace an earlier test restarted is healthy again
        _wait_healthy(docker, person["container"], deadline=time.monotonic() + 120)
    result = ts_docker(setup["config"], setup["host"], "status", "--json", "--stack-dir", STACK)
    findings = {f["subject"]: f for f in map(json.loads, result.stdout.splitlines())}
    for person in people:
        assert findings[person["container"]]["severity"] == "ok", findings
        assert "running, healthy" in findings[person["container"]]["summary"]
    assert findings["traefik"]["severity"] == "critical"
    assert "no container (ts-docker up starts it)" in findings["traefik"]["summary"]
    assert "dcgm-exporter" not in findings  # the gpu profile: no nvidia runtime here
    assert result.returncode == 2, result.stderr
