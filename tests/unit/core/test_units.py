"""trainserver.core.units: sizes, rates and durations as people write them."""

import pytest

from trainserver.core import units
from trainserver.core.units import UnitError, format_size, parse_duration, parse_rate, parse_size


# --- sizes -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("1TB", 10**12),
    ("1TiB", 2**40),
    ("100GiB", 100 * 2**30),
    ("512 MiB", 512 * 2**20),
    ("4096", 4096),
    ("1.5GB", 1_500_000_000),
    ("1kB", 1000),
    ("1KiB", 1024),
    ("1PB", 10**15),
    ("1PiB", 2**50),
    ("0", 0),
    ("  2GB  ", 2 * 10**9),
])
def test_parse_size_decimal_and_binary(text, expected):
    result = parse_size(text)
    assert result == expected
    assert isinstance(result, int)


def test_parse_size_decimal_and_binary_differ():
    assert parse_size("1TiB") - parse_size("1TB") == 2**40 - 10**12
    assert parse_size("1GB") != parse_size("1GiB")


def test_parse_size_unit_letters_are_case_insensitive():
    assert parse_size("1tb") == parse_size("1TB") == 10**12
    assert parse_size("1gib") == 2**30


def test_parse_size_accepts_int():
    assert parse_size(4096) == 4096
    assert parse_size(0) == 0


@pytest.mark.parametrize("text", ["100G", "1TX", "", "   ", "-1GB", "1,5GB", "1e3", "GB", "1 T B"])
def test_parse_size_refuses_ambiguous_or_malformed(text):
    with pytest.raises(UnitError) as info:
        parse_size(text)
    assert '"1TB"' in str(info.value) and '"100GiB"' in str(info.value)


@pytest.mark.parametrize("value", [None, True, False, -1, 1.5, [1]])
def test_parse_size_refuses_non_sizes(value):
    with pytest.raises(UnitError, match='"1TB"'):
        parse_size(value)


def test_unit_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_size("100G")


@pytest.mark.parametrize("text, expected", [
    ("4.1TB", 4_100_000_000_000),
    ("4.35TB", 4_350_000_000_000),
    ("9007199254740993", 9_007_199_254_740_993),
])
def test_parse_size_is_exact_for_decimal_fractions_and_large_byte_counts(text, expected):
    # The docstring promises bytes as an int; float arithmetic gives 4099999999999.9995 for
    # "4.1TB" and loses the last byte of counts above 2**53.
    result = parse_size(text)
    assert result == expected
    assert isinstance(result, int)


@pytest.mark.parametrize("text, expected", [("1.1GiB", 1_181_116_006), ("0.5B", 0), ("1.9B", 1)])
def test_parse_size_rounds_fractional_bytes_down(text, expected):
    # 1.1 x 2**30 = 1181116006.4: a size in bytes is a whole number, rounded down.
    result = parse_size(text)
    assert result == expected
    assert isinstance(result, int)


# --- rates -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("100Mbit/s", 12_500_000),
    ("100Mbps", 12_500_000),
    ("100Mb/s", 12_500_000),
    ("12MB/s", 12_000_000),
    ("12MiB/s", 12 * 2**20),
    ("1Gb/s", 125_000_000),
    ("1Gbit/s", 125_000_000),
    ("1 Mbit/s", 125_000),
    ("1KiB/s", 1024),
    ("8bit/s", 1),
])
def test_parse_rate(text, expected):
    assert parse_rate(text) == expected


def test_parse_rate_bits_versus_bytes():
    assert parse_rate("1MB/s") == 8 * parse_rate("1Mbit/s")


def test_restic_limit_in_kib_per_second():
    # restic's --limit-upload takes KiB/s.
    assert parse_rate("100Mbit/s") // 1024 == 12207


@pytest.mark.parametrize("text", ["100M", "fast", "", "100MB", "100Mbit", "/s", "100Mbit/h"])
def test_parse_rate_refuses(text):
    with pytest.raises(UnitError) as info:
        parse_rate(text)
    assert '"100Mbit/s"' in str(info.value)


@pytest.mark.parametrize("value", [None, 100, 12.5])
def test_parse_rate_refuses_non_strings(value):
    with pytest.raises(UnitError, match="100Mbit/s"):
        parse_rate(value)


# --- durations ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("30d", 30 * 86400),
    ("15min", 900),
    ("90s", 90),
    ("1h 30min", 5400),
    ("1h30min", 5400),
    ("2w", 2 * 604800),
    ("6h", 6 * 3600),
    ("5m", 300),
    ("2 hours", 7200),
    ("1day", 86400),
    ("1.5h", 5400),
    ("  6h  ", 21600),
])
def test_parse_duration(text, expected):
    result = parse_duration(text)
    assert result == expected
    assert isinstance(result, int)


def test_parse_duration_fractional_seconds_stay_fractional():
    assert parse_duration("1.5s") == 1.5


@pytest.mark.parametrize("text", ["7 months", "1y"])
def test_parse_duration_refuses_months_and_years_naming_the_unit(text):
    with pytest.raises(UnitError) as info:
        parse_duration(text)
    message = str(info.value)
    assert "unknown unit" in message
    assert text.split()[-1].lstrip("0123456789") in message
    assert '"30d"' in message


@pytest.mark.parametrize("text", ["", "   ", "h5", "1h x 30min", "1h x", "30", "1h,30min", "x 1h"])
def test_parse_duration_refuses_malformed(text):
    with pytest.raises(UnitError) as info:
        parse_duration(text)
    assert '"1h 30min"' in str(info.value)


@pytest.mark.parametrize("value", [None, 30, 1.5])
def test_parse_duration_refuses_non_strings(value):
    with pytest.raises(UnitError):
        parse_duration(value)


# --- formatting --------------------------------------------------------------------------------

@pytest.mark.parametrize("n_bytes, binary, expected", [
    (0, True, "0 B"),
    (1023, True, "1023 B"),
    (1024, True, "1.0 KiB"),
    (1536, True, "1.5 KiB"),
    (int(1.5 * 2**30), True, "1.5 GiB"),
    (2**40, True, "1.0 TiB"),
    (1_600_000_000, False, "1.6 GB"),
    (999, False, "999 B"),
    (1000, False, "1.0 kB"),
    (10**12, False, "1.0 TB"),
    (-2048, True, "-2.0 KiB"),
])
def test_format_size(n_bytes, binary, expected):
    assert format_size(n_bytes, binary=binary) == expected


def test_format_size_stops_at_the_largest_unit():
    assert format_size(2048 * 2**50) == "2048.0 PiB"
    assert format_size(5 * 10**18, binary=False) == "5000.0 PB"


def test_format_size_defaults_to_binary():
    assert format_size(2**30) == "1.0 GiB"


def test_format_then_parse_round_trip():
    assert parse_size(format_size(100 * 2**30).replace(" ", "")) == 100 * 2**30


def test_config_formats_map_to_the_parsers():
    assert units.PARSERS == {"size": parse_size, "rate": parse_rate, "duration": parse_duration}
