"""What ts-tunnel makes of cloudflared's /ready answer (tunnel/ready.py, pure).

The answers are cloudflared's own (metrics/readiness.go): HTTP 200 or 503 and a JSON body
{"status": CODE, "readyConnections": N, "connectorId": UUID}, no newline after it.
"""

import pytest

from trainserver.core.errors import SecretError
from trainserver.core.findings import Severity
from trainserver.core.metrics import render
from trainserver.tunnel import ready
from trainserver.tunnel.ready import Answer, Failure

ADDRESS = "127.0.0.1:20241"
CONNECTOR = "1b0f6a3e-54bd-4c2e-9f0e-9f2f0f1d2c3b"


def cloudflared(status, connections, connector=CONNECTOR):
    body = f'{{"status":{status},"readyConnections":{connections}'
    if connector:
        body += f',"connectorId":"{connector}"'
    return Answer(status, (body + "}").encode())


def assess(outcome):
    return ready.assess(ADDRESS, outcome, 5.0)


def test_connected_names_the_connections_and_the_connector():
    result = assess(cloudflared(200, 4))
    finding = result.finding
    assert (finding.tool, finding.check, finding.subject) == ("tunnel", "ready", "cloudflared")
    assert finding.severity is Severity.OK
    assert finding.summary == f"connected (4 connections to Cloudflare, connector {CONNECTOR})"
    assert finding.value == 4 and result.connections == 4


def test_one_connection_and_an_answer_from_before_connector_ids():
    """cloudflared before 2022.6.0 sent status and readyConnections only."""
    result = assess(cloudflared(200, 1, connector=None))
    assert result.finding.severity is Severity.OK
    assert result.finding.summary == "connected (1 connection to Cloudflare)"


def test_503_with_no_connection_is_critical_not_connected():
    result = assess(cloudflared(503, 0))
    assert result.finding.severity is Severity.CRITICAL
    assert result.finding.summary.startswith("not connected: cloudflared runs but has no "
                                             "connection to Cloudflare (HTTP 503")
    assert result.connections == 0


def test_no_connection_is_critical_whatever_the_status_code_says():
    assert assess(cloudflared(200, 0)).finding.severity is Severity.CRITICAL


def test_nothing_listening_is_critical_and_names_the_address():
    result = assess(Failure("refused"))
    assert result.finding.severity is Severity.CRITICAL
    assert result.finding.summary.startswith(f"cloudflared is not running (nothing on {ADDRESS}")
    assert result.connections == 0


def test_no_answer_in_time_is_critical_with_the_timeout():
    finding = assess(Failure("timeout")).finding
    assert finding.severity is Severity.CRITICAL
    assert f"no answer from http://{ADDRESS}/ready within 5s" in finding.summary
    assert finding.threshold == 5.0


@pytest.mark.parametrize("answer,quoted", [
    (Answer(200, b"<html>hello</html>"), "'<html>hello</html>'"),
    (Answer(404, b"404 page not found\n"), "'404 page not found'"),
    (Answer(200, b""), "an empty body"),
    (Answer(200, b'{"status":200}'), "'{\"status\":200}'"),
    (Answer(200, b'{"readyConnections":true}'), "'{\"readyConnections\":true}'"),
    (Answer(200, b'{"readyConnections":-1}'), "'{\"readyConnections\":-1}'"),
    (Answer(200, b'[4]'), "'[4]'"),
    (Answer(500, b'{"status":500,"readyConnections":4}'), "readyConnections\":4}'"),
    (Answer(200, b"\xff\xfe"), "HTTP 200"),
])
def test_anything_but_cloudflareds_answer_is_unknown_and_named(answer, quoted):
    result = assess(answer)
    assert result.finding.severity is Severity.UNKNOWN
    assert f"http://{ADDRESS}/ready answered HTTP {answer.status}" in result.finding.summary
    assert quoted in result.finding.summary
    assert result.connections is None


@pytest.mark.parametrize("failure,text", [
    (Failure("protocol", "BadStatusLine: SSH-2.0-OpenSSH_9.2"),
     f"something on {ADDRESS} answered, not in HTTP: BadStatusLine: SSH-2.0-OpenSSH_9.2"),
    (Failure("error", "Network is unreachable"),
     f"could not ask http://{ADDRESS}/ready: Network is unreachable"),
])
def test_other_failures_are_unknown(failure, text):
    finding = assess(failure).finding
    assert finding.severity is Severity.UNKNOWN
    assert finding.summary == text


@pytest.mark.parametrize("address,expected", [
    ("127.0.0.1:20241", ("127.0.0.1", 20241)),
    ("localhost:1", ("localhost", 1)),
])
def test_parse_address(address, expected):
    assert ready.parse_address(address) == expected


@pytest.mark.parametrize("address", ["127.0.0.1", ":20241", "127.0.0.1:0", "127.0.0.1:99999",
                                     "127.0.0.1:port"])
def test_parse_address_refuses(address):
    with pytest.raises(ready.AddressError, match="metrics_address"):
        ready.parse_address(address)


def test_token_findings():
    path = "/etc/trainserver/secrets/cloudflared-token"
    ok = ready.token_finding(path, None, "c0ffee00-0000-4000-8000-000000000001")
    assert ok.severity is Severity.OK and ok.subject == path and ok.check == "token"
    assert "c0ffee00-0000-4000-8000-000000000001" in ok.summary
    for state in ("missing", "too-open", "empty", "not-a-file", "invalid"):
        finding = ready.token_finding(path, SecretError(f"{path}: {state}", state))
        assert finding.severity is Severity.CRITICAL, state
        assert finding.summary == f"{path}: {state}"
    unreadable = ready.token_finding(path, SecretError("permission denied", "unreadable"))
    assert unreadable.severity is Severity.UNKNOWN


def test_the_metric_has_no_sample_when_nothing_is_known():
    assert render(ready.metrics(3)).splitlines()[-1] == "trainserver_tunnel_ready_connections 3"
    assert render(ready.metrics(0)).splitlines()[-1] == "trainserver_tunnel_ready_connections 0"
    text = render(ready.metrics(None))
    assert "# TYPE trainserver_tunnel_ready_connections gauge" in text
    assert not [line for line in text.splitlines() if not line.startswith("#")]


def test_not_configured_is_one_ok_finding():
    finding = ready.not_configured()
    assert finding.severity is Severity.OK
    assert finding.summary == "not configured ([tunnel] enabled = false)"
