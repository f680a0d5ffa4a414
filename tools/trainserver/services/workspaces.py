"""Each person's workspace: its limits, port, groups and mounts, from [users] and [workspaces].

Pure logic: the account ids come in as arguments (facts.py reads them), so the rules are tested
without root and ts-docker compose, status and the tests agree on one set of values.
"""

from dataclasses import dataclass

from trainserver.core import people as people_module
from trainserver.core import units

# Ports inside the image (docker/workspace): the generator routes and publishes these.
SSH_PORT, JUPYTER_PORT, CODE_PORT, DESKTOP_PORT = 22, 8888, 8080, 6080
# The one network Traefik shares with what it routes; docker/compose.yaml makes it.
WEB_NETWORK = "trainserver-web"


@dataclass(frozen=True)
class Workspace:
    name: str
    uid: int
    gid: int
    groups: tuple  # ((name, gid), ...) that must exist inside, for the mounted files' groups
    image: str
    memory_limit: int  # bytes
    memory_guarantee: int  # bytes
    cpus: float
    shm_size: int  # bytes
    ssh_port: int
    gpus: bool

    @property
    def container(self):
        return f"workspace-{self.name}"

    @property
    def hostname(self):
        return f"{self.name}-workspace"

    def mounts(self, storage):
        """[(host path, path inside, read-only)]: the person's subvolumes and the shared caches."""
        return [
            (f"{storage}/homes/{self.name}", f"/home/{self.name}", False),
            (f"{storage}/workspaces/{self.name}", "/workspace", False),
            (f"{storage}/docker-volumes/{self.name}-state", "/state", False),
            (f"{storage}/tensorboard/{self.name}", "/tensorboard", False),
            # The same path inside, so the values of /etc/trainserver/caches.env work there.
            (f"{storage}/cache", f"{storage}/cache", False),
        ]

    def hostnames(self, domain):
        """{what: hostname} Traefik routes to this workspace."""
        return {"desktop": f"{self.name}.{domain}", "code": f"{self.name}-code.{domain}",
                "jupyter": f"{self.name}-jupyter.{domain}"}


def ssh_port(person, base):
    return person.ssh_port if person.ssh_port is not None else base + person.uid % 1000


def gpus_wanted(setting, nvidia_runtime):
    return setting == "all" or (setting == "auto" and nvidia_runtime)


def plan(people, settings, ids, nvidia_runtime=False):
    """One Workspace per person, in [users] order.

    settings: the effective [workspaces] table; ids: {"gid": {name: primary gid},
    "groups": {group name: gid}} from the accounts (a person without an account yet gets their
    uid as gid, as useradd's private group would; a group not on this machine is left out).
    """
    primary = ids.get("gid", {})
    group_ids = ids.get("groups", {})
    result = []
    for person in people:
        wanted = person.all_groups(people.group)
        result.append(Workspace(
            name=person.name, uid=person.uid, gid=primary.get(person.name, person.uid),
            groups=tuple((group, group_ids[group]) for group in wanted if group in group_ids),
            image=settings["image"],
            memory_limit=_size(person.memory_limit, settings["memory_limit"]),
            memory_guarantee=_size(person.memory_guarantee, settings["memory_guarantee"]),
            cpus=float(person.cpu_limit if person.cpu_limit is not None else settings["cpu_limit"]),
            shm_size=units.parse_size(settings["shm_size"]),
            ssh_port=ssh_port(person, settings["ssh_port_base"]),
            gpus=gpus_wanted(settings["gpus"], nvidia_runtime)))
    return result


def _size(own, default_text):
    return own if own is not None else units.parse_size(default_text)


def _address_problems(address):
    import ipaddress

    try:
        parsed = ipaddress.IPv4Address(address)
    except ValueError:
        return [f"[services] lan_address: must be an IPv4 address of this server (got {address!r})"]
    if parsed.is_unspecified:
        return [f"[services] lan_address: must be one address of this server: {address} would "
                f"publish on every address, past the firewall (got {address!r})"]
    return []


def config_problems(effective):
    """Rules the schema cannot say: a LAN address that is one address, one SSH port per person,
    and a guarantee within the limit."""
    problems = []
    address = effective["services"]["lan_address"]
    if address:
        problems += _address_problems(address)
    table = effective["workspaces"]
    try:
        people = people_module.from_table(effective["users"])
    except (KeyError, ValueError):
        return problems  # people's own problems are reported by core.people
    seen = {}
    for index, person in enumerate(people):
        port = ssh_port(person, table["ssh_port_base"])
        if port in seen:
            problems.append(
                f"[users] people.[{index}] ssh_port: {port} is already the workspace SSH port of "
                f"{seen[port]} ([workspaces] ssh_port_base + uid % 1000); set ssh_port in one of "
                f"the two tables (got {port})")
        seen.setdefault(port, person.name)
        try:
            limit = _size(person.memory_limit, table["memory_limit"])
            guarantee = _size(person.memory_guarantee, table["memory_guarantee"])
        except ValueError:
            continue  # a malformed size is the schema's finding
        if guarantee > limit:
            problems.append(
                f"[users] people.[{index}] ({person.name}): the workspace memory guarantee "
                f"{units.format_size(guarantee)} is above its limit "
                f"{units.format_size(limit)} (got memory_guarantee > memory_limit)")
    return problems
