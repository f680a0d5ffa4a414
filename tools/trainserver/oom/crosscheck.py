"""The kill count in the log against the kernel's own counter, oom_kill in /proc/vmstat (pure).

The counter rises once per "Killed process" line the kernel prints, so within one boot it
equals the kills in the log, unless the log lost some (the ring buffer overwrote them before
they were read, or journald dropped them under rate limiting). The balance is kept per boot:
kills found in the log this boot, and how many the counter showed beyond them last time, so
that each loss is reported once, and a kill logged between reading the counter and reading the
log (the counter is read first) is never taken for a loss.
"""

from dataclasses import dataclass

from trainserver.core.findings import Finding, Severity

TOOL = "oom"
CHECK = "kernel-log"
SUBJECT = "host"


@dataclass
class Balance:
    boot_id: str = None
    logged: int = 0  # kills found in the log this boot
    missing: int = 0  # kills counted but not found, as already reported
    warned: bool = False  # the last run's finding was a warning (an ok must resolve it)

    @classmethod
    def from_state(cls, state, boot_id):
        """The saved balance, or a fresh one when it belongs to another boot."""
        if not state or state.get("boot_id") != boot_id:
            return cls(boot_id=boot_id, warned=bool(state and state.get("warned")))
        return cls(boot_id=boot_id, logged=int(state.get("logged", 0)),
                   missing=int(state.get("missing", 0)), warned=bool(state.get("warned")))

    def to_state(self):
        return {"boot_id": self.boot_id, "logged": self.logged, "missing": self.missing,
                "warned": self.warned}


def check(balance, counter, found_this_boot, lost_records=0):
    """Return (finding or None, balance after this run).

    counter: oom_kill read before the log (None: the kernel has no such counter);
    found_this_boot: kills of this boot found in this run's log read.
    An ok finding is given only to resolve an earlier warning, so that a quiet run stays one line.
    """
    logged = balance.logged + found_this_boot
    if counter is None:
        return None, Balance(balance.boot_id, logged, balance.missing, False)
    missing = counter - logged
    new = missing - max(0, balance.missing)
    after = Balance(balance.boot_id, logged, max(balance.missing, missing), new > 0)
    if new > 0:
        lost = (f"; the ring buffer overwrote {lost_records} kernel log records before they "
                f"were read" if lost_records else "")
        summary = (f"the kernel counted {counter} OOM kills this boot (/proc/vmstat oom_kill) but "
                   f"only {logged} were found in its log: {new} kill{'s' if new > 1 else ''} "
                   f"could not be attributed{lost}")
        return Finding(TOOL, CHECK, SUBJECT, Severity.WARNING, summary, value=new, threshold=0), after
    if balance.warned:
        return Finding(TOOL, CHECK, SUBJECT, Severity.OK,
                       "no further OOM kills missing from the kernel log", value=0, threshold=0), after
    return None, after
