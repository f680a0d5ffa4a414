import os
import textwrap

import pytest

from trainserver.core import config, schema, toml_text

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def write(tmp_path, text, name="trainserver.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def problems_of(path):
    with pytest.raises(config.ConfigError) as caught:
        config.load(path)
    return caught.value.problems


def test_every_key_has_description_and_default_that_validates():
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(schema.SCHEMA)
    for table, key, key_schema in schema.walk_keys():
        assert key_schema.get("description"), f"[{table}] {key} has no description"
        assert "default" in key_schema, f"[{table}] {key} has no default"
    assert config.validate(schema.defaults(), "defaults") == []


def test_defaults_are_the_server_manuals_values():
    defaults = schema.defaults()
    assert defaults["snapshot"]["keep_hourly"] == 24
    assert defaults["snapshot"]["keep_daily"] == 7
    assert defaults["snapshot"]["keep_weekly"] == 4
    assert defaults["snapshot"]["daily_at"] == "02:00"
    assert defaults["snapshot"]["weekly_at"] == "Sun 03:00"
    assert defaults["backup"]["keep_daily"] == 7
    assert defaults["backup"]["keep_weekly"] == 52
    assert defaults["backup"]["bandwidth"] == "100Mbit/s"
    assert defaults["gpu"]["temperature_warning"] == 80
    assert defaults["storage"]["full_warning_percent"] == 90
    assert defaults["storage"]["raid_profile"] == "raid10"
    assert defaults["quota"]["user_limit"] == "1TB"
    assert defaults["quota"]["grace"] == "7d"
    assert defaults["paths"]["storage"] == "/mnt/storage"


def test_empty_file_gives_every_default(tmp_path):
    loaded = config.load(write(tmp_path, ""))
    assert loaded.effective == schema.defaults()


def test_values_override_defaults_and_units_are_parsed(tmp_path):
    loaded = config.load(write(tmp_path, """
        [backup]
        bandwidth = "50Mbit/s"
        [quota]
        user_limit = "2TiB"
        grace = "3d"
    """))
    assert loaded.effective["backup"]["bandwidth"] == "50Mbit/s"
    assert loaded.effective["backup"]["keep_weekly"] == 52
    assert loaded["backup"]["bandwidth"] == 6_250_000
    assert loaded["quota"]["user_limit"] == 2 * 2**40
    assert loaded["quota"]["grace"] == 3 * 86400
    assert loaded["snapshot"]["min_free"] == 100 * 2**30


def test_zero_is_a_valid_size_and_duration(tmp_path):
    # jsonschema takes a format checker's falsy result for a failure: 0 must still pass
    loaded = config.load(write(tmp_path, """
        [snapshot]
        min_free = "0"
        min_age = "0s"
    """))
    assert loaded["snapshot"]["min_free"] == 0 and loaded["snapshot"]["min_age"] == 0


def test_all_problems_reported_at_once_with_file_table_key_and_value(tmp_path):
    path = write(tmp_path, """
        [paths]
        storage = "relative/path"
        [backup]
        keep_daily = -1
        bandwidth = "fast"
        [snapshot]
        keep_hourly = "24"
        [storage]
        raid_profile = "raid5"
    """)
    problems = problems_of(path)
    assert len(problems) == 5
    assert f'{path}: [paths] storage: expected an absolute path (got "relative/path")' in problems
    assert f"{path}: [backup] keep_daily: must be at least 0 (got -1)" in problems
    assert f'{path}: [snapshot] keep_hourly: expected a whole number (got "24")' in problems
    assert any(p.startswith(f"{path}: [backup] bandwidth: expected a rate such as") and
               p.endswith('(got "fast")') for p in problems)
    assert any(p.startswith(f"{path}: [storage] raid_profile: must be one of") and "raid5" in p
               for p in problems)


def test_range_is_checked(tmp_path):
    problems = problems_of(write(tmp_path, "[gpu]\ntemperature_warning = 500\n"))
    assert problems == [f"{tmp_path}/trainserver.toml: [gpu] temperature_warning: must be at most 120 (got 500)"]


def test_unknown_key_suggests_close_match(tmp_path):
    path = write(tmp_path, '[backup]\nbandwith = "100Mbit/s"\n')
    assert problems_of(path) == [f'{path}: [backup] bandwith: unknown key; did you mean "bandwidth"?']


def test_unknown_table_suggests_close_match(tmp_path):
    path = write(tmp_path, "[snapshots]\nkeep_hourly = 1\n")
    assert problems_of(path) == [f'{path}: [snapshots]: unknown table; did you mean "snapshot"?']


def test_unknown_key_without_close_match_lists_known_keys(tmp_path):
    path = write(tmp_path, "[gpu]\nzzz = 1\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: [gpu] zzz: unknown key; known: temperature_warning")


def test_table_given_as_value_is_a_type_error(tmp_path):
    path = write(tmp_path, "gpu = 3\n")
    assert problems_of(path) == [f"{path}: [gpu]: expected a table (got 3)"]


def test_malformed_toml_names_line_and_column(tmp_path):
    path = write(tmp_path, '[paths]\nstorage = "/mnt/storage"\nlock_dir = \n')
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: not valid TOML: ")
    assert "line 3, column" in problem


def test_missing_file_names_path_and_how_to_create_it(tmp_path):
    path = str(tmp_path / "absent.toml")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: no such file")
    assert f"ts-config default > {path}" in problem


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[alert]\ntelegram_chat_id = "caf\xe9"\n')
    (problem,) = problems_of(str(path))
    assert "not UTF-8" in problem


def test_unit_errors_say_what_was_expected(tmp_path):
    path = write(tmp_path, '[snapshot]\nmin_free = "100G"\n[quota]\ngrace = "1 month"\n')
    problems = problems_of(path)
    assert any("[snapshot] min_free: expected a size" in p and "GiB" in p and '(got "100G")' in p
               for p in problems)
    assert any("[quota] grace: unknown unit \"month\"" in p for p in problems)


def test_list_items_are_checked(tmp_path):
    path = write(tmp_path, '[storage]\nbacking_devices = ["/dev/sda", "/dev/disk/by-id/ata-X"]\n')
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: [storage] backing_devices.[0]:")
    assert '(got "/dev/sda")' in problem


def test_cross_key_checks_run_after_schema(tmp_path):
    def no_empty_retention(effective):
        snap = effective["snapshot"]
        if not (snap["keep_hourly"] or snap["keep_daily"] or snap["keep_weekly"]):
            return ["[snapshot]: every keep_* is 0: nothing would be kept"]
        return []

    path = write(tmp_path, "[snapshot]\nkeep_hourly = 0\nkeep_daily = 0\nkeep_weekly = 0\n")
    with pytest.raises(config.ConfigError) as caught:
        config.load(path, checks=[no_empty_retention])
    assert caught.value.problems == [f"{path}: [snapshot]: every keep_* is 0: nothing would be kept"]


def test_shipped_default_config_is_the_generated_one_and_valid():
    shipped = os.path.join(ROOT, "etc", "trainserver", "trainserver.toml")
    with open(shipped, encoding="utf-8") as handle:
        text = handle.read()
    assert text == toml_text.default_text(), "run: ts-config default > etc/trainserver/trainserver.toml"
    assert config.load(shipped).effective == schema.defaults()


def test_default_text_documents_every_key_with_unit_and_default():
    text = toml_text.default_text()
    for table, key, key_schema in schema.walk_keys():
        line = f"#{key} = {toml_text.value(key_schema['default'])}"
        if "x-example" in key_schema:
            line = "# For example:"
        assert line in text, line
        block = text.split(line)[0].rsplit("\n\n", 1)[1]
        assert "Unit: " in block and "Default: " in block, (table, key)


def test_uncommenting_every_default_still_validates(tmp_path):
    text = "\n".join(
        line[1:] if line.startswith("#") and not line.startswith("# ") and line != "#" else line
        for line in toml_text.default_text().splitlines()
    )
    loaded = config.load(write(tmp_path, text))
    expected = schema.defaults()
    # The one example the file shows is a person; uncommented, it is a person.
    expected["users"]["people"] = [{"name": "alice", "uid": 1000, "sudo": True,
                                    "ssh_keys": ["ssh-ed25519 AAAAC3... alice@laptop"]}]
    assert loaded.effective == expected


def test_moved_storage_users_names_where_it_went(tmp_path):
    with pytest.raises(config.ConfigError) as raised:
        config.load(write(tmp_path, '[storage]\nusers = ["alice"]\n'))
    (line,) = raised.value.problems
    assert "[storage] users: moved to [users] people" in line
    assert "[[users.people]]" in line


def test_people_names_and_uids_appear_once(tmp_path):
    text = ('[[users.people]]\nname = "alice"\nuid = 1000\n'
            '[[users.people]]\nname = "alice"\nuid = 1000\n'
            '[[users.people]]\nname = "mlusers"\nuid = 1002\n')
    with pytest.raises(config.ConfigError) as raised:
        config.load(write(tmp_path, text))
    problems = "\n".join(raised.value.problems)
    assert "people.[1] name: 'alice' is already person [0]" in problems
    assert "people.[1] uid: 1000 is already person [0]" in problems
    assert "people.[2] name: must differ from [users] group" in problems


def test_person_without_uid_is_refused(tmp_path):
    with pytest.raises(config.ConfigError) as raised:
        config.load(write(tmp_path, '[[users.people]]\nname = "alice"\n'))
    assert "uid" in "\n".join(raised.value.problems)


def test_masked_hides_secret_values_only():
    effective = schema.defaults()
    effective["backup"]["healthcheck_url"] = "https://hc-ping.com/0f3b-uuid"
    shown = toml_text.masked(effective)
    assert shown["backup"]["healthcheck_url"] == "********"
    assert shown["backup"]["bandwidth"] == "100Mbit/s"
    assert effective["backup"]["healthcheck_url"] == "https://hc-ping.com/0f3b-uuid"


def test_effective_text_round_trips_through_toml():
    import tomllib

    effective = schema.defaults()
    effective["alert"]["telegram_chat_id"] = 'quote " and backslash \\ and é'
    effective["storage"]["backing_devices"] = ["/dev/disk/by-id/ata-A", "/dev/disk/by-id/ata-B"]
    effective["users"]["people"] = [{"name": "alice", "uid": 1000, "sudo": True,
                                     "ssh_keys": ["ssh-ed25519 AAAA alice@laptop"]},
                                    {"name": "bob", "uid": 1001}]
    assert tomllib.loads(toml_text.effective_text(effective)) == effective



def test_load_tables_reads_its_tables_while_another_is_invalid(tmp_path):
    from trainserver.core.config import load_tables

    path = tmp_path / "c.toml"
    path.write_text('[alert]\ntelegram_chat_id = "-100"\n[backup]\nkeep_daily = "seven"\n')
    config, problems = load_tables(path, ("paths", "alert"))
    assert config["alert"]["telegram_chat_id"] == "-100"
    assert config["paths"]["state_dir"] == "/var/lib/trainserver"
    assert len(problems) == 1 and "[backup] keep_daily" in problems[0]


def test_load_tables_reads_its_tables_while_another_section_is_not_toml(tmp_path):
    from trainserver.core.config import load_tables

    path = tmp_path / "c.toml"
    path.write_text('[paths]\nstate_dir = "/srv/state"\n\n[backup]\nkeep_daily = 7 7\n\n'
                    '[alert]  # the chat\ntelegram_chat_id = "-100"\n')
    config, problems = load_tables(path, ("paths", "alert"))
    assert config["paths"]["state_dir"] == "/srv/state"
    assert config["alert"]["telegram_chat_id"] == "-100"
    assert "not valid TOML" in problems[0]


def test_load_tables_raises_for_a_problem_in_its_own_tables(tmp_path):
    from trainserver.core.config import load_tables

    path = tmp_path / "c.toml"
    path.write_text('[alert]\nrepeat_after = "often"\n')
    with pytest.raises(config.ConfigError) as info:
        load_tables(path, ("paths", "alert"))
    assert "[alert] repeat_after" in info.value.problems[0]
    path.write_text('[alert]\ntelegram_chat_id = \n')
    with pytest.raises(config.ConfigError):
        load_tables(path, ("paths", "alert"))
