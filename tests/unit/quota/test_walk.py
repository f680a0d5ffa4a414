"""The walk on a temporary directory: allocated bytes, hard links once, sparse files, skips,
threads and processes agreeing."""

import os

import pytest

from trainserver.core import priority
from trainserver.quota import walk


def blocks(path):
    return os.lstat(path).st_blocks * 512


@pytest.fixture
def tree(tmp_path):
    home = tmp_path / "home"
    (home / "a" / "b").mkdir(parents=True)
    (home / "a" / "data").write_bytes(os.urandom(100_000))
    (home / "a" / "b" / "more").write_bytes(os.urandom(50_000))
    os.link(home / "a" / "data", home / "a" / "b" / "hardlink")
    sparse = home / "sparse"
    with open(sparse, "wb") as handle:
        handle.truncate(1 << 30)  # 1 GiB apparent, nothing allocated
        handle.write(b"x" * 4096)
    (home / "skipme").mkdir()
    (home / "skipme" / "big").write_bytes(os.urandom(200_000))
    os.symlink("/etc/passwd", home / "link")
    return home


def expected(home, skip=()):
    seen, total = set(), 0
    for directory, dirs, files in os.walk(home):
        dirs[:] = [d for d in dirs if os.path.join(directory, d) not in skip]
        for name in [directory] if directory == str(home) else []:
            total += blocks(name)
        for name in dirs:
            total += blocks(os.path.join(directory, name))
        for name in files:
            st = os.lstat(os.path.join(directory, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


@pytest.mark.parametrize("kind,workers", [("process", 1), ("process", 2), ("thread", 3)])
def test_walk_counts_allocated_bytes_and_hard_links_once(tree, kind, workers):
    tallies, seconds = walk.walk([("alice", str(tree))], workers=workers, kind=kind, mounts=())
    tally = tallies["alice"]
    assert tally.total == expected(tree)
    assert tally.total < 1 << 20  # the sparse gigabyte is not counted
    assert tally.errors == 0 and seconds >= 0
    assert tally.entries == 10  # root, a, a/b, skipme, and six files and links


def test_skip_and_mount_points_are_not_entered(tree):
    skip = str(tree / "skipme")
    tallies, _ = walk.walk([("alice", str(tree))], workers=1, skip=[skip], mounts=())
    assert tallies["alice"].total == expected(tree, skip={skip})


def test_hard_links_across_roots_count_once_in_the_combination(tmp_path):
    home, workspace = tmp_path / "home", tmp_path / "workspace"
    home.mkdir()
    workspace.mkdir()
    (home / "f").write_bytes(os.urandom(64_000))
    os.link(home / "f", workspace / "f")
    tallies, _ = walk.walk([("home", str(home)), ("workspace", str(workspace))], workers=2,
                           mounts=())
    both = walk.combined([tallies["home"], tallies["workspace"]])
    assert tallies["home"].total == tallies["workspace"].total - blocks(workspace) + blocks(home)
    assert both.total == blocks(home / "f") + blocks(home) + blocks(workspace)


def test_a_missing_root_is_an_error_not_a_crash(tmp_path):
    tallies, _ = walk.walk([("gone", str(tmp_path / "nothing"))], mounts=())
    assert tallies["gone"].total == 0


def test_an_unreadable_directory_is_counted_as_an_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads everything")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "f").write_bytes(b"x")
    locked.chmod(0)
    try:
        tallies, _ = walk.walk([("x", str(tmp_path))], workers=1, mounts=())
    finally:
        locked.chmod(0o755)
    assert tallies["x"].errors == 1 and "Permission denied" in tallies["x"].first_error


def test_mountinfo_escapes_are_decoded(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text("36 35 98:0 / /mnt/with\\040space rw,noatime - btrfs /dev/x rw\n")
    assert walk.mount_points(str(info)) == {"/mnt/with space"}


def test_idle_io_sets_the_idle_class_inherited_by_children():
    import ctypes
    import platform

    get = {"x86_64": 252, "aarch64": 31}.get(platform.machine())
    if get is None:
        pytest.skip("ioprio_get number unknown here")
    pid = os.fork()
    if pid == 0:  # in a child: the test process keeps its priority
        priority.idle_io()
        code = 0
        child = os.fork()
        if child == 0:
            libc = ctypes.CDLL(None)
            os._exit(libc.syscall(get, 1, 0) >> 13)
        _, status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status)
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == priority.IOPRIO_CLASS_IDLE


def du_bytes(*paths, exclude=()):
    import subprocess

    argv = ["du", "-s", "-B1", "--total", *(f"--exclude={path}" for path in exclude), *paths]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return int(out.splitlines()[-1].split()[0])


@pytest.fixture
def wide(tmp_path):
    """40 directories two levels deep (so the work is split over processes and threads), hard
    links between far-apart directories, a sparse file, and one directory 30 levels deep."""
    home = tmp_path / "home"
    for top in range(8):
        for sub in range(5):
            directory = home / f"t{top}" / f"s{sub}"
            directory.mkdir(parents=True)
            for number in range(10):
                (directory / f"f{number}").write_bytes(os.urandom(number * 3000))
    for top in range(1, 8):  # the same inode from every top-level subtree
        os.link(home / "t0" / "s0" / "f9", home / f"t{top}" / "s4" / "linked")
    with open(home / "t3" / "sparse", "wb") as handle:
        handle.truncate(1 << 30)
        handle.write(os.urandom(8192))
    deep = home / "t5"
    for level in range(30):
        deep = deep / f"d{level}"
    deep.mkdir(parents=True)
    (deep / "bottom").write_bytes(os.urandom(70_000))
    return home


@pytest.mark.parametrize("kind,workers,threads", [
    ("process", 1, 1), ("process", 1, 4), ("process", 2, 1), ("process", 2, 4),
    ("process", 3, 8), ("thread", 2, 3)])
def test_walk_equals_du_whatever_the_split(wide, kind, workers, threads):
    tallies, _ = walk.walk([("alice", str(wide))], workers=workers, threads=threads, kind=kind,
                           mounts=())
    tally = tallies["alice"]
    assert tally.errors == 0
    assert tally.total == du_bytes(wide)
    assert tally.entries == 1 + 8 + 40 + 400 + 7 + 1 + 30 + 1
    assert len(tally.linked) == 1


def test_the_walk_splits_into_subtrees_dealt_to_every_worker(wide):
    rules = walk._Rules((), ())
    _, tasks = walk._split([("alice", str(wide))], rules, 16)
    assert len(tasks) >= 16
    shares = [tasks[n::2] for n in range(2)]
    assert all(shares) and sum(map(len, shares)) == len(tasks)


def test_a_failed_walker_process_is_an_error_not_a_silent_gap(wide, monkeypatch):
    real = walk._walk_threads

    def dies_in_the_child(tasks, rules, threads, parent=os.getpid()):
        if os.getpid() != parent:
            raise RuntimeError("boom")
        return real(tasks, rules, threads)

    monkeypatch.setattr(walk, "_walk_threads", dies_in_the_child)
    tallies, _ = walk.walk([("alice", str(wide))], workers=2, mounts=())
    assert tallies["alice"].errors >= 1
    assert "walker process failed" in tallies["alice"].first_error
    assert tallies["alice"].total < du_bytes(wide)


def test_an_unreadable_file_in_a_threaded_walk_names_its_full_path(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads everything")
    for number in range(4):
        (tmp_path / f"d{number}" / "locked").mkdir(parents=True)
        (tmp_path / f"d{number}" / "locked" / "f").write_bytes(b"x")
        (tmp_path / f"d{number}" / "locked").chmod(0)
    try:
        tallies, _ = walk.walk([("x", str(tmp_path))], workers=1, threads=4, mounts=())
    finally:
        for number in range(4):
            (tmp_path / f"d{number}" / "locked").chmod(0o755)
    assert tallies["x"].errors == 4
    assert tallies["x"].first_error.startswith(str(tmp_path) + "/d")
