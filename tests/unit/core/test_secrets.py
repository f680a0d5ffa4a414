"""trainserver.core.secrets: secret files and masking."""

import os

import pytest

from trainserver.core import masking, secrets
from trainserver.core.secrets import SecretError, check_file, describe, read


@pytest.fixture(autouse=True)
def forget_registered():
    """Leave the module-level set of registered secrets as it was before each test."""
    before = set(secrets._REGISTERED)
    yield
    secrets._REGISTERED.intersection_update(before)


def secret_file(tmp_path, content="tok3n-value\n", mode=0o600, name="b2-key"):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    os.chmod(path, mode)
    return str(path)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o606, 0o644, 0o620, 0o602, 0o777])
def test_too_open_is_refused(tmp_path, mode):
    path = secret_file(tmp_path, mode=mode)
    with pytest.raises(SecretError) as info:
        check_file(path)
    assert info.value.state == "too-open"
    message = str(info.value)
    assert f"chmod 600 {path}" in message
    assert f"mode {mode:04o}" in message
    assert describe(path) == "too-open"


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700, 0o200])
def test_owner_only_modes_are_accepted(tmp_path, mode):
    path = secret_file(tmp_path, mode=mode)
    assert check_file(path) is None
    assert describe(path) == "ok"


def test_missing_file(tmp_path):
    path = str(tmp_path / "absent")
    with pytest.raises(SecretError) as info:
        check_file(path)
    assert info.value.state == "missing"
    assert f"install -m 600 -o root -g root /dev/null {path}" in str(info.value)
    assert describe(path) == "missing"


def test_directory_is_not_a_file(tmp_path):
    directory = tmp_path / "secrets"
    directory.mkdir(mode=0o700)
    with pytest.raises(SecretError) as info:
        check_file(str(directory))
    assert info.value.state == "not-a-file"
    assert describe(str(directory)) == "not-a-file"


def test_fifo_is_not_a_file(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    assert describe(str(fifo)) == "not-a-file"


def test_symlink_to_a_safe_file_is_accepted(tmp_path):
    target = secret_file(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(target)
    assert describe(str(link)) == "ok"


def test_read_strips_and_registers(tmp_path):
    path = secret_file(tmp_path, content="  \n\tRe4lT0ken-x9 \n\n")
    assert read(path) == "Re4lT0ken-x9"
    assert "Re4lT0ken-x9" in secrets._REGISTERED
    assert secrets.mask("Authorization: Re4lT0ken-x9.") == f"Authorization: {secrets.MASK}."


def test_read_refuses_an_unsafe_file_without_registering(tmp_path):
    path = secret_file(tmp_path, content="l3aky-token", mode=0o644)
    with pytest.raises(SecretError) as info:
        read(path)
    assert info.value.state == "too-open"
    assert "l3aky-token" not in secrets._REGISTERED
    assert secrets.mask("l3aky-token") == "l3aky-token"


@pytest.mark.parametrize("content", ["", " \n\t\n"])
def test_empty_file(tmp_path, content):
    path = secret_file(tmp_path, content=content)
    with pytest.raises(SecretError) as info:
        read(path)
    assert info.value.state == "empty"
    assert path in str(info.value)
    assert describe(path) == "ok"  # describe checks the file, not its content


def test_mask_replaces_every_occurrence_longest_first():
    secrets.register("abcd")
    secrets.register("abcdefgh")
    assert secrets.mask("abcdefgh abcd abcdx") == " ".join([secrets.MASK] * 2) + f" {secrets.MASK}x"


def test_short_values_are_not_registered():
    secrets.register("abc")
    secrets.register("")
    secrets.register(None)
    assert "abc" not in secrets._REGISTERED
    assert secrets.mask("abc") == "abc"


def test_mask_without_secrets_is_identity(monkeypatch):
    # Secrets registered by other tests' tools stay registered for the process.
    monkeypatch.setattr(masking, "_REGISTERED", set())
    text = "nothing secret here"
    assert secrets.mask(text) == text
