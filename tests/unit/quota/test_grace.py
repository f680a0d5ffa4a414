"""The grace rule: enter, days left, after grace, hysteresis, clearing, per-person limits."""

from trainserver.core.findings import Severity
from trainserver.quota import grace

DAY = 86400
T0 = 1_800_000_000
TB = 10**12
GB = 10**9
RULE = grace.Rule(grace=7 * DAY, hysteresis=10 * GB, severity=Severity.WARNING)


def step(total, previous, now, limit=TB, rule=RULE):
    return grace.judge("alice", total, limit, previous, now, rule)


def test_under_the_limit_is_ok_and_not_over():
    finding, state = step(900 * GB, None, T0)
    assert finding.severity == Severity.OK and state["over_since"] is None
    assert finding.key == ("quota", "usage", "alice")
    assert finding.summary == "alice uses 900.0 GB of 1 TB"


def test_exactly_the_limit_is_not_over():
    _, state = step(TB, None, T0)
    assert state["over_since"] is None


def test_over_starts_the_grace_period_and_counts_the_days_down():
    finding, state = step(1.2 * TB, None, T0)
    assert finding.severity == Severity.OK and state["over_since"] == T0
    assert "alice uses 1.20 TB of 1 TB: over the limit since" in finding.summary
    assert finding.summary.endswith("7 days of grace left")
    finding, state = step(1.2 * TB, state, T0 + 4 * DAY)
    assert finding.severity == Severity.OK and finding.summary.endswith("3 days of grace left")
    finding, state = step(1.2 * TB, state, T0 + 6 * DAY + 3600)
    assert finding.summary.endswith("1 day of grace left")
    finding, state = step(1.2 * TB, state, T0 + 7 * DAY)  # not yet longer than 7 days
    assert finding.severity == Severity.OK and state["over_since"] == T0


def test_longer_than_the_grace_period_is_the_configured_severity():
    _, state = step(1.2 * TB, None, T0)
    finding, state = step(1.2 * TB, state, T0 + 7 * DAY + 1)
    assert finding.severity == Severity.WARNING
    assert "grace period of 7 days is over" in finding.summary
    critical = grace.Rule(7 * DAY, 10 * GB, Severity.CRITICAL)
    finding, _ = step(1.2 * TB, state, T0 + 8 * DAY, rule=critical)
    assert finding.severity == Severity.CRITICAL


def test_hovering_at_the_limit_does_not_flap_or_restart_the_grace_period():
    _, state = step(TB + GB, None, T0)
    for day, total in enumerate([TB - GB, TB + GB, TB - 5 * GB, TB - 9 * GB], start=1):
        finding, state = step(total, state, T0 + day * DAY)
        assert state["over_since"] == T0, day
    assert "not yet below 990.0 GB" in finding.summary
    finding, state = step(TB - 9 * GB, state, T0 + 8 * DAY)
    assert finding.severity == Severity.WARNING  # still over, days kept counting


def test_below_limit_minus_hysteresis_clears_and_a_new_stay_starts_afresh():
    _, state = step(1.1 * TB, None, T0)
    _, state = step(1.1 * TB, state, T0 + 8 * DAY)
    finding, state = step(TB - 11 * GB, state, T0 + 9 * DAY)
    assert finding.severity == Severity.OK and state["over_since"] is None
    finding, state = step(1.1 * TB, state, T0 + 10 * DAY)
    assert state["over_since"] == T0 + 10 * DAY and finding.severity == Severity.OK


def test_under_the_limit_but_never_over_is_not_held_by_the_band():
    _, state = step(TB - GB, None, T0)
    assert state["over_since"] is None


def test_per_person_limit():
    finding, state = step(15 * 10**6, None, T0, limit=10 * 10**6)
    assert state["over_since"] == T0 and "of 10 MB" in finding.summary


def test_hysteresis_is_at_most_a_tenth_of_the_limit():
    limit = 10 * 10**6  # 10 MB with the default 10 GB band: it could never clear
    _, state = step(11 * 10**6, None, T0, limit=limit)
    _, state = step(int(8.9 * 10**6), state, T0 + DAY, limit=limit)
    assert state["over_since"] is None


def test_state_survives_as_json_and_bad_state_is_ignored():
    import json

    _, state = step(1.2 * TB, None, T0)
    state = json.loads(json.dumps(state))
    _, state = step(1.2 * TB, state, T0 + DAY)
    assert state["over_since"] == T0
    _, state = step(1.2 * TB, {"over_since": "garbage"}, T0 + DAY)
    assert state["over_since"] == T0 + DAY


def test_a_clock_before_over_since_is_not_negative():
    _, state = step(1.2 * TB, None, T0)
    finding, _ = step(1.2 * TB, state, T0 - DAY)
    assert finding.severity == Severity.OK and finding.summary.endswith("days of grace left")
