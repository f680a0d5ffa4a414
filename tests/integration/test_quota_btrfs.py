"""ts-quota on a real BTRFS (loop device): people filled past a small limit, the grace period
walked forward with --now, hysteresis, nested subvolumes and snapshots, simple quotas where the
kernel has them, and that quotas are never switched on where they should not be. Needs root
and btrfs-progs."""

import json
import os
import subprocess

import pytest

from trainserver.core.findings import parse_line
from trainserver.quota import squota

pytestmark = pytest.mark.root
btrfsutil = pytest.importorskip("btrfsutil", reason="python3-btrfsutil is a dependency")

MB = 10**6
DAY = "T06:25:00Z"


@pytest.fixture
def storage(btrfs_mount, tmp_path):
    """homes/alice (with a nested subvolume), homes/bob, workspaces/alice, and snapshots of
    alice's home; a config with 10 MB limits, 1 MB hysteresis."""
    root = btrfs_mount()

    def config(method="walk", extra=""):
        state = tmp_path / "state"
        path = tmp_path / f"trainserver-{method}.toml"
        path.write_text(
            f'[paths]\nstorage = "{root}"\nstate_dir = "{state}"\nlock_dir = "{state}"\n'
            f'metrics_dir = "{state}/metrics"\n'
            f'[quota]\nuser_limit = "10MB"\nhysteresis = "1MB"\nmethod = "{method}"\n{extra}'
            '[users]\n[[users.people]]\nname = "alice"\nuid = 1000\n'
            '[[users.people]]\nname = "bob"\nuid = 1001\nquota_limit = "50MB"\n')
        return str(path)

    return root, config


def make_layout(root):
    for directory in ("homes", "workspaces"):
        os.makedirs(os.path.join(root, directory), exist_ok=True)
    for subvolume in ("homes/alice", "homes/alice/nested", "homes/bob", "workspaces/alice"):
        btrfsutil.create_subvolume(os.path.join(root, subvolume))


def write(path, size):
    with open(path, "wb") as handle:
        handle.write(os.urandom(size))
    os.sync()


def quota(run_tool, config, *args):
    return run_tool("ts-quota", "--config", config, *args)


def report(run_tool, config, day):
    result = quota(run_tool, config, "report", "--json", "--now", day + DAY)
    found = {f.subject: f for f in (parse_line(line) for line in result.stdout.splitlines())
             if f.check == "usage"}
    return result, found


def shown(run_tool, config):
    result = quota(run_tool, config, "show", "--json")
    assert result.returncode == 0, result.stderr
    return {row["user"]: row for row in json.loads(result.stdout)["people"]}


def du(*paths):
    """Allocated bytes by `du -s -B1` (arguments may hold du options)."""
    out = subprocess.run(["du", "-s", "--block-size=1", "--total", *paths], check=True,
                         capture_output=True, text=True).stdout
    return int(out.splitlines()[-1].split()[0])


def qgroups_dir(root):
    return os.path.join(squota.sysfs_dir(root), "qgroups")


def test_grace_period_walked_forward_with_hysteresis(run_tool, storage):
    root, make_config = storage
    config = make_config("walk")
    make_layout(root)
    write(os.path.join(root, "homes/alice/data"), 6 * MB)
    write(os.path.join(root, "homes/alice/nested/model.pt"), 3 * MB)  # nested: alice's
    write(os.path.join(root, "workspaces/alice/scratch"), 3 * MB)
    os.link(os.path.join(root, "homes/alice/data"), os.path.join(root, "homes/alice/again"))
    write(os.path.join(root, "homes/bob/small"), 1 * MB)
    # snapshots are nobody's usage
    os.makedirs(os.path.join(root, "snapshots/homes"))
    btrfsutil.create_snapshot(os.path.join(root, "homes/alice"),
                              os.path.join(root, "snapshots/homes/alice"), read_only=True)

    result, found = report(run_tool, config, "2027-03-01")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 days of grace left" in found["alice"].summary
    assert found["bob"].summary == "bob uses 1.0 MB of 50 MB"
    rows = shown(run_tool, config)
    alice = rows["alice"]
    assert alice["total"] == du(os.path.join(root, "homes/alice"),
                                os.path.join(root, "workspaces/alice"))
    assert 12 * MB < alice["total"] < 13 * MB  # the hard link once, the nested subvolume in
    assert alice["sources"] == {"home": "walk", "workspace": "walk"}
    assert rows["bob"]["sources"]["workspace"] == "missing"
    assert not os.path.exists(qgroups_dir(root))  # a report never switches quotas on

    _, found = report(run_tool, config, "2027-03-04")
    assert found["alice"].severity.label == "ok"
    assert "4 days of grace left" in found["alice"].summary
    result, found = report(run_tool, config, "2027-03-09")  # 8 days over
    assert result.returncode == 1
    assert found["alice"].severity.label == "warning" and found["bob"].severity.label == "ok"

    os.unlink(os.path.join(root, "homes/alice/nested/model.pt"))  # 9.x MB: within the band
    os.sync()
    result, found = report(run_tool, config, "2027-03-10")
    assert result.returncode == 1 and "not yet below 9.0 MB" in found["alice"].summary
    assert shown(run_tool, config)["alice"]["over_since"] is not None

    os.unlink(os.path.join(root, "workspaces/alice/scratch"))  # 6 MB: clears
    os.sync()
    result, found = report(run_tool, config, "2027-03-11")
    assert result.returncode == 0
    assert found["alice"].summary.startswith("alice uses 6.")
    assert shown(run_tool, config)["alice"]["over_since"] is None
    prom = os.path.join(os.path.dirname(config), "state/metrics/trainserver_quota.prom")
    with open(prom) as handle:
        metrics = handle.read()
    assert 'trainserver_quota_over_limit_since_seconds{user="alice"} 0' in metrics
    assert "trainserver_quota_walk_duration_seconds" in metrics

    digest = quota(run_tool, config, "digest", "--now", "2027-03-11T09:00:00Z")
    assert digest.returncode == 0, digest.stderr
    assert digest.stdout.startswith("Storage usage per person, March 2027")
    assert not os.path.exists(qgroups_dir(root))


def test_enable_refuses_where_the_kernel_lacks_simple_quotas(run_tool, storage, tmp_path):
    root, make_config = storage
    config = make_config("auto")
    make_layout(root)
    old_kernel = tmp_path / "features"  # as Debian 12's 6.1 has it: no simple_quota
    old_kernel.mkdir()
    (old_kernel / "raid1c34").write_text("0\n")
    result = quota(run_tool, config, "enable", "--yes", "--btrfs-features", str(old_kernel))
    assert result.returncode == 2
    assert "has no BTRFS simple quotas" in result.stderr
    assert "Full qgroups are never switched on" in result.stderr
    assert not os.path.exists(qgroups_dir(root))
    result = quota(run_tool, config, "report", "--json")  # auto walks
    assert result.returncode == 0, result.stdout + result.stderr
    assert not os.path.exists(qgroups_dir(root))


def test_full_qgroups_found_on_are_a_warning_and_usage_is_walked(run_tool, storage):
    root, make_config = storage
    config = make_config("auto")
    make_layout(root)
    write(os.path.join(root, "homes/bob/f"), 2 * MB)
    subprocess.run(["btrfs", "quota", "enable", root], check=True)
    result = quota(run_tool, config, "report", "--json")
    assert result.returncode == 1
    qgroups = [parse_line(line) for line in result.stdout.splitlines()
               if '"qgroups"' in line]
    assert qgroups and "btrfs quota disable" in qgroups[0].summary
    assert shown(run_tool, config)["bob"]["sources"]["home"] == "walk"
    refused = quota(run_tool, config, "enable", "--yes")
    assert refused.returncode == 2 and "full qgroups are on" in refused.stderr


@pytest.mark.skipif(not squota.kernel_has_squota(), reason="the kernel has no simple quotas")
def test_simple_quotas_count_new_subvolumes_and_old_ones_are_walked(run_tool, storage):
    root, make_config = storage
    config = make_config("auto")
    os.makedirs(os.path.join(root, "homes"))
    os.makedirs(os.path.join(root, "workspaces"))
    btrfsutil.create_subvolume(os.path.join(root, "homes/alice"))
    btrfsutil.create_subvolume(os.path.join(root, "workspaces/alice"))  # stays empty
    write(os.path.join(root, "homes/alice/before"), 4 * MB)  # squota would never count it

    dry = quota(run_tool, config, "enable", "--dry-run")
    assert dry.returncode == 0 and "would switch" in dry.stdout
    assert not os.path.exists(qgroups_dir(root))
    assert quota(run_tool, config, "enable").returncode == 3  # no --yes
    result = quota(run_tool, config, "enable", "--yes")
    assert result.returncode == 0, result.stderr
    assert "1 empty subvolume(s) read from their quota, 1 that already hold data" in result.stdout
    assert open(os.path.join(qgroups_dir(root), "mode")).read().strip() == "squota"
    again = quota(run_tool, config, "enable", "--yes")
    assert again.returncode == 0 and "nothing to change" in again.stdout

    btrfsutil.create_subvolume(os.path.join(root, "homes/bob"))  # after the switch
    write(os.path.join(root, "homes/alice/after"), 3 * MB)
    write(os.path.join(root, "workspaces/alice/w"), 5 * MB)
    write(os.path.join(root, "homes/bob/b"), 7 * MB)
    btrfsutil.sync(root)
    result, found = report(run_tool, config, "2027-05-01")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = shown(run_tool, config)
    assert rows["alice"]["sources"] == {"home": "walk", "workspace": "squota"}
    assert rows["bob"]["sources"]["home"] == "squota"
    # squota counts a little metadata too; what matters is that nothing is missing
    assert abs(rows["alice"]["home"] - 7 * MB) < 0.2 * MB
    assert abs(rows["alice"]["workspace"] - 5 * MB) < 0.2 * MB
    assert abs(rows["bob"]["home"] - 7 * MB) < 0.2 * MB
    assert "7 days of grace left" in found["alice"].summary

    method_walk = make_config("walk")
    quota(run_tool, method_walk, "report", "--json", "--now", "2027-05-02" + DAY)
    walked = shown(run_tool, method_walk)
    assert walked["bob"]["sources"]["home"] == "walk"
    assert abs(walked["bob"]["home"] - rows["bob"]["home"]) < 0.2 * MB


def test_method_squota_without_simple_quotas_is_unknown(run_tool, storage):
    root, make_config = storage
    config = make_config("squota")
    make_layout(root)
    result = quota(run_tool, config, "report", "--json")
    assert result.returncode == 3
    assert "simple quotas are off" in result.stdout
    assert not os.path.exists(qgroups_dir(root))


def test_walk_equals_du_with_nested_subvolumes_links_sparse_files_and_a_mount(btrfs_mount):
    """The parallel walk against `du -s -B1` over the same home: nested subvolumes in, hard
    links once (also between subtrees walked by different processes), sparse files by what
    they hold, and a filesystem mounted inside left out (du is told to exclude it)."""
    from trainserver.quota import walk

    root = btrfs_mount()
    home = os.path.join(root, "homes/alice")
    os.makedirs(os.path.join(root, "homes"))
    btrfsutil.create_subvolume(home)
    btrfsutil.create_subvolume(os.path.join(home, "nested"))
    btrfsutil.create_subvolume(os.path.join(home, "nested/deeper"))
    for top in ("a", "b", "c", "d", "nested", "nested/deeper"):
        for sub in range(6):
            directory = os.path.join(home, top, f"s{sub}")
            os.makedirs(directory)
            for number in range(8):
                with open(os.path.join(directory, f"f{number}"), "wb") as handle:
                    handle.write(os.urandom(number * 5000 + 1))  # some stay inline
    for top in ("b", "c", "d"):
        os.link(os.path.join(home, "a/s0/f7"), os.path.join(home, top, "s5/linked"))
    os.link(os.path.join(home, "nested/s0/f6"), os.path.join(home, "nested/s3/again"))
    with open(os.path.join(home, "sparse"), "wb") as handle:
        handle.truncate(10 << 30)
        handle.seek(5 << 30)
        handle.write(os.urandom(20_000))
    mounted = os.path.join(home, "c/elsewhere")
    os.makedirs(mounted)
    with open(os.path.join(mounted, "hidden-under-the-mount"), "wb") as handle:
        handle.write(os.urandom(300_000))
    # a subvolume outside the home, bind-mounted in: root inode 256 like a nested one
    other = os.path.join(root, "other")
    btrfsutil.create_subvolume(other)
    with open(os.path.join(other, "not-alices"), "wb") as handle:
        handle.write(os.urandom(1_000_000))
    bound = os.path.join(home, "d/bound")
    os.makedirs(bound)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mounted], check=True)
    try:
        subprocess.run(["mount", "--bind", other, bound], check=True)
        with open(os.path.join(mounted, "on-tmpfs"), "wb") as handle:
            handle.write(os.urandom(2_000_000))
        btrfsutil.sync(root)
        expected = du(home, "--exclude=" + mounted, "--exclude=" + bound)
        assert expected + 3_000_000 < du(home)  # du, unlike the walk, crosses into mounts
        for kind, workers, threads in (("process", 1, 1), ("process", 2, 4), ("thread", 2, 2)):
            tallies, _ = walk.walk([("alice", home)], workers=workers, threads=threads,
                                   kind=kind)
            tally = tallies["alice"]
            assert (kind, workers, tally.errors, tally.total) == (kind, workers, 0, expected)
            assert len(tally.linked) == 2
    finally:
        for mount_point in (bound, mounted):
            if os.path.ismount(mount_point):
                subprocess.run(["umount", mount_point], check=True)


def hard_config(tmp_path, root, hard_limit=True, alice_limit="10MB", carol=True):
    state = tmp_path / "state"
    path = tmp_path / "trainserver-hard.toml"
    people = ('[[users.people]]\nname = "alice"\nuid = 1000\n'
              f'quota_limit = "{alice_limit}"\n'
              '[[users.people]]\nname = "bob"\nuid = 1001\n')
    if carol:
        people += '[[users.people]]\nname = "carol"\nuid = 1002\n'
    path.write_text(
        f'[paths]\nstorage = "{root}"\nstate_dir = "{state}"\nlock_dir = "{state}"\n'
        f'metrics_dir = "{state}/metrics"\n'
        f'[quota]\nuser_limit = "50MB"\nhysteresis = "1MB"\n'
        f'hard_limit = {"true" if hard_limit else "false"}\n[users]\n{people}')
    return str(path)


def fill(directory, most):
    """Write 1 MB files into `directory` up to `most` bytes: the bytes written, and the error
    that stopped it (or None)."""
    written = 0
    try:
        for number in range(most // MB):
            with open(os.path.join(directory, f"fill-{number}"), "wb") as handle:
                handle.write(os.urandom(MB))
                os.fsync(handle.fileno())
            written += MB
    except OSError as exc:
        return written, exc
    return written, None


def qgroup_file(root, qgroup, name):
    path = os.path.join(qgroups_dir(root), qgroup.replace("/", "_"), name)
    with open(path) as handle:
        return int(handle.read())


@pytest.mark.skipif(not squota.kernel_has_squota(), reason="the kernel has no simple quotas")
def test_hard_limits_refuse_writes_past_the_limit_and_come_off_again(run_tool, btrfs_mount,
                                                                     tmp_path):
    import errno

    root = btrfs_mount()
    for directory in ("homes", "workspaces"):
        os.makedirs(os.path.join(root, directory))
    for subvolume in ("homes/alice", "workspaces/alice", "homes/carol"):
        btrfsutil.create_subvolume(os.path.join(root, subvolume))
    write(os.path.join(root, "homes/carol/before"), 2 * MB)  # never counted by squota
    config = hard_config(tmp_path, root)
    refused = quota(run_tool, config, "limits")
    assert refused.returncode == 2 and "simple quotas are off" in refused.stderr
    assert quota(run_tool, config, "enable", "--yes").returncode == 0
    btrfsutil.create_subvolume(os.path.join(root, "homes/bob"))  # after the switch
    btrfsutil.create_subvolume(os.path.join(root, "homes/alice/nested"))
    write(os.path.join(root, "homes/alice/nested/early"), 2 * MB)

    dry = quota(run_tool, config, "limits", "--dry-run")
    assert dry.returncode == 2, dry.stdout + dry.stderr  # carol is refused
    assert "would create qgroup 1/1000 for alice" in dry.stdout
    assert not os.path.exists(os.path.join(qgroups_dir(root), "1_1000"))

    result = quota(run_tool, config, "limits")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "refused: carol: homes/carol held data before simple quotas were switched on" \
        in result.stdout
    nested = btrfsutil.subvolume_id(os.path.join(root, "homes/alice/nested"))
    assert f"put 0/{nested} (homes/alice/nested) in 1/1000" in result.stdout
    assert qgroup_file(root, "1/1000", "max_referenced") == 10 * MB
    assert qgroup_file(root, "1/1001", "max_referenced") == 50 * MB
    assert qgroup_file(root, "1/1000", "referenced") >= 2 * MB  # nested's data counted at once
    assert not os.path.exists(os.path.join(qgroups_dir(root), "1_1002"))
    assert ("0/256", "1/1000") in squota.relations(root)

    # a subvolume made later inside the home joins the person's qgroup by itself
    btrfsutil.create_subvolume(os.path.join(root, "homes/alice/later"))
    later = f"0/{btrfsutil.subvolume_id(os.path.join(root, 'homes/alice/later'))}"
    assert (later, "1/1000") in squota.relations(root)
    # home + workspace + nested together: writes past 10 MB fail, for root too
    written, error = fill(os.path.join(root, "homes/alice/later"), 4 * MB)
    assert (written, error) == (4 * MB, None)
    written, error = fill(os.path.join(root, "workspaces/alice"), 10 * MB)
    assert error is not None and error.errno == errno.EDQUOT, (written, error)
    assert written <= 4 * MB
    written, error = fill(os.path.join(root, "homes/bob"), 6 * MB)  # bob's own limit
    assert (written, error) == (6 * MB, None)

    config = hard_config(tmp_path, root, carol=False)
    again = quota(run_tool, config, "limits")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to change" in again.stdout
    result = quota(run_tool, config, "report", "--json", "--now", "2027-05-01" + DAY)
    found = [parse_line(line) for line in result.stdout.splitlines() if '"limits"' in line]
    assert found[0].severity.label == "ok", found
    assert shown(run_tool, config)["alice"]["hard_limit"] == 10 * MB

    raised = hard_config(tmp_path, root, alice_limit="20MB", carol=False)
    result = quota(run_tool, raised, "report", "--json", "--now", "2027-05-01" + DAY)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "hard limits not applied" in result.stdout and "run ts-quota limits" in result.stdout
    result = quota(run_tool, raised, "limits", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "limit 1/1000 (alice: home + workspace) to 20 MB" in result.stdout
    assert qgroup_file(root, "1/1000", "max_referenced") == 20 * MB
    written, error = fill(os.path.join(root, "workspaces/alice"), 3 * MB)
    assert (written, error) == (3 * MB, None)

    off = hard_config(tmp_path, root, hard_limit=False, carol=False)
    result = quota(run_tool, off, "limits")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "remove 1/1000 and its hard limit (alice)" in result.stdout
    assert not os.path.exists(os.path.join(qgroups_dir(root), "1_1000"))
    assert not os.path.exists(os.path.join(qgroups_dir(root), "1_1001"))
    assert not [r for r in squota.relations(root) if r[1].startswith("1/")]
    written, error = fill(os.path.join(root, "workspaces/alice"), 30 * MB)
    assert (written, error) == (30 * MB, None)
    again = quota(run_tool, off, "limits")
    assert again.returncode == 0 and "nothing to change" in again.stdout
    with open(os.path.join(tmp_path, "state", "quota.json")) as handle:
        assert "limits" not in json.load(handle)


def test_hard_limits_are_refused_where_the_kernel_lacks_simple_quotas(run_tool, btrfs_mount,
                                                                      tmp_path):
    root = btrfs_mount()
    make_layout(root)
    config = hard_config(tmp_path, root)
    old_kernel = tmp_path / "features"
    old_kernel.mkdir()
    result = quota(run_tool, config, "limits", "--btrfs-features", str(old_kernel))
    assert result.returncode == 2
    assert "no hard limits: this kernel" in result.stderr
    assert "hard limits are offered only with simple quotas" in result.stderr
    assert not os.path.exists(qgroups_dir(root))
    result = quota(run_tool, config, "limits", "--json", "--btrfs-features", str(old_kernel))
    assert result.returncode == 2 and '"critical"' in result.stdout
    # the daily report says so, and goes on measuring
    result = quota(run_tool, config, "report", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[quota] hard_limit is on, but" in result.stdout
    off = hard_config(tmp_path, root, hard_limit=False)
    result = quota(run_tool, off, "limits", "--btrfs-features", str(old_kernel))
    assert result.returncode == 0 and "nothing to change" in result.stdout
