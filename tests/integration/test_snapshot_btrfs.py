"""ts-snapshot on a real BTRFS (loop device): create, list, plan and prune stepping through
simulated weeks, nested subvolumes, foreign entries left alone, restore with reflinks, the
free-space guard and the lock. Needs root and btrfs-progs."""

import datetime as dt
import json
import os
import subprocess
from zoneinfo import ZoneInfo

import pytest

from tests.unit.snapshot import oracle
from trainserver.core.findings import parse_line
from trainserver.core.lock import ToolLock
from trainserver.snapshot import naming
from trainserver.snapshot.policy import Policy

pytestmark = pytest.mark.root
btrfsutil = pytest.importorskip("btrfsutil", reason="python3-btrfsutil is a dependency")

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
MiB = 1024 * 1024


@pytest.fixture
def storage(btrfs_mount, tmp_path):
    """The storage layout of DESIGN.md on a fresh BTRFS, and a config pointing at it."""
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


def make_snapshot(root, series, moment):
    """A snapshot of `series` named for a past `moment`, as an earlier run would have left it."""
    destination = os.path.join(root, "snapshots", series, naming.name_for(moment))
    os.makedirs(os.path.dirname(destination), exist_ok=True)
    btrfsutil.create_snapshot(os.path.join(root, series), destination, read_only=True)
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
    # quotas were never turned on (they make snapshot cleanup ~450x slower: MEASURED.md)
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


def test_restore_uses_reflinks_and_never_overwrites_unasked(run_tool, storage):
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
    assert open(train).read() == "version 2\n"
    # --dry-run changes nothing
    dry = snap(run_tool, config, "restore", "--overwrite", "--dry-run", train)
    assert dry.returncode == 0 and open(train).read() == "version 2\n"
    assert not [n for n in os.listdir(os.path.dirname(train)) if ".replaced-" in n]
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
    # a snapshot that does not exist, and a path outside every series, are clear errors
    missing = snap(run_tool, config, "restore", train, "--to", elsewhere + "2", "--from",
                   "20000101T000000Z")
    assert missing.returncode == 2 and "has no snapshot 20000101T000000Z" in missing.stderr
    outside = snap(run_tool, config, "restore", os.path.join(root, "workspaces/alice/x"))
    assert outside.returncode == 2 and "no snapshots hold" in outside.stderr


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


def test_storage_that_is_not_btrfs_is_unknown(run_tool, tmp_path):
    config = tmp_path / "trainserver.toml"
    config.write_text(f'[paths]\nstorage = "{tmp_path}"\nstate_dir = "{tmp_path}/s"\n'
                      f'lock_dir = "{tmp_path}/s"\nmetrics_dir = "{tmp_path}/s/m"\n')
    result = run_tool("ts-snapshot", "run", "--json", env={"TRAINSERVER_CONFIG": str(config)})
    assert result.returncode == 3
    [finding] = findings(result)
    assert finding.severity.label == "unknown" and "not a mounted BTRFS" in finding.summary


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
    assert "deleted 2 kept snapshots" in guard.summary and "still below" in guard.summary
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
