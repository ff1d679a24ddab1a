r"""Cox proportional-hazards models of the trial's time-to-event endpoints, as R's
``survival::coxph`` computes them.

Two fitters, lifelines-style (``fit()`` returns ``self``, results in trailing-underscore
attributes):

* :class:`CoxModel` — right-censored data, one row per patient;
* :class:`TimeVaryingCoxModel` — counting-process data ``(start, stop]``, one row per interval in
  which the covariates are constant, for covariates that change after baseline such as the
  cumulative kidney BED (:func:`counting_process_bed`).

Ties and convergence
--------------------
Both models use **Efron's** approximation for tied event times, which is also R's ``coxph``
default (``ties = "efron"``) and lifelines' method; the R cross-check (``tests/test_cox_vs_r.py``)
runs ``coxph(..., ties = "efron")`` with ``coxph.control(eps = 1e-12)``. Coefficients, standard
errors, Wald and likelihood-ratio statistics and p-values agree with R to 1e-6 relative.

The partial likelihood is maximised by :func:`efron_fit`, a Newton–Raphson iteration on
counting-process rows ``(start, stop]`` whose risk-set sums are whole-array cumulative sums
(lifelines' fitters loop over event times in Python: 30 s for the four time-varying models of a
10 000-patient cohort, against the 10 s the BED analyses may take). With right-censored data the
rows start at −∞. For the event times ``t_k`` with ``d_k`` tied events ``D_k`` and risk set
``R_k = {i: start_i < t_k ≤ stop_i}``, ``r_i = exp(x_iᵀβ)``, ``S_m = Σ_{R_k} r_i x_i^{⊗m}``,
``E_m = Σ_{D_k} r_i x_i^{⊗m}`` (``m = 0, 1, 2``) and ``φ_l = S_0 − (l/d_k)E_0``,
``a_l = S_1 − (l/d_k)E_1``, ``B_l = S_2 − (l/d_k)E_2`` (``l = 0 … d_k − 1``):

.. math::

    \ell(β) = Σ_k [Σ_{D_k} x_iᵀβ − Σ_l \log φ_l],\quad
    U(β) = Σ_k [Σ_{D_k} x_i − Σ_l a_l/φ_l],\quad
    I(β) = Σ_k Σ_l [B_l/φ_l − a_l a_lᵀ/φ_l^2].

The iteration (step halving when ``ℓ`` falls) stops when the relative change of ``ℓ`` is below
``1e-14`` or the step below ``1e-11``; the covariates are centred first (``β`` and ``ℓ`` do not
change). The variance is ``I(β̂)⁻¹``. Agreement with lifelines is checked in the tests too.

What is reported
----------------
Per coefficient ``β``: ``coef``, ``se`` (inverse observed information), ``hr = exp(β)`` with the
Wald interval ``exp(β ± z·se)``, ``z = β/se`` and its two-sided normal p-value (R's
``summary.coxph``). Per model: the partial log-likelihood at ``β = 0`` and at ``β̂``, the
likelihood-ratio test ``2(ℓ(β̂) − ℓ(0))`` on ``p`` df, the global Wald test ``β̂ᵀ V⁻¹ β̂`` on ``p``
df (R's ``wald.test``), and for a categorical term with several levels the joint Wald test of its
coefficients.

Proportional hazards
--------------------
:attr:`CoxModel.ph_test_` is the test of Grambsch & Therneau (1994) on scaled Schoenfeld
residuals against the rank of the event times, as ``lifelines.statistics.proportional_hazard_test``
computes it with ``time_transform="rank"`` (:func:`schoenfeld_rank_test`; equal to lifelines in
the tests): with the Schoenfeld residual ``s_i = x_i − x̄(t_i)`` of each event (``x̄`` the Efron
mean of the tie group), ``s*_i = D · V s_i`` (``D`` events, ``V`` the variance), ``g_i`` the rank
of the event time and ``ḡ`` its mean, per coefficient ``j``

.. math:: T_j = \frac{(Σ_i (g_i − ḡ) s^*_{ij})^2}{D · V_{jj} · Σ_i (g_i − ḡ)^2} \sim χ^2_1 .

Tied event times are ranked in the order of the rows. This is the approximate test that R's
``cox.zph`` computed before ``survival`` 3.0; current R computes an exact score test, so these
p-values are *not* part of the R cross-check (they agree with current R only approximately). No PH
test is computed for the time-varying model.

Design matrix
-------------
:func:`design_matrix` turns the named terms into numeric columns: a categorical term gives one
indicator per level against its first (reference) level, named ``term[level]``; a numeric term
is used as it is. Rows with a missing value in any term, and levels nobody has, are dropped
(complete-case analysis; the number analysed is ``n_``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy import stats

from iluminet.errors import InputError

__all__ = [
    "CoxModel",
    "TimeVaryingCoxModel",
    "efron_fit",
    "schoenfeld_rank_test",
    "counting_process_bed",
    "design_matrix",
]


COEFFICIENT_COLUMNS: tuple[str, ...] = ("term", "covariate", "coef", "se", "hr", "hr_lower",
                                        "hr_upper", "z", "p_value")


def design_matrix(data: pd.DataFrame, terms: Sequence[str], *, source: str = "cox model"
                  ) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Numeric covariates for ``terms`` of ``data`` (module docstring, "Design matrix").

    Returns
    -------
    (pandas.DataFrame, dict)
        The covariate columns for the complete cases (index of ``data`` kept), and per term the
        names of its columns.
    """
    missing = [t for t in terms if t not in data.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; expected {list(terms)}", source=source,
                         field=missing[0])
    d = data[list(terms)]
    keep = pd.Series(True, index=data.index)
    for t in terms:
        col = d[t]
        keep &= col.notna() & (col.astype(object) != "Missing")
    d = d[keep]
    columns: dict[str, pd.Series] = {}
    names: dict[str, list[str]] = {}
    for t in terms:
        col = d[t]
        if isinstance(col.dtype, pd.CategoricalDtype) or col.dtype == object or col.dtype == bool:
            cat = col.astype("category") if not isinstance(col.dtype, pd.CategoricalDtype) else col
            cat = cat.cat.remove_unused_categories()
            levels = list(cat.cat.categories)
            names[t] = []
            for level in levels[1:]:
                name = f"{t}[{level}]"
                columns[name] = (cat == level).astype(float)
                names[t].append(name)
        else:
            columns[t] = pd.to_numeric(col, errors="raise").astype(float)
            names[t] = [t]
    return pd.DataFrame(columns, index=d.index), names


def _tail_sums(values: np.ndarray) -> np.ndarray:
    """Reverse cumulative sums along axis 0 with a trailing zero row: ``out[i] = Σ_{j ≥ i}``."""
    c = np.cumsum(values[::-1], axis=0)[::-1]
    return np.concatenate([c, np.zeros((1, *c.shape[1:]))], axis=0)


class _EfronData:
    """Counting-process rows prepared for repeated evaluation of the Efron partial likelihood
    (module docstring, "Ties and convergence"): centred covariates, sort orders, event times."""

    def __init__(self, start: np.ndarray, stop: np.ndarray, event: np.ndarray,
                 x: np.ndarray) -> None:
        self.x = x - x.mean(axis=0)
        self.event = event.astype(bool)
        self.times = np.unique(stop[self.event])
        self.order_stop = np.argsort(stop, kind="stable")
        self.order_start = np.argsort(start, kind="stable")
        self.at_stop = np.searchsorted(stop[self.order_stop], self.times, side="left")
        self.at_start = np.searchsorted(start[self.order_start], self.times, side="left")
        self.k_of_event = np.searchsorted(self.times, stop[self.event])
        self.d = np.bincount(self.k_of_event, minlength=self.times.size)
        self.kk = np.repeat(np.arange(self.times.size), self.d)
        first = np.repeat(np.cumsum(self.d) - self.d, self.d)
        self.frac = (np.arange(self.kk.size) - first) / self.d[self.kk]
        self.x_events_sum = self.x[self.event].sum(axis=0)

    def _risk(self, values: np.ndarray) -> np.ndarray:
        """Risk-set sums per event time: rows with ``stop ≥ t`` minus rows with ``start ≥ t``."""
        return (_tail_sums(values[self.order_stop])[self.at_stop]
                - _tail_sums(values[self.order_start])[self.at_start])

    def _ties(self, values: np.ndarray) -> np.ndarray:
        out = np.zeros((self.times.size, *values.shape[1:]))
        np.add.at(out, self.k_of_event, values[self.event])
        return out

    def evaluate(self, beta: np.ndarray, second: bool = True
                 ) -> tuple[float, np.ndarray, np.ndarray | None]:
        """``(ℓ(β), U(β), I(β))`` (``I`` only with ``second``)."""
        x = self.x
        eta = x @ beta
        r = np.exp(eta)
        rx = r[:, None] * x
        kk, frac = self.kk, self.frac
        phi = self._risk(r)[kk] - frac * self._ties(r)[kk]
        a = self._risk(rx)[kk] - frac[:, None] * self._ties(rx)[kk]
        loglik = float(eta[self.event].sum() - np.log(phi).sum())
        ratio = a / phi[:, None]
        grad = self.x_events_sum - ratio.sum(axis=0)
        if not second:
            return loglik, grad, None
        rxx = rx[:, :, None] * x[:, None, :]
        b = self._risk(rxx)[kk] - frac[:, None, None] * self._ties(rxx)[kk]
        info = (b / phi[:, None, None]).sum(axis=0) - ratio.T @ ratio
        return loglik, grad, info

    def tie_means(self, beta: np.ndarray) -> np.ndarray:
        """Efron mean of the covariates at each event time, ``(1/d_k) Σ_l a_l/φ_l``."""
        r = np.exp(self.x @ beta)
        rx = r[:, None] * self.x
        phi = self._risk(r)[self.kk] - self.frac * self._ties(r)[self.kk]
        a = self._risk(rx)[self.kk] - self.frac[:, None] * self._ties(rx)[self.kk]
        out = np.zeros((self.times.size, self.x.shape[1]))
        np.add.at(out, self.kk, a / (phi * self.d[self.kk])[:, None])
        return out


def efron_fit(start: np.ndarray, stop: np.ndarray, event: np.ndarray, x: np.ndarray, *,
              max_iterations: int = 200
              ) -> tuple[np.ndarray, np.ndarray, float, float, np.ndarray]:
    """Maximum partial-likelihood estimate of a Cox model on rows ``(start, stop]`` with Efron
    ties (module docstring, "Ties and convergence").

    Returns
    -------
    (beta, variance, loglik, loglik_null, infinite)
        Coefficients, their covariance ``I(β̂)⁻¹``, ``ℓ(β̂)``, ``ℓ(0)`` and per coefficient
        whether its estimate is infinite (monotone likelihood, e.g. a group without events): R's
        rule, the last Newton step ``|I⁻¹U|_j > 1e-9`` and ``> √1e-9 · |β_j|`` once ``ℓ`` has
        converged. Such a coefficient is where the iteration stopped (R stops elsewhere), so
        it, its standard error and every test that involves it are not estimates.

    Raises
    ------
    numpy.linalg.LinAlgError
        A singular information matrix (e.g. collinear covariates).
    """
    data = _EfronData(np.asarray(start, float), np.asarray(stop, float),
                      np.asarray(event, int), np.asarray(x, float))
    beta = np.zeros(data.x.shape[1])
    loglik, grad, info = data.evaluate(beta)
    loglik_null = loglik
    for _ in range(max_iterations):
        assert info is not None
        step = np.linalg.solve(info, grad)
        for _ in range(60):  # step halving: never accept a fall of the log-likelihood
            trial = beta + step
            new_loglik, new_grad, new_info = data.evaluate(trial)
            if np.isfinite(new_loglik) and new_loglik >= loglik - 1e-12 * abs(loglik):
                break
            step = step / 2.0
        change = abs(new_loglik - loglik)
        beta, loglik, grad, info = trial, new_loglik, new_grad, new_info
        if change <= 1e-14 * abs(loglik) or float(np.max(np.abs(step))) < 1e-11:
            break
    assert info is not None
    variance = np.linalg.inv(info)
    last_step = np.abs(variance @ grad)
    infinite = (last_step > 1e-9) & (last_step > math.sqrt(1e-9) * np.abs(beta))
    return beta, variance, loglik, loglik_null, infinite


def schoenfeld_rank_test(stop: np.ndarray, event: np.ndarray, x: np.ndarray,
                         beta: np.ndarray, variance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Grambsch–Therneau test of each coefficient on scaled Schoenfeld residuals against the
    rank of the event times (module docstring, "Proportional hazards"); right-censored rows.

    Returns
    -------
    (statistic, p_value)
        One 1-df chi-square per coefficient.
    """
    stop = np.asarray(stop, float)
    ev = np.asarray(event, int).astype(bool)
    data = _EfronData(np.full(stop.size, -np.inf), stop, ev.astype(int), np.asarray(x, float))
    means = data.tie_means(np.asarray(beta, float))
    order = np.argsort(stop[ev], kind="stable")
    resid = (data.x[ev] - means[data.k_of_event])[order]
    n_events = int(ev.sum())
    scaled = n_events * resid @ variance
    rank = np.arange(1, n_events + 1, dtype=float)
    g = rank - rank.mean()
    statistic = (g @ scaled) ** 2 / (n_events * np.diag(variance) * float(g @ g))
    return statistic, stats.chi2.sf(statistic, 1)


def _summary(coef: np.ndarray, var: np.ndarray, covariates: list[str],
             names: Mapping[str, list[str]], conf_level: float) -> pd.DataFrame:
    se = np.sqrt(np.diag(var))
    z = coef / se
    q = stats.norm.ppf(0.5 + conf_level / 2.0)
    with np.errstate(over="ignore"):  # a group without events: HR → 0 or ∞ (as R reports it)
        hr, lo, hi = np.exp(coef), np.exp(coef - q * se), np.exp(coef + q * se)
    term_of = {c: t for t, cols in names.items() for c in cols}
    return pd.DataFrame({
        "term": [term_of[c] for c in covariates], "covariate": covariates, "coef": coef, "se": se,
        "hr": hr, "hr_lower": lo, "hr_upper": hi,
        "z": z, "p_value": 2.0 * stats.norm.sf(np.abs(z)),
    }, columns=list(COEFFICIENT_COLUMNS))


def _wald(coef: np.ndarray, var: np.ndarray) -> tuple[float, int, float]:
    stat = float(coef @ np.linalg.solve(var, coef))
    df = int(coef.size)
    return stat, df, float(stats.chi2.sf(stat, df))


class _CoxBase:
    """Shared results of the two fitters."""

    conf_level: float
    coefficients_: pd.DataFrame
    variance_: np.ndarray
    terms_: dict[str, list[str]]
    n_: int
    events_: int
    log_likelihood_: float
    log_likelihood_null_: float

    def __init__(self, conf_level: float = 0.95) -> None:
        if not 0.0 < float(conf_level) < 1.0:
            raise InputError(f"expected a level in (0, 1), got {conf_level!r}",
                             source="cox model", field="conf_level")
        self.conf_level = float(conf_level)

    def _store(self, coef: np.ndarray, var: np.ndarray, covariates: list[str], ll: float,
               ll0: float, infinite: np.ndarray | None = None) -> None:
        self.variance_ = var
        self.coefficients_ = _summary(coef, var, covariates, self.terms_, self.conf_level)
        self.coefficients_["infinite_estimate"] = (np.zeros(coef.size, bool) if infinite is None
                                                   else np.asarray(infinite, bool))
        self.log_likelihood_ = float(ll)
        self.log_likelihood_null_ = float(ll0)
        self.lr_statistic_ = 2.0 * (self.log_likelihood_ - self.log_likelihood_null_)
        self.lr_df_ = int(coef.size)
        self.lr_p_value_ = float(stats.chi2.sf(self.lr_statistic_, self.lr_df_))
        self.wald_statistic_, self.wald_df_, self.wald_p_value_ = _wald(coef, var)

    def term_tests(self) -> pd.DataFrame:
        """Joint Wald test of each term's coefficients (one row per term)."""
        rows = []
        c = self.coefficients_
        for term, cols in self.terms_.items():
            idx = [int(i) for i in np.flatnonzero(c["covariate"].isin(cols).to_numpy())]
            if not idx:
                continue
            stat, df, p = _wald(c["coef"].to_numpy()[idx], self.variance_[np.ix_(idx, idx)])
            rows.append({"term": term, "wald_statistic": stat, "df": df, "p_value": p})
        return pd.DataFrame(rows, columns=["term", "wald_statistic", "df", "p_value"])

    def model_tests(self) -> dict[str, float]:
        """``n``, ``events``, log-likelihoods, likelihood-ratio and global Wald tests."""
        return {"n": self.n_, "events": self.events_,
                "log_likelihood_null": self.log_likelihood_null_,
                "log_likelihood": self.log_likelihood_,
                "lr_statistic": self.lr_statistic_, "lr_df": self.lr_df_,
                "lr_p_value": self.lr_p_value_, "wald_statistic": self.wald_statistic_,
                "wald_df": self.wald_df_, "wald_p_value": self.wald_p_value_}


def _check_time_event(d: pd.DataFrame, duration: str, event: str, source: str) -> None:
    for col in (duration, event):
        if col not in d.columns:
            raise InputError("missing column", source=source, field=col)
    t = pd.to_numeric(d[duration], errors="coerce")
    bad = t.isna() | (t < 0)
    if bad.any():
        raise InputError(f"row {d.index[bad.to_numpy()][0]!r}: expected a time ≥ 0, got "
                         f"{d[duration][bad].iloc[0]!r}", source=source, field=duration)
    e = pd.to_numeric(d[event], errors="coerce")
    if (~e.isin([0, 1])).any():
        raise InputError("expected event indicators 0/1", source=source, field=event)


class CoxModel(_CoxBase):
    """Cox proportional-hazards model (Efron ties) with R ``coxph``'s summary numbers.

    Parameters
    ----------
    conf_level
        Level of the hazard-ratio intervals.

    Attributes (after :meth:`fit`)
    ------------------------------
    coefficients_
        ``term``, ``covariate``, ``coef``, ``se``, ``hr``, ``hr_lower``, ``hr_upper``, ``z``,
        ``p_value``.
    variance_
        Covariance matrix of the coefficients.
    n_, events_
        Patients analysed (complete cases) and events among them.
    log_likelihood_, log_likelihood_null_
        Partial log-likelihood at the estimate and at ``β = 0``.
    lr_statistic_, lr_df_, lr_p_value_, wald_statistic_, wald_df_, wald_p_value_
        Likelihood-ratio and global Wald tests.
    ph_test_
        Schoenfeld-residual test per coefficient: ``covariate``, ``statistic``, ``p_value``
        (module docstring); ``None`` when it cannot be computed.
    """

    def fit(self, data: pd.DataFrame, duration_col: str, event_col: str, terms: Sequence[str],
            *, ph_test: bool = True, source: str = "cox model") -> Self:
        """Fit the model of ``terms`` to ``data`` (one row per patient)."""
        if not terms:
            raise InputError("expected at least one term", source=source, field="terms")
        _check_time_event(data, duration_col, event_col, source)
        x, self.terms_ = design_matrix(data, terms, source=source)
        d = x.copy()
        d["_time"] = pd.to_numeric(data.loc[x.index, duration_col]).astype(float)
        d["_event"] = pd.to_numeric(data.loc[x.index, event_col]).astype(int)
        self.n_, self.events_ = len(d), int(d["_event"].sum())
        covariates = list(x.columns)
        if self.events_ == 0 or not covariates:
            raise InputError(f"no events or no varying covariate among {self.n_} complete cases",
                             source=source, field=event_col)
        constant = [c for c in covariates if d[c].nunique() < 2]
        if constant:
            raise InputError(f"covariate(s) {constant} take a single value; expected variation",
                             source=source, field=constant[0])
        time = d["_time"].to_numpy(float)
        event = d["_event"].to_numpy(int)
        xs = d[covariates].to_numpy(float)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                coef, var, ll, ll0, infinite = efron_fit(np.full(time.size, -np.inf), time,
                                                         event, xs)
        except np.linalg.LinAlgError as exc:
            raise InputError(f"the model of {list(terms)} cannot be fitted to {self.n_} patients "
                             f"({str(exc).split('.')[0]})", source=source,
                             field=str(terms[0])) from None
        self._store(coef, var, covariates, ll, ll0, infinite)
        self.ph_test_: pd.DataFrame | None = None
        if ph_test:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                statistic, p_value = schoenfeld_rank_test(time, event, xs, coef, var)
            self.ph_test_ = pd.DataFrame({"covariate": covariates, "statistic": statistic,
                                          "p_value": p_value})
        return self


class TimeVaryingCoxModel(_CoxBase):
    """Cox model on counting-process data ``(start, stop]`` (Efron ties), e.g. with the
    cumulative kidney BED as a covariate that steps up at each cycle.

    Attributes as :class:`CoxModel` (no ``ph_test_``); ``n_`` counts patients, ``intervals_``
    rows.
    """

    def fit(self, data: pd.DataFrame, id_col: str, start_col: str, stop_col: str,
            event_col: str, terms: Sequence[str], *, source: str = "time-varying cox model"
            ) -> Self:
        """Fit ``terms`` to the intervals of ``data`` (an event flag on the last interval)."""
        for col in (id_col, start_col, stop_col, event_col):
            if col not in data.columns:
                raise InputError("missing column", source=source, field=col)
        start = pd.to_numeric(data[start_col], errors="coerce")
        stop = pd.to_numeric(data[stop_col], errors="coerce")
        bad = start.isna() | stop.isna() | ~(stop > start) | (start < 0)
        if bad.any():
            i = data.index[bad.to_numpy()][0]
            raise InputError(f"row {i!r}: expected 0 ≤ start < stop, got "
                             f"({data.at[i, start_col]!r}, {data.at[i, stop_col]!r}]",
                             source=source, field=stop_col)
        x, self.terms_ = design_matrix(data, terms, source=source)
        d = x.copy()
        d["_id"] = data.loc[x.index, id_col].to_numpy()
        d["_start"] = start.loc[x.index].astype(float)
        d["_stop"] = stop.loc[x.index].astype(float)
        d["_event"] = pd.to_numeric(data.loc[x.index, event_col]).astype(int)
        self.n_ = int(d["_id"].nunique())
        self.intervals_ = len(d)
        self.events_ = int(d["_event"].sum())
        covariates = list(x.columns)
        if self.events_ == 0 or not covariates:
            raise InputError("no events or no covariate", source=source, field=event_col)
        try:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                coef, var, ll, ll0, infinite = efron_fit(d["_start"].to_numpy(float),
                                               d["_stop"].to_numpy(float),
                                               d["_event"].to_numpy(int),
                                               d[covariates].to_numpy(float))
        except np.linalg.LinAlgError as exc:
            raise InputError(f"the model of {list(terms)} cannot be fitted to {self.n_} patients "
                             f"({str(exc).split('.')[0]})", source=source,
                             field=str(terms[0])) from None
        self._store(coef, var, covariates, ll, ll0, infinite)
        return self


def counting_process_bed(patients: pd.DataFrame, cycles: pd.DataFrame, endpoint: str,
                         covariates: Sequence[str] = (), *, source: str = "cycles"
                         ) -> pd.DataFrame:
    """Counting-process rows with the cumulative kidney BED reached so far.

    Time is months from inclusion. The cumulative BED is 0 until the first cycle and steps up by
    the cycle's BED on each administration date (the BED is counted when the cycle is given); a
    cycle on or after the patient's event or censoring time does not enter. Intervals of zero
    length (a cycle on the inclusion date) are merged away.

    Parameters
    ----------
    patients
        One row per patient (index ``patient_id``) with ``inclusion_date``,
        ``<endpoint>_months``, ``<endpoint>_event`` and the ``covariates`` (copied to every row).
    cycles
        ``patient_id``, ``administration_date``, ``kidney_bed_gy``.
    endpoint
        ``"pfs"``, ``"os"`` or ``"ttp"``.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``start_months``, ``stop_months``, ``event`` (1 only on the last row of a
        patient with an event), ``cumulative_bed_gy`` and the covariates.
    """
    from iluminet.trial.tables import DAYS_PER_MONTH, as_dates

    for col in ("patient_id", "administration_date", "kidney_bed_gy"):
        if col not in cycles.columns:
            raise InputError("missing column", source=source, field=col)
    tcol, ecol = f"{endpoint}_months", f"{endpoint}_event"
    for col in ("inclusion_date", tcol, ecol, *covariates):
        if col not in patients.columns:
            raise InputError("missing column", source="patients", field=col)
    cyc = cycles[cycles["patient_id"].isin(patients.index)]
    dates = as_dates(cyc["administration_date"], source=source, field="administration_date")
    inc = pd.to_datetime(patients["inclusion_date"]).reindex(cyc["patient_id"]).to_numpy()
    month = (dates.to_numpy() - inc) / np.timedelta64(1, "D") / DAYS_PER_MONTH
    bed = pd.to_numeric(cyc["kidney_bed_gy"], errors="coerce").to_numpy(float)
    if np.isnan(bed).any():
        i = int(np.flatnonzero(np.isnan(bed))[0])
        raise InputError(f"row {cyc.index[i]!r} (patient {cyc['patient_id'].iloc[i]!r}): kidney "
                         "BED missing; expected a number for every cycle", source=source,
                         field="kidney_bed_gy")
    # Change points per patient (whole-table operations): inclusion (t = 0, BED 0), each cycle
    # before the patient's end time (t clipped at 0, the cumulative BED after it) and the end
    # time; an interval runs from each point to the next, at the level of its first point, and
    # intervals of zero length are dropped (several cycles on one day, a cycle at inclusion).
    end_time = pd.to_numeric(patients[tcol]).to_numpy(float)
    end_event = pd.to_numeric(patients[ecol]).to_numpy(int)
    position = pd.Series(np.arange(len(patients)), index=patients.index)
    pos = position.reindex(cyc["patient_id"]).to_numpy()
    keep = month < end_time[pos]
    steps = pd.DataFrame({"p": pos[keep], "t": np.maximum(month[keep], 0.0), "bed": bed[keep]})
    steps = steps.sort_values(["p", "t"], kind="stable")
    steps["level"] = steps.groupby("p", sort=False)["bed"].cumsum()
    n = len(patients)
    points = pd.concat([
        pd.DataFrame({"p": np.arange(n), "t": 0.0, "level": 0.0, "kind": 0}),
        steps[["p", "t", "level"]].assign(kind=1),
        pd.DataFrame({"p": np.arange(n), "t": end_time, "level": np.nan, "kind": 2}),
    ], ignore_index=True).sort_values(["p", "t", "kind"], kind="stable")
    p_arr, t_arr = points["p"].to_numpy(), points["t"].to_numpy(float)
    level, kind = points["level"].to_numpy(float), points["kind"].to_numpy()
    same = p_arr[:-1] == p_arr[1:]
    interval = same & (kind[:-1] != 2) & (t_arr[1:] > t_arr[:-1])
    first = np.flatnonzero(interval)
    ids = patients.index.to_numpy()[p_arr[first]]
    starts, stops, cum = t_arr[first], t_arr[first + 1], level[first]
    events = np.where(kind[first + 1] == 2, end_event[p_arr[first]], 0)
    out = pd.DataFrame({"patient_id": ids, "start_months": starts, "stop_months": stops,
                        "event": events.astype(int), "cumulative_bed_gy": cum})
    if covariates:
        cov = patients[list(covariates)].reindex(out["patient_id"]).reset_index(drop=True)
        out = pd.concat([out, cov], axis=1)
    return out


def coefficient_records(model: _CoxBase) -> list[dict[str, Any]]:
    """Coefficients as plain records (NaN → None), for ``efficacy.json``."""
    def plain(v: Any) -> Any:
        if isinstance(v, (float, np.floating)):
            return None if math.isnan(v) else float(v)
        return v

    return [{str(k): plain(v) for k, v in r.items()}
            for r in model.coefficients_.to_dict("records")]
