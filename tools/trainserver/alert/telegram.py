"""Telegram Bot API sendMessage, with retries bounded in time.

HTTP 429 carries parameters.retry_after (seconds): wait that long. 5xx answers, timeouts and
connection errors are retried with exponential backoff (1, 2, 4... s). Any other error (400 bad
request, 401 bad token, 403 bot not in the chat) will not get better by retrying: it is reported
at once. Nothing here sleeps past the deadline: the caller keeps what was not sent queued.
"""

import logging
import time

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 15.0


class DeliveryError(Exception):
    """A message was not delivered; `status` is the HTTP status when Telegram answered.

    400 means this message will never be accepted; 401, 403 and 404 mean the token or chat id is
    wrong, which the admin can fix: those messages wait in the queue.
    """

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class Telegram:
    def __init__(self, api_url, token, chat_id, give_up_after, clock=time.monotonic,
                 sleep=time.sleep, session=None):
        self.url = f"{api_url.rstrip('/')}/bot{token}/sendMessage"
        self.chat_id = chat_id
        self.give_up_after = give_up_after
        self.clock = clock
        self.sleep = sleep
        self._session = session

    @property
    def session(self):
        if self._session is None:
            import requests  # ~100 ms: only when a message is really sent

            self._session = requests.Session()
        return self._session

    def send(self, text):
        """Deliver one message (at most 4096 characters of HTML) or raise DeliveryError."""
        import requests

        deadline = self.clock() + self.give_up_after
        backoff = 1.0
        payload = {"chat_id": self.chat_id, "text": text, "parse_mode": "HTML",
                   "disable_web_page_preview": True}
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise DeliveryError(f"gave up after {attempt - 1} attempts in {self.give_up_after:g} s")
            try:
                response = self.session.post(self.url, json=payload,
                                             timeout=min(REQUEST_TIMEOUT, remaining))
            except (requests.Timeout, requests.ConnectionError) as exc:
                wait, reason = backoff, f"{type(exc).__name__}"
                backoff *= 2
            else:
                if response.status_code == 200:
                    return
                description = _description(response)
                if response.status_code == 429:
                    wait = _retry_after(response, backoff)
                    reason = f"HTTP 429 (retry after {wait:g} s)"
                elif response.status_code >= 500:
                    wait, reason = backoff, f"HTTP {response.status_code}: {description}"
                    backoff *= 2
                else:
                    raise DeliveryError(f"HTTP {response.status_code}: {description}",
                                        response.status_code)
            if self.clock() + wait >= deadline:
                raise DeliveryError(f"{reason}; giving up: the next wait ({wait:g} s) would pass "
                                    f"the {self.give_up_after:g} s limit")
            log.info("telegram: %s; retrying in %g s", reason, wait)
            self.sleep(wait)


def _description(response):
    try:
        return str(response.json().get("description", "")) or response.reason
    except ValueError:
        return response.reason or "no description"


def _retry_after(response, default):
    try:
        return float(response.json()["parameters"]["retry_after"])
    except (ValueError, KeyError, TypeError):
        header = response.headers.get("Retry-After", "")
        return float(header) if header.isdigit() else default
