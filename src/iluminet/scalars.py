"""Typed conversion of single table cells (pandas/numpy scalars) to Python values.

A cell read from a ``DataFrame`` row is typed by pandas as the union of every scalar pandas can
hold; these helpers state which one the caller expects and fail loudly on anything else, instead of
letting ``int()`` or ``+`` silently accept a date or a string.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import pandas as pd

__all__ = ["as_float", "as_int", "as_str", "as_timestamp"]

_NUMBER = (int, float, np.integer, np.floating, np.bool_)


def as_float(value: object) -> float:
    """``value`` (a Python or numpy number, or a numeric string) as a float; NaN passes through."""
    if isinstance(value, (*_NUMBER, str)):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__} {value!r}")


def as_int(value: object) -> int:
    """``value`` (an integral Python or numpy number, or an integer string) as an int.

    Raises
    ------
    TypeError
        If ``value`` is not a number or is a float with a fractional part (or NaN).
    """
    if isinstance(value, str):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not float(value).is_integer():
            raise TypeError(f"expected an integer, got {value!r}")
        return int(value)
    if isinstance(value, _NUMBER):
        return int(value)
    raise TypeError(f"expected an integer, got {type(value).__name__} {value!r}")


def as_str(value: object) -> str:
    """``value`` as text; a missing cell (None/NaN) becomes the empty string."""
    if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return ""
    return str(value)


def as_timestamp(value: object) -> pd.Timestamp:
    """``value`` (a date, datetime, ``Timestamp``, ``datetime64`` or ISO string) as a Timestamp.

    Raises
    ------
    TypeError
        If ``value`` is none of those, or is missing (NaT/None), since a date that is not there
        cannot be computed with.
    """
    if isinstance(value, (pd.Timestamp, _dt.date, np.datetime64, str)):
        stamp = pd.Timestamp(value)
        if not pd.isna(stamp):
            return stamp
    raise TypeError(f"expected a date, got {type(value).__name__} {value!r}")
