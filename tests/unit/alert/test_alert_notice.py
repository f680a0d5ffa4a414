"""ts-alert notice: a one-off message (the monthly usage digest) through the same queue, with
no problem opened."""

from .conftest import state_of

T0 = 1_800_000_000


def test_notice_from_stdin_is_sent_once_and_opens_no_problem(alert, alert_env, bot):
    text = "Storage usage, May\nUSER  TOTAL\nalice <1 TB>\n"
    assert alert("notice", input=text, now=T0).returncode == 0
    (sent,) = bot.texts()
    assert "<b>Storage usage, May</b>" in sent
    assert "<pre>USER  TOTAL\nalice &lt;1 TB&gt;</pre>" in sent
    state = state_of(alert_env)
    assert state["open"] == {} and state["queue"] == []
    assert alert("flush", now=T0 + 60).returncode == 0
    assert len(bot.delivered) == 1  # no reminder, nothing left


def test_notice_runs_a_command_and_queues_only(alert, alert_env, bot, tmp_path):
    digest = tmp_path / "digest"
    digest.write_text("#!/bin/sh\necho 'Monthly table'\necho 'alice 1 TB'\n")
    digest.chmod(0o755)
    result = alert("notice", "--queue-only", "--", str(digest), now=T0)
    assert result.returncode == 0, result.stderr
    assert bot.attempts == 0 and len(state_of(alert_env)["queue"]) == 1
    assert (alert_env["tmp"] / "state" / "alert-outbox").exists()
    assert alert("flush", now=T0 + 1).returncode == 0
    assert "Monthly table" in bot.texts()[0] and "alice 1 TB" in bot.texts()[0]


def test_a_failing_command_sends_nothing_and_exits_2(alert, alert_env, bot, tmp_path):
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\necho half a table\necho walk failed >&2\nexit 3\n")
    broken.chmod(0o755)
    result = alert("notice", "--", str(broken), now=T0)
    assert result.returncode == 2
    assert "no notice sent" in result.stderr and "walk failed" in result.stderr
    assert bot.attempts == 0


def test_undelivered_notice_stays_queued(alert, alert_env, bot):
    bot.always = ("500",)
    assert alert("notice", "--title", "Usage", input="table\n", now=T0).returncode == 75
    assert len(state_of(alert_env)["queue"]) == 1
    bot.always = None
    assert alert("flush", now=T0 + 60).returncode == 0
    assert "<b>Usage</b>" in bot.texts()[0]


def test_empty_notice_is_a_usage_error(alert, bot):
    assert alert("notice", input="", now=T0).returncode == 3
    assert bot.attempts == 0
