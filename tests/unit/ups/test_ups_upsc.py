"""upsc's output and errors, as recorded from the real upsc against NUT's dummy-ups
(tests/fixtures/ups/record.py)."""

import os

import pytest

from trainserver.ups import upsc

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "fixtures", "ups")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


def test_parse_reads_every_line_of_a_recorded_dump():
    variables = upsc.parse(fixture("apc-back-ups.upsc"))
    assert variables["battery.charge"] == "100"
    assert variables["ups.status"] == "OL CHRG"
    assert variables["ups.test.result"] == "No test initiated"
    # Values with spaces and dots are kept whole.
    assert variables["ups.firmware"] == "871.O4 .I"
    assert variables["device.model"] == "Back-UPS ES 700G"
    assert len(variables) == len(fixture("apc-back-ups.upsc").splitlines())


@pytest.mark.parametrize("name", sorted(n[:-4] for n in os.listdir(FIXTURES)
                                        if n.endswith(".dev")))
def test_every_variable_of_the_dev_file_comes_back_through_upsc(name):
    served = upsc.parse(fixture(f"{name}.upsc"))
    written = upsc.parse(fixture(f"{name}.dev"))
    assert written and written.items() <= served.items()
    assert served["driver.name"] == "dummy-ups"


def test_parse_skips_what_is_not_a_variable_and_keeps_an_empty_value():
    text = "Init SSL without certificate database\nups.status: OL\nups.alarm: \n\n"
    assert upsc.parse(text) == {"ups.status": "OL", "ups.alarm": ""}


@pytest.mark.parametrize("case,words,meaning", [
    ("error-data-stale", "Data stale", "lost contact with the UPS"),
    ("error-driver-not-connected", "Driver not connected", "nut-driver.target"),
    ("error-unknown-ups", "Unknown UPS", "upsc -l"),
    ("error-connection-refused", "Connection failure: Connection refused", "nut-server"),
])
def test_errors_in_nuts_own_words(case, words, meaning):
    text = upsc.error_text(fixture(f"{case}.stderr"))
    assert text == words
    assert meaning in upsc.meaning(text)


def test_an_error_nut_has_no_meaning_for_is_still_named():
    assert upsc.error_text("something odd\n") == "something odd"
    assert upsc.meaning("Something odd") == ""
    assert upsc.error_text("") == ""


def test_argv_and_host():
    assert upsc.argv("ups@localhost") == ["upsc", "ups@localhost"]
    assert upsc.host_of("ups@10.0.0.5:3493") == "10.0.0.5:3493"
    assert upsc.host_of("ups") == "localhost"
