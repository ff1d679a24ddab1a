"""Survival statistics computed as R's ``survival`` package computes them.

The ILUMINET analyses were run in R 4.0.2 with the ``survival`` package; this module reproduces its
numbers (checked against R 4.2.2 / ``survival`` 3.5 to 1e-8 relative in the test suite) while using
lifelines for the Kaplan–Meier curve, the at-risk counts and the plots.

What differs from lifelines' defaults, and why
----------------------------------------------
* **Pointwise confidence interval.** ``survfit`` defaults to ``conf.type="log"``:
  ``S(t)·exp(±z·σ(t))`` with the Greenwood variance of the cumulative hazard
  ``σ²(t) = Σ_{t_i ≤ t} d_i / (n_i (n_i − d_i))`` and the upper bound capped at 1. lifelines always
  uses the log(−log) interval, so the interval is computed here from the event table. The paper's
  "5-year survival 41 % (31–54 %)" is reproducible only with the log interval.
* **Median.** R takes the first time the curve falls below 0.5; when the curve sits *exactly* at 0.5
  (within ``sqrt(.Machine$double.eps)``) it takes the midpoint between the time it reached 0.5 and
  the next drop. lifelines takes the first time with ``S ≤ 0.5``.
* **Log-rank.** ``survdiff`` with ``rho = 0``: the k-group statistic
  ``(O − E)ᵀ V⁻ (O − E)`` on k − 1 degrees of freedom.

Assumptions
-----------
Right-censored data only; no delayed entry, weights or strata. Times are used as given: R's
``timefix`` merging of times that differ only by floating-point noise (``aeqSurv``) is not applied,
so pass times already rounded to the resolution they were recorded in (days, months to 0.1).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Self, cast, get_args

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from iluminet.errors import InputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "ConfType",
    "GroupLabels",
    "R_TOLERANCE",
    "KaplanMeier",
    "MedianEstimate",
    "LogRankResult",
    "logrank_test",
    "median_follow_up",
    "survival_summary",
    "plot_kaplan_meier",
]

ConfType = Literal["log", "log-log", "plain"]
#: Group labels: a sequence, array, Series or Categorical (its categories fix the group order).
GroupLabels = Sequence[Hashable] | NDArray[Any] | pd.Series | pd.Categorical
_CONF_TYPES: tuple[str, ...] = get_args(ConfType)

#: R's ``sqrt(.Machine$double.eps)``, the tolerance of ``print.survfit`` and ``quantile.survfit``
#: when deciding that the curve is flat at exactly the requested probability.
R_TOLERANCE: float = float(np.sqrt(np.finfo(float).eps))

_MAX_LISTED = 5  # positions listed in an error message


class MedianEstimate(NamedTuple):
    """A median time with its confidence limits; ``None`` means "not reached" (R's ``NA``)."""

    median: float | None
    lower: float | None
    upper: float | None


# --------------------------------------------------------------------------------------------
# input validation
# --------------------------------------------------------------------------------------------


def _positions(mask: NDArray[np.bool_]) -> str:
    idx = np.flatnonzero(mask)
    shown = ", ".join(str(i) for i in idx[:_MAX_LISTED])
    return shown + (f", … ({idx.size} in all)" if idx.size > _MAX_LISTED else "")


def _as_durations(values: ArrayLike, *, field: str, source: str | None) -> NDArray[np.float64]:
    """Durations as a 1-D float array: finite and ≥ 0."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"expected numeric durations (time from start, ≥ 0), got values that are not numbers "
            f"({exc})",
            source=source,
            field=field,
        ) from None
    if arr.ndim != 1:
        raise InputError(
            f"expected a one-dimensional sequence of durations, got shape {arr.shape}",
            source=source,
            field=field,
        )
    if arr.size == 0:
        raise InputError("no observations: expected at least one duration", source=source,
                         field=field)
    bad = np.isnan(arr)
    if bad.any():
        raise InputError(
            f"missing (NaN) durations at positions {_positions(bad)}; expected a time ≥ 0 for "
            "every subject",
            source=source,
            field=field,
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(
            f"infinite durations at positions {_positions(bad)}; expected finite times ≥ 0",
            source=source,
            field=field,
        )
    bad = arr < 0
    if bad.any():
        raise InputError(
            f"negative durations at positions {_positions(bad)} (e.g. {arr[bad][0]:g}); expected "
            "times ≥ 0",
            source=source,
            field=field,
        )
    return arr


def _as_events(values: ArrayLike, *, field: str, source: str | None) -> NDArray[np.bool_]:
    """Event indicators as a boolean array: accepts bool, or numbers that are exactly 0 or 1."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(
            f"expected a one-dimensional sequence of event indicators, got shape {arr.shape}",
            source=source,
            field=field,
        )
    if arr.dtype == np.bool_:
        return arr.copy()
    if arr.dtype.kind in "iuf":
        num = arr.astype(float)
    elif arr.dtype.kind == "O":
        # Mixed Python objects: only bools and real numbers are meaningful here.
        ok = np.array(
            [isinstance(v, (bool, np.bool_, int, float, np.integer, np.floating)) for v in arr],
            dtype=bool,
        )
        if not ok.all():
            raise InputError(
                f"non-numeric event indicators at positions {_positions(~ok)} "
                f"(e.g. {arr[~ok][0]!r}); expected 1/True for an event, 0/False for censored",
                source=source,
                field=field,
            )
        num = arr.astype(float)
    else:
        raise InputError(
            f"event indicators of type {arr.dtype} are not accepted; expected 1/True for an event, "
            "0/False for censored",
            source=source,
            field=field,
        )
    bad = np.isnan(num)
    if bad.any():
        raise InputError(
            f"missing (NaN) event indicators at positions {_positions(bad)}; expected 1 (event) or "
            "0 (censored) for every subject",
            source=source,
            field=field,
        )
    bad = (num != 0) & (num != 1)
    if bad.any():
        raise InputError(
            f"event indicators other than 0/1 at positions {_positions(bad)} "
            f"(e.g. {num[bad][0]:g}); expected 1 (event) or 0 (censored)",
            source=source,
            field=field,
        )
    return num == 1


def _validate_pair(
    durations: ArrayLike,
    events: ArrayLike,
    *,
    source: str | None,
    duration_field: str = "durations",
    event_field: str = "events",
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    t = _as_durations(durations, field=duration_field, source=source)
    e = _as_events(events, field=event_field, source=source)
    if t.size != e.size:
        raise InputError(
            f"has {e.size} values but '{duration_field}' has {t.size}; expected one event "
            "indicator per duration",
            source=source,
            field=event_field,
        )
    return t, e


def _as_groups(values: GroupLabels, n: int, *, field: str, source: str | None) -> pd.Categorical:
    """Group labels as a Categorical (category order = group order, as R's factor levels)."""
    if isinstance(values, pd.Categorical):
        cat = values
    elif isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        cat = pd.Categorical(values.array)  # keeps the declared category order
    else:
        cat = pd.Categorical(np.asarray(values, dtype=object))
    if len(cat) != n:
        raise InputError(
            f"has {len(cat)} values but there are {n} durations; expected one group label per "
            "subject",
            source=source,
            field=field,
        )
    missing = np.asarray(cat.isna())
    if missing.any():
        raise InputError(
            f"missing group labels at positions {_positions(missing)}; expected a group for every "
            "subject",
            source=source,
            field=field,
        )
    counts = pd.Series(cat).value_counts(sort=False)
    empty = [str(g) for g, c in counts.items() if c == 0]
    if empty:
        raise InputError(
            f"group(s) {', '.join(repr(g) for g in empty)} have no subjects; expected at least one "
            "subject per group (drop unused categories)",
            source=source,
            field=field,
        )
    return cat


def _check_conf(conf_type: str, conf_level: float) -> None:
    if conf_type not in _CONF_TYPES:
        raise InputError(
            f"unknown confidence interval type {conf_type!r}; expected one of {_CONF_TYPES}",
            field="conf_type",
        )
    if not (isinstance(conf_level, (int, float)) and 0.0 < float(conf_level) < 1.0):
        raise InputError(
            f"confidence level {conf_level!r} is not a probability; expected 0 < conf_level < 1 "
            "(e.g. 0.95)",
            field="conf_level",
        )


# --------------------------------------------------------------------------------------------
# R's pointwise interval and quantile rules
# --------------------------------------------------------------------------------------------


def _pointwise_ci(
    surv: NDArray[np.float64], sigma: NDArray[np.float64], conf_type: str, z: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Pointwise limits as ``survival:::survfit_confint`` (``logse=TRUE``, ``ulimit=TRUE``).

    ``sigma`` is the standard error of the cumulative hazard. Limits that R returns as ``NA``
    (log: ``S = 0``; log-log: ``S ∈ {0, 1}``) are NaN.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "plain":
            half = sigma * surv * z
            return np.maximum(surv - half, 0.0), np.minimum(surv + half, 1.0)
        if conf_type == "log":
            xx = np.where(surv == 0, np.nan, surv)
            half = z * sigma
            return np.exp(np.log(xx) - half), np.minimum(np.exp(np.log(xx) + half), 1.0)
        # log-log: S·exp(±…) on the log(−log S) scale; undefined where S is 0 or 1
        xx = np.where((surv == 0) | (surv == 1), np.nan, surv)
        half = z * sigma / np.log(xx)
        lll = np.log(-np.log(xx))
        return np.exp(-np.exp(lll - half)), np.exp(-np.exp(lll + half))


def _r_print_median(time: NDArray[np.float64], y: NDArray[np.float64], p: float = 0.5,
                    tol: float = R_TOLERANCE) -> float | None:
    """Median as ``print.survfit`` / ``summary(fit)$table`` (``survival:::survmean``, ``minmin``).

    The first time the curve is below ``p + tol``; if the curve there is within ``tol`` of ``p``
    and drops further later, the midpoint between that time and the next drop. A curve that stays
    at ``p`` to its end gives the time it reached ``p``. ``None`` if the curve never gets there.
    """
    keep = ~np.isnan(y) & (y < p + tol)
    if not keep.any():
        return None
    x, yk = time[keep], y[keep]
    lower_later = yk < yk[0]
    if abs(yk[0] - p) < tol and lower_later.any():
        return float((x[0] + x[np.argmax(lower_later)]) / 2)
    return float(x[0])


def _r_findq(x: NDArray[np.float64], y: NDArray[np.float64], p: float,
             tol: float = R_TOLERANCE) -> float | None:
    """One quantile as ``survival:::findq`` (used by ``quantile.survfit``).

    ``x`` are the times with the start time prepended, ``y`` the cumulative distribution
    ``1 − S`` with 0 prepended (NaN allowed). The quantile is where a horizontal line at ``p``
    meets the step function; a flat stretch within ``tol`` of ``p`` gives the midpoint of the
    stretch, and a flat stretch at the end of the curve the midpoint up to the last time.
    """
    if np.all(np.isnan(y)) or np.nanmax(y) < p:
        return None
    xmax = x[-1]
    # R's duplicated(): keep the first occurrence of every value, NaN counting as one value
    keys = np.where(np.isnan(y), np.inf, y)
    _, first = np.unique(keys, return_index=True)
    first.sort()
    x, y = x[first], y[first]
    n = y.size
    pos = np.arange(1, n + 1)

    def approx_constant_f1(knots: NDArray[np.float64]) -> int | None:
        # approx(knots, 1:n, p, method="constant", f=1): NA knots dropped, knots sorted (a
        # confidence limit need not be monotone), NA outside the range, otherwise the value at
        # the first knot ≥ p.
        ok = ~np.isnan(knots)
        order = np.argsort(knots[ok], kind="stable")
        k, v = knots[ok][order], pos[ok][order]
        if k.size == 0 or p < k[0] or p > k[-1]:
            return None
        return int(v[np.searchsorted(k, p, side="left")])

    i1 = approx_constant_f1(y + tol)
    i2 = approx_constant_f1(y - tol)
    quant: float | None
    quant = None if i1 is None or i2 is None else float((x[i1 - 1] + x[i2 - 1]) / 2)
    if p == 0:
        quant = float(x[0])
    if not np.isnan(y[-1]) and abs(p - y[-1]) < tol and i1 is not None:
        quant = float((x[i1 - 1] + xmax) / 2)
    return quant


# --------------------------------------------------------------------------------------------
# Kaplan–Meier
# --------------------------------------------------------------------------------------------


class KaplanMeier:
    """Kaplan–Meier estimator with R ``survfit``'s confidence intervals and median rules.

    The event table comes from :class:`lifelines.KaplanMeierFitter` (kept in :attr:`kmf_` for
    plots and at-risk tables); the curve ``S(t) = Π_{t_i ≤ t} (1 − d_i / n_i)`` is formed from it
    in R's order of operations (bit-identical to ``survfit``) and checked against lifelines'
    curve. The pointwise interval is computed from the event table as R does:

    * ``"log"`` (R's default): ``S·exp(±z σ)``, upper limit capped at 1;
    * ``"log-log"``: ``exp(−exp(log(−log S) ± z σ / log S))``;
    * ``"plain"``: ``S ± z σ S`` clipped to [0, 1];

    with ``σ² = Σ_{t_i ≤ t} d_i / (n_i (n_i − d_i))`` (Greenwood, on the cumulative hazard scale)
    and ``z`` the standard normal ``(1 + conf_level)/2`` quantile.

    Parameters
    ----------
    conf_type
        ``"log"`` (default, as R), ``"log-log"`` or ``"plain"``.
    conf_level
        Two-sided confidence level of the pointwise interval, R's ``conf.int``.

    Attributes
    ----------
    survival_table_ : pandas.DataFrame
        One row per distinct observed time (event or censoring), as R's
        ``summary(fit, censored=TRUE)``: ``time``, ``n_risk``, ``n_event``, ``n_censor``, ``surv``,
        ``std_err`` (σ, the standard error of the cumulative hazard — R's ``fit$std.err``),
        ``surv_std_err`` (``S·σ``, what ``summary()`` prints as ``std.err``), ``lower``, ``upper``
        (NaN where R gives ``NA``).
    median_ : float or None
        Median survival time as ``print(fit)`` reports it; ``None`` if not reached.
    median_ci_ : tuple of (float or None, float or None)
        Times at which the lower and the upper pointwise limits reach 0.5, same rule.
    n_, n_events_ : int
        Number of subjects and of events.
    label_ : str
    kmf_ : lifelines.KaplanMeierFitter
        The fitted lifelines estimator (its own interval is log-log; not used for reported limits).
    """

    def __init__(self, conf_type: ConfType = "log", conf_level: float = 0.95) -> None:
        _check_conf(conf_type, conf_level)
        self.conf_type: ConfType = conf_type
        self.conf_level: float = float(conf_level)

    @property
    def z_(self) -> float:
        """Standard normal quantile of the two-sided level, R's ``qnorm(1 - (1-conf.int)/2)``."""
        return float(stats.norm.ppf(1.0 - (1.0 - self.conf_level) / 2.0))

    def fit(
        self,
        durations: ArrayLike,
        events: ArrayLike,
        label: str | None = None,
        *,
        source: str | None = None,
    ) -> Self:
        """Fit the curve.

        Parameters
        ----------
        durations
            Time from the origin to the event or to censoring (≥ 0; any unit, e.g. months).
        events
            1/True if the event was observed, 0/False if censored.
        label
            Name of the curve (used in plots and tables).
        source
            Name of the table the data came from, used in error messages.

        Returns
        -------
        KaplanMeier
            ``self``.

        Raises
        ------
        iluminet.errors.InputError
            Negative, infinite or missing durations; event indicators that are not 0/1/bool;
            lengths that differ; no observations.
        """
        t, e = _validate_pair(durations, events, source=source)
        self.label_ = label if label is not None else "KM_estimate"
        kmf = KaplanMeierFitter(alpha=1.0 - self.conf_level)
        kmf.fit(t, e.astype(int), label=self.label_)
        self.kmf_ = kmf

        table = kmf.event_table
        table = table[table["removed"] > 0]  # lifelines adds a t = 0 row; R lists observed times
        time = table.index.to_numpy(dtype=float)
        n_risk = table["at_risk"].to_numpy(dtype=np.int64)
        n_event = table["observed"].to_numpy(dtype=np.int64)
        n_censor = table["censored"].to_numpy(dtype=np.int64)
        # The product is formed term by term as R's survfitkm does (km *= (n - d)/n). lifelines
        # forms it as exp(Σ log(1 − d/n)), a few ulp away: harmless for the curve, but R's quantile
        # code compares 1 − S with 0.5 without tolerance in one place, so a plateau at exactly 0.5
        # must be exactly 0.5 here too.
        surv = np.cumprod((n_risk - n_event) / n_risk.astype(float))
        lifelines_surv = kmf.survival_function_.iloc[:, 0].loc[table.index].to_numpy(dtype=float)
        if not np.allclose(surv, lifelines_surv, rtol=1e-9, atol=1e-12):
            raise RuntimeError("Kaplan–Meier product disagrees with lifelines' curve")

        with np.errstate(divide="ignore", invalid="ignore"):
            # n = d (curve drops to 0) gives an infinite term, as in R
            increments = n_event / (n_risk * (n_risk - n_event).astype(float))
        sigma = np.sqrt(np.cumsum(increments))
        lower, upper = _pointwise_ci(surv, sigma, self.conf_type, self.z_)
        with np.errstate(invalid="ignore"):
            surv_se = sigma * surv  # Inf·0 = NaN where the curve reached 0, as R prints

        self.survival_table_ = pd.DataFrame(
            {
                "time": time,
                "n_risk": n_risk,
                "n_event": n_event,
                "n_censor": n_censor,
                "surv": surv,
                "std_err": sigma,
                "surv_std_err": surv_se,
                "lower": lower,
                "upper": upper,
            }
        )
        self.n_ = int(t.size)
        self.n_events_ = int(e.sum())
        self.median_ = _r_print_median(time, surv)
        self.median_ci_ = (_r_print_median(time, lower), _r_print_median(time, upper))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "survival_table_"):
            raise RuntimeError("KaplanMeier is not fitted: call fit(durations, events) first")

    @property
    def median_estimate_(self) -> MedianEstimate:
        """Median with its confidence limits as one tuple."""
        self._check_fitted()
        return MedianEstimate(self.median_, *self.median_ci_)

    def survival_at(self, time: float, *, extend: bool = False) -> tuple[float, float, float]:
        """Survival and its pointwise limits at one time, as R's ``summary(fit, times=time)``.

        Parameters
        ----------
        time
            Time in the unit of the durations.
        extend
            R's ``extend``: if False (default), a time after the last observed time gives NaN
            (R drops it); if True, the values at the last observed time.

        Returns
        -------
        tuple of float
            ``(S, lower, upper)``; before the first observed time ``(1, 1, 1)``. NaN where R
            gives ``NA``.
        """
        self._check_fitted()
        tab = self.survival_table_
        times = tab["time"].to_numpy()
        if not np.isfinite(time):
            raise InputError(f"expected a finite time, got {time!r}", field="time")
        if time > times[-1] and not extend:
            return (np.nan, np.nan, np.nan)
        i = int(np.searchsorted(times, time, side="right")) - 1
        if i < 0:
            return (1.0, 1.0, 1.0)
        row = tab.iloc[i]
        return (float(row["surv"]), float(row["lower"]), float(row["upper"]))

    def quantile(self, probs: float | Sequence[float] = (0.25, 0.5, 0.75)) -> pd.DataFrame:
        """Quantiles of the event-time distribution as R's ``quantile(fit, probs)``.

        ``quantile.survfit`` and ``print.survfit`` (:attr:`median_`, :attr:`median_ci_`) differ
        in two cases, both reproduced: a curve that stays exactly at ``1 − p`` to its last time
        gives the midpoint of that flat stretch up to the last observed time (``print`` gives the
        time the curve reached it); and a confidence limit that is not monotone (the upper log
        limit can rise again after a drop) is read after sorting its values, as R's ``approx``
        does, whereas ``print`` takes the first time the limit is below ``1 − p``.

        Parameters
        ----------
        probs
            Probabilities ``p`` in [0, 1]: the time by which a fraction ``p`` had the event.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``p``, columns ``quantile``, ``lower``, ``upper`` (NaN = not reached).
        """
        self._check_fitted()
        ps = np.atleast_1d(np.asarray(probs, dtype=float))
        if np.isnan(ps).any() or (ps < 0).any() or (ps > 1).any():
            raise InputError(f"expected probabilities in [0, 1], got {probs!r}", field="probs")
        tab = self.survival_table_
        x = np.concatenate([[0.0], tab["time"].to_numpy()])

        def q(curve: str, p: float) -> float:
            y = np.concatenate([[0.0], 1.0 - tab[curve].to_numpy()])
            value = _r_findq(x, y, p)
            return np.nan if value is None else value

        return pd.DataFrame(
            {
                "quantile": [q("surv", p) for p in ps],
                "lower": [q("lower", p) for p in ps],
                "upper": [q("upper", p) for p in ps],
            },
            index=pd.Index(ps, name="p"),
        )


def median_follow_up(
    durations: ArrayLike,
    events: ArrayLike,
    *,
    conf_type: ConfType = "log",
    conf_level: float = 0.95,
    source: str | None = None,
) -> MedianEstimate:
    """Median follow-up by the reverse Kaplan–Meier method.

    Censoring is treated as the event and events as censoring (R:
    ``survfit(Surv(time, 1 - status) ~ 1)``), so the estimate is the median potential follow-up
    time, not shortened by early deaths.

    Parameters
    ----------
    durations, events
        As for :meth:`KaplanMeier.fit` (1 = event observed, 0 = censored).
    conf_type, conf_level
        Pointwise interval used for the limits of the median.
    source
        Name of the table, for error messages.

    Returns
    -------
    MedianEstimate
        Median follow-up with confidence limits (``None`` = not reached).
    """
    t, e = _validate_pair(durations, events, source=source)
    km = KaplanMeier(conf_type=conf_type, conf_level=conf_level).fit(
        t, ~e, label="reverse KM", source=source
    )
    return km.median_estimate_


# --------------------------------------------------------------------------------------------
# log-rank test
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogRankResult:
    """Result of the k-group log-rank test (R ``survdiff``, ``rho = 0``).

    Attributes
    ----------
    statistic
        Chi-square statistic ``(O − E)ᵀ V⁻ (O − E)``.
    df
        Degrees of freedom: number of groups with ``E > 0`` minus one.
    p_value
        Upper tail of the chi-square distribution.
    groups
        Group labels in the order used.
    n, observed, expected
        Subjects, observed and expected events per group.
    variance
        The k×k variance matrix of ``O − E``.
    """

    statistic: float
    df: int
    p_value: float
    groups: tuple[Hashable, ...]
    n: NDArray[np.int64] = field(repr=False)
    observed: NDArray[np.float64] = field(repr=False)
    expected: NDArray[np.float64] = field(repr=False)
    variance: NDArray[np.float64] = field(repr=False)

    @property
    def table(self) -> pd.DataFrame:
        """Per-group table as ``print(survdiff(...))`` shows it."""
        oe = self.observed - self.expected
        with np.errstate(divide="ignore", invalid="ignore"):
            return pd.DataFrame(
                {
                    "n": self.n,
                    "observed": self.observed,
                    "expected": self.expected,
                    "(O-E)^2/E": oe**2 / self.expected,
                    "(O-E)^2/V": oe**2 / np.diag(self.variance),
                },
                index=pd.Index(list(self.groups), name="group"),
            )


def logrank_test(
    durations: ArrayLike,
    events: ArrayLike,
    groups: GroupLabels,
    *,
    source: str | None = None,
) -> LogRankResult:
    """Log-rank test of equal survival across k ≥ 2 groups, as R's ``survdiff(rho = 0)``.

    At every distinct event time with ``d`` events among ``n`` at risk (``n_k`` in group k):
    ``E_k += d n_k / n`` and ``V_jk += d (n − d) / (n (n − 1)) · n_j (δ_jk − n_k / n)``.
    Groups with ``E_k = 0`` are dropped, then one more group (V is singular), and
    ``χ² = (O − E)ᵀ V⁻¹ (O − E)`` on the rest, with ``df`` = (groups with ``E > 0``) − 1.

    Parameters
    ----------
    durations, events
        As for :meth:`KaplanMeier.fit`.
    groups
        Group label per subject; a pandas Categorical fixes the group order.
    source
        Name of the table, for error messages.

    Returns
    -------
    LogRankResult

    Raises
    ------
    iluminet.errors.InputError
        Bad durations/events/groups, fewer than two groups, or no events at all.
    """
    t, e = _validate_pair(durations, events, source=source)
    cat = _as_groups(groups, t.size, field="groups", source=source)
    k = len(cat.categories)
    if k < 2:
        raise InputError(
            f"only one group ({cat.categories[0]!r}); the log-rank test needs at least two",
            source=source,
            field="groups",
        )
    if not e.any():
        raise InputError("no events in any group; the log-rank test is undefined",
                         source=source, field="events")
    code = np.asarray(cat.codes)
    utime, inv = np.unique(t, return_inverse=True)
    removed = np.zeros((utime.size, k))
    died = np.zeros((utime.size, k))
    np.add.at(removed, (inv, code), 1.0)
    np.add.at(died, (inv, code), e.astype(float))
    # at risk at each time: everyone whose time is ≥ that time
    at_risk = np.cumsum(removed[::-1], axis=0)[::-1]
    n_t = at_risk.sum(axis=1)
    d_t = died.sum(axis=1)
    ev = d_t > 0
    n_k, d, n = at_risk[ev], d_t[ev], n_t[ev]
    expected = (d[:, None] * n_k / n[:, None]).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(n > 1, d * (n - d) / (n * (n - 1)), 0.0)
    frac = n_k / n[:, None]
    variance = np.einsum("t,tj,jk->jk", w, n_k, np.eye(k)) - np.einsum(
        "t,tj,tk->jk", w, n_k, frac
    )
    observed = died.sum(axis=0)

    use = expected > 0
    df = int(use.sum()) - 1
    if use.sum() < 2:
        chisq = 0.0
    else:
        diff = (observed - expected)[use][1:]
        vv = variance[np.ix_(use, use)][1:, 1:]
        chisq = float(diff @ np.linalg.solve(vv, diff))
    p_value = float(stats.chi2.sf(chisq, df)) if df > 0 else np.nan
    return LogRankResult(
        statistic=chisq,
        df=df,
        p_value=p_value,
        groups=tuple(cat.categories),
        n=np.bincount(code, minlength=k).astype(np.int64),
        observed=observed,
        expected=expected,
        variance=variance,
    )


# --------------------------------------------------------------------------------------------
# tables and figures
# --------------------------------------------------------------------------------------------


def _column(data: pd.DataFrame, name: str, source: str | None) -> pd.Series:
    if name not in data.columns:
        raise InputError(
            f"column not found; the table has columns {list(data.columns)}",
            source=source,
            field=name,
        )
    return data[name]


def _fits_by_group(
    data: pd.DataFrame,
    duration_col: str,
    event_col: str,
    group_col: str | None,
    conf_type: ConfType,
    conf_level: float,
    source: str | None,
) -> list[tuple[Hashable, KaplanMeier]]:
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(data).__name__}", source=source)
    dur = _column(data, duration_col, source)
    evt = _column(data, event_col, source)
    t, e = _validate_pair(
        dur.to_numpy(), evt.to_numpy(), source=source, duration_field=duration_col,
        event_field=event_col,
    )
    if group_col is None:
        return [("all", KaplanMeier(conf_type, conf_level).fit(t, e, label="all", source=source))]
    grp = _column(data, group_col, source)
    cat = _as_groups(grp, t.size, field=group_col, source=source)
    code = np.asarray(cat.codes)
    return [
        (g, KaplanMeier(conf_type, conf_level).fit(t[code == i], e[code == i], label=str(g),
                                                   source=source))
        for i, g in enumerate(cat.categories)
    ]


def _time_key(t: float) -> str:
    return f"{t:g}"


def survival_summary(
    data: pd.DataFrame,
    duration_col: str,
    event_col: str,
    group_col: str | None = None,
    *,
    times: Sequence[float] = (),
    conf_type: ConfType = "log",
    conf_level: float = 0.95,
    source: str | None = None,
) -> pd.DataFrame:
    """Per-group results table: n, events, median with CI and survival at given times with CI.

    Medians follow ``print.survfit``; survival at a time follows ``summary(fit, times=...)``
    (NaN after a group's last observed time). Missing values mean "not reached" / not estimable.

    Parameters
    ----------
    data
        One row per subject.
    duration_col, event_col
        Columns with the duration (≥ 0) and the event indicator (1 event, 0 censored).
    group_col
        Column with the group; ``None`` for one row labelled ``"all"``. Group order follows a
        categorical column's categories, otherwise sorted labels.
    times
        Times (unit of the durations, e.g. 60 months) at which to report survival.
    conf_type, conf_level
        Pointwise interval, as :class:`KaplanMeier`.
    source
        Name of the table, for error messages.

    Returns
    -------
    pandas.DataFrame
        Indexed by group; columns ``n``, ``events``, ``median``, ``median_lower``,
        ``median_upper`` and, for each time ``t``, ``surv_{t}``, ``surv_{t}_lower``,
        ``surv_{t}_upper``.
    """
    _check_conf(conf_type, conf_level)
    fits = _fits_by_group(data, duration_col, event_col, group_col, conf_type, conf_level, source)
    rows = []
    for _, km in fits:
        med = km.median_estimate_
        row: dict[str, float] = {
            "n": km.n_,
            "events": km.n_events_,
            "median": np.nan if med.median is None else med.median,
            "median_lower": np.nan if med.lower is None else med.lower,
            "median_upper": np.nan if med.upper is None else med.upper,
        }
        for t in times:
            s, lo, hi = km.survival_at(float(t))
            key = _time_key(float(t))
            row[f"surv_{key}"] = s
            row[f"surv_{key}_lower"] = lo
            row[f"surv_{key}_upper"] = hi
        rows.append(row)
    out = pd.DataFrame(rows, index=pd.Index([g for g, _ in fits], name=group_col or "group"))
    return out.astype({"n": "int64", "events": "int64"})


def plot_kaplan_meier(
    data: pd.DataFrame,
    duration_col: str,
    event_col: str,
    group_col: str | None = None,
    *,
    conf_type: ConfType = "log",
    conf_level: float = 0.95,
    show_ci: bool = True,
    at_risk_counts: bool = True,
    xticks: Sequence[float] | None = None,
    xlabel: str = "Time (months)",
    ylabel: str = "Survival probability",
    title: str | None = None,
    ax: Axes | None = None,
    source: str | None = None,
    colours: Mapping[str, str] | None = None,
) -> Figure:
    """Kaplan–Meier curves per group with R's pointwise bands and an at-risk table.

    Curves and censoring ticks are drawn by lifelines; the shaded bands are the
    :class:`KaplanMeier` limits (R's ``conf_type``), not lifelines' log-log band. The at-risk
    table under the axis is lifelines' ``add_at_risk_counts``.

    Parameters
    ----------
    data, duration_col, event_col, group_col, conf_type, conf_level, source
        As :func:`survival_summary`.
    show_ci
        Shade the pointwise confidence band.
    at_risk_counts
        Add the number at risk under the x axis.
    xticks
        Tick positions (also the at-risk columns); lifelines chooses if ``None``.
    xlabel, ylabel, title
        Axis labels and title.
    ax
        Axes to draw into; a new figure if ``None``.
    colours
        ``{group label: colour}`` (the ungrouped curve is ``"all"``), so one group keeps one
        colour across figures; matplotlib's cycle for labels not in it.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (not shown; the caller saves or displays it).
    """
    import matplotlib.pyplot as plt
    from lifelines.plotting import add_at_risk_counts

    _check_conf(conf_type, conf_level)
    fits = _fits_by_group(data, duration_col, event_col, group_col, conf_type, conf_level, source)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.0, 4.8))
    else:
        fig = cast("Figure", ax.figure)
    for group, km in fits:
        km.kmf_.plot_survival_function(ax=ax, ci_show=False, show_censors=True,
                                       censor_styles={"marker": "|", "ms": 6},
                                       color=(colours or {}).get(str(group)))
        if show_ci:
            colour = ax.get_lines()[-1].get_color()
            tab = km.survival_table_
            t = np.concatenate([[0.0], tab["time"].to_numpy()])
            lo = np.concatenate([[1.0], tab["lower"].to_numpy()])
            hi = np.concatenate([[1.0], tab["upper"].to_numpy()])
            ax.fill_between(t, lo, hi, step="post", alpha=0.2, color=colour, linewidth=0)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlim(left=0.0)
    if xticks is not None:
        ax.set_xticks(list(xticks))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if group_col is None:
        legend = ax.get_legend()
        if legend is not None:
            legend.remove()
    if at_risk_counts:
        add_at_risk_counts(*[km.kmf_ for _, km in fits], ax=ax, rows_to_show=["At risk"],
                           xticks=None if xticks is None else list(xticks))
    fig.tight_layout()
    return fig
