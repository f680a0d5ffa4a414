"""Adding the storage's fstab line: verified by the real findmnt before and after, atomic,
with a dated backup; a file that fails verification is never replaced."""

import os

import pytest

from trainserver.core.errors import ActionError
from trainserver.storage import fstab

NOW = 1795852800  # 2026-11-28T08:00:00Z


@pytest.fixture
def tab(tmp_path):
    target = tmp_path / "scratch"
    target.mkdir()
    path = tmp_path / "fstab"
    path.write_text(f"# static file system information\ntmpfs {target} tmpfs defaults 0 0\n")
    os.chmod(path, 0o640)
    return path


def leftovers(path):
    return sorted(p for p in os.listdir(path.parent) if p.startswith("fstab."))


def test_the_line_is_added_with_a_dated_backup_and_the_mode_kept(tab, tmp_path):
    old = tab.read_text()
    (tmp_path / "storage").mkdir()
    line = f"tmpfs {tmp_path}/storage tmpfs defaults 0 0"
    backup = fstab.add_line(str(tab), line, now=NOW)
    assert backup == f"{tab}.trainserver-20261128T080000Z"
    assert open(backup).read() == old
    assert tab.read_text() == old + "# the storage filesystem, made by ts-storage apply\n" + \
        line + "\n"
    assert os.stat(tab).st_mode & 0o777 == 0o640
    assert leftovers(tab) == ["fstab.trainserver-20261128T080000Z"]


def test_a_line_that_fails_verification_is_not_written(tab, tmp_path):
    old = tab.read_text()
    with pytest.raises(ActionError, match="would fail findmnt --verify"):
        fstab.add_line(str(tab), "UUID=00000000-0000-4000-8000-00000000dead /nowhere btrfs "
                                 "defaults 0 0", now=NOW)
    assert tab.read_text() == old and leftovers(tab) == []


def test_an_fstab_already_broken_is_not_touched(tab):
    tab.write_text(tab.read_text() + "/dev/does-not-exist /nowhere ext4 defaults 0 2\n")
    old = tab.read_text()
    with pytest.raises(ActionError, match="fails findmnt --verify before any change"):
        fstab.add_line(str(tab), f"tmpfs {tab.parent} tmpfs defaults 0 0", now=NOW)
    assert tab.read_text() == old and leftovers(tab) == []


def test_a_missing_fstab_is_created(tmp_path):
    path = tmp_path / "fstab"
    assert fstab.add_line(str(path), f"tmpfs {tmp_path} tmpfs defaults 0 0", now=NOW) is None
    assert path.read_text().endswith(f"tmpfs {tmp_path} tmpfs defaults 0 0\n")
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_a_run_killed_between_the_backup_and_the_rename_leaves_one_backup_after_the_rerun(
        tab, tmp_path, monkeypatch):
    old = tab.read_text()
    (tmp_path / "storage").mkdir()
    line = f"tmpfs {tmp_path}/storage tmpfs defaults 0 0"

    def killed(source, target):
        raise KeyboardInterrupt  # stands for the SIGKILL: nothing after this point runs

    with monkeypatch.context() as patched:
        patched.setattr(fstab.os, "replace", killed)
        with pytest.raises(KeyboardInterrupt):
            fstab.add_line(str(tab), line, now=NOW)
    assert tab.read_text() == old
    assert leftovers(tab) == ["fstab.trainserver-20261128T080000Z", "fstab.trainserver-new"]
    backup = fstab.add_line(str(tab), line, now=NOW + 600)
    assert backup == f"{tab}.trainserver-20261128T080000Z" and open(backup).read() == old
    assert leftovers(tab) == ["fstab.trainserver-20261128T080000Z"]
    assert tab.read_text().endswith(line + "\n")


def test_an_older_backup_that_differs_from_the_file_is_not_taken_for_its_copy(tab, tmp_path):
    (tmp_path / "fstab.trainserver-20260101T000000Z").write_text("# an older fstab\n")
    (tmp_path / "storage").mkdir()
    backup = fstab.add_line(str(tab), f"tmpfs {tmp_path}/storage tmpfs defaults 0 0", now=NOW)
    assert backup == f"{tab}.trainserver-20261128T080000Z"
    assert leftovers(tab) == ["fstab.trainserver-20260101T000000Z",
                              "fstab.trainserver-20261128T080000Z"]
