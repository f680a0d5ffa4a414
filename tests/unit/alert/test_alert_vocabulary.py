"""ts-alert speaks as the other tools do: --now is an ISO time, ack and unack have --dry-run,
and open problems kept under a program name ("ts-backup") move to the tool's one name."""

import json

from .conftest import finding, moment, state_of

T0 = 1_800_000_000


def test_now_is_an_iso_time(alert, alert_env):
    assert alert("send", input=finding() + "\n", now=T0).returncode == 0
    assert moment(T0) == "2027-01-15T08:00:00+00:00"
    (record,) = state_of(alert_env)["open"].values()
    assert record["since"] == T0


def test_now_as_unix_seconds_is_a_usage_error(alert, alert_env):
    result = alert("send", "--now", str(T0), input=finding() + "\n")
    assert result.returncode == 3, result.stderr
    assert "--now" in result.stderr and "not an ISO 8601 time: '1800000000'" in result.stderr
    assert not alert_env["state"].exists()


def test_ack_dry_run_changes_nothing_and_sends_nothing(alert, alert_env, bot):
    alert("send", input=finding(severity="warning") + "\n", now=T0)
    before = state_of(alert_env)
    sent = len(bot.delivered)
    result = alert("ack", "smart", "realloc", "disk A", "--dry-run", now=T0 + 60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "would acknowledge smart/realloc disk A\n"
    assert state_of(alert_env) == before and len(bot.delivered) == sent
    # Still a usage error when the problem is not open, as without --dry-run.
    assert alert("ack", "smart", "realloc", "disk Z", "-n", now=T0 + 60).returncode == 3
    assert alert("ack", "smart", "realloc", "disk A", now=T0 + 120).returncode == 0
    assert "ack" in next(iter(state_of(alert_env)["open"].values()))


def test_unack_dry_run_keeps_the_acknowledgement(alert, alert_env, bot):
    alert("send", input=finding(severity="warning") + "\n", now=T0)
    alert("ack", "smart", "realloc", "disk A", now=T0 + 60)
    sent = len(bot.delivered)
    result = alert("unack", "smart", "realloc", "disk A", "--dry-run", now=T0 + 120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "would not be acknowledged: smart/realloc disk A\n"
    assert "ack" in next(iter(state_of(alert_env)["open"].values()))
    assert len(bot.delivered) == sent


def _old_state(alert_env, records):
    alert_env["state"].parent.mkdir(exist_ok=True)
    alert_env["state"].write_text(json.dumps({"version": 1, "queue": [], "open": {
        "\x1f".join((r["tool"], r["check"], r["subject"])): r for r in records}}))


def _record(tool, severity="critical", ack=None):
    record = {"tool": tool, "check": "backup", "subject": "rclone:b2:bucket",
              "severity": severity, "summary": "restic failed", "value": None, "since": T0,
              "last_sent": T0, "reminders": 0}
    if ack:
        record["ack"] = {"severity": severity, "time": T0 + 10, "comment": "on it",
                         "until": None}
    return record


def test_a_problem_open_under_the_program_name_is_carried_over(alert, alert_env, bot):
    """An install that kept "ts-backup" problems: the same problem found again under "backup"
    is neither announced as new nor does the old one stay open for ever; its
    acknowledgement holds, and the resolved notice closes it."""
    _old_state(alert_env, [_record("ts-backup", ack=True)])
    status = alert("status", "--json")
    assert status.returncode == 0, status.stderr
    (shown,) = json.loads(status.stdout)["open"]
    assert shown["tool"] == "backup" and shown["ack"]["comment"] == "on it"
    # Logged by trainserver.alert.sink: a module's own logger reaches the one handler.
    assert "ts-alert: alert state: open problem ts-backup/backup rclone:b2:bucket is now " \
           "under backup" in status.stderr

    line = finding(tool="backup", check="backup", subject="rclone:b2:bucket",
                   summary="restic failed")
    assert alert("send", input=line + "\n", now=T0 + 3600).returncode == 0
    assert bot.delivered == []  # acknowledged and no worse: nothing to say
    (key,) = state_of(alert_env)["open"]
    assert key.split("\x1f")[0] == "backup"

    ok = finding(tool="backup", check="backup", subject="rclone:b2:bucket", severity="ok",
                 summary="backed up")
    assert alert("send", input=ok + "\n", now=T0 + 7200).returncode == 0
    assert state_of(alert_env)["open"] == {}
    assert len(bot.texts()) == 1 and "RESOLVED" in bot.texts()[0]


def test_when_both_names_are_open_the_short_one_is_kept(alert, alert_env):
    _old_state(alert_env, [_record("ts-backup", severity="warning"), _record("backup")])
    assert alert("send", input="", now=T0 + 60).returncode == 0
    (record,) = state_of(alert_env)["open"].values()
    assert record["tool"] == "backup" and record["severity"] == "critical"
