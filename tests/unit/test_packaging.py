"""The package's files agree with each other: version, tools, man pages, autopkgtest."""

import os
import re
import subprocess

import pytest

from trainserver import __version__, manpage

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = manpage.console_scripts(os.path.join(ROOT, "setup.cfg"))


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as handle:
        return handle.read()


def test_version_matches_debian_changelog():
    first = read("debian", "changelog").splitlines()[0]
    assert re.match(rf"trainserver \({re.escape(__version__)}\) ", first), first


def test_every_script_is_a_ts_tool_with_a_click_cli():
    assert SCRIPTS, "setup.cfg lists no console_scripts"
    for name, target in SCRIPTS:
        assert name.startswith("ts-"), name
        assert target.endswith(":main"), target
        manpage.load_command(target)


@pytest.mark.parametrize("name,target", SCRIPTS)
def test_man_page_renders_cleanly(name, target, tmp_path):
    page = tmp_path / f"{name}.1"
    page.write_text(manpage.render(name, manpage.load_command(target), "2026-01-01"))
    text = page.read_text()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "SEE ALSO"):
        assert f".SH {section}" in text, section
    assert "Traceback" not in text
    # man's own checker: groff warnings (bad escapes, unknown requests) fail the page.
    result = subprocess.run(["man", "--warnings", "-l", "-Tutf8", str(page)],
                            capture_output=True, text=True, env={**os.environ, "MANWIDTH": "80"})
    assert result.returncode == 0
    assert result.stderr == "", result.stderr
    assert name in result.stdout


def test_roff_escaping():
    assert manpage.escape(".starts with a dot\n'and a quote") == "\\&.starts with a dot\n\\&'and a quote"
    assert manpage.escape("a-b \\ c") == "a\\-b \\e c"


def test_autopkgtest_uses_debian_tests_directory():
    control = read("debian", "tests", "control")
    stanzas = [s for s in control.split("\n\n") if "Tests:" in s]
    assert stanzas
    for stanza in stanzas:
        assert "Tests-Directory: debian-tests" in stanza
        for test in re.search(r"^Tests: (.*)$", stanza, re.M).group(1).split():
            path = os.path.join(ROOT, "debian-tests", test)
            assert os.access(path, os.X_OK), path


def test_overview_page_covers_the_suite():
    page = read("man", "trainserver.7")
    for section in ("CONFIGURATION", "SECRETS", "TIMERS", "LOGS", "FILES"):
        assert f".SH {section}" in page
    for name, _ in SCRIPTS:
        assert name.replace("-", "\\-") in page, f"{name} missing from trainserver(7)"
