"""Scheduled jobs' records and the overdue check: a job skipped for any reason is caught."""

from trainserver.core import jobs
from trainserver.core.findings import Severity

HOUR = 3600
DAY = 86400
T0 = 1_800_000_000
LIMITS = {"backup": 26 * HOUR, "backup-verify": 35 * DAY, "smart": 26 * HOUR}


def assess(records, watched=None, now=T0, limits=LIMITS):
    selected = [jobs.JOBS[name] for name in limits]
    findings, watched = jobs.assess(selected, limits, records, watched or {}, now)
    return {f.subject: f for f in findings}, watched


def success(at, finished=None):
    return {"last_run": {"time": at, "finished": finished or at + 60, "status": 0, "ok": True},
            "last_success": {"time": at, "finished": finished or at + 60, "status": 0,
                             "ok": True}}


def test_recent_successes_are_ok():
    found, _ = assess({"backup": success(T0 - 3 * HOUR), "backup-verify": success(T0 - 20 * DAY),
                       "smart": success(T0 - HOUR)})
    assert {s: f.severity for s, f in found.items()} == {
        "backup": Severity.OK, "backup-verify": Severity.OK, "smart": Severity.OK}
    assert found["backup"].summary == "ts-backup run: last success 3 h ago"


def test_a_backup_older_than_26_hours_is_critical_and_others_warn():
    found, _ = assess({"backup": success(T0 - 27 * HOUR), "backup-verify": success(T0 - 36 * DAY),
                       "smart": success(T0 - 2 * DAY)})
    assert found["backup"].severity == Severity.CRITICAL
    assert "last success 27 h ago" in found["backup"].summary
    assert found["backup-verify"].severity == Severity.WARNING
    assert found["smart"].severity == Severity.WARNING


def test_the_age_counts_from_the_end_of_a_long_run():
    """A backup that ran three hours yesterday is not three hours older than it is."""
    found, _ = assess({"backup": success(T0 - 28 * HOUR, finished=T0 - 25 * HOUR)})
    assert found["backup"].severity == Severity.OK


def test_a_failed_last_run_is_said():
    record = success(T0 - 30 * HOUR)
    record["last_run"] = {"time": T0 - 6 * HOUR, "finished": T0 - 6 * HOUR, "status": 2,
                          "ok": False}
    found, _ = assess({"backup": record})
    assert found["backup"].severity == Severity.CRITICAL
    assert "failed (exit 2)" in found["backup"].summary


def test_a_job_never_seen_to_succeed_is_watched_then_reported_one_period_later():
    found, watched = assess({})
    assert found["backup"].severity == Severity.OK
    assert "no success on record yet" in found["backup"].summary
    assert watched["backup"] == T0
    found, watched = assess({}, watched, now=T0 + 25 * HOUR)
    assert found["backup"].severity == Severity.OK
    found, watched = assess({}, watched, now=T0 + 27 * HOUR)
    assert found["backup"].severity == Severity.CRITICAL
    assert "has not succeeded in the 27 h since" in found["backup"].summary
    assert "ts-backup.timer" in found["backup"].summary
    assert watched["backup"] == T0  # still watched from the first look
    found, watched = assess({"backup": success(T0 + 27 * HOUR)}, watched, now=T0 + 28 * HOUR)
    assert found["backup"].severity == Severity.OK and "backup" not in watched


def test_a_limit_of_zero_turns_a_job_off():
    found, _ = assess({}, limits={"backup": 0})
    assert found["backup"].severity == Severity.OK
    assert "not checked" in found["backup"].summary


def test_records_keep_the_last_success_through_failures(tmp_path):
    state = str(tmp_path)
    jobs.record(state, "backup", 0, T0, T0 + 10)
    jobs.record(state, "backup", 2, T0 + DAY, T0 + DAY + 10)
    document = jobs.load(state, "backup")
    assert document["last_run"]["ok"] is False and document["last_run"]["status"] == 2
    assert document["last_success"]["time"] == T0


def test_what_counts_as_success():
    assert jobs.succeeded("backup", 1) and not jobs.succeeded("backup", 2)
    assert jobs.succeeded("smart", 3) and not jobs.succeeded("smart", 75)
    assert jobs.succeeded("backup-verify", 2) and not jobs.succeeded("backup-verify", 3)


def test_every_job_names_a_limit_in_the_config_schema():
    from trainserver.core.schema import SCHEMA

    for job in jobs.JOBS.values():
        table, key = job.limit
        assert SCHEMA["properties"][table]["properties"][key]["format"] == "duration", job


def test_ages_read_as_people_say_them():
    assert jobs.age_text(40 * 60) == "40 min"
    assert jobs.age_text(27 * HOUR) == "27 h"
    assert jobs.age_text(40 * DAY - 60) == "40 days"
    assert jobs.age_text(3 * DAY + 4 * HOUR + 100) == "3 days 4 h"
