"""Tests of the safety analysis (Table 2, periods, grading, renal function, outputs)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iluminet.errors import InputError
from iluminet.report import trial_text as T
from iluminet.trial import safety as S
from iluminet.trial.safety import SafetyParameters, safety_analysis

# ---------------------------------------------------------------------------------------------
# Small hand-built cohorts
# ---------------------------------------------------------------------------------------------


def _patients(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": [f"P{i}" for i in range(1, n + 1)],
        "inclusion_date": ["2015-01-01"] * n,
        "treated": [True] * n,
        "age_years": [60.0] * n,
        "sex": ["M"] * n,
        "origin": ["small_intestine"] * n,
        "previous_chemotherapy": [False] * n,
        "previous_targeted_therapy": [False] * n,
        "baseline_creatinine_umol_l": [80.0] * n,
        "baseline_gfr_ml_min": [80.0] * n,
    })


def _cycles(n: int = 3) -> pd.DataFrame:
    # Every patient: cycles on 2015-01-10 and 2015-03-21 (step 1); P1 also 2015-05-30 (step 2).
    rows = []
    for i in range(1, n + 1):
        rows += [(f"P{i}", 1, "2015-01-10", 1, 5.0), (f"P{i}", 2, "2015-03-21", 1, 5.0)]
    rows.append(("P1", 3, "2015-05-30", 2, 5.0))
    return pd.DataFrame(rows, columns=["patient_id", "cycle", "administration_date", "step",
                                       "kidney_bed_gy"])


def _events(n: int = 3) -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": [f"P{i}" for i in range(1, n + 1)],
        "treatment_end_date": ["2015-05-30"] + ["2015-03-21"] * (n - 1),
        "treatment_end_reason": ["step2_completed"] + ["toxicity"] + ["progression"] * (n - 2),
        "step1_completed": [True] + [False] * (n - 1),
        "death_date": [None] * n,
        "last_followup_date": ["2018-01-01"] * n,
    })


def _lab(pid: str, date: str, test: str, value: float, unit: str = "10^9/L",
         lln: float | None = 145.0, uln: float | None = 350.0) -> dict:
    return {"patient_id": pid, "date": date, "test": test, "value": value, "unit": unit,
            "lln": lln, "uln": uln}


EMPTY_AE = pd.DataFrame({"patient_id": [], "onset_date": [], "term": [], "grade": []})


def _run(labs: list[dict], aes: pd.DataFrame = EMPTY_AE, **params) -> S.SafetyResults:
    return safety_analysis(_patients(), _cycles(), _events(), pd.DataFrame(labs), aes,
                           parameters=SafetyParameters(**params))


def _row(t: pd.DataFrame, period: str, term: str) -> pd.Series | None:
    r = t[(t["period"] == period) & (t["term"] == term)]
    return None if r.empty else r.iloc[0]


# ---------------------------------------------------------------------------------------------
# Counting
# ---------------------------------------------------------------------------------------------


def test_patient_counts_once_at_worst_grade():
    labs = [_lab("P1", "2015-01-01", "platelets", 250),                # baseline
            _lab("P1", "2015-01-24", "platelets", 120),                # grade 1
            _lab("P1", "2015-02-07", "platelets", 40),                 # grade 3
            _lab("P1", "2015-02-14", "platelets", 70),                 # grade 2
            _lab("P2", "2015-02-07", "platelets", 130)]                # grade 1
    aes = pd.DataFrame({"patient_id": ["P1"] * 4 + ["P2"],
                        "onset_date": ["2015-01-10", "2015-01-20", "2015-02-01", "2015-02-02",
                                       "2015-02-01"],
                        "term": ["fatigue"] * 5, "grade": [1, 2, 3, 1, 1]})
    r = _run(labs, aes)
    t = r.table2_any
    thr = _row(t, "early", "thrombocytopenia")
    assert (thr["n_all"], thr["n_grade3_4"], thr["n_treated"]) == (2, 1, 3)
    assert thr["pct_all"] == pytest.approx(200 / 3)
    fat = _row(t, "early", "fatigue")
    assert (fat["n_all"], fat["n_grade3_4"]) == (2, 1)


def test_liver_enzymes_counted_together():
    labs = [_lab("P1", "2015-02-01", "alt", 100, "U/L", None, 45),     # 2.2 × ULN: grade 1
            _lab("P1", "2015-02-01", "ast", 200, "U/L", None, 35),     # 5.7 × ULN: grade 3
            _lab("P2", "2015-02-01", "ast", 40, "U/L", None, 35)]      # grade 1
    t = _run(labs).table2_any
    row = _row(t, "early", "liver_enzyme_increase")
    assert (row["n_all"], row["n_grade3_4"], row["label"]) == (2, 1, "Liver enzyme increase")


def test_worsening_from_baseline_variant():
    # P1 anaemic at baseline (grade 1) and stays grade 1; P2 normal then grade 1; P3 grade 1 → 2.
    hb = {"unit": "g/L", "lln": 134.0, "uln": 170.0}
    labs = [_lab("P1", "2015-01-01", "hemoglobin", 125, **hb),
            _lab("P1", "2015-02-01", "hemoglobin", 122, **hb),
            _lab("P2", "2015-01-01", "hemoglobin", 140, **hb),
            _lab("P2", "2015-02-01", "hemoglobin", 130, **hb),
            _lab("P3", "2015-01-01", "hemoglobin", 120, **hb),
            _lab("P3", "2015-02-01", "hemoglobin", 95, **hb)]
    r = _run(labs)
    assert _row(r.table2_any, "early", "anemia")["n_all"] == 3
    assert _row(r.table2_worsening, "early", "anemia")["n_all"] == 2
    assert r.table2 is r.table2_any
    assert _run(labs, counting="worsening").table2["counting"].eq("worsening").all()


def test_sorted_as_the_paper():
    aes = pd.DataFrame({"patient_id": ["P1", "P2", "P1", "P3", "P2", "P1"],
                        "onset_date": ["2015-02-01"] * 6,
                        "term": ["pain", "pain", "ileus", "fatigue", "fatigue", "fatigue"],
                        "grade": [1, 1, 1, 1, 1, 1]})
    labs = [_lab("P1", "2015-02-01", "platelets", 100)]
    t = _run(labs, aes).table2_any
    assert list(t["term"]) == ["fatigue", "pain", "ileus", "thrombocytopenia"]


# ---------------------------------------------------------------------------------------------
# Periods at their edges
# ---------------------------------------------------------------------------------------------

# P2: first cycle 2015-01-10, last (step-1) cycle 2015-03-21 → early ends 2015-06-20 (+91 d);
# late windows 2015-08-05 .. 2015-11-03 (182 ± 45 d) and 2016-02-04 .. 2016-05-04 (365 ± 45 d).
EDGES = [
    ("2015-01-09", None), ("2015-01-10", "early"), ("2015-01-11", "early"),
    ("2015-06-19", "early"), ("2015-06-20", "early"), ("2015-06-21", None),
    ("2015-08-04", None), ("2015-08-05", "late"), ("2015-08-06", "late"),
    ("2015-11-02", "late"), ("2015-11-03", "late"), ("2015-11-04", None),
    ("2016-02-03", None), ("2016-02-04", "late"), ("2016-02-05", "late"),
    ("2016-05-03", "late"), ("2016-05-04", "late"), ("2016-05-05", None),
]


@pytest.mark.parametrize("date,expected", EDGES)
def test_period_edges(date, expected):
    periods = S.patient_periods(_cycles(), _events())
    got = S.assign_periods(pd.Series(["P2"]), pd.Series([pd.Timestamp(date)]), periods)
    assert got["period"].iloc[0] == expected


def test_period_edges_in_table2():
    # A grade-1 platelet count one day outside the early period is not counted; on its last day it
    # is.
    labs = [_lab("P2", "2015-06-20", "platelets", 120), _lab("P3", "2015-06-21", "platelets", 120)]
    t = _run(labs).table2_any
    assert _row(t, "early", "thrombocytopenia")["n_all"] == 1


def test_early_period_of_step2_patient_ends_after_step1():
    periods = S.patient_periods(_cycles(), _events())
    # P1 completed step 1 on 2015-03-21 and had a step-2 cycle on 2015-05-30.
    assert periods.at["P1", "early_end"] == pd.Timestamp("2015-06-20")
    assert periods.at["P1", "late1_start"] == pd.Timestamp("2015-05-30") + pd.Timedelta(days=137)
    wider = S.patient_periods(_cycles(), _events(), SafetyParameters(late_half_width_days=60))
    assert wider.at["P2", "late1_start"] == pd.Timestamp("2015-03-21") + pd.Timedelta(days=122)


@settings(max_examples=60, deadline=None)
@given(offset=st.integers(-400, 800))
def test_period_assignment_matches_definition(offset):
    periods = S.patient_periods(_cycles(), _events())
    d = pd.Timestamp("2015-01-10") + pd.Timedelta(days=offset)
    got = S.assign_periods(pd.Series(["P3"]), pd.Series([d]), periods)["period"].iloc[0]
    last = pd.Timestamp("2015-03-21")
    early = pd.Timestamp("2015-01-10") <= d <= last + pd.Timedelta(days=91)
    late = any(abs((d - last).days - c) <= 45 for c in (182, 365))
    assert got == ("early" if early else "late" if late else None)


# ---------------------------------------------------------------------------------------------
# Grading details
# ---------------------------------------------------------------------------------------------


def test_units_are_converted_before_grading():
    labs = [_lab("P1", "2015-02-01", "hemoglobin", 7.5, "g/dL", 13.4, 17.0),   # 75 g/L: grade 3
            _lab("P2", "2015-02-01", "platelets", 60000, "/mm3", 145000, 350000)]  # grade 2
    r = _run(labs)
    g = r.graded_labs.set_index("patient_id")
    assert g.at["P1", "grade"] == 3 and g.at["P1", "value_canonical"] == pytest.approx(75)
    assert g.at["P2", "grade"] == 2 and g.at["P2", "value_canonical"] == pytest.approx(60)


def test_creatinine_against_baseline_and_uln():
    # Baseline 80 µmol/L (patients table). 95 µmol/L: > baseline → grade 1 by CTCAE, 0 by ULN.
    # 1.36 mg/dL = 120 µmol/L > 1.5 × 80: grade 2 with the baseline criterion, 1 by the ULN.
    labs = [_lab("P1", "2015-02-01", "creatinine", 95, "umol/L", 60, 100),
            _lab("P2", "2015-02-01", "creatinine", 1.36, "mg/dL", 0.68, 1.131)]
    r = _run(labs)  # default: the paper's ULN reading; the CTCAE grade kept beside it
    g = r.graded_labs.set_index("patient_id")
    assert (g.at["P1", "grade"], g.at["P1", "grade_uln"], g.at["P1", "grade_uln_and_baseline"]
            ) == (0, 0, 1)
    assert (g.at["P2", "grade"], g.at["P2", "grade_uln"], g.at["P2", "grade_uln_and_baseline"]
            ) == (1, 1, 2)
    r2 = _run(labs, creatinine_criterion="uln_and_baseline")
    assert list(r2.graded_labs["grade"]) == [1, 2]
    assert list(r2.graded_labs["grade_uln"]) == [0, 1]


# ---------------------------------------------------------------------------------------------
# Defects in the lab table
# ---------------------------------------------------------------------------------------------


GOOD = [_lab("P1", "2015-02-01", "platelets", 120), _lab("P2", "2015-02-01", "platelets", 100)]


@pytest.mark.parametrize("change,column,message", [
    ({"unit": "furlongs"}, "unit", "unknown unit 'furlongs'"),
    ({"unit": "g/L"}, "unit", "unknown unit 'g/L' for test 'platelets'"),
    ({"value": "12O"}, "value", "expected a non-negative number"),
    ({"value": None}, "value", "expected a non-negative number"),
    ({"date": "2014-10-01"}, "date", "before inclusion 2015-01-01"),
    ({"date": "2015-02-30"}, "date", "expected an ISO 8601 date"),
    ({"test": "troponin"}, "test", "unknown test 'troponin'"),
    ({"patient_id": "P9"}, "patient_id", "not in the patients table"),
    ({"uln": -3}, "uln", "expected a positive number"),
])
def test_lab_defects_are_named(change, column, message):
    labs = [dict(GOOD[0]), {**GOOD[1], **change}]
    with pytest.raises(InputError, match=message) as info:
        _run(labs)
    assert info.value.source == "labs" and info.value.field == column
    assert "row 2" in str(info.value)


def test_date_before_inclusion_without_screening_window():
    labs = [{**GOOD[0], "date": "2014-12-31"}]
    _run(labs)                                             # within the 42-day screening window
    with pytest.raises(InputError, match="row 1: date 2014-12-31 before inclusion"):
        _run(labs, screening_window_days=0)


def test_unknown_parameter_is_an_error():
    with pytest.raises(InputError, match="unknown parameter"):
        SafetyParameters.from_overrides({"countig": "any"})
    with pytest.raises(InputError, match="'any' or 'worsening'"):
        SafetyParameters(counting="all")
    assert SafetyParameters.from_overrides({"late_centres_days": [365]}).late_centres_days == (365,)


# ---------------------------------------------------------------------------------------------
# The whole analysis on a generated trial
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trial_results():
    from iluminet.synthetic.trial.safety import simulate_safety

    from .test_synthetic_safety import standin_trial

    patients, cycles, events = standin_trial()
    labs, aes = simulate_safety(patients, cycles, events, seed=11)
    return patients, cycles, events, labs, aes, safety_analysis(patients, cycles, events, labs, aes)


def test_trial_table2_near_paper(trial_results):
    *_, r = trial_results
    assert r.n_treated == 96
    c = r.paper_table2.set_index(["period", "category", "term"])
    # Clinical rows are allocated exactly; laboratory rows land within ±15 patients.
    clinical = c.xs("clinical", level="category")
    assert (clinical["run_n_all"] == clinical["paper_n_all"]).all()
    lab = c.xs("laboratory", level="category")
    assert (abs(lab["run_n_all"] - lab["paper_n_all"]) <= 15).all()
    assert r.table2_worsening["n_all"].sum() <= r.table2_any["n_all"].sum()
    # AML is listed apart, not in Table 2
    assert len(r.malignancies) == 2 and "acute_myeloid_leukemia" not in set(r.table2_any["term"])


def test_trial_renal_and_terminations(trial_results):
    _, _, events, _, _, r = trial_results
    assert list(r.gfr_categories["category"]) == ["> 60", "30–60", "< 30"]
    assert r.gfr_categories["n_baseline"].sum() == 96
    by_year = r.creatinine_by_year.set_index("year")
    assert by_year.at[3, "pct_grade_ge1"] > by_year.at[0, "pct_grade_ge1"]
    assert (by_year[["n_grade3", "n_grade4"]].to_numpy() == 0).all()
    bed = r.gfr_by_bed_group
    assert bed["n"].sum() == 96
    assert len(r.terminations) == (events["treatment_end_reason"] == "toxicity").sum()
    assert r.termination_patterns()["n"].sum() == len(r.terminations)
    assert r.step2_summary["n_completed_step2"] == 9


def test_write_outputs(trial_results, tmp_path):
    *_, r = trial_results
    written = S.write_safety_outputs(r, tmp_path)
    assert written[0].name == "safety.json"
    data = json.loads((tmp_path / "safety.json").read_text())
    assert data["n_treated"] == 96 and "provenance" in data
    assert data["parameters"]["counting"] == "any"
    t2 = pd.read_csv(tmp_path / "safety_table2_any.csv")
    assert t2["n_all"].sum() == r.table2_any["n_all"].sum()
    assert not list(tmp_path.glob(".*"))                       # no temporary files left


def test_formatting_is_fixed_precision(trial_results):
    *_, r = trial_results
    text = T.format_table2(r)
    assert "Thrombocytopenia" in text and "(n = 96 treated)" not in text
    assert "n = 96 treated" in text
    assert "paper" in T.format_paper_comparison(r)
    assert "GFR" in T.format_renal(r)
    assert "toxicity" in T.format_terminations(r)
    assert "Step 2" in T.format_step2(r)
    assert "acute_myeloid_leukemia" in T.format_malignancies(r)


def test_empty_labs_and_events():
    r = safety_analysis(_patients(), _cycles(), _events(), pd.DataFrame(
        {c: [] for c in ("patient_id", "date", "test", "value", "unit", "lln", "uln")}), EMPTY_AE)
    assert r.table2_any.empty and r.n_treated == 3
    assert np.isnan(r.gfr_summary["after_median_months_from_inclusion"])


def test_table2_side_by_side_by_creatinine_criterion(trial_results):
    """Each criterion's column equals the primary Table 2 of a run made with that criterion;
    only the creatinine row differs, and the baseline criterion counts more patients there."""
    patients, cycles, events, labs, aes, r = trial_results
    side = r.table2_creatinine_criteria.set_index(["period", "category", "term"])
    for criterion, suffix in (("uln", "uln"), ("uln_and_baseline", "uln_and_baseline")):
        other = safety_analysis(patients, cycles, events, labs, aes,
                                parameters=SafetyParameters(creatinine_criterion=criterion))
        t = other.table2.set_index(["period", "category", "term"])
        col = side[f"n_all_{suffix}"]
        assert (col.reindex(t.index) == t["n_all"]).all()
        assert (col.drop(t.index, errors="ignore") == 0).all()
        assert (side[f"n_grade3_4_{suffix}"].reindex(t.index) == t["n_grade3_4"]).all()
    differs = side[side["differs"]]
    assert set(differs.index.get_level_values("term")) == {"creatinine_increased"}
    assert (differs["n_all_uln_and_baseline"] > differs["n_all_uln"]).all()
    text = T.format_table2_creatinine_criteria(r)
    assert "ULN or baseline" in text and "Creatinine increased" in text


def test_table2_creatinine_criteria_written(trial_results, tmp_path):
    *_, r = trial_results
    S.write_safety_outputs(r, tmp_path)
    side = pd.read_csv(tmp_path / "safety_table2_creatinine_criteria.csv")
    assert len(side) == len(r.table2_creatinine_criteria)
    data = json.loads((tmp_path / "safety.json").read_text())
    assert len(data["table2_creatinine_criteria"]) == len(side)
