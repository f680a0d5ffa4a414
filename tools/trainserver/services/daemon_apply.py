"""What `ts-docker configure` does to the system: gather facts, write, validate, restart.

The plan itself is daemon_config's. Order of the work: refusals before any change; the data
root made (a subvolume on BTRFS); the new file validated from a temporary copy; the old file
kept once as daemon.json.trainserver-old; the file replaced atomically; Docker restarted and
awaited, and on failure the old file put back and Docker restarted again.
"""

import logging
import os
import shutil
import time

from trainserver.core import commands, mountinfo
from trainserver.core.errors import CommandError
from trainserver.services import daemon_config

log = logging.getLogger(__name__)

BACKUP_SUFFIX = ".trainserver-old"
DEFAULT_ENV = "/etc/default/docker"
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# dockerd only starts once its storage driver is set up; on a big data root with live-restore
# that takes more than a few seconds.
READY_TIMEOUT = 90


def nearest_existing(path):
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return os.path.realpath(path)


def fstype_of(path, mountinfo_path=mountinfo.MOUNTINFO):
    """The type of the filesystem holding `path` (or its nearest existing ancestor), from
    mountinfo: statvfs does not say it."""
    path = nearest_existing(path)
    points = mountinfo.mount_points(mountinfo_path)
    probe = path
    while probe not in points and probe != "/":
        probe = os.path.dirname(probe)
    found = mountinfo.entry(probe, mountinfo_path)
    return found[0] if found else ""


def _which(name):
    return shutil.which(name, path=os.environ.get("PATH", "") + ":" + SYSTEM_PATH)


def count_images(root):
    """{(root, driver): images} of Docker's image store under `root` (one entry per driver
    that has images there)."""
    found = {}
    base = os.path.join(root, "image")
    try:
        drivers = os.listdir(base)
    except OSError:
        return found
    for driver in drivers:
        content = os.path.join(base, driver, "imagedb", "content", "sha256")
        try:
            count = len(os.listdir(content))
        except OSError:
            continue
        if count:
            found[(root, driver)] = count
    return found


def read_current(path):
    """(text, object or None); a missing file is an empty one."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return "", None
    return text, daemon_config.parse(text, path)


def gather(settings):
    text, current = read_current(settings.daemon_json)
    exists = os.path.isdir(settings.data_root)
    parent = os.path.dirname(os.path.normpath(settings.data_root))
    runtime = _which("nvidia-container-runtime") or ""
    facts = daemon_config.Facts(
        current=current, fstype=fstype_of(settings.data_root), data_root_exists=exists,
        parent_fstype="" if exists else fstype_of(parent), nvidia_runtime=runtime,
        nvidia_ctk=bool(_which("nvidia-ctk")))
    old_root, _ = daemon_config.old_location(current)
    facts.images = count_images(old_root)
    if os.path.normpath(old_root) != os.path.normpath(settings.data_root):
        facts.images.update(count_images(settings.data_root))
    return text, facts


def service_argv(env_file=DEFAULT_ENV):
    """dockerd's command line in docker.service plus DOCKER_OPTS; [] where it cannot be read
    (no systemd: a container, a chroot)."""
    argv = []
    try:
        result = commands.run(["systemctl", "show", "docker.service", "--property=ExecStart",
                               "--value"], changes=False, timeout=20, ok_codes=None)
        if result.returncode == 0:
            argv += daemon_config.exec_start_argv(result.stdout)
    except CommandError:
        pass
    try:
        with open(env_file, encoding="utf-8") as handle:
            argv += daemon_config.docker_opts(handle.read())
    except OSError:
        pass
    return argv


def validator(dockerd="dockerd"):
    """True when this dockerd has --validate (Docker 23 and later), from its own --help: the
    version text alone does not say what a distribution's build carries."""
    try:
        result = commands.run([dockerd, "--help"], changes=False, timeout=30, ok_codes=None)
    except CommandError:
        return False
    return any(word.startswith("--validate") for word in result.stdout.split())


def validate(text, path):
    """Problems with `text` as a daemon.json ([] when it is fine): dockerd --validate where
    this dockerd has it, else the types of the keys configure writes."""
    problems = daemon_config.type_problems(text)
    if problems or not validator():
        return problems
    check = f"{path}.trainserver-check"
    try:
        with open(check, "w", encoding="utf-8") as handle:
            handle.write(text)
        result = commands.run(["dockerd", "--validate", "--config-file", check],
                              changes=False, timeout=60, ok_codes=None)
    finally:
        try:
            os.unlink(check)
        except FileNotFoundError:
            pass
    if result.returncode != 0:
        return [(result.stderr or result.stdout).strip() or f"exit status {result.returncode}"]
    return []


def make_root(path, kind):
    """The data root, root-only (0710 as dockerd makes it): a subvolume when its parent is on
    BTRFS, so ts-snapshot never finds it inside another subvolume's snapshot."""
    os.makedirs(os.path.dirname(os.path.normpath(path)), mode=0o755, exist_ok=True)
    if kind == "subvolume":
        import btrfsutil  # here: --help must not pay for it

        btrfsutil.create_subvolume(path)
    else:
        os.mkdir(path, 0o710)
    os.chown(path, 0, 0)
    os.chmod(path, 0o710)


def write(path, text, old_text, existed):
    """Keep the old file once (the first version configure replaced), then replace atomically."""
    from trainserver.core.state import atomic_write

    backup = path + BACKUP_SUFFIX
    if existed and not os.path.exists(backup):
        atomic_write(backup, old_text, mode=0o644)
    mode = 0o644
    if existed:
        mode = os.stat(path).st_mode & 0o7777
    atomic_write(path, text, mode=mode)
    return backup if existed else ""


def docker_active():
    try:
        result = commands.run(["systemctl", "is-active", "docker.service"], changes=False,
                              timeout=20, ok_codes=None)
    except CommandError:
        return False
    return result.stdout.strip() == "active"


def running_containers():
    try:
        result = commands.run(["docker", "ps", "-q"], changes=False, timeout=30, ok_codes=None)
    except CommandError:
        return []
    return result.stdout.split() if result.returncode == 0 else []


def restart_and_wait(timeout=READY_TIMEOUT):
    """Restart docker.service; True when `docker info` answers within `timeout`."""
    try:
        commands.run(["systemctl", "restart", "docker.service"], changes=True, timeout=timeout)
    except CommandError as exc:
        log.warning("%s", exc)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if commands.run(["docker", "info"], changes=False, timeout=20,
                            ok_codes=None).returncode == 0:
                return True
        except CommandError:
            pass
        time.sleep(1)
    return False


def restore(path, old_text, existed):
    from trainserver.core.state import atomic_write

    if existed:
        atomic_write(path, old_text, mode=0o644)
    else:
        os.unlink(path)
