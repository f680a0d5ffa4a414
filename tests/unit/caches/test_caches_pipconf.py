"""/etc/pip.conf: one marked block is ts-caches', every other line the admin's."""

import configparser

import pytest

from trainserver.caches import pipconf
from trainserver.caches.spec import BLOCK_BEGIN, BLOCK_END

DIR = "/mnt/storage/cache/pip"
ADMIN = """# site-wide pip settings, by the admin
[global]
timeout = 60
index-url = https://pypi.example/simple

[install]
no-warn-script-location = true
"""


def pip_reads(text):
    """What pip's own parser (a strict RawConfigParser) makes of it."""
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return parser


def test_a_new_file_gets_a_block_with_its_own_global_section():
    text, note = pipconf.merge("", DIR)
    assert note is None
    assert text == f"{BLOCK_BEGIN}\n[global]\ncache-dir = {DIR}\n{BLOCK_END}\n"
    assert pip_reads(text).get("global", "cache-dir") == DIR


def test_the_block_goes_into_the_admins_global_and_every_admin_line_stays():
    text, _ = pipconf.merge(ADMIN, DIR)
    lines = text.splitlines()
    assert [line for line in lines if line not in (BLOCK_BEGIN, BLOCK_END)
            and not line.startswith("cache-dir")] == ADMIN.splitlines()
    assert lines.index(BLOCK_BEGIN) == lines.index("[global]") + 1
    parsed = pip_reads(text)
    assert parsed.get("global", "cache-dir") == DIR
    assert parsed.get("global", "timeout") == "60"
    assert parsed.get("install", "no-warn-script-location") == "true"


def test_merge_is_idempotent_and_removal_gives_back_the_admins_file():
    once, _ = pipconf.merge(ADMIN, DIR)
    assert pipconf.merge(once, DIR)[0] == once
    assert pipconf.merge(once, None)[0] == ADMIN
    moved, _ = pipconf.merge(once, "/srv/cache/pip")
    assert "cache-dir = /srv/cache/pip" in moved and DIR not in moved
    assert pipconf.merge(pipconf.merge("", DIR)[0], None)[0] == ""


def test_a_file_without_global_gets_the_block_at_the_end():
    admin = "[install]\nno-compile = true"
    text, _ = pipconf.merge(admin, DIR)
    assert text.startswith("[install]\nno-compile = true\n\n" + BLOCK_BEGIN)
    parsed = pip_reads(text)
    assert parsed.get("install", "no-compile") == "true"
    assert parsed.get("global", "cache-dir") == DIR


def test_a_global_the_admin_adds_later_takes_the_block_in():
    ours, _ = pipconf.merge("", DIR)
    edited = ours + "\n[global]\ntimeout = 5\n"
    with pytest.raises(configparser.DuplicateSectionError):
        pip_reads(edited)  # as pip would refuse it
    text, _ = pipconf.merge(edited, DIR)
    assert pip_reads(text).get("global", "cache-dir") == DIR
    assert text.count("[global]") == 1


@pytest.mark.parametrize("line", ["cache-dir = /var/cache/pip", "cache_dir=/x",
                                  "no-cache-dir = true", "  Cache-Dir : /y"])
def test_the_admins_own_cache_setting_wins(line):
    admin = f"[global]\n{line}\n"
    text, note = pipconf.merge(admin, DIR)
    assert text == admin
    assert note and "kept" in note
    ours, _ = pipconf.merge("[global]\n", DIR)
    assert pipconf.merge(ours + line + "\n", DIR)[0] == "[global]\n" + line + "\n"


@pytest.mark.parametrize("text", [f"{BLOCK_BEGIN}\ncache-dir = /x\n",
                                  f"{BLOCK_END}\n{BLOCK_BEGIN}\n",
                                  f"{BLOCK_BEGIN}\n{BLOCK_END}\n{BLOCK_BEGIN}\n{BLOCK_END}\n"])
def test_a_broken_block_is_refused(text):
    with pytest.raises(pipconf.PipConfError):
        pipconf.merge(text, DIR)
