"""Backup snapshot sets on a real BTRFS: two backups within one second (sets are named to the
second; tests and an admin's manual run right after the timer's do that)."""

import os
import subprocess

import pytest

from trainserver.backup import snapset

pytestmark = pytest.mark.root


def test_a_set_completed_in_the_same_second_as_the_last_replaces_it(btrfs_mount):
    storage = btrfs_mount("1G")
    subprocess.run(["btrfs", "-q", "subvolume", "create", os.path.join(storage, "docker-volumes")],
                   check=True)
    now = 1_800_000_000
    first, _ = snapset.take(storage, "backup-snapshots", ["docker-volumes"], now)
    kept = snapset.complete(first)
    second, _ = snapset.take(storage, "backup-snapshots", ["docker-volumes"], now)
    assert snapset.complete(second) == kept
    assert [name for name, _, _ in snapset.sets(storage, "backup-snapshots")] == [
        os.path.basename(kept)]
    assert os.listdir(kept) == ["docker-volumes"]
