"""rclone's --use-json-log output (rclone 1.60), read line by line. Pure.

Each line is a JSON object {"level", "msg", "source", "time", ...}; the stats rclone prints at
--stats-log-level NOTICE carry a "stats" object (the last one is the run's summary: bytes,
transfers, checks, deletes, renames, errors, elapsedTime, fatalError, lastError). A fatal end
is printed as one plain line ("2026/12/06 04:00:00 Failed to copy with 2 errors: ...").

Recognised:
- Drive's daily upload cap under --drive-stop-on-upload-limit: rclone's drive backend logs
  "Received upload limit error: googleapi: Error 403: User rate limit exceeded.,
  userRateLimitExceeded" and stops with a fatal error (backend/drive/drive.go, shouldRetry),
  and "Received Shared Drive file limit error" when a Shared Drive holds 400,000 items;
- --max-delete: "Got fatal error on delete: --max-delete threshold reached", then
  "Cancelling sync due to fatal error: failed to delete N files";
- --dry-run: "Skipped copy as --dry-run is set (size 100)" with "skipped" (copy, move, delete,
  "move into backup dir"), "object" and "size";
- rclone check: "Using md5 for hash comparisons" (at -v), or "No common hash found - not using
  a hash for checks" (sizes only).
"""

import json
import re

UPLOAD_LIMIT = "Received upload limit error"
FILE_LIMIT = "Received Shared Drive file limit error"
MAX_DELETE = "--max-delete threshold reached"
_NOT_DELETED = re.compile(r"failed to delete (\d+) files")
_HASH = re.compile(r"Using (\S+) for hash comparisons")
NO_COMMON_HASH = "No common hash found"
_PLAIN_STAMP = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")
ERROR_LEVELS = ("error", "critical", "fatal")


def parse_line(line):
    """One log line as a dict; a plain line as {"level": "plain", "msg": text}; None if blank."""
    text = line.strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if isinstance(record, dict):
            return record
    return {"level": "plain", "msg": _PLAIN_STAMP.sub("", text)}


def describe(record):
    message = str(record.get("msg", "")).strip()
    target = record.get("object")
    return f"{target}: {message}" if target else message


class Log:
    """What one rclone run said, fed one line at a time (feed returns the parsed line)."""

    def __init__(self):
        self.stats = None
        self.errors = []          # error lines, in words ("object: message")
        self.plain = []           # lines that were not JSON (rclone's fatal last words)
        self.would = []           # dry run: [{"action", "object", "size"}]
        self.upload_limit = False
        self.file_limit = False
        self.max_delete = False
        self.not_deleted = None   # files --max-delete kept
        self.hash = None          # rclone check: "md5", ..., or "size"
        self.lines = 0

    def feed(self, line):
        record = parse_line(line)
        if record is None:
            return None
        self.lines += 1
        message = str(record.get("msg", ""))
        if isinstance(record.get("stats"), dict):
            self.stats = record["stats"]
        if record.get("level") == "plain":
            self.plain.append(message)
        elif record.get("level") in ERROR_LEVELS:
            self.errors.append(describe(record))
        if "skipped" in record and "--dry-run" in message:
            self.would.append({"action": record["skipped"], "object": record.get("object", ""),
                               "size": record.get("size")})
        if UPLOAD_LIMIT in message:
            self.upload_limit = True
        if FILE_LIMIT in message:
            self.file_limit = True
        if MAX_DELETE in message:
            self.max_delete = True
        counted = _NOT_DELETED.search(message)
        if counted and self.max_delete:
            self.not_deleted = int(counted.group(1))
        found = _HASH.search(message)
        if found:
            self.hash = found.group(1)
        elif NO_COMMON_HASH in message:
            self.hash = "size"
        return record

    def feed_all(self, text):
        for line in text.splitlines():
            self.feed(line)
        return self

    def summary(self):
        """{files, bytes, errors, duration, checks, deletes, renames} from the last stats."""
        stats = self.stats or {}
        return {"files": int(stats.get("transfers") or 0),
                "bytes": int(stats.get("bytes") or 0),
                "errors": int(stats.get("errors") or 0),
                "duration": float(stats.get("elapsedTime") or 0.0),
                "checks": int(stats.get("checks") or 0),
                "deletes": int(stats.get("deletes") or 0),
                "renames": int(stats.get("renames") or 0)}

    def error_lines(self, limit=20):
        """rclone's own words on what went wrong: its error lines, then its last plain words."""
        found = self.errors + [line for line in self.plain if line not in self.errors]
        return found[-limit:]


def parse(text):
    return Log().feed_all(text)


# Dry-run actions, as an admin reads them.
ACTIONS = {"copy": "transfer", "move": "replace (the old version goes to the backup dir)",
           "move into backup dir": "delete (moved into the backup dir)", "delete": "delete"}


def describe_would(entry):
    action = ACTIONS.get(entry["action"], entry["action"])
    size = entry.get("size")
    return f"would {action}: {entry['object']}" + (f" ({size} bytes)" if size is not None else "")


# rclone check --combined: one line per file, "= path" equal, "- path" only at the
# destination, "+ path" missing at the destination, "* path" different, "! path" error.
COMBINED = {"+": "missing", "*": "differ", "!": "error", "-": "extra"}


def parse_combined(text):
    """[(kind, path)] of every file that is not equal (kind: missing, differ, error, extra)."""
    found = []
    for line in text.splitlines():
        if len(line) < 3 or line[1] != " ":
            continue
        kind = COMBINED.get(line[0])
        if kind:
            found.append((kind, line[2:]))
    return found
