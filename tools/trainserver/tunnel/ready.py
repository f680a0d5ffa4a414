"""What cloudflared's /ready answer means, as findings and a metric. Pure.

cloudflared's metrics server (`--metrics HOST:PORT`) serves /ready (metrics/readiness.go in
cloudflared's source): HTTP 200 and {"status":200,"readyConnections":N,"connectorId":"<uuid>"}
when N >= 1 of its connections to Cloudflare's edge are up, HTTP 503 with the same fields and
readyConnections 0 when none is (connectorId came in 2022.6.0; older releases send only the
first two fields). Anything else on that port is not cloudflared's readiness answer.
"""

import json
from dataclasses import dataclass

from trainserver.core.findings import Finding, Severity
from trainserver.core.metrics import Metric
from trainserver.tunnel import TOOL

SUBJECT = "cloudflared"
# Enough for cloudflared's answer (about 90 bytes) many times over; a larger body is not it.
MAX_BODY = 64 * 1024
LOGS_HINT = "docker logs of the stack's cloudflared container; ts-docker status"


class AddressError(ValueError):
    """[tunnel] metrics_address is not HOST:PORT."""


def parse_address(address):
    """(host, port) of "HOST:PORT"."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AddressError(f"[tunnel] metrics_address: {address!r} is not HOST:PORT")
    return host, int(port)


@dataclass(frozen=True)
class Answer:
    """What came back from GET /ready: the HTTP status and at most MAX_BODY bytes of body."""

    status: int
    body: bytes


@dataclass(frozen=True)
class Failure:
    """No HTTP answer. kind: "refused" (nothing listens), "timeout" (no answer in time),
    "protocol" (something answered, not in HTTP), "error" (any other socket error)."""

    kind: str
    detail: str = ""


@dataclass(frozen=True)
class Assessment:
    finding: Finding
    connections: object  # int, or None when the answer said nothing about them


def _quote(body):
    text = body[:120].decode("utf-8", "replace").strip()
    return repr(text) if text else "an empty body"


def _connections(body):
    """readyConnections from the JSON body, or None when the body is not cloudflared's."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, None
    if not isinstance(document, dict):
        return None, None
    count = document.get("readyConnections")
    # bool is an int in Python; cloudflared writes a JSON number.
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return None, None
    connector = document.get("connectorId")
    return count, connector if isinstance(connector, str) else None


def assess(address, outcome, timeout):
    """The finding for one GET http://ADDRESS/ready. `outcome` is an Answer or a Failure;
    `timeout` (seconds) is only quoted."""
    url = f"http://{address}/ready"
    if isinstance(outcome, Failure):
        if outcome.kind == "refused":
            return Assessment(Finding(TOOL, "ready", SUBJECT, Severity.CRITICAL,
                                      f"cloudflared is not running (nothing on {address}; "
                                      f"ts-docker status, ts-docker up)"), 0)
        if outcome.kind == "timeout":
            return Assessment(Finding(TOOL, "ready", SUBJECT, Severity.CRITICAL,
                                      f"no answer from {url} within {timeout:g}s: cloudflared "
                                      f"hangs or something else holds the port ({LOGS_HINT})",
                                      threshold=timeout), 0)
        if outcome.kind == "protocol":
            why = f"something on {address} answered, not in HTTP"
        else:
            why = f"could not ask {url}"
        detail = f": {outcome.detail}" if outcome.detail else ""
        return Assessment(Finding(TOOL, "ready", SUBJECT, Severity.UNKNOWN, why + detail), None)
    count, connector = _connections(outcome.body)
    if count is None or outcome.status not in (200, 503):
        return Assessment(Finding(TOOL, "ready", SUBJECT, Severity.UNKNOWN,
                                  f"{url} answered HTTP {outcome.status} with "
                                  f"{_quote(outcome.body)}: not cloudflared's readiness answer "
                                  f"(is [tunnel] metrics_address cloudflared's --metrics?)",
                                  value=outcome.status), None)
    if count == 0:
        return Assessment(Finding(TOOL, "ready", SUBJECT, Severity.CRITICAL,
                                  f"not connected: cloudflared runs but has no connection to "
                                  f"Cloudflare (HTTP {outcome.status}; {LOGS_HINT})",
                                  value=0, threshold=1), 0)
    plural = "connection" if count == 1 else "connections"
    ident = f", connector {connector}" if connector else ""
    return Assessment(Finding(TOOL, "ready", SUBJECT, Severity.OK,
                              f"connected ({count} {plural} to Cloudflare{ident})",
                              value=count, threshold=1), count)


def not_configured():
    return Finding(TOOL, "ready", SUBJECT, Severity.OK,
                   "not configured ([tunnel] enabled = false)")


def token_finding(path, problem, tunnel=None):
    """The token file's finding: `problem` is a core.secrets.SecretError, or None when the file
    holds a token (of the tunnel `tunnel`). A token that others can read lets them run this
    tunnel, and `ts-docker up` refuses it; a missing one means cloudflared cannot be
    (re)started."""
    if problem is None:
        return Finding(TOOL, "token", path, Severity.OK,
                       f"{path}: the token of tunnel {tunnel}, readable by its owner only")
    if problem.state == "unreadable":
        return Finding(TOOL, "token", path, Severity.UNKNOWN, str(problem))
    return Finding(TOOL, "token", path, Severity.CRITICAL, str(problem))


def metrics(connections):
    """trainserver_tunnel_ready_connections; no sample when the answer could not be read (or
    the tunnel is not configured), so a stale value never stays behind."""
    metric = Metric("trainserver_tunnel_ready_connections",
                    "Connections from cloudflared to Cloudflare's edge, from its /ready "
                    "(0: cloudflared is not running or not connected).")
    if connections is not None:
        metric.add(connections)
    return [metric]
