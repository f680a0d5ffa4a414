"""rclone's JSON log parsed, from lines the real rclone (Debian's 1.60) prints in tmp dirs."""

import os

from trainserver.core.findings import Severity
from trainserver.sync import jsonlog, plan, report
from trainserver.sync.runner import Outcome

FLAGS = plan.common_flags("12207k:off")


def make(tmp_path, names):
    root = tmp_path / "src"
    root.mkdir(exist_ok=True)
    for name, size in names.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    return f"gcs:{root}", f"gdrive:{tmp_path / 'dst'}"


def test_a_copy_and_an_incremental_copy(remotes, tmp_path):
    source, destination = make(tmp_path, {"a": 1000, "b/c": 2000})
    first = remotes("rclone", "copy", source, destination, *FLAGS)
    assert first.returncode == 0
    summary = jsonlog.parse(first.stderr).summary()
    assert (summary["files"], summary["bytes"], summary["errors"]) == (2, 3000, 0)
    assert summary["duration"] > 0
    again = jsonlog.parse(remotes("rclone", "copy", source, destination, *FLAGS).stderr)
    assert again.summary()["files"] == 0 and again.summary()["checks"] == 2
    assert not again.errors and not again.upload_limit


def test_dry_run_lists_copies_replacements_and_deletions(remotes, tmp_path):
    source, destination = make(tmp_path, {"keep": 10, "change": 10, "gone": 10})
    remotes("rclone", "copy", source, destination)
    (tmp_path / "src" / "gone").unlink()
    (tmp_path / "src" / "change").write_bytes(b"12345678901")
    (tmp_path / "src" / "new").write_bytes(b"1")
    done = remotes("rclone", "sync", source, destination, "--backup-dir",
                   f"gdrive:{tmp_path / 'deleted'}", *FLAGS, "--dry-run")
    would = sorted((entry["action"], entry["object"])
                   for entry in jsonlog.parse(done.stderr).would)
    assert would == [("copy", "change"), ("copy", "new"), ("move", "change"),
                     ("move into backup dir", "gone")]
    assert jsonlog.describe_would({"action": "move into backup dir", "object": "gone",
                                   "size": 10}) == \
        "would delete (moved into the backup dir): gone (10 bytes)"


def test_max_delete_is_recognised_with_what_it_kept(remotes, tmp_path):
    source, destination = make(tmp_path, {str(n): 10 for n in range(5)})
    remotes("rclone", "copy", source, destination)
    for n in range(4):
        (tmp_path / "src" / str(n)).unlink()
    done = remotes("rclone", "sync", source, destination, "--backup-dir",
                   f"gdrive:{tmp_path / 'deleted'}", "--max-delete", "1", *FLAGS)
    assert done.returncode != 0
    parsed = jsonlog.parse(done.stderr)
    assert parsed.max_delete and parsed.not_deleted >= 3
    assert any(line.startswith("Failed to sync") for line in parsed.plain)
    finding = report.copy_finding(Outcome(done.returncode, parsed), "run", "s", 1)
    assert finding.severity == Severity.CRITICAL
    assert "--max-delete 1" in finding.summary and finding.value == parsed.not_deleted


def test_check_reports_the_hash_and_every_mismatch(remotes, tmp_path):
    source, destination = make(tmp_path, {"same": 100, "flip": 100, "lost": 100})
    remotes("rclone", "copy", source, destination)
    os.unlink(tmp_path / "dst" / "lost")
    with open(tmp_path / "dst" / "flip", "r+b") as handle:  # same size, other content
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 0xFF]))
    combined = tmp_path / "combined"
    done = remotes(*plan.check_argv(source, destination, str(combined)))
    assert done.returncode == 1
    assert jsonlog.parse(done.stderr).hash == "md5"
    assert sorted(jsonlog.parse_combined(combined.read_text())) == [
        ("differ", "flip"), ("missing", "lost")]


def test_a_fatal_failure_keeps_rclones_words(remotes, tmp_path):
    done = remotes("rclone", "copy", f"gcs:{tmp_path}/absent", f"gdrive:{tmp_path}/d", *FLAGS)
    assert done.returncode != 0
    parsed = jsonlog.parse(done.stderr)
    finding = report.copy_finding(Outcome(done.returncode, parsed), "run", "s")
    assert finding.severity == Severity.CRITICAL
    assert "directory not found" in finding.summary


# Drive's daily upload cap cannot be reached on a local backend. These lines are built from
# rclone 1.60's source: backend/drive/drive.go shouldRetry, with --drive-stop-on-upload-limit,
# logs fs.Errorf(f, "Received upload limit error: %v", err) for a 403 whose reason is
# userRateLimitExceeded and whose message is "User rate limit exceeded.", and returns
# fserrors.FatalError(err): cmd/cmd.go then logs "Fatal error received - not attempting
# retries" and exits 7 with the final stats (format as recorded above; the "source" line
# numbers are illustrative).
UPLOAD_CAP = """\
{"level":"error","msg":"Received upload limit error: googleapi: Error 403: User rate limit exceeded., userRateLimitExceeded","object":"Google drive root 'ingest'","objectType":"*drive.Fs","source":"drive/drive.go:697","time":"2026-12-06T05:10:00.000000+00:00"}
{"level":"error","msg":"Fatal error received - not attempting retries","source":"cmd/cmd.go:268","time":"2026-12-06T05:10:00.100000+00:00"}
{"level":"warning","msg":"\\nTransferred: ...","source":"accounting/stats.go:482","stats":{"bytes":750000000000,"checks":10,"deletedDirs":0,"deletes":0,"elapsedTime":61234.5,"errors":1,"eta":null,"fatalError":true,"lastError":"googleapi: Error 403: User rate limit exceeded., userRateLimitExceeded","renames":0,"retryError":false,"speed":12000000,"totalBytes":900000000000,"totalChecks":10,"totalTransfers":1200,"transferTime":61000,"transfers":1000},"time":"2026-12-06T05:10:00.200000+00:00"}
2026/12/06 05:10:00 Failed to copy: googleapi: Error 403: User rate limit exceeded., userRateLimitExceeded
"""


def test_the_upload_cap_is_a_warning_not_a_crash():
    parsed = jsonlog.parse(UPLOAD_CAP)
    assert parsed.upload_limit and not parsed.max_delete
    finding = report.copy_finding(Outcome(7, parsed), "run", "gcs:b -> gdrive:i")
    assert finding.severity == Severity.WARNING
    assert finding.summary == ("Drive's daily upload cap reached after 750.0 GB; the rest "
                               "follows on the next run")
    record = report.status_record(Outcome(7, parsed), 1.0, {})
    assert record["last_run"]["ok"] and record["last_run"]["outcome"] == "upload-cap"


def test_plain_lines_and_blank_lines():
    assert jsonlog.parse_line("  ") is None
    assert jsonlog.parse_line("2026/12/06 05:10:00 Failed to copy: x") == {
        "level": "plain", "msg": "Failed to copy: x"}
