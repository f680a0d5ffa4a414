"""The Bot API client against a real HTTP server on 127.0.0.1 with failures on demand."""

import time

import pytest

from trainserver.alert.telegram import DeliveryError, Telegram

from tests.bot_api import TOKEN


def client(bot, give_up_after=5.0, **kw):
    return Telegram(bot.url, TOKEN, "-100123", give_up_after, **kw)


def test_delivers_html_to_the_chat(bot):
    client(bot).send("<b>hello</b> &amp; more")
    assert bot.delivered == [("-100123", "<b>hello</b> &amp; more", "HTML")]


def test_429_waits_retry_after_then_delivers(bot):
    bot.script = [("429", 1)]
    start = time.monotonic()
    client(bot).send("x")
    assert time.monotonic() - start >= 1.0
    assert bot.attempts == 2 and bot.texts() == ["x"]


def test_5xx_is_retried_with_backoff(bot):
    bot.script = [("500",), ("500",)]
    waits = []
    client(bot, sleep=waits.append).send("x")
    assert waits == [1.0, 2.0]
    assert bot.texts() == ["x"]


def test_gives_up_within_the_bound_when_always_failing(bot):
    bot.always = ("500",)
    start = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        client(bot, give_up_after=2.5).send("x")
    assert time.monotonic() - start < 2.5
    assert "HTTP 500" in str(caught.value)
    assert bot.delivered == []


def test_slow_reply_times_out_within_the_bound(bot):
    bot.always = ("slow", 3)
    start = time.monotonic()
    with pytest.raises(DeliveryError):
        client(bot, give_up_after=1.0).send("x")
    assert time.monotonic() - start < 2.0


def test_retry_after_longer_than_the_bound_gives_up_at_once(bot):
    bot.script = [("429", 600)]
    start = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        client(bot, give_up_after=5).send("x")
    assert time.monotonic() - start < 1.0
    assert "429" in str(caught.value)


def test_client_errors_are_not_retried(bot):
    bot.script = [("401",)]
    with pytest.raises(DeliveryError) as caught:
        client(bot).send("x")
    assert caught.value.status == 401 and bot.attempts == 1


def test_unreachable_server_gives_up_within_the_bound():
    from tests.bot_api import BotServer

    server = BotServer()
    url = server.url
    server.httpd.server_close()  # nothing listens there now
    start = time.monotonic()
    with pytest.raises(DeliveryError):
        Telegram(url, TOKEN, "1", 2.0).send("x")
    assert time.monotonic() - start < 3.0
