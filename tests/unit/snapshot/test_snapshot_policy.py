"""[snapshot] config: the policy built from it, and the cross-key rules ts-config check applies."""

import datetime as dt

import pytest

from trainserver.core import config
from trainserver.core.errors import ConfigError
from trainserver.snapshot import policy


def load(tmp_path, text):
    path = tmp_path / "trainserver.toml"
    path.write_text(text)
    return config.load(str(path))


def problems(tmp_path, text):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value.problems


def test_defaults_are_the_server_manuals_policy(tmp_path):
    built = policy.from_config(load(tmp_path, "")["snapshot"])
    assert (built.hourly, built.daily, built.weekly) == (24, 7, 4)
    assert built.daily_at == dt.time(2, 0)
    assert (built.weekly_day, built.weekly_at) == (6, dt.time(3, 0))  # Sunday
    assert built.min_age == dt.timedelta(hours=1)


def test_a_configured_time_zone_is_used(tmp_path):
    table = load(tmp_path, '[snapshot]\ntimezone = "Europe/Berlin"\n')["snapshot"]
    built = policy.from_config(table)
    assert str(built.timezone) == "Europe/Berlin"


def test_an_empty_policy_is_refused(tmp_path):
    found = problems(tmp_path, "[snapshot]\nkeep_hourly = 0\nkeep_daily = 0\nkeep_weekly = 0\n")
    assert len(found) == 1
    assert "[snapshot] keep_hourly, keep_daily, keep_weekly: an empty policy" in found[0]
    assert found[0].startswith(str(tmp_path / "trainserver.toml") + ": ")


def test_an_unknown_time_zone_is_refused(tmp_path):
    found = problems(tmp_path, '[snapshot]\ntimezone = "Mars/Olympus"\n')
    assert any("[snapshot] timezone: not a time zone name" in p and "Mars/Olympus" in p
               for p in found)


@pytest.mark.parametrize("pattern, why", [
    ("/mnt/storage/homes/*", "is absolute"),
    ("homes/../etc", "without '.', '..'"),
    ("snapshots/homes", "reaches into snapshot_dir"),
    ("*", "reaches into snapshot_dir"),
    ("snap*/x", "reaches into snapshot_dir"),
])
def test_patterns_that_escape_storage_or_snapshot_snapshots_are_refused(tmp_path, pattern, why):
    found = problems(tmp_path, f'[snapshot]\nsubvolumes = ["{pattern}"]\n')
    assert any(why in p for p in found), found


def test_a_pattern_holding_the_snapshot_dir_is_refused(tmp_path):
    found = problems(tmp_path, '[snapshot]\nsnapshot_dir = "data/snapshots"\n'
                               'subvolumes = ["data"]\n')
    assert any("holds snapshot_dir" in p for p in found), found


def test_every_problem_is_listed_at_once(tmp_path):
    found = problems(tmp_path, '[snapshot]\nkeep_hourly = 0\nkeep_daily = 0\nkeep_weekly = 0\n'
                               'timezone = "Nowhere/Land"\nsubvolumes = ["x", "x"]\n')
    assert len(found) == 3


def test_weekly_only_and_the_default_patterns_are_fine(tmp_path):
    load(tmp_path, "[snapshot]\nkeep_hourly = 0\nkeep_daily = 0\nkeep_weekly = 8\n")


def test_ts_config_check_applies_the_snapshot_rules(run_tool, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[snapshot]\nkeep_hourly = 0\nkeep_daily = 0\nkeep_weekly = 0\n")
    result = run_tool("ts-config", "--config", str(path), "check")
    assert result.returncode == 3
    assert "an empty policy" in result.stderr
