import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, strategies as st

from trainserver.snapshot import naming

UTC = dt.timezone.utc


def test_names_are_utc_basic_format_without_colons():
    moment = dt.datetime(2026, 3, 29, 3, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert naming.name_for(moment) == "20260329T013000Z"


def test_the_two_local_02_30_of_a_night_when_clocks_go_back_get_two_names():
    zone = ZoneInfo("Europe/Berlin")
    first = dt.datetime(2026, 10, 25, 2, 30, tzinfo=zone, fold=0)
    second = dt.datetime(2026, 10, 25, 2, 30, tzinfo=zone, fold=1)
    assert naming.name_for(first) == "20261025T003000Z"
    assert naming.name_for(second) == "20261025T013000Z"


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        naming.name_for(dt.datetime(2026, 1, 1))


@pytest.mark.parametrize("name", [
    "20261128T160000", "2026-11-28T16:00:00Z", "20261128T160000Z.tmp", "x20261128T160000Z",
    "20261399T160000Z", "20261128T250000Z", "", "snapshot", "20261128T160000z",
])
def test_names_outside_the_scheme_are_not_ours(name):
    assert naming.parse_name(name) is None


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2200, 1, 1),
                    timezones=st.just(UTC)))
def test_name_round_trips_and_sorts_as_time(moment):
    moment = moment.replace(microsecond=0)
    assert naming.parse_name(naming.name_for(moment)) == moment


@given(st.text(max_size=24))
def test_only_the_exact_scheme_is_accepted(text):
    moment = naming.parse_name(text)
    if moment is not None:  # one name per instant: a look-alike never parses
        assert naming.name_for(moment) == text


@given(st.lists(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2200, 1, 1),
                             timezones=st.just(UTC)), min_size=2, max_size=20))
def test_name_order_is_time_order(moments):
    moments = [m.replace(microsecond=0) for m in moments]
    assert sorted(moments) == sorted(moments, key=naming.name_for)
