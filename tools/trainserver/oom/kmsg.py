"""Reading the kernel log from /dev/kmsg (where journald does not run).

Each read() returns one record. /dev/kmsg cannot seek to a sequence number, so every run reads
the ring buffer from its oldest record and skips what the last run saw. The sequence numbers
restart at each boot, which the boot id tells apart from "nothing new". A read fails with EPIPE
when the record it was at has been overwritten meanwhile; reading on continues at the oldest
record still there.
"""

import errno
import os
import time

from trainserver.oom import kernel_log

DEVICE = "/dev/kmsg"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
# /dev/kmsg hands out a record with its dictionary in at most 8 KiB (CONSOLE_EXT_LOG_MAX); a
# smaller buffer would make read() fail with EINVAL.
READ_SIZE = 16384


def boot_id(path=BOOT_ID):
    """This boot's id, written as journald writes _BOOT_ID (no dashes)."""
    with open(path, encoding="ascii") as handle:
        return handle.read().strip().replace("-", "")


class Batch:
    """What one read found: records after the saved position, and where to continue next time."""

    def __init__(self, records, position, lost):
        self.records = records
        self.position = position  # state to save: {"boot_id", "seq"}
        self.lost = lost  # records overwritten before this run could read them

    def before(self, index):
        """This batch up to record `index` (excluded), positioned to read that record next time."""
        position = {"boot_id": self.position["boot_id"], "seq": self.records[index].position - 1}
        return Batch(self.records[:index], position, self.lost)


def select(raws, after, boot, offset):
    """Kernel records after sequence number `after` (None: all) from raw /dev/kmsg records.

    Returns (records, last sequence number seen or None, records lost). A record overwritten
    before it was read leaves a gap in the sequence numbers; EPIPE only says that one happened.
    offset: seconds to add to a record's time since boot to make it wall-clock time.
    """
    records, last_seq, lost, expected = [], after, 0, None
    for raw in raws:
        parsed = kernel_log.parse_kmsg(raw)
        if parsed is None:
            continue
        facility, seq, usec, message = parsed
        if expected is None:
            # The oldest record still there: any between the saved position and it were lost.
            expected = (after + 1) if after is not None else 0
        if seq > expected:
            lost += seq - expected
        expected = seq + 1
        if after is not None and seq <= after:
            continue
        last_seq = seq
        if facility == kernel_log.KERNEL_FACILITY:
            records.append(kernel_log.Record(seq, offset + usec / 1e6, boot, message))
    return records, last_seq, lost


def raw_records(device=DEVICE):
    """Each record in the ring buffer, oldest first, as text; stops at the newest."""
    fd = os.open(device, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        while True:
            try:
                raw = os.read(fd, READ_SIZE)
            except BlockingIOError:
                return  # read up to the newest record
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    continue  # overwritten under us; reading on starts at the oldest record left
                raise
            if not raw:
                return
            yield raw.decode("utf-8", errors="replace")
    finally:
        os.close(fd)


def read(saved, device=DEVICE, boot_path=BOOT_ID):
    """Kernel records newer than `saved` ({"boot_id", "seq"} or None: from the oldest record).

    A position saved in another boot means nothing now (sequence numbers restart at 0): the
    whole ring buffer of this boot is read.
    """
    boot = boot_id(boot_path)
    after = None
    if (isinstance(saved, dict) and saved.get("boot_id") == boot
            and isinstance(saved.get("seq"), int) and not isinstance(saved["seq"], bool)):
        after = saved["seq"]
    # Wall time of a record = now - (monotonic now - its time since boot): printk stamps
    # records with the kernel's local clock, which runs with CLOCK_MONOTONIC.
    offset = time.time() - time.clock_gettime(time.CLOCK_MONOTONIC)
    records, last_seq, lost = select(raw_records(device), after, boot, offset)
    # Nothing read in a fresh boot: -1, so that its record 0 is read next time.
    position = {"boot_id": boot, "seq": last_seq if last_seq is not None else -1}
    return Batch(records, position, lost)
