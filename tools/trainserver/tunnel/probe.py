"""GET http://HOST:PORT/ready, bounded in time as a whole. The one part of ts-tunnel that talks
to the network.

Standard library only (http.client): the check runs every 5 minutes and must start fast. The
whole exchange has one deadline: the socket's timeout is set to what is left before each step,
so a server that accepts and never answers, or drips its answer byte by byte, costs at most
`timeout` seconds (plus the last read's rounding).
"""

import errno
import http.client
import socket
import threading
import time

from trainserver.tunnel.ready import MAX_BODY, Answer, Failure


class _Expired(Exception):
    pass


def _left(deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Expired()
    return left


def get_ready(host, port, timeout):
    """An Answer, or a Failure saying why there is none."""
    deadline = time.monotonic() + timeout
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    expired = threading.Event()

    def expire():
        expired.set()
        sock = connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        connection.connect()
        connection.sock.settimeout(_left(deadline))
        connection.request("GET", "/ready", headers={"Accept": "application/json",
                                                     "User-Agent": "ts-tunnel"})
        response = connection.getresponse()
        body = b""
        while len(body) <= MAX_BODY:
            connection.sock.settimeout(_left(deadline))
            chunk = response.read1(MAX_BODY + 1 - len(body))
            if not chunk:
                break
            body += chunk
        if expired.is_set():
            return Failure("timeout")
        return Answer(response.status, body[:MAX_BODY])
    except ConnectionRefusedError:
        return Failure("refused")
    except (socket.timeout, TimeoutError, _Expired):
        return Failure("timeout")
    except (http.client.HTTPException, OSError) as exc:
        if expired.is_set():
            return Failure("timeout")
        if isinstance(exc, http.client.HTTPException):
            # BadStatusLine and its kin: something answered, not an HTTP server. A peer that
            # closes without a word is RemoteDisconnected, an HTTPException too.
            return Failure("protocol", f"{type(exc).__name__}: {exc}".rstrip(": "))
        if exc.errno == errno.ECONNREFUSED:
            return Failure("refused")
        return Failure("error", exc.strerror or str(exc))
    finally:
        timer.cancel()
        connection.close()
