"""Which snapshots ts-snapshot made: the record that lets it prune only its own.

A read-only snapshot named in the scheme, of the right subvolume, in the right series directory,
can still be one an admin made by hand (`btrfs subvolume snapshot -r` with a `date -u` name) or a
keepsake of `ts-users remove`: nothing on disk tells them apart from ours. So ts-snapshot records
the UUID and path of every snapshot it creates, in [paths] state_dir/snapshot-record.json, and
prunes only recorded ones; anything else under the snapshot directory is reported and left alone.

Creation is recorded in two steps, so that a crash never orphans a snapshot: before creating,
the path is recorded as pending with the UUID of its source; a snapshot found at a pending path
whose parent UUID is that source is ours (a hand-made one put there in the same second would
pass too: a window of one second, once).

Versions before the record (and a state directory that was lost) leave snapshots unrecorded.
When the record does not exist, the first run that writes adopts what it can prove is its kind:
read-only, named in the scheme, directly in the series directory of a configured subvolume,
a snapshot of that very subvolume (parent UUID), and not a keepsake ts-users recorded. A
hand-made snapshot that passes all of that is adopted too; from then on, the record decides.
"""

import os
from dataclasses import dataclass, field

from trainserver.core.state import StateFile

NAME = "snapshot-record"
VERSION = 1


@dataclass
class Record:
    made: dict = field(default_factory=dict)  # uuid (hex) -> "<series>/<name>"
    pending: dict = field(default_factory=dict)  # "<series>/<name>" -> source uuid (hex)

    def owns(self, rel, uuid, parent_uuid):
        """Whether the snapshot `uuid` (a snapshot of `parent_uuid`) found at `rel` is ours."""
        if self.made.get(uuid) == rel:
            return True
        return parent_uuid is not None and self.pending.get(rel) == parent_uuid

    def series(self):
        return {os.path.dirname(rel) for rel in list(self.made.values()) + list(self.pending)}

    def to_json(self):
        return {"version": VERSION, "made": dict(sorted(self.made.items(), key=lambda kv: kv[1])),
                "pending": dict(sorted(self.pending.items()))}


def path(state_dir):
    return os.path.join(state_dir, f"{NAME}.json")


def load(state_dir):
    """The Record, or None when none exists yet (the first run of this version)."""
    document = StateFile(path(state_dir)).load(None)
    if not isinstance(document, dict) or not isinstance(document.get("made"), dict):
        return None
    pending = document.get("pending")
    return Record({str(k): str(v) for k, v in document["made"].items()},
                  {str(k): str(v) for k, v in (pending if isinstance(pending, dict) else {})
                   .items()})


def save(state_dir, record):
    StateFile(path(state_dir)).save(record.to_json())


def users_keepsakes(state_dir):
    """{"<series>/<name>": person} of the snapshots `ts-users remove` recorded making.

    ts-users keeps {"removals": {person: {subvolume: snapshot name}}} in users.json; read only,
    to tell people what a snapshot is. A missing or unreadable file is no keepsakes."""
    import json

    try:
        with open(os.path.join(state_dir, "users.json"), encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        return {}
    removals = document.get("removals") if isinstance(document, dict) else None
    found = {}
    for person, subvolumes in (removals if isinstance(removals, dict) else {}).items():
        for subvolume, name in (subvolumes if isinstance(subvolumes, dict) else {}).items():
            found[f"{subvolume}/{name}"] = person
    return found
