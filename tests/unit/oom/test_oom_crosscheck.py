"""The kill count in the log against /proc/vmstat's oom_kill."""

from trainserver.core.findings import Severity
from trainserver.oom import crosscheck, vmstat
from trainserver.oom.crosscheck import Balance


def test_all_kills_found_says_nothing():
    finding, after = crosscheck.check(Balance("b"), counter=2, found_this_boot=2)
    assert finding is None
    assert (after.logged, after.missing, after.warned) == (2, 0, False)


def test_lost_kills_are_reported_once_then_resolved():
    finding, after = crosscheck.check(Balance("b", logged=1), counter=4, found_this_boot=1,
                                      lost_records=37)
    assert finding.severity == Severity.WARNING
    assert finding.value == 2
    assert "counted 4 OOM kills this boot" in finding.summary
    assert "only 2 were found" in finding.summary
    assert "overwrote 37 kernel log records" in finding.summary
    finding, after = crosscheck.check(Balance.from_state(after.to_state(), "b"), counter=4,
                                      found_this_boot=0)
    assert finding.severity == Severity.OK
    finding, after = crosscheck.check(after, counter=4, found_this_boot=0)
    assert finding is None


def test_a_kill_logged_after_the_counter_was_read_is_no_loss():
    finding, after = crosscheck.check(Balance("b"), counter=0, found_this_boot=1)
    assert finding is None
    finding, after = crosscheck.check(after, counter=1, found_this_boot=0)
    assert finding is None


def test_a_new_boot_starts_afresh():
    old = Balance("old", logged=5, missing=1, warned=False).to_state()
    balance = Balance.from_state(old, "new")
    assert (balance.boot_id, balance.logged, balance.missing) == ("new", 0, 0)
    finding, _ = crosscheck.check(balance, counter=1, found_this_boot=1)
    assert finding is None


def test_no_counter_no_check():
    finding, after = crosscheck.check(Balance("b"), counter=None, found_this_boot=1)
    assert finding is None and after.logged == 1


def test_vmstat_parse():
    with open("/proc/vmstat", encoding="ascii") as handle:
        text = handle.read()
    assert isinstance(vmstat.parse_oom_kill(text), int)
    assert vmstat.parse_oom_kill("oom_kill_x 3\noom_kill 7\n") == 7
    assert vmstat.parse_oom_kill("nr_free_pages 1\n") is None
