"""smartctl's exit status: a bit mask, not a single code (smartctl(8), EXIT STATUS).

A healthy disk often exits 64 (its error log holds old records), so only some bits mean a
failing disk, and some mean that smartctl could not read the disk at all.
"""

from trainserver.core.findings import Severity

BIT_NAMES = {
    0: "command line did not parse",
    1: "device open failed, no IDENTIFY data, or device in a low-power mode",
    2: "a SMART or other command to the disk failed, or a SMART data checksum error",
    3: "SMART status check returned DISK FAILING",
    4: "prefail attributes at or below their threshold",
    5: "attributes at or below their threshold in the past",
    6: "the device error log contains records of errors",
    7: "the device self-test log contains records of errors",
}

FAILING_BITS = frozenset({3, 4, 7})
UNREADABLE_BITS = frozenset({0, 1, 2})

# Bit 2 is also set when only an optional command failed: with --xall, a disk without a
# self-test log or without SMART thresholds sets it on every run. When smartctl still read the
# disk's data, that data is checked, and the bit alone says nothing about the disk's health.
COMMAND_FAILED_BIT = 2


def bits(status):
    """The bits set in `status`, lowest first."""
    return [bit for bit in range(8) if status & (1 << bit)]


def describe(status):
    """'216: bit 3 (...), bit 4 (...)' for a summary; '0: no bit set' when all is well."""
    names = [f"bit {bit} ({BIT_NAMES[bit]})" for bit in bits(status)]
    return f"{status}: " + (", ".join(names) if names else "no bit set")


def commands_failed(status):
    """True when bit 2 is set: some command to the disk failed."""
    return COMMAND_FAILED_BIT in bits(status)


def severity(status, has_data=False):
    """Critical when a failing bit is set; unknown when smartctl could not read; else ok.

    Failing wins over unreadable: a disk that says it is failing is failing, even when
    another command to it failed as well. `has_data`: smartctl read the disk's data, so a
    failed command (bit 2) alone is not a reason to call the disk unknown.
    """
    set_bits = set(bits(status))
    if set_bits & FAILING_BITS:
        return Severity.CRITICAL
    unreadable = UNREADABLE_BITS - {COMMAND_FAILED_BIT} if has_data else UNREADABLE_BITS
    if set_bits & unreadable:
        return Severity.UNKNOWN
    return Severity.OK
