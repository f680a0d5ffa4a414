"""ts-ups check's rules against upsc outputs recorded from NUT's dummy-ups."""

import datetime as dt
import os

import pytest

from trainserver.core.findings import Severity, exit_status
from trainserver.core.metrics import render
from trainserver.core.schema import defaults
from trainserver.core.units import parse_duration
from trainserver.ups import assess, metrics, upsc

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "fixtures", "ups")
NAME = "ups@localhost"
DAY = 86400


def moment(text):
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()


NOW = moment("2026-12-06T12:00:00")


def default_limits():
    table = defaults()["ups"]
    return assess.Limits(table["charge_warning_percent"], table["charge_critical_percent"],
                         parse_duration(table["runtime_warning"]),
                         parse_duration(table["runtime_critical"]),
                         parse_duration(table["self_test_max_age"]))


LIMITS = default_limits()


def variables(name):
    with open(os.path.join(FIXTURES, f"{name}.upsc"), encoding="utf-8") as handle:
        return upsc.parse(handle.read())


def run(name_or_variables, state=None, now=NOW, limits=LIMITS):
    values = (variables(name_or_variables) if isinstance(name_or_variables, str)
              else name_or_variables)
    return assess.assess(NAME, values, limits, state or {}, now)


def by_check(result):
    return {f.check: f for f in result.findings}


def test_the_defaults_are_the_ones_these_tests_assume():
    assert LIMITS == assess.Limits(50, 20, 600, 300, 35 * DAY)


def test_healthy_ups_is_all_ok():
    result = run("healthy")
    found = by_check(result)
    assert list(found) == ["connection", "charge", "runtime", "power", "replace-battery",
                           "self-test"]
    assert {f.severity for f in result.findings} == {Severity.OK}
    assert {(f.tool, f.subject) for f in result.findings} == {("ups", NAME)}
    assert found["connection"].summary == (
        "upsc read 17 variables (Dummy Manufacturer Dummy UPS, driver dummy-ups)")
    assert (found["charge"].value, found["charge"].threshold) == (100, 50)
    assert found["charge"].summary == "battery charge 100% (warning below 50%, critical below 20%)"
    assert (found["runtime"].value, found["runtime"].threshold) == (3600, 600)
    assert found["runtime"].summary == ("runtime left 60 min (warning below 10 min, critical "
                                        "below 5 min)")
    assert found["power"].summary == "on line power (ups.status: OL)"
    assert found["self-test"].summary == ("the last self-test passed on 2026-11-20, 16 days "
                                          "ago (date: ups.test.date 2026-11-20)")
    assert (found["self-test"].value, found["self-test"].threshold) == (16.5, 35.0)
    assert result.gauges == assess.Gauges(True, 100, 3600, False, NOW - moment("2026-11-20"))


def test_low_battery_on_battery_is_critical():
    result = run("low-battery")
    found = by_check(result)
    assert exit_status(result.findings) == 2
    assert (found["charge"].severity, found["charge"].value, found["charge"].threshold) == (
        Severity.CRITICAL, 15, 20)
    assert (found["runtime"].severity, found["runtime"].value,
            found["runtime"].threshold) == (Severity.CRITICAL, 150, 300)
    assert found["power"].severity == Severity.CRITICAL
    assert found["power"].summary == (
        "on battery with LOW BATTERY (runtime left 2 min 30 s, charge 15%): NUT's upsmon shuts the "
        "server down now (ups.status: OB LB)")
    assert result.gauges.on_battery is True


def test_on_battery_is_a_warning_that_says_the_runtime_left():
    result = run("on-battery")
    found = by_check(result)
    assert exit_status(result.findings) == 1
    assert found["charge"].severity == Severity.OK
    assert (found["runtime"].severity, found["runtime"].value) == (Severity.WARNING, 480)
    assert found["runtime"].summary.startswith("runtime left 8 min ")
    assert found["power"].severity == Severity.WARNING
    assert found["power"].summary == ("on battery, mains power lost (runtime left 8 min, charge "
                                      "70%); discharging (ups.status: OB DISCHRG)")


def test_replace_battery_and_a_failed_self_test_are_critical():
    found = by_check(run("replace-battery"))
    assert found["replace-battery"].severity == Severity.CRITICAL
    assert "replaced (RB)" in found["replace-battery"].summary
    assert found["power"].severity == Severity.OK  # on line; RB has a finding of its own
    assert found["self-test"].severity == Severity.CRITICAL
    # APC's MM/DD/YYYY
    assert found["self-test"].summary == (
        "the last self-test FAILED: 'Done and error' on 2026-11-30, 6 days ago (date: "
        "ups.test.date 11/30/2026); the battery may not bridge an outage")


def test_a_self_test_older_than_the_limit_is_a_warning():
    found = by_check(run("old-test"))
    test = found["self-test"]
    assert (test.severity, test.value, test.threshold) == (Severity.WARNING, 127.5, 35.0)
    assert test.summary == (
        "the last self-test passed on 2026-08-01, 128 days ago, longer ago than 35 days "
        "(date: ups.test.date 2026-08-01): run one (upscmd ups@localhost "
        "test.battery.start.quick)")


def test_never_tested_is_reported_at_the_first_run():
    found = by_check(run("apc-back-ups"))
    test = found["self-test"]
    assert test.severity == Severity.WARNING
    assert test.summary.startswith("no self-test recorded ('No test initiated'): run one")
    assert found["power"].summary == "on line power; charging (ups.status: OL CHRG)"
    assert found["connection"].summary == ("upsc read 41 variables (American Power Conversion "
                                           "Back-UPS ES 700G, driver dummy-ups)")


def test_no_test_result_at_all_is_never_tested():
    values = variables("healthy")
    del values["ups.test.result"], values["ups.test.date"]
    test = by_check(run(values))["self-test"]
    assert test.severity == Severity.WARNING
    assert test.summary.startswith("no self-test recorded (no ups.test.result)")


def test_without_a_test_date_the_first_sighting_dates_it_then_its_change():
    first = run("no-test-date")
    test = by_check(first)["self-test"]
    assert test.severity == Severity.OK
    assert test.summary == (
        "the last self-test passed on 2026-12-06, 0 s ago (date: when ts-ups first saw this "
        "result; the UPS gives no test date, so the test may be older)")
    assert first.state == {"self_test": {NAME: {"result": "Done and passed", "first_seen": NOW,
                                                "changed": None}}}
    # The same result 36 days on: nothing new was seen, so the test is at least that old.
    later = run("no-test-date", first.state, NOW + 36 * DAY)
    test = by_check(later)["self-test"]
    assert (test.severity, test.value) == (Severity.WARNING, 36.0)
    assert "longer ago than 35 days" in test.summary
    assert later.state == first.state
    # A test runs: the result changes, and the change dates it.
    values = variables("no-test-date")
    running = run(dict(values, **{"ups.test.result": "In progress"}), later.state,
                  NOW + 37 * DAY)
    assert by_check(running)["self-test"].severity == Severity.OK
    done = run(values, running.state, NOW + 37 * DAY + 900)
    test = by_check(done)["self-test"]
    assert test.severity == Severity.OK
    assert test.summary.endswith("(date: when ts-ups saw the result change)")
    assert done.state["self_test"][NAME]["changed"] == NOW + 37 * DAY + 900
    assert done.gauges.self_test_age == 0


def test_an_unreadable_test_date_falls_back_and_says_so():
    values = dict(variables("healthy"), **{"ups.test.date": "not set"})
    test = by_check(run(values))["self-test"]
    assert test.severity == Severity.OK
    assert "(date: ups.test.date 'not set' is not a date; when ts-ups first saw" in test.summary


def test_the_state_of_other_ups_is_kept():
    state = {"self_test": {"other@host": {"result": "Done and passed", "first_seen": 1,
                                          "changed": None}}}
    result = run("healthy", state)
    assert set(result.state["self_test"]) == {"other@host", NAME}


@pytest.mark.parametrize("text,kind", [
    ("Done and passed", "passed"), ("Done and warning", "warning"),
    ("Done and error", "failed"), ("Aborted", "aborted"), ("In progress", "running"),
    ("No test initiated", "none"), ("Test scheduled", "running"), ("", "none"),
    ("OK", "passed"), ("Battery failed", "failed"), ("Bad battery", "failed"),
    ("Passed", "passed"), ("Warning", "warning"), ("Gibberish 42", "unknown"),
])
def test_classify_result(text, kind):
    assert assess.classify_result(text) == kind


@pytest.mark.parametrize("text,kind,severity", [
    ("Done and warning", "warning", Severity.WARNING),
    ("Aborted", "aborted", Severity.WARNING),
    ("In progress", "running", Severity.OK),
    ("Gibberish 42", "unknown", Severity.UNKNOWN),
])
def test_self_test_severities(text, kind, severity):
    values = dict(variables("healthy"), **{"ups.test.result": text})
    assert by_check(run(values))["self-test"].severity == severity


@pytest.mark.parametrize("text,day", [
    ("2026-11-20", "2026-11-20"), ("2026/11/20", "2026-11-20"), ("11/20/2026", "2026-11-20"),
    ("11/20/26", "2026-11-20"), ("20/11/2026", "2026-11-20"), ("20.11.2026", "2026-11-20"),
    ("2026-11-20 10:11:12", "2026-11-20"), ("03/04/2026", "2026-03-04"),
])
def test_parse_test_date(text, day):
    epoch = assess.parse_test_date(text)
    assert dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d") == day


@pytest.mark.parametrize("text", ["", "not set", "00/00/00", "unknown"])
def test_parse_test_date_refuses(text):
    assert assess.parse_test_date(text) is None


@pytest.mark.parametrize("charge,severity,threshold", [
    ("50", Severity.OK, 50), ("49.5", Severity.WARNING, 50), ("20", Severity.WARNING, 50),
    ("19", Severity.CRITICAL, 20)])
def test_charge_bounds(charge, severity, threshold):
    found = by_check(run(dict(variables("healthy"), **{"battery.charge": charge})))["charge"]
    assert (found.severity, found.threshold) == (severity, threshold)


@pytest.mark.parametrize("runtime,severity", [
    ("600", Severity.OK), ("599", Severity.WARNING), ("300", Severity.WARNING),
    ("299.5", Severity.CRITICAL)])
def test_runtime_bounds(runtime, severity):
    values = dict(variables("healthy"), **{"battery.runtime": runtime})
    assert by_check(run(values))["runtime"].severity == severity


def test_a_variable_not_reported_is_ok_and_one_not_readable_is_unknown():
    values = variables("healthy")
    del values["battery.runtime"]
    values["battery.charge"] = "n/a"
    result = run(values)
    found = by_check(result)
    assert (found["runtime"].severity, found["runtime"].summary) == (
        Severity.OK, "runtime left not reported by the UPS (no battery.runtime)")
    assert (found["charge"].severity, found["charge"].summary) == (
        Severity.UNKNOWN, "battery charge cannot be read: battery.charge is 'n/a'")
    assert (result.gauges.charge, result.gauges.runtime) == (None, None)
    assert exit_status(result.findings) == 3


@pytest.mark.parametrize("status,severity,words", [
    ("OL TRIM", Severity.OK, "trimming high input voltage (TRIM)"),
    ("OL OVER", Severity.WARNING, "overloaded (OVER)"),
    ("OL BYPASS", Severity.WARNING, "on bypass"),
    ("OB LB FSD", Severity.CRITICAL, "forced shutdown in progress (FSD)"),
    ("OFF", Severity.CRITICAL, "output is off (OFF)"),
    ("OL LB", Severity.CRITICAL, "low battery (LB)"),
    ("WAIT", Severity.UNKNOWN, "power source unknown (neither OL nor OB); WAIT"),
    ("OL XYZ", Severity.OK, "on line power; XYZ"),
])
def test_status_flags(status, severity, words):
    found = by_check(run(dict(variables("healthy"), **{"ups.status": status})))["power"]
    assert found.severity == severity
    assert words in found.summary
    assert found.summary.endswith(f"(ups.status: {status})")


def test_alarm_names_the_ups_alarm_text():
    values = dict(variables("healthy"), **{"ups.status": "OL ALARM",
                                           "ups.alarm": "Internal failure"})
    found = by_check(run(values))["power"]
    assert (found.severity, found.summary) == (
        Severity.WARNING, "on line power; alarm: Internal failure (ups.status: OL ALARM)")


def test_no_status_is_unknown():
    values = variables("healthy")
    del values["ups.status"]
    found = by_check(run(values))
    assert found["power"].severity == Severity.UNKNOWN
    assert found["replace-battery"].severity == Severity.OK


def test_failure_findings():
    assert assess.not_configured().severity == Severity.OK
    assert "not configured" in assess.not_configured().summary
    missing = assess.not_installed(NAME)
    assert (missing.check, missing.severity) == ("connection", Severity.UNKNOWN)
    assert "install nut-client" in missing.summary
    stale = assess.connection_lost(NAME, "Data stale", upsc.meaning("Data stale"))
    assert (stale.severity, stale.value) == (Severity.CRITICAL, "Data stale")
    assert stale.summary == ("cannot read the UPS: Data stale; the driver has lost contact "
                             "with the UPS (cable, USB, or the UPS itself)")
    late = assess.timed_out(NAME, 10, "localhost")
    assert late.severity == Severity.CRITICAL
    assert late.summary.startswith("no answer from upsd at localhost within 10 s")


def test_metrics():
    text = render(metrics.build(NAME, run("on-battery").gauges))
    assert 'trainserver_ups_up{ups="ups@localhost"} 1\n' in text
    assert 'trainserver_ups_battery_charge_percent{ups="ups@localhost"} 70\n' in text
    assert 'trainserver_ups_runtime_seconds{ups="ups@localhost"} 480\n' in text
    assert 'trainserver_ups_on_battery{ups="ups@localhost"} 1\n' in text
    age = int(NOW - moment("2026-11-20"))
    assert f'trainserver_ups_self_test_age_seconds{{ups="ups@localhost"}} {age}\n' in text
    assert "# HELP trainserver_ups_runtime_seconds " in text
    lost = render(metrics.build(NAME, assess.Gauges(up=False)))
    assert 'trainserver_ups_up{ups="ups@localhost"} 0\n' in lost
    assert "trainserver_ups_battery_charge_percent{" not in lost
    assert "trainserver_ups_on_battery{" not in lost
