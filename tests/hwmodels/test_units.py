"""Unit parsing and formatting against hand-computed SI values."""

import math

import pytest
from hypothesis import given, strategies as st

from hwmodels import units
from hwmodels.errors import SpecError


@pytest.mark.parametrize(
    ("text", "dimension", "expected"),
    [
        ("10Gbps", "rate", 10e9 / 8),
        ("1.25GB/s", "rate", 1.25e9),
        ("900MiB/s", "rate", 900 * 2**20),
        ("100 Mbps", "rate", 12.5e6),
        ("64MiB", "size", 64 * 2**20),
        ("64MB", "size", 64e6),
        ("1KiB", "size", 1024),
        ("1kB", "size", 1000),
        ("800Mb", "size", 100e6),
        ("1KiB", "bits", 8192),
        ("5us", "time", 5e-6),
        ("5\u00b5s", "time", 5e-6),
        ("1.5ms", "time", 1.5e-3),
        ("2min", "time", 120),
        ("0.2W", "power", 0.2),
        ("500mW", "power", 0.5),
        ("20dBm", "power", 0.1),
        ("-3dBW", "power", 10 ** -0.3),
        ("312TFLOPS", "flops", 312e12),
        ("19.5 TFLOP/s", "flops", 19.5e12),
        ("624TOPS", "flops", 624e12),
        ("2.4GHz", "frequency", 2.4e9),
        ("125kHz", "frequency", 125e3),
        ("5pJ/bit", "energy_per_bit", 5e-12),
        ("1.5mJ", "energy", 1.5e-3),
        ("1Wh", "energy", 3600),
        ("7dB", "dB", 7.0),
        ("3dB", "ratio", 10**0.3),
        ("1e3", "size", 1000.0),
        (42, "time", 42.0),
    ],
)
def test_parse_hand_values(text, dimension, expected):
    assert units.parse(text, dimension) == pytest.approx(expected, rel=1e-15)


def test_decimal_and_binary_prefixes_are_exact():
    assert units.parse("1MB", "size") == 1_000_000
    assert units.parse("1MiB", "size") == 1_048_576
    assert units.parse("1GiB", "size") == 2**30
    assert units.parse("5us", "time") == 5e-6  # exact, not 4.9999e-06


@pytest.mark.parametrize(("dbm", "watts"), [(0, 1e-3), (30, 1.0), (20, 0.1), (-30, 1e-6), (23, 0.19952623149688797)])
def test_dbm_watts(dbm, watts):
    assert units.dbm_to_watts(dbm) == pytest.approx(watts, rel=1e-12)
    assert units.watts_to_dbm(watts) == pytest.approx(dbm, abs=1e-12)


def test_db_linear():
    assert units.db_to_linear(10) == pytest.approx(10)
    assert units.db_to_linear(3) == pytest.approx(1.9952623, rel=1e-7)
    assert units.linear_to_db(100) == pytest.approx(20)
    assert units.linear_to_db(0) == -math.inf
    assert units.watts_to_dbm(0) == -math.inf


def test_unknown_unit_lists_accepted_ones():
    with pytest.raises(SpecError) as err:
        units.parse("10Gbs", "rate")
    message = str(err.value)
    assert "'Gbs'" in message and "Gbps" in message and "GB/s" in message


def test_unit_of_another_dimension_is_rejected():
    with pytest.raises(SpecError, match="unknown time unit"):
        units.parse("10Gbps", "time")


@pytest.mark.parametrize("bad", ["", "fast", "Gbps10", True, None, [1]])
def test_malformed_quantities(bad):
    with pytest.raises(SpecError):
        units.parse(bad, "rate")


@pytest.mark.parametrize(
    ("value", "dimension", "text"),
    [
        (1.25e9, "rate", "10 Gbps"),
        (64 * 2**20, "size", "64 MiB"),
        (100e6, "size", "100 MB"),
        (5e-6, "time", "5 us"),
        (0.1, "power", "100 mW"),
        (312e12, "flops", "312 TFLOPS"),
        (2.4e9, "frequency", "2.4 GHz"),
        (0.0, "time", "0 s"),
    ],
)
def test_format_hand_values(value, dimension, text):
    assert units.fmt(value, dimension) == text


_FORMATTED = [d for d in units.DIMENSIONS if d not in ("ratio",)]


@given(
    st.sampled_from(_FORMATTED),
    st.floats(min_value=1e-14, max_value=1e16, allow_nan=False, allow_infinity=False),
)
def test_format_parse_round_trip(dimension, value):
    text = units.fmt(value, dimension, digits=12)
    assert units.parse(text.replace(" ", ""), dimension) == pytest.approx(value, rel=1e-11)
    assert units.parse(text, dimension) == pytest.approx(value, rel=1e-11)


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["KiB", "MiB", "GiB", "kB", "MB", "GB", "B"]))
def test_size_strings_round_trip_exactly(number, unit):
    text = f"{number} {unit}"
    value = units.parse(text, "size")
    assert units.parse(units.fmt(value, "size", digits=15), "size") == value


@given(st.floats(min_value=-150, max_value=60, allow_nan=False))
def test_dbm_round_trip(dbm):
    assert units.watts_to_dbm(units.parse(f"{dbm!r}dBm", "power")) == pytest.approx(dbm, abs=1e-9)
