"""The prune plan of a whole inventory, and the order in which the free-space guard deletes.

Pure logic over an Inventory: what prune deletes is exactly what `ts-snapshot plan` shows.
"""

from dataclasses import dataclass, field

from trainserver.snapshot import retention


@dataclass
class Entry:
    snapshot: object  # inventory.Snapshot
    decision: retention.Decision

    @property
    def keep(self):
        return self.decision.keep


@dataclass
class Plan:
    now: object
    policy: object
    series: dict = field(default_factory=dict)  # subvolume path -> [Entry], oldest first
    foreign: list = field(default_factory=list)

    def entries(self):
        return [entry for entries in self.series.values() for entry in entries]

    def deletions(self):
        return [entry for entry in self.entries() if not entry.keep]


def make(inventory, policy, now):
    plan = Plan(now, policy, foreign=list(inventory.foreign))
    for name, snapshots in sorted(inventory.series.items()):
        by_name = {snap.name: snap for snap in snapshots}
        decisions = retention.decide([(s.name, s.time) for s in snapshots], policy, now)
        plan.series[name] = [Entry(by_name[d.name], d) for d in decisions]
    return plan


# A snapshot the guard never deletes: the last copy of a subvolume's recent state, and the newest
# of its daily and weekly tiers, so that a shortage never leaves a subvolume without history.
_PROTECTING = (retention.NEWEST, retention.MIN_AGE, retention.FUTURE)
_PROTECTED_TIERS = ("daily 1/", "weekly 1/")


def protected(entry):
    return any(reason in _PROTECTING or reason.startswith(_PROTECTED_TIERS)
               for reason in entry.decision.reasons)


def guard_order(plan):
    """Kept snapshots the free-space guard may delete, oldest first across every subvolume."""
    candidates = [entry for entry in plan.entries() if entry.keep and not protected(entry)]
    return sorted(candidates, key=lambda e: (e.snapshot.time, e.snapshot.series))
