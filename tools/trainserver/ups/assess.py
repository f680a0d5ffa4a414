"""The rules of ts-ups check: NUT's variables in, findings, the new state and gauges out. Pure.

Findings (tool "ups", subject: the UPS's name as configured):
- connection: upsc answered (ok), or NUT's own error (critical), or upsc is missing (unknown);
- charge: battery.charge against [ups] charge_warning_percent and charge_critical_percent;
- runtime: battery.runtime (seconds) against runtime_warning and runtime_critical;
- power: the power source from ups.status: OL on line power (ok), OB on battery (warning, with
  the runtime left), LB low battery (critical), FSD and OFF (critical), OVER, BYPASS and
  ALARM (warning); the other flags (CHRG, DISCHRG, TRIM, BOOST, CAL, HB...) are named;
- replace-battery: the RB flag (critical while the UPS asks for a new battery);
- self-test: ups.test.result and its date. A failed test is critical; a test with a warning,
  an aborted test, no test at all, or a test older than [ups] self_test_max_age is a warning.

A variable the UPS does not report at all is said at ok (not every UPS measures its runtime);
a value that is there but cannot be read is unknown.

The self-test's date is ups.test.date where the UPS gives one. Many UPSes do not: then the
date is when ts-ups saw ups.test.result change (kept in the state file), or, before any change
was seen, when ts-ups first saw that result, which makes the test look younger than it is at
most until the first change. A repeated test with the same result is only seen as a change if
a check runs while it is in progress; the summary always says where the date comes from.
"""

import datetime as dt
import re
from dataclasses import dataclass

from trainserver.core.findings import Finding, Severity, rank
from trainserver.ups import TOOL


@dataclass(frozen=True)
class Limits:
    charge_warning: float
    charge_critical: float
    runtime_warning: float
    runtime_critical: float
    self_test_max_age: float

    @classmethod
    def from_config(cls, table):
        return cls(table["charge_warning_percent"], table["charge_critical_percent"],
                   table["runtime_warning"], table["runtime_critical"],
                   table["self_test_max_age"])


@dataclass
class Gauges:
    """What the metrics say about one UPS; None: not known."""
    up: bool
    charge: float = None
    runtime: float = None
    on_battery: bool = None
    self_test_age: float = None


@dataclass
class Assessment:
    findings: list
    state: dict
    gauges: Gauges


def _finding(check, subject, severity, summary, value=None, threshold=None):
    return Finding(TOOL, check, subject, severity, summary, value, threshold)


def _day(epoch):
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d")


def duration_text(seconds):
    """A runtime or an age as people say it: 45 s, 8 min, 1 h 5 min, 40 days."""
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 600:  # a short runtime left is said to the second: it is what matters then
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    if seconds < 2 * 86400:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{seconds / 86400:.0f} days"


def _number(text):
    """A NUT number ("100", "97.5", "3600.00"): int when whole; None when it is not a number."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return int(value) if value.is_integer() else value


def not_configured():
    """The one finding when [ups] name is empty: ok, so ts-doctor says SKIP, not FAIL."""
    return _finding("connection", "ups", Severity.OK,
                    "no UPS configured ([ups] name is empty): not configured, nothing checked")


def not_installed(name):
    return _finding("connection", name, Severity.UNKNOWN,
                    "upsc is not installed, so the UPS cannot be read: install nut-client "
                    "(apt-get install nut-client)")


def timed_out(name, timeout, host):
    return _finding("connection", name, Severity.CRITICAL,
                    f"no answer from upsd at {host} within {duration_text(timeout)} "
                    "(upsc timed out): the UPS's state is unknown",
                    threshold=timeout)


def connection_lost(name, nut_words, meaning):
    """upsc failed: NUT's own words first, then what they mean."""
    words = nut_words or "upsc failed without saying why"
    summary = f"cannot read the UPS: {words}"
    if meaning:
        summary += f"; {meaning}"
    return _finding("connection", name, Severity.CRITICAL, summary, value=words)


def _below(check, name, variables, key, label, warning, critical, show):
    """(finding, value) for a variable that is bad when low: `show` formats a value."""
    text = variables.get(key)
    if text is None:
        return _finding(check, name, Severity.OK,
                        f"{label} not reported by the UPS (no {key})"), None
    value = _number(text)
    if value is None:
        return _finding(check, name, Severity.UNKNOWN,
                        f"{label} cannot be read: {key} is {text!r}"), None
    bounds = f"warning below {show(warning)}, critical below {show(critical)}"
    if value < critical:
        severity, threshold = Severity.CRITICAL, critical
    elif value < warning:
        severity, threshold = Severity.WARNING, warning
    else:
        severity, threshold = Severity.OK, warning
    return _finding(check, name, severity, f"{label} {show(value)} ({bounds})", value,
                    threshold), value


def _charge(name, variables, limits):
    return _below("charge", name, variables, "battery.charge", "battery charge",
                  limits.charge_warning, limits.charge_critical, lambda value: f"{value}%")


def _runtime(name, variables, limits):
    return _below("runtime", name, variables, "battery.runtime", "runtime left",
                  limits.runtime_warning, limits.runtime_critical, duration_text)


# ups.status flags (NUT's docs/new-drivers.txt) other than OL, OB, LB and RB, which have rules
# of their own: (severity, words). A flag not listed is named as it is.
FLAGS = {
    "FSD": (Severity.CRITICAL, "forced shutdown in progress (FSD)"),
    "OFF": (Severity.CRITICAL, "the UPS's output is off (OFF)"),
    "OVER": (Severity.WARNING, "overloaded (OVER)"),
    "BYPASS": (Severity.WARNING, "on bypass, the load is not protected (BYPASS)"),
    "ALARM": (Severity.WARNING, "alarm (ALARM)"),
    "CHRG": (Severity.OK, "charging"),
    "DISCHRG": (Severity.OK, "discharging"),
    "TRIM": (Severity.OK, "trimming high input voltage (TRIM)"),
    "BOOST": (Severity.OK, "boosting low input voltage (BOOST)"),
    "CAL": (Severity.OK, "calibrating the runtime (CAL)"),
    "HB": (Severity.OK, "high battery (HB)"),
    "TEST": (Severity.OK, "self-test running (TEST)"),
}


def _power(name, variables, runtime, charge):
    status = variables.get("ups.status")
    if not status:
        return _finding("power", name, Severity.UNKNOWN,
                        "power source unknown: the UPS reports no ups.status"), None
    flags = status.split()
    left = []
    if runtime is not None:
        left.append(f"runtime left {duration_text(runtime)}")
    if charge is not None:
        left.append(f"charge {charge}%")
    left_text = f" ({', '.join(left)})" if left else ""
    parts, severity = [], Severity.OK
    on_battery = "OB" in flags
    if on_battery and "LB" in flags:
        severity = Severity.CRITICAL
        parts.append(f"on battery with LOW BATTERY{left_text}: NUT's upsmon shuts the server "
                     "down now")
    elif on_battery:
        severity = Severity.WARNING
        parts.append(f"on battery, mains power lost{left_text}")
    elif "OL" in flags:
        parts.append("on line power")
        if "LB" in flags:
            severity = Severity.CRITICAL
            parts.append(f"low battery (LB){left_text}: another outage now would not be "
                         "bridged")
    else:
        severity = Severity.UNKNOWN
        parts.append("power source unknown (neither OL nor OB)")
    if "ALARM" in flags and variables.get("ups.alarm"):
        extra = dict(FLAGS, ALARM=(Severity.WARNING, f"alarm: {variables['ups.alarm']}"))
    else:
        extra = FLAGS
    for flag in flags:
        if flag in ("OL", "OB", "LB", "RB"):
            continue
        flag_severity, words = extra.get(flag, (Severity.OK, flag))
        parts.append(words)
        if rank(flag_severity) > rank(severity):
            severity = flag_severity
    return _finding("power", name, severity, f"{'; '.join(parts)} (ups.status: {status})",
                    status), on_battery


def _replace_battery(name, variables):
    flags = (variables.get("ups.status") or "").split()
    if "RB" in flags:
        return _finding("replace-battery", name, Severity.CRITICAL,
                        "the UPS asks for its battery to be replaced (RB): the next outage "
                        "may not be bridged", "RB")
    return _finding("replace-battery", name, Severity.OK,
                    "the UPS does not ask for a new battery (no RB in ups.status)")


# ups.test.result texts: NUT's usbhid-ups and nutdrv_qx words first ("Done and passed",
# "Done and warning", "Done and error", "Aborted", "In progress", "No test initiated",
# "Test scheduled"), then the shorter words other drivers use. Matched on words, in this
# order, so "No test initiated" is never read as "initiated".
_RESULTS = (
    ("none", re.compile(r"\bno test\b|\bnot? (initiated|tested|performed)\b|^none$|^$", re.I)),
    ("running", re.compile(r"\bin progress\b|\bscheduled\b|\brunning\b", re.I)),
    ("failed", re.compile(r"\berror\b|\bfail|\bbad\b|\breplace\b|\bdead\b", re.I)),
    ("aborted", re.compile(r"\babort|\bcancel|\binterrupt", re.I)),
    ("warning", re.compile(r"\bwarning\b", re.I)),
    ("passed", re.compile(r"\bpass|^ok$|\bgood\b|\bsuccess", re.I)),
)


def classify_result(text):
    """passed, warning, failed, aborted, running, none (never tested) or unknown."""
    text = (text or "").strip()
    for kind, pattern in _RESULTS:
        if pattern.search(text):
            return kind
    return "unknown"


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S",
                 "%Y-%m-%dT%H:%M:%S", "%m/%d/%Y", "%m/%d/%y", "%d/%m/%Y", "%d/%m/%y",
                 "%d.%m.%Y", "%Y%m%d")


def parse_test_date(text):
    """ups.test.date (an opaque string in NUT) as an epoch at 00:00 UTC, or None.

    ISO dates first; then MM/DD/YYYY, APC's order, and DD/MM/YYYY only where the first number
    cannot be a month."""
    text = (text or "").strip()
    for pattern in _DATE_FORMATS:
        try:
            moment = dt.datetime.strptime(text, pattern)
        except ValueError:
            continue
        return moment.replace(tzinfo=dt.timezone.utc).timestamp()
    return None


def _remember(previous, result, now):
    """The state of one UPS's self-test result after this run (a new dict)."""
    previous = previous if isinstance(previous, dict) else {}
    if result is None:
        return dict(previous)
    if previous.get("result") == result and isinstance(previous.get("first_seen"),
                                                       (int, float)):
        return dict(previous)
    if "result" in previous:
        return {"result": result, "first_seen": now, "changed": now}
    return {"result": result, "first_seen": now, "changed": None}


def _test_date(variables, remembered):
    """(epoch or None, where the date comes from)."""
    given = variables.get("ups.test.date")
    note = ""
    if given:
        epoch = parse_test_date(given)
        if epoch is not None:
            return epoch, f"ups.test.date {given}"
        note = f"ups.test.date {given!r} is not a date; "
    if isinstance(remembered.get("changed"), (int, float)):
        return remembered["changed"], note + "when ts-ups saw the result change"
    if isinstance(remembered.get("first_seen"), (int, float)):
        return (remembered["first_seen"],
                note + "when ts-ups first saw this result; the UPS gives no test date, so the "
                       "test may be older")
    return None, note + "no date"


def _self_test(name, variables, remembered, limits, now):
    """(finding, age in seconds or None)."""
    result = variables.get("ups.test.result")
    kind = classify_result(result) if result is not None else "none"
    epoch, source = _test_date(variables, remembered)
    age = None if epoch is None else max(0, round(now - epoch))
    max_days = round(limits.self_test_max_age / 86400, 1)
    age_days = None if age is None else round(age / 86400, 1)
    when = "" if epoch is None else f" on {_day(epoch)}, {duration_text(age)} ago"
    quoted = f"{result!r}" if result is not None else "no ups.test.result"
    start = f"upscmd {name} test.battery.start.quick"
    if kind == "none":
        return _finding("self-test", name, Severity.WARNING,
                        f"no self-test recorded ({quoted}): run one ({start}, or the UPS's "
                        "test button)", age_days, max_days), None
    if kind == "failed":
        return _finding("self-test", name, Severity.CRITICAL,
                        f"the last self-test FAILED: {quoted}{when} (date: {source}); the "
                        "battery may not bridge an outage", age_days, max_days), age
    if kind == "unknown":
        return _finding("self-test", name, Severity.UNKNOWN,
                        f"the last self-test's result is not understood: {quoted}{when} "
                        f"(date: {source})", age_days, max_days), age
    if kind == "running":
        return _finding("self-test", name, Severity.OK,
                        f"a self-test is in progress or scheduled: {quoted}", age_days,
                        max_days), age
    if kind in ("warning", "aborted"):
        words = "ended with a warning" if kind == "warning" else "was aborted"
        return _finding("self-test", name, Severity.WARNING,
                        f"the last self-test {words}: {quoted}{when} (date: {source})",
                        age_days, max_days), age
    if age is None:
        return _finding("self-test", name, Severity.WARNING,
                        f"the last self-test passed ({quoted}) but its date is unknown "
                        f"(date: {source})", None, max_days), None
    if age > limits.self_test_max_age:
        return _finding("self-test", name, Severity.WARNING,
                        f"the last self-test passed{when}, longer ago than "
                        f"{duration_text(limits.self_test_max_age)} (date: {source}): run "
                        f"one ({start})", age_days, max_days), age
    return _finding("self-test", name, Severity.OK,
                    f"the last self-test passed{when} (date: {source})", age_days,
                    max_days), age


def _describe(variables):
    model = " ".join(v for v in (variables.get("ups.mfr") or variables.get("device.mfr"),
                                 variables.get("ups.model") or variables.get("device.model"))
                     if v)
    driver = variables.get("driver.name")
    parts = [p for p in (model, f"driver {driver}" if driver else "") if p]
    return f" ({', '.join(parts)})" if parts else ""


def assess(name, variables, limits, state, now):
    """Findings for UPS `name` from upsc's variables; `state`: the tool's state document."""
    state = state if isinstance(state, dict) else {}
    tests = state.get("self_test") if isinstance(state.get("self_test"), dict) else {}
    remembered = _remember(tests.get(name), variables.get("ups.test.result"), now)
    connection = _finding("connection", name, Severity.OK,
                          f"upsc read {len(variables)} variables{_describe(variables)}",
                          len(variables))
    charge_finding, charge = _charge(name, variables, limits)
    runtime_finding, runtime = _runtime(name, variables, limits)
    power_finding, on_battery = _power(name, variables, runtime, charge)
    test_finding, age = _self_test(name, variables, remembered, limits, now)
    findings = [connection, charge_finding, runtime_finding, power_finding,
                _replace_battery(name, variables), test_finding]
    new_state = dict(state, self_test=dict(tests, **{name: remembered}))
    return Assessment(findings, new_state,
                      Gauges(True, charge, runtime, on_battery, age))
