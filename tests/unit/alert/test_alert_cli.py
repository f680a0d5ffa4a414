"""ts-alert as systemd runs it: real processes, a real HTTP server, the state file on disk."""

import json
import signal
import time

from .conftest import finding, state_of

DAY = 86400
T0 = 1_800_000_000


def test_new_problem_is_sent_once_then_reminded_then_resolved(alert, alert_env, bot):
    line = finding() + "\n"
    assert alert("send", input=line, now=T0).returncode == 0
    assert len(bot.delivered) == 1 and "CRITICAL" in bot.texts()[0]
    assert alert("send", input=line, now=T0 + 3600).returncode == 0
    assert len(bot.delivered) == 1  # unchanged: no message
    alert("send", input=line, now=T0 + DAY)
    assert len(bot.delivered) == 2 and "still open since" in bot.texts()[1]
    alert("send", input=line, now=T0 + 2 * DAY)
    assert len(bot.delivered) == 2  # the next reminder waits two days
    alert("send", input=finding(severity="ok", summary="fine") + "\n", now=T0 + 2 * DAY + 60)
    assert len(bot.delivered) == 3 and "RESOLVED" in bot.texts()[2]
    assert state_of(alert_env)["open"] == {}


def test_one_digest_per_run_with_every_change(alert, bot):
    lines = "".join(finding(subject=f"disk {n}") + "\n" for n in range(3))
    alert("send", input=lines, now=T0)
    (text,) = bot.texts()
    assert [f"disk {n}" in text for n in range(3)] == [True] * 3


def test_html_in_findings_is_escaped(alert, bot):
    alert("send", input=finding(subject="<script>", summary="a & b") + "\n", now=T0)
    (text,) = bot.texts()
    assert "&lt;script&gt;" in text and "a &amp; b" in text and "<script>" not in text


def test_failed_delivery_is_queued_and_sent_next_run(alert, alert_env, bot):
    bot.always = ("500",)
    result = alert("send", input=finding() + "\n", now=T0)
    assert result.returncode == 1
    assert "stay queued" in result.stderr
    assert len(state_of(alert_env)["queue"]) == 1
    status = alert("status", "--json")
    assert len(json.loads(status.stdout)["queue"]) == 1
    bot.always = None
    assert alert("send", input=finding(subject="disk B") + "\n", now=T0 + 60).returncode == 0
    texts = bot.texts()
    assert len(texts) == 2 and "disk A" in texts[0] and "disk B" in texts[1]  # oldest first
    assert state_of(alert_env)["queue"] == []


def test_queue_survives_a_crash_during_delivery(start_tool, run_tool, alert_env, bot):
    """ts-alert killed with SIGKILL while Telegram is answering slowly: the message waits."""
    bot.always = ("slow", 30)
    process = start_tool("ts-alert", "--config", alert_env["config"], "send", "--now", str(T0))
    try:
        process.stdin.write(finding() + "\n")
        process.stdin.close()
        deadline = time.monotonic() + 20
        while bot.attempts == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bot.attempts >= 1
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()
    assert len(state_of(alert_env)["queue"]) == 1
    bot.always = None
    assert run_tool("ts-alert", "--config", alert_env["config"], "send", "--now", str(T0 + 60),
                    input="").returncode == 0
    assert len(bot.texts()) == 1 and "disk A" in bot.texts()[0]


def test_long_digest_is_split_under_4096(alert, bot):
    lines = "".join(finding(subject=f"disk {n}", summary="s" * 300) + "\n" for n in range(40))
    assert alert("send", input=lines, now=T0).returncode == 0
    texts = bot.texts()
    assert len(texts) >= 4 and all(len(t) <= 4096 for t in texts)
    assert sum(t.count("disk ") for t in texts) == 40


def test_bad_input_lines_are_reported_and_the_rest_processed(alert, bot):
    result = alert("send", input="not json\n" + finding() + "\n{}\n", now=T0)
    assert result.returncode == 3
    assert "line 1: not JSON" in result.stderr and "line 3: missing" in result.stderr
    assert len(bot.delivered) == 1


def test_every_alert_is_written_to_the_journal(alert):
    result = alert("send", input=finding() + "\n", now=T0)
    assert "alert new: critical smart/realloc disk A: reallocated sectors" in result.stderr


def test_without_chat_id_alerts_go_to_the_journal_only(run_tool, alert_env, bot, tmp_path):
    config = tmp_path / "nochat.toml"
    config.write_text(open(alert_env["config"]).read().replace('telegram_chat_id = "-100123"', ""))
    result = run_tool("ts-alert", "--config", str(config), "send", input=finding() + "\n")
    assert result.returncode == 0
    assert "alert new: critical" in result.stderr
    assert bot.attempts == 0


def test_pipe_returns_the_checks_status_and_sends_its_findings(alert, bot, tmp_path):
    check = tmp_path / "ts-fake-check"
    check.write_text("#!/bin/sh\n"
                     f"echo '{finding(severity='warning')}'\n"
                     "echo 'check diagnostics' >&2\n"
                     "exit 1\n")
    check.chmod(0o755)
    result = alert("pipe", "--", str(check), now=T0)
    assert result.returncode == 1
    assert "check diagnostics" in result.stderr
    (text,) = bot.texts()
    assert "WARNING" in text and "disk A" in text


def test_pipe_turns_a_check_that_cannot_run_into_an_unknown_finding(alert, bot, tmp_path):
    check = tmp_path / "ts-broken"
    check.write_text("#!/bin/sh\necho 'ts-broken: error: bad config' >&2\nexit 3\n")
    check.chmod(0o755)
    assert alert("pipe", "--", str(check), now=T0).returncode == 3
    (text,) = bot.texts()
    assert "ts-broken/run" in text and "bad config" in text
    check.write_text("#!/bin/sh\nexit 0\n")
    assert alert("pipe", "--", str(check), now=T0 + 60).returncode == 0
    assert "RESOLVED" in bot.texts()[1]


def test_test_message(alert, bot):
    result = alert("test")
    assert result.returncode == 0
    assert "test message" in bot.texts()[0]
    bot.script = [("401",)]
    result = alert("test")
    assert result.returncode == 1 and "HTTP 401" in result.stderr


def test_token_file_others_can_read_is_refused_and_nothing_is_lost(alert, alert_env, bot):
    token = alert_env["tmp"] / "secrets" / "telegram-token"
    token.chmod(0o644)
    result = alert("send", input=finding() + "\n", now=T0)
    assert result.returncode == 1 and "chmod 600" in result.stderr
    assert len(state_of(alert_env)["queue"]) == 1
    token.chmod(0o600)
    alert("send", input="", now=T0 + 60)
    assert len(bot.delivered) == 1


def test_token_never_appears_in_logs(run_tool, alert_env, bot):
    bot.always = ("500",)
    result = run_tool("ts-alert", "-v", "--config", alert_env["config"], "send",
                      input=finding() + "\n")
    assert "POST /bot********/sendMessage" in result.stderr  # urllib3's debug line, masked
    assert "TEST-token" not in result.stderr


def test_unit_failed_sends_unit_name_and_journal_tail(alert, bot):
    result = alert("unit-failed", "ts-smart.service")
    assert result.returncode == 0, result.stderr
    (text,) = bot.texts()
    assert "UNIT FAILED</b> ts-smart.service" in text and "<pre>" in text


def test_status_lists_open_problems(alert):
    alert("send", input=finding() + "\n", now=T0)
    result = alert("status")
    assert "open problems: 1" in result.stdout
    assert "CRITICAL smart/realloc disk A" in result.stdout
