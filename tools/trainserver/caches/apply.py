"""Carry out the caches' plan: the group, the directories, the one-time walk, the files.

Each cache and each file is a subject of its own: a failure is reported for it and the others
still go ahead, so that one odd cache never leaves the environment files unwritten. Every
change is made only where the plan found a difference, so a second run changes nothing.
"""

import os
from dataclasses import dataclass, field

from trainserver.caches import acl, facts, plan as plans, spec, walk
from trainserver.core import accounts, commands, priority
from trainserver.core.errors import ActionError, CommandError
from trainserver.core.state import atomic_write

SETFACL_BATCH = 200  # paths per setfacl run in the one-time walk


@dataclass
class Outcome:
    """What happened to one subject (a cache, a file, the group)."""

    subject: str
    kind: str  # cache, file, group
    done: list = field(default_factory=list)  # step texts
    error: str = None
    notes: list = field(default_factory=list)


def _dry():
    return commands.dry_run()


def ensure_group(settings, announce):
    """(gid or None in a dry run, Outcome)."""
    outcome = Outcome(settings.group, "group")
    gid = facts.group_id(settings)
    if gid is not None:
        return gid, outcome
    argv = ["groupadd", "--system", *accounts.root_args(settings.root), settings.group]
    step = plans.Step("groupadd", settings.group, settings.group,
                      "missing: groupadd --system", argv)
    announce(step)
    try:
        commands.run(argv, changes=True, timeout=60)
    except CommandError as exc:
        outcome.error = str(exc)
        return None, outcome
    outcome.done.append(step.text())
    gid = facts.group_id(settings)
    if gid is None and not _dry():
        outcome.error = (f"groupadd ran, but {settings.group} is not in "
                         f"{os.path.join(settings.root, 'etc/group')}")
    return gid, outcome


def _create(settings, relative, kind):
    path = settings.path(relative)
    if kind == "subvolume" and facts.on_btrfs(os.path.dirname(path)):
        import btrfsutil

        btrfsutil.create_subvolume(path)
    else:
        os.mkdir(path, 0o700)  # closed until chown/chmod/setfacl below open it as wanted


def _run_step(settings, step):
    path = settings.path(step.target)
    if step.kind == "create":
        _create(settings, step.target, step.value)
    elif step.kind == "chown":
        os.chown(path, *step.value, follow_symlinks=False)
    elif step.kind == "chmod":
        os.chmod(path, step.value, follow_symlinks=False)
    elif step.kind == "setfacl":
        commands.run(["setfacl", "-m", acl.setfacl_spec(step.value), "--", path], changes=True,
                     timeout=60)
    else:
        raise ActionError(f"step {step.kind!r} has nothing to run")


def apply_dirs(settings, gid, announce, fix_existing=False):
    """[Outcome] of each enabled cache."""
    gid_known = gid is not None
    want_list = plans.wants(settings.enabled, gid, facts.apt_uid(settings))
    found = facts.all_dir_facts(settings, want_list)
    plan = plans.plan_dirs(want_list, found, settings.group)
    outcomes = {}
    for name in settings.enabled:
        outcomes[name] = Outcome(name, "cache")
    for subject, problem in plan.problems:
        outcomes[subject].error = problem
    for step in plan.steps:
        outcome = outcomes[step.subject]
        if outcome.error:
            continue
        announce(step)
        if _dry():
            outcome.done.append(step.text())
            continue
        if step.kind == "chown" and step.value[1] is None:
            outcome.error = f"{step.target}: the group {settings.group} does not exist"
            continue
        try:
            _run_step(settings, step)
        except (OSError, CommandError, ActionError) as exc:
            outcome.error = f"{step.target}: {step.why}: {exc}"
            continue
        outcome.done.append(step.text())
    # The one-time walk: when asked for, or when this run gave the cache to the group (what is
    # already inside was made before it was shared).
    for name in settings.enabled:
        cache = spec.CACHES[name]
        outcome = outcomes[name]
        if not cache.shared or outcome.error or not gid_known:
            continue
        top = found.get(f"cache/{name}")
        converted = top is not None and top.exists and top.gid != gid
        if fix_existing or converted:
            _fix(settings, name, gid, outcome, announce)
    return [outcomes[name] for name in settings.enabled]


def _fix(settings, name, gid, outcome, announce):
    top = settings.path(f"cache/{name}")
    priority.idle_io()
    result = walk.fix(top, gid, dry_run=_dry())
    for path, message in result.errors[:3]:
        outcome.notes.append(f"{path}: {message}")
    if result.errors:
        outcome.notes.append(f"{len(result.errors)} entries could not be fixed")
    spec_text = acl.default_only_spec(gid)
    for start in range(0, len(result.acl_dirs), SETFACL_BATCH):
        batch = result.acl_dirs[start:start + SETFACL_BATCH]
        try:
            commands.run(["setfacl", "-m", spec_text, "--", *batch], changes=True, timeout=600)
        except CommandError as exc:
            outcome.error = f"setting the default ACL below {top}: {exc}"
            return
    if result.entries or result.acl_dirs:
        step = plans.Step("fix", name, f"cache/{name}/...",
                          f"gave the group {result.entries:,} entries already inside "
                          f"({len(result.acl_dirs):,} directories got the default ACL)")
        announce(step)
        outcome.done.append(step.text())


def _write_file(settings, step, mode):
    path = settings.etc(step.target)
    if step.kind == "remove":
        os.unlink(path)
    else:
        atomic_write(path, step.value, mode=mode)


def apply_files(settings, announce):
    """[Outcome] of each file ts-caches writes (pip.conf's block included)."""
    outcomes = []
    wanted = spec.managed_files(settings.storage, settings.enabled)
    items = []
    for relative, text in wanted.items():
        found = facts.file_facts(settings, relative)
        step, problem = plans.plan_file(found, text)
        items.append((relative, found, step, problem, None))
    found = facts.file_facts(settings, spec.PIP_CONF)
    step, problem, note = plans.plan_pip_conf(
        found, spec.pip_cache_dir(settings.storage, settings.enabled, settings.pip_conf))
    items.append((spec.PIP_CONF, found, step, problem, note))
    for relative, found, step, problem, note in items:
        outcome = Outcome("/" + relative, "file")
        if note:
            outcome.notes.append(note)
        outcomes.append(outcome)
        if problem:
            outcome.error = problem
            continue
        if step is None:
            continue
        announce(step)
        if not _dry():
            try:
                _write_file(settings, step, found.mode if found.mode is not None else 0o644)
            except OSError as exc:
                outcome.error = f"{step.target}: {exc.strerror or exc}"
                continue
        outcome.done.append(step.text())
    return outcomes
