"""Key lines and the authorized_keys block of ts-users."""

import base64
import struct

import pytest

from trainserver.users import keys


def key(kind="ssh-ed25519", body=b"\x01" * 32, comment="alice@laptop"):
    blob = base64.b64encode(struct.pack(">I", len(kind)) + kind.encode() +
                            struct.pack(">I", len(body)) + body).decode()
    return f"{kind} {blob} {comment}".strip()


ALICE = key()
LAPTOP = key(body=b"\x02" * 32, comment="alice@desk")


@pytest.mark.parametrize("line", [
    key(), key("ssh-rsa", b"\x00\x01\x00\x01" * 8), key("ecdsa-sha2-nistp256"),
    key("sk-ssh-ed25519@openssh.com"), key(comment=""),
    'from="10.0.0.0/8,192.168.1.1",no-pty ' + key(),
    'command="echo hi there" ' + key(),
])
def test_public_keys_are_accepted(line):
    options, kind, blob, _ = keys.parse(line)
    assert kind in line and blob in line
    assert keys.identity(line) == (kind, blob)


@pytest.mark.parametrize("line,why", [
    ("AAAAC3NzaC1lZDI1NTE5AAAAI alice", "no key type"),
    ("ssh-ed25519", "no key after"),
    ("ssh-ed25519 not*base64 alice", "not base64"),
    ("ssh-ed25519 AAAAnotakey dave", "not base64"),
    (key().replace("ssh-ed25519 ", "ssh-rsa ", 1), "of type 'ssh-ed25519'"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "no key type"),
    ('from="10.0.0.1 ' + key(), "quote is not closed"),
    ("one two " + key(), "more than one word"),
])
def test_lines_that_are_not_public_keys_are_refused(line, why):
    with pytest.raises(keys.NotAKey, match=why):
        keys.parse(line)
    assert keys.identity(line) is None


def test_collect_takes_inline_then_file_keys_once_and_names_bad_lines():
    found, problems = keys.collect([ALICE, "ssh-ed25519 AAAA"], ["# comment", "", LAPTOP, ALICE],
                                   "/etc/keys")
    assert found == [ALICE, LAPTOP]
    assert problems == [
        "ssh_keys[1] is not an SSH public key: the key after ssh-ed25519 is not base64 key "
        "data (got 'ssh-ed25519 AAAA')"]
    _, problems = keys.collect([], ["", "garbage"], "/etc/keys")
    assert problems[0].startswith("/etc/keys line 2 is not an SSH public key")


def test_merge_makes_a_new_file_of_the_block():
    text = keys.merge(None, [ALICE])
    assert text == f"{keys.BEGIN}\n{ALICE}\n{keys.END}\n"
    assert keys.counts(text) == (1, 0)
    assert keys.merge(text, [ALICE]) == text  # idempotent


def test_merge_keeps_the_persons_own_lines_and_replaces_the_block():
    own = key(body=b"\x03" * 32, comment="own")
    text = f"# my comment\n{own}\n{keys.BEGIN}\n{ALICE}\n{keys.END}\nrestrict {own}\n"
    merged = keys.merge(text, [LAPTOP])
    assert merged == f"# my comment\n{own}\n{keys.BEGIN}\n{LAPTOP}\n{keys.END}\nrestrict {own}\n"
    assert keys.counts(merged) == (1, 2)
    revoked = keys.merge(merged, [])
    assert ALICE not in revoked and LAPTOP not in revoked and own in revoked


def test_first_merge_takes_configured_keys_into_the_block():
    """A key the config names that the file already holds moves into the block, so that
    taking it out of [users] later revokes it."""
    own = key(body=b"\x03" * 32, comment="own")
    old = f"{ALICE.rsplit(' ', 1)[0]} old-comment\n{own}\n"
    merged = keys.merge(old, [ALICE])
    assert merged == f"{keys.BEGIN}\n{ALICE}\n{keys.END}\n{own}\n"
    assert "old-comment" not in keys.merge(merged, [])
