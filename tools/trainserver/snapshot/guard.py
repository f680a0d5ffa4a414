"""The free-space guard's decisions: when to stop deleting, when to try again, what to say.

Pure logic; actions.free_space_guard measures and deletes. Every snapshot the guard deletes was
meant to be kept, so it deletes one at a time, commits, measures what came back, and stops as
soon as deletions stop giving space back: when live data fills the disk, deleting its history
frees nothing (the live subvolume still holds every extent), and an outside test saw the old
guard delete 120 of 136 snapshots, every daily and weekly among them, for no space at all.

- "Gave space back": freed at least `min_return` (1% of min_free, at least 1 MiB). Smaller
  amounts are a snapshot's own metadata, or noise from writes going on meanwhile.
- "Stopped giving space back": STALL deletions in a row each gave less. Data shared by several
  snapshots comes back only with the last of them, so a stop can come early; it errs towards
  keeping history, and the finding says what holds the space instead.
- A stop is remembered (with the live data's size then): later runs delete nothing more until
  the live data has shrunk by min_return since, which is when snapshots may hold what was
  deleted from it. Without that, each hourly run would delete STALL more and still wipe the
  history, only more slowly.
"""

from dataclasses import dataclass, field

MiB = 1024 * 1024
STALL = 2
SHOWN = 3  # live subvolumes named in a finding, largest first


def min_return(floor):
    return max(MiB, floor // 100)


@dataclass
class Progress:
    floor: int
    free: int
    freed: list = field(default_factory=list)  # bytes back after each deletion (can be < 0)

    def __post_init__(self):
        self.least = min_return(self.floor)

    def measured(self, free_after):
        self.freed.append(free_after - self.free)
        self.free = free_after

    @property
    def reached(self):
        return self.free >= self.floor

    @property
    def stalled(self):
        recent = self.freed[-STALL:]
        return len(recent) == STALL and all(freed < self.least for freed in recent)


def may_retry(stall, live_total, floor):
    """After a remembered stop, whether deleting may help again: the live data shrank since."""
    if not stall:
        return True
    before = stall.get("live_total")
    if before is None or live_total is None:
        return False  # not measured: keep the history
    return before - live_total >= min_return(floor)


def holders(live, baselines, used, foreign_count, format_size):
    """What holds the space, in words: the largest live subvolumes (and how much each grew
    since its oldest snapshot), their total against the filesystem's use, and what ts-snapshot
    leaves alone.

    `live`: {series: (bytes, complete)}; `baselines`: {series: (snapshot name, bytes)}."""
    if not live:
        parts = ["no snapshotted subvolume's live data could be measured"]
    else:
        largest = sorted(live.items(), key=lambda kv: (-kv[1][0], kv[0]))[:SHOWN]
        shown = []
        for series, (size, complete) in largest:
            text = f"{series} {'' if complete else 'at least '}{format_size(size)}"
            if series in baselines:
                name, base = baselines[series]
                if size >= base:
                    text += f" (grew by {format_size(size - base)} since its snapshot {name})"
                else:
                    text += f" (shrank by {format_size(base - size)} since its snapshot {name})"
            shown.append(text)
        total = sum(size for size, _ in live.values())
        parts = [f"live data holds {format_size(total)} of the {format_size(used)} used: "
                 + ", ".join(shown)]
    if foreign_count:
        parts.append(f"{foreign_count} snapshot(s) or directories ts-snapshot did not make are "
                     f"left alone (ts-snapshot list shows them)")
    return "; ".join(parts)
