"""ts-alert as systemd runs it: real processes, a real HTTP server, the state file on disk."""

import json
import signal
import time

from .conftest import finding, moment, state_of

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
    assert result.returncode == 75  # EX_TEMPFAIL: kept for the next run
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
    process = start_tool("ts-alert", "--config", alert_env["config"], "send", "--now", moment(T0))
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
    assert run_tool("ts-alert", "--config", alert_env["config"], "send", "--now", moment(T0 + 60),
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
    assert "UNKNOWN</b> broken/run ts-broken" in text and "bad config" in text
    assert "exited 3 (unknown) without reporting a finding" in text
    check.write_text("#!/bin/sh\nexit 0\n")
    assert alert("pipe", "--", str(check), now=T0 + 60).returncode == 0
    assert "RESOLVED" in bot.texts()[1]


def test_test_message(alert, bot):
    result = alert("test")
    assert result.returncode == 0
    assert "test message" in bot.texts()[0]
    bot.script = [("401",)]
    result = alert("test")
    assert result.returncode == 2 and "HTTP 401" in result.stderr


def test_token_file_others_can_read_is_refused_and_nothing_is_lost(alert, alert_env, bot):
    token = alert_env["tmp"] / "secrets" / "telegram-token"
    token.chmod(0o644)
    result = alert("send", input=finding() + "\n", now=T0)
    # No run of ts-alert can deliver until the admin fixes it: not "try again later".
    assert result.returncode == 78 and "chmod 600" in result.stderr
    assert "alerts cannot be sent" in result.stderr
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


def test_pipe_alerts_a_command_that_failed_without_a_finding(alert, bot, tmp_path):
    """The bug of the first round: an action that exited 1 and said nothing read as ok."""
    check = tmp_path / "ts-backup"
    check.write_text("#!/bin/sh\necho 'ts-backup: error: /etc/trainserver/rclone.conf does not "
                     "exist' >&2\nexit 1\n")
    check.chmod(0o755)
    result = alert("pipe", "--", str(check), "run", "--json", now=T0)
    assert result.returncode == 2
    (text,) = bot.texts()
    assert "CRITICAL</b> backup/run ts-backup run: ts-backup run exited 1 (warning) without " \
           "reporting a finding" in text
    assert "rclone.conf does not exist" in text


def test_pipe_reports_a_crash_a_kill_and_a_missing_program(alert, bot, tmp_path):
    check = tmp_path / "ts-smart"
    check.write_text("#!/bin/sh\necho 'Traceback (most recent call last):' >&2\nexit 70\n")
    check.chmod(0o755)
    assert alert("pipe", "--", str(check), "check", now=T0).returncode == 2
    assert "exited 70 (internal error)" in bot.texts()[-1]
    check.write_text("#!/bin/sh\nkill -KILL $$\n")
    assert alert("pipe", "--", str(check), "check", now=T0 + 10).returncode == 2
    assert alert("status").stdout.count("was killed by SIGKILL") == 1
    assert alert("pipe", "--", str(tmp_path / "ts-gone"), "check", now=T0 + 20).returncode == 2
    assert "ts-gone check could not be started" in bot.texts()[-1]


def test_pipe_stops_a_command_at_its_timeout(alert, bot, tmp_path):
    check = tmp_path / "ts-slow"
    check.write_text("#!/bin/sh\nexec sleep 30\n")
    check.chmod(0o755)
    assert alert("pipe", "--timeout", "1s", "--", str(check), "check", now=T0).returncode == 2
    assert "ts-slow check timed out after 1 s and was stopped" in bot.texts()[-1]


def test_pipe_timeout_that_is_not_a_duration_is_a_usage_error(alert, tmp_path):
    result = alert("pipe", "--timeout", "1x", "--", "true")
    assert result.returncode == 3 and "Traceback" not in result.stderr


def test_pipe_takes_the_tools_own_failure_finding_and_resolves_it(alert, bot, tool_path,
                                                                   tmp_path):
    """ts-smart itself says why it could not run; when it runs again, pipe's ok resolves it."""
    config = tmp_path / "smart.toml"
    result = alert("pipe", "--", tool_path("ts-smart"), "--config", str(config), "check",
                   "--json", now=T0)
    assert result.returncode == 3
    (text,) = bot.texts()
    assert "UNKNOWN</b> smart/run ts-smart check: ts-smart check could not do its job: " \
           "config error" in text
    config.write_text(f'[paths]\nstate_dir = "{tmp_path}/s"\nlock_dir = "{tmp_path}/l"\n'
                      f'metrics_dir = "{tmp_path}/m"\n[smart]\ndevices = ["/dev/null"]\n')
    alert("pipe", "--", tool_path("ts-smart"), "--config", str(config), "check", "--json",
          now=T0 + 60)
    assert "RESOLVED</b> smart/run ts-smart check" in bot.texts()[-1]


def test_queue_only_leaves_delivery_to_flush_and_kicks_the_outbox(alert, alert_env, bot,
                                                                   tmp_path):
    check = tmp_path / "ts-fake"
    check.write_text(f"#!/bin/sh\necho '{finding()}'\nexit 2\n")
    check.chmod(0o755)
    outbox = alert_env["tmp"] / "state" / "alert-outbox"
    assert alert("pipe", "--queue-only", "--", str(check), "check", now=T0).returncode == 2
    assert bot.attempts == 0 and len(state_of(alert_env)["queue"]) == 1
    assert outbox.exists()
    outbox.unlink()
    # Nothing new to say: no kick, so no flush is started for nothing.
    assert alert("pipe", "--queue-only", "--", str(check), "check", now=T0 + 60).returncode == 2
    assert not outbox.exists()
    assert alert("flush", now=T0 + 120).returncode == 0
    assert len(bot.delivered) == 1 and state_of(alert_env)["queue"] == []
    assert alert("flush", now=T0 + 180).returncode == 0  # an empty queue: nothing to do


def test_flush_keeps_the_queue_when_telegram_is_down_or_refuses_the_token(alert, alert_env, bot):
    alert("pipe", "--queue-only", "--", "false", now=T0)
    bot.always = ("500",)
    assert alert("flush", now=T0 + 60).returncode == 75
    bot.always = ("401",)
    result = alert("flush", now=T0 + 120)
    assert result.returncode == 78 and "refuses the bot token" in result.stderr
    assert len(state_of(alert_env)["queue"]) == 1
    bot.always = None
    assert alert("flush", now=T0 + 180).returncode == 0 and len(bot.delivered) == 1


def test_a_broken_table_of_another_tool_does_not_stop_the_alerts(run_tool, alert_env, bot):
    config = alert_env["tmp"] / "trainserver.toml"
    config.write_text(config.read_text() + '\n[backup]\nkeep_daily = "seven"\n')
    result = run_tool("ts-alert", "--config", str(config), "send", input=finding() + "\n")
    assert result.returncode == 0 and len(bot.delivered) == 1
    assert "[backup] keep_daily" in result.stderr
    config.write_text(config.read_text() + "\n[smart\n")  # not TOML any more
    result = run_tool("ts-alert", "--config", str(config), "send",
                      input=finding(subject="disk B") + "\n")
    assert result.returncode == 0 and len(bot.delivered) == 2


def test_a_broken_alert_table_means_alerts_cannot_be_sent(run_tool, alert_env, bot):
    config = alert_env["tmp"] / "trainserver.toml"
    config.write_text(config.read_text().replace('give_up_after = "3s"',
                                                 'give_up_after = "soon"'))
    result = run_tool("ts-alert", "--config", str(config), "pipe", "--", "true")
    assert result.returncode == 78
    assert "alerts cannot be sent" in result.stderr and "[alert] give_up_after" in result.stderr


def test_ack_silences_reminders_until_worse_and_tells_the_chat(alert, alert_env, bot):
    alert("send", input=finding(severity="warning") + "\n", now=T0)
    result = alert("ack", "smart", "realloc", "disk A", "--comment", "spare ordered", now=T0 + 60)
    assert result.returncode == 0, result.stderr
    assert "ACKNOWLEDGED</b> smart/realloc disk A" in bot.texts()[-1]
    assert "spare ordered" in bot.texts()[-1]
    for day in (1, 3, 7, 14):
        alert("send", input=finding(severity="warning") + "\n", now=T0 + day * DAY)
    assert len(bot.delivered) == 2  # the problem and the acknowledgement, no reminder
    status = alert("status").stdout
    assert "open problems: 0" in status and "acknowledged: 1" in status
    assert "spare ordered" in status
    alert("send", input=finding(severity="critical") + "\n", now=T0 + 15 * DAY)
    assert "[worse, was warning; its acknowledgement is lifted]" in bot.texts()[-1]
    assert "open problems: 1" in alert("status").stdout


def test_ack_survives_in_the_state_file_and_unack_resumes(alert, alert_env, bot):
    alert("send", input=finding(severity="warning") + "\n", now=T0)
    alert("ack", "smart", "realloc", "disk A", now=T0 + 60)
    assert state_of(alert_env)["open"]["smart\x1frealloc\x1fdisk A"]["ack"]["severity"] == \
        "warning"
    assert alert("unack", "smart", "realloc", "disk A", now=T0 + 120).returncode == 0
    assert "ACKNOWLEDGEMENT REMOVED" in bot.texts()[-1]
    alert("send", input=finding(severity="warning") + "\n", now=T0 + DAY)
    assert "still open since" in bot.texts()[-1]


def test_ack_of_a_problem_that_is_not_open_lists_the_open_ones(alert):
    alert("send", input=finding() + "\n", now=T0)
    result = alert("ack", "smart", "realloc", "disk Z", now=T0)
    assert result.returncode == 3
    assert "no open problem" in result.stderr and "ts-alert ack smart realloc 'disk A'" in \
        result.stderr


def test_status_prints_the_ack_command_to_paste(alert):
    alert("send", input=finding(subject="WDC WD40 (serial X1)") + "\n", now=T0)
    assert "acknowledge: ts-alert ack smart realloc 'WDC WD40 (serial X1)'" in \
        alert("status").stdout


def test_unit_failed_says_how_the_unit_ended(alert, alert_env, run_tool, bot):
    result = run_tool("ts-alert", "--config", alert_env["config"], "unit-failed",
                      "ts-backup.service", env={"MONITOR_SERVICE_RESULT": "timeout",
                                                "MONITOR_EXIT_CODE": "killed",
                                                "MONITOR_EXIT_STATUS": "TERM"})
    assert result.returncode == 0, result.stderr
    assert "UNIT FAILED</b> ts-backup.service: result timeout, killed TERM\n" in bot.texts()[-1]


def test_overdue_reports_a_backup_that_stopped(alert, alert_env, tmp_path):
    from trainserver.core import jobs

    state = str(alert_env["tmp"] / "state")
    jobs.record(state, "backup", 0, T0 - 30 * 3600, T0 - 29 * 3600)
    result = alert("overdue", "--json", "--now", "2027-01-15T08:00:00Z")
    assert result.returncode == 2, result.stderr
    found = {json.loads(line)["subject"]: json.loads(line) for line in result.stdout.splitlines()}
    assert found["backup"]["severity"] == "critical"
    assert found["smart"]["severity"] == "ok"  # first look: watched from now on


def test_ack_for_that_is_not_a_duration_is_a_usage_error(alert):
    alert("send", input=finding() + "\n", now=T0)
    result = alert("ack", "smart", "realloc", "disk A", "--for", "a while", now=T0)
    assert result.returncode == 3 and "duration" in result.stderr
    assert "ack" not in state_of_open(alert)


def state_of_open(alert):
    return json.loads(alert("status", "--json").stdout)["open"][0]
