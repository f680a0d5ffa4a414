"""Findings from kills: warning, critical on repeats within the window, ok to resolve."""

from trainserver.core.findings import Severity
from trainserver.oom import repeats
from trainserver.oom.kernel_log import Kill
from trainserver.oom.repeats import Attributed, Memory

DAY = 86400
NOW = 1_800_000_000.0


def kill(subject, time, pid=100, container=True, process="python3"):
    return Attributed(Kill(pid=pid, process=process, time=time, boot_id="b", rss_kb=65676,
                           limit_kb=65536), subject, container)


def by_subject(findings):
    return {f.subject: f for f in findings}


def test_one_kill_is_a_warning():
    findings, memory = repeats.assess([kill("trainer", NOW - 60)], Memory(), NOW, DAY, 2)
    (finding,) = findings
    assert (finding.tool, finding.check, finding.subject) == ("oom", "oom-kill", "trainer")
    assert finding.severity == Severity.WARNING
    assert (finding.value, finding.threshold) == (1, 2)
    assert "container trainer: 1 new OOM kill" in finding.summary
    assert "64.1 MiB resident, cgroup limit 64.0 MiB" in finding.summary
    assert memory.open == ["trainer"]
    assert memory.totals["trainer"]["kills"] == 1


def test_second_kill_within_the_window_is_critical_across_runs():
    _, memory = repeats.assess([kill("trainer", NOW - 3600)], Memory(), NOW - 3000, DAY, 2)
    findings, memory = repeats.assess([kill("trainer", NOW - 60, pid=101)], memory, NOW, DAY, 2)
    (finding,) = findings
    assert finding.severity == Severity.CRITICAL
    assert finding.value == 2
    assert memory.totals["trainer"]["kills"] == 2


def test_two_kills_in_one_run_are_one_critical_finding():
    findings, _ = repeats.assess([kill("t", NOW - 9, pid=1), kill("t", NOW - 5, pid=2)],
                                 Memory(), NOW, DAY, 2)
    (finding,) = findings
    assert finding.severity == Severity.CRITICAL
    assert "2 new OOM kills" in finding.summary and "also python3 (pid 1)" in finding.summary


def test_a_kill_older_than_the_window_does_not_count_towards_repeats():
    _, memory = repeats.assess([kill("trainer", NOW - 2 * DAY)], Memory(), NOW - 2 * DAY, DAY, 2)
    findings, _ = repeats.assess([kill("trainer", NOW - 60)], memory, NOW, DAY, 2)
    assert by_subject(findings)["trainer"].severity == Severity.WARNING


def test_threshold_three():
    memory = Memory()
    severities = []
    for n in range(3):
        findings, memory = repeats.assess([kill("t", NOW + n)], memory, NOW + n, DAY, 3)
        severities.append(findings[0].severity)
    assert severities == [Severity.WARNING, Severity.WARNING, Severity.CRITICAL]


def test_quiet_run_resolves_each_container_with_kills():
    _, memory = repeats.assess([kill("a", NOW - 60), kill("/user.slice", NOW - 50, container=False)],
                               Memory(), NOW - 30, DAY, 2)
    findings, memory = repeats.assess([], memory, NOW, DAY, 2)
    found = by_subject(findings)
    assert set(found) == {"a", "/user.slice"}
    assert all(f.severity == Severity.OK for f in findings)
    assert "no new OOM kill (1 within 1d)" in found["a"].summary
    assert memory.open == []


def test_quiet_run_without_recent_kills_is_one_ok():
    _, memory = repeats.assess([kill("a", NOW - 2 * DAY)], Memory(), NOW - 2 * DAY, DAY, 2)
    # Out of the window, but its warning is still open: an ok resolves it, once.
    findings, memory = repeats.assess([], memory, NOW, DAY, 2)
    assert [(f.subject, f.severity) for f in findings] == [("a", Severity.OK)]
    findings, _ = repeats.assess([], memory, NOW + 1800, DAY, 2)
    assert [(f.subject, f.severity, f.summary) for f in findings] == [("host", Severity.OK, "no OOM kills")]


def test_new_kill_in_one_container_and_ok_for_another():
    _, memory = repeats.assess([kill("a", NOW - 600)], Memory(), NOW - 600, DAY, 2)
    findings, _ = repeats.assess([kill("b", NOW - 60)], memory, NOW, DAY, 2)
    found = by_subject(findings)
    assert found["b"].severity == Severity.WARNING and found["a"].severity == Severity.OK


def test_memory_round_trips_through_state_and_forgets_old_totals():
    _, memory = repeats.assess([kill("old", NOW - 100 * DAY)], Memory(), NOW - 100 * DAY, DAY, 2)
    _, memory = repeats.assess([kill("new", NOW)], Memory.from_state(memory.to_state()), NOW, DAY, 2)
    assert set(memory.totals) == {"new"}


def test_memory_from_a_state_with_missing_or_odd_values():
    for state in (None, [], "x", {}, {"recent": None, "open": None, "totals": None},
                  {"recent": "x", "open": 3, "totals": ["a"]},
                  {"recent": [None, 1, {"subject": 1, "time": NOW}, {"subject": "a", "time": "soon"}],
                   "open": [["a"], {"b": 1}], "totals": {"a": None, "b": {"kills": "2", "last": NOW}}}):
        memory = Memory.from_state(state)
        assert (memory.recent, memory.open, memory.totals) == ([], [], {}), state
        findings, _ = repeats.assess([kill("t", NOW)], memory, NOW, DAY, 2)
        assert [f.severity for f in findings] == [Severity.WARNING]
    good = {"recent": [{"subject": "a", "time": NOW - 60, "pid": 1, "process": "p"}, None],
            "open": ["a", None], "totals": {"a": {"kills": 1, "last": NOW - 60}, "b": 7}}
    memory = Memory.from_state(good)
    assert memory.recent == good["recent"][:1] and memory.open == ["a"]
    assert memory.totals == {"a": {"kills": 1, "last": NOW - 60}}
