"""The Shared Drive's section in rclone.conf: other remotes and comments are kept, the file
is written 0600 in a 0700 directory, re-runs change nothing, and no credential is printed."""

import json
import os
import stat

import pytest

from trainserver.gdrive import remoteconf

ADMIN_FILE = """# rclone config of this server: edit with care
[gcs]
type = google cloud storage
service_account_file = /etc/trainserver/secrets/gcs.json

# the Drive, written by ts-gdrive-mount setup
[gdrive]
type = drive
token = {"access_token":"old"}
team_drive = OLDID

; the admin's own scratch remote
[scratch]
type = local
"""
TOKEN = '{"access_token":"ya29.SECRETACCESS","token_type":"Bearer",' \
        '"refresh_token":"1//SECRETREFRESH","expiry":"2026-12-06T10:00:00Z"}'


def test_merge_replaces_only_its_section_and_keeps_comments():
    values = remoteconf.drive_section("NEWDRIVEID", service_account_file="/s/key.json")
    merged = remoteconf.merge(ADMIN_FILE, "gdrive", values)
    assert merged.startswith("# rclone config of this server: edit with care\n[gcs]\n")
    assert "# the Drive, written by ts-gdrive-mount setup" in merged
    assert "; the admin's own scratch remote\n[scratch]\ntype = local\n" in merged
    found = remoteconf.sections(merged)
    assert found["gdrive"] == {"type": "drive", "scope": "drive", "team_drive": "NEWDRIVEID",
                               "service_account_file": "/s/key.json"}
    assert found["gcs"]["type"] == "google cloud storage"
    assert found["scratch"] == {"type": "local"}
    assert "OLDID" not in merged and "old" not in found["gdrive"].get("token", "")
    assert remoteconf.merge(merged, "gdrive", values) == merged  # idempotent


def test_merge_appends_to_a_file_without_the_section_and_starts_an_empty_one():
    values = remoteconf.drive_section("ID12345678", token="{}")
    added = remoteconf.merge("[gcs]\ntype = s3\n\n\n", "gdrive", values)
    assert added == "[gcs]\ntype = s3\n\n[gdrive]\ntype = drive\nscope = drive\n" \
                    "team_drive = ID12345678\ntoken = {}\n"
    assert remoteconf.merge("", "gdrive", values) == remoteconf.render("gdrive", values)


def test_masked_rendering_never_shows_the_token():
    values = remoteconf.drive_section("ID12345678", token=remoteconf.parse_token(TOKEN))
    text = remoteconf.render("gdrive", values, masked=True)
    assert "SECRET" not in text and "token = ********" in text


def test_token_must_be_rclone_json_with_a_refresh_token():
    assert json.loads(remoteconf.parse_token(TOKEN))["refresh_token"] == "1//SECRETREFRESH"
    with pytest.raises(remoteconf.ActionError, match="not JSON"):
        remoteconf.parse_token("ya29.abc")
    with pytest.raises(remoteconf.ActionError, match="no refresh_token"):
        remoteconf.parse_token('{"access_token":"x"}')


def test_service_account_file_is_checked(tmp_path):
    good = tmp_path / "key.json"
    good.write_text(json.dumps({"type": "service_account", "client_email": "a@b.iam",
                                "private_key": "-----BEGIN PRIVATE KEY-----X"}))
    assert remoteconf.read_service_account(str(good))[1] == "a@b.iam"
    bad = tmp_path / "user.json"
    bad.write_text(json.dumps({"type": "authorized_user", "private_key": "SECRETKEY"}))
    with pytest.raises(remoteconf.ActionError) as raised:
        remoteconf.read_service_account(str(bad))
    assert "SECRETKEY" not in str(raised.value)


def test_write_secret_is_0600_in_a_0700_directory(tmp_path):
    path = tmp_path / "secrets" / "rclone.conf"
    old = os.umask(0o022)
    try:
        remoteconf.write_secret(str(path), "[a]\ntype = local\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.chmod(0o644)
    remoteconf.write_secret(str(path), "[a]\ntype = local\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.fixture
def config(tmp_path):
    secrets_dir = tmp_path / "secrets"
    path = tmp_path / "trainserver.toml"
    path.write_text(f'[paths]\nstorage = "{tmp_path}/storage"\nstate_dir = "{tmp_path}/state"\n'
                    f'lock_dir = "{tmp_path}/state"\nsecrets_dir = "{secrets_dir}"\n'
                    f'[gdrive]\nrclone_config = "{secrets_dir}/rclone.conf"\n')
    return str(path), secrets_dir


def test_setup_with_a_token_writes_0600_prints_no_secret_and_reruns_unchanged(run_tool,
                                                                              config):
    path, secrets_dir = config
    args = ("--config", path, "setup", "--drive-id", "0ABCDEFGHIJK", "--token-stdin",
            "--no-start")
    dry = run_tool("ts-gdrive-mount", *args, "--dry-run", input=TOKEN)
    assert dry.returncode == 0, dry.stderr
    assert "SECRET" not in dry.stdout + dry.stderr
    assert "token = ********" in dry.stdout and "team_drive = 0ABCDEFGHIJK" in dry.stdout
    assert not secrets_dir.exists()
    first = run_tool("ts-gdrive-mount", *args, input=TOKEN)
    assert first.returncode == 0, first.stderr
    assert "SECRET" not in first.stdout + first.stderr and "written" in first.stdout
    conf = secrets_dir / "rclone.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    assert json.loads(remoteconf.sections(conf.read_text())["gdrive"]["token"]) == \
        json.loads(TOKEN)
    again = run_tool("ts-gdrive-mount", *args, input=TOKEN)
    assert again.returncode == 0 and "unchanged" in again.stdout


def test_setup_copies_the_service_account_key_0600(run_tool, config, tmp_path):
    path, secrets_dir = config
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"type": "service_account", "client_email": "m@p.iam",
                               "private_key": "-----BEGIN PRIVATE KEY-----SECRETPEM"}))
    result = run_tool("ts-gdrive-mount", "--config", path, "setup", "--drive-id",
                      "0ABCDEFGHIJK", "--service-account", str(key), "--no-start")
    assert result.returncode == 0, result.stderr
    assert "SECRET" not in result.stdout + result.stderr and "m@p.iam" in result.stdout
    copied = secrets_dir / "gdrive-service-account.json"
    assert copied.read_text() == key.read_text()
    assert stat.S_IMODE(copied.stat().st_mode) == 0o600
    section = remoteconf.sections((secrets_dir / "rclone.conf").read_text())["gdrive"]
    assert section["service_account_file"] == str(copied)


def test_setup_refuses_both_or_neither_credential_and_a_bad_drive_id(run_tool, config):
    path, _ = config
    neither = run_tool("ts-gdrive-mount", "--config", path, "setup", "--drive-id",
                       "0ABCDEFGHIJK", "--no-start")
    assert neither.returncode == 3 and "exactly one" in neither.stderr
    bad = run_tool("ts-gdrive-mount", "--config", path, "setup", "--drive-id", "a/b",
                   "--token-stdin", "--no-start", input=TOKEN)
    assert bad.returncode == 2 and "does not look like" in bad.stderr
