"""Cox proportional-hazards models of the trial's time-to-event endpoints (lifelines), as R's
``survival::coxph`` computes them.

Two fitters, lifelines-style (``fit()`` returns ``self``, results in trailing-underscore
attributes):

* :class:`CoxModel` — right-censored data, one row per patient (``lifelines.CoxPHFitter``);
* :class:`TimeVaryingCoxModel` — counting-process data ``(start, stop]``, one row per interval in
  which the covariates are constant (``lifelines.CoxTimeVaryingFitter``), for covariates that
  change after baseline such as the cumulative kidney BED (:func:`counting_process_bed`).

Ties and convergence
--------------------
Both lifelines fitters use **Efron's** approximation for tied event times, which is also R's
``coxph`` default (``ties = "efron"``); Breslow is not offered by lifelines, so the R cross-check
(``tests/test_cox_vs_r.py``) runs ``coxph(..., ties = "efron")``. The Newton–Raphson iteration is
run to a step norm below ``1e-12`` (lifelines' default stops at a relative log-likelihood change of
``1e-9``, which leaves the coefficients ≈ 1e-5 relative from the optimum); R is run with
``coxph.control(eps = 1e-12)``. Coefficients, standard errors, Wald and likelihood-ratio
statistics and p-values then agree with R to 1e-6 relative.

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
residuals against the rank of the event times (``lifelines.statistics.proportional_hazard_test``
with ``time_transform="rank"``): one 1-df chi-square per coefficient. This is the approximate test
that R's ``cox.zph`` computed before ``survival`` 3.0; current R computes an exact score test, so
these p-values are *not* part of the R cross-check (they agree with current R only
approximately). No PH test is computed for the time-varying model.

Design matrix
-------------
:func:`design_matrix` turns the named terms into numeric columns: a categorical term gives one
indicator per level against its first (reference) level, named ``term[level]``; a numeric term
is used as it is. Rows with a missing value in any term, and levels nobody has, are dropped
(complete-case analysis; the number analysed is ``n_``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from scipy import stats

from iluminet.errors import InputError

__all__ = [
    "FIT_OPTIONS",
    "CoxModel",
    "TimeVaryingCoxModel",
    "counting_process_bed",
    "design_matrix",
]

#: Newton–Raphson settings passed to lifelines (see the module docstring).
FIT_OPTIONS: dict[str, float] = {"precision": 1e-12, "r_precision": 1e-15, "max_steps": 200}

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
               ll0: float) -> None:
        self.variance_ = var
        self.coefficients_ = _summary(coef, var, covariates, self.terms_, self.conf_level)
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
        from lifelines import CoxPHFitter

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
        from lifelines.exceptions import ConvergenceError

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cph = CoxPHFitter().fit(d, "_time", "_event", fit_options=dict(FIT_OPTIONS))
        except (ConvergenceError, np.linalg.LinAlgError, ValueError) as exc:
            raise InputError(f"the model of {list(terms)} cannot be fitted to {self.n_} patients "
                             f"({str(exc).split('.')[0]})", source=source,
                             field=str(terms[0])) from None
        coef = cph.params_.loc[covariates].to_numpy(float)
        var = cph.variance_matrix_.loc[covariates, covariates].to_numpy(float)
        ll0 = float(cph.log_likelihood_) - 0.5 * float(
            cph.log_likelihood_ratio_test().test_statistic)
        self._store(coef, var, covariates, float(cph.log_likelihood_), ll0)
        self.ph_test_: pd.DataFrame | None = None
        if ph_test:
            self.ph_test_ = self._ph_test(cph, d, covariates)
        return self

    @staticmethod
    def _ph_test(cph: Any, d: pd.DataFrame, covariates: list[str]) -> pd.DataFrame | None:
        from lifelines.statistics import proportional_hazard_test

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = proportional_hazard_test(cph, d, time_transform="rank")
        except (ValueError, np.linalg.LinAlgError, ZeroDivisionError):
            return None
        s = res.summary
        return pd.DataFrame({"covariate": [str(i) for i in s.index],
                             "statistic": s["test_statistic"].to_numpy(float),
                             "p_value": s["p"].to_numpy(float)}).set_index("covariate").reindex(
            covariates).reset_index()


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
        from lifelines import CoxTimeVaryingFitter

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
        from lifelines.exceptions import ConvergenceError

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ctv = CoxTimeVaryingFitter().fit(d, id_col="_id", event_col="_event",
                                                 start_col="_start", stop_col="_stop",
                                                 fit_options=dict(FIT_OPTIONS))
        except (ConvergenceError, np.linalg.LinAlgError, ValueError) as exc:
            raise InputError(f"the model of {list(terms)} cannot be fitted to {self.n_} patients "
                             f"({str(exc).split('.')[0]})", source=source,
                             field=str(terms[0])) from None
        order = [list(ctv.params_.index).index(c) for c in covariates]
        coef = ctv.params_.to_numpy(float)[order]
        # lifelines labels this matrix's axes inconsistently; its order is that of params_
        var = np.asarray(ctv.variance_matrix_, dtype=float)[np.ix_(order, order)]
        ll0 = float(ctv.log_likelihood_) - 0.5 * float(
            ctv.log_likelihood_ratio_test().test_statistic)
        self._store(coef, var, covariates, float(ctv.log_likelihood_), ll0)
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
    steps = pd.DataFrame({"patient_id": cyc["patient_id"].to_numpy(), "t": month, "bed": bed})
    steps = steps.sort_values(["patient_id", "t"], kind="stable")
    by_patient = {pid: g for pid, g in steps.groupby("patient_id", sort=False)}
    ids, starts, stops, events, cum = [], [], [], [], []
    end_time = pd.to_numeric(patients[tcol]).to_numpy(float)
    end_event = pd.to_numeric(patients[ecol]).to_numpy(int)
    for pid, t_end, ev in zip(patients.index, end_time, end_event, strict=True):
        g = by_patient.get(pid)
        change_t: np.ndarray = np.zeros(0) if g is None else g["t"].to_numpy()
        change_b: np.ndarray = np.zeros(0) if g is None else np.cumsum(g["bed"].to_numpy())
        level, t0 = 0.0, 0.0
        for t, b in zip(change_t, change_b, strict=True):
            if t >= t_end:
                break
            if t > t0:
                ids.append(pid)
                starts.append(t0)
                stops.append(t)
                events.append(0)
                cum.append(level)
                t0 = t
            level = float(b)
        if t_end > t0:  # a patient with time 0 has no interval at risk
            ids.append(pid)
            starts.append(t0)
            stops.append(t_end)
            events.append(int(ev))
            cum.append(level)
    out = pd.DataFrame({"patient_id": ids, "start_months": starts, "stop_months": stops,
                        "event": events, "cumulative_bed_gy": cum})
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
