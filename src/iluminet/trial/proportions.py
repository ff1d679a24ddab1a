"""Confidence intervals for proportions, and their printed form as in the ILUMINET paper.

The paper (R 4.0.2) gives response rates with the **Wald** interval

    p̂ ± z·sqrt(p̂ (1 − p̂) / n),   p̂ = x / n,   z = Φ⁻¹((1 + level) / 2) = 1.959964 for 95 %,

and keeps the raw bounds: a lower bound below 0 (2/90 → −0.82 %) is printed as "none". Nothing is
clipped here (statsmodels' ``proportion_confint(method="normal")`` clips to [0, 1], which would
change the reported numbers). The Wald interval under-covers for small counts, so two better
intervals are offered as a sensitivity analysis, both from :func:`scipy.stats.binomtest`:

* **Wilson** score interval (without continuity correction);
* **Clopper–Pearson** exact interval (beta quantiles; ``proportion_ci(method="exact")``).

Printed form (:func:`format_percent_ci`): the estimate and the bounds in percent rounded to whole
numbers, ``"16 % (8–23)"``; a bound that rounds to 0 % or less is printed ``"none"``, e.g.
``"2 % (none–5)"``. The paper is not fully consistent: it prints the lower bound of the 14/90
interval (8.07 %) with one decimal ("8.1") and every other bound as a whole number; pass
``decimals=1`` to get one decimal everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Literal, NamedTuple, cast, get_args

import numpy as np
import pandas as pd
from scipy import stats

from iluminet.errors import InputError

__all__ = [
    "CIMethod",
    "ProportionCI",
    "clopper_pearson_interval",
    "format_percent",
    "format_percent_ci",
    "proportion_ci",
    "proportion_table",
    "wald_interval",
    "wilson_interval",
]

CIMethod = Literal["wald", "wilson", "clopper_pearson"]
_METHODS: tuple[str, ...] = get_args(CIMethod)


class ProportionCI(NamedTuple):
    """A proportion with its two-sided confidence interval (all as fractions, not percent).

    ``lower``/``upper`` are the raw bounds of the method; for the Wald interval they can lie
    outside [0, 1].
    """

    count: int  # type: ignore[assignment]  # the field shadows tuple.count (a public name)
    n: int
    proportion: float
    lower: float
    upper: float
    method: str
    conf_level: float


def _check(count: int, n: int, conf_level: float, source: str | None) -> None:
    for name, value in (("count", count), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InputError(f"expected a whole number, got {value!r}", source=source, field=name)
    if n <= 0:
        raise InputError(f"expected a denominator n ≥ 1, got {n}", source=source, field="n")
    if not 0 <= count <= n:
        raise InputError(f"expected 0 ≤ count ≤ n = {n}, got {count}", source=source,
                         field="count")
    if not (isinstance(conf_level, (int, float)) and 0.0 < float(conf_level) < 1.0):
        raise InputError(f"expected a confidence level in (0, 1), e.g. 0.95, got {conf_level!r}",
                         source=source, field="conf_level")


def _z(conf_level: float) -> float:
    return float(stats.norm.ppf(0.5 + conf_level / 2.0))


def wald_interval(count: int, n: int, conf_level: float = 0.95, *,
                  source: str | None = None) -> tuple[float, float]:
    """Wald interval ``p̂ ± z sqrt(p̂(1 − p̂)/n)`` with the raw (unclipped) bounds, as fractions.

    Parameters
    ----------
    count, n
        Number of patients with the outcome and the denominator (``0 ≤ count ≤ n``, ``n ≥ 1``).
    conf_level
        Two-sided level; ``z = Φ⁻¹((1 + conf_level)/2)`` (1.959964 for 0.95).
    source
        Name of the table, for error messages.

    Returns
    -------
    tuple of float
        ``(lower, upper)``; the lower bound can be negative and the upper bound above 1.
    """
    _check(count, n, conf_level, source)
    p = count / n
    half = _z(conf_level) * math.sqrt(p * (1.0 - p) / n)
    return p - half, p + half


def wilson_interval(count: int, n: int, conf_level: float = 0.95, *,
                    source: str | None = None) -> tuple[float, float]:
    """Wilson score interval (no continuity correction), as fractions within [0, 1].

    ``(p̂ + z²/2n ± z sqrt(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n)``, computed by
    ``scipy.stats.binomtest(count, n).proportion_ci(method="wilson")``.
    """
    _check(count, n, conf_level, source)
    ci = stats.binomtest(int(count), int(n)).proportion_ci(confidence_level=conf_level,
                                                          method="wilson")
    return float(ci.low), float(ci.high)


def clopper_pearson_interval(count: int, n: int, conf_level: float = 0.95, *,
                             source: str | None = None) -> tuple[float, float]:
    """Clopper–Pearson exact interval, as fractions within [0, 1].

    Lower bound ``Beta⁻¹(α/2; x, n − x + 1)`` (0 when ``x = 0``), upper bound
    ``Beta⁻¹(1 − α/2; x + 1, n − x)`` (1 when ``x = n``), computed by
    ``scipy.stats.binomtest(count, n).proportion_ci(method="exact")``.
    """
    _check(count, n, conf_level, source)
    ci = stats.binomtest(int(count), int(n)).proportion_ci(confidence_level=conf_level,
                                                          method="exact")
    return float(ci.low), float(ci.high)


_INTERVALS = {"wald": wald_interval, "wilson": wilson_interval,
              "clopper_pearson": clopper_pearson_interval}


def proportion_ci(count: int, n: int, method: CIMethod = "wald", conf_level: float = 0.95, *,
                  source: str | None = None) -> ProportionCI:
    """Proportion ``count / n`` with a confidence interval by ``method``.

    Parameters
    ----------
    count, n
        Numerator and denominator.
    method
        ``"wald"`` (the paper's), ``"wilson"`` or ``"clopper_pearson"``.
    conf_level
        Two-sided confidence level.
    source
        Name of the table, for error messages.

    Returns
    -------
    ProportionCI
    """
    if method not in _METHODS:
        raise InputError(f"unknown interval method {method!r}; expected one of {_METHODS}",
                         source=source, field="method")
    lower, upper = _INTERVALS[method](count, n, conf_level, source=source)
    return ProportionCI(int(count), int(n), count / n, lower, upper, method, float(conf_level))


def format_percent(fraction: float, decimals: int = 0) -> str:
    """A fraction as a percentage with fixed decimals, without the % sign (``0.1556 → "16"``).

    Rounding is Python's (half to even on the binary value), as R's ``round``.
    """
    return f"{100.0 * fraction:.{decimals}f}"


def format_percent_ci(proportion: float, lower: float, upper: float, *, decimals: int = 0,
                      none_text: str = "none") -> str:
    """The paper's printed form ``"16 % (8–23)"`` of a proportion and its interval.

    A bound that rounds (at ``decimals``) to 0 % or less is printed as ``none_text``: the paper
    writes "2 % (95 % CI, none to 5 %)" for 2/90 (Wald bound −0.82 %) and "4 % (none to 9 %)"
    for 4/90 (0.19 %).

    Parameters
    ----------
    proportion, lower, upper
        Fractions (not percent).
    decimals
        Decimals of the bounds; the estimate is printed with the same precision.
    none_text
        Text for a bound that rounds to ≤ 0 %.
    """
    if any(math.isnan(v) for v in (proportion, lower, upper)):
        return "—"

    def bound(v: float) -> str:
        text = format_percent(v, decimals)
        return none_text if float(text) <= 0.0 else text

    return f"{format_percent(proportion, decimals)} % ({bound(lower)}–{bound(upper)})"


def proportion_table(counts: Mapping[str, int] | pd.Series, n: int | None = None, *,
                     categories: Iterable[str] | None = None, conf_level: float = 0.95,
                     decimals: int = 0, source: str | None = None) -> pd.DataFrame:
    """Response-rate table: per category the count, percent, the Wald interval (the paper's) and
    the Wilson and Clopper–Pearson intervals (sensitivity), all in percent.

    Parameters
    ----------
    counts
        Category → count (e.g. ``value_counts()`` of best overall response).
    n
        Denominator; default the sum of the counts.
    categories
        Rows in this order (a category without a count gets 0); default the keys of ``counts``.
    conf_level
        Two-sided level of every interval.
    decimals
        Precision of the printed ``paper`` column (:func:`format_percent_ci`).
    source
        Name of the table, for error messages.

    Returns
    -------
    pandas.DataFrame
        Indexed by category: ``count``, ``n``, ``percent``, ``wald_lower``, ``wald_upper``,
        ``wilson_lower``, ``wilson_upper``, ``clopper_pearson_lower``, ``clopper_pearson_upper``
        (percent, raw Wald bounds kept) and ``paper`` (printed form).
    """
    # a Series is indexed by the category names, as a mapping would be keyed
    counts = dict(counts) if isinstance(counts, Mapping) else cast(
        dict[str, int], pd.Series(counts).to_dict())
    cats = list(categories) if categories is not None else list(counts)
    unknown = [c for c in counts if c not in cats and counts[c]]
    if unknown:
        raise InputError(f"counts for categories {unknown} not among the requested categories "
                         f"{cats}", source=source, field="categories")
    values = {c: int(counts.get(c, 0)) for c in cats}
    total = sum(values.values()) if n is None else int(n)
    rows = []
    for c in cats:
        row: dict[str, object] = {"category": c, "count": values[c], "n": total,
                                  "percent": 100.0 * values[c] / total if total else math.nan}
        for method in _METHODS:
            ci = proportion_ci(values[c], total, method, conf_level, source=source)  # type: ignore[arg-type]
            row[f"{method}_lower"] = 100.0 * ci.lower
            row[f"{method}_upper"] = 100.0 * ci.upper
        wald = proportion_ci(values[c], total, "wald", conf_level, source=source)
        row["paper"] = format_percent_ci(wald.proportion, wald.lower, wald.upper,
                                         decimals=decimals)
        rows.append(row)
    return pd.DataFrame(rows).set_index("category")
