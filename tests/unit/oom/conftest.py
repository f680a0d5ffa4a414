import os

import pytest

from trainserver.oom import kernel_log

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "fixtures", "oom")
BOOT = "bc782f727a39457f9b53cf846f52142d"  # the boot the fixtures were captured in


def fixture_records(name, boot_id=BOOT, base_time=1_700_000_000.0):
    """The kernel records of a captured fixture, as the /dev/kmsg reader makes them."""
    records = []
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        for line in handle:
            facility, seq, usec, message = kernel_log.parse_kmsg(line)
            assert facility == kernel_log.KERNEL_FACILITY
            records.append(kernel_log.Record(seq, base_time + usec / 1e6, boot_id, message))
    return records


@pytest.fixture
def records():
    return fixture_records
