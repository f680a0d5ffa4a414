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


NO_NETWORK = ["--iptables=false", "--ip-masq=false", "--bridge=none"]


def run_dockerd(tag):
    """A dockerd of the test's own; yields (docker argv prefix, DOCKER_HOST, image)."""
    yield from _dockerd(tag, NO_NETWORK)


def run_dockerd_with_config(config_file, data_root):
    """A dockerd that reads `config_file` (a daemon.json naming its own data root, as ts-docker
    configure writes it) with only its socket, exec root and pid file on the command line: a key
    given both ways makes dockerd refuse to start. Yields (docker, DOCKER_HOST, None); what it
    mounted below `data_root` is unmounted afterwards."""
    yield from _dockerd(None, NO_NETWORK, import_base=False, config_file=config_file,
                        mounts_below=(data_root,))


def _free_private_subnet():
    """A 10.x.y.0/24 that no address or route on this machine overlaps."""
    import ipaddress
    used = []
    for argv in (["ip", "-4", "-o", "addr", "show"], ["ip", "-4", "route", "show", "table", "all"]):
        for word in subprocess.run(argv, capture_output=True, text=True, check=True,
                                   env={"PATH": DEBIAN_PATH}).stdout.split():
            try:
                used.append(ipaddress.ip_network(word.replace("default", "0.0.0.0/0"), strict=False))
            except ValueError:
                pass
    used = [net for net in used if net.prefixlen > 0]  # the default route overlaps everything
    for _ in range(200):
        candidate = ipaddress.ip_network(f"10.{secrets.randbelow(200) + 50}.{secrets.randbelow(254)}.0/24")
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    pytest.fail("no free private /24 for the test's bridge")


def run_dockerd_bridged(tag, import_base=True):
    """A dockerd of the test's own that can publish ports; yields (docker, DOCKER_HOST, image),
    image None when import_base is false (import_minbase then imports it on demand).

    Its containers sit on a Linux bridge this test creates (tsbrXXXXXX, a free 10.x.y.0/24; the
    host is .1 on it, so the host reaches each container at its own address). Published ports are
    served by docker-proxy, the userland proxy, because --iptables=false: no iptables rule is
    written, and --ip-forward=false leaves the host's forwarding sysctl alone. There is no NAT, so
    containers have no way out; builds use --network host. The bridge is deleted afterwards.
    """
    env = {"PATH": DEBIAN_PATH}
    bridge = "tsbr" + secrets.token_hex(3)
    subnet = _free_private_subnet()
    created = False
    try:
        subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True, env=env)
        created = True
        subprocess.run(["ip", "addr", "add", f"{subnet.network_address + 1}/{subnet.prefixlen}",
                        "dev", bridge], check=True, env=env)
        subprocess.run(["ip", "link", "set", bridge, "up"], check=True, env=env)
        yield from _dockerd(tag, ["--bridge", bridge, "--iptables=false", "--ip-masq=false",
                                  "--ip-forward=false", "--userland-proxy=true"], import_base)
    finally:
        if created:
            subprocess.run(["ip", "link", "delete", bridge], check=False, env=env)


def import_minbase(docker, tag):
    """The bookworm minbase tarball imported into the engine as a fresh image; returns its name."""
    image = f"{tag}:{secrets.token_hex(4)}"
    with open(_minbase_tarball(), "rb") as handle:
        subprocess.run(docker + ["import", "-", image], stdin=handle, check=True,
                       capture_output=True, env={"PATH": DEBIAN_PATH}, timeout=300)
    return image


def _processes_under(root):
    """PIDs whose command line names `root` (a containerd its dockerd left behind)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if root.encode() in handle.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def _dockerd(tag, network_args, import_base=True, config_file=None, mounts_below=()):
    if shutil.which("dockerd", path=DEBIAN_PATH) is None:
        pytest.fail("dockerd is missing: install the Debian package docker.io")
    if import_base:
        _minbase_tarball()  # built (minutes, once a month) before the daemon is up
    existed = {path for path in _DOCKERD_LEFTOVERS if os.path.exists(path)}
    cgroups_before = _docker_cgroups()
    # Short: the socket path must fit in a sockaddr_un.
    root = tempfile.mkdtemp(prefix="ts-dockerd-", dir="/tmp")
    host = f"unix://{root}/docker.sock"
    docker = ["docker", "--host", host]
    env = {"PATH": DEBIAN_PATH}
    log = daemon = None
    try:
        if config_file is None:
            config_file = f"{root}/daemon.json"
            with open(config_file, "w") as handle:
                json.dump({"deprecated-key-path": f"{root}/key.json"}, handle)  # not /etc/docker/key.json
            own_root = ["--data-root", f"{root}/data"]
        else:
            own_root = []
        log = open(f"{root}/dockerd.log", "w")
        daemon = subprocess.Popen(
            ["dockerd", "--config-file", config_file, *own_root,
             "--exec-root", f"{root}/exec", "--pidfile", f"{root}/dockerd.pid", "--host", host,
             *network_args],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 60
        while subprocess.run(docker + ["version"], capture_output=True, env=env).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("dockerd did not start:\n" + open(f"{root}/dockerd.log").read()[-3000:])
            time.sleep(0.3)
        yield docker, host, import_minbase(docker, tag) if import_base else None
    finally:
        try:
            if daemon is not None and daemon.poll() is None:
                containers = subprocess.run(docker + ["ps", "-aq"], capture_output=True, text=True,
                                            env=env, timeout=60).stdout.split()
                if containers:
                    subprocess.run(docker + ["rm", "-f", *containers], capture_output=True, env=env,
                                   timeout=60)
                subprocess.run(docker + ["image", "prune", "-af"], capture_output=True, env=env, timeout=60)
                # Networks Compose made are Linux bridges (br-...) that outlive the daemon.
                subprocess.run(docker + ["network", "prune", "-f"], capture_output=True, env=env,
                               timeout=60)
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
            for pid in _processes_under(root):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            below = tuple(f"{path}/" for path in (root, *mounts_below))
            with open("/proc/self/mounts") as handle:
                mounts = [line.split()[1] for line in handle if line.split()[1].startswith(below)]
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
