"""What ts-snapshot reports when the storage is not a mounted BTRFS filesystem."""

from trainserver.core.findings import Severity
from trainserver.snapshot.actions import storage_finding

WHY = ("not configured: [storage] names no devices and /etc/fstab has no entry for /mnt/storage, "
       "and nothing is mounted there")


def test_a_machine_without_the_storage_is_told_once_at_ok():
    finding = storage_finding("/mnt/storage", WHY)
    assert (finding.tool, finding.check, finding.subject) == ("snapshot", "storage", "/mnt/storage")
    assert finding.severity == Severity.OK
    assert finding.summary == f"{WHY}: no snapshots to take"


def test_a_configured_storage_that_is_not_there_is_critical_as_in_ts_storage():
    finding = storage_finding("/mnt/storage", None)
    assert finding.severity == Severity.CRITICAL
    assert finding.summary.startswith("/mnt/storage is not a mounted BTRFS filesystem")
    assert "no snapshot taken" in finding.summary
