import datetime as dt
import json
import os

import pytest

from tests.bot_api import TOKEN, BotServer


@pytest.fixture
def bot():
    with BotServer() as server:
        yield server


@pytest.fixture
def alert_env(tmp_path, bot):
    """A config pointing ts-alert at the test server, with its own state, lock and secrets."""
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    token = secrets / "telegram-token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    config = tmp_path / "trainserver.toml"
    config.write_text(
        "[paths]\n"
        f'state_dir = "{tmp_path}/state"\n'
        f'lock_dir = "{tmp_path}/lock"\n'
        f'metrics_dir = "{tmp_path}/metrics"\n'
        "[alert]\n"
        'telegram_chat_id = "-100123"\n'
        f'telegram_token_file = "{token}"\n'
        f'telegram_api_url = "{bot.url}"\n'
        'give_up_after = "3s"\n'
    )
    return {"config": str(config), "state": tmp_path / "state" / "alert.json", "tmp": tmp_path}


def finding(subject="disk A", severity="critical", summary="reallocated sectors", check="realloc",
            tool="smart", value=None):
    return json.dumps({"tool": tool, "check": check, "subject": subject, "severity": severity,
                       "summary": summary, "value": value, "threshold": None,
                       "time": "2026-11-28T03:00:00Z"})


@pytest.fixture
def alert(run_tool, alert_env):
    """alert("send", input=..., now=...) runs the real ts-alert with the test config."""

    def run(*args, input=None, now=None):
        extra = ["--now", moment(now)] if now is not None else []
        argv = ["--config", alert_env["config"], *args[:1], *extra, *args[1:]]
        return run_tool("ts-alert", *argv, input=input)

    return run


def moment(seconds):
    """Unix seconds as --now takes them: an ISO 8601 time."""
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat()


def state_of(alert_env):
    with open(alert_env["state"]) as handle:
        return json.load(handle)


__all__ = ["finding", "moment", "state_of", "os"]
