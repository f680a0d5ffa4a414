"""trainserver.core.state: atomic files and JSON state."""

import logging
import os
import stat

import pytest

from trainserver.core import state
from trainserver.core.state import StateFile, atomic_write


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# --- atomic_write ------------------------------------------------------------------------------

def test_atomic_write_creates_directories(tmp_path):
    path = tmp_path / "a" / "b" / "file.txt"
    atomic_write(str(path), "hello\n")
    assert path.read_text(encoding="utf-8") == "hello\n"
    assert os.listdir(path.parent) == ["file.txt"]


def test_atomic_write_encodes_text_as_utf8_and_takes_bytes(tmp_path):
    path = tmp_path / "f"
    atomic_write(str(path), "grüße")
    assert path.read_bytes() == "grüße".encode("utf-8")
    atomic_write(str(path), b"\x00\xffraw")
    assert path.read_bytes() == b"\x00\xffraw"


def test_atomic_write_replaces_content_without_leftovers(tmp_path):
    path = tmp_path / "f"
    path.write_text("old old old old old\n")
    atomic_write(str(path), "new\n")
    assert path.read_text() == "new\n"
    assert os.listdir(tmp_path) == ["f"]


def test_atomic_write_replaces_the_inode(tmp_path):
    # A reader holding the old file keeps reading the old content: it is replaced, not rewritten.
    path = tmp_path / "f"
    path.write_text("old\n")
    with open(path, encoding="utf-8") as reader:
        atomic_write(str(path), "new\n")
        assert reader.read() == "old\n"


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o640, 0o400])
def test_atomic_write_sets_mode(tmp_path, mode):
    path = tmp_path / "f"
    path.write_text("old")
    os.chmod(path, 0o666)
    atomic_write(str(path), "x", mode=mode)
    assert mode_of(path) == mode


def test_atomic_write_default_mode_is_0644_whatever_the_umask(tmp_path):
    old_umask = os.umask(0o077)
    try:
        atomic_write(str(tmp_path / "f"), "x")
    finally:
        os.umask(old_umask)
    assert mode_of(tmp_path / "f") == 0o644


def test_failing_fsync_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_text("old\n")

    def fail(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(state.os, "fsync", fail)
    with pytest.raises(OSError, match="Input/output error"):
        atomic_write(str(path), "new\n")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["f"]


def test_failing_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = tmp_path / "f"
    path.write_text("old\n")
    with pytest.raises(TypeError):
        atomic_write(str(path), ["neither", "str", "nor", "bytes"])
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["f"]


def test_unencodable_text_keeps_the_old_file(tmp_path):
    path = tmp_path / "f"
    path.write_text("old\n")
    with pytest.raises(UnicodeEncodeError):
        atomic_write(str(path), "lone surrogate \udcff")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["f"]


def test_failing_rename_removes_the_temporary(tmp_path):
    target = tmp_path / "dir"
    target.mkdir()
    (target / "inside").write_text("keep")
    with pytest.raises(OSError):
        atomic_write(str(target), "new\n")
    assert sorted(os.listdir(tmp_path)) == ["dir"]
    assert (target / "inside").read_text() == "keep"


def test_interrupt_during_write_removes_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_text("old\n")

    def interrupt(fd, mode):
        raise KeyboardInterrupt

    monkeypatch.setattr(state.os, "fchmod", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(str(path), "new\n")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["f"]


# --- StateFile ---------------------------------------------------------------------------------

def test_state_round_trip(tmp_path):
    path = tmp_path / "lib" / "alert.json"
    document = {"sent": {"ts-disk/smart/sda": "2024-01-02T03:04:05Z"}, "count": 3, "ratio": 0.5,
                "list": [1, "zwei", None, True], "text": "grüße"}
    StateFile(path).save(document)
    assert StateFile(str(path)).load() == document
    assert mode_of(path) == 0o600
    assert path.read_text(encoding="utf-8").endswith("\n")
    assert os.listdir(path.parent) == ["alert.json"]


def test_save_replaces(tmp_path):
    state_file = StateFile(tmp_path / "s.json")
    state_file.save({"a": 1})
    state_file.save({"b": 2})
    assert state_file.load() == {"b": 2}


def test_missing_file_gives_the_default(tmp_path):
    state_file = StateFile(tmp_path / "none.json")
    assert state_file.load() is None
    assert state_file.load(default={"fresh": True}) == {"fresh": True}
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("content", [
    b'{"half": ',
    b"not json at all",
    b"",
    b'{"text": "\xff\xfe broken utf-8"}',
    b"\xc3\x28",
])
def test_corrupt_file_is_moved_aside(tmp_path, caplog, content):
    path = tmp_path / "alert.json"
    path.write_bytes(content)
    caplog.set_level(logging.WARNING, logger="trainserver.core.state")

    assert StateFile(path).load(default={"d": 1}) == {"d": 1}

    assert not path.exists()
    aside = list(tmp_path.glob("alert.json.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes() == content
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "trainserver.core.state"]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert str(path) in message and str(aside[0]) in message and "corrupt" in message

    # The next run starts afresh: no file, no warning.
    caplog.clear()
    assert StateFile(path).load(default=[]) == []
    assert caplog.records == []
