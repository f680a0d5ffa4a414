"""Hard limits on the real filesystem: read the facts and the kernel's qgroups, carry a plan
out (limits.py decides). Runs as root: reading qgroup relations and changing qgroups need
CAP_SYS_ADMIN."""

import os
from dataclasses import dataclass

from trainserver.quota import limits, squota

STATE_KEY = "limits"
# Hard limits need what `enable` needs; the message says which of the two asked.
Unavailable = squota.Unavailable


def require_squota(storage, features_dir=squota.FEATURES_DIR):
    """The sysfs directory of `storage`, or Unavailable: hard limits need simple quotas on."""
    try:
        fs_dir, mode = squota.usable(storage, features_dir)
    except squota.Unavailable as exc:
        raise Unavailable(f"{exc}; hard limits are offered only with simple quotas") from None
    if mode != squota.SIMPLE:
        raise Unavailable(f"simple quotas are off on {storage}: hard limits need them "
                          f"(switch them on with ts-quota enable --yes)")
    return fs_dir


def recorded(state, fsid):
    """The level-1 qgroups ts-quota made on this very filesystem: {qgroup: name}."""
    record = state.get(STATE_KEY) if isinstance(state, dict) else None
    if not isinstance(record, dict) or record.get("fsid") != fsid:
        return {}
    groups = record.get("qgroups")
    return {k: v for k, v in groups.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(groups, dict) else {}


def record(state, fsid, groups):
    if groups:
        state[STATE_KEY] = {"fsid": fsid, "qgroups": dict(sorted(groups.items()))}
    else:
        state.pop(STATE_KEY, None)


def person_facts(storage, person, limit):
    from trainserver.quota import measure

    found, plain, missing = [], [], []
    for relative in (person.home, person.workspace):
        path = os.path.join(storage, relative)
        if not os.path.isdir(path):
            missing.append(relative)
            continue
        subvolumes = measure._subvolumes(path)
        if not subvolumes:
            plain.append(relative)
        found.extend(limits.Subvolume(os.path.relpath(sub_path, storage), sub_id, created)
                     for sub_path, sub_id, created in subvolumes)
    return limits.PersonFacts(person.name, person.uid, limit, tuple(found), tuple(plain),
                              tuple(missing))


@dataclass
class Survey:
    fs_dir: str
    fsid: str
    kernel: limits.Kernel
    recorded: dict
    plan: limits.Plan


def survey(config, people, state, trusted=(), features_dir=squota.FEATURES_DIR):
    """The plan that makes the kernel's hard limits what [quota] hard_limit says.

    Unavailable where hard_limit is on and simple quotas are not; with hard_limit off and no
    simple quotas there is nothing in the kernel to remove (quotas off drops every qgroup)."""
    from trainserver.quota.grace import limit_text

    storage = config["paths"]["storage"]
    settings = config["quota"]
    try:
        fs_dir = require_squota(storage, features_dir)
    except Unavailable:
        if settings.get("hard_limit"):
            raise
        return None
    fsid = os.path.basename(fs_dir)
    kernel = limits.Kernel(squota.qgroups(fs_dir), tuple(squota.relations(storage)))
    earlier = recorded(state, fsid)
    wanted, refusals, notes = [], [], []
    if settings.get("hard_limit"):
        facts = [person_facts(storage, person, person.quota_limit
                              if person.quota_limit is not None else settings["user_limit"])
                 for person in people]
        generation = squota.enable_generation(storage)
        # Unknown: every subvolume counts as older, so nobody gets a limit too lenient.
        generation = 2**64 if generation is None else generation
        wanted, refusals, notes = limits.wants(facts, generation, trusted)
    found = limits.plan(wanted, kernel, earlier, refusals, notes, size_text=limit_text)
    return Survey(fs_dir, fsid, kernel, earlier, found)


def carry_out(storage, step):
    """One step of a plan (OSError when the kernel refuses)."""
    if step.action == "create":
        squota.create_qgroup(storage, step.qgroup)
    elif step.action == "assign":
        squota.assign(storage, step.member, step.qgroup)
    elif step.action == "unassign":
        squota.unassign(storage, step.member, step.qgroup)
    elif step.action == "limit":
        squota.set_limit(storage, step.qgroup, step.value)
    elif step.action == "destroy":
        squota.destroy_qgroup(storage, step.qgroup)
    else:
        raise ValueError(f"unknown step {step.action}")
