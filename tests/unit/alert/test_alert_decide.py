"""Which findings become messages, over an injected clock."""

import pytest

from trainserver.alert import decide
from trainserver.core.findings import Finding, Severity

DAY = 86400
SCHEDULE = decide.Schedule(repeat_after=DAY, repeat_max=7 * DAY)


def f(severity, subject="disk A", summary="bad"):
    return Finding("smart", "realloc", subject, Severity.parse(severity), summary)


def kinds(events):
    return [e.kind for e in events]


def test_new_problem_then_silence_while_unchanged():
    state, events = decide.decide({}, [f("warning")], 0, SCHEDULE)
    assert kinds(events) == ["new"]
    state, events = decide.decide(state, [f("warning")], 3600, SCHEDULE)
    assert events == []
    assert len(state) == 1


def test_ok_for_a_subject_never_seen_says_nothing():
    state, events = decide.decide({}, [f("ok")], 0, SCHEDULE)
    assert (state, events) == ({}, [])


def test_worse_sends_and_restarts_the_reminder_schedule():
    state, _ = decide.decide({}, [f("warning")], 0, SCHEDULE)
    state, _ = decide.decide(state, [f("warning")], DAY, SCHEDULE)  # first reminder
    state, events = decide.decide(state, [f("critical")], DAY + 60, SCHEDULE)
    assert kinds(events) == ["worse"]
    assert events[0].previous == Severity.WARNING
    (record,) = state.values()
    assert (record["severity"], record["reminders"], record["last_sent"]) == ("critical", 0, DAY + 60)


def test_unknown_to_warning_is_worse_but_critical_to_unknown_is_not():
    state, _ = decide.decide({}, [f("unknown")], 0, SCHEDULE)
    state, events = decide.decide(state, [f("warning")], 10, SCHEDULE)
    assert kinds(events) == ["worse"]
    state, _ = decide.decide({}, [f("critical")], 0, SCHEDULE)
    state, events = decide.decide(state, [f("unknown")], 10, SCHEDULE)
    assert events == []


def test_better_but_still_a_problem_is_silent_and_remembered():
    state, _ = decide.decide({}, [f("critical", summary="18 sectors")], 0, SCHEDULE)
    state, events = decide.decide(state, [f("warning", summary="3 sectors")], 60, SCHEDULE)
    assert events == []
    (record,) = state.values()
    assert (record["severity"], record["summary"]) == ("warning", "3 sectors")


def test_reminders_halve_the_nagging_1_2_4_days_capped():
    state, _ = decide.decide({}, [f("critical")], 0, SCHEDULE)
    sent = []
    for hour in range(1, 30 * 24 + 1):
        state, events = decide.decide(state, [f("critical")], hour * 3600, SCHEDULE)
        sent += [hour // 24 for e in events if e.kind == "reminder"]
    # waits of 1, 2, 4 days, then 7 (the cap): reminders on days 1, 3, 7, 14, 21, 28
    assert sent == [1, 3, 7, 14, 21, 28]


def test_reminder_carries_the_time_the_problem_began():
    state, _ = decide.decide({}, [f("warning")], 100, SCHEDULE)
    _, events = decide.decide(state, [f("warning")], 100 + DAY, SCHEDULE)
    assert kinds(events) == ["reminder"] and events[0].since == 100


def test_resolved_when_ok_again_then_a_new_problem_is_new():
    state, _ = decide.decide({}, [f("critical")], 0, SCHEDULE)
    state, events = decide.decide(state, [f("ok")], 50, SCHEDULE)
    assert kinds(events) == ["resolved"]
    assert events[0].previous == Severity.CRITICAL and events[0].since == 0
    assert state == {}
    _, events = decide.decide(state, [f("warning")], 60, SCHEDULE)
    assert kinds(events) == ["new"]


def test_subjects_are_independent_and_absent_ones_stay_open():
    state, events = decide.decide({}, [f("warning", "disk A"), f("critical", "disk B")], 0, SCHEDULE)
    assert kinds(events) == ["new", "new"]
    state, events = decide.decide(state, [f("ok", "disk A")], 10, SCHEDULE)
    assert kinds(events) == ["resolved"]
    assert [r["subject"] for r in state.values()] == ["disk B"]


def test_input_state_is_not_modified():
    state, _ = decide.decide({}, [f("warning")], 0, SCHEDULE)
    copy = {k: dict(v) for k, v in state.items()}
    decide.decide(state, [f("critical")], 10, SCHEDULE)
    assert state == copy


def test_same_check_from_two_tools_are_two_problems():
    one = Finding("smart", "temperature", "x", Severity.WARNING, "hot")
    two = Finding("gpu-temp", "temperature", "x", Severity.WARNING, "hot")
    state, events = decide.decide({}, [one, two], 0, SCHEDULE)
    assert len(state) == 2 and kinds(events) == ["new", "new"]


def key():
    return decide.key_of(f("warning"))


def test_an_acknowledged_problem_sends_no_reminders():
    state, _ = decide.decide({}, [f("warning")], 0, SCHEDULE)
    state, record = decide.acknowledge(state, key(), 10, "replacement ordered")
    assert record["ack"] == {"severity": "warning", "time": 10, "comment": "replacement ordered",
                             "until": None}
    for day in range(1, 40):
        state, events = decide.decide(state, [f("warning")], day * DAY, SCHEDULE)
        assert events == []
    assert state[key()]["ack"]["severity"] == "warning"


def test_worse_lifts_the_acknowledgement_and_says_so():
    state, _ = decide.decide({}, [f("warning")], 0, SCHEDULE)
    state, _ = decide.acknowledge(state, key(), 10)
    state, events = decide.decide(state, [f("critical")], 20, SCHEDULE)
    assert kinds(events) == ["worse"] and events[0].acknowledged
    assert "ack" not in state[key()]
    _, events = decide.decide(state, [f("critical")], 20 + DAY, SCHEDULE)
    assert kinds(events) == ["reminder"]  # the schedule runs again


def test_the_acknowledged_level_follows_the_problem_down():
    """A counter acknowledged while it rose (critical), then steady (warning), rising again."""
    state, _ = decide.decide({}, [f("critical")], 0, SCHEDULE)
    state, _ = decide.acknowledge(state, key(), 10)
    state, events = decide.decide(state, [f("warning")], 20, SCHEDULE)
    assert events == [] and state[key()]["ack"]["severity"] == "warning"
    _, events = decide.decide(state, [f("critical")], 30, SCHEDULE)
    assert kinds(events) == ["worse"]


def test_resolving_ends_the_acknowledgement_with_the_problem():
    state, _ = decide.decide({}, [f("warning")], 0, SCHEDULE)
    state, _ = decide.acknowledge(state, key(), 10)
    state, events = decide.decide(state, [f("ok")], 20, SCHEDULE)
    assert kinds(events) == ["resolved"] and state == {}
    _, events = decide.decide(state, [f("warning")], 30, SCHEDULE)
    assert kinds(events) == ["new"]


def test_an_acknowledgement_with_an_end_lets_the_reminders_resume():
    state, _ = decide.decide({}, [f("warning")], 0, SCHEDULE)
    state, _ = decide.acknowledge(state, key(), 10, until=3 * DAY)
    state, events = decide.decide(state, [f("warning")], 2 * DAY, SCHEDULE)
    assert events == []
    state, events = decide.decide(state, [f("warning")], 3 * DAY, SCHEDULE)
    assert kinds(events) == ["reminder"] and "ack" not in state[key()]


def test_unacknowledge_and_unknown_keys():
    state, _ = decide.decide({}, [f("warning")], 0, SCHEDULE)
    state, _ = decide.acknowledge(state, key(), 10)
    state, _, had = decide.unacknowledge(state, key())
    assert had and "ack" not in state[key()]
    _, _, had = decide.unacknowledge(state, key())
    assert not had
    with pytest.raises(decide.NotOpen):
        decide.acknowledge(state, decide.key_from("smart", "realloc", "disk Z"), 10)
