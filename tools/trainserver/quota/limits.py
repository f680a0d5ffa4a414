"""Hard limits with BTRFS simple quotas: who gets one, and what to change in the kernel. Pure.

A person's limit covers home plus workspace together, so it cannot sit on a subvolume's own
qgroup (0/ID): each person gets a level-1 qgroup 1/UID holding the level-0 qgroups of their
home, their workspace and every subvolume nested in them, with a limit on referenced bytes.
Measured on 6.18 with simple quotas (tests/integration/test_quota_btrfs.py):
- level-1 qgroups, assigning level-0 ones to them and limits on them all work; a write that
  would take the group past its limit fails with EDQUOT ("Disk quota exceeded"), for root too;
- assigning a subvolume that already holds data adds its usage to the group at once (in
  simple quotas referenced and exclusive are the same figure, so no rescan is needed), and
  taking it out subtracts it;
- a subvolume created later inside a home joins the home's level-1 qgroups by itself (the
  kernel's automatic inheritance for simple quotas); one moved in from elsewhere does not:
  `ts-quota limits` assigns it, and `ts-quota report` warns until it is run;
- a qgroup with members cannot be destroyed (EBUSY): members are taken out first.

Simple quotas never count data written before they were switched on, so a person with such a
subvolume would be limited on less than they hold: they get no hard limit (refused, with the
reason), and the others do.
"""

from dataclasses import dataclass, field

LEVEL = 1
# limit_flags bits of /sys/fs/btrfs/<fsid>/qgroups/<qgroup>/limit_flags
MAX_RFER, MAX_EXCL = 1, 2


def group_of(uid):
    return f"{LEVEL}/{uid}"


@dataclass(frozen=True)
class Subvolume:
    path: str  # relative to [paths] storage
    id: int
    created: int  # the generation it was created in (otransid)

    @property
    def qgroup(self):
        return f"0/{self.id}"


@dataclass(frozen=True)
class PersonFacts:
    """What is on disk for one person of [users]."""
    name: str
    uid: int
    limit: int  # bytes
    subvolumes: tuple = ()  # Subvolume: home, workspace and those nested in them
    plain: tuple = ()  # home or workspace paths that are directories, not subvolumes
    missing: tuple = ()  # home or workspace paths that do not exist


@dataclass(frozen=True)
class Want:
    """One person's hard limit as the config says it."""
    name: str
    qgroup: str
    limit: int
    members: tuple  # (qgroup, path) of each subvolume


def wants(facts, generation, trusted=()):
    """(wants, refusals [(name, why)], notes [(name, text)]) for people with hard limits.

    generation: from when simple quotas count; trusted: subvolume ids that were empty when
    they were switched on (ts-quota enable records them).
    """
    result, refusals, notes = [], [], []
    for person in facts:
        if person.plain:
            refusals.append((person.name, f"{', '.join(person.plain)} is a plain directory, "
                                          f"not a BTRFS subvolume: it has no quota"))
            continue
        old = [s.path for s in person.subvolumes
               if s.created < generation and s.id not in trusted]
        if old:
            refusals.append((person.name,
                             f"{', '.join(old)} held data before simple quotas were switched "
                             f"on, which they never count: a hard limit would let "
                             f"{person.name} hold more than it says"))
            continue
        if not person.subvolumes:
            notes.append((person.name, "no home or workspace yet: nothing to limit"))
            continue
        if person.missing:
            notes.append((person.name, f"{', '.join(person.missing)} does not exist yet: "
                                       f"run ts-quota limits again once it does"))
        result.append(Want(person.name, group_of(person.uid), person.limit,
                           tuple((s.qgroup, s.path) for s in person.subvolumes)))
    return result, refusals, notes


@dataclass(frozen=True)
class Kernel:
    """The qgroups as the kernel has them."""
    qgroups: dict  # "1/1000" -> {"referenced", "limit_flags", "max_referenced", ...}
    relations: tuple = ()  # (child, parent)

    def members(self, parent):
        return {child for child, group in self.relations if group == parent}

    def limit(self, qgroup):
        """The referenced limit in bytes, or None (no limit, or an exclusive one as well:
        ts-quota sets only the first)."""
        values = self.qgroups.get(qgroup)
        if not values or values.get("limit_flags", 0) & (MAX_RFER | MAX_EXCL) != MAX_RFER:
            return None
        return values.get("max_referenced")


@dataclass(frozen=True)
class Step:
    action: str  # create, assign, unassign, limit, destroy
    subject: str  # the person (or the recorded name of a group being removed)
    qgroup: str
    member: str = ""  # assign, unassign: the level-0 qgroup
    value: int = None  # limit: bytes
    title: str = ""


@dataclass
class Plan:
    steps: list = field(default_factory=list)
    refusals: list = field(default_factory=list)  # (name, why)
    notes: list = field(default_factory=list)  # (name, text)
    warnings: list = field(default_factory=list)  # (name, text)
    wanted: dict = field(default_factory=dict)  # qgroup -> name, what ts-quota manages after

    def to_dict(self):
        return {"steps": [{"action": s.action, "subject": s.subject, "qgroup": s.qgroup,
                           "member": s.member or None, "value": s.value, "title": s.title}
                          for s in self.steps],
                "refusals": [list(r) for r in self.refusals],
                "notes": [list(n) for n in self.notes],
                "warnings": [list(w) for w in self.warnings]}


def plan(wanted, kernel, recorded, refusals=(), notes=(), size_text=str):
    """What makes the kernel's limits those of `wanted` (Want), removing those ts-quota set
    earlier (`recorded`: qgroup -> name) that are no longer wanted.

    Removals come first (members out, then the group), so a uid that moved from one person to
    another ends with the new person's members only. A level-1 group that exists but was not
    recorded is taken over when a person of that uid wants a limit (1/UID is ts-quota's).
    """
    result = Plan(refusals=list(refusals), notes=list(notes))
    by_group = {want.qgroup: want for want in wanted}
    for qgroup, name in sorted(recorded.items()):
        if qgroup in by_group or qgroup not in kernel.qgroups:
            continue
        for member in sorted(kernel.members(qgroup)):
            result.steps.append(Step("unassign", name, qgroup, member=member,
                                     title=f"take {member} out of {qgroup} ({name})"))
        result.steps.append(Step("destroy", name, qgroup,
                                 title=f"remove {qgroup} and its hard limit ({name})"))
    for want in wanted:
        result.wanted[want.qgroup] = want.name
        exists = want.qgroup in kernel.qgroups
        if not exists:
            result.steps.append(Step("create", want.name, want.qgroup,
                                     title=f"create qgroup {want.qgroup} for {want.name}"))
        members = kernel.members(want.qgroup) if exists else set()
        mine = dict(want.members)
        for member, path in want.members:
            if member not in members:
                result.steps.append(Step("assign", want.name, want.qgroup, member=member,
                                         title=f"put {member} ({path}) in {want.qgroup}"))
        for member in sorted(members - set(mine)):
            result.steps.append(Step("unassign", want.name, want.qgroup, member=member,
                                     title=f"take {member} (not {want.name}'s home or "
                                           f"workspace) out of {want.qgroup}"))
        if not exists or kernel.limit(want.qgroup) != want.limit:
            result.steps.append(Step("limit", want.name, want.qgroup, value=want.limit,
                                     title=f"limit {want.qgroup} ({want.name}: home + "
                                           f"workspace) to {size_text(want.limit)}"))
        used = sum(kernel.qgroups.get(member, {}).get("referenced", 0) for member in mine)
        if used > want.limit:
            result.warnings.append((want.name, f"{want.name} already uses {size_text(used)}, "
                                               f"more than the hard limit of "
                                               f"{size_text(want.limit)}: writes to home and "
                                               f"workspace fail (Disk quota exceeded) until "
                                               f"space is freed"))
    return result
