"""Walking a cache: size with hard links once, what the group cannot use, the one-time fix."""

import os
import stat
import struct

from trainserver.caches import acl, walk

GID = 994


def fake_stat(mode, gid=GID):
    return os.stat_result((mode, 1, 1, 1, 0, gid, 0, 0, 0, 0))


def test_unshared_rules():
    assert walk.unshared(fake_stat(stat.S_IFREG | 0o644), GID) is None  # a copied wheel
    assert walk.unshared(fake_stat(stat.S_IFREG | 0o444), GID) is None  # Go's read-only
    assert walk.unshared(fake_stat(stat.S_IFDIR | 0o2775), GID) is None
    assert walk.unshared(fake_stat(stat.S_IFDIR | 0o555), GID) is None  # read-only for all
    assert "cannot read" in walk.unshared(fake_stat(stat.S_IFREG | 0o600), GID)
    assert "lacks" in walk.unshared(fake_stat(stat.S_IFDIR | 0o755), GID)
    assert walk.unshared(fake_stat(stat.S_IFREG | 0o664, gid=1000), GID) == "group 1000"
    assert walk.unshared(fake_stat(stat.S_IFLNK | 0o777, gid=1000), GID) is None


def test_fixed_modes_give_the_group_what_the_owner_has():
    assert walk.fixed_mode(stat.S_IFREG | 0o600) == 0o660
    assert walk.fixed_mode(stat.S_IFREG | 0o644) == 0o664
    assert walk.fixed_mode(stat.S_IFREG | 0o444) == 0o444
    assert walk.fixed_mode(stat.S_IFREG | 0o2755) == 0o775  # no setgid file for the group
    assert walk.fixed_mode(stat.S_IFDIR | 0o700) == 0o2770
    assert walk.fixed_mode(stat.S_IFDIR | 0o555) == 0o2555


def xattr(entries):
    tags = {("user", False): 1, ("user", True): 2, ("group", False): 4, ("group", True): 8,
            ("mask", False): 0x10, ("other", False): 0x20}
    data = struct.pack("<I", 2)
    for tag, ident, perm in entries:
        data += struct.pack("<HHI", tags[(tag, ident is not None)], perm,
                            0xFFFFFFFF if ident is None else ident)
    return data


def test_parse_xattr_reads_the_kernels_format():
    data = xattr([("user", None, 7), ("group", None, 7), ("group", GID, 7), ("mask", None, 7),
                  ("other", None, 5)])
    assert walk.parse_xattr(data) == {e for e in acl.wanted(GID) if e.default}


def test_measure_counts_hard_links_once_and_follows_no_symlink(tmp_path):
    top = tmp_path / "cache"
    (top / "sub").mkdir(parents=True)
    (top / "sub" / "a").write_bytes(b"x" * 100_000)
    os.link(top / "sub" / "a", top / "b")
    (top / "link").symlink_to(tmp_path)  # the walk must not go up there
    (tmp_path / "outside").write_bytes(b"y" * 1_000_000)
    usage = walk.measure(str(top))
    assert (usage.files, usage.dirs) == (3, 2)
    blocks = sum(os.lstat(p).st_blocks for p in (top, top / "sub", top / "sub" / "a",
                                                  top / "link"))
    assert usage.bytes == blocks * 512
    assert usage.bytes < 1_000_000


def test_measure_counts_what_the_group_cannot_use(tmp_path):
    gid = os.getgid()
    top = tmp_path / "cache"
    top.mkdir()
    for name, mode in (("ok", 0o664), ("private", 0o600), ("wheel", 0o644)):
        (top / name).write_text(name)
        os.chmod(top / name, mode)
    usage = walk.measure(str(top), gid)
    assert usage.unshared == 1
    assert usage.examples[0][0] == "private"


def test_fix_in_a_dry_run_changes_nothing(tmp_path):
    top = tmp_path / "cache"
    (top / "d").mkdir(parents=True)
    (top / "d" / "f").write_text("x")
    os.chmod(top / "d" / "f", 0o600)
    result = walk.fix(str(top), os.getgid(), dry_run=True)
    assert result.entries == 2  # d (g+rwx, setgid) and f (g+rw)
    assert result.acl_dirs == [str(top / "d")]
    assert stat.S_IMODE(os.stat(top / "d" / "f").st_mode) == 0o600


def test_fix_gives_the_group_what_the_owner_has(tmp_path):
    top = tmp_path / "cache"
    (top / "d").mkdir(parents=True)
    (top / "d" / "f").write_text("x")
    os.chmod(top / "d", 0o700)
    os.chmod(top / "d" / "f", 0o600)
    result = walk.fix(str(top), os.getgid())
    assert stat.S_IMODE(os.stat(top / "d").st_mode) == 0o2770
    assert stat.S_IMODE(os.stat(top / "d" / "f").st_mode) == 0o660
    assert result.entries == 2
    assert walk.fix(str(top), os.getgid()).entries == 0
