"""The vectorised Efron fitter of iluminet.trial.cox against lifelines (R: tests/test_cox_vs_r.py).

lifelines' fitters loop over event times in Python; :func:`iluminet.trial.cox.efron_fit` uses
cumulative sums. Both maximise the same Efron partial likelihood, so coefficients, standard errors
and log-likelihoods agree to the convergence tolerance; the Schoenfeld rank test agrees with
``lifelines.statistics.proportional_hazard_test`` on data without tied event times (with ties
its ranks depend on the row order, module docstring).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from iluminet.trial.cox import (
    CoxModel,
    TimeVaryingCoxModel,
    efron_fit,
    schoenfeld_rank_test,
)


def _data(n: int, seed: int, resolution: float | None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    g = rng.choice([0.0, 1.0], n, p=[0.6, 0.4])
    t = rng.exponential(20.0 * np.exp(-(0.5 * x1 - 0.4 * g)))
    c = rng.uniform(2, 60, n)
    time = np.minimum(t, c)
    if resolution is not None:
        time = np.maximum(np.round(time / resolution) * resolution, resolution)
    return pd.DataFrame({"time": time, "event": (t <= c).astype(int), "x1": x1, "g": g})


@pytest.mark.parametrize("resolution", [None, 0.5])
def test_right_censored_fit_equals_lifelines(resolution):
    from lifelines import CoxPHFitter

    d = _data(400, 3, resolution)
    mine = CoxModel().fit(d, "time", "event", ["x1", "g"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CoxPHFitter().fit(d[["time", "event", "x1", "g"]], "time", "event",
                                fit_options={"precision": 1e-12, "r_precision": 1e-15,
                                             "max_steps": 200})
    np.testing.assert_allclose(mine.coefficients_["coef"], ref.params_[["x1", "g"]], rtol=1e-7)
    np.testing.assert_allclose(mine.coefficients_["se"], ref.standard_errors_[["x1", "g"]],
                               rtol=1e-7)
    assert mine.log_likelihood_ == pytest.approx(ref.log_likelihood_, rel=1e-10)
    if resolution is None:  # no ties: the rank test is defined without an order convention
        from lifelines.statistics import proportional_hazard_test

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ph = proportional_hazard_test(ref, d[["time", "event", "x1", "g"]],
                                          time_transform="rank").summary
        np.testing.assert_allclose(mine.ph_test_["statistic"],
                                   ph.loc[["x1", "g"], "test_statistic"], rtol=1e-6)
        np.testing.assert_allclose(mine.ph_test_["p_value"], ph.loc[["x1", "g"], "p"],
                                   rtol=1e-6)


def test_counting_process_fit_equals_lifelines():
    from lifelines import CoxTimeVaryingFitter

    rng = np.random.default_rng(5)
    rows = []
    for i in range(250):
        end = float(np.round(rng.exponential(30.0) + 0.5, 1))
        ev = int(rng.random() < 0.7)
        t0, cum = 0.0, 0.0
        for _ in range(int(rng.integers(1, 7))):
            t = float(np.round(t0 + rng.uniform(1.5, 3.5), 1))
            if t >= end:
                break
            rows.append((i, t0, t, 0, cum))
            t0, cum = t, cum + float(rng.uniform(3, 6))
        rows.append((i, t0, end, ev, cum))
    d = pd.DataFrame(rows, columns=["id", "start", "stop", "event", "cum"])
    mine = TimeVaryingCoxModel().fit(d, "id", "start", "stop", "event", ["cum"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CoxTimeVaryingFitter().fit(d, id_col="id", event_col="event", start_col="start",
                                         stop_col="stop",
                                         fit_options={"precision": 1e-12, "r_precision": 1e-15,
                                                      "max_steps": 200})
    assert mine.coefficients_["coef"].iloc[0] == pytest.approx(ref.params_["cum"], rel=1e-7)
    assert mine.coefficients_["se"].iloc[0] == pytest.approx(ref.standard_errors_["cum"],
                                                             rel=1e-7)
    assert mine.log_likelihood_ == pytest.approx(ref.log_likelihood_, rel=1e-10)


def test_a_collinear_design_is_refused():
    d = _data(50, 1, None)
    x = np.column_stack([d["x1"], 2 * d["x1"]])
    with pytest.raises(np.linalg.LinAlgError):
        efron_fit(np.full(50, -np.inf), d["time"].to_numpy(), d["event"].to_numpy(), x)


def test_schoenfeld_test_is_zero_mean_free():
    """Shifting a covariate changes neither the fit nor the rank test (centring inside)."""
    d = _data(200, 9, None)
    x = d[["x1", "g"]].to_numpy()
    beta, var, ll, _, _ = efron_fit(np.full(200, -np.inf), d["time"].to_numpy(),
                                 d["event"].to_numpy(), x)
    beta2, var2, ll2, _, _ = efron_fit(np.full(200, -np.inf), d["time"].to_numpy(),
                                    d["event"].to_numpy(), x + 100.0)
    np.testing.assert_allclose(beta, beta2, rtol=1e-9)
    assert ll == pytest.approx(ll2, rel=1e-12)
    a = schoenfeld_rank_test(d["time"].to_numpy(), d["event"].to_numpy(), x, beta, var)[0]
    b = schoenfeld_rank_test(d["time"].to_numpy(), d["event"].to_numpy(), x + 100.0, beta2,
                             var2)[0]
    np.testing.assert_allclose(a, b, rtol=1e-8)


def _counting_process_reference(patients: pd.DataFrame, cycles: pd.DataFrame, endpoint: str
                                ) -> pd.DataFrame:
    """The per-patient loop that :func:`counting_process_bed` replaced (kept to check it)."""
    from iluminet.units import DAYS_PER_MONTH

    inc = pd.to_datetime(patients["inclusion_date"])
    rows = []
    for pid, p in patients.iterrows():
        mine = cycles[cycles["patient_id"] == pid]
        t = ((pd.to_datetime(mine["administration_date"]) - inc[pid]).dt.days
             / DAYS_PER_MONTH).to_numpy()
        order = np.argsort(t, kind="stable")
        t, b = t[order], np.cumsum(mine["kidney_bed_gy"].to_numpy(float)[order])
        t_end, ev = float(p[f"{endpoint}_months"]), int(p[f"{endpoint}_event"])
        level, t0 = 0.0, 0.0
        for ti, bi in zip(t, b, strict=True):
            if ti >= t_end:
                break
            if ti > t0:
                rows.append((pid, t0, ti, 0, level))
                t0 = ti
            level = float(bi)
        if t_end > t0:
            rows.append((pid, t0, t_end, ev, level))
    return pd.DataFrame(rows, columns=["patient_id", "start_months", "stop_months", "event",
                                       "cumulative_bed_gy"])


def test_counting_process_rows_equal_the_per_patient_loop():
    from iluminet.trial.cox import counting_process_bed

    rng = np.random.default_rng(12)
    n = 300
    inclusion = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 400, n), "D")
    ids = [f"P{i:03d}" for i in range(n)]
    patients = pd.DataFrame({"inclusion_date": inclusion,
                             "os_months": np.round(rng.exponential(20.0, n), 2),
                             "os_event": rng.integers(0, 2, n)}, index=pd.Index(ids))
    patients.iloc[0, 1] = 0.0  # time 0: no interval at risk
    rows = []
    for i, pid in enumerate(ids):
        day = int(rng.integers(-3, 20))  # some cycles before inclusion, some on it
        for _ in range(int(rng.integers(0, 7))):
            rows.append((pid, (inclusion[i] + pd.Timedelta(days=day)).date().isoformat(),
                         float(rng.uniform(3, 6))))
            day += int(rng.choice([0, 70, 84]))  # two cycles on one day at times
    cycles = pd.DataFrame(rows, columns=["patient_id", "administration_date", "kidney_bed_gy"])
    got = counting_process_bed(patients, cycles, "os")
    want = _counting_process_reference(patients, cycles, "os")
    assert len(got) == len(want) > n
    assert list(got["patient_id"]) == list(want["patient_id"])
    for col in ("start_months", "stop_months", "cumulative_bed_gy"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-12, atol=1e-12)
    assert list(got["event"]) == list(want["event"])


def test_a_group_without_events_is_an_infinite_estimate():
    """Monotone likelihood: nobody in group B has an event, so its log hazard ratio has no
    finite maximum; the coefficient is marked (R warns "coefficient may be infinite")."""
    d = _data(300, 4, None)
    d["grp"] = np.where(np.arange(300) % 5 == 0, "B", "A")
    d.loc[d["grp"] == "B", "event"] = 0
    m = CoxModel().fit(d, "time", "event", ["grp", "x1"])
    flags = dict(zip(m.coefficients_["covariate"], m.coefficients_["infinite_estimate"],
                     strict=True))
    assert flags == {"grp[B]": True, "x1": False}
    assert m.coefficients_.set_index("covariate").at["grp[B]", "coef"] < -10
