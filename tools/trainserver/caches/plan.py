"""What apply changes, from what is there: pure logic.

apply and status share it: a cache is as apply sets it exactly when its plan is empty, and the
steps of a non-empty plan say what differs. A second apply finds nothing to change.
"""

from dataclasses import dataclass, field

from trainserver.caches import acl, pipconf, spec


@dataclass(frozen=True)
class DirFacts:
    """One directory apply manages, as found (relative to [paths] storage)."""

    relative: str
    exists: bool
    is_dir: bool = False
    uid: int = None
    gid: int = None
    mode: int = None  # permission bits with setuid/setgid/sticky (stat.S_IMODE)
    acl: frozenset = None  # acl.Entry set, None when not read


@dataclass(frozen=True)
class Want:
    relative: str
    cache: str
    uid: int
    gid: int  # None: the shared group does not exist yet (a dry run before groupadd)
    mode: int
    with_acl: bool
    create: str  # "subvolume" or "directory"
    check_owner: bool = True  # archives/partial: apt sets its owner and mode itself


@dataclass(frozen=True)
class Step:
    kind: str  # create, chown, chmod, setfacl, write, remove, groupadd, fix
    subject: str  # the cache name, the file's path or the group
    target: str  # what the step changes: a path relative to [paths] storage or to the root
    why: str  # what differs, in a person's words
    value: object = None  # the new mode, (uid, gid), the setfacl spec, the file's text ...

    def text(self):
        return f"{self.target}: {self.why}"


@dataclass
class Plan:
    steps: list = field(default_factory=list)
    problems: list = field(default_factory=list)  # (subject, message): what apply refuses
    notes: list = field(default_factory=list)  # (subject, message)

    def for_subject(self, subject):
        return [step for step in self.steps if step.subject == subject]


def wants(enabled, gid, apt_uid=None):
    """Every directory apply manages for the enabled caches, parents first."""
    found = []
    for name in spec.CACHES:
        if name not in enabled:
            continue
        cache = spec.CACHES[name]
        for index, relative in enumerate(spec.relative_dirs(name)):
            create = "subvolume" if index == 0 else "directory"
            if cache.shared:
                found.append(Want(relative, name, 0, gid, spec.SHARED_MODE, True, create))
            elif relative.endswith("/partial"):
                found.append(Want(relative, name, apt_uid if apt_uid is not None else 0, 0,
                                  spec.PARTIAL_MODE, False, create, check_owner=False))
            else:
                found.append(Want(relative, name, 0, 0, spec.ROOT_MODE, False, create))
    return found


def _owner_words(uid, gid, group_name):
    group = group_name if gid is None or gid != 0 else "root"
    return f"{'root' if uid == 0 else uid}:{group}"


def plan_dirs(want_list, facts, group_name):
    """Steps for the directories; `facts` maps a relative path to its DirFacts."""
    plan = Plan()
    broken = set()
    for want in want_list:
        if any(want.relative.startswith(parent + "/") for parent in broken):
            continue
        found = facts.get(want.relative) or DirFacts(want.relative, False)
        if found.exists and not found.is_dir:
            plan.problems.append((want.cache, f"{want.relative} is not a directory: move it "
                                              f"away, and run ts-caches apply again"))
            broken.add(want.relative)
            continue
        owner = (want.uid, want.gid)
        if not found.exists:
            plan.steps.append(Step("create", want.cache, want.relative, f"missing: create it "
                                   f"as a {want.create}", want.create))
            plan.steps.append(Step("chown", want.cache, want.relative, "set owner "
                                   + _owner_words(*owner, group_name), owner))
            plan.steps.append(Step("chmod", want.cache, want.relative,
                                   f"set mode {want.mode:04o}", want.mode))
            if want.with_acl:
                plan.steps.append(Step("setfacl", want.cache, want.relative,
                                       "set the group's access and default ACL",
                                       want.gid))
            continue
        if want.check_owner and (found.uid, found.gid) != owner:
            plan.steps.append(Step(
                "chown", want.cache, want.relative,
                f"owner {found.uid}:{found.gid}, want {_owner_words(*owner, group_name)}",
                owner))
        if want.check_owner and found.mode != want.mode:
            plan.steps.append(Step("chmod", want.cache, want.relative,
                                   f"mode {found.mode:04o}, want {want.mode:04o}", want.mode))
        elif not want.check_owner and found.mode is not None and found.mode & 0o022:
            plan.steps.append(Step("chmod", want.cache, want.relative,
                                   f"mode {found.mode:04o} lets others write, want "
                                   f"{want.mode:04o}", want.mode))
        if want.with_acl:
            lacking = (sorted(acl.wanted(want.gid)) if want.gid is None or found.acl is None
                       else acl.missing(found.acl, want.gid))
            if lacking:
                # The access ACL's owner, group, other and mask entries are the mode: name
                # them only when nothing else is lacking.
                named = [e for e in lacking if e.default or e.qualifier] or lacking
                words = ("the group's ACL" if want.gid is None else
                         ", ".join(e.text().replace(f"group:{want.gid}:", f"group:{group_name}:")
                                   for e in named))
                plan.steps.append(Step("setfacl", want.cache, want.relative,
                                       f"ACL lacks {words}", want.gid))
    return plan


@dataclass(frozen=True)
class FileFacts:
    relative: str  # relative to the root directory (etc/...)
    exists: bool
    is_link: bool = False
    text: str = None  # None when unreadable or not a regular file
    mode: int = None


def plan_file(found, wanted):
    """A write or remove Step for one file ts-caches owns whole, or a problem, or nothing.

    Returns (step or None, problem or None). A file ts-caches did not write is never touched."""
    subject = "/" + found.relative
    if not found.exists:
        if wanted is None:
            return None, None
        return Step("write", subject, found.relative, "missing: write it", wanted), None
    if found.is_link or found.text is None or not spec.is_ours(found.text):
        if wanted is None:
            return None, None
        return None, (f"/{found.relative} exists and was not written by ts-caches (no "
                      f"'{spec.HEADER}' first line): it is left alone; remove it to let "
                      f"ts-caches write it")
    if wanted is None:
        return Step("remove", subject, found.relative, "no cache needs it: remove it"), None
    if found.text != wanted:
        return Step("write", subject, found.relative, "out of date: rewrite it", wanted), None
    return None, None


def plan_pip_conf(found, cache_dir):
    """(step or None, problem or None, note or None) for /etc/pip.conf's ts-caches block."""
    subject = "/" + found.relative
    if found.is_link or (found.exists and found.text is None):
        if cache_dir is None:
            return None, None, None
        return None, f"{subject} is not a plain readable file: its cache-dir is not set", None
    current = found.text if found.exists else ""
    try:
        text, note = pipconf.merge(current, cache_dir)
    except pipconf.PipConfError as exc:
        return None, f"{subject}: {exc}", None
    if text == current:
        return None, None, note
    if not text.strip():
        if not found.exists:
            return None, None, note
        return Step("remove", subject, found.relative, "only the ts-caches block was in it: "
                    "remove it"), None, note
    why = "add the ts-caches block" if cache_dir and spec.BLOCK_BEGIN not in current else (
        "update the ts-caches block" if cache_dir else "remove the ts-caches block")
    return Step("write", subject, found.relative, why, text), None, note

