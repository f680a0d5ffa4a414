"""Carry a plan out: one step at a time, each planned again from fresh facts.

Before every step the facts are gathered and the plan made again; its first step runs. A step
planned again right after it ran did not take effect: apply (or remove) stops there with an
error, and nothing after it runs. So a failure leaves a state the next run resumes from, and a
run after success finds nothing to do. Refusals stop everything before the first change.
"""

import logging
import os
import time

from trainserver.core import commands
from trainserver.core.errors import ActionError
from trainserver.users import fsops

log = logging.getLogger(__name__)
MAX_ROUNDS = 500  # 5 people need about 60 steps; this only stops a loop that never ends


class Refused(Exception):
    def __init__(self, plan, ran):
        self.plan = plan
        self.ran = ran
        super().__init__("; ".join(message for _, message in plan.refusals))


def _btrfsutil():
    import btrfsutil  # imported here: --help must not pay for it

    return btrfsutil


def execute(step, storage):
    path = os.path.join(storage, step.path) if step.path else ""
    if step.command:
        commands.run(step.command, changes=True, timeout=120)
        return
    if step.action in ("subvolume", "owner", "ssh-dir", "keys-write", "keys-owner") and \
            step.gid is None:
        raise ActionError(f"step \"{step.title}\": the account's group is not known yet")
    if step.action == "subvolume":
        _btrfsutil().create_subvolume(path)
        fsops.set_owner(storage, step.path, step.uid, step.gid, step.mode)
    elif step.action in ("owner", "keys-owner"):
        fsops.set_owner(storage, step.path, step.uid, step.gid, step.mode)
    elif step.action == "mode":
        fsops.set_owner(storage, step.path, None, None, step.mode)
    elif step.action == "ssh-dir":
        if os.path.lexists(path):
            fsops.set_owner(storage, step.path, step.uid, step.gid, step.mode)
        else:
            fsops.make_dir(storage, step.path, step.uid, step.gid, step.mode)
    elif step.action == "keys-write":
        fsops.write_file(storage, step.path, step.content, step.uid, step.gid, step.mode)
    elif step.action == "snapshot":
        target = os.path.join(storage, step.target)
        # Made the way ts-snapshot makes its series directories, so its inventory reads them.
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        _btrfsutil().create_snapshot(path, target, read_only=True)
    elif step.action == "delete":
        if not step.ready:
            raise ActionError(f"not deleting {path}: its snapshots are not all verified "
                              f"read-only and current")
        _btrfsutil().delete_subvolume(path, recursive=True)
        # Deletion is asynchronous: commit so the space comes back now (docs/measured.md).
        _btrfsutil().sync(storage)
    else:
        raise ActionError(f"step {step.key!r} has nothing to run")


def carry_out(replan, storage, announce=None, after=None):
    """Run the steps of replan() until none is left; returns (steps run, final plan).
    after(step) is called once a step ran."""
    ran, previous = [], None
    for _ in range(MAX_ROUNDS):
        plan = replan()
        if plan.refusals:
            raise Refused(plan, ran)
        if not plan.steps:
            return ran, plan
        step = plan.steps[0]
        if previous is not None and step.key == previous.key:
            raise ActionError(f"step \"{step.title}\" ran but its result is not there; nothing "
                              f"after it was done (a re-run resumes here)")
        if step.action == "snapshot" and os.path.lexists(os.path.join(storage, step.target)):
            # Names are to the second, as ts-snapshot's are: one made earlier in this second
            # (by ts-snapshot, or a remove just before) stays; plan again in the next second.
            time.sleep(1.05 - time.time() % 1)
            continue
        if announce:
            announce(step)
        try:
            execute(step, storage)
        except OSError as exc:
            raise ActionError(f"step \"{step.title}\" failed: {exc}") from None
        except Exception as exc:
            if type(exc).__name__ == "BtrfsUtilError":
                raise ActionError(f"step \"{step.title}\" failed: {exc}") from None
            raise
        log.debug("done: %s", step.title)
        if after:
            after(step)
        ran.append(step)
        previous = step
    raise ActionError(f"not finished within {MAX_ROUNDS} steps")
