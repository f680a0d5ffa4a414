"""Carry out the plan: one step at a time, each re-planned from fresh facts.

Before every step the facts are gathered and the plan made again: the first step not done is
run, and the next round checks that its result is there. A step whose result does not appear
stops apply with an error, and nothing after it runs. So a crash or a failure leaves a state
from which the next run goes on, and a run after success finds every step done.
"""

import logging
import os
import pwd

from trainserver.core import commands
from trainserver.core.errors import ActionError
from trainserver.storage import fstab, layout, plan as plans, survey

log = logging.getLogger(__name__)
# Generous: mkfs.btrfs over big disks and make-bcache take a while; nothing here hangs forever.
TIMEOUTS = {"mkfs": 1800, "wipe": 300, "scrub-timer": 120}
MAX_ROUNDS = 200


class Refused(Exception):
    def __init__(self, plan, ran):
        self.plan = plan
        self.ran = ran
        super().__init__("; ".join(plan.refusals))


def _write(path, value):
    with open(path, "w") as handle:
        handle.write(value)


def _make_tree(settings):
    import btrfsutil  # imported here: --help must not pay for it

    made = []
    for relative, kind in layout.tree(settings.users, settings.snapshot_dir):
        path = os.path.join(settings.mount_point, relative)
        if os.path.lexists(path):
            continue
        if kind == "subvolume":
            btrfsutil.create_subvolume(path)
        else:
            os.mkdir(path, 0o755)
        made.append(relative)
        owner = layout.owner_of(relative, settings.users)
        if owner is None:
            continue
        if relative.startswith("homes/"):
            # Private from the first moment, even while the account does not exist yet.
            os.chmod(path, 0o700)
        try:
            entry = pwd.getpwnam(owner)
        except KeyError:
            log.warning("user %s does not exist yet: %s stays root's until ts-users apply",
                        owner, path)
            continue
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return made


def _execute(step, settings, facts):
    if step.command:
        unknown = [arg for arg in (step.prepare or []) + step.command if "<" in arg and ">" in arg]
        if unknown:
            raise ActionError(f"step {step.title!r} still names {unknown[0]}, which an earlier "
                              f"step should have made")
        if step.key == "mount":
            os.makedirs(settings.mount_point, exist_ok=True)
        if step.prepare:
            commands.run(step.prepare, changes=True, timeout=600)
        commands.run(step.command, changes=True,
                     timeout=TIMEOUTS.get(step.key.split(":")[0], 600))
        if step.key == "partition":
            # sgdisk re-reads the table itself; the settle lets udev make the new node.
            survey.settle()
    elif step.write:
        _write(*step.write)
    elif step.key == "tree":
        made = _make_tree(settings)
        log.info("created %s", ", ".join(made) or "nothing")
    elif step.key == "fstab":
        # The plan puts this step after the mount, so the mounted filesystem is the one.
        backup = fstab.add_line(settings.fstab, plans.fstab_line(facts.mount["uuid"], settings))
        if backup:
            log.info("the old %s is kept as %s", settings.fstab, backup)
        if settings.fstab == "/etc/fstab" and os.path.isdir("/run/systemd/system"):
            # systemd makes its mount units from /etc/fstab: reload so boot and `mount` agree.
            commands.run(["systemctl", "daemon-reload"], changes=True, timeout=120)
    else:
        raise ActionError(f"step {step.key!r} has nothing to run")


def run(settings, wipe=False, confirmed=(), announce=None):
    """Apply the layout; returns (steps run, the final plan, the steps the first plan had to
    do: what `ts-storage plan` counted). Steps done by the ones before them (udev registers a
    new bcache device, make-bcache --writeback sets the mode) are in the last, never run.
    Raises Refused before a change when the plan refuses, ActionError when a step fails or
    its result does not appear."""
    ran, previous, previous_error, planned = [], None, None, None
    for _ in range(MAX_ROUNDS):
        facts = survey.gather(settings)
        plan = plans.make(settings, facts, wipe=wipe, confirmed=confirmed)
        if plan.refusals:
            raise Refused(plan, ran)
        todo = plan.todo
        if planned is None:
            planned = todo
        if not todo:
            return ran, plan, planned
        step = todo[0]
        if previous is not None and step.key == previous.key:
            detail = f" ({previous_error})" if previous_error else ""
            raise ActionError(f"step \"{step.title}\" ran but its result is not there{detail}; "
                              f"nothing after it was done. Run ts-storage plan to see the state; "
                              f"a re-run resumes here")
        if announce:
            announce(step)
        previous, previous_error = step, None
        try:
            _execute(step, settings, facts)
        except OSError as exc:
            if not step.write:
                raise ActionError(f"step \"{step.title}\" failed: {exc}") from None
            # A sysfs write can fail because udev did the same a moment earlier (a device
            # registers itself): the next round's result check decides.
            previous_error = f"{step.write[0] if step.write else step.key}: {exc.strerror or exc}"
            log.debug("step %s: %s", step.key, previous_error)
        ran.append(step)
    raise ActionError(f"apply did not finish within {MAX_ROUNDS} steps")
