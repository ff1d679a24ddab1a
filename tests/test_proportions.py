"""Confidence intervals for proportions: the paper's Wald intervals and printed strings, and the
sensitivity intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from iluminet.errors import InputError
from iluminet.trial.proportions import (
    clopper_pearson_interval,
    format_percent_ci,
    proportion_ci,
    proportion_table,
    wald_interval,
    wilson_interval,
)

# the paper's published response figures (docs/references.md, ILUMINET): counts of 90, Wald
# 95 % CI in percent (2 decimals), and the paper's printed form.
PUBLISHED = [
    (14, 8.07, 23.04, "16 % (8–23)"),   # paper prints the lower bound as 8.1 (see below)
    (59, 55.74, 75.37, "66 % (56–75)"),
    (17, 10.80, 26.98, "19 % (11–27)"),
    (2, -0.82, 5.27, "2 % (none–5)"),
    (29, 22.57, 41.88, "32 % (23–42)"),
    (55, 51.04, 71.18, "61 % (51–71)"),
    (4, 0.19, 8.70, "4 % (none–9)"),
]


@pytest.mark.parametrize(("count", "lower", "upper", "printed"), PUBLISHED)
def test_wald_reproduces_published_intervals(count, lower, upper, printed):
    lo, hi = wald_interval(count, 90)
    assert round(100 * lo, 2) == pytest.approx(lower, abs=1e-9)
    assert round(100 * hi, 2) == pytest.approx(upper, abs=1e-9)
    ci = proportion_ci(count, 90)
    assert format_percent_ci(ci.proportion, ci.lower, ci.upper) == printed


def test_wald_keeps_negative_bound_unclipped():
    lo, _ = wald_interval(2, 90)
    assert lo == pytest.approx(-0.008231519541932, rel=1e-9)


def test_paper_one_decimal_lower_bound_of_pr():
    # The paper prints "16 % (95 % CI, 8.1 to 23 %)": the 8.07 % bound with one decimal.
    ci = proportion_ci(14, 90)
    assert format_percent_ci(ci.proportion, ci.lower, ci.upper, decimals=1) == "15.6 % (8.1–23.0)"


def test_none_rule_at_the_rounding_edge():
    # 0.5 % rounds (half to even) to 0 → "none"; 0.51 % rounds to 1 → printed.
    assert format_percent_ci(0.02, 0.005, 0.04) == "2 % (none–4)"
    assert format_percent_ci(0.02, 0.0051, 0.04) == "2 % (1–4)"
    assert format_percent_ci(0.02, -0.0001, 0.04, decimals=1) == "2.0 % (none–4.0)"


def test_z_is_the_normal_quantile():
    lo, hi = wald_interval(45, 90)
    assert (hi - lo) / 2 == pytest.approx(1.959964 * math.sqrt(0.25 / 90), rel=1e-6)


def test_wilson_closed_form():
    x, n, z = 14, 90, stats.norm.ppf(0.975)
    p = x / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert wilson_interval(x, n) == pytest.approx((centre - half, centre + half), rel=1e-10)


def test_clopper_pearson_beta_quantiles_and_edges():
    x, n = 4, 90
    assert clopper_pearson_interval(x, n) == pytest.approx(
        (stats.beta.ppf(0.025, x, n - x + 1), stats.beta.ppf(0.975, x + 1, n - x)), rel=1e-8)
    assert clopper_pearson_interval(0, 10)[0] == 0.0
    assert clopper_pearson_interval(10, 10)[1] == 1.0


def test_proportion_table_columns_and_order():
    t = proportion_table({"PR": 14, "SD": 59, "PD": 17}, 90, categories=["CR", "PR", "SD", "PD"])
    assert list(t.index) == ["CR", "PR", "SD", "PD"]
    assert t.loc["CR", "count"] == 0 and t.loc["CR", "paper"] == "0 % (none–none)"
    assert t.loc["PR", "wald_lower"] == pytest.approx(8.06774, abs=1e-5)
    assert t.loc["SD", "paper"] == "66 % (56–75)"
    assert (t["n"] == 90).all()
    assert t.loc["PD", "clopper_pearson_upper"] > t.loc["PD", "wald_upper"] - 5


def test_proportion_table_rejects_unlisted_category():
    with pytest.raises(InputError, match="categories"):
        proportion_table({"PR": 1, "XX": 2}, 5, categories=["PR"])


@pytest.mark.parametrize(("count", "n"), [(-1, 10), (11, 10), (0, 0), (1.5, 10), (True, 10)])
def test_bad_counts_are_rejected(count, n):
    with pytest.raises(InputError):
        wald_interval(count, n)


def test_bad_method_and_level():
    with pytest.raises(InputError, match="method"):
        proportion_ci(1, 10, method="agresti")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="conf_level"):
        wald_interval(1, 10, conf_level=1.5)


@given(n=st.integers(1, 500), data=st.data())
def test_intervals_contain_estimate_and_nest_in_unit_interval(n, data):
    x = data.draw(st.integers(0, n))
    p = x / n
    lo, hi = wald_interval(x, n)
    assert lo <= p + 1e-12 and p - 1e-12 <= hi
    assert hi - p == pytest.approx(p - lo, abs=1e-12)  # symmetric
    for interval in (wilson_interval, clopper_pearson_interval):
        lo, hi = interval(x, n)
        assert 0.0 <= lo <= p + 1e-12 and p - 1e-12 <= hi <= 1.0


@given(n=st.integers(2, 300), data=st.data())
def test_wider_at_higher_level(n, data):
    x = data.draw(st.integers(0, n))
    for method in ("wald", "wilson", "clopper_pearson"):
        a = proportion_ci(x, n, method, 0.90)
        b = proportion_ci(x, n, method, 0.99)
        assert b.lower <= a.lower + 1e-12 and b.upper >= a.upper - 1e-12


def test_numpy_integers_accepted():
    assert wald_interval(np.int64(2), np.int64(90)) == wald_interval(2, 90)
