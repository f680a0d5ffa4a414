"""The Shared Drive's section of rclone.conf: built, merged into the admin's file, written.

The file may hold other remotes (ts-sync's source, the admin's own) and comments: only the
section named [gdrive] remote is replaced, everything else is kept as it was. The file holds
credentials, so it is written atomically with mode 0600 in a directory of mode 0700, and the
credentials never reach the output: `describe` masks them.
"""

import json
import os
import re

from trainserver.core.errors import ActionError

# Values of these keys are credentials (an OAuth token, a client secret).
SECRET_KEYS = ("token", "client_secret", "service_account_credentials")
MASK = "********"
_HEADER = re.compile(r"^\s*\[([^\]]+)\]\s*$")


def drive_section(drive_id, service_account_file=None, token=None):
    """The keys of a Shared Drive remote (an ordered dict), with one of the two credentials."""
    if bool(service_account_file) == bool(token):
        raise ValueError("exactly one of service_account_file and token")
    values = {"type": "drive", "scope": "drive", "team_drive": drive_id}
    if service_account_file:
        values["service_account_file"] = service_account_file
    else:
        values["token"] = token
    return values


def render(name, values, masked=False):
    """The section as rclone writes it."""
    lines = [f"[{name}]"]
    for key, value in values.items():
        shown = MASK if masked and key in SECRET_KEYS and value else value
        lines.append(f"{key} = {shown}")
    return "\n".join(lines) + "\n"


def sections(text):
    """{name: {key: value}} of an rclone.conf text (comments and blank lines skipped)."""
    found, current = {}, None
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            current = found.setdefault(header.group(1).strip(), {})
        elif current is not None and "=" in line and not line.lstrip().startswith(("#", ";")):
            key, value = line.split("=", 1)
            current[key.strip()] = value.strip()
    return found


def merge(text, name, values):
    """`text` with the section `name` replaced by `values` (appended when there is none).

    Comment and blank lines just before the next section are kept: they belong to it."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines)
                  if (m := _HEADER.match(line)) and m.group(1).strip() == name), None)
    new = render(name, values).splitlines()
    if start is None:
        kept = lines[:]
        while kept and not kept[-1].strip():
            kept.pop()
        return "\n".join(kept + ([""] if kept else []) + new) + "\n"
    end = next((i for i in range(start + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))
    tail = end
    while tail > start + 1 and (not lines[tail - 1].strip()
                                or lines[tail - 1].lstrip().startswith(("#", ";"))):
        tail -= 1
    return "\n".join(lines[:start] + new + lines[tail:end] + lines[end:]) + "\n"


def read_service_account(path):
    """The service account key file's JSON text, checked (not its content in any message)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ActionError(f"{path}: cannot read the service account file: {exc.strerror}") \
            from None
    try:
        document = json.loads(text)
    except ValueError:
        raise ActionError(f"{path}: not JSON: expected a Google service account key file "
                          "(IAM > Service accounts > Keys > Add key > JSON)") from None
    missing = [key for key in ("client_email", "private_key")
               if not isinstance(document, dict) or not document.get(key)]
    if not isinstance(document, dict) or document.get("type") != "service_account" or missing:
        raise ActionError(f"{path}: not a Google service account key (expected \"type\": "
                          f"\"service_account\" with client_email and private_key)")
    return text, document["client_email"]


def parse_token(text):
    """rclone's OAuth token JSON (from `rclone authorize "drive"`), compacted to one line."""
    try:
        document = json.loads(text)
    except ValueError:
        raise ActionError("the token on stdin is not JSON: paste the {\"access_token\": ...} "
                          "line that `rclone authorize \"drive\"` prints") from None
    if not isinstance(document, dict) or not document.get("refresh_token"):
        raise ActionError("the token on stdin has no refresh_token: without it access ends "
                          "within the hour; run `rclone authorize \"drive\"` again")
    return json.dumps(document, separators=(",", ":"))


def read_text(path):
    """The current rclone.conf ("" when there is none)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ActionError(f"{path}: cannot read: {exc}") from None


def write_secret(path, text):
    """Write `text` to `path` atomically, 0600, its directory created 0700 when missing."""
    from trainserver.core.state import atomic_write

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o700)
        os.chmod(directory, 0o700)  # makedirs' mode is masked by the umask
    atomic_write(path, text, mode=0o600)
