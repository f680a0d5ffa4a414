"""healthchecks.io-style pings ("heartbeats") from scheduled jobs: start, success, failure.

A ping that cannot be delivered is logged and given up: the job matters more than its report,
and a check that stops hearing from its job raises the alarm on its own, which is what a
heartbeat is for. The ping URL is a secret (whoever has it can ping the check), so it is masked
like the other secrets, and so is the log sent along with a ping.
"""

import logging
import operator
import time
import uuid
from urllib.parse import urlsplit

from trainserver.core import secrets

log = logging.getLogger(__name__)

MAX_BODY = 100_000  # healthchecks.io keeps this many bytes of a ping's body
RETRY_PAUSE = 0.5  # seconds before the second attempt, doubled before each further one

__all__ = ["MAX_BODY", "Heartbeat", "log_tail"]


class Heartbeat:
    """Pings for one run of a job; with no URL (none configured) every ping is a no-op."""

    def __init__(self, url, timeout=10.0, attempts=3, max_body=MAX_BODY):
        # Slug URLs may carry a query (?create=1): the endpoint suffix goes before it.
        base, _, self._query = (url or "").partition("?")
        self._base = base.rstrip("/")
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.max_body = max_body
        # Lets healthchecks.io pair this run's start with its finish, even when runs overlap.
        self.rid = str(uuid.uuid4())
        if self._base:
            secrets.register(self._base)
            # requests' error messages quote the path without the host.
            secrets.register(urlsplit(self._base).path)

    def start(self):
        return self._ping("start", "/start")

    def success(self, log=""):
        return self._ping("success", "", log)

    def failure(self, exit_status, log=""):
        """`exit_status` 1..255 is reported as such; anything else as a plain failure."""
        status = None if exit_status is None else operator.index(exit_status)
        # /0 would be read as success, and the API knows no status past 255.
        suffix = f"/{status}" if status is not None and 1 <= status <= 255 else "/fail"
        return self._ping("failure", suffix, log)

    def _body(self, text):
        data = secrets.mask(text or "").encode("utf-8")
        if len(data) <= self.max_body:
            return data
        # The marker is sized for the largest possible count, so it always fits with the kept tail.
        keep = self.max_body - len(_cut_marker(len(data)))
        if keep <= 0:  # a max_body too small for the marker: the bare tail
            return data[len(data) - self.max_body:]
        start = len(data) - keep
        while start < len(data) and data[start] & 0xC0 == 0x80:
            start += 1  # never start inside a UTF-8 sequence
        return _cut_marker(start) + data[start:]

    def _ping(self, what, suffix, text=""):
        if not self._base:
            return False
        import requests  # ~100 ms: only when a ping is really sent

        url = self._base + suffix + (f"?{self._query}" if self._query else "")
        body = self._body(text)
        pause = RETRY_PAUSE
        for attempt in range(1, self.attempts + 1):
            try:
                response = requests.post(url, params={"rid": self.rid}, data=body,
                                         headers={"Content-Type": "text/plain; charset=utf-8"},
                                         timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = _why(exc)
            except requests.RequestException as exc:
                reason = _why(exc)
                break  # a malformed URL: no retry will mend it
            else:
                if 200 <= response.status_code < 300:
                    return True
                reason = f"HTTP {response.status_code} {response.reason}"
                if response.status_code < 500:
                    break  # the server refused this ping; it would refuse it again
            if attempt < self.attempts:
                time.sleep(pause)
                pause *= 2
        # Masked here too: not every caller routes logging through trainserver.core.logs.
        log.warning("heartbeat: %s ping to %s failed after %d attempt(s): %s", what,
                    secrets.mask(url), attempt, secrets.mask(reason))
        return False


def log_tail(text, lines=50):
    """The last `lines` lines of `text`, line endings kept."""
    if lines <= 0:
        return ""
    return "".join(text.splitlines(keepends=True)[-lines:])


def _cut_marker(count):
    return f"[... {count} bytes cut]\n".encode("ascii")


_WRAPPERS = ("requests", "urllib3")


def _why(exc):
    """Why a request failed, as the system said it ("ConnectionError: [Errno 111] Connection
    refused") rather than through the urllib3 wrappers around it, which are long and quote the URL."""
    inner = exc.__cause__ or exc.__context__
    for _ in range(10):  # bounded: a chain built by hand could loop
        if inner is None:
            break
        # Stop at the first error from the system: deeper lies urllib3's own handled noise.
        if isinstance(inner, OSError) and not type(inner).__module__.startswith(_WRAPPERS):
            return f"{type(exc).__name__}: {inner}"
        inner = inner.__cause__ or inner.__context__
    return f"{type(exc).__name__}: {exc}"
