"""Efficacy endpoints on a hand-built cohort whose every number is known by construction."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iluminet.errors import InputError
from iluminet.report.trial_text import (
    format_key_numbers,
    format_logrank,
    format_responses,
    format_survival,
    format_time_to_max_response,
    format_treatment_summary,
)
from iluminet.trial.efficacy import (
    EfficacyOptions,
    efficacy_analysis,
    median_with_ci,
    response_evaluable,
    write_efficacy_outputs,
)

MONTH = 365.25 / 12
INCLUSION = pd.Timestamp("2020-01-01")

# --------------------------------------------------------------------------------------------------
# the cohort
#
#  P1  4 step-1 cycles + 1 step-2 cycle; SD, SD, SD, PR (2020-11-10), CR (2021-02-10); alive.
#  P2  3 cycles, stopped for progression: SD, PD (2020-07-15); died 2021-03-01.
#  P3  2 cycles, stopped for toxicity: SD (2020-04-20); died 2020-07-01 without progression.
#  P4  1 cycle, withdrew; never re-assessed; alive (last contact 2020-06-01).
#  P5  1 cycle; died 2020-02-20 before any post-baseline assessment.
#  P6  protocol deviation; assessed SD; alive.
#  P7  enrolled, never treated.
# --------------------------------------------------------------------------------------------------


def _patient(pid: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {
        "patient_id": pid, "inclusion_date": "2020-01-01", "treated": True, "age_years": 60.0,
        "sex": "F", "origin": "small_intestine", "ki67_percent": 2.0, "ecog": 0,
        "diagnosis_date": "2018-01-01", "previous_ssa_only": False,
        "previous_chemotherapy": False, "previous_targeted_therapy": False,
        "previous_surgery": True, "previous_prrt": False, "previous_liver_directed": False,
        "diabetes": False, "uncontrolled_hypertension": False, "protocol_deviation": False,
        "baseline_creatinine_umol_l": 80.0, "baseline_gfr_ml_min": 80.0, "baseline_hb_g_l": 130.0,
        "baseline_wbc_1e9_l": 6.0, "baseline_anc_1e9_l": 3.5, "baseline_platelets_1e9_l": 220.0,
    }
    row.update(kw)
    return row


def make_patients() -> pd.DataFrame:
    return pd.DataFrame([
        _patient("P1", ki67_percent=1.0, ecog=0),
        _patient("P2", ki67_percent=15.0, ecog=1, origin="pancreas"),
        _patient("P3", ki67_percent=5.0, ecog=1, origin="lung"),
        _patient("P4", ecog=None),
        _patient("P5", ki67_percent=12.0, ecog=2),
        _patient("P6", protocol_deviation=True),
        _patient("P7", treated=False),
    ])


def make_cycles() -> pd.DataFrame:
    spec = {
        "P1": [("2020-01-10", 1, 6.0), ("2020-03-20", 1, 6.0), ("2020-05-29", 1, 6.0),
               ("2020-08-07", 1, 7.0), ("2020-10-16", 2, 5.0)],
        "P2": [("2020-01-20", 1, 5.0), ("2020-03-30", 1, 5.0), ("2020-06-08", 1, 5.0)],
        "P3": [("2020-01-15", 1, 6.0), ("2020-03-25", 1, 6.0)],
        "P4": [("2020-01-12", 1, 4.0)],
        "P5": [("2020-01-14", 1, 4.5)],
        "P6": [("2020-01-16", 1, 7.0), ("2020-03-26", 1, 7.0), ("2020-06-04", 1, 7.0),
               ("2020-08-13", 1, 7.0)],
    }
    rows = []
    for pid, cycles in spec.items():
        for i, (date, step, bed) in enumerate(cycles, start=1):
            rows.append({"patient_id": pid, "cycle": i, "administration_date": date,
                         "administered_activity_mbq": 7400.0, "step": step,
                         "kidney_dose_gy": 0.9 * bed, "kidney_bed_gy": bed})
    return pd.DataFrame(rows)


def _lesion(pid: str, date: str, diameter: float) -> dict[str, object]:
    return {"patient_id": pid, "assessment_date": date, "lesion_id": "L1", "organ": "liver",
            "is_lymph_node": False, "category": "target", "diameter_mm": diameter,
            "too_small_to_measure": False, "non_target_status": np.nan}


def make_lesions() -> pd.DataFrame:
    series = {
        "P1": [("2019-12-20", 50), ("2020-04-01", 45), ("2020-07-01", 42), ("2020-10-01", 40),
               ("2020-11-10", 30), ("2021-02-10", 0)],
        "P2": [("2019-12-18", 50), ("2020-04-15", 40), ("2020-07-15", 60)],
        "P3": [("2019-12-19", 50), ("2020-04-20", 48)],
        "P4": [("2019-12-21", 50)],
        "P5": [("2019-12-22", 50)],
        "P6": [("2019-12-23", 50), ("2020-04-10", 47)],
        "P7": [("2019-12-24", 50)],
    }
    return pd.DataFrame([_lesion(pid, d, x) for pid, rows in series.items() for d, x in rows])


def make_events() -> pd.DataFrame:
    def ev(pid, end, reason, step1, prog=None, death=None, last="2023-01-01"):
        return {"patient_id": pid, "treatment_end_date": end, "treatment_end_reason": reason,
                "step1_completed": step1, "progression_date": prog, "death_date": death,
                "death_cause": None if death is None else "tumour",
                "last_followup_date": death or last}

    return pd.DataFrame([
        ev("P1", "2020-10-16", "step2_completed", True),
        ev("P2", "2020-06-08", "progression", False, prog="2020-07-15", death="2021-03-01"),
        ev("P3", "2020-03-25", "toxicity", False, death="2020-07-01"),
        ev("P4", "2020-01-12", "withdrawal", False, last="2020-06-01"),
        ev("P5", "2020-01-14", "death", False, death="2020-02-20"),
        ev("P6", "2020-08-13", "step1_completed", True),
    ])


@pytest.fixture(scope="module")
def results():
    # the carry-forward and unconfirmed rules, which most tests below exercise (the defaults are
    # no imputation and confirmation: test_defaults_do_not_impute_and_confirm)
    return efficacy_analysis(make_patients(), make_cycles(), make_lesions(), make_events(),
                             options=EfficacyOptions(confirm_responses=False,
                                                     response_fallback="last_before"))


def test_defaults_do_not_impute_and_confirm():
    res = efficacy_analysis(make_patients(), make_cycles(), make_lesions(), make_events())
    assert res.options.response_fallback == "none" and res.options.confirm_responses is True
    # P3 has no scan in the window: NE by default; the carry-forward variant beside it
    assert res.patients.at["P3", "response_after_step1"] == "NE"
    s = res.sensitivity
    assert s["response_fallback"] == "last_before" and s["response_imputed_last_before"] == 1
    assert s["response_after_step1"].loc["NE", "count"] == 0
    assert s["response_after_step1"].loc["SD", "count"] == 1  # P3 carried forward as SD
    # P1's CR is unconfirmed: PR by default, CR in the unconfirmed variant
    assert res.patients.at["P1", "best_overall_response"] == "PR"
    assert s["confirm_responses"] is False
    assert s["best_overall_response"].loc["CR", "count"] == 1
    assert res.best_overall_response.loc["CR", "count"] == 0
    d = res.to_dict()
    assert d["sensitivity"]["response_imputed_last_before"] == 1
    assert {"landmark", "cox", "cox_tests", "term_tests"} <= set(d["bed_effect"])


def months(date: str) -> float:
    return (pd.Timestamp(date) - INCLUSION).days / MONTH


# --------------------------------------------------------------------------------------------------


def test_evaluable_sets(results):
    p = results.patients
    assert list(p.index) == ["P1", "P2", "P3", "P4", "P5", "P6"]
    assert p["response_exclusion"].to_dict() == {
        "P1": "", "P2": "", "P3": "", "P4": "not assessed", "P5": "died before assessment",
        "P6": "protocol deviation"}
    # PFS: assessed or died → everyone but P4 (alive, never re-assessed)
    assert p["pfs_evaluable"].to_dict() == {"P1": True, "P2": True, "P3": True, "P4": False,
                                            "P5": True, "P6": True}
    c = results.counts
    assert (c["enrolled"], c["treated"], c["os_evaluable"], c["pfs_evaluable"],
            c["response_evaluable"]) == (7, 6, 6, 5, 3)
    assert c["response_excluded_died_before_assessment"] == 1
    assert c["response_excluded_protocol_deviation"] == 1
    assert c["response_excluded_not_assessed"] == 1


def test_pfs_evaluable_rule_is_an_option():
    res = efficacy_analysis(make_patients(), make_cycles(), make_lesions(), make_events(),
                            options=EfficacyOptions(pfs_evaluable="assessed"))
    assert res.counts["pfs_evaluable"] == 4  # P5 (died unassessed) out too
    res = efficacy_analysis(make_patients(), make_cycles(), make_lesions(), make_events(),
                            options=EfficacyOptions(pfs_evaluable="all_treated"))
    assert res.counts["pfs_evaluable"] == 6


def test_os_pfs_ttp_events_and_times(results):
    p = results.patients
    # OS: deaths P2, P3, P5; others censored at last contact
    assert p["os_event"].to_dict() == {"P1": 0, "P2": 1, "P3": 1, "P4": 0, "P5": 1, "P6": 0}
    assert p.at["P2", "os_months"] == pytest.approx(months("2021-03-01"))
    assert p.at["P4", "os_months"] == pytest.approx(months("2020-06-01"))
    # PFS: P2 at progression (before death), P3 and P5 at death
    assert p["pfs_event"].to_dict() == {"P1": 0, "P2": 1, "P3": 1, "P4": 0, "P5": 1, "P6": 0}
    assert p.at["P2", "pfs_months"] == pytest.approx(months("2020-07-15"))
    assert p.at["P3", "pfs_months"] == pytest.approx(months("2020-07-01"))
    assert p.at["P1", "pfs_months"] == pytest.approx(months("2023-01-01"))
    # TTP: death without progression is censored at death
    assert p["ttp_event"].to_dict() == {"P1": 0, "P2": 1, "P3": 0, "P4": 0, "P5": 0, "P6": 0}
    assert p.at["P3", "ttp_months"] == pytest.approx(months("2020-07-01"))
    assert p.at["P5", "ttp_months"] == pytest.approx(months("2020-02-20"))


def test_censoring_at_last_assessment():
    res = efficacy_analysis(make_patients(), make_cycles(), make_lesions(), make_events(),
                            options=EfficacyOptions(censor_at="last_assessment"))
    p = res.patients
    assert p.at["P1", "pfs_months"] == pytest.approx(months("2021-02-10"))
    assert p.at["P3", "ttp_months"] == pytest.approx(months("2020-04-20"))
    assert p.at["P4", "pfs_months"] == 0.0  # never re-assessed: censored at time 0
    assert p.at["P2", "pfs_months"] == pytest.approx(months("2020-07-15"))  # events unchanged


def test_response_after_step1_picks_the_right_assessment(results):
    p = results.patients
    # P1: last step-1 cycle 2020-08-07 + 91 d = 2020-11-06; nearest scan 2020-11-10 (PR), not the
    # 2020-10-01 SD (36 d before) nor the step-2 era CR.
    assert p.at["P1", "response_reference_date"] == pd.Timestamp("2020-11-06")
    assert p.at["P1", "response_assessment_date"] == pd.Timestamp("2020-11-10")
    assert p.at["P1", "response_after_step1"] == "PR"
    # P2: stopped for progression; PD before the window is carried forward
    assert p.at["P2", "response_after_step1"] == "PD"
    # P3: no scan within ±45 d of 2020-06-24 → last evaluable scan before (SD), flagged
    assert p.at["P3", "response_after_step1"] == "SD"
    assert bool(p.at["P3", "response_fallback"]) is True
    assert bool(p.at["P1", "response_fallback"]) is False
    t = results.response_after_step1
    assert t["count"].to_dict() == {"CR": 0, "PR": 1, "SD": 1, "PD": 1, "NE": 0}
    assert (t["n"] == 3).all()


def test_response_reference_rules():
    opts = EfficacyOptions(response_reference="treatment_end")  # last cycle 2020-10-16 + 91 d
    res = efficacy_analysis(make_patients(), make_cycles(), make_lesions(), make_events(),
                            options=opts)
    assert res.patients.at["P1", "response_assessment_date"] == pd.Timestamp("2021-02-10")
    assert res.patients.at["P1", "response_after_step1"] == "CR"
    res = efficacy_analysis(make_patients(), make_cycles(), make_lesions(), make_events(),
                            options=EfficacyOptions(response_fallback="none"))
    assert res.patients.at["P3", "response_after_step1"] == "NE"
    assert res.response_after_step1.loc["NE", "count"] == 1
    assert res.response_after_step1.loc["NE", "n"] == 3  # NE stays in the denominator
    res = efficacy_analysis(make_patients(), make_cycles(), make_lesions(), make_events(),
                            options=EfficacyOptions(response_rule="first_after"))
    assert res.patients.at["P1", "response_assessment_date"] == pd.Timestamp("2020-11-10")


def test_best_overall_response_and_time_to_max(results):
    p = results.patients
    assert p.loc[["P1", "P2", "P3"], "best_overall_response"].tolist() == ["CR", "SD", "SD"]
    assert p[["best_overall_response"]].loc[["P4", "P5", "P6"]].isna().all().all()
    # time to the SLD nadir, from inclusion, up to the first PD
    assert p.at["P1", "time_to_max_response_months"] == pytest.approx(months("2021-02-10"))
    assert p.at["P2", "time_to_max_response_months"] == pytest.approx(months("2020-04-15"))
    assert p.at["P3", "time_to_max_response_months"] == pytest.approx(months("2020-04-20"))
    assert p.at["P1", "best_pct_change"] == pytest.approx(-100.0)
    assert p.at["P2", "best_pct_change"] == pytest.approx(-20.0)
    ttmr = results.time_to_max_response.set_index("group")
    assert ttmr.at["all", "n"] == 3
    assert ttmr.at["all", "median"] == pytest.approx(months("2020-04-20"))
    # by delivered BED: P2, P3 < 25 Gy; P1 (30 Gy) > 29 Gy; nobody response-evaluable in 25–29
    assert ttmr.at["< 25 Gy", "n"] == 2 and ttmr.at["> 29 Gy", "n"] == 1
    assert ttmr.at["25–29 Gy", "n"] == 0 and math.isnan(ttmr.at["25–29 Gy", "median"])


def test_bed_groups_of_the_cohort(results):
    bed = results.patients["delivered_bed_gy"]
    assert bed.to_dict() == pytest.approx({"P1": 30.0, "P2": 15.0, "P3": 12.0, "P4": 4.0,
                                           "P5": 4.5, "P6": 28.0})
    assert results.patients["bed_group"].astype(str).to_dict() == {
        "P1": "> 29 Gy", "P2": "< 25 Gy", "P3": "< 25 Gy", "P4": "< 25 Gy", "P5": "< 25 Gy",
        "P6": "25–29 Gy"}


def test_confirmation_option_downgrades_unconfirmed_cr():
    res = efficacy_analysis(make_patients(), make_cycles(), make_lesions(), make_events(),
                            options=EfficacyOptions(confirm_responses=True))
    # P1's PR (2020-11-10) is confirmed by the CR 92 days later; the CR itself is unconfirmed
    assert res.patients.at["P1", "best_overall_response"] == "PR"


def test_survival_tables_and_logrank(results):
    s = results.survival
    os_all = s[(s["endpoint"] == "os") & (s["grouping"] == "all")].iloc[0]
    assert (os_all["n"], os_all["events"]) == (6, 3)
    pfs_all = results.median("pfs")
    assert (pfs_all["n"], pfs_all["events"]) == (5, 3)
    # PFS curve: events at 1.6 (P5), 6.0 (P3), 6.5 (P2) months among 5 → S = 4/5, 3/5, 2/5:
    # the median is the first time S < 0.5, P2's progression
    assert pfs_all["median"] == pytest.approx(months("2020-07-15"))
    # ECOG: P4 (missing) left out of the ECOG comparison
    ecog = s[(s["endpoint"] == "os") & (s["grouping"] == "ecog_level")]
    assert ecog["n"].sum() == 5 and "Missing" not in set(ecog["group"])
    lr = results.logrank
    assert set(lr["grouping"]) <= {"bed_group", "ecog_level", "ki67_group", "origin_group"}
    assert lr["p_value"].between(0, 1).all()
    assert results.follow_up["median"] > 0
    assert math.isnan(results.landmark_os["surv"]) or 0 <= results.landmark_os["surv"] <= 1


def test_treatment_summary(results):
    t = results.treatment
    assert (t["treated"], t["step1_completed"], t["stopped_before_step1_completed"],
            t["step2"]) == (6, 2, 4, 1)
    assert t["stopped_before_step1_completed_by_reason"] == {
        "death": 1, "progression": 1, "toxicity": 1, "withdrawal": 1}
    assert t["more_than_four_cycles"] == 1
    assert (t["cycles_min"], t["cycles_max"]) == (1, 5)
    assert "continued to step 2: 1" in format_treatment_summary(results)


def test_tables_in_results(results):
    t1 = results.table1.set_index(["variable", "level"])
    assert t1.loc[("ECOG, count (%)", "Missing"), "Step 1 (n=6)"] == "1 (17)"
    assert "Step 1 + 2 (n=1)" in t1.columns
    t3 = results.table3.set_index(["variable", "level"])
    assert t3.loc[("Time to max tumor response (months)", "n"), "All (n=6)"] == "3"


def test_to_dict_and_outputs(results, tmp_path):
    d = results.to_dict()
    json.dumps(d, allow_nan=True)
    assert d["counts"]["response_evaluable"] == 3
    assert "index" not in d["survival"][0]
    assert [r["category"] for r in d["response_after_step1"]] == ["CR", "PR", "SD", "PD", "NE"]
    assert d["options"]["confirm_responses"] is False
    written = write_efficacy_outputs(results, tmp_path / "cohort", root=tmp_path)
    names = {p.name for p in written}
    assert {"efficacy.json", "survival.csv", "table1.csv", "efficacy_patients.csv"} <= names
    content = json.loads((tmp_path / "cohort" / "efficacy.json").read_text())
    assert content["provenance"]["parameters"]["response_delay_days"] == 91
    patients = pd.read_csv(tmp_path / "cohort" / "efficacy_patients.csv")
    assert list(patients["patient_id"]) == ["P1", "P2", "P3", "P4", "P5", "P6"]
    assert not list(tmp_path.glob("cohort/.*"))  # no temporary files left
    assert write_efficacy_outputs(results, "") == []


def test_text_renderings(results):
    text = format_key_numbers(results)
    assert "response 3" in text and "median PFS" in text
    assert "PR" in format_responses(results.response_after_step1)
    assert "bed_group" in format_survival(results, "os")
    assert "p_value" in format_logrank(results)
    assert "all" in format_time_to_max_response(results)


# --------------------------------------------------------------------------------------------------
# errors and options
# --------------------------------------------------------------------------------------------------


def test_event_before_inclusion_is_rejected():
    ev = make_events()
    ev.loc[ev["patient_id"] == "P2", "progression_date"] = "2019-06-01"
    with pytest.raises(InputError, match="events.*progression_date"):
        efficacy_analysis(make_patients(), make_cycles(), make_lesions(), ev)


def test_treated_patient_without_events_row_is_rejected():
    with pytest.raises(InputError, match="P6"):
        efficacy_analysis(make_patients(), make_cycles(), make_lesions(),
                          make_events().iloc[:-1])


def test_missing_event_column_is_named():
    with pytest.raises(InputError, match="events.*death_date"):
        efficacy_analysis(make_patients(), make_cycles(), make_lesions(),
                          make_events().drop(columns="death_date"))


def test_options_validation():
    with pytest.raises(InputError, match="pfs_evaluable"):
        EfficacyOptions(pfs_evaluable="everyone")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="response_window_days"):
        EfficacyOptions(response_window_days=-1)
    with pytest.raises(InputError, match="unknown option"):
        EfficacyOptions.from_mapping({"confirm": True})
    assert EfficacyOptions.from_mapping({"bed_edges_gy": [23, 27]}).bed_edges_gy == (23.0, 27.0)


def test_response_evaluable_precedence():
    idx = pd.Index(["a", "b", "c", "d"])
    got = response_evaluable(pd.Series([True, False, False, False], index=idx),
                             pd.Series([0, 0, 0, 2], index=idx),
                             pd.Series([True, True, False, False], index=idx))
    assert got.tolist() == ["protocol deviation", "died before assessment", "not assessed", ""]


# --------------------------------------------------------------------------------------------------
# median with CI
# --------------------------------------------------------------------------------------------------


def test_median_with_ci_km_equals_sample_median():
    t = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    m = median_with_ci(t, "km")
    # all events: S = 0.5 exactly on [3, 4) → R takes the midpoint, the sample median
    assert m["median"] == pytest.approx(3.5)
    assert (m["n"], m["min"], m["max"]) == (6, 1.0, 6.0)
    assert m["lower"] <= m["median"] <= m["upper"] or math.isnan(m["upper"])


def test_median_with_ci_order_statistic():
    t = np.arange(1.0, 21.0)  # n = 20: r = binom.ppf(0.025, 20, .5) = 6 → [x6, x15]
    m = median_with_ci(t, "order_statistic")
    assert m["median"] == pytest.approx(10.5)
    assert (m["lower"], m["upper"]) == (6.0, 15.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.1, 100.0, allow_nan=False), min_size=1, max_size=60))
def test_km_median_is_sample_median(values):
    m = median_with_ci(values, "km")
    assert m["median"] == pytest.approx(float(np.median(values)), rel=1e-9)


def test_describe_cohort_source(tmp_path):
    from iluminet.report.trial_text import describe_cohort_source

    plain = tmp_path / "real"
    plain.mkdir()
    assert "SYNTHETIC" not in describe_cohort_source(plain)
    synthetic = tmp_path / "synthetic"
    synthetic.mkdir()
    (synthetic / "provenance.json").write_text(json.dumps({"generator": "x", "seed": 7}))
    assert describe_cohort_source(synthetic).startswith("SYNTHETIC DATA (seed 7)")
    readme_only = tmp_path / "readme"
    readme_only.mkdir()
    (readme_only / "README.md").write_text("# A Synthetic cohort\n")
    assert describe_cohort_source(readme_only).startswith("SYNTHETIC DATA:")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 2000)),
                          st.one_of(st.none(), st.integers(0, 2000)),
                          st.integers(0, 2000), st.integers(0, 3)),
                min_size=1, max_size=12))
def test_endpoint_invariants(rows):
    """For any progression/death/follow-up dates: PFS ≤ OS and PFS ≤ TTP; a TTP event is a PFS
    event; an OS event is a PFS event; event times equal the event dates."""
    from iluminet.trial.efficacy import endpoint_table

    ids = [f"X{i}" for i in range(len(rows))]

    def day(d: int | None) -> pd.Timestamp | None:
        return None if d is None else INCLUSION + pd.Timedelta(days=d)

    ev, deaths = [], []
    for pid, (prog, death, extra, _) in zip(ids, rows, strict=True):
        last = max([d for d in (prog, death) if d is not None] + [0]) + extra
        if death is not None:  # death is the last contact, on or after any progression
            last = max(death, prog or 0)
            death = last
        deaths.append(death)
        ev.append({"patient_id": pid, "treatment_end_date": INCLUSION,
                   "treatment_end_reason": "other", "step1_completed": False,
                   "progression_date": day(prog), "death_date": day(death),
                   "last_followup_date": day(last)})
    ch = pd.DataFrame({"inclusion_date": INCLUSION, "protocol_deviation": False}, index=ids)
    assessments = pd.DataFrame({"n_post_assessments": [r[3] for r in rows],
                                "last_assessment_date": INCLUSION}, index=ids)
    out = endpoint_table(ch, pd.DataFrame(ev), assessments)
    assert (out["pfs_months"] <= out["os_months"] + 1e-12).all()
    assert (out["pfs_months"] <= out["ttp_months"] + 1e-12).all()
    assert (out["pfs_event"] >= out["ttp_event"]).all()
    assert (out["pfs_event"] >= out["os_event"]).all()
    for pid, (prog, _, _, n_post), death in zip(ids, rows, deaths, strict=True):
        if prog is not None:
            assert out.at[pid, "ttp_months"] == pytest.approx(prog / MONTH)
        first = min(d for d in (prog, death, 10**6) if d is not None)
        if first < 10**6:
            assert out.at[pid, "pfs_months"] == pytest.approx(first / MONTH)
        assert out.at[pid, "pfs_evaluable"] == (n_post > 0 or death is not None)


def test_cohort_input_files(tmp_path):
    from iluminet.trial.efficacy import cohort_input_files

    for name in ("patients.csv", "events.csv", "labs.csv"):
        (tmp_path / name).write_text("x\n")
    assert [p.name for p in cohort_input_files(tmp_path)] == ["patients.csv", "events.csv"]
