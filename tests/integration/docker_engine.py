"""A dockerd of the test's own, for the integration tests that need a real engine.

It has its own data root, exec root and socket, no iptables and no bridge, and one image
imported from a Debian bookworm minbase tarball (mmdebstrap, built once a month and cached
outside the repository: there is no registry here). Everything it made is removed afterwards.
"""

import datetime
import errno
import glob
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

UNIFIED = "/sys/fs/cgroup"  # where cgroup v2 is mounted on a unified (v2-only) system
DEBIAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
IMAGE_CACHE = "/var/cache/trainserver-tests"


def rmdir_unless_in_use(path):
    """rmdir a directory this test made, unless another user (a parallel test run) now has it."""
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
            raise


def _minbase_tarball():
    """A Debian bookworm minbase tarball, built once a month and kept outside the repository."""
    os.makedirs(IMAGE_CACHE, exist_ok=True)
    month = datetime.date.today().strftime("%Y-%m")
    path = os.path.join(IMAGE_CACHE, f"bookworm-minbase-{month}.tar")
    if os.path.exists(path):
        return path
    partial = path + ".partial"
    try:
        subprocess.run(["mmdebstrap", "--quiet", "--variant=minbase", "--format=tar", "bookworm", partial],
                       check=True, capture_output=True, timeout=600)
        os.replace(partial, path)
    finally:
        if os.path.isdir(partial):
            shutil.rmtree(partial)
        elif os.path.exists(partial):
            os.unlink(partial)
    for old in glob.glob(os.path.join(IMAGE_CACHE, "bookworm-minbase-*.tar")):
        if old != path:
            os.unlink(old)
    return path


# What dockerd 20.10 makes outside its --data-root and --exec-root, whatever it is told.
_DOCKERD_LEFTOVERS = ["/run/docker/plugins", "/run/docker", "/run/containerd/s", "/run/containerd"]


def _docker_cgroups():
    return set(glob.glob("/sys/fs/cgroup/*/docker") + glob.glob(f"{UNIFIED}/docker"))


def run_dockerd(tag):
    """A dockerd of the test's own; yields (docker argv prefix, DOCKER_HOST)."""
    if shutil.which("dockerd", path=DEBIAN_PATH) is None:
        pytest.fail("dockerd is missing: install the Debian package docker.io")
    tarball = _minbase_tarball()
    existed = {path for path in _DOCKERD_LEFTOVERS if os.path.exists(path)}
    cgroups_before = _docker_cgroups()
    # Short: the socket path must fit in a sockaddr_un.
    root = tempfile.mkdtemp(prefix="ts-dockerd-", dir="/tmp")
    host = f"unix://{root}/docker.sock"
    docker = ["docker", "--host", host]
    env = {"PATH": DEBIAN_PATH}
    log = daemon = None
    try:
        with open(f"{root}/daemon.json", "w") as handle:
            json.dump({"deprecated-key-path": f"{root}/key.json"}, handle)  # not /etc/docker/key.json
        log = open(f"{root}/dockerd.log", "w")
        daemon = subprocess.Popen(
            ["dockerd", "--config-file", f"{root}/daemon.json", "--data-root", f"{root}/data",
             "--exec-root", f"{root}/exec", "--pidfile", f"{root}/dockerd.pid", "--host", host,
             "--iptables=false", "--ip-masq=false", "--bridge=none"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 60
        while subprocess.run(docker + ["version"], capture_output=True, env=env).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("dockerd did not start:\n" + open(f"{root}/dockerd.log").read()[-3000:])
            time.sleep(0.3)
        image = f"{tag}:{secrets.token_hex(4)}"
        with open(tarball, "rb") as handle:
            subprocess.run(docker + ["import", "-", image], stdin=handle, check=True,
                           capture_output=True, env=env, timeout=300)
        yield docker, host, image
    finally:
        try:
            if daemon is not None and daemon.poll() is None:
                containers = subprocess.run(docker + ["ps", "-aq"], capture_output=True, text=True,
                                            env=env, timeout=60).stdout.split()
                if containers:
                    subprocess.run(docker + ["rm", "-f", *containers], capture_output=True, env=env,
                                   timeout=60)
                subprocess.run(docker + ["image", "prune", "-af"], capture_output=True, env=env, timeout=60)
        finally:
            if daemon is not None:
                daemon.terminate()
                try:
                    daemon.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(daemon.pid, signal.SIGKILL)
                    daemon.wait(timeout=10)
            if log is not None:
                log.close()
            with open("/proc/self/mounts") as handle:
                mounts = [line.split()[1] for line in handle if line.split()[1].startswith(root + "/")]
            for mount in sorted(mounts, reverse=True):
                subprocess.run(["umount", "-l", mount], check=False)
            shutil.rmtree(root)
            for path in _DOCKERD_LEFTOVERS:
                if path not in existed:
                    rmdir_unless_in_use(path)
            for path in _docker_cgroups() - cgroups_before:
                for child in glob.glob(f"{path}/*/"):  # containers' cgroups docker left behind
                    rmdir_unless_in_use(child)
                rmdir_unless_in_use(path)
