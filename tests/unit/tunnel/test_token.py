"""The tunnel token and the env file made from it (tunnel/token.py, pure)."""

import base64
import json

import pytest

from trainserver.tunnel import token

TUNNEL = "c0ffee00-0000-4000-8000-000000000001"


def make_token(document=None, urlsafe=False, strip=False):
    document = document or {"a": "0123456789abcdef0123456789abcdef", "t": TUNNEL,
                            "s": base64.b64encode(b"s" * 32).decode()}
    raw = json.dumps(document, separators=(",", ":")).encode()
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()
    return text.rstrip("=") if strip else text


@pytest.mark.parametrize("urlsafe,strip", [(False, False), (True, False), (True, True)])
def test_a_dashboard_token_gives_its_tunnel(urlsafe, strip):
    assert token.tunnel_id(make_token(urlsafe=urlsafe, strip=strip)) == TUNNEL


def test_the_env_file_holds_the_token_under_tunnel_token():
    value = make_token()
    text = token.env_text(value)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [f"TUNNEL_TOKEN={value}"]


@pytest.mark.parametrize("value,hint", [
    ("sudo cloudflared service install " + make_token(), "it has spaces"),
    ("not-base64!", "not a tunnel token"),
    (base64.b64encode(b"plain text, not json").decode(), "not base64 of JSON"),
    (make_token({"a": "x", "s": "y"}), "no tunnel id"),
    (make_token({"t": TUNNEL}), "no tunnel id"),
    ('"' + make_token() + '"', "not a tunnel token"),
])
def test_what_is_not_a_token_is_refused_without_quoting_it(value, hint):
    with pytest.raises(token.TokenError) as raised:
        token.env_text(value)
    assert hint in str(raised.value)
    assert make_token() not in str(raised.value)
