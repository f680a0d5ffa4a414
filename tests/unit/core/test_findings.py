"""trainserver.core.findings: severities, JSON lines and the table for people."""

import io
import json

import pytest

from trainserver.core.findings import (
    FIELDS, Finding, FindingsError, Severity, exit_status, parse_line, read_jsonl, render_table,
    worst, write_jsonl,
)

T = "2024-01-02T03:04:05Z"


def finding(subject="sda", severity="ok", check="smart", summary="fine", **extra):
    return Finding(tool="ts-disk", check=check, subject=subject, severity=severity,
                   summary=summary, time=T, **extra)


# --- severities --------------------------------------------------------------------------------

def test_severity_values_are_monitoring_plugin_exit_statuses():
    assert [int(s) for s in (Severity.OK, Severity.WARNING, Severity.CRITICAL, Severity.UNKNOWN)] \
        == [0, 1, 2, 3]
    assert Severity.CRITICAL.label == "critical"


@pytest.mark.parametrize("text, expected", [
    ("ok", Severity.OK), ("WARNING", Severity.WARNING), ("Critical", Severity.CRITICAL),
    ("unknown", Severity.UNKNOWN),
])
def test_severity_parse(text, expected):
    assert Severity.parse(text) is expected


@pytest.mark.parametrize("text", ["bad", "", "2", None])
def test_severity_parse_refuses(text):
    with pytest.raises(ValueError, match="ok, warning, critical or unknown"):
        Severity.parse(text)


def test_finding_parses_a_severity_label():
    assert finding(severity="warning").severity is Severity.WARNING


@pytest.mark.parametrize("severities, expected", [
    ([Severity.CRITICAL, Severity.UNKNOWN], Severity.CRITICAL),
    ([Severity.UNKNOWN, Severity.CRITICAL], Severity.CRITICAL),
    ([Severity.OK, Severity.UNKNOWN], Severity.UNKNOWN),
    ([Severity.UNKNOWN, Severity.WARNING], Severity.WARNING),
    ([Severity.WARNING, Severity.UNKNOWN, Severity.OK], Severity.WARNING),
    ([Severity.OK, Severity.OK], Severity.OK),
    ([], Severity.OK),
])
def test_worst_order(severities, expected):
    assert worst(severities) is expected


def test_exit_status_is_the_worst_severity_value():
    assert exit_status([finding(severity="critical"), finding(severity="unknown")]) == 2
    assert exit_status([finding(severity="warning"), finding(severity="unknown")]) == 1
    assert exit_status([finding(severity="ok"), finding(severity="unknown")]) == 3
    assert exit_status([finding(severity="ok")]) == 0
    assert exit_status([]) == 0


def test_key_identifies_a_problem():
    assert finding(subject="sdb").key == ("ts-disk", "smart", "sdb")


# --- JSON lines --------------------------------------------------------------------------------

def test_jsonl_round_trip():
    findings = [
        finding("sda", "ok"),
        finding("sdb", "critical", summary="3 reallocated sectors – replace", value=3, threshold=0),
        finding("/srv", "warning", check="space", summary="91.5 % full", value=91.5,
                threshold={"warn": 90}),
    ]
    stream = io.StringIO()
    write_jsonl(findings, stream)
    text = stream.getvalue()
    assert text.count("\n") == 3
    first = json.loads(text.splitlines()[1])
    assert list(first) == list(FIELDS)
    assert first["severity"] == "critical"
    assert "–" in text  # not escaped: ensure_ascii=False

    stream.seek(0)
    assert list(read_jsonl(stream)) == findings


def test_read_skips_blank_lines():
    line = finding().to_json()
    stream = io.StringIO(f"\n{line}\n   \n\t\n{line}\n\n")
    assert list(read_jsonl(stream)) == [finding(), finding()]


def test_time_defaults_to_now_in_utc():
    made = Finding("ts-x", "c", "s", "ok", "fine")
    assert len(made.time) == 20 and made.time.endswith("Z") and made.time[10] == "T"


def _error_for(bad_line, position=3):
    good = finding().to_json()
    lines = [good, ""] + [good] * (position - 3) + [bad_line, good]
    with pytest.raises(FindingsError) as info:
        list(read_jsonl(io.StringIO("\n".join(lines) + "\n")))
    return str(info.value)


def test_non_json_line_is_reported_with_its_number():
    message = _error_for("{not json", position=3)
    assert message.startswith("line 3: not JSON")


def test_missing_fields_are_named():
    record = json.loads(finding().to_json())
    del record["subject"], record["summary"]
    message = _error_for(json.dumps(record), position=4)
    assert message == "line 4: missing subject, summary"


def test_unknown_field_is_named():
    record = json.loads(finding().to_json())
    record["colour"] = "red"
    assert _error_for(json.dumps(record)) == "line 3: unknown fields colour"


@pytest.mark.parametrize("severity", ["bad", 2, None])
def test_bad_severity(severity):
    record = json.loads(finding().to_json())
    record["severity"] = severity
    message = _error_for(json.dumps(record), position=5)
    assert message.startswith("line 5: severity must be ok, warning, critical or unknown")


@pytest.mark.parametrize("value", ["[1, 2]", '"text"', "42", "null"])
def test_non_object(value):
    assert _error_for(value) == "line 3: expected a JSON object"


def test_parse_line_without_a_number():
    with pytest.raises(FindingsError, match="^line 0: "):
        parse_line("nope")


def test_findings_error_is_a_value_error():
    assert issubclass(FindingsError, ValueError)


# --- the table ---------------------------------------------------------------------------------

def test_render_table_worst_first_and_aligned():
    findings = [
        finding("sda", "ok", summary="healthy", value=0),
        finding("/srv/very/long/subject", "unknown", check="space", summary="statvfs failed"),
        finding("sdb", "critical", check="smart-selftest", summary="failing", value=12),
        finding("x", "warning", summary="hot", value=61.5),
    ]
    lines = render_table(findings).splitlines()
    assert lines[0].split() == ["SEVERITY", "CHECK", "SUBJECT", "VALUE", "SUMMARY"]
    assert [line.split()[0] for line in lines[1:]] == ["CRITICAL", "WARNING", "UNKNOWN", "OK"]

    subjects = ["SUBJECT", "sdb", "x", "/srv/very/long/subject", "sda"]
    offsets = {line.index(" " + subject) + 1 for line, subject in zip(lines, subjects)}
    assert len(offsets) == 1
    summaries = ["SUMMARY", "failing", "hot", "statvfs failed", "healthy"]
    assert len({line.index(summary) for line, summary in zip(lines, summaries)}) == 1

    assert "ts-disk/smart-selftest" in lines[1]
    assert lines[3].split()[3] == "-"  # no value
    assert all(line == line.rstrip() for line in lines)


def test_render_table_of_nothing_is_a_header():
    assert render_table([]) == "SEVERITY  CHECK  SUBJECT  VALUE  SUMMARY\n"


def test_read_jsonl_can_collect_bad_lines_and_keep_the_good_ones():
    import io

    from trainserver.core.findings import FindingsError, read_jsonl

    good = ('{"tool": "t", "check": "c", "subject": "s", "severity": "ok", "summary": "x"}')
    errors = []
    found = list(read_jsonl(io.StringIO(f"nope\n{good}\n\n[]\n"), errors))
    assert [f.subject for f in found] == ["s"]
    assert [str(e) for e in errors] == ["line 1: not JSON: Expecting value",
                                         "line 4: expected a JSON object"]
    assert all(isinstance(e, FindingsError) for e in errors)
