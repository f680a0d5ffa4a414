"""How big rclone's VFS cache may grow: pure logic.

The server manual says 80% of the space left after user data and snapshots. Taken literally,
a full cache pushes the filesystem past ts-storage's full_warning_percent once data and
snapshots pass about half the disk, and it eats ts-snapshot's min_free. So the cache gets the
smallest of three figures (`compute`), all in the filesystem's own terms (ts-storage's
"used" and "size", logical bytes after RAID10's two copies):

    other = used - cache_used           what is not the cache: user data, snapshots
    left  = size - other                what the cache could have at most
    share   = share% x left                                  (the manual's rule)
    warning = (full_warning% - margin%) x size - other       (stays below the warning)
    min_free = left - min_free                               (snapshot guard keeps its floor)
    cache = max(0, min(share, warning, min_free))
"""

from dataclasses import asdict, dataclass

GiB = 2**30
MiB = 2**20
# Below this the cache cannot hold a useful working set of a training data set: a warning,
# though the mount still runs (uncached reads go to Drive each time).
FLOOR = GiB
# rclone reads --vfs-cache-max-size 0 (and anything <= 0) as "no limit": a cache that must be
# empty still gets a tiny positive limit, so rclone evicts what is not open.
SMALLEST_LIMIT = MiB
# The daily re-check restarts the mount only when the figure moved more than this.
DRIFT = 0.10


@dataclass(frozen=True)
class Space:
    """The filesystem's figures (bytes) and what the cache directory holds now."""

    size: int
    used: int
    cache_used: int
    source: str = ""  # how they were measured, for the explanation


@dataclass(frozen=True)
class Rule:
    share_percent: int
    full_warning_percent: int
    margin_percent: int
    min_free: int


@dataclass(frozen=True)
class Sizing:
    other: int
    left: int
    share: int
    warning: int
    min_free: int
    cache: int
    binding: str  # "share", "warning" or "min_free": the figure that set the size

    @property
    def limit(self):
        """The value for --vfs-cache-max-size (bytes)."""
        return max(self.cache, SMALLEST_LIMIT)

    @property
    def too_small(self):
        return self.cache < FLOOR

    def to_dict(self):
        return {**asdict(self), "limit": self.limit, "too_small": self.too_small,
                "floor": FLOOR}


def compute(space, rule):
    """The cache size for `space` under `rule` (a Sizing)."""
    other = max(0, space.used - space.cache_used)
    left = max(0, space.size - other)
    candidates = {
        "share": left * rule.share_percent // 100,
        "warning": space.size * (rule.full_warning_percent - rule.margin_percent) // 100 - other,
        "min_free": left - rule.min_free,
    }
    binding = min(candidates, key=lambda name: (candidates[name], list(candidates).index(name)))
    return Sizing(other=other, left=left, cache=max(0, candidates[binding]), binding=binding,
                  **candidates)


def drifted(running, computed, tolerance=DRIFT):
    """True when `computed` differs from the `running` limit by more than `tolerance`."""
    if running <= 0:
        return computed > 0
    return abs(computed - running) > tolerance * running


def explain(space, rule, sizing):
    """The calculation as lines for people."""
    from trainserver.core.units import format_size

    percent = f" ({100 * space.used / space.size:.1f}%)" if space.size else ""
    rows = [
        ("filesystem size", space.size, f"({space.source})" if space.source else ""),
        ("used", space.used, percent.strip()),
        ("  of which the cache", space.cache_used, ""),
        ("other: data, snapshots", sizing.other, "= used - cache"),
        ("left for the cache", sizing.left, "= size - other"),
        None,
        (f"a. {rule.share_percent}% of left", sizing.share,
         "(the manual's rule)"),
        (f"b. stays {rule.margin_percent} points below the {rule.full_warning_percent}% "
         "warning", sizing.warning,
         f"= {rule.full_warning_percent - rule.margin_percent}% of size - other"),
        (f"c. leaves [snapshot] min_free ({format_size(rule.min_free)})", sizing.min_free,
         "= left - min_free"),
        None,
        ("cache = max(0, min(a, b, c))", sizing.cache, f"({sizing.binding} binds)"),
    ]
    width = max(len(row[0]) for row in rows if row)
    lines = []
    for row in rows:
        if row is None:
            lines.append("")
            continue
        label, value, note = row
        lines.append(f"{label:<{width}}  {format_size(value):>11}  {note}".rstrip())
    if sizing.cache < sizing.limit:
        lines.append(f"rclone is given {format_size(sizing.limit)}: it reads 0 as no limit")
    if sizing.too_small:
        lines.append(f"warning: below {format_size(FLOOR)}: the storage is too full for a "
                     "Drive cache; the mount still runs, reading through to Drive")
    return lines
