"""The people of [users]: who they are and which subvolumes each has. Pure logic.

ts-storage, ts-users, ts-quota and the services stack all read people through here, so they
agree on names, defaults and subvolumes.
"""

from dataclasses import dataclass, field

from trainserver.core import units

# Relative to [paths] storage; the order is the order they are made in.
SUBVOLUME_PATTERNS = ("homes/{name}", "workspaces/{name}", "tensorboard/{name}",
                      "docker-volumes/{name}-state")
SUDO_GROUP = "sudo"


@dataclass(frozen=True)
class Person:
    name: str
    uid: int
    ssh_keys: tuple = ()
    ssh_keys_file: str = ""
    sudo: bool = False
    shell: str = "/bin/bash"
    groups: tuple = ()
    quota_limit: int = None  # bytes; None: [quota] user_limit
    # The workspace's own settings; None: [workspaces] defaults (trainserver.services.workspaces).
    memory_limit: int = None  # bytes
    memory_guarantee: int = None  # bytes
    cpu_limit: float = None
    ssh_port: int = None

    @property
    def home(self):
        return f"homes/{self.name}"

    @property
    def workspace(self):
        return f"workspaces/{self.name}"

    def subvolumes(self):
        return subvolumes(self.name)

    def all_groups(self, shared_group):
        """Supplementary groups, in a stable order: the shared group, sudo, then the extra ones."""
        wanted = [shared_group] + ([SUDO_GROUP] if self.sudo else []) + list(self.groups)
        return tuple(dict.fromkeys(wanted))


@dataclass(frozen=True)
class People:
    people: tuple = ()
    group: str = "mlusers"
    default_groups: tuple = field(default=("docker",))

    def names(self):
        return [person.name for person in self.people]

    def __iter__(self):
        return iter(self.people)

    def __len__(self):
        return len(self.people)

    def get(self, name):
        for person in self.people:
            if person.name == name:
                return person
        return None


def subvolumes(name):
    """The subvolumes a person has, relative to [paths] storage."""
    return [pattern.format(name=name) for pattern in SUBVOLUME_PATTERNS]


def from_table(table):
    """People from the effective [users] table (as written: sizes are still text)."""
    people = []
    for entry in table["people"]:
        limit = entry.get("quota_limit")
        people.append(Person(
            name=entry["name"], uid=entry["uid"], ssh_keys=tuple(entry.get("ssh_keys", ())),
            ssh_keys_file=entry.get("ssh_keys_file", ""), sudo=entry.get("sudo", False),
            shell=entry.get("shell", table["shell"]),
            groups=tuple(entry.get("groups", table["groups"])),
            quota_limit=units.parse_size(limit) if limit is not None else None,
            memory_limit=_size_or_none(entry.get("memory_limit")),
            memory_guarantee=_size_or_none(entry.get("memory_guarantee")),
            cpu_limit=entry.get("cpu_limit"), ssh_port=entry.get("ssh_port")))
    return People(people=tuple(people), group=table["group"],
                  default_groups=tuple(table["groups"]))


def _size_or_none(text):
    return units.parse_size(text) if text is not None else None


def from_config(config):
    return from_table(config.effective["users"])


def config_problems(effective):
    """Rules across people that the schema cannot say: names and uids appear once."""
    problems = []
    seen_names, seen_uids = {}, {}
    for index, entry in enumerate(effective["users"]["people"]):
        name, uid = entry["name"], entry["uid"]
        if name in seen_names:
            problems.append(f"[users] people.[{index}] name: {name!r} is already person "
                            f"[{seen_names[name]}] (got {name!r})")
        seen_names.setdefault(name, index)
        if uid in seen_uids:
            problems.append(f"[users] people.[{index}] uid: {uid} is already person "
                            f"[{seen_uids[uid]}] (got {uid})")
        seen_uids.setdefault(uid, index)
        if name == effective["users"]["group"]:
            problems.append(f"[users] people.[{index}] name: must differ from [users] group "
                            f"(got {name!r})")
    return problems
