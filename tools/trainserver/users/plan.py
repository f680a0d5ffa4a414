"""What ts-users apply and remove would do: pure logic from [users] and the facts to steps.

A plan is a list of steps, each with a title a person reads and what the executor runs, plus
refusals (apply and remove change nothing when there is one) and warnings. Every step is what
makes one difference between the facts and [users] go away, so a plan made after a successful
run is empty: that is the idempotence, and `ts-users list` shows the same differences.
"""

import os
from dataclasses import dataclass, field

from trainserver.core import people as people_module
from trainserver.users import keys as keys_module

# Modes given to a subvolume when ts-users makes it or takes it over (from root, who
# ts-storage apply leaves them to while the account does not exist). Later a person's own
# chmod is left alone, except that nobody else may write into a home: sshd's StrictModes
# would then refuse every key. TensorBoard logs: group-readable, so that a TensorBoard
# container started as the person (--user UID:GID) can read them.
MODES = {"homes": 0o700, "workspaces": 0o700, "tensorboard": 0o750, "docker-volumes": 0o700}
LAYOUT = ("homes", "workspaces", "tensorboard", "docker-volumes")
SSH_DIR_MODE = 0o700
KEYS_MODE = 0o600
FIRST_INSTALLER_UID = 1000
USERS = "users"  # the subject of what concerns no one person


@dataclass(frozen=True)
class Node:
    """A path as found: kind is missing, subvolume, directory, file, symlink or other."""

    kind: str
    uid: int = -1
    gid: int = -1
    mode: int = 0


MISSING = Node("missing")


@dataclass(frozen=True)
class Snapshot:
    """The newest snapshot of a subvolume in the snapshot directory's series."""

    name: str
    read_only: bool
    parent_uuid: bytes
    ctransid: int


@dataclass(frozen=True)
class Source:
    """A subvolume of a person as found (for remove): its identity and its newest snapshot."""

    rel: str
    uuid: bytes
    ctransid: int
    newest: Snapshot = None
    nested: bool = False  # a subvolume inside one of the person's own
    recorded: Snapshot = None  # the snapshot an earlier ts-users remove made, still there


@dataclass
class Facts:
    accounts: list = field(default_factory=list)  # core.accounts.Account
    groups: list = field(default_factory=list)  # core.accounts.Group
    shadow: dict = field(default_factory=dict)  # name -> core.accounts.Shadow
    today: int = 0  # days since 1970, for account expiry
    storage: str = "/mnt/storage"
    storage_problem: str = None  # None: a mounted BTRFS
    nodes: dict = field(default_factory=dict)  # path relative to storage -> Node
    authorized: dict = field(default_factory=dict)  # name -> authorized_keys text, or None
    key_files: dict = field(default_factory=dict)  # path -> (lines, problem)
    shells: dict = field(default_factory=dict)  # shell path -> present in the root
    sources: dict = field(default_factory=dict)  # rel -> Source (remove only)

    def node(self, rel):
        return self.nodes.get(rel, MISSING)


@dataclass
class Step:
    key: str  # stable from plan to plan: a step planned again right after it ran failed
    subject: str
    title: str
    command: tuple = ()
    action: str = ""  # subvolume, owner, mode, ssh-dir, keys-write, keys-owner, snapshot, delete
    path: str = ""  # relative to [paths] storage
    uid: int = None
    gid: int = None  # None: the person's own group, which useradd makes first
    mode: int = None
    content: str = None
    target: str = ""  # snapshot: its path relative to storage
    ready: bool = True  # delete: every snapshot it needs exists, read-only and current

    def to_dict(self):
        return {"subject": self.subject, "title": self.title, "command": list(self.command),
                "action": self.action or ("command" if self.command else ""),
                "path": self.path}


@dataclass
class Plan:
    steps: list = field(default_factory=list)
    refusals: list = field(default_factory=list)  # (subject, message)
    warnings: list = field(default_factory=list)  # (subject, message)
    notes: list = field(default_factory=list)  # (subject, message)
    keys: dict = field(default_factory=dict)  # name -> the keys written to authorized_keys

    def refuse(self, subject, message):
        self.refusals.append((subject, message))

    def of(self, subject):
        return [step for step in self.steps if step.subject == subject]

    def to_dict(self):
        return {"steps": [step.to_dict() for step in self.steps],
                "refusals": [{"subject": s, "message": m} for s, m in self.refusals],
                "warnings": [{"subject": s, "message": m} for s, m in self.warnings],
                "notes": [{"subject": s, "message": m} for s, m in self.notes]}


def _uid_hint(uid):
    return (" (Ubuntu's installer gives 1000 to the first account)"
            if uid == FIRST_INSTALLER_UID else "")


def _layout_refusals(facts, plan):
    if facts.storage_problem:
        plan.refuse(USERS, f"{facts.storage_problem}: run ts-storage apply first")
        return
    for name in LAYOUT:
        if facts.node(name).kind not in ("directory", "subvolume"):
            plan.refuse(USERS, f"{os.path.join(facts.storage, name)} is missing "
                               f"(ts-storage apply makes it): run ts-storage apply first")


def _person_keys(person, facts, plan):
    lines, problem = [], None
    if person.ssh_keys_file:
        lines, problem = facts.key_files.get(person.ssh_keys_file,
                                             ([], f"{person.ssh_keys_file} was not read"))
        if problem:
            plan.refuse(person.name, f"ssh_keys_file: {problem}")
    found, problems = keys_module.collect(person.ssh_keys, lines, person.ssh_keys_file)
    for message in problems:
        plan.refuse(person.name, message)
    return found


def _account_refusals(person, people, facts, plan, groups):
    by_name = {a.name: a for a in facts.accounts}
    holder = next((a for a in facts.accounts if a.uid == person.uid), None)
    account = by_name.get(person.name)
    if account is not None and account.uid != person.uid:
        plan.refuse(person.name, f"account {person.name!r} exists with uid {account.uid}, but "
                                 f"[users] gives {person.name} uid {person.uid}: set uid = "
                                 f"{account.uid} for {person.name} in [users], or pick "
                                 f"another name")
    if holder is not None and holder.name != person.name:
        plan.refuse(person.name, f"uid {person.uid} belongs to {holder.name!r}"
                                 f"{_uid_hint(person.uid)}; pick another uid for "
                                 f"{person.name} in [users]")
    wanted = person.all_groups(people.group)
    for name in wanted:
        if name == people.group or name in groups:
            continue
        if name == people_module.SUDO_GROUP:
            how = "install sudo first, or set sudo = false"
        elif name == "docker":
            how = "install docker.io first, or set groups"
        else:
            how = "create it first, or set groups"
        plan.refuse(person.name, f"group {name!r} does not exist on this system: {how} for "
                                 f"{person.name} in [users]")
    private = groups.get(person.name)
    if account is None and private is not None and set(private.members) - {person.name}:
        plan.refuse(person.name, f"group {person.name!r} exists with members "
                                 f"{', '.join(private.members)}: it cannot become "
                                 f"{person.name}'s own group; rename that group first")


def _path_refusals(person, facts, plan, by_uid):
    for rel in person.subvolumes():
        node = facts.node(rel)
        path = os.path.join(facts.storage, rel)
        if node.kind == "directory":
            plan.refuse(person.name, f"{path} is a plain directory, not a subvolume: move its "
                                     f"contents into a new subvolume (btrfs subvolume create "
                                     f"{path}.new; cp -a --reflink=always {path}/. {path}.new/; "
                                     f"then swap the names) and run again")
        elif node.kind not in ("missing", "subvolume"):
            plan.refuse(person.name, f"{path} is a {node.kind}, not a subvolume: move it away")
        elif node.kind == "subvolume" and node.uid not in (0, person.uid) and \
                node.uid in by_uid:
            plan.refuse(person.name, f"{path} belongs to {by_uid[node.uid].name!r} (uid "
                                     f"{node.uid}), not {person.name}: sort that out first")
    ssh_dir = facts.node(f"{person.home}/.ssh")
    if ssh_dir.kind not in ("missing", "directory"):
        plan.refuse(person.name, f"{os.path.join(facts.storage, person.home)}/.ssh is a "
                                 f"{ssh_dir.kind}: it must be a directory")
    authorized = facts.node(f"{person.home}/.ssh/authorized_keys")
    if authorized.kind not in ("missing", "file"):
        plan.refuse(person.name, f"{os.path.join(facts.storage, person.home)}/.ssh/"
                                 f"authorized_keys is a {authorized.kind}: it must be a file")


def _owner_text(person, gid):
    return f"{person.name}:{person.name if gid is None else gid}"


def _account_steps(person, people, facts, plan, groups, root_args, managed):
    account = next((a for a in facts.accounts if a.name == person.name), None)
    home = os.path.join(facts.storage, person.home)
    wanted = person.all_groups(people.group)
    if account is None:
        private = groups.get(person.name)
        primary = ["--gid", person.name] if private else ["--user-group"]
        plan.steps.append(Step(
            f"account:{person.name}", person.name,
            f"create account {person.name} (uid {person.uid}, groups {','.join(wanted)}, "
            f"shell {person.shell}, home {home}, password locked)",
            command=("useradd", *root_args, "--uid", str(person.uid), *primary, "--home-dir",
                     home, "--no-create-home", "--shell", person.shell, "--groups",
                     ",".join(wanted), person.name)))
        if private:
            plan.notes.append((person.name, f"the existing group {person.name!r} (gid "
                                            f"{private.gid}) becomes {person.name}'s own"))
        return private.gid if private else None
    usermod = ("usermod", *root_args)
    if account.home != home:
        plan.steps.append(Step(f"home:{person.name}", person.name,
                               f"set {person.name}'s home to {home} (was {account.home}; "
                               f"nothing is moved)",
                               command=(*usermod, "--home", home, person.name)))
    if account.shell != person.shell:
        plan.steps.append(Step(f"shell:{person.name}", person.name,
                               f"set {person.name}'s shell to {person.shell} (was "
                               f"{account.shell})",
                               command=(*usermod, "--shell", person.shell, person.name)))
    member_of = {g.name for g in facts.groups if person.name in g.members}
    missing = [name for name in wanted if name not in member_of]
    if missing:
        plan.steps.append(Step(f"groups:{person.name}", person.name,
                               f"add {person.name} to {', '.join(missing)}",
                               command=(*usermod, "--append", "--groups", ",".join(missing),
                                        person.name)))
    for name in sorted((managed & member_of) - set(wanted)):
        why = " (sudo = false in [users])" if name == people_module.SUDO_GROUP else \
            " (not in this person's groups in [users])"
        plan.steps.append(Step(f"leave:{person.name}:{name}", person.name,
                               f"remove {person.name} from {name}{why}",
                               command=("gpasswd", *root_args, "--delete", person.name, name)))
    shadow = facts.shadow.get(person.name)
    if shadow is None or not shadow.locked:
        plan.steps.append(Step(f"lock:{person.name}", person.name,
                               f"lock {person.name}'s password (SSH keys only)",
                               command=(*usermod, "--lock", person.name)))
    if shadow is not None and shadow.expired(facts.today):
        plan.steps.append(Step(f"expiry:{person.name}", person.name,
                               f"end the expiry of {person.name}'s account (ts-users remove "
                               f"expires an account; {person.name} is in [users] again)",
                               command=(*usermod, "--expiredate", "", person.name)))
    return account.gid


def _subvolume_steps(person, facts, plan, gid):
    for rel in person.subvolumes():
        node = facts.node(rel)
        mode = MODES[rel.split("/")[0]]
        owner = _owner_text(person, gid)
        if node.kind == "missing":
            plan.steps.append(Step(f"subvolume:{rel}", person.name,
                                   f"create subvolume {rel} ({owner}, {mode:04o})",
                                   action="subvolume", path=rel, uid=person.uid, gid=gid,
                                   mode=mode))
        elif node.kind != "subvolume":
            continue  # refused
        elif node.uid != person.uid or (gid is not None and node.gid != gid):
            plan.steps.append(Step(f"owner:{rel}", person.name,
                                   f"give {rel} to {owner}, mode {mode:04o} (was "
                                   f"{node.uid}:{node.gid}, {node.mode:04o})",
                                   action="owner", path=rel, uid=person.uid, gid=gid,
                                   mode=mode))
        elif rel == person.home and node.mode & 0o022:
            plan.steps.append(Step(f"mode:{rel}", person.name,
                                   f"make {rel} {node.mode & ~0o022:04o}: others could write "
                                   f"into it (was {node.mode:04o}), and sshd then refuses "
                                   f"every key", action="mode", path=rel,
                                   mode=node.mode & ~0o022))


def _ssh_steps(person, facts, plan, gid, wanted_keys):
    owner = _owner_text(person, gid)
    ssh_rel = f"{person.home}/.ssh"
    keys_rel = f"{ssh_rel}/authorized_keys"
    ssh_dir = facts.node(ssh_rel)
    if ssh_dir.kind == "missing":
        plan.steps.append(Step(f"ssh-dir:{person.name}", person.name,
                               f"create {ssh_rel} ({owner}, 0700)", action="ssh-dir",
                               path=ssh_rel, uid=person.uid, gid=gid, mode=SSH_DIR_MODE))
    elif ssh_dir.kind == "directory" and _wrong(ssh_dir, person.uid, gid, SSH_DIR_MODE):
        plan.steps.append(Step(f"ssh-dir:{person.name}", person.name,
                               f"set {ssh_rel} to {owner}, 0700 (was {ssh_dir.uid}:"
                               f"{ssh_dir.gid}, {ssh_dir.mode:04o})", action="ssh-dir",
                               path=ssh_rel, uid=person.uid, gid=gid, mode=SSH_DIR_MODE))
    current = facts.authorized.get(person.name)
    node = facts.node(keys_rel)
    if node.kind not in ("missing", "file"):
        return
    content = keys_module.merge(current if node.kind == "file" else None, wanted_keys)
    if node.kind == "missing" or current != content:
        was = "" if node.kind == "missing" else "; the person's own lines stay"
        plan.steps.append(Step(f"keys:{person.name}", person.name,
                               f"write {keys_rel}: {len(wanted_keys)} key(s) from [users] "
                               f"({owner}, 0600{was})", action="keys-write", path=keys_rel,
                               uid=person.uid, gid=gid, mode=KEYS_MODE, content=content))
    elif _wrong(node, person.uid, gid, KEYS_MODE):
        plan.steps.append(Step(f"keys-owner:{person.name}", person.name,
                               f"set {keys_rel} to {owner}, 0600 (was {node.uid}:{node.gid}, "
                               f"{node.mode:04o})", action="keys-owner", path=keys_rel,
                               uid=person.uid, gid=gid, mode=KEYS_MODE))


def _wrong(node, uid, gid, mode):
    return node.uid != uid or (gid is not None and node.gid != gid) or node.mode != mode


def make(people, facts, root_args=()):
    """The apply Plan for `people` (core.people.People) given `facts` (Facts)."""
    plan = Plan()
    _layout_refusals(facts, plan)
    groups = {g.name: g for g in facts.groups}
    by_uid = {}
    for account in facts.accounts:
        by_uid.setdefault(account.uid, account)
    managed = {people.group, people_module.SUDO_GROUP, *people.default_groups}
    for person in people:
        managed.update(person.groups)
    if people.group not in groups:
        plan.steps.append(Step(f"group:{people.group}", USERS,
                               f"create the shared group {people.group}",
                               command=("groupadd", *root_args, "--system", people.group)))
    for person in people:
        before = len(plan.refusals)
        _account_refusals(person, people, facts, plan, groups)
        _path_refusals(person, facts, plan, by_uid)
        wanted_keys = _person_keys(person, facts, plan)
        plan.keys[person.name] = wanted_keys
        if len(plan.refusals) > before:
            continue
        if not wanted_keys:
            plan.warnings.append((person.name, f"{person.name} has no SSH key in [users]: no "
                                               f"login is possible (keys only)"))
        if facts.shells and not facts.shells.get(person.shell, True):
            plan.warnings.append((person.name, f"shell {person.shell} of {person.name} is not "
                                               f"installed"))
        gid = _account_steps(person, people, facts, plan, groups, root_args, managed)
        if facts.storage_problem is None:
            _subvolume_steps(person, facts, plan, gid)
            _ssh_steps(person, facts, plan, gid, wanted_keys)
    return plan


def snapshot_current(source):
    """The newest snapshot is read-only, of this subvolume, and holds its current state."""
    snap = source.newest
    return (snap is not None and snap.read_only and snap.parent_uuid == source.uuid and
            snap.ctransid == source.ctransid)


def removal(name, people, facts, snapshot_dir, snapshot_name, delete_data=False,
            root_args=()):
    """The remove Plan of the account `name`: lock it, snapshot its subvolumes (nested ones
    too: snapshots are not recursive) into the ts-snapshot series, and with delete_data delete
    each only once all its snapshots exist, read-only and current (holding its state as it
    is now: a snapshot an earlier remove made is enough only to keep the data)."""
    plan = Plan()
    if facts.storage_problem:
        plan.refuse(name, f"{facts.storage_problem}: nothing can be snapshotted")
    if people.get(name) is not None:
        plan.refuse(name, f"{name} is still in [users]: take the person out of [users] first, "
                          f"or the next ts-users apply brings the account back")
    account = next((a for a in facts.accounts if a.name == name), None)
    own = people_module.subvolumes(name)
    present = [rel for rel in own if facts.node(rel).kind == "subvolume"]
    for rel in own:
        node = facts.node(rel)
        if node.kind not in ("missing", "subvolume"):
            plan.refuse(name, f"{os.path.join(facts.storage, rel)} is a {node.kind}, not a "
                              f"subvolume: it cannot be snapshotted; move it away first")
    members = {m for g in facts.groups if g.name == people.group for m in g.members}
    if account is None and not present:
        plan.refuse(name, f"there is no account {name!r} and no subvolume of {name} under "
                          f"{facts.storage}: nothing to remove")
    elif account is not None and (account.uid < FIRST_INSTALLER_UID or
                                  (name not in members and not present)):
        plan.refuse(name, f"{name} is not one of ts-users's people (not in group "
                          f"{people.group}, no subvolume under {facts.storage}): not locked")
    if plan.refusals:
        return plan
    if account is None:
        plan.notes.append((name, f"there is no account {name!r}: only its subvolumes are "
                                 f"snapshotted"))
    else:
        shadow = facts.shadow.get(name)
        if shadow is None or not shadow.locked or not shadow.expired(facts.today):
            plan.steps.append(Step(f"lock:{name}", name,
                                   f"lock {name}'s account: password locked, expired (so SSH "
                                   f"keys stop working too)",
                                   command=("usermod", *root_args, "--lock", "--expiredate",
                                            "1", name)))
    sources = {rel: src for rel, src in facts.sources.items()
               if any(rel == top or rel.startswith(top + "/") for top in present)}
    for rel in sorted(sources):
        source = sources[rel]
        if snapshot_current(source):
            plan.notes.append((name, f"{rel}: the snapshot {source.newest.name} holds its "
                                     f"current state"))
        elif source.recorded is not None and not delete_data:
            # Reading a file changes a subvolume too (BTRFS records access times), so a
            # re-run would otherwise snapshot again whenever anyone looked at the data.
            plan.notes.append((name, f"{rel}: snapshotted by an earlier ts-users remove "
                                     f"({source.recorded.name})"))
        else:
            target = os.path.join(snapshot_dir, rel, snapshot_name)
            plan.steps.append(Step(f"snapshot:{rel}", name,
                                   f"snapshot {rel} read-only to {target}", action="snapshot",
                                   path=rel, target=target))
    if delete_data:
        for top in present:
            needed = [src for rel, src in sources.items()
                      if rel == top or rel.startswith(top + "/")]
            ready = bool(needed) and all(snapshot_current(src) for src in needed)
            nested = len(needed) - 1
            extra = f" and the {nested} subvolume(s) inside it" if nested > 0 else ""
            plan.steps.append(Step(f"delete:{top}", name,
                                   f"delete subvolume {top}{extra} (after its snapshot is "
                                   f"verified read-only and current)", action="delete",
                                   path=top, ready=ready))
    return plan
