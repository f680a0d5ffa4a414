"""The kill count in the log against the kernel's own counter, oom_kill in /proc/vmstat (pure).

The counter rises once per "Killed process" line the kernel prints, so within one boot it
equals the kills in the log, unless the log lost some (the ring buffer overwrote them before
they were read, or journald dropped them under rate limiting). The balance is kept per boot:
kills found in the log this boot, and how many the counter showed beyond them last time, so
that each loss is reported once. The counter is read first, so that a kill logged between
reading the counter and reading the log is never taken for a loss.

The counter may run ahead of the log for a while (journald had not written a kill yet when the
log was read): that shows as a loss, and the kill found on a later run brings the count back
down, which resolves the warning. So the balance keeps the count as last computed, never its
highest, or a later real loss of the same size would go unreported. The count is also
too low while the log holds a kill the counter did not count yet (one made during the read);
such a run is not settled: it gives no verdict and keeps the last count, or the next run
would report the earlier loss again.
"""

from dataclasses import dataclass

from trainserver.core.findings import Finding, Severity
from trainserver.oom import TOOL

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
        """The saved balance, or a fresh one when it belongs to another boot (or is unreadable)."""
        if not isinstance(state, dict):
            return cls(boot_id=boot_id)
        warned = state.get("warned") is True
        logged, missing = _count(state.get("logged")), _count(state.get("missing"))
        if state.get("boot_id") != boot_id or logged is None or missing is None:
            return cls(boot_id=boot_id, warned=warned)
        return cls(boot_id=boot_id, logged=logged, missing=missing, warned=warned)

    def to_state(self):
        return {"boot_id": self.boot_id, "logged": self.logged, "missing": self.missing,
                "warned": self.warned}


def _count(value):
    """A saved count, or None when it is not a whole number."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check(balance, counter, found_this_boot, lost_records=0, settled=True):
    """Return (finding or None, balance after this run).

    counter: oom_kill read before the log (None: the kernel has no such counter);
    found_this_boot: kills of this boot found in this run's log read;
    settled: False when the log may hold kills the counter did not count (it moved during the
    read), or the counter kills the log will hold next run (the read ended inside a kill).
    An ok finding is given only to resolve an earlier warning, so that a quiet run stays one line.
    """
    logged = balance.logged + found_this_boot
    if counter is None:
        return None, Balance(balance.boot_id, logged, balance.missing, False)
    if not settled:
        return None, Balance(balance.boot_id, logged, balance.missing, balance.warned)
    missing = counter - logged
    new = missing - max(0, balance.missing)
    after = Balance(balance.boot_id, logged, missing, new > 0)
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
