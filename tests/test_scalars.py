"""Typed cell conversion: the accepted scalar kinds convert, everything else is refused."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iluminet.scalars import as_float, as_int, as_str, as_timestamp


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_as_int_roundtrips_python_numpy_and_integral_float(value: int) -> None:
    assert as_int(value) == value
    assert as_int(np.int64(value)) == value
    assert as_int(float(value)) == value
    assert as_int(str(value)) == value


@pytest.mark.parametrize("bad", [2.5, float("nan"), dt.date(2020, 1, 1), None, [1]])
def test_as_int_refuses_fractions_dates_and_missing(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        as_int(bad)


def test_as_float_accepts_numbers_and_refuses_dates() -> None:
    assert as_float(np.float32(1.5)) == 1.5
    assert as_float("2.25") == 2.25
    assert np.isnan(as_float(np.nan))
    with pytest.raises(TypeError, match="expected a number"):
        as_float(pd.Timestamp("2020-01-01"))


def test_as_str_maps_missing_to_empty() -> None:
    assert as_str(None) == "" and as_str(np.nan) == "" and as_str("a; b") == "a; b"
    assert as_str(3) == "3"


def test_as_timestamp_accepts_date_kinds_and_refuses_missing() -> None:
    expected = pd.Timestamp("2021-03-28")
    for value in (expected, dt.date(2021, 3, 28), np.datetime64("2021-03-28"), "2021-03-28"):
        assert as_timestamp(value) == expected
    for bad in (pd.NaT, None, 5, 1.0):
        with pytest.raises(TypeError, match="expected a date"):
            as_timestamp(bad)
