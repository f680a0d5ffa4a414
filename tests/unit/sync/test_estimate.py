"""The migration's estimate: bandwidth or Drive's daily cap, whichever binds."""

import pytest

from trainserver.sync import estimate

MBIT_100 = 12_500_000  # bytes per second
CAP = 750e9


def test_the_manuals_50_tb():
    found = estimate.estimate(50e12, MBIT_100, CAP)
    assert round(found.line_days) == 46  # 4,000,000 s at 12.5 MB/s
    assert found.whole_cap_days == 67  # 66.7 days of 750 GB
    assert found.binds == "upload cap"
    text = "\n".join(estimate.describe(found))
    assert "about 46 days" in text and "at least 67 days" in text
    verdict = estimate.manual_verdict(found)
    assert verdict.startswith('The server manual\'s "7-10 days" is wrong')
    assert "463 Mbit/s" in verdict


def test_a_slow_line_binds_before_the_cap():
    found = estimate.estimate(1e12, 1_250_000, CAP)  # 10 Mbit/s: 108 GB a day
    assert found.binds == "bandwidth"
    assert found.days == pytest.approx(9.26, abs=0.01)


def test_no_verdict_when_the_manual_would_be_right():
    assert estimate.manual_verdict(estimate.estimate(5e12, MBIT_100, CAP)) is None


def test_time_left_counts_in_seconds():
    assert estimate.time_left(750e9, MBIT_100, CAP) == pytest.approx(86400)
    assert estimate.time_left(0, MBIT_100, CAP) == 0
