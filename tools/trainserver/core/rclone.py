"""What ts-gdrive-mount and ts-sync share about rclone (Debian's rclone 1.60).

- Rates: rclone's --bwlimit counts in KiB/s ("12207k" is logged as "Starting bandwidth limiter
  at 11.921Mi Byte/s"), and "UP:DOWN" limits the two directions apart; only the upload shares
  the office uplink.
- The remote control (rc) listens on TCP only in 1.60 (`--rc-addr unix:///...` fails with
  "unknown port"), so it listens on 127.0.0.1 with a user and password made for the process and
  handed over in the environment (RCLONE_RC_USER, RCLONE_RC_PASS): another local user could
  read them on a command line, not in root's environment.
"""

import base64
import json
import secrets
import socket
import urllib.error
import urllib.request

from trainserver.core.errors import ActionError


def kib_rate(bytes_per_second):
    """rclone's text for a rate in bytes per second: whole KiB/s, never 0 (which means off)."""
    return f"{max(1, int(bytes_per_second // 1024))}k"


def upload_limit(bytes_per_second):
    """--bwlimit value limiting the upload only ("12207k:off")."""
    return f"{kib_rate(bytes_per_second)}:off"


def environment(rclone_config):
    """The environment every rclone call gets: its config file, never ~/.config/rclone."""
    return {"RCLONE_CONFIG": rclone_config}


def free_port():
    """A TCP port on 127.0.0.1 free right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RemoteControl:
    """A client of one rclone process's remote control on 127.0.0.1."""

    def __init__(self, port, user=None, password=None):
        self.port = port
        self.user = user or "trainserver"
        self.password = password or secrets.token_urlsafe(24)

    def flags(self):
        """Arguments that switch the remote control on for the rclone command line."""
        return ["--rc", "--rc-addr", f"127.0.0.1:{self.port}"]

    def environment(self):
        """The credentials, for the rclone process's environment (never its arguments)."""
        return {"RCLONE_RC_USER": self.user, "RCLONE_RC_PASS": self.password}

    def call(self, method, params=None, timeout=10):
        """POST `method` (such as "core/bwlimit") with `params`; the decoded JSON answer."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{method}", method="POST",
            data=json.dumps(params or {}).encode(),
            headers={"Content-Type": "application/json",
                     "Authorization": "Basic " + base64.b64encode(
                         f"{self.user}:{self.password}".encode()).decode()})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            raise ActionError(f"rclone remote control {method}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ActionError(f"rclone remote control {method}: {exc}") from None
