"""One office uplink shared by every upload: [network] upload_limit caps them all together.

ts-backup (restic) and ts-sync (rclone, the daily run and the migration) each hold a claim
while they upload: a small file under [paths] lock_dir with the rate they use, kept under an
flock for as long as the uploader lives. The kernel drops the flock when its holder dies, so a
claim whose flock can be taken is stale and counts for nothing, whatever its file says.

The split (share) is the same for everyone:
- restic's rate is fixed for its whole run (--limit-upload), so a claim says whether its rate
  can change while it runs (rclone's can, through its remote control: core/bwlimit);
- a new uploader takes an equal share of what the fixed claims of the others leave, and each
  adjustable uploader recomputes its share every few seconds, so while ts-backup and ts-sync
  run together each gets half, and ts-sync gets the whole uplink back when the backup ends;
- an adjustable uploader whose share is 0 (a backup that started alone and holds the whole
  uplink) waits for its turn instead of going over the limit.
Each tool's own bandwidth ([backup] bandwidth, [sync] bandwidth) caps its share.
"""

import errno
import fcntl
import json
import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)

PREFIX = "trainserver-uplink-"
SUFFIX = ".claim"


@dataclass(frozen=True)
class Claim:
    name: str
    rate: float  # bytes per second
    adjustable: bool
    pid: int = 0


def share(limit, cap, others, adjustable=True):
    """Bytes per second this uploader may use. Pure.

    limit: [network] upload_limit; cap: the tool's own bandwidth; others: the live claims of
    every other uploader. A fixed uploader (restic) starting now takes an equal share of what
    the others' fixed claims leave, as an adjustable one does: the adjustable ones shrink to
    make room within a few seconds."""
    fixed = sum(claim.rate for claim in others if not claim.adjustable)
    sharing = 1 + sum(1 for claim in others if claim.adjustable)
    left = max(0.0, float(limit) - fixed)
    return max(0.0, min(float(cap), left / sharing))


def describe(others):
    """The others' claims for a log line: "ts-backup at 6.2 MB/s"."""
    return ", ".join(f"{claim.name} at {claim.rate / 1e6:.1f} MB/s" for claim in others) or "none"


def _path(lock_dir, name):
    return os.path.join(lock_dir, f"{PREFIX}{name}{SUFFIX}")


def live_claims(lock_dir, exclude=None):
    """The claims whose holders are alive, except `exclude` (a claim name)."""
    try:
        entries = sorted(os.listdir(lock_dir))
    except FileNotFoundError:
        return []
    claims = []
    for entry in entries:
        if not (entry.startswith(PREFIX) and entry.endswith(SUFFIX)):
            continue
        name = entry[len(PREFIX):-len(SUFFIX)]
        if name == exclude:
            continue
        claim = _read_live(os.path.join(lock_dir, entry), name)
        if claim is not None:
            claims.append(claim)
    return claims


def _read_live(path, name):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
        else:
            return None  # nobody holds it: the uploader is gone
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        record = json.loads(data)
        return Claim(name, float(record["rate"]), bool(record["adjustable"]),
                     int(record.get("pid", 0)))
    except (ValueError, KeyError, TypeError):
        # Caught between the holder's truncate and its write: it is alive, its rate unknown.
        # Counting it as adjustable at rate 0 still makes the reader share with it.
        return Claim(name, 0.0, True)


class Uplink:
    """This process's claim on the uplink, held from `claim()` until `release()` (or death)."""

    def __init__(self, lock_dir, name, limit, cap, adjustable):
        self.lock_dir = lock_dir
        self.name = name
        self.limit = limit
        self.cap = cap
        self.adjustable = adjustable
        self.rate = None
        self._fd = None

    def others(self):
        return live_claims(self.lock_dir, exclude=self.name)

    def current_share(self):
        """(rate, others): this uploader's share now, and the claims it shares with."""
        others = self.others()
        return share(self.limit, self.cap, others, self.adjustable), others

    def claim(self, rate=None):
        """Hold the claim at `rate` (default: the share now); returns the rate claimed."""
        if rate is None:
            rate, _others = self.current_share()
        if self._fd is None:
            os.makedirs(self.lock_dir, exist_ok=True)
            fd = os.open(_path(self.lock_dir, self.name),
                         os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise
            self._fd = fd
        record = json.dumps({"rate": rate, "adjustable": self.adjustable, "pid": os.getpid()})
        os.lseek(self._fd, 0, os.SEEK_SET)
        os.ftruncate(self._fd, 0)
        os.write(self._fd, record.encode())
        self.rate = rate
        return rate

    def release(self):
        if self._fd is None:
            return
        try:
            os.unlink(_path(self.lock_dir, self.name))
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
        return False
