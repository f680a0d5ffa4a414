"""ts-firewall's adapters: ufw, fail2ban-client, docker and /proc. Everything here touches the
system; the decisions are made in plan, guard, ports, fail2ban and assess."""

import json
import os
import shutil
import tempfile

from trainserver.core import commands
from trainserver.core.errors import CommandError
from trainserver.firewall import fail2ban, ufwparse

UFW_DEFAULTS = "/etc/default/ufw"
UFW_TIMEOUT = 120  # `ufw enable` reloads every chain
CLIENT_TIMEOUT = 60


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


class UfwState:
    def __init__(self, status, policies, added):
        self.status = status
        self.policies = policies
        self.added = added


def ufw_state():
    """ufw as it is now; CommandError when ufw is missing or cannot be run (not root)."""
    status = ufwparse.parse_status(
        commands.run(["ufw", "status", "verbose"], changes=False, timeout=UFW_TIMEOUT).stdout)
    added = ufwparse.parse_added(
        commands.run(["ufw", "show", "added"], changes=False, timeout=UFW_TIMEOUT).stdout)
    # An inactive ufw does not print its policies; the file is what `ufw enable` will load.
    policies = status.policies or ufwparse.parse_default_file(_read(UFW_DEFAULTS))
    return UfwState(status, policies, added)


def run_ufw(argv):
    return commands.run(argv, changes=True, timeout=UFW_TIMEOUT)


def missing_program(error):
    return isinstance(error, CommandError) and error.returncode is None and "program not found" in str(error)


# The process tree, for the lockout guard.

def parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return 0
    # The name (field 2) may hold spaces and parentheses: fields start after the last ")".
    return int(text.rsplit(")", 1)[1].split()[1])


def environ_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    env = {}
    for item in data.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def name_of(pid):
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


# fail2ban.

def read_jail(path=fail2ban.JAIL_FILE):
    try:
        return _read(path)
    except FileNotFoundError:
        return None


def test_jail(text, config_dir=fail2ban.CONFIG_DIR, jail_file=fail2ban.JAIL_FILE):
    """(passed, fail2ban's words): fail2ban-client -t on a copy of `config_dir` holding `text`
    as the jail file, so that the live configuration is never the one on trial."""
    relative = os.path.relpath(jail_file, config_dir)
    with tempfile.TemporaryDirectory(prefix="ts-firewall-fail2ban-") as scratch:
        copy = os.path.join(scratch, "fail2ban")
        shutil.copytree(config_dir, copy, symlinks=True)
        candidate = os.path.join(copy, relative)
        os.makedirs(os.path.dirname(candidate), exist_ok=True)
        with open(candidate, "w", encoding="utf-8") as handle:
            handle.write(text)
        result = commands.run(["fail2ban-client", "-c", copy, "-t"], changes=False,
                              timeout=CLIENT_TIMEOUT, ok_codes=None)
    words = "\n".join(part.strip() for part in (result.stdout, result.stderr) if part.strip())
    return result.returncode == 0, words.replace(copy, config_dir)


def install_jail(text, jail_file=fail2ban.JAIL_FILE):
    from trainserver.core.state import atomic_write

    atomic_write(jail_file, text, mode=0o644)


def fail2ban_running():
    try:
        result = commands.run(["fail2ban-client", "ping"], changes=False, timeout=CLIENT_TIMEOUT,
                              ok_codes=None)
    except CommandError as exc:
        if missing_program(exc):
            return False
        raise
    return result.returncode == 0


def fail2ban_reload():
    return commands.run(["fail2ban-client", "reload"], changes=True, timeout=CLIENT_TIMEOUT)


def fail2ban_start():
    return commands.run(["systemctl", "enable", "--now", "fail2ban"], changes=True,
                        timeout=CLIENT_TIMEOUT)


def systemd_booted():
    """sd_booted(3): systemd is PID 1."""
    return os.path.isdir("/run/systemd/system")


def jail_status(jail="sshd"):
    """The Result of `fail2ban-client status JAIL` (any exit status)."""
    return commands.run(["fail2ban-client", "status", jail], changes=False, timeout=CLIENT_TIMEOUT,
                        ok_codes=None)


# Docker.

class DockerUnavailable(Exception):
    """No docker CLI, or no engine answering; the message says which."""


def docker_containers():
    """`docker inspect` objects of every running container (the CLI honours $DOCKER_HOST)."""
    try:
        listed = commands.run(["docker", "ps", "--quiet", "--no-trunc"], changes=False,
                              timeout=CLIENT_TIMEOUT, ok_codes=None)
    except CommandError as exc:
        if missing_program(exc):
            raise DockerUnavailable("docker is not installed") from None
        raise
    if listed.returncode != 0:
        if "Cannot connect to the Docker daemon" in listed.stderr or "Is the docker daemon running" in listed.stderr:
            raise DockerUnavailable("the docker engine is not running")
        raise CommandError(listed.argv, f"exit status {listed.returncode}", listed.returncode,
                           listed.stderr)
    ids = listed.stdout.split()
    if not ids:
        return []
    # A container that stops between ps and inspect makes inspect exit 1 with the rest printed.
    inspected = commands.run(["docker", "inspect", *ids], changes=False, timeout=CLIENT_TIMEOUT,
                             ok_codes=(0, 1))
    return json.loads(inspected.stdout or "[]")
