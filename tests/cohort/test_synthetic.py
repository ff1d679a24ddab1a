"""Synthetic ILUMINET cohort: exact baseline marginals, protocol compliance, consistency of
progression with RECIST, determinism, and aggregates near the paper for the default seed."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from iluminet.config.params import load_parameters
from iluminet.patient import kinetics
from iluminet.patient.planning import Protocol
from iluminet.synthetic.trial.generator import (
    DEFAULT_SEED,
    SYNTHETIC_NOTE,
    generate_cohort,
    paper_comparison,
)
from iluminet.synthetic.trial.outcomes import EventClock, Weibull
from iluminet.synthetic.trial.population import scaled_counts, values_with_summary
from iluminet.synthetic.trial.treatment import closed_form_mono
from iluminet.trial import read_cohort, recist, write_cohort
from iluminet.workbook.cli_trial import main as cli_main

#: The seed the calibration was tuned and checked on (the former default, chosen as the run
#: nearest the paper among 49): the tolerances below guard the calibration against drift and are
#: no evidence of agreement with the paper (the seed ensemble, validation/paper_ensemble.py, is).
CALIBRATION_SEED = 25


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(CALIBRATION_SEED).validated()  # the package's kinetic fit


@pytest.fixture(scope="module")
def comparison(cohort):
    # the calibration was made with the carry-forward and unconfirmed response rules
    from iluminet.trial.efficacy import EfficacyOptions

    options = EfficacyOptions(confirm_responses=False, response_fallback="last_before")
    return paper_comparison(cohort, options).set_index("quantity")


@pytest.fixture(scope="module")
def treated(cohort):
    p = cohort.patients
    return p[p["treated"]]


# ---- baseline: Table 1 exactly ---------------------------------------------------------------

def test_enrolment(cohort, treated):
    assert len(cohort.patients) == 97 and len(treated) == 96
    untreated = cohort.patients.loc[~cohort.patients["treated"], "patient_id"]
    assert not cohort.cycles["patient_id"].isin(untreated).any()
    assert not cohort.events["patient_id"].isin(untreated).any()


def test_table1_marginals_exact(treated):
    assert treated["sex"].value_counts().to_dict() == {"M": 54, "F": 42}
    ki = treated["ki67_percent"]
    assert [(ki <= 2).sum(), ((ki > 2) & (ki <= 10)).sum(), (ki > 10).sum()] == [36, 43, 17]
    assert treated["origin"].value_counts().to_dict() == {
        "small_intestine": 57, "pancreas": 18, "lung": 9, "unknown_primary": 5, "colon": 3,
        "rectum": 2, "stomach": 2}
    ecog = treated["ecog"]
    assert [(ecog == k).sum() for k in (0, 1, 2)] + [int(ecog.isna().sum())] == [55, 30, 5, 6]
    counts = {c: int(treated[f"previous_{c}"].sum()) for c in (
        "chemotherapy", "targeted_therapy", "surgery", "liver_directed", "ssa_only", "prrt")}
    assert counts == {"chemotherapy": 16, "targeted_therapy": 18, "surgery": 75,
                      "liver_directed": 44, "ssa_only": 9, "prrt": 0}
    assert (treated["age_years"].median(), treated["age_years"].min(),
            treated["age_years"].max()) == (67, 35, 84)
    for column, summary in {"baseline_creatinine_umol_l": (77, 47, 146),
                            "baseline_gfr_ml_min": (75, 48, 122),
                            "baseline_hb_g_l": (135, 97, 165),
                            "baseline_platelets_1e9_l": (222, 52, 552)}.items():
        values = treated[column]
        assert (values.median(), values.min(), values.max()) == summary


def test_table3_associations(treated):
    by = treated.assign(group=treated["origin"].where(
        treated["origin"].isin(["small_intestine", "pancreas"]), "other")).groupby("group")
    assert by["previous_chemotherapy"].sum().to_dict() == {"other": 5, "pancreas": 11,
                                                           "small_intestine": 0}
    assert by["previous_liver_directed"].sum().to_dict() == {"other": 4, "pancreas": 8,
                                                             "small_intestine": 32}
    median_age = by["age_years"].median()
    assert median_age["pancreas"] < median_age["other"] < median_age["small_intestine"]
    median_ki = by["ki67_percent"].median()
    assert median_ki["small_intestine"] < median_ki["pancreas"]
    # "SSA only" excludes every other previous treatment; all others had at least one
    others = treated[["previous_chemotherapy", "previous_targeted_therapy", "previous_surgery",
                      "previous_liver_directed"]].any(axis=1)
    assert (others != treated["previous_ssa_only"]).all()


# ---- treatment follows the protocol -----------------------------------------------------------

def test_every_cycle_allowed_by_protocol(cohort, treated):
    """Replay the within_tolerance rule with mean prediction: cycle k + 1 of step s was given
    only if cum_k + mean(BED_1..k) ≤ limit_s + tolerance_s."""
    protocol = Protocol.from_parameters(load_parameters()["protocol"])
    assert protocol.last_cycle_policy == "within_tolerance" and protocol.bed_prediction == "mean"
    limits = {1: protocol.step1_bed_limit_gy + protocol.step1_tolerance_gy,
              2: protocol.step2_bed_limit_gy + protocol.step2_tolerance_gy}
    info = treated.set_index("patient_id")
    crit = protocol.step2_criteria
    n_step2 = 0
    for pid, cyc in cohort.cycles.groupby("patient_id"):
        beds = cyc.sort_values("cycle")["kidney_bed_gy"].to_numpy()
        steps = cyc.sort_values("cycle")["step"].to_numpy()
        for k in range(1, len(beds)):
            predicted = beds[:k].sum() + beds[:k].mean()
            assert predicted <= limits[int(steps[k])] + 1e-9, (pid, k + 1)
        if steps.max() == 2:
            n_step2 += 1
            row = info.loc[pid]
            assert row["age_years"] <= crit.max_age_years
            assert not (row["diabetes"] or row["uncontrolled_hypertension"]
                        or row["previous_chemotherapy"] or row["previous_liver_directed"])
    assert n_step2 > 0


def test_activity_and_intervals(cohort):
    cyc = cohort.cycles.sort_values(["patient_id", "cycle"])
    assert cyc["administered_activity_mbq"].between(7000, 7800).all()
    gaps = cyc.groupby("patient_id")["administration_date"].diff().dropna().dt.days
    assert gaps.between(8 * 7, 12 * 7).all()
    scans = cohort.kidney_activity.groupby(["patient_id", "cycle"]).size()
    assert (scans == 4).all() and len(scans) == len(cyc)


def test_fast_mode_gives_the_same_doses():
    fit = generate_cohort(7, 12)
    fast = generate_cohort(7, 12, fast=True)
    assert_frame_equal(fit.cycles, fast.cycles)


def test_closed_form_equals_fitter():
    t = np.array([1.0, 24.2, 95.7, 167.9])
    rng = np.random.default_rng(3)
    a = 120.0 * np.exp(-np.log(2) / 52.0 * t) * (1 + 0.05 * rng.standard_normal(4))
    tia, t_eff = closed_form_mono(t, a[None, :], 2.0)
    f = kinetics.fit_time_activity(t[1:], a[1:], model="mono")
    assert tia[0] == pytest.approx(f.tia_mbq_h_, rel=1e-9)
    assert t_eff[0] == pytest.approx(f.effective_half_life_h_, rel=1e-9)
    # noise-free curve: the exact answer A0 · T_eff / ln 2
    exact = 120.0 * np.exp(-np.log(2) / 52.0 * t)
    tia, t_eff = closed_form_mono(t, exact[None, :], 2.0)
    assert tia[0] == pytest.approx(120.0 * 52.0 / np.log(2), rel=1e-12)
    assert t_eff[0] == pytest.approx(52.0, rel=1e-12)


# ---- outcomes and tumour ---------------------------------------------------------------------

def test_progression_date_is_first_recist_pd(cohort):
    tp = recist.timepoint_responses(cohort.lesions)
    first_pd = tp[tp["overall_response"] == "PD"].groupby("patient_id")["assessment_date"].min()
    events = cohort.events.set_index("patient_id")["progression_date"]
    recorded = events.dropna()
    assert len(recorded) > 20
    assert set(first_pd.index) == set(recorded.index)
    assert (first_pd.loc[recorded.index] == recorded).all()


def test_end_reasons_consistent(cohort):
    ev = cohort.events.set_index("patient_id")
    assert ev.loc[ev["treatment_end_reason"] == "death", "death_date"].notna().all()
    prog = ev[ev["treatment_end_reason"] == "progression"]
    assert (prog["progression_date"] <= prog["last_followup_date"]).all()
    assert prog["progression_date"].notna().all()
    assert set(ev["treatment_end_reason"]) <= {"step1_completed", "step2_completed", "death",
                                               "toxicity", "progression", "other"}


def test_event_clock_inverts_weibull():
    clock = EventClock(Weibull(40.0, 1.3), threshold=0.5, start_months=0.0)
    assert clock.advance(10.0, 2.0) is None  # H = 2 · (10/40)^1.3 = 0.330 < 0.5
    t = clock.advance(math.inf, 1.0)
    # remaining 0.5 − 0.330 at multiplier 1 after t = 10: (t/40)^1.3 = (10/40)^1.3 + 0.170
    expected = 40.0 * ((10 / 40) ** 1.3 + 0.5 - 2 * (10 / 40) ** 1.3) ** (1 / 1.3)
    assert t == pytest.approx(expected, rel=1e-12)


# ---- paper aggregates (calibration seed) ---------------------------------------------------

#: quantity → allowed absolute deviation from the paper for the calibration seed.
TOLERANCES = {
    "cycles, median": 1, "cycles, max": 2, "more than 4 cycles": 10,
    "terminated before completing step 1": 10, "  by death": 5, "  by toxicity": 6,
    "  by progression": 6, "continued to step 2": 7,
    "delivered BED < 25 Gy": 15, "delivered BED 25-29 Gy": 12, "delivered BED > 29 Gy": 6,
    "total activity, median": 4, "treatment duration, median": 8,
    "evaluable for response": 4,
    "response 3 months after step 1: PR": 6, "response 3 months after step 1: SD": 14,
    "response 3 months after step 1: PD": 7,
    "best overall response: CR": 3, "best overall response: PR": 8,
    "best overall response: SD": 10, "best overall response: PD": 4,
    "time to maximum response, median": 5,
    "PFS, median": 5, "OS, median": 6, "OS at 5 years": 10,
    "follow-up, median (reverse KM)": 5,
}


@pytest.mark.parametrize("quantity", sorted(TOLERANCES))
def test_aggregate_near_paper(comparison, quantity):
    row = comparison.loc[quantity]
    assert abs(row["this_run"] - row["paper"]) <= TOLERANCES[quantity], row.to_dict()


def test_paper_differences_significant(comparison):
    """The paper reports significant differences by BED group and ECOG (PFS, OS), Ki-67 (PFS)."""
    tests = comparison[comparison.index.str.startswith("log-rank")]
    assert (tests["this_run"] < 0.05).all(), tests


# ---- determinism and I/O -----------------------------------------------------------------------

def test_deterministic_in_seed():
    a = generate_cohort(5, 20, fast=True)
    b = generate_cohort(5, 20, fast=True)
    c = generate_cohort(6, 20, fast=True)
    for name, table in a.tables().items():
        assert_frame_equal(table, getattr(b, name))
    assert not a.patients.equals(c.patients)
    assert not a.cycles.equals(c.cycles)


def test_written_cohort_passes_validation(tmp_path, cohort):
    out = tmp_path / "cohort"
    assert cli_main(["--seed", str(DEFAULT_SEED), "--out", str(out), "--patients", "30",
                     "--no-comparison"]) == 0
    back = read_cohort(out)
    assert len(back.patients) == 30
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme and f"seed: {DEFAULT_SEED}" in readme
    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert prov["synthetic"] is True and prov["note"] == SYNTHETIC_NOTE
    assert cli_main(["--out", str(out), "--patients", "30", "--no-comparison"]) == 2  # no force
    write_cohort(cohort, out, force=True)
    again = read_cohort(out)
    for name, table in cohort.tables().items():
        assert_frame_equal(table, getattr(again, name))


def test_scaled_counts():
    assert scaled_counts({"a": 57, "b": 18, "c": 21}, 96) == {"a": 57, "b": 18, "c": 21}
    scaled = scaled_counts({"a": 57, "b": 18, "c": 21}, 1000)
    assert sum(scaled.values()) == 1000 and scaled == {"a": 594, "b": 187, "c": 219}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=3, max_size=60, unique=True))
def test_values_with_summary_exact_and_rank_preserving(latent):
    z = np.asarray(latent)
    out = values_with_summary(z, 67.0, 35.0, 84.0, decimals=0)
    assert np.median(out) == 67.0 and out.min() == 35.0 and out.max() == 84.0
    order = np.argsort(z)
    assert np.all(np.diff(out[order]) >= 0)  # monotone in the latent draw
