"""ts-docker configure on real filesystems, and a real dockerd started with the file it writes.

A BTRFS and an ext4 filesystem on loop devices; the command runs as an admin runs it, on a
temporary daemon.json with --no-restart. Then a dockerd of the test's own reads that file (its
socket, exec root and pid file on the command line, which must not clash with the file's keys)
and must report the storage driver configure chose, and run a container with its log options.
"""

import json
import os
import subprocess

import pytest

import docker_engine

pytestmark = pytest.mark.root

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {"PATH": docker_engine.DEBIAN_PATH, "PYTHONPATH": os.path.join(REPO, "tools"),
       "LC_ALL": "C.UTF-8"}
ADMIN = {"dns": ["192.0.2.53"], "log-opts": {"labels": "team"}, "max-concurrent-downloads": 2}


@pytest.fixture
def ext4_mount(tmp_path):
    """An ext4 on a loop device over a sparse file, mounted; torn down even on failure."""
    image, mount_point = tmp_path / "ext4.img", tmp_path / "ext4"
    mount_point.mkdir()
    subprocess.run(["truncate", "-s", "512M", str(image)], check=True)
    device = subprocess.run(["losetup", "--find", "--show", str(image)], check=True,
                            capture_output=True, text=True).stdout.strip()
    try:
        subprocess.run(["mkfs.ext4", "-q", "-F", device], check=True, capture_output=True)
        subprocess.run(["mount", device, str(mount_point)], check=True)
        yield str(mount_point)
    finally:
        if os.path.ismount(mount_point):
            if subprocess.run(["umount", str(mount_point)]).returncode != 0:
                subprocess.run(["umount", "--lazy", str(mount_point)])
        subprocess.run(["losetup", "--detach", device])
        image.unlink(missing_ok=True)


def write_config(tmp_path, storage, data_root, **docker):
    lines = ["[paths]", f'storage = "{storage}"', f'lock_dir = "{tmp_path}/lock"',
             f'state_dir = "{tmp_path}/state"', f'metrics_dir = "{tmp_path}/metrics"',
             "[docker]", f'data_root = "{data_root}"',
             *(f'{key} = "{value}"' for key, value in docker.items())]
    path = tmp_path / "trainserver.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def configure(config, daemon_json, *args, docker_host=None):
    """Run ts-docker configure --json; (exit status, findings, stderr)."""
    env = {**ENV, "DOCKER_HOST": docker_host} if docker_host else ENV
    result = subprocess.run(
        ["/usr/bin/python3", "-c", "from trainserver.services.cli import main; main()",
         "--config", config, "configure", "--json", "--daemon-json", str(daemon_json),
         "--no-restart", *args], capture_output=True, text=True, env=env, timeout=120)
    findings = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.returncode, findings, result.stderr


def is_subvolume(path):
    return subprocess.run(["btrfs", "subvolume", "show", path], capture_output=True,
                          env=ENV).returncode == 0


def test_btrfs_gets_the_btrfs_driver_merged_with_the_admins_keys(tmp_path, btrfs_mount):
    storage = btrfs_mount("1G")
    data_root = os.path.join(storage, "docker")
    daemon_json = tmp_path / "daemon.json"
    daemon_json.write_text(json.dumps(ADMIN))
    config = write_config(tmp_path, storage, data_root)

    status, findings, stderr = configure(config, daemon_json, "--dry-run")
    assert status == 0, stderr
    assert json.loads(daemon_json.read_text()) == ADMIN and not os.path.exists(data_root)

    status, findings, stderr = configure(config, daemon_json)
    assert status == 0, (findings, stderr)
    written = json.loads(daemon_json.read_text())
    assert written["storage-driver"] == "btrfs" and written["data-root"] == data_root
    assert written["dns"] == ["192.0.2.53"] and written["max-concurrent-downloads"] == 2
    assert written["log-opts"] == {"labels": "team", "max-size": "52428800", "max-file": "5"}
    assert written["log-driver"] == "json-file" and written["live-restore"] is True
    assert "default-runtime" not in written
    assert json.loads((tmp_path / "daemon.json.trainserver-old").read_text()) == ADMIN
    assert is_subvolume(data_root)
    assert oct(os.stat(data_root).st_mode & 0o7777) == "0o710"

    status, findings, _ = configure(config, daemon_json)
    assert status == 0 and [f["value"] for f in findings] == [0]
    assert "nothing to change" in findings[0]["summary"]


def test_ext4_gets_overlay2_in_a_plain_directory(tmp_path, ext4_mount):
    data_root = os.path.join(ext4_mount, "docker")
    daemon_json = tmp_path / "daemon.json"
    config = write_config(tmp_path, "/mnt/storage-absent", data_root, log_max_size="100MB")
    status, findings, stderr = configure(config, daemon_json)
    assert status == 0, (findings, stderr)
    written = json.loads(daemon_json.read_text())
    assert written["storage-driver"] == "overlay2"
    assert written["log-opts"] == {"max-size": "100m", "max-file": "5"}
    assert os.path.isdir(data_root) and not os.path.exists(f"{daemon_json}.trainserver-old")
    # btrfs asked for on ext4 is refused, and the file stays as it is.
    before = daemon_json.read_text()
    config = write_config(tmp_path, "/mnt/storage-absent", data_root, storage_driver="btrfs")
    status, findings, _ = configure(config, daemon_json)
    assert status == 2 and findings[0]["severity"] == "critical"
    assert "does not work on ext4" in findings[0]["summary"]
    assert daemon_json.read_text() == before


@pytest.mark.parametrize("driver, removed", [("devicemapper", "25.0"), ("aufs", "24.0"),
                                             ("overlay", "24.0")])
def test_a_legacy_driver_in_the_file_is_refused(tmp_path, ext4_mount, driver, removed):
    daemon_json = tmp_path / "daemon.json"
    daemon_json.write_text(json.dumps({"storage-driver": driver}))
    config = write_config(tmp_path, "/mnt/storage-absent", os.path.join(ext4_mount, "docker"))
    status, findings, _ = configure(config, daemon_json)
    assert status == 2
    assert findings[0]["check"] == "daemon-json" and findings[0]["severity"] == "critical"
    assert f"removed in Docker {removed}" in findings[0]["summary"]
    assert json.loads(daemon_json.read_text()) == {"storage-driver": driver}
    assert not os.path.exists(os.path.join(ext4_mount, "docker"))


def test_validate_is_found_in_dockerd_exactly_when_it_works(tmp_path):
    from trainserver.services import daemon_apply

    has = daemon_apply.validator()
    (tmp_path / "daemon.json").write_text("{}")
    tried = subprocess.run(
        ["dockerd", "--validate", "--config-file", str(tmp_path / "daemon.json")],
        capture_output=True, text=True, env=ENV, timeout=60)
    assert has == (tried.returncode == 0), tried.stderr
    if not has:
        assert "unknown flag: --validate" in tried.stderr


def test_a_data_root_under_homes_is_refused(tmp_path, btrfs_mount):
    storage = btrfs_mount("1G")
    os.makedirs(os.path.join(storage, "homes", "alice"))
    data_root = os.path.join(storage, "homes", "alice", "docker")
    daemon_json = tmp_path / "daemon.json"
    config = write_config(tmp_path, storage, data_root)
    status, findings, _ = configure(config, daemon_json)
    assert status == 2 and findings[0]["severity"] == "critical"
    assert f"Put [docker] data_root at {storage}/docker" in findings[0]["summary"]
    assert "[snapshot] subvolumes" in findings[0]["summary"]
    assert not daemon_json.exists() and not os.path.exists(data_root)


# --- a real dockerd reading the generated file ------------------------------------------------

def docker_out(docker, *args, stdin=None):
    result = subprocess.run(docker + list(args), capture_output=True, text=stdin is None,
                            env={"PATH": docker_engine.DEBIAN_PATH}, stdin=stdin, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("fs", ["btrfs", "ext4"])
def test_a_real_dockerd_runs_on_the_generated_file(tmp_path, request, fs):
    mount = (request.getfixturevalue("btrfs_mount")("1G") if fs == "btrfs"
             else request.getfixturevalue("ext4_mount"))
    data_root = os.path.join(mount, "docker")
    daemon_json = tmp_path / "daemon.json"
    # The admin's key keeps dockerd 20.10 away from /etc/docker/key.json.
    daemon_json.write_text(json.dumps({"deprecated-key-path": f"{tmp_path}/key.json"}))
    config = write_config(tmp_path, "/mnt/storage-absent", data_root)
    status, findings, stderr = configure(config, daemon_json)
    assert status == 0, (findings, stderr)
    expected = {"btrfs": "btrfs", "ext4": "overlay2"}[fs]

    # A key given both in the file and as a flag: dockerd refuses to start, which is why
    # configure checks docker.service's command line.
    clash = subprocess.run(
        ["timeout", "60", "dockerd", "--config-file", str(daemon_json), "--data-root",
         data_root, "--host", f"unix://{tmp_path}/clash.sock", "--exec-root",
         f"{tmp_path}/clash-exec", "--pidfile", f"{tmp_path}/clash.pid"],
        capture_output=True, text=True, env={"PATH": docker_engine.DEBIAN_PATH})
    assert clash.returncode not in (0, 124)
    assert "both as a flag and in the configuration file" in clash.stderr
    assert "data-root" in clash.stderr

    tarball = docker_engine._minbase_tarball()
    runner = docker_engine.run_dockerd_with_config(str(daemon_json), data_root)
    docker, _, _ = next(runner)
    try:
        info = json.loads(docker_out(docker, "info", "--format", "{{json .}}"))
        assert info["Driver"] == expected
        assert info["DockerRootDir"] == data_root
        assert info["LiveRestoreEnabled"] is True
        assert info["LoggingDriver"] == "json-file"
        with open(tarball, "rb") as handle:
            image = docker_out(docker, "import", "-", "ts-dcfg:test", stdin=handle).strip()
        assert image
        name = "ts-dcfg-" + fs
        # Started for real: dockerd parses max-size and max-file only when a container starts.
        assert docker_out(docker, "run", "--name", name, "ts-dcfg:test", "echo", "hello") \
            .strip() == "hello"
        logs = json.loads(docker_out(docker, "inspect", "--format",
                                     "{{json .HostConfig.LogConfig}}", name))
        assert logs == {"Type": "json-file", "Config": {"max-file": "5", "max-size": "52428800"}}
        docker_out(docker, "rm", name)

        # Moving the data root while a container runs is refused: with live-restore it would
        # go on running out of the new dockerd's sight.
        docker_out(docker, "run", "-d", "--name", name, "ts-dcfg:test", "sleep", "300")
        before = daemon_json.read_text()
        moved_config = write_config(tmp_path, "/mnt/storage-absent", data_root + "-new")
        status, findings, _ = configure(moved_config, daemon_json, docker_host=docker[2])
        assert status == 2 and "1 containers are running" in findings[-1]["summary"]
        assert daemon_json.read_text() == before and not os.path.exists(data_root + "-new")
        docker_out(docker, "rm", "-f", name)
        # Stopped: the move is done, with a warning naming the image left behind.
        status, findings, _ = configure(moved_config, daemon_json, docker_host=docker[2])
        assert status == 1, findings
        warning = [f for f in findings if f["severity"] == "warning"]
        assert len(warning) == 1 and warning[0]["check"] == "data-root"
        assert f"1 images of driver {expected} in {data_root} " in warning[0]["summary"]
        assert json.loads(daemon_json.read_text())["data-root"] == data_root + "-new"
        assert os.listdir(os.path.join(data_root, "image", expected))  # nothing deleted
        if fs == "btrfs":  # image layers are subvolumes below the data root's own subvolume
            layers = os.listdir(os.path.join(data_root, "btrfs", "subvolumes"))
            assert layers and all(is_subvolume(os.path.join(data_root, "btrfs", "subvolumes",
                                                            layer)) for layer in layers)
    finally:
        runner.close()
