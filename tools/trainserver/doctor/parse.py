"""Parsers of what the probes read, and the verdicts drawn from it. Pure: no system access."""

import json
import re

# `btrfs filesystem df -b`: "Data, RAID10: total=2147483648, used=1048576". Mixed block groups
# read "Data+Metadata"; a conversion in progress shows one line per profile of a type.
_DF_LINE = re.compile(r"^\s*([A-Za-z+]+),\s*([A-Za-z0-9]+):\s*total=(\d+)\s*,\s*used=(\d+)\s*$")
# Always "single", whatever the profile: a reservation in memory, not chunks on disk.
IGNORED_TYPES = ("GlobalReserve",)


def btrfs_df(text):
    """[(type, profile lower-case, total bytes, used bytes)] from `btrfs filesystem df -b`."""
    chunks = []
    for line in text.splitlines():
        match = _DF_LINE.match(line)
        if match:
            kind, profile, total, used = match.groups()
            chunks.append((kind, profile.lower(), int(total), int(used)))
    return chunks


def off_profile_chunks(chunks, profile):
    """The chunk lines whose profile is not `profile` (GlobalReserve left out)."""
    return [c for c in chunks if c[0] not in IGNORED_TYPES and c[1] != profile.lower()]


def chunk_verdict(text, profile):
    """(ok, reason) for every Data, Metadata and System chunk being of `profile`."""
    chunks = btrfs_df(text)
    if not chunks:
        return False, "btrfs filesystem df printed no chunk lines"
    wrong = off_profile_chunks(chunks, profile)
    if wrong:
        return False, "not " + profile.upper() + ": " + ", ".join(
            f"{kind} {profile_} ({used} of {total} bytes used)"
            for kind, profile_, total, used in wrong)
    kinds = sorted({c[0] for c in chunks if c[0] not in IGNORED_TYPES})
    return True, f"{', '.join(kinds)}: all {profile.upper()}"


_CUDA = re.compile(r"CUDA Version\s*:\s*([0-9][0-9.]*)")
_DRIVER = re.compile(r"Driver Version\s*:\s*([0-9][0-9.]*)")


def cuda_version(text):
    """The CUDA version the driver supports, from nvidia-smi's header or its -q report."""
    match = _CUDA.search(text)
    return match.group(1) if match else None


def driver_version(text):
    match = _DRIVER.search(text)
    return match.group(1) if match else None


def gpu_names(csv_text):
    """GPU names from `nvidia-smi --query-gpu=name --format=csv,noheader`."""
    return [line.strip() for line in csv_text.splitlines() if line.strip()]


def host_port(text, default_port=None):
    """(host, port) of "host:port", "[v6]:port" or "v4"; raises ValueError."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not port:
        if default_port is None:
            raise ValueError(f"no port in {text!r} (write HOST:PORT)")
        port = default_port
    try:
        port = int(port)
    except ValueError:
        raise ValueError(f"not a port in {text!r}") from None
    if not host or not 0 < port < 65536:
        raise ValueError(f"not HOST:PORT: {text!r}")
    return host, port


def systemctl_show(text):
    """[{property: value}] from `systemctl show -p ... UNIT...`: one block per unit, blocks
    separated by blank lines, in the order the units were named."""
    blocks, current = [], {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key] = value
    if current:
        blocks.append(current)
    return blocks


def unit_files(text):
    """Unit names from `systemctl list-unit-files --no-legend` ("ts-x.timer enabled enabled")."""
    return [line.split()[0] for line in text.splitlines() if line.split()]


def epoch_of(value):
    """Seconds since the epoch of a `--timestamp=unix` value ("@1700000000"); None for an
    empty or "n/a" value (never ran, never will)."""
    value = (value or "").strip()
    if value.startswith("@"):
        try:
            return float(value[1:])
        except ValueError:
            return None
    return None


def timer_verdict(timer, service, overdue_after=None, now=None):
    """(ok, reason) for one timer from its and its service's `systemctl show` properties.

    timer: UnitFileState, ActiveState, LastTriggerUSec, NextElapseUSecRealtime;
    service: Result, ExecMainStatus, ActiveState. A service still running (a backup that
    takes hours) counts as succeeded so far. `overdue_after`: seconds after which a next
    elapse in the past means the timer stopped firing.
    """
    problems = []
    state = timer.get("UnitFileState", "")
    if state not in ("enabled", "static", "enabled-runtime", "alias"):
        problems.append(f"not enabled ({state or 'unknown'}): systemctl enable --now "
                        f"{timer.get('Id', 'the timer')}")
    if timer.get("ActiveState") != "active":
        problems.append(f"not active ({timer.get('ActiveState') or 'unknown'})")
    last = (timer.get("LastTriggerUSec") or "").strip()
    ran = last not in ("", "n/a", "0")
    result = service.get("Result", "")
    if ran and result and result != "success" and \
            service.get("ActiveState") not in ("activating", "active", "reloading"):
        status = service.get("ExecMainStatus")
        problems.append(f"its last run failed ({result}" +
                        (f", exit status {status}" if status not in (None, "", "0") else "") +
                        f"): journalctl -u {service.get('Id', 'the service')}")
    following = epoch_of(timer.get("NextElapseUSecRealtime"))
    if now is not None and following is not None and overdue_after is not None and \
            now - following > overdue_after:
        problems.append(f"overdue: its next run was due {int((now - following) / 60)} min ago")
    if problems:
        return False, "; ".join(problems)
    if not ran:
        return True, "enabled and active; not run yet"
    return True, "enabled and active; last run succeeded"


def prometheus_targets(text, ignore_jobs=()):
    """(up, down, ignored) from Prometheus' /api/v1/targets: lists of "job instance" and
    "job instance: health (lastError)"; a target not up whose job is in `ignore_jobs` is
    listed in `ignored` instead of `down`. Raises ValueError for anything but its JSON."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from None
    if not isinstance(document, dict) or document.get("status") != "success":
        raise ValueError(f"status {document.get('status') if isinstance(document, dict) else '?'}")
    up, down, ignored = [], [], []
    for target in (document.get("data") or {}).get("activeTargets") or []:
        labels = target.get("labels") or {}
        name = f"{labels.get('job', target.get('scrapePool', '?'))} " \
               f"{labels.get('instance', target.get('scrapeUrl', '?'))}"
        if target.get("health") == "up":
            up.append(name)
        else:
            error = target.get("lastError") or "no error given"
            text = f"{name}: {target.get('health', 'unknown')} ({error})"
            (ignored if labels.get("job") in ignore_jobs else down).append(text)
    return up, down, ignored


def grafana_health(text):
    """(ok, reason) from Grafana's /api/health ({"database": "ok", "version": ...})."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return False, f"/api/health is not JSON: {exc.msg}"
    if not isinstance(document, dict):
        return False, "/api/health is not a JSON object"
    if document.get("database") != "ok":
        return False, f"Grafana's database is {document.get('database')!r}"
    return True, f"Grafana {document.get('version', '?')} answers, database ok"


_STATUS_LINE = re.compile(r"^HTTP/\d(?:\.\d)?\s+(\d{3})")


def http_status(head):
    """The status code of an HTTP response's first line, or None."""
    match = _STATUS_LINE.match(head)
    return int(match.group(1)) if match else None


def web_verdict(code):
    """(ok, reason) for an app answering through Traefik: the app's own answer (a page, a
    redirect to its login, a refusal without a password) proves it is routed and alive;
    Traefik's own 404 (no router for the name) and 502/503/504 (router, but no app) do not."""
    if code is None:
        return False, "no HTTP answer"
    if 200 <= code < 400 or code in (401, 403):
        return True, f"HTTP {code}"
    why = {404: "no Traefik router for this name (is the workspace running?)",
           502: "Traefik has a router but the app does not answer",
           503: "Traefik has no healthy server for it", 504: "the app timed out"}.get(code, "")
    return False, f"HTTP {code}" + (f": {why}" if why else "")
