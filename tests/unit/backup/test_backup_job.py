"""ts-backup's refusals before restic runs, and the daily and weekly jobs' restic commands, with
restic replaced by recorded answers (core.commands' runner)."""

import os

import pytest

from trainserver.backup import job
from trainserver.core.errors import SecretError


def _settings(tmp_path, password="secret\n"):
    password_file = tmp_path / "restic-password"
    password_file.write_text(password)
    password_file.chmod(0o600)
    return job.Settings(storage=str(tmp_path / "storage"), repository=str(tmp_path / "repo"),
                        password_file=str(password_file), bandwidth=1e6, keep_daily=7,
                        keep_weekly=52, healthcheck_url="", patterns=["homes/*"], host="h",
                        tag="t", snapshot_dir="backup-snapshots",
                        rclone_config=str(tmp_path / "rclone.conf"),
                        cache_dir=str(tmp_path / "cache"), containers=[], pause_timeout=30.0)


@pytest.mark.parametrize("password", ["", "\n", "  \n\n"])
def test_an_empty_password_file_is_refused_before_anything_runs(tmp_path, password):
    settings = _settings(tmp_path, password)
    with pytest.raises(SecretError, match="empty"):
        job.preflight(settings)
    assert not os.path.exists(settings.cache_dir)


def test_a_password_file_with_a_password_passes(tmp_path):
    job.preflight(_settings(tmp_path))
    assert os.path.isdir(tmp_path / "cache")


# ---------------------------------------------------------------- the daily and weekly jobs

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "fixtures", "backup")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


class Restic:
    """restic_run replaced: records each command's subcommand and answers from ANSWERS
    ({subcommand: (returncode, stdout, stderr)}; 0 and nothing for the others)."""

    def __init__(self, monkeypatch, answers=None):
        from trainserver.core import commands

        self.calls = []
        self.answers = answers or {}
        monkeypatch.setattr(job, "version", lambda: (0, 14, 0))

        def fake(argv, settings, changes, timeout=None, feature_flags=""):
            words = argv[len(job.base(settings, (0, 14, 0))):]
            self.calls.append(words)
            if changes and commands.dry_run():
                return commands.Result(argv, 0, "", "", dry_run=True)
            code, out, err = self.answers.get(words[0], (0, "", ""))
            return commands.Result(argv, code, out, err)

        monkeypatch.setattr(job, "restic_run", fake)

    def commands(self):
        return [words[0] for words in self.calls]


def test_the_weekly_job_unlocks_then_forgets_with_prune_then_checks(tmp_path, monkeypatch):
    restic = Restic(monkeypatch, {"forget": (0, fixture("forget-prune.stdout"), "")})
    found = job.prune(_settings(tmp_path))
    assert restic.commands() == ["unlock", "forget", "check"]
    assert restic.calls[1][-5:] == ["--keep-weekly", "52", "--prune", "--max-unused", "5%"]
    assert restic.calls[2] == ["check"]  # the structure only: no --read-data
    assert [(f.check, f.severity.label) for f in found] == [
        ("forget", "ok"), ("prune", "ok"), ("structure", "ok")]
    assert "kept 1 snapshots, forgot 1" in found[0].summary
    assert "total prune" in found[1].summary


def test_a_week_that_forgot_nothing_still_prunes(tmp_path, monkeypatch):
    """restic prunes after forget only when it removed a snapshot: the packs of a killed
    backup would stay for ever."""
    restic = Restic(monkeypatch, {"forget": (0, fixture("forget-nothing-removed.json"), ""),
                                  "prune": (0, "total prune: 3 MiB\n", "")})
    found = job.prune(_settings(tmp_path))
    assert restic.commands() == ["unlock", "forget", "prune", "check"]
    assert restic.calls[2] == ["prune", "--max-unused", "5%"]
    assert "forgot 0" in found[0].summary and "total prune: 3 MiB" in found[1].summary


def test_the_weekly_check_names_the_damaged_pack(tmp_path, monkeypatch):
    Restic(monkeypatch, {"forget": (0, fixture("forget-prune.stdout"), ""),
                         "check": (1, "", fixture("check-truncated.stderr"))})
    structure = job.prune(_settings(tmp_path))[-1]
    assert structure.check == "structure" and structure.severity.label == "critical"
    assert "c9c82a4c7a46f691cb866392d899357b944f29c2d76924a201e60f71b6af0233 (unexpected " \
           "file size: got 1000, expected 13090293)" in structure.summary, structure.summary
    assert "Fatal: repository contains errors" in structure.summary


def test_a_failed_forget_is_a_critical_prune_finding(tmp_path, monkeypatch):
    Restic(monkeypatch, {"forget": (1, "", fixture("forget-locked.stderr"))})
    found = job.prune(_settings(tmp_path))
    assert [(f.check, f.severity.label) for f in found] == [("prune", "critical"),
                                                            ("structure", "ok")]
    assert "already locked" in found[0].summary


def test_the_daily_run_neither_unlocks_nor_forgets(tmp_path, monkeypatch):
    from trainserver.core import commands
    from trainserver.snapshot import sources

    restic = Restic(monkeypatch)
    monkeypatch.setattr(job, "features", lambda version: ("", None))
    monkeypatch.setattr(job, "_selection",
                        lambda settings: sources.Selection(subvolumes=["homes/a"]))
    ran = []
    monkeypatch.setattr(commands, "run", lambda argv, **kw: ran.append(argv) or
                        commands.Result(argv, 0, "", "", dry_run=True))
    commands.set_dry_run(True)
    try:
        result = job.run(_settings(tmp_path))
    finally:
        commands.set_dry_run(False)
    assert result.ok and result.forget is None
    assert restic.commands() == []  # no unlock, no forget
    assert [argv[len(job.base(_settings(tmp_path), (0, 14, 0)))] for argv in ran] == ["backup"]


# ---------------------------------------------------------------- the full-read cycle

def test_each_subset_read_is_recorded_and_the_cycle_is_complete_after_all():
    from trainserver.backup import verify

    state = {"next_subset": 1}
    for subset, now in ((1, 100.0), (2, 200.0)):
        state = verify.record_read(state, subset, 3, True, now)
        assert verify.read_cycle(state, 3)["oldest"] is None
    assert state["next_subset"] == 3
    state = verify.record_read(state, 3, 3, True, 300.0)
    assert verify.read_cycle(state, 3) == {"subsets": 3, "read": 3, "oldest": 100.0,
                                           "newest": 300.0}
    state = verify.record_read(state, 1, 3, True, 400.0)
    assert verify.read_cycle(state, 3)["oldest"] == 200.0
    text = verify.cycle_text(verify.read_cycle(state, 3), lambda t: f"T{t:.0f}")
    assert text.startswith("every pack read without errors since T200")
    assert "a full read takes 3 months" in text


def test_a_subset_with_errors_is_not_counted_as_read():
    from trainserver.backup import verify

    state = verify.record_read({}, 1, 2, True, 100.0)
    state = verify.record_read(state, 2, 2, False, 200.0)
    cycle = verify.read_cycle(state, 2)
    assert cycle["read"] == 1 and cycle["oldest"] is None and state["next_subset"] == 1
    assert "1 of 2 parts" in verify.cycle_text(cycle, str)


def test_a_new_number_of_subsets_starts_the_cycle_again():
    from trainserver.backup import verify

    state = verify.record_read({}, 1, 1, True, 100.0)
    assert verify.read_cycle(state, 1)["oldest"] == 100.0
    assert verify.read_cycle(state, 12)["read"] == 0
    assert verify.record_read(state, 1, 12, True, 200.0)["read"] == {"1": 200.0}
    assert "no pack read by verify yet" in verify.cycle_text(verify.read_cycle({}, 12), str)
