"""ts-snapshot on a real BTRFS (loop device): create, list, plan and prune stepping through
simulated weeks, nested subvolumes, foreign entries left alone, restore with reflinks, the
free-space guard and the lock. Needs root and btrfs-progs."""

import datetime as dt
import json
import os
import subprocess
import time
from zoneinfo import ZoneInfo

import pytest

from tests.unit.snapshot import oracle
from trainserver.core.findings import parse_line
from trainserver.core.lock import ToolLock
from trainserver.snapshot import naming, record
from trainserver.snapshot.policy import Policy

pytestmark = pytest.mark.root
btrfsutil = pytest.importorskip("btrfsutil", reason="python3-btrfsutil is a dependency")

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
MiB = 1024 * 1024


@pytest.fixture
def storage(btrfs_mount, tmp_path):
    """The storage layout of docs/design.md on a fresh BTRFS, and a config pointing at it."""
    root = btrfs_mount()
    for directory in ("homes", "tensorboard", "workspaces"):
        os.mkdir(os.path.join(root, directory))
    for subvolume in ("homes/alice", "homes/bob", "homes/bob/nested", "docker-volumes",
                      "tensorboard/alice", "workspaces/alice"):
        btrfsutil.create_subvolume(os.path.join(root, subvolume))
    state = tmp_path / "state"
    config = tmp_path / "trainserver.toml"
    config.write_text(f'[paths]\nstorage = "{root}"\nstate_dir = "{state}"\n'
                      f'lock_dir = "{state}"\nmetrics_dir = "{state}/metrics"\n'
                      f'[snapshot]\ntimezone = "Europe/Berlin"\nmin_free = "0"\n')
    return root, str(config)


def snap(run_tool, config, *args):
    return run_tool("ts-snapshot", *args, env={"TRAINSERVER_CONFIG": config})


def findings(result):
    return [parse_line(line) for line in result.stdout.splitlines() if line.strip()]


def on_disk(root, series):
    directory = os.path.join(root, "snapshots", series)
    return sorted(name for name in os.listdir(directory) if naming.parse_name(name))


def state_dir(root):
    """[paths] state_dir of the `storage` fixture's config (beside the mount point)."""
    return os.path.join(os.path.dirname(root), "state")


def make_snapshot(root, series, moment, recorded=True):
    """A snapshot of `series` named for a past `moment`, as an earlier run would have left it:
    in ts-snapshot's record (recorded), or made by hand (or by a version before the record)."""
    destination = os.path.join(root, "snapshots", series, naming.name_for(moment))
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    btrfsutil.create_snapshot(os.path.join(root, series), destination, read_only=True)
    if recorded:
        made = record.load(state_dir(root)) or record.Record()
        made.made[btrfsutil.subvolume_info(destination).uuid.hex()] = \
            f"{series}/{naming.name_for(moment)}"
        record.save(state_dir(root), made)
    return destination


def test_create_snapshots_every_subvolume_and_nested_ones_read_only(run_tool, storage):
    root, config = storage
    with open(os.path.join(root, "homes/bob/nested/model.pt"), "w") as handle:
        handle.write("weights")
    os.mkdir(os.path.join(root, "homes/carol"))  # a plain directory: cannot be snapshotted
    result = snap(run_tool, config, "create", "--json")
    assert result.returncode == 1, result.stderr  # the warning about carol
    by_subject = {f.subject: f for f in findings(result)}
    assert by_subject["homes/carol"].severity.label == "warning"
    created = ["docker-volumes", "homes/alice", "homes/bob", "homes/bob/nested",
               "tensorboard/alice"]
    for series in created:
        assert by_subject[series].severity.label == "ok"
        [name] = on_disk(root, series)
        path = os.path.join(root, "snapshots", series, name)
        assert btrfsutil.is_subvolume(path) and btrfsutil.get_subvolume_read_only(path)
    assert "workspaces/alice" not in by_subject  # scratch: not in the default set
    # BTRFS snapshots are not recursive: bob's snapshot holds an empty directory where nested
    # is; nested's own snapshot holds the data.
    [bob] = on_disk(root, "homes/bob")
    assert os.listdir(os.path.join(root, "snapshots/homes/bob", bob, "nested")) == []
    [nested] = on_disk(root, "homes/bob/nested")
    with open(os.path.join(root, "snapshots/homes/bob/nested", nested, "model.pt")) as handle:
        assert handle.read() == "weights"
    # a second run in the same second finds its snapshot made: no error
    listing = json.loads(snap(run_tool, config, "list", "--json").stdout)
    assert {s["subvolume"] for s in listing["snapshots"]} == set(created)
    assert all(s["action"] == "keep" for s in listing["snapshots"])
    assert listing["timezone"] == "Europe/Berlin"


def test_prune_steps_through_weeks_as_the_rules_say(run_tool, storage):
    """Hourly snapshots over four weeks across the October daylight-saving change in Berlin,
    with two days off; prune --now after each simulated day; what is left on disk after each
    step must be what the naive statement of the rules (tests/unit/snapshot/oracle.py) keeps."""
    root, config = storage
    policy = Policy(timezone=BERLIN)  # the defaults, as the config has them
    series = "homes/alice"
    start = dt.datetime(2026, 10, 10, 0, 0, tzinfo=BERLIN).astimezone(UTC)
    expected = set()
    for day in range(28):
        if day in (12, 13):  # the machine was off
            continue
        day_start = start + dt.timedelta(days=day)
        new = [day_start + dt.timedelta(hours=h) for h in range(24)]
        for moment in new:
            make_snapshot(root, series, moment)
        now = new[-1] + dt.timedelta(minutes=30)
        expected = oracle.kept(expected | set(new), policy, now)
        now_text = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        planned = json.loads(snap(run_tool, config, "plan", "--now", now_text, "--json").stdout)
        planned_deletions = {s["name"] for s in planned["snapshots"]
                             if s["subvolume"] == series and s["action"] == "delete"}
        result = snap(run_tool, config, "prune", "--now", now_text, "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        left = set(on_disk(root, series))
        assert left == {naming.name_for(t) for t in expected}, f"after day {day}"
        assert planned_deletions.isdisjoint(left)
    # 24 hourly + 7 daily + 4 weekly, the newest among the hourlies: overlaps counted once
    assert 24 < len(expected) <= 24 + 7 + 4
    # a second prune at the same time deletes nothing
    again = snap(run_tool, config, "prune", "--now", now_text, "--json")
    assert {f.summary for f in findings(again) if f.subject == series} == \
        {f"kept {len(expected)}, deleted 0"}
    assert set(on_disk(root, series)) == {naming.name_for(t) for t in expected}
    # quotas were never turned on (they make snapshot cleanup ~450x slower: docs/measured.md)
    qgroups = subprocess.run(["btrfs", "qgroup", "show", root], capture_output=True, text=True)
    assert qgroups.returncode != 0 and "quota" in qgroups.stderr.lower()


def test_foreign_entries_are_reported_and_left_alone(run_tool, storage):
    root, config = storage
    old = dt.datetime(2026, 1, 1, tzinfo=UTC)
    make_snapshot(root, "homes/alice", old)
    base = os.path.join(root, "snapshots", "homes", "alice")
    btrfsutil.create_snapshot(os.path.join(root, "homes/alice"),
                              os.path.join(base, "before-upgrade"), read_only=True)
    writable = naming.name_for(old + dt.timedelta(hours=1))
    btrfsutil.create_snapshot(os.path.join(root, "homes/alice"), os.path.join(base, writable))
    with open(os.path.join(base, "notes.txt"), "w") as handle:
        handle.write("mine")
    os.mkdir(os.path.join(base, naming.name_for(old + dt.timedelta(hours=2))))
    # ours: the second snapshot of an hour, which no rule keeps once a newer one exists
    second = naming.name_for(old + dt.timedelta(minutes=10))
    make_snapshot(root, "homes/alice", old + dt.timedelta(minutes=10))
    assert snap(run_tool, config, "create").returncode == 0
    result = snap(run_tool, config, "prune", "--json")
    assert result.returncode == 0, result.stderr
    foreign = {f.subject: f.summary for f in findings(result) if f.check == "foreign"}
    assert set(foreign) == {f"snapshots/homes/alice/{n}" for n in (
        "before-upgrade", writable, "notes.txt", naming.name_for(old + dt.timedelta(hours=2)))}
    assert "writable" in foreign[f"snapshots/homes/alice/{writable}"]
    assert set(os.listdir(base)) >= {"before-upgrade", writable, "notes.txt"}
    assert second not in os.listdir(base) and naming.name_for(old) in os.listdir(base)
    plan_text = snap(run_tool, config, "plan").stdout
    assert "left alone:" in plan_text and "before-upgrade" in plan_text


def shared_bytes(path):
    """(total, exclusive) bytes of `path` as `btrfs filesystem du` counts them."""
    out = subprocess.run(["btrfs", "filesystem", "du", "--raw", path], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    total, exclusive = out[-1].split()[:2]
    return int(total), int(exclusive)


def test_restore_uses_reflinks_and_never_overwrites_unasked(run_tool, storage, tmp_path):
    root, config = storage
    home = os.path.join(root, "homes/alice")
    os.makedirs(os.path.join(home, "project/data"))
    payload = os.urandom(16 * MiB)
    with open(os.path.join(home, "project/data/big.bin"), "wb") as handle:
        handle.write(payload)
    with open(os.path.join(home, "project/train.py"), "w") as handle:
        handle.write("version 1\n")
    os.chmod(os.path.join(home, "project/train.py"), 0o750)
    assert snap(run_tool, config, "create").returncode == 0
    [first] = on_disk(root, "homes/alice")
    subprocess.run(["rm", "-r", os.path.join(home, "project/data")], check=True)
    with open(os.path.join(home, "project/train.py"), "w") as handle:
        handle.write("version 2\n")

    # a deleted directory comes back, sharing the snapshot's extents
    target = os.path.join(home, "project/data")
    result = snap(run_tool, config, "restore", target)
    assert result.returncode == 0, result.stderr
    with open(os.path.join(target, "big.bin"), "rb") as handle:
        assert handle.read() == payload
    subprocess.run(["sync"], check=True)
    total, exclusive = shared_bytes(os.path.join(target, "big.bin"))
    assert total == 16 * MiB and exclusive == 0

    # existing data is not overwritten without --overwrite
    train = os.path.join(home, "project/train.py")
    refused = snap(run_tool, config, "restore", train)
    assert refused.returncode == 2 and "not overwritten" in refused.stderr
    assert "give --to for another place, or --overwrite" in refused.stderr
    assert open(train).read() == "version 2\n"
    # --dry-run changes nothing
    dry = snap(run_tool, config, "restore", "--overwrite", "--dry-run", train)
    assert dry.returncode == 0 and open(train).read() == "version 2\n"
    assert "would be kept as " + train + ".replaced-" in dry.stdout, dry.stdout
    assert not [n for n in os.listdir(os.path.dirname(train)) if ".replaced-" in n]
    # a copy that cannot be made (no reflinks off BTRFS) leaves the live file as it was
    (tmp_path / "ext4").mkdir()
    off_btrfs = tmp_path / "ext4" / "train.py"
    off_btrfs.write_text("elsewhere\n")
    failed = snap(run_tool, config, "restore", train, "--to", str(off_btrfs), "--overwrite")
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert os.listdir(off_btrfs.parent) == ["train.py"]
    assert off_btrfs.read_text() == "elsewhere\n"
    # --to another place
    elsewhere = os.path.join(home, "train-v1.py")
    assert snap(run_tool, config, "restore", train, "--to", elsewhere).returncode == 0
    assert open(elsewhere).read() == "version 1\n"
    assert os.stat(elsewhere).st_mode & 0o777 == 0o750
    # --overwrite keeps the replaced version aside
    done = snap(run_tool, config, "restore", train, "--overwrite", "--from", first)
    assert done.returncode == 0, done.stderr
    assert open(train).read() == "version 1\n"
    [aside] = [n for n in os.listdir(os.path.dirname(train)) if n.startswith("train.py.replaced-")]
    assert open(os.path.join(os.path.dirname(train), aside)).read() == "version 2\n"
    assert f"kept as {os.path.dirname(train)}/{aside}" in done.stdout
    assert not [n for n in os.listdir(os.path.dirname(train)) if n.startswith(".ts-snapshot")]
    # a snapshot that does not exist, and a path outside every series, are clear errors
    missing = snap(run_tool, config, "restore", train, "--to", elsewhere + "2", "--from",
                   "20000101T000000Z")
    assert missing.returncode == 2 and "has no snapshot 20000101T000000Z" in missing.stderr
    outside = snap(run_tool, config, "restore", os.path.join(root, "workspaces/alice/x"))
    assert outside.returncode == 2 and "no snapshots hold" in outside.stderr


def test_a_whole_subvolume_restored_over_itself_stays_a_subvolume(run_tool, storage):
    root, config = storage
    home = os.path.join(root, "homes/bob")
    with open(os.path.join(home, "notes.txt"), "w") as handle:
        handle.write("before\n")
    with open(os.path.join(home, "nested/model.pt"), "w") as handle:
        handle.write("weights\n")
    assert snap(run_tool, config, "create").returncode == 0
    [first] = on_disk(root, "homes/bob")
    with open(os.path.join(home, "notes.txt"), "w") as handle:
        handle.write("after\n")
    with open(os.path.join(home, "nested/model.pt"), "w") as handle:
        handle.write("weights, trained on\n")

    dry = snap(run_tool, config, "restore", home, "--overwrite", "--from", first, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert open(os.path.join(home, "notes.txt")).read() == "after\n"
    assert not [n for n in os.listdir(os.path.join(root, "homes")) if "replaced" in n]

    done = snap(run_tool, config, "restore", home, "--overwrite", "--from", first)
    assert done.returncode == 0, done.stderr
    # still a subvolume, writable, with the snapshot's files: the next snapshot takes it
    assert btrfsutil.is_subvolume(home) and not btrfsutil.get_subvolume_read_only(home)
    assert open(os.path.join(home, "notes.txt")).read() == "before\n"
    # the live nested subvolume moved into the restored root, not left in the old one
    assert btrfsutil.is_subvolume(os.path.join(home, "nested"))
    assert open(os.path.join(home, "nested/model.pt")).read() == "weights, trained on\n"
    [aside] = [n for n in os.listdir(os.path.join(root, "homes")) if n.startswith("bob.replaced-")]
    old = os.path.join(root, "homes", aside)
    assert btrfsutil.is_subvolume(old) and open(os.path.join(old, "notes.txt")).read() == "after\n"
    assert not [n for n in os.listdir(os.path.join(root, "homes")) if n.startswith(".ts-snapshot")]
    # the next hourly snapshot takes the restored subvolume (names are by the second)
    while naming.name_for(dt.datetime.now(UTC)) == first:
        time.sleep(0.1)
    again = snap(run_tool, config, "create")
    assert again.returncode == 0, again.stderr
    [_, newest] = on_disk(root, "homes/bob")
    made = btrfsutil.subvolume_info(os.path.join(root, "snapshots/homes/bob", newest))
    assert made.parent_uuid == btrfsutil.subvolume_info(home).uuid


def test_free_space_guard_deletes_oldest_unprotected_and_space_comes_back(run_tool, storage,
                                                                          tmp_path):
    root, config = storage
    home = os.path.join(root, "homes/alice")
    now = dt.datetime.now(UTC).replace(microsecond=0)
    # Weekly snapshots, each holding 48 MiB no other snapshot shares: all kept by the policy.
    times = [now - dt.timedelta(weeks=w) for w in (3, 2, 1)] + [now - dt.timedelta(minutes=5)]
    for moment in times:
        with open(os.path.join(home, "blob"), "wb") as handle:
            handle.write(os.urandom(48 * MiB))
        make_snapshot(root, "homes/alice", moment)
    os.unlink(os.path.join(home, "blob"))
    subprocess.run(["btrfs", "filesystem", "sync", root], check=True)
    free = os.statvfs(root).f_bavail * os.statvfs(root).f_frsize
    # a floor that deleting about two of the old snapshots reaches
    floor = free + 80 * MiB
    text = open(config).read().replace('min_free = "0"', f'min_free = "{floor}"')
    open(config, "w").write(text)
    result = snap(run_tool, config, "prune", "--json")
    after = os.statvfs(root).f_bavail * os.statvfs(root).f_frsize
    assert result.returncode == 1, result.stdout + result.stderr
    [guard] = [f for f in findings(result) if f.check == "free-space"]
    assert guard.severity.label == "warning" and "deleted" in guard.summary
    left = on_disk(root, "homes/alice")
    # the oldest went first, one at a time, and no more than the floor needed (48 MiB each)
    assert left == [naming.name_for(t) for t in times[2:]]
    assert "deleted 2 kept snapshots" in guard.summary
    # the space is back when the command returns, without waiting for BTRFS's 30 s commit
    assert after >= floor


def test_a_lock_held_past_lock_wait_is_a_critical_finding_and_nothing_is_done(run_tool,
                                                                               storage):
    root, config = storage
    with open(config, "a") as handle:
        handle.write('lock_wait = "1s"\n')
    with ToolLock("snapshot", os.path.join(os.path.dirname(config), "state"),
                  command="ts-snapshot prune"):
        result = snap(run_tool, config, "run", "--json")
    assert result.returncode == 75
    (finding,) = findings(result)
    assert (finding.check, finding.subject, finding.severity.label) == \
        ("run", "ts-snapshot run", "critical")
    assert "gave up after waiting 1 s" in finding.summary
    assert "held by ts-snapshot prune (process" in finding.summary
    assert not os.path.exists(os.path.join(root, "snapshots"))


def test_a_run_waits_for_another_that_finishes_in_time(run_tool, storage):
    import threading

    root, config = storage
    lock = ToolLock("snapshot", os.path.join(os.path.dirname(config), "state")).acquire()
    threading.Timer(2, lock.release).start()
    result = snap(run_tool, config, "run", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert on_disk(root, "homes/alice")


def _plain_directory_config(tmp_path, fstab_text, storage_keys=""):
    (tmp_path / "fstab").write_text(fstab_text)
    config = tmp_path / "trainserver.toml"
    config.write_text(f'[paths]\nstorage = "{tmp_path}"\nstate_dir = "{tmp_path}/s"\n'
                      f'lock_dir = "{tmp_path}/s"\nmetrics_dir = "{tmp_path}/s/m"\n'
                      f'[storage]\nfstab = "{tmp_path}/fstab"\n{storage_keys}')
    return {"TRAINSERVER_CONFIG": str(config)}


@pytest.mark.parametrize("fstab_entry, storage_keys", [
    (True, ""),  # built once, then not mounted
    (False, 'backing_devices = ["/dev/disk/by-id/ata-HDD1", "/dev/disk/by-id/ata-HDD2"]\n'),
], ids=["fstab entry", "devices in [storage]"])
def test_configured_storage_that_is_not_there_is_critical(run_tool, tmp_path, fstab_entry,
                                                           storage_keys):
    fstab = f"UUID=495223b3 {tmp_path} btrfs noatime 0 0\n" if fstab_entry else ""
    env = _plain_directory_config(tmp_path, fstab, storage_keys)
    for command in ("run", "create", "prune"):
        result = run_tool("ts-snapshot", command, "--json", env=env)
        assert result.returncode == 2, (command, result.stdout + result.stderr)
        [finding] = findings(result)
        assert finding.severity.label == "critical" and "not a mounted BTRFS" in finding.summary
    assert not os.path.exists(tmp_path / "snapshots")


def test_a_machine_without_the_storage_gets_one_ok_finding_and_nothing_done(run_tool,
                                                                            tmp_path):
    env = _plain_directory_config(tmp_path, "UUID=2f1c / ext4 defaults 0 1\n")
    result = run_tool("ts-snapshot", "run", "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    [finding] = findings(result)
    assert (finding.check, finding.severity.label) == ("storage", "ok")
    assert finding.summary.startswith("not configured: [storage] names no devices")
    assert not os.path.exists(tmp_path / "snapshots")
    listed = run_tool("ts-snapshot", "list", env=env)
    assert listed.returncode == 0 and "not configured" in listed.stderr


def test_run_creates_then_prunes_and_writes_metrics(run_tool, storage, tmp_path):
    root, config = storage
    make_snapshot(root, "homes/alice", dt.datetime(2025, 1, 1, tzinfo=UTC))
    make_snapshot(root, "homes/alice", dt.datetime(2025, 1, 1, 0, 30, tzinfo=UTC))
    result = snap(run_tool, config, "run", "--json")
    assert result.returncode == 0, result.stderr
    checks = {(f.check, f.subject) for f in findings(result)}
    assert ("create", "homes/alice") in checks and ("prune", "homes/alice") in checks
    # 2025-01-01 00:00 is the first of its hour, day and week; 00:30 is first of nothing
    assert len(on_disk(root, "homes/alice")) == 2
    metrics = (tmp_path / "state/metrics/trainserver_snapshot.prom").read_text()
    assert 'trainserver_snapshot_count{subvolume="homes/alice"} 2' in metrics


def test_guard_never_deletes_a_newest_or_young_snapshot(run_tool, storage):
    root, config = storage
    now = dt.datetime.now(UTC).replace(microsecond=0)
    old = [now - dt.timedelta(weeks=w) for w in (2, 1)]
    young = now - dt.timedelta(minutes=20)  # younger than min_age (1h)
    for moment in old + [young]:
        make_snapshot(root, "homes/alice", moment)
    make_snapshot(root, "homes/bob", now - dt.timedelta(weeks=3))  # bob's newest: protected
    text = open(config).read().replace('min_free = "0"', 'min_free = "1TiB"')
    open(config, "w").write(text)
    result = snap(run_tool, config, "prune", "--json")
    assert result.returncode == 1, result.stderr
    [guard] = [f for f in findings(result) if f.check == "free-space"]
    # the two old ones gave nothing back (they share everything): it stops there either way
    assert "deleted 2 kept snapshots" in guard.summary and "stopped" in guard.summary
    assert on_disk(root, "homes/alice") == [naming.name_for(young)]
    assert len(on_disk(root, "homes/bob")) == 1


def test_dry_run_prune_deletes_nothing_and_says_what_it_would(run_tool, storage):
    root, config = storage
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    for minutes in (0, 10, 20):
        make_snapshot(root, "homes/alice", start + dt.timedelta(minutes=minutes))
    now_text = "2026-01-02T00:00:00Z"
    result = snap(run_tool, config, "prune", "--dry-run", "--now", now_text, "--json")
    assert result.returncode == 0, result.stderr
    assert {f.summary for f in findings(result) if f.subject == "homes/alice"} == \
        {"kept 2, would delete 1"}
    assert len(on_disk(root, "homes/alice")) == 3
    created = snap(run_tool, config, "create", "--dry-run", "--json")
    assert all(f.summary.startswith("would create") for f in findings(created))
    assert len(on_disk(root, "homes/alice")) == 3
    assert not os.path.exists(os.path.join(root, "snapshots/homes/bob"))


def set_config(config, **values):
    """Replace or add [snapshot] keys (the fixture's table is the file's last)."""
    text = open(config).read()
    for key, value in values.items():
        if key == "min_free":
            text = text.replace('min_free = "0"\n', "")
        text += f'{key} = "{value}"\n'
    open(config, "w").write(text)


def free_bytes(root):
    subprocess.run(["btrfs", "filesystem", "sync", root], check=True)
    info = os.statvfs(root)
    return info.f_bavail * info.f_frsize


def guard_of(result):
    [guard] = [f for f in findings(result) if f.check == "free-space"]
    return guard


# A Wednesday: 13:00 in Berlin. The history below has, by the rules at this time, its newest
# weekly on Sunday 12-06 and its newest daily on 12-09 03:00, each older than the newest.
GUARD_NOW = dt.datetime(2026, 12, 9, 12, 0, tzinfo=UTC)
GUARD_HISTORY = [dt.datetime(*t, tzinfo=BERLIN).astimezone(UTC) for t in (
    (2026, 11, 22, 3, 30), (2026, 11, 29, 3, 30), (2026, 12, 6, 3, 30), (2026, 12, 7, 3, 0),
    (2026, 12, 8, 3, 0), (2026, 12, 9, 3, 0), (2026, 12, 9, 9, 0), (2026, 12, 9, 10, 0))]


def protected_names(run_tool, config, series, now_text):
    """The snapshots `plan` keeps as the newest, the newest daily or the newest weekly."""
    planned = json.loads(snap(run_tool, config, "plan", "--now", now_text, "--json").stdout)
    return {s["name"] for s in planned["snapshots"] if s["subvolume"] == series and any(
        r == "newest" or r.startswith(("daily 1/", "weekly 1/")) for r in s["reasons"])}


def test_guard_never_deletes_the_newest_daily_or_weekly_even_when_they_hold_space(run_tool,
                                                                                storage):
    """Space held by snapshots: each holds 40 MiB of its own. The guard deletes what is not
    protected, measuring each, and keeps the newest, the newest daily and the newest weekly."""
    root, config = storage
    home = os.path.join(root, "homes/alice")
    for moment in GUARD_HISTORY:
        with open(os.path.join(home, "blob"), "wb") as handle:
            handle.write(os.urandom(40 * MiB))
        make_snapshot(root, "homes/alice", moment)
    os.unlink(os.path.join(home, "blob"))
    now_text = GUARD_NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    protected = protected_names(run_tool, config, "homes/alice", now_text)
    assert protected == {naming.name_for(GUARD_HISTORY[i]) for i in (2, 5, 7)}
    set_config(config, min_free=free_bytes(root) + len(GUARD_HISTORY) * 40 * MiB)
    result = snap(run_tool, config, "prune", "--now", now_text, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    guard = guard_of(result)
    assert guard.severity.label == "warning"
    assert "deleted 5 kept snapshots" in guard.summary, guard.summary
    assert "only protected snapshots are left" in guard.summary
    assert set(on_disk(root, "homes/alice")) == protected
    # every deletion gave its 40 MiB back, measured
    assert guard.value >= free_bytes(root) - MiB


def test_guard_stops_when_live_data_holds_the_space_and_says_so(run_tool, storage):
    """Space held by live data: bob's history shares everything with his home, then his home
    grew by 300 MiB. Deleting snapshots gives nothing back: the guard stops after two, names
    homes/bob and its growth, and deletes nothing more on the next runs."""
    root, config = storage
    home = os.path.join(root, "homes/bob")
    with open(os.path.join(home, "code.py"), "w") as handle:
        handle.write("print('hello')\n")
    for moment in GUARD_HISTORY:
        make_snapshot(root, "homes/bob", moment)
    with open(os.path.join(home, "checkpoints.bin"), "wb") as handle:
        for _ in range(30):
            handle.write(os.urandom(10 * MiB))
    now_text = GUARD_NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    set_config(config, min_free=free_bytes(root) + 200 * MiB)
    result = snap(run_tool, config, "prune", "--now", now_text, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    guard = guard_of(result)
    assert "deleted 2 kept snapshots" in guard.summary, guard.summary
    assert "stopped: the last 2 deletions each gave back less than" in guard.summary
    # what holds the space instead: bob's live data, grown since his oldest snapshot left
    oldest_left = naming.name_for(GUARD_HISTORY[2])
    assert f"homes/bob 300.0 MiB (grew by 300.0 MiB since its snapshot {oldest_left})" in \
        guard.summary, guard.summary
    assert on_disk(root, "homes/bob") == [naming.name_for(t) for t in GUARD_HISTORY[2:]]
    # the next hourly runs delete nothing more while the live data has not shrunk
    for hours in (1, 2):
        later = (GUARD_NOW + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
        again = snap(run_tool, config, "prune", "--now", later, "--json")
        assert again.returncode == 1, again.stdout + again.stderr
        assert "deleting nothing" in guard_of(again).summary
        assert "homes/bob 300.0 MiB" in guard_of(again).summary
        assert on_disk(root, "homes/bob") == [naming.name_for(t) for t in GUARD_HISTORY[2:]]
    # the live data goes: free space is above the floor and the guard is at rest
    os.unlink(os.path.join(home, "checkpoints.bin"))
    done = snap(run_tool, config, "prune", "--now", now_text, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert guard_of(done).severity.label == "ok"
    assert not os.path.exists(os.path.join(state_dir(root), "snapshot-guard.json"))


def test_guard_tries_again_once_live_data_shrank_into_the_snapshots(run_tool, storage):
    """After a stop, bob deletes a dataset that one of his older snapshots still holds: the live
    data shrank, so the guard deletes again, and this time the space comes back."""
    root, config = storage
    home = os.path.join(root, "homes/bob")
    holding = GUARD_HISTORY[4]
    for moment in GUARD_HISTORY:
        if moment != holding:
            make_snapshot(root, "homes/bob", moment)
    with open(os.path.join(home, "dataset.bin"), "wb") as handle:
        handle.write(os.urandom(150 * MiB))
    make_snapshot(root, "homes/bob", holding)
    now_text = GUARD_NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    set_config(config, min_free=free_bytes(root) + 100 * MiB)
    first = snap(run_tool, config, "prune", "--now", now_text, "--json")
    assert "stopped: the last 2" in guard_of(first).summary, guard_of(first).summary
    assert "homes/bob 150.0 MiB" in guard_of(first).summary
    os.unlink(os.path.join(home, "dataset.bin"))
    again = snap(run_tool, config, "prune", "--now", now_text, "--json")
    summary = guard_of(again).summary
    assert "deleted 2 kept snapshots" in summary and "gave back 150.0 MiB" in summary, summary
    assert "stopped" not in summary and "still below" not in summary, summary
    assert on_disk(root, "homes/bob") == [naming.name_for(GUARD_HISTORY[i]) for i in (2, 5, 6, 7)]
    assert not os.path.exists(os.path.join(state_dir(root), "snapshot-guard.json"))


def foreign_of(result):
    return {f.subject: f.summary for f in findings(result) if f.check == "foreign"}


def test_hand_made_snapshots_and_directories_are_reported_and_left_alone(run_tool, storage):
    """Read-only snapshots made by hand, named in the scheme, in a plain directory of a series
    (keep/) or right in it, and a directory of another name: none is pruned or deleted for
    space, each is reported."""
    root, config = storage
    old = dt.datetime(2026, 1, 1, tzinfo=UTC)
    make_snapshot(root, "homes/alice", old)
    series = os.path.join(root, "snapshots/homes/alice")
    keep = os.path.join(series, "keep")
    os.mkdir(keep)
    kept_by_hand = [naming.name_for(old + dt.timedelta(minutes=m)) for m in (0, 10, 20)]
    for name in kept_by_hand:
        btrfsutil.create_snapshot(os.path.join(root, "homes/alice"), os.path.join(keep, name),
                                  read_only=True)
    by_hand = naming.name_for(old + dt.timedelta(minutes=5))
    make_snapshot(root, "homes/alice", old + dt.timedelta(minutes=5), recorded=False)
    old_stuff = os.path.join(root, "snapshots/old-stuff")
    os.mkdir(old_stuff)
    btrfsutil.create_snapshot(os.path.join(root, "homes/bob"),
                              os.path.join(old_stuff, naming.name_for(old)), read_only=True)
    set_config(config, min_free="1TiB")  # the guard wants every byte it can get
    result = snap(run_tool, config, "run", "--json")
    assert result.returncode == 1, result.stdout + result.stderr  # the guard's warning
    assert sorted(os.listdir(keep)) == kept_by_hand
    assert by_hand in os.listdir(series)
    assert os.listdir(old_stuff) == [naming.name_for(old)]
    foreign = foreign_of(result)
    assert "did not make" in foreign["snapshots/homes/alice/keep"]
    assert "did not make" in foreign["snapshots/old-stuff"]
    assert "not in its record" in foreign[f"snapshots/homes/alice/{by_hand}"]
    assert "ts-snapshot did not make are left alone" in guard_of(result).summary
    listing = snap(run_tool, config, "list").stdout
    assert f"left alone: {old_stuff}:" in listing and f"left alone: {keep}:" in listing
    assert {s["subvolume"] for s in json.loads(
        snap(run_tool, config, "list", "--json").stdout)["snapshots"]} == {
            "docker-volumes", "homes/alice", "homes/bob", "homes/bob/nested", "tensorboard/alice"}


def test_first_run_adopts_what_earlier_versions_made_and_nothing_else(run_tool, storage):
    """No record yet (snapshots of an earlier version): the first run adopts the read-only
    snapshots of each configured subvolume in its series directory; not a snapshot of another
    subvolume put there, nor a keepsake ts-users remove recorded. From then on the record
    decides: a later hand-made snapshot is left alone."""
    root, config = storage
    old = dt.datetime(2026, 1, 1, tzinfo=UTC)
    earlier = [old + dt.timedelta(minutes=m) for m in (0, 10, 20)]
    for moment in earlier:
        make_snapshot(root, "homes/alice", moment, recorded=False)
    make_snapshot(root, "homes/bob", old, recorded=False)
    stranger = naming.name_for(old + dt.timedelta(minutes=30))
    btrfsutil.create_snapshot(os.path.join(root, "homes/bob"),
                              os.path.join(root, "snapshots/homes/alice", stranger),
                              read_only=True)
    keepsake = naming.name_for(old + dt.timedelta(minutes=40))
    make_snapshot(root, "homes/bob", old + dt.timedelta(minutes=40), recorded=False)
    os.makedirs(state_dir(root), exist_ok=True)
    with open(os.path.join(state_dir(root), "users.json"), "w") as handle:
        json.dump({"removals": {"bob": {"homes/bob": keepsake}}}, handle)

    result = snap(run_tool, config, "run", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    [adopted] = [f for f in findings(result) if f.check == "adopt"]
    assert adopted.value == 4, adopted.summary  # alice's three and bob's first
    # alice's two later ones in that hour were adopted, then pruned as the rules say
    assert naming.name_for(old) in on_disk(root, "homes/alice")
    assert not {naming.name_for(t) for t in earlier[1:]} & set(on_disk(root, "homes/alice"))
    foreign = foreign_of(result)
    assert "parent UUID differs" in foreign[f"snapshots/homes/alice/{stranger}"]
    assert "made by ts-users remove bob" in foreign[f"snapshots/homes/bob/{keepsake}"]
    assert stranger in on_disk(root, "homes/alice") and keepsake in on_disk(root, "homes/bob")
    made = record.load(state_dir(root))
    assert len(made.made) == 4 - 2 + 5 and not made.pending  # adopted, pruned, 5 created

    later_by_hand = old + dt.timedelta(minutes=50)
    make_snapshot(root, "homes/alice", later_by_hand, recorded=False)
    again = snap(run_tool, config, "prune", "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not [f for f in findings(again) if f.check == "adopt"]
    assert "not in its record" in foreign_of(again)[
        f"snapshots/homes/alice/{naming.name_for(later_by_hand)}"]
    assert naming.name_for(later_by_hand) in on_disk(root, "homes/alice")
