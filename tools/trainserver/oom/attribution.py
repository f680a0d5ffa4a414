"""Which container a kill belongs to, from the cgroup path the kernel printed (pure).

Docker puts each container in a cgroup named after its 64-hex id:
  systemd cgroup driver (cgroup v1 and v2):  /system.slice/docker-<id>.scope
  cgroupfs driver (cgroup v1, and v2):        /docker/<id>
  cgroupfs driver with --cgroup-parent=/X:    /X/<id>
A process may sit in a cgroup below the container's own (a container that makes cgroups of its
own), so the id is looked for in every component of the path, the outermost first.
"""

import re

_SCOPE = re.compile(r"^docker-(?P<id>[0-9a-f]{64})\.scope$")
_BARE_ID = re.compile(r"^(?P<id>[0-9a-f]{64})$")

SHORT_ID_LENGTH = 12


def container_id(memcg):
    """The full container id in the cgroup path `memcg`, or None for a process outside containers."""
    if not memcg:
        return None
    for component in memcg.split("/"):
        match = _SCOPE.match(component) or _BARE_ID.match(component)
        if match:
            return match["id"]
    return None


def short_id(full_id):
    """The id as `docker ps` shows it."""
    return full_id[:SHORT_ID_LENGTH]


def subject(kill, names):
    """The stable identity a kill is reported under, and whether it is a container.

    A container is named by its docker name (from `names`, full id -> name) when the engine
    knew it, else by its short id; any other process by its cgroup path, and by its process
    name when the kernel did not print a cgroup.
    """
    full_id = container_id(kill.memcg)
    if full_id:
        return names.get(full_id) or short_id(full_id), True
    if kill.memcg:
        return kill.memcg, False
    return f"process {kill.process}", False
