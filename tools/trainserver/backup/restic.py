"""restic's command lines and the meaning of what it prints and how it exits, for ts-backup.

Pure functions: nothing here runs restic, so all of it is tested on output recorded from the real
restic 0.14.0 of Debian 12 and 0.18.0 of Debian 13 (tests/fixtures/backup/PROVENANCE.md), where
their behaviour differs: --retry-lock from 0.16; specific exit codes and `restic features` from
0.17; fatal errors as a JSON "exit_error" line on stderr under --json (recorded from 0.18)."""

import json
import os
import re

RETRY_LOCK_SINCE = (0, 16, 0)
RETRY_LOCK = "2m"
SPECIFIC_EXIT_CODES_SINCE = (0, 17, 0)
UNREADABLE_NAMED = 10

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_INCOMPLETE = 3
EXIT_INTERRUPTED = 130

# Only restic >= 0.17 gives these codes this meaning; before, they could be anything.
_SPECIFIC_EXIT_CODES = {
    10: "repository does not exist (run ts-backup init)",
    11: "repository is locked by another restic process",
    12: "wrong password for the repository (see the password file)",
}


# `restic features` exists from 0.17. Its alpha flag "device-id-for-hardlinks" stores a file's
# device ID only where a hard link needs it: a BTRFS snapshot's device ID is new each day, and
# without the flag every directory's metadata is stored again by each backup (about
# 340 bytes per file; test_backup_restic.py measures it with both releases).
FEATURES_SINCE = (0, 17, 0)
STABLE_DEVICE_IDS = "device-id-for-hardlinks"
_FEATURE_TYPES = {"alpha", "beta", "stable", "deprecated"}


class ParseError(ValueError):
    pass


# ---------------------------------------------------------------- version and units

_VERSION = re.compile(r"^restic (\d+)\.(\d+)\.(\d+)", re.MULTILINE)


def parse_version(text):
    """(major, minor, patch) from `restic version`."""
    match = _VERSION.search(text) if isinstance(text, str) else None
    if not match:
        raise ParseError(f"restic version: unexpected output ({str(text)[:80]!r})")
    return tuple(int(part) for part in match.groups())


def at_least(version, floor):
    # An unknown version gets no feature and no special meaning of an exit code: the safe guess.
    return version is not None and tuple(version) >= floor


def parse_features(text):
    """{name: {"type": "alpha" | "beta" | "stable" | "deprecated", "default": bool}} from
    `restic features`, a table of name, type, default and description."""
    found = {}
    for line in (text or "").splitlines():
        words = line.split(None, 3)
        if len(words) >= 3 and words[1] in _FEATURE_TYPES and words[2] in ("true", "false"):
            found[words[0]] = {"type": words[1], "default": words[2] == "true"}
    if not found:
        raise ParseError(f"restic features: no feature in the output ({str(text)[:80]!r})")
    return found


def wanted_features(features):
    """The RESTIC_FEATURES value ts-backup sets for this restic's features, or "" for none.

    Only a flag that restic lists is named: an unknown one makes every restic command fail
    (measured with 0.18). A flag that is on by default needs nothing."""
    wanted = []
    flag = (features or {}).get(STABLE_DEVICE_IDS)
    if flag is not None and not flag["default"]:
        wanted.append(STABLE_DEVICE_IDS)
    return ",".join(wanted)


def limit_kib(bytes_per_second):
    """restic's --limit-upload/--limit-download value for a rate in bytes per second."""
    if bytes_per_second <= 0:
        # restic reads 0 as "no limit": a caller that wants none leaves the flag out instead.
        raise ValueError(f"a rate limit must be positive (got {bytes_per_second})")
    # restic's unit is KiB/s (docs/measured.md); never round down to 0, which means unlimited.
    return max(1, int(bytes_per_second) // 1024)


# ---------------------------------------------------------------- command lines

def base_argv(repository, version, password_file, cache_dir):
    """The global part of every restic command line."""
    argv = ["restic", "--repo", repository, "--password-file", os.fspath(password_file),
            "--cache-dir", os.fspath(cache_dir)]
    if at_least(version, RETRY_LOCK_SINCE):
        # A daily backup meeting a short-lived lock (a check, a prune) should wait, not fail.
        argv += ["--retry-lock", RETRY_LOCK]
    return argv


def backup_argv(base, paths, host, tag, limit_kib, excludes=()):
    """`restic backup --json` of `paths`; limit_kib None leaves the upload unlimited."""
    paths = [os.fspath(path) for path in paths]
    if not paths:
        raise ValueError("restic backup needs at least one path")
    argv = list(base) + ["backup", "--json", "--host", host, "--tag", tag]
    if limit_kib is not None:
        argv += ["--limit-upload", str(limit_kib)]
    argv.append("--exclude-caches")
    for pattern in excludes:
        argv += ["--exclude", pattern]
    return argv + paths


def forget_argv(base, host, tag, keep_daily, keep_weekly, prune=False, max_unused=None):
    """`restic forget --json` for one host and tag; max_unused matters only with prune."""
    if keep_daily < 1 and keep_weekly < 1:
        # A retention that keeps nothing is a config mistake, never a wish to lose every backup.
        raise ValueError("forget must keep at least one daily or weekly snapshot")
    # Grouped by host and tags, not by restic's default host,paths: a backed-up BTRFS snapshot's
    # path carries its timestamp, and a group per path would keep every snapshot for ever.
    argv = list(base) + ["forget", "--json", "--host", host, "--tag", tag,
                         "--group-by", "host,tags",
                         "--keep-daily", str(keep_daily), "--keep-weekly", str(keep_weekly)]
    if prune:
        argv.append("--prune")
        if max_unused is not None:
            argv += ["--max-unused", str(max_unused)]
    return argv


def snapshots_argv(base, host=None, tag=None):
    """`restic snapshots --json`, optionally only those of one host and/or tag."""
    argv = list(base) + ["snapshots", "--json"]
    if host is not None:
        argv += ["--host", host]
    if tag is not None:
        argv += ["--tag", tag]
    return argv


# ---------------------------------------------------------------- output

def _json_object(line):
    """The JSON object on a line, or None when the line is something else."""
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _error_text(error):
    """The message of a JSON error line's "error" field."""
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        if error.get("message"):
            return str(error["message"])
        # restic 0.14 marshals Go's *os.PathError as it is: {"Op", "Path", "Err": errno}.
        if "Op" in error and "Path" in error:
            reason = error.get("Err")
            if isinstance(reason, int):
                reason = os.strerror(reason)
            return f"{error['Op']} {error['Path']}: {reason}"
    return json.dumps(error, sort_keys=True)


def _error_entry(message):
    error = message.get("error")
    item = message.get("item") or (error.get("Path") if isinstance(error, dict) else None)
    return {"item": item, "during": message.get("during"), "message": _error_text(error)}


def _error_lines(text):
    """The JSON error lines in `text`: restic --json prints them on stderr, not stdout."""
    found = []
    for line in (text or "").splitlines():
        message = _json_object(line.strip())
        if message is not None and message.get("message_type") == "error":
            found.append(_error_entry(message))
    return found


def parse_backup(stdout, stderr=""):
    """{"summary": dict or None, "errors": [{item, during, message}], "status_lines": n,
    "other": [lines]} from `restic backup --json`. Error lines are read from both streams
    (restic 0.14 prints them on stderr); "other" holds lines that are not restic's JSON."""
    result = {"summary": None, "errors": [], "status_lines": 0, "other": []}
    for line in (stdout or "").splitlines():
        line = line.strip()
        if not line:
            continue
        message = _json_object(line)
        kind = message.get("message_type") if message is not None else None
        if kind == "status":
            result["status_lines"] += 1
        elif kind == "summary":
            result["summary"] = message
        elif kind == "error":
            result["errors"].append(_error_entry(message))
        else:
            result["other"].append(line)
    result["errors"] += _error_lines(stderr)
    return result


def _json_document(text, what):
    """The first JSON document in `text`; forget --prune prints its text report after it."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(("[", "{")):
            try:
                value, _ = json.JSONDecoder().raw_decode(line)
                return value
            except ValueError:
                break
    raise ParseError(f"restic {what}: no JSON in the output ({text[:80]!r})")


def _snapshot(entry):
    if not isinstance(entry, dict) or "id" not in entry or "time" not in entry:
        raise ParseError(f"restic: a snapshot without id or time ({entry!r:.80})")
    snapshot = {"id": entry["id"], "short_id": entry.get("short_id") or entry["id"][:8],
                "time": entry["time"], "paths": entry.get("paths") or [],
                "hostname": entry.get("hostname"), "tags": entry.get("tags") or []}
    if entry.get("parent"):
        snapshot["parent"] = entry["parent"]
    return snapshot


def parse_snapshots(stdout):
    """[{id, short_id, time, paths, hostname, tags, parent (when there is one)}], oldest first
    as restic lists them."""
    document = _json_document(stdout or "", "snapshots")
    if not isinstance(document, list):
        raise ParseError("restic snapshots: the JSON is not a list")
    return [_snapshot(entry) for entry in document]


def _ids(snapshots):
    # restic writes null, not [], for an empty keep or remove list.
    return [_snapshot(entry)["id"] for entry in snapshots or []]


def parse_forget(stdout):
    """[{host, tags, paths, keep: [ids], remove: [ids]}] per group from `restic forget --json`."""
    if not (stdout or "").strip():
        # restic 0.14 prints nothing at all when no snapshot matched the host and tag.
        return []
    document = _json_document(stdout, "forget")
    if not isinstance(document, list):
        raise ParseError("restic forget: the JSON is not a list")
    groups = []
    for group in document:
        if not isinstance(group, dict):
            raise ParseError(f"restic forget: a group that is not an object ({group!r:.80})")
        groups.append({"host": group.get("host"), "tags": group.get("tags") or [],
                       "paths": group.get("paths") or [],
                       "keep": _ids(group.get("keep")), "remove": _ids(group.get("remove"))})
    return groups


# ---------------------------------------------------------------- the outcome of a backup

_RCLONE_CAUSE = re.compile(r'Failed to create file system for "[^"]*": (.+)$')
# rclone's log line for a request the remote refused; the object's name before the reason
# (data/f9/<64 hex>) says nothing an admin can act on.
# rclone's own log line (not through restic): "2026/12/06 10:53:37 ERROR : remote: reason"
_RCLONE_PLAIN_ERROR = re.compile(r"^\S+ \S+ (?:ERROR|CRITICAL) : (?:[^\s:]+: )?(.+)$")
_RCLONE_ERROR = re.compile(r"^rclone: \S+ \S+ ERROR : (?:[^\s:]+: )?(.+)$")
# restic 0.14 prints "error while unlocking: ..." without a line end, and its Fatal line lands
# on the end of it (recorded: backup-remote-failed.stderr).
_GLUED_FATAL = re.compile(r"(?<=\S)(?=Fatal: )")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# The line that says what went wrong; restic follows it with hints ("Is there a repository at
# the following location?", "the `unlock` command can be used ..."), which say less.
_CAUSE = re.compile(r"^(Fatal:|unable to create lock)")
# "Fatal: There were 3 errors" after a restore says how many, not what: the first error says.
_COUNTED = re.compile(r"^Fatal: There were \d+ errors?$")
_IGNORED = re.compile(r"^ignoring error for ")


def rclone_reason(stderr):
    """What rclone's own stderr says went wrong: its first cause, or its last line."""
    lines = [_ANSI.sub("", raw).strip() for raw in (stderr or "").splitlines()]
    lines = [line for line in lines if line]
    for pattern in (_RCLONE_CAUSE, _RCLONE_ERROR, _RCLONE_PLAIN_ERROR):
        reason = next((match.group(1) for match in map(pattern.search, lines) if match), None)
        if reason:
            return reason
    return lines[-1] if lines else ""


def error_line(stderr):
    """The line of restic's stderr that best says what went wrong, or "" when there is none."""
    lines = []
    for raw in (stderr or "").splitlines():
        line = _ANSI.sub("", raw).replace("\r", "").strip()
        message = _json_object(line) if line else None
        if message is None:
            lines += [part.strip() for part in _GLUED_FATAL.split(line) if part.strip()]
        elif message.get("message_type") == "exit_error" and \
                isinstance(message.get("message"), str):
            # Newer restic (0.18 recorded) with --json says why it stopped only in this object:
            # its "Fatal: ..." line and the hints after it in one message.
            lines += [part.strip() for part in message["message"].splitlines() if part.strip()]
    causes = [line for line in lines if _CAUSE.match(line)]
    found = (causes or lines or [""])[-1]
    if _COUNTED.match(found):
        first = next((line for line in lines if _IGNORED.match(line)), None)
        if first:
            found += f"; the first: {first[len('ignoring error for '):]}"
    # Through the rclone backend restic only says "error talking HTTP to rclone" or "server
    # response unexpected: 500": the reason (no network, wrong credentials, a remote that
    # refuses writes) is in rclone's own lines, the first of them the cause of the others.
    for pattern in (_RCLONE_CAUSE, _RCLONE_ERROR):
        reason = next((match.group(1) for match in map(pattern.search, lines) if match), None)
        if reason:
            if reason not in found:
                found += f" (rclone: {reason})"
            break
    return found


_NO_REPOSITORY = ("unable to open config file", "Is there a repository at the following location?")
INIT_HINT = "no repository there: run ts-backup init"


def missing_repository(stderr):
    """True when restic says there is no repository at the location (any release: 0.14 says
    it only in words, with exit 1)."""
    text = stderr or ""
    return any(words in text for words in _NO_REPOSITORY)


def explained(stderr):
    """error_line(), with what to do when the repository does not exist."""
    found = error_line(stderr)
    if missing_repository(stderr) and "ts-backup init" not in found:
        found += f" ({INIT_HINT})"
    return found


# `restic check` names a damaged pack by its whole ID (0.14 and 0.18 recorded):
# "pack ID: does not exist", "pack ID: unexpected file size: ...", "pack ID contains N errors:
# [...]" (0.18, --read-data), "Pack ID does not match, want ID, got OTHER" (0.14, --read-data).
_PACK = re.compile(r"^pack ([0-9a-f]{64})(?::\s*|\s+)(.*)$")
_PACK_ID_MISMATCH = re.compile(r"^Pack ID does not match, want ([0-9a-f]{64})")
_WHY_LENGTH = 120


def damaged_packs(text):
    """{pack id: what restic says is wrong with it}, in the order restic named them."""
    found = {}
    for raw in (text or "").splitlines():
        line = raw.strip()
        match = _PACK.match(line)
        if match:
            why = match.group(2).strip() or "damaged"
        else:
            match = _PACK_ID_MISMATCH.match(line)
            why = "Pack ID does not match its content (the data in it is damaged)"
        if match and match.group(1) not in found:
            if len(why) > _WHY_LENGTH:
                why = why[:_WHY_LENGTH - 3] + "..."
            found[match.group(1)] = why
    return found


def packs_text(damaged, named=UNREADABLE_NAMED):
    """"damaged pack ID (why); ..." for a finding, at most NAMED of them, then a count."""
    shown = "; ".join(f"pack {pack} ({why})" for pack, why in list(damaged.items())[:named])
    rest = len(damaged) - named
    return f"{shown}; and {rest} more" if rest > 0 else shown


def _size(count):
    if count < 1024:
        return f"{count} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        count /= 1024
        if count < 1024 or unit == "TiB":
            return f"{count:.1f} {unit}"


def _saved(summary):
    return (f"snapshot {summary.get('snapshot_id', '?')}: "
            f"{summary.get('files_new', 0)} new, {summary.get('files_changed', 0)} changed, "
            f"{summary.get('files_unmodified', 0)} unmodified files, "
            f"{_size(summary.get('data_added', 0))} added in "
            f"{summary.get('total_duration', 0):.1f} s")


def _named(paths):
    # A file name may hold a newline; the summary must stay one line.
    shown = ", ".join(path.replace("\n", "\\n") for path in paths[:UNREADABLE_NAMED])
    rest = len(paths) - UNREADABLE_NAMED
    return f"{shown} and {rest} more" if rest > 0 else shown


def _unreadable(parsed, stderr):
    """Each path restic could not read, once, in the order it reported them."""
    paths = []
    for error in list(parsed.get("errors") or []) + _error_lines(stderr):
        if error.get("item") and error["item"] not in paths:
            paths.append(error["item"])
    return paths


def _incomplete(summary, unreadable):
    saved = f"snapshot {summary.get('snapshot_id', '?')} saved" if summary else "saved"
    if not unreadable:
        return f"backup incomplete ({saved}): restic could not read some source files"
    return (f"backup incomplete ({saved}) without {len(unreadable)} unreadable "
            f"file{'s' if len(unreadable) != 1 else ''}: {_named(unreadable)}")


def _failure(returncode, version, stderr):
    if returncode == EXIT_INTERRUPTED:
        return "backup interrupted"
    if returncode in _SPECIFIC_EXIT_CODES and at_least(version, SPECIFIC_EXIT_CODES_SINCE):
        return f"backup failed: {_SPECIFIC_EXIT_CODES[returncode]}"
    if missing_repository(stderr):
        # restic before 0.17 says it only in words, with its general exit code 1.
        return f"backup failed: {_SPECIFIC_EXIT_CODES[10]}"
    if returncode == EXIT_FATAL:
        return "backup failed"
    # restic's documentation: an unknown exit code must be taken as a failure.
    return "backup failed with an exit code this restic does not document"


def outcome(returncode, version, parsed, stderr):
    """{"ok", "severity": "ok" | "critical", "summary": one line for an admin, "unreadable"}
    of one `restic backup` run, from its exit code, restic's version, parse_backup's result
    and its stderr."""
    parsed = parsed or {}
    summary = parsed.get("summary")
    unreadable = _unreadable(parsed, stderr)
    if returncode == EXIT_OK:
        if summary:
            return {"ok": True, "severity": "ok", "summary": "backup done, " + _saved(summary),
                    "unreadable": unreadable}
        text = "restic exited 0 but printed no summary: what it saved is unknown"
    elif returncode == EXIT_INCOMPLETE:
        # An incomplete snapshot looks like a good one later: only this alert says what it lacks.
        text = _incomplete(summary, unreadable)
    else:
        text = _failure(returncode, version, stderr)
    cause = error_line(stderr)
    text += f" (exit {returncode}): {cause}" if cause else f" (exit {returncode})"
    return {"ok": False, "severity": "critical", "summary": text, "unreadable": unreadable}
