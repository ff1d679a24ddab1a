"""Haematological dose–response: blood-count nadirs and toxicity against the red-marrow dose.

Per given cycle (:func:`cycle_nadirs`): the platelet and neutrophil nadirs between the cycle and
the next one (or ``window_days`` after it), as a fraction of the patient's baseline and as the
worst CTCAE grade of the window, with the cycle's marrow dose (``cycles.marrow_dose_gy``), the
cumulative marrow dose up to and including it, and the cumulative kidney BED for comparison.

:func:`logistic_fit` fits P(grade ≥ 3) = 1 / (1 + exp(−(β0 + β1·x))) by maximum likelihood
(Newton–Raphson / IRLS; standard errors from the inverse Fisher information, Wald intervals) —
the same estimator as R's ``glm(family = binomial)``, against which it is checked in the tests.
:func:`loglinear_nadir_fit` fits ln(nadir/baseline) = β0 + β1·D by least squares (the exponential
dose–survival form).

Counting is per cycle; the cycles of a patient are not independent (shared sensitivity), so the
standard errors are optimistic — per-patient (cumulative) analyses are shown beside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from iluminet.errors import InputError

__all__ = ["LogisticFit", "cycle_nadirs", "logistic_fit", "loglinear_nadir_fit",
           "terminations_with_marrow"]

_TESTS = ("platelets", "neutrophils")


def cycle_nadirs(graded_labs: pd.DataFrame, cycles: pd.DataFrame, *,
                 window_days: int = 70) -> pd.DataFrame:
    """One row per given cycle with nadirs, grades and doses (module notes).

    ``graded_labs`` is :func:`iluminet.trial.safety.grade_labs` output (``value_canonical``,
    ``grade``, ``is_baseline``); ``cycles`` the cohort's cycles table with ``marrow_dose_gy``.
    """
    for col in ("patient_id", "cycle", "administration_date", "marrow_dose_gy", "kidney_bed_gy"):
        if col not in cycles.columns:
            raise InputError(f"missing column {col!r}", source="cycles", field=col)
    cyc = cycles.sort_values(["patient_id", "cycle"]).copy()
    cyc["administration_date"] = pd.to_datetime(cyc["administration_date"])
    cyc["marrow_dose_gy"] = pd.to_numeric(cyc["marrow_dose_gy"], errors="coerce")
    cyc["kidney_bed_gy"] = pd.to_numeric(cyc["kidney_bed_gy"], errors="coerce")
    cyc["cumulative_marrow_dose_gy"] = cyc.groupby("patient_id")["marrow_dose_gy"].cumsum()
    cyc["cumulative_kidney_bed_gy"] = cyc.groupby("patient_id")["kidney_bed_gy"].cumsum()
    nxt = cyc.groupby("patient_id")["administration_date"].shift(-1)
    cyc["window_end"] = np.minimum(
        nxt.fillna(pd.Timestamp.max).to_numpy(dtype="datetime64[ns]"),
        (cyc["administration_date"] + pd.Timedelta(days=window_days)).to_numpy(
            dtype="datetime64[ns]"))
    labs = graded_labs[graded_labs["test"].isin(_TESTS)]
    out = cyc[["patient_id", "cycle", "administration_date", "marrow_dose_gy",
               "cumulative_marrow_dose_gy", "kidney_bed_gy", "cumulative_kidney_bed_gy"]].copy()
    for test in _TESTS:
        rows = labs[labs["test"] == test]
        base = rows[rows["is_baseline"]].groupby("patient_id")["value_canonical"].last()
        nadir, grade = [], []
        by_pid = {pid: g for pid, g in rows.groupby("patient_id")}
        for _, c in cyc.iterrows():
            g = by_pid.get(c["patient_id"])
            if g is None:
                nadir.append(np.nan)
                grade.append(np.nan)
                continue
            w = g[(g["date"] > c["administration_date"]) & (g["date"] < c["window_end"])]
            nadir.append(float(w["value_canonical"].min()) if len(w) else np.nan)
            gr = pd.to_numeric(w["grade"], errors="coerce")
            grade.append(float(gr.max()) if gr.notna().any() else np.nan)
        out[f"{test}_nadir"] = nadir
        out[f"{test}_nadir_fraction"] = out[f"{test}_nadir"] / out["patient_id"].map(base)
        out[f"{test}_grade"] = grade
    out["haem_grade"] = out[[f"{t}_grade" for t in _TESTS]].max(axis=1)
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class LogisticFit:
    """P(y = 1) = expit(β0 + β1·x): estimates, SEs, Wald 95 % intervals, deviance, n, events."""

    intercept: float
    slope: float
    intercept_se: float
    slope_se: float
    slope_ci: tuple[float, float]
    slope_p: float
    deviance: float
    n: int
    events: int
    converged: bool

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.intercept + self.slope * np.asarray(x, dtype=float))))

    @property
    def x_at_10_percent(self) -> float:
        """x where the fitted probability is 10 % (NaN for a non-positive slope)."""
        return (math.log(1 / 9) - self.intercept) / self.slope if self.slope > 0 else math.nan


def logistic_fit(x: np.ndarray, y: np.ndarray, *, max_iter: int = 100) -> LogisticFit:
    """Maximum-likelihood logistic regression of binary ``y`` on ``x`` (IRLS)."""
    xv = np.asarray(x, dtype=float)
    yv = np.asarray(y, dtype=float)
    keep = np.isfinite(xv) & np.isfinite(yv)
    xv, yv = xv[keep], yv[keep]
    if not np.all(np.isin(yv, (0.0, 1.0))):
        raise InputError("outcome must be 0/1", source="logistic fit", field="y")
    if xv.size < 3 or yv.sum() in (0, xv.size):
        raise InputError(f"need ≥ 3 observations with both outcomes; got n={xv.size}, "
                         f"events={int(yv.sum())}", source="logistic fit", field="y")
    design = np.column_stack([np.ones_like(xv), xv])
    beta = np.zeros(2)
    converged = False
    for _ in range(max_iter):
        eta = design @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        w = p * (1 - p)
        info = design.T @ (design * w[:, None])
        step = np.linalg.solve(info, design.T @ (yv - p))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            converged = True
            break
    p = 1.0 / (1.0 + np.exp(-(design @ beta)))
    info = design.T @ (design * (p * (1 - p))[:, None])
    cov = np.linalg.inv(info)
    se = np.sqrt(np.diag(cov))
    eps = 1e-300
    deviance = float(-2 * np.sum(yv * np.log(p + eps) + (1 - yv) * np.log(1 - p + eps)))
    z = beta[1] / se[1]
    return LogisticFit(float(beta[0]), float(beta[1]), float(se[0]), float(se[1]),
                       (float(beta[1] - 1.959964 * se[1]), float(beta[1] + 1.959964 * se[1])),
                       float(2 * stats.norm.sf(abs(z))), deviance, int(xv.size), int(yv.sum()),
                       converged)


def loglinear_nadir_fit(dose_gy: np.ndarray, nadir_fraction: np.ndarray) -> dict[str, float]:
    """Least squares ln(nadir/baseline) = β0 + β1·D; D0 = −1/β1 (Gy), r, p, n."""
    d = np.asarray(dose_gy, dtype=float)
    f = np.asarray(nadir_fraction, dtype=float)
    keep = np.isfinite(d) & np.isfinite(f) & (f > 0)
    res = stats.linregress(d[keep], np.log(f[keep]))
    return {"intercept": float(res.intercept), "slope_per_gy": float(res.slope),
            "d0_gy": float(-1.0 / res.slope) if res.slope < 0 else math.nan,
            "r": float(res.rvalue), "p": float(res.pvalue), "n": int(keep.sum())}


def terminations_with_marrow(terminations: pd.DataFrame, cycles: pd.DataFrame) -> pd.DataFrame:
    """The toxicity terminations (:func:`iluminet.trial.safety.toxicity_terminations`) with each
    patient's cumulative and last-cycle marrow dose and cumulative kidney BED."""
    cyc = cycles.sort_values(["patient_id", "cycle"])
    per = cyc.groupby("patient_id").agg(
        cumulative_marrow_dose_gy=("marrow_dose_gy", "sum"),
        last_cycle_marrow_dose_gy=("marrow_dose_gy", "last"),
        cumulative_kidney_bed_gy=("kidney_bed_gy", "sum"))
    return terminations.merge(per, left_on="patient_id", right_index=True, how="left")
