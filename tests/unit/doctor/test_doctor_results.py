"""Findings -> PASS/FAIL/SKIP, the exit status, and the two output shapes. Pure."""

import json

import pytest

from trainserver.core.findings import Finding, Severity
from trainserver.doctor import results
from trainserver.doctor.results import FAIL, PASS, SKIP, Result


def finding(severity, summary="disk fine", subject="sda"):
    return Finding("storage", "devices", subject, Severity(severity), summary)


def verdict(findings, returncode=0, stderr=""):
    return results.from_findings("storage", "health", findings, "ts-storage check", returncode,
                                 stderr)


def test_all_ok_is_a_pass_with_the_count():
    result = verdict([finding(0), finding(0, subject="sdb")])
    assert (result.status, result.reason) == (PASS, "all 2 findings ok")
    assert result.investigate == "ts-storage check"


def test_one_ok_finding_passes_with_its_own_summary():
    assert verdict([finding(0, "mounted from UUID x")]).reason == "mounted from UUID x"


@pytest.mark.parametrize("severity", [1, 2, 3])
def test_a_warning_critical_or_unknown_fails_naming_it(severity):
    result = verdict([finding(0), finding(severity, "scrub never run", "sdb")],
                     returncode=severity)
    assert result.status == FAIL
    assert result.reason == f"{Severity(severity).label}: scrub never run"


def test_the_worst_comes_first_and_long_lists_are_cut():
    found = [finding(1, f"warning {n}") for n in range(6)] + [finding(2, "critical one")]
    reason = verdict(found).reason
    assert reason.startswith("critical: critical one; warning: warning 0")
    assert reason.endswith("; and 2 more")


def test_a_single_not_configured_finding_is_a_skip_with_its_reason():
    result = verdict([finding(0, "not configured: [tunnel] enabled is false")])
    assert (result.status, result.reason) == (SKIP, "not configured: [tunnel] enabled is false")


def test_not_configured_among_other_findings_is_not_a_skip():
    assert verdict([finding(0, "not configured"), finding(0)]).status == PASS
    # a problem is never hidden behind a "not configured" word
    assert verdict([finding(2, "x is not configured but should be")]).status == FAIL


def test_no_findings_pass_only_with_exit_status_0():
    assert verdict([]).status == PASS
    failed = verdict([], returncode=70, stderr="trace\ninternal error: boom\n")
    assert failed.status == FAIL
    assert failed.reason == "exit status 70, no findings: internal error: boom"


def test_exit_status_is_2_when_anything_failed_else_0():
    passed = Result("a", "x", PASS, "fine")
    skipped = Result("a", "y", SKIP, "absent")
    failed = Result("a", "z", FAIL, "broken")
    assert results.exit_status([passed, skipped]) == 0
    assert results.exit_status([]) == 0
    assert results.exit_status([passed, failed, skipped]) == 2


def test_a_result_refuses_an_unknown_status():
    with pytest.raises(ValueError):
        Result("a", "x", "OK", "fine")


def test_json_is_one_object_a_line_then_the_total():
    found = [Result("storage", "health", PASS, "fine", "ts-storage check", 0.12345),
             Result("gpu", "nvidia-smi", SKIP, "no NVIDIA driver", "nvidia-smi", 0.0),
             Result("network", "internet", FAIL, "refused", "nc -vz h 1", 1.5)]
    lines = results.render_json(found, 2.5).splitlines()
    assert len(lines) == 4
    items = [json.loads(line) for line in lines[:3]]
    for item in items:
        assert list(item) == ["area", "item", "status", "reason", "investigate", "seconds"]
    assert items[0]["seconds"] == 0.123
    assert json.loads(lines[3]) == {"total_seconds": 2.5, "pass": 1, "fail": 1, "skip": 1}


def test_table_shows_investigate_for_what_did_not_pass_and_the_total():
    found = [Result("storage", "health", PASS, "fine", "ts-storage check", 0.2),
             Result("network", "internet", FAIL, "refused", "nc -vz h 1", 1.5)]
    text = results.render_table(found, 1.75)
    lines = text.splitlines()
    assert lines[0].split() == ["AREA", "ITEM", "STATUS", "SECONDS", "REASON"]
    assert "ts-storage check" not in lines[1]
    assert lines[2].endswith("refused (investigate: nc -vz h 1)")
    assert lines[-1] == "1 passed, 1 failed, 0 skipped in 1.8 s"
