"""The same reading of restic's output, on output recorded from the real restic 0.18.0 of Debian 13
(tests/fixtures/backup/restic-0.18/, PROVENANCE.md): where it differs from 0.14."""

import os

import pytest

from trainserver.backup import restic

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "fixtures", "backup", "restic-0.18")

V18 = (0, 18, 0)


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def test_version():
    assert restic.parse_version(fixture("version.txt")) == V18


def test_base_argv_retries_a_lock():
    argv = restic.base_argv("rclone:gdrive:backup", V18, "/pw", "/cache")
    assert argv[-2:] == ["--retry-lock", restic.RETRY_LOCK]


def test_features_are_read_from_the_table():
    features = restic.parse_features(fixture("features.txt"))
    assert features[restic.STABLE_DEVICE_IDS] == {"type": "alpha", "default": False}
    assert features["backend-error-redesign"] == {"type": "beta", "default": True}
    assert features["deprecate-legacy-index"] == {"type": "stable", "default": True}
    assert len(features) == 7
    # The header and the rules are not features.
    assert "Name" not in features and not any(name.startswith("-") for name in features)


@pytest.mark.parametrize("text", ["", "unknown command \"features\" for \"restic\"\n", None])
def test_no_features_is_a_parse_error(text):
    # 0.14 has no `restic features`: job.features() does not ask it, and an answer without a
    # table is never read as "no feature".
    with pytest.raises(restic.ParseError):
        restic.parse_features(text)


def test_stable_device_ids_are_asked_for_where_restic_lists_the_flag():
    assert restic.wanted_features(restic.parse_features(fixture("features.txt"))) == \
        "device-id-for-hardlinks"


@pytest.mark.parametrize("features", [
    {},  # a restic without the flag: naming it would make every command fail
    {"device-id-for-hardlinks": {"type": "stable", "default": True}},  # on already
    None,
])
def test_no_flag_is_set_where_it_is_unknown_or_on(features):
    assert restic.wanted_features(features) == ""


def test_first_backup_summary_has_the_whole_snapshot_id():
    parsed = restic.parse_backup(fixture("backup-first.jsonl"))
    summary = parsed["summary"]
    assert summary["files_new"] == 4 and summary["data_added"] == 23189
    assert summary["snapshot_id"].startswith("28ab5fae") and len(summary["snapshot_id"]) == 64
    result = restic.outcome(0, V18, parsed, "")
    assert result["ok"] and "28ab5fae" in result["summary"]


def test_unreadable_file_is_named():
    # As in 0.14, the JSON error line is on stderr; the summary, on stdout, counts it.
    parsed = restic.parse_backup(fixture("backup-unreadable.jsonl"),
                                 fixture("backup-unreadable.stderr"))
    assert parsed["summary"]["files_unmodified"] == 4
    assert parsed["errors"] == [{
        "item": "/tmp/rbk18/data/docs/private.key", "during": "archival",
        "message": "open /tmp/rbk18/data/docs/private.key: permission denied"}]
    result = restic.outcome(3, V18, parsed, fixture("backup-unreadable.stderr"))
    assert not result["ok"] and result["severity"] == "critical"
    assert result["unreadable"] == ["/tmp/rbk18/data/docs/private.key"]
    assert "9a690cbf" in result["summary"] and "(exit 3)" in result["summary"]
    # The exit_error object's message is the reason, as 0.14's plain line was.
    assert "at least one source file could not be read" in result["summary"]
    assert "{" not in result["summary"]


@pytest.mark.parametrize("stderr_fixture, code, words, reason", [
    ("no-repository.stderr", 10, "does not exist (run ts-backup init)",
     "Fatal: repository does not exist: unable to open config file: stat "
     "/tmp/rbk18/nothere/config: no such file or directory"),
    ("wrong-password.stderr", 12, "wrong password", "Fatal: wrong password or no key found"),
])
def test_fatal_errors_keep_the_reason_from_the_json_exit_error(stderr_fixture, code, words,
                                                              reason):
    stderr = fixture(stderr_fixture)
    assert restic.error_line(stderr) == reason
    result = restic.outcome(code, V18, restic.parse_backup(""), stderr)
    assert result["severity"] == "critical"
    assert words in result["summary"] and reason in result["summary"]
    assert "\n" not in result["summary"]


def test_forget_keeps_the_oldest_snapshot_while_periods_are_left():
    # From 0.17 a policy with periods to spare keeps the oldest snapshot too ("oldest daily
    # snapshot"): two backups of one day are both kept, where 0.14 forgot the first.
    [group] = restic.parse_forget(fixture("forget-keeps-oldest.json"))
    assert group["host"] == "trainserver-test" and group["tags"] == ["homes"]
    assert len(group["keep"]) == 2 and group["remove"] == []


def test_a_restore_with_errors_names_the_first_one():
    assert restic.error_line(fixture("restore-no-chown.stderr")) == (
        "Fatal: There were 3 errors; the first: /tmp/rrs/src/sub/f: lchown "
        "/tmp/rrs/out/x18/tmp/rrs/src/sub/f: operation not permitted")
