"""QoL analysis: known answers on hand-built scores, the mixed model on data of known truth, the
analysis of a generated cohort and its results files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iluminet.errors import InputError
from iluminet.synthetic.trial import generate_cohort
from iluminet.trial.qol_analysis import (
    QolParameters,
    _assign_windows,
    _responders,
    _with_change,
    deterioration_times,
    fit_ghs_mixed_model,
    qol_analysis,
    write_qol_outputs,
)
from iluminet.units import DAYS_PER_MONTH

INC = pd.Timestamp("2020-01-01")


def _scores(rows: list[tuple[str, str, float, str, float]]) -> pd.DataFrame:
    """(patient, visit, months, scale, score) → the layout of score_qol."""
    out = pd.DataFrame(rows, columns=["patient_id", "visit", "months", "scale", "score"])
    out["date"] = INC + pd.to_timedelta(np.round(out["months"] * DAYS_PER_MONTH), unit="D")
    out["months"] = (out["date"] - INC).dt.days / DAYS_PER_MONTH
    out["questionnaire"] = "QLQ-C30"
    return out[["patient_id", "visit", "date", "months", "questionnaire", "scale", "score"]]


EVENTS = pd.DataFrame({"patient_id": ["A", "B", "C", "D"],
                       "death_date": [pd.NaT, INC + pd.Timedelta(days=400), pd.NaT, pd.NaT]})
INCLUSION = pd.Series(INC, index=["A", "B", "C", "D"])


def test_time_to_deterioration_known_answers():
    s = _scores([
        # A: global health 70 → 65 (−5) → 58 (−12: deterioration at the third visit)
        ("A", "baseline", 0.0, "QL2", 70), ("A", "C2", 2.0, "QL2", 65),
        ("A", "FU3", 6.0, "QL2", 58),
        # B: exactly 10 worse counts (≥ MID); a fatigue rise of 10 is deterioration too
        ("B", "baseline", 0.0, "QL2", 50), ("B", "C2", 3.0, "QL2", 40),
        ("B", "baseline", 0.0, "FA", 20), ("B", "C2", 3.0, "FA", 30),
        # C: never 10 worse → censored at the last questionnaire (9 months)
        ("C", "baseline", 0.0, "QL2", 80), ("C", "C2", 3.0, "QL2", 90),
        ("C", "FU3", 9.0, "QL2", 71),
        # D: no baseline → not evaluable
        ("D", "C2", 3.0, "QL2", 10),
    ])
    ql = deterioration_times(s, EVENTS, "QL2", mid=10).set_index("patient_id")
    assert list(ql.index) == ["A", "B", "C"]
    assert ql.loc["A", "event"] == 1 and ql.loc["A", "time_months"] == pytest.approx(
        s.loc[(s.patient_id == "A") & (s.visit == "FU3"), "months"].iloc[0])
    assert ql.loc["B", "event"] == 1 and ql.loc["B", "reason"] == "deterioration"
    assert ql.loc["C", "event"] == 0 and ql.loc["C", "time_months"] == pytest.approx(
        s.loc[(s.patient_id == "C") & (s.visit == "FU3"), "months"].iloc[0])
    fa = deterioration_times(s, EVENTS, "FA", mid=10).set_index("patient_id")
    assert fa.loc["B", "event"] == 1  # symptom scale: higher is worse
    # a fatigue fall of 10 is an improvement, not a deterioration
    improved = s.copy()
    improved.loc[(improved.patient_id == "B") & (improved.scale == "FA"), "score"] = [30, 20]
    assert deterioration_times(improved, EVENTS, "FA", mid=10)["event"].tolist() == [0]


def test_death_as_event_option():
    s = _scores([("B", "baseline", 0.0, "QL2", 50), ("B", "C2", 3.0, "QL2", 48)])
    censored = deterioration_times(s, EVENTS, "QL2")
    assert censored["event"].tolist() == [0]
    dead = deterioration_times(s, EVENTS, "QL2", death_as_event=True, inclusion=INCLUSION)
    assert dead["event"].tolist() == [1] and dead["reason"].tolist() == ["death"]
    assert dead["time_months"].iloc[0] == pytest.approx(400 / DAYS_PER_MONTH)


def test_windows_keep_the_questionnaire_nearest_the_nominal_time():
    s = _scores([("A", "baseline", -0.2, "QL2", 70), ("A", "C2", 2.0, "QL2", 60),
                 ("A", "C3", 4.4, "QL2", 50), ("A", "FU3", 5.6, "QL2", 40),
                 ("A", "FU6", 40.0, "QL2", 30)])
    w = _assign_windows(s, 3.0, 36.0)
    assert w[["visit", "timepoint"]].values.tolist() == [["baseline", 0.0], ["C2", 3.0],
                                                         ["FU3", 6.0]]


def test_responders_by_the_mid():
    rows = [(f"P{i}", "baseline", 0.0, "QL2", 50) for i in range(6)]
    changes = [10, 9.9, 0, -9.9, -10, -30]  # improved, stable ×3, worsened ×2
    rows += [(f"P{i}", "C2", 3.0, "QL2", 50 + d) for i, d in enumerate(changes)]
    rows += [(f"P{i}", "baseline", 0.0, "FA", 50) for i in range(6)]
    rows += [(f"P{i}", "C2", 3.0, "FA", 50 + d) for i, d in enumerate(changes)]
    w = _with_change(_assign_windows(_scores(rows), 3.0, 36.0))
    r = _responders(w, 10.0, 1).set_index("scale")
    assert r.loc["QL2", ["improved", "stable", "worsened"]].tolist() == [1, 3, 2]
    assert r.loc["FA", ["improved", "stable", "worsened"]].tolist() == [2, 3, 1]  # reversed


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=2, max_size=8))
def test_deterioration_time_is_the_first_visit_10_points_worse(values):
    rows = [("A", "baseline" if k == 0 else f"V{k}", 3.0 * k, "QL2", v)
            for k, v in enumerate(values)]
    s = _scores(rows)
    d = deterioration_times(s, EVENTS, "QL2").iloc[0]
    worse = [k for k, v in enumerate(values) if k > 0 and v <= values[0] - 10]
    expected_k = worse[0] if worse else len(values) - 1
    assert d["event"] == int(bool(worse))
    assert d["time_months"] == pytest.approx(s["months"].iloc[expected_k])


def test_mixed_model_recovers_known_fixed_effects():
    """Ground truth: scores drawn from the model itself (agreement expected by construction)."""
    rng = np.random.default_rng(7)
    rows = []
    levels = ["< 25 Gy", "25–29 Gy", "> 29 Gy"]
    truth = {"(Intercept)": 62.0, "months": -0.5, "bed_group[25–29 Gy]": 4.0,
             "bed_group[> 29 Gy]": -6.0}
    effect = {"< 25 Gy": 0.0, "25–29 Gy": 4.0, "> 29 Gy": -6.0}
    for i in range(600):
        g = levels[i % 3]
        b = rng.normal(0, 12)
        for t in (0.0, 3.0, 6.0, 9.0, 12.0):
            rows.append((f"S{i}", t, g, 62 + b - 0.5 * t + effect[g] + rng.normal(0, 6)))
    data = pd.DataFrame(rows, columns=["patient_id", "months", "bed_group", "score"])
    data["bed_group"] = pd.Categorical(data["bed_group"], categories=levels, ordered=True)
    fit = fit_ghs_mixed_model(data)
    fixed = fit["fixed_effects"].set_index("term")
    for term, value in truth.items():
        est, se = fixed.loc[term, "estimate"], fixed.loc[term, "std_error"]
        assert abs(est - value) < 4 * se, term
    assert np.sqrt(fit["random_effects_cov"][0][0]) == pytest.approx(12, rel=0.1)
    assert np.sqrt(fit["residual_variance"]) == pytest.approx(6, rel=0.05)
    with pytest.raises(InputError):
        fit_ghs_mixed_model(data.assign(score=np.where(data.index == 0, np.nan, data["score"])))


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(6, 40, fast=True).validated()


@pytest.fixture(scope="module")
def results(cohort):
    return qol_analysis(cohort.patients, cohort.cycles, cohort.events, cohort.qol)


def test_analysis_of_a_generated_cohort(results, cohort):
    c = results.counts
    assert c["treated"] == int(cohort.patients["treated"].sum())
    assert 0 < c["with_baseline_c30"] <= c["patients_with_questionnaires"] <= c["treated"]
    comp = results.completion
    assert comp.iloc[0]["expected"] == c["treated"]
    assert (comp["c30_received"] <= comp["expected"]).all()
    assert (comp["expected"].diff().dropna() <= 0).all()  # fewer patients expected over time
    m = results.means
    assert ((m["lower"] <= m["mean"]) & (m["mean"] <= m["upper"])).all()
    assert set(results.deterioration_summary["scale"]) == set(
        results.parameters.deterioration_scales)
    r = results.responders
    assert ((r["improved"] + r["stable"] + r["worsened"]) == r["n"]).all()
    km = results.km("QL2")
    assert km.n_ == int(results.deterioration_summary.set_index("scale").at["QL2", "n"])


def test_results_files_with_provenance(results, cohort, tmp_path):
    written = write_qol_outputs(results, tmp_path, input_files=[], root=tmp_path)
    names = {p.name for p in written}
    assert {"qol.json", "qol_means.csv", "qol_deterioration.csv", "qol_completion.csv",
            "qol_mixed_model.csv"} <= names
    content = json.loads((tmp_path / "qol.json").read_text())
    assert content["provenance"]["parameters"]["mid_points"] == 10.0
    assert content["mixed_model_ghs"]["fixed_effects"][0]["term"] == "(Intercept)"
    assert write_qol_outputs(results, "") == []


def test_parameters_and_missing_questionnaires_are_input_errors(cohort):
    with pytest.raises(InputError, match="unknown QoL parameter"):
        QolParameters.from_overrides({"mid": 5})
    with pytest.raises(InputError, match="unknown scale"):
        QolParameters.from_overrides({"deterioration_scales": ["XX"]})
    assert QolParameters.from_overrides({"death_as_event": True}).death_as_event
    with pytest.raises(InputError, match="no questionnaire"):
        qol_analysis(cohort.patients, cohort.cycles, cohort.events, cohort.qol.iloc[:0])


def test_death_as_event_gives_at_least_as_many_events(cohort, results):
    dead = qol_analysis(cohort.patients, cohort.cycles, cohort.events, cohort.qol,
                        QolParameters(death_as_event=True))
    a = results.deterioration_summary.set_index("scale")["events"]
    b = dead.deterioration_summary.set_index("scale")["events"]
    assert (b >= a).all()
