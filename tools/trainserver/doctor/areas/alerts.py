"""alerts: with --send-test, a real Telegram message through ts-alert test."""

from trainserver.doctor import tools
from trainserver.doctor.results import FAIL, PASS, SKIP, Result
from trainserver.doctor.runner import Probe, run_command

AREA = "alerts"


def telegram(ctx):
    if not ctx.send_test:
        return Result(AREA, "telegram", SKIP, "run with --send-test to send one")
    if not ctx.config["alert"]["telegram_chat_id"]:
        return Result(AREA, "telegram", SKIP, "alerts not configured ([alert] telegram_chat_id "
                      "is empty): they only reach the journal")
    path = tools.which(ctx, "ts-alert")
    if path is None:
        return Result(AREA, "telegram", SKIP, "ts-alert is not installed")
    completed = run_command(ctx, [path, "--config", ctx.config_path, "test"])
    if completed.returncode == 0:
        return Result(AREA, "telegram", PASS, "test message delivered")
    lines = (completed.stderr or completed.stdout).strip().splitlines()
    return Result(AREA, "telegram", FAIL, f"ts-alert test exit status {completed.returncode}: "
                  f"{lines[-1] if lines else 'no message'}")


def probes(config):
    return [Probe(AREA, "telegram", telegram, "ts-alert test")]
