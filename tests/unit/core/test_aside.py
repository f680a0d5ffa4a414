"""trainserver.core.aside: the one way both restores keep what they replace."""

import datetime as dt
import os

import pytest

from trainserver.core import aside
from trainserver.core.errors import ActionError

MOMENT = dt.datetime(2026, 11, 28, 17, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def test_the_stamp_is_utc_to_the_second_from_a_datetime_or_unix_seconds():
    assert aside.stamp(MOMENT) == "20261128T160005Z"
    assert aside.stamp(MOMENT.timestamp()) == "20261128T160005Z"
    assert aside.stamp(1795852800) == "20261128T080000Z"


def test_the_stamp_refuses_a_naive_time():
    with pytest.raises(ValueError):
        aside.stamp(dt.datetime(2026, 11, 28, 16, 0))


def test_the_aside_name_is_dest_replaced_utc_time():
    assert aside.aside_name("/s/homes/alice/train.py", MOMENT, taken=lambda _: False) == \
        "/s/homes/alice/train.py.replaced-20261128T160005Z"
    assert aside.aside_name("/s/homes/alice/", MOMENT, taken=lambda _: False) == \
        "/s/homes/alice.replaced-20261128T160005Z"


def test_a_taken_name_gets_a_suffix_that_keeps_it_unique():
    base = "/s/x.replaced-20261128T160005Z"
    used = {base, base + "-2"}
    assert aside.aside_name("/s/x", MOMENT, taken=used.__contains__) == base + "-3"


def test_the_refusal_names_both_ways_out():
    message = str(aside.refusal("/s/homes/alice/train.py"))
    assert "/s/homes/alice/train.py exists: not overwritten" in message
    assert "--to" in message and "--overwrite" in message
    assert "/s/homes/alice/train.py.replaced-<UTC time>" in message


def test_the_new_copy_takes_the_place_and_the_old_one_is_kept(tmp_path):
    destination, new = tmp_path / "train.py", tmp_path / ".new"
    destination.write_text("edited\n")
    new.write_text("restored\n")
    kept = aside.aside_name(str(destination), MOMENT)
    assert aside.put_in_place(str(new), str(destination), kept) == kept
    assert destination.read_text() == "restored\n"
    assert open(kept).read() == "edited\n"
    assert sorted(os.listdir(tmp_path)) == ["train.py", "train.py.replaced-20261128T160005Z"]


def test_the_old_one_is_put_back_when_the_new_copy_cannot_take_its_place(tmp_path):
    destination = tmp_path / "train.py"
    destination.write_text("edited\n")
    kept = aside.aside_name(str(destination), MOMENT)
    with pytest.raises(FileNotFoundError):
        aside.put_in_place(str(tmp_path / "gone"), str(destination), kept)
    assert destination.read_text() == "edited\n"
    assert os.listdir(tmp_path) == ["train.py"]


def test_an_aside_name_taken_since_it_was_chosen_is_never_replaced(tmp_path):
    destination, new = tmp_path / "train.py", tmp_path / ".new"
    destination.write_text("edited\n")
    new.write_text("restored\n")
    kept = tmp_path / "train.py.replaced-x"
    kept.write_text("an older copy\n")
    with pytest.raises(ActionError, match="exists already"):
        aside.put_in_place(str(new), str(destination), str(kept))
    assert destination.read_text() == "edited\n" and kept.read_text() == "an older copy\n"


def test_without_an_aside_name_an_existing_destination_is_refused(tmp_path):
    destination, new = tmp_path / "train.py", tmp_path / ".new"
    new.write_text("restored\n")
    assert aside.put_in_place(str(new), str(destination)) is None
    assert destination.read_text() == "restored\n"
    new.write_text("again\n")
    with pytest.raises(ActionError, match="not overwritten"):
        aside.put_in_place(str(new), str(destination))
    assert destination.read_text() == "restored\n"
