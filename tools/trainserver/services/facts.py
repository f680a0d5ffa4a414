"""What ts-docker reads from this machine: account ids, Docker's runtimes, the compose program."""

import grp
import json
import pwd
import shutil


def account_ids(people):
    """{"gid": {person: primary gid}, "groups": {group: gid}} for what exists on this machine."""
    gids = {}
    for person in people:
        try:
            gids[person.name] = pwd.getpwnam(person.name).pw_gid
        except KeyError:
            pass
    groups = {}
    for person in people:
        for name in person.all_groups(people.group):
            if name in groups:
                continue
            try:
                groups[name] = grp.getgrnam(name).gr_gid
            except KeyError:
                pass
    return {"gid": gids, "groups": groups}


def nvidia_runtime(daemon_json):
    """Whether Docker's daemon.json has the nvidia runtime (ts-docker configure adds it when
    nvidia-container-toolkit is installed)."""
    try:
        with open(daemon_json) as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "nvidia" in (config.get("runtimes") or {})


def compose_program():
    """The Compose command: the v2 plugin (`docker compose`, Debian 13's docker-compose package
    installs it) or v1's `docker-compose` (Debian 12). None when neither is installed."""
    from trainserver.core import commands
    from trainserver.core.errors import CommandError

    if shutil.which("docker"):
        try:
            commands.run(["docker", "compose", "version"], changes=False, timeout=30)
            return ["docker", "compose"]
        except CommandError:
            pass
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None
