"""ts-tunnel check against a local stand-in for cloudflared's metrics server.

The tunnel itself cannot be reached from the build machines (no route to Cloudflare, no token),
and cloudflared is not packaged for Debian. So the check is run, as a program, against a small
server on 127.0.0.1 that answers /ready byte for byte as cloudflared's metrics server does
(metrics/readiness.go: the status code, then {"status":N,"readyConnections":N,"connectorId":...}
with no newline, written through Go's net/http, which adds Date, Content-Length and a sniffed
Content-Type of text/plain; charset=utf-8; other paths get gorilla/mux's 404). Also: nothing
listening, a server that accepts and never answers, one that drips its answer, and garbage.
No root needed.
"""

import json
import socket
import threading
import time
from email.utils import formatdate

import pytest

from trainserver.core.findings import exit_status, parse_line

CONNECTOR = "7c0ffee1-2b3c-4d5e-8f90-a1b2c3d4e5f6"
TUNNEL = "c0ffee00-0000-4000-8000-000000000001"
TIMEOUT = 1.0


def token():
    import base64

    document = {"a": "0123456789abcdef0123456789abcdef", "t": TUNNEL,
                "s": base64.b64encode(b"x" * 32).decode()}
    return base64.b64encode(json.dumps(document).encode()).decode()


def cloudflared_ready(connections):
    """The bytes cloudflared's metrics server sends for GET /ready."""
    status = 200 if connections > 0 else 503
    reason = "OK" if status == 200 else "Service Unavailable"
    body = json.dumps({"status": status, "readyConnections": connections,
                       "connectorId": CONNECTOR}, separators=(",", ":")).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nDate: {formatdate(usegmt=True)}\r\n"
            f"Content-Length: {len(body)}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
    return head.encode() + body


NOT_FOUND = (b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n"
             b"X-Content-Type-Options: nosniff\r\nContent-Length: 19\r\n\r\n404 page not found\n")


class StandIn:
    """A TCP server on 127.0.0.1, a free port; `behave(connection, request)` answers each
    connection. Closed, its thread joined, at the end of the test."""

    def __init__(self, behave):
        self.behave = behave
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.requests = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def serve(self):
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except (socket.timeout, OSError):
                continue
            with connection:
                connection.settimeout(5)
                request = b""
                try:
                    while b"\r\n\r\n" not in request:
                        chunk = connection.recv(4096)
                        if not chunk:
                            break
                        request += chunk
                    self.requests.append(request.split(b"\r\n", 1)[0].decode())
                    self.behave(connection, request, self.stopping)
                except OSError:
                    pass

    def close(self):
        self.stopping.set()
        self.thread.join(timeout=10)
        self.listener.close()


def as_cloudflared(connections):
    def behave(connection, request, stopping):
        path = request.split(b" ")[1] if b" " in request else b""
        connection.sendall(cloudflared_ready(connections) if path == b"/ready" else NOT_FOUND)
    return behave


def never_answers(connection, request, stopping):
    stopping.wait(15)


def drips(connection, request, stopping):
    """A valid answer, one byte every 0.2 s: each read is quick, the whole is not."""
    for byte in cloudflared_ready(4):
        if stopping.wait(0.2):
            return
        connection.sendall(bytes([byte]))


def speaks_ssh(connection, request, stopping):
    connection.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")


def answers_html(connection, request, stopping):
    body = b"<html><body>Grafana</body></html>"
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                       + str(len(body)).encode() + b"\r\n\r\n" + body)


@pytest.fixture
def stand_in():
    started = []

    def start(behave):
        server = StandIn(behave)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def check(tmp_path, run_tool):
    """check(address, enabled=True) -> (CompletedProcess, findings, seconds)."""
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    token_file = secrets / "cloudflared-token"
    token_file.write_text(token() + "\n")
    token_file.chmod(0o600)

    def run(address, enabled=True):
        config = tmp_path / "trainserver.toml"
        config.write_text("\n".join([
            "[paths]", f'state_dir = "{tmp_path}/state"', f'lock_dir = "{tmp_path}/lock"',
            f'metrics_dir = "{tmp_path}/metrics"', f'secrets_dir = "{secrets}"',
            "[tunnel]", f"enabled = {'true' if enabled else 'false'}",
            f'token_file = "{token_file}"', f'metrics_address = "{address}"',
            f'timeout = "{TIMEOUT:g}s"']) + "\n")
        started = time.monotonic()
        result = run_tool("ts-tunnel", "--config", str(config), "check", "--json")
        seconds = time.monotonic() - started
        assert "Traceback" not in result.stderr, result.stderr
        findings = [parse_line(line, n) for n, line in enumerate(result.stdout.splitlines(), 1)]
        assert findings, result.stderr
        assert result.returncode == exit_status(findings), (result.returncode, result.stdout)
        return result, {f.check: f for f in findings}, seconds

    run.token_file = token_file
    run.metrics = tmp_path / "metrics" / "trainserver_tunnel.prom"
    return run


def metric_value(path):
    samples = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return samples[0].split()[1] if samples else None


def test_connected(stand_in, check):
    server = stand_in(as_cloudflared(4))
    result, findings, _ = check(server.address)
    assert result.returncode == 0, result.stdout
    ready = findings["ready"]
    assert ready.severity.label == "ok"
    assert ready.summary == f"connected (4 connections to Cloudflare, connector {CONNECTOR})"
    assert ready.value == 4
    assert findings["token"].severity.label == "ok" and TUNNEL in findings["token"].summary
    assert server.requests == ["GET /ready HTTP/1.1"]
    assert metric_value(check.metrics) == "4"


def test_not_connected(stand_in, check):
    server = stand_in(as_cloudflared(0))
    result, findings, _ = check(server.address)
    assert result.returncode == 2
    assert findings["ready"].severity.label == "critical"
    assert findings["ready"].summary.startswith("not connected: cloudflared runs but has no "
                                                "connection to Cloudflare (HTTP 503")
    assert metric_value(check.metrics) == "0"


def test_nothing_listening(check):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{probe.getsockname()[1]}"
    probe.close()  # bound, never listening: the port is free and refuses
    result, findings, _ = check(address)
    assert result.returncode == 2
    assert findings["ready"].summary.startswith(
        f"cloudflared is not running (nothing on {address}")
    assert metric_value(check.metrics) == "0"


@pytest.mark.parametrize("behave", [never_answers, drips], ids=["silent", "drip"])
def test_a_server_that_does_not_answer_in_time_costs_the_timeout_only(stand_in, check, behave):
    server = stand_in(behave)
    result, findings, seconds = check(server.address)
    assert result.returncode == 2
    assert findings["ready"].severity.label == "critical"
    assert f"no answer from http://{server.address}/ready within 1s" in findings["ready"].summary
    # The interpreter's start and the config take well under 2 s here; a check that waited
    # per read instead of once would take the drip's 5 s or more.
    assert TIMEOUT <= seconds < TIMEOUT + 2.5, seconds


@pytest.mark.parametrize("behave,text", [
    (speaks_ssh, "answered, not in HTTP"),
    (answers_html, "answered HTTP 200 with '<html><body>Grafana</body></html>': not "
                   "cloudflared's readiness answer"),
], ids=["ssh", "html"])
def test_garbage_is_unknown_and_named(stand_in, check, behave, text):
    server = stand_in(behave)
    result, findings, _ = check(server.address)
    assert result.returncode == 3
    assert findings["ready"].severity.label == "unknown"
    assert text in findings["ready"].summary
    assert metric_value(check.metrics) is None


def test_a_token_others_can_read_is_critical_even_when_connected(stand_in, check):
    server = stand_in(as_cloudflared(2))
    check.token_file.chmod(0o644)
    result, findings, _ = check(server.address)
    assert result.returncode == 2
    assert findings["ready"].severity.label == "ok"
    assert findings["token"].severity.label == "critical"
    assert "readable or writable by group or others" in findings["token"].summary


def test_a_missing_token_is_critical(stand_in, check):
    server = stand_in(as_cloudflared(2))
    check.token_file.unlink()
    result, findings, _ = check(server.address)
    assert result.returncode == 2
    assert "secret file missing" in findings["token"].summary


def test_not_configured_asks_nothing(stand_in, check):
    server = stand_in(as_cloudflared(4))
    result, findings, _ = check(server.address, enabled=False)
    assert result.returncode == 0
    assert [f.summary for f in findings.values()] == ["not configured ([tunnel] enabled = false)"]
    assert server.requests == []
    assert metric_value(check.metrics) is None
