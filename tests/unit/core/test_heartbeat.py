"""trainserver.core.heartbeat against a real HTTP server on 127.0.0.1 that answers on demand.

Real HTTP over a real socket: requests, its timeouts and the retries all run for real; only
healthchecks.io is replaced, as it cannot be reached from here.
"""

import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

import trainserver
from trainserver.core import heartbeat, secrets
from trainserver.core.heartbeat import Heartbeat, log_tail

CHECK = str(uuid.uuid4())  # the secret part of the ping URL


class PingServer:
    """Records every request as (method, path, query, body, content type); answers with the
    statuses in `statuses`, one per request, then 200."""

    def __init__(self):
        self.requests = []
        self.statuses = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = urlsplit(self.path)
                with server._lock:
                    server.requests.append((self.command, parts.path, parse_qs(parts.query), body,
                                            self.headers.get("Content-Type")))
                    status = server.statuses.pop(0) if server.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{CHECK}"

    def paths(self):
        return [path for _, path, _, _, _ in self.requests]


@pytest.fixture
def server():
    ping_server = PingServer()
    thread = threading.Thread(target=ping_server.httpd.serve_forever,
                              kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield ping_server
    finally:
        ping_server.httpd.shutdown()
        ping_server.httpd.server_close()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch):
    monkeypatch.setattr(heartbeat, "RETRY_PAUSE", 0.01)


@pytest.fixture(autouse=True)
def forget_registered():
    """Leave the module-level set of registered secrets as it was before each test."""
    before = set(secrets._REGISTERED)
    yield
    secrets._REGISTERED.intersection_update(before)


def test_start_success_failure_hit_their_endpoints_with_one_run_id(server):
    beat = Heartbeat(server.url)
    assert beat.start() is True
    assert beat.success("all good") is True
    assert beat.failure(3, "exit 3") is True
    assert server.paths() == [f"/{CHECK}/start", f"/{CHECK}", f"/{CHECK}/3"]
    assert {method for method, *_ in server.requests} == {"POST"}
    assert [query for _, _, query, _, _ in server.requests] == [{"rid": [beat.rid]}] * 3
    assert uuid.UUID(beat.rid).version == 4
    assert [body for _, _, _, body, _ in server.requests] == [b"", b"all good", b"exit 3"]
    assert server.requests[1][4] == "text/plain; charset=utf-8"


def test_each_heartbeat_has_its_own_run_id(server):
    assert Heartbeat(server.url).rid != Heartbeat(server.url).rid


@pytest.mark.parametrize("status,endpoint", [(0, "fail"), (None, "fail"), (300, "fail"),
                                             (256, "fail"), (-9, "fail"), (1, "1"), (255, "255")])
def test_failure_exit_status_outside_1_to_255_uses_fail(server, status, endpoint):
    assert Heartbeat(server.url).failure(status) is True
    assert server.paths() == [f"/{CHECK}/{endpoint}"]


def test_failure_exit_status_of_a_wrong_type_is_a_programming_error(server):
    with pytest.raises(TypeError):
        Heartbeat(server.url).failure("3")
    assert server.requests == []


def test_query_of_a_slug_url_stays_after_the_endpoint(server):
    assert Heartbeat(server.url + "?create=1").start() is True
    _, path, query, _, _ = server.requests[0]
    assert path == f"/{CHECK}/start" and query["create"] == ["1"]


def test_body_is_masked(server):
    secrets.register("hunter2-secret")
    Heartbeat(server.url).failure(1, "restic: password hunter2-secret rejected\n")
    body = server.requests[0][3]
    assert b"hunter2-secret" not in body
    assert body == f"restic: password {secrets.MASK} rejected\n".encode()


def test_long_body_keeps_the_tail_within_max_body(server):
    log = "".join(f"line {n}\n" for n in range(100))
    Heartbeat(server.url, max_body=200).success(log)
    body = server.requests[0][3]
    assert len(body) <= 200
    first, rest = body.split(b"\n", 1)
    assert first.startswith(b"[... ") and first.endswith(b" bytes cut]")
    cut = int(first.split()[1])
    assert log.encode()[cut:] == rest
    assert rest.endswith(b"line 99\n")


def test_truncation_does_not_split_a_utf8_character(server):
    Heartbeat(server.url, max_body=200).success("é" * 500)
    body = server.requests[0][3]
    assert len(body) <= 200
    assert body.decode("utf-8").endswith("éé")


def test_body_at_max_body_is_sent_whole(server):
    Heartbeat(server.url, max_body=200).success("x" * 200)
    assert server.requests[0][3] == b"x" * 200


def test_5xx_is_retried(server):
    server.statuses = [500]
    assert Heartbeat(server.url).success() is True
    assert len(server.requests) == 2


def test_gives_up_after_attempts_with_a_masked_warning(server, caplog):
    server.statuses = [500, 500, 500]
    caplog.set_level(logging.WARNING, logger="trainserver")
    assert Heartbeat(server.url, attempts=3).start() is False
    assert len(server.requests) == 3
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.name == "trainserver.core.heartbeat"
    message = record.getMessage()
    assert "start ping" in message and "HTTP 500" in message and "3 attempt" in message
    assert CHECK not in caplog.text


def test_4xx_is_not_retried(server, caplog):
    server.statuses = [404]
    caplog.set_level(logging.WARNING, logger="trainserver")
    assert Heartbeat(server.url).failure(2, "x") is False
    assert len(server.requests) == 1
    assert "HTTP 404" in caplog.text and CHECK not in caplog.text


def test_nothing_listening_returns_false_quickly(caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    caplog.set_level(logging.WARNING, logger="trainserver")
    began = time.monotonic()
    beat = Heartbeat(f"http://127.0.0.1:{port}/{CHECK}", timeout=0.5, attempts=2)
    assert beat.success("x") is False
    assert time.monotonic() - began < 2.0
    [record] = caplog.records
    assert "success ping" in record.getMessage() and "2 attempt" in record.getMessage()
    assert "ConnectionError" in caplog.text
    assert CHECK not in caplog.text


def test_server_that_never_answers_times_out_and_is_retried(caplog):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # connections queue up, and nobody ever reads them
        caplog.set_level(logging.WARNING, logger="trainserver")
        began = time.monotonic()
        beat = Heartbeat(f"http://127.0.0.1:{silent.getsockname()[1]}/{CHECK}", timeout=0.2,
                         attempts=2)
        assert beat.start() is False
        assert time.monotonic() - began < 1.5
    assert "2 attempt" in caplog.text and "timed out" in caplog.text
    assert CHECK not in caplog.text


def test_malformed_url_is_logged_not_raised(caplog):
    caplog.set_level(logging.WARNING, logger="trainserver")
    assert Heartbeat(f"not-a-url/{CHECK}").start() is False
    assert "start ping" in caplog.text and CHECK not in caplog.text


@pytest.mark.parametrize("url", ["", None])
def test_no_url_sends_nothing(server, url):
    beat = Heartbeat(url)
    assert beat.start() is False
    assert beat.success("x") is False
    assert beat.failure(1, "x") is False
    assert server.requests == []


def test_log_tail():
    text = "".join(f"{n}\n" for n in range(100))
    assert log_tail(text, 3) == "97\n98\n99\n"
    assert log_tail(text) == "".join(f"{n}\n" for n in range(50, 100))
    assert log_tail("a\nb", 5) == "a\nb"
    assert log_tail("a\nb", 0) == ""
    assert log_tail("", 5) == ""


def test_import_does_not_load_requests():
    tools = os.path.dirname(os.path.dirname(trainserver.__file__))
    code = "import sys, trainserver.core.heartbeat; print('requests' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=tools), timeout=30)
    assert result.stdout.strip() == "False", result.stderr
