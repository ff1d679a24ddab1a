"""Tests of the synthetic laboratory values and clinical adverse events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iluminet.errors import InputError
from iluminet.synthetic.trial.safety import (
    AE_COLUMNS,
    LAB_COLUMNS,
    SafetySimulationParameters,
    ckd_epi_2009,
    simulate_safety,
)

SEED = 20220607


def standin_trial(seed: int = 7, n_treated: int = 96) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                pd.DataFrame]:
    """A trial-like cohort skeleton (patients, cycles, events) shaped after the ILUMINET report.

    96 treated patients and one untreated: 32 stop during step 1 (7 death, 13 toxicity,
    12 progression), 64 complete it and 9 of them continue to step 2; baseline values drawn around
    the Table 1 medians; kidney BED about 5 Gy per cycle; cycles every 10 ± 2 weeks.
    """
    rng = np.random.default_rng(seed)
    n = n_treated
    ids = [f"P{i:03d}" for i in range(1, n + 2)]
    inclusion = pd.Timestamp("2012-01-15") + pd.to_timedelta(rng.integers(0, 4 * 365, n + 1), "D")
    sex = np.where(rng.random(n + 1) < 0.44, "F", "M")
    patients = pd.DataFrame({
        "patient_id": ids,
        "inclusion_date": inclusion.strftime("%Y-%m-%d"),
        "treated": [True] * n + [False],
        "age_years": np.clip(rng.normal(65, 10, n + 1), 35, 84).round(1),
        "sex": sex,
        "origin": rng.choice(["small_intestine", "pancreas", "lung"], n + 1, p=[0.6, 0.2, 0.2]),
        "previous_chemotherapy": rng.random(n + 1) < 0.17,
        "baseline_creatinine_umol_l": np.clip(77 * np.exp(rng.normal(0, 0.25, n + 1)), 47, 146
                                              ).round(0),
        "baseline_gfr_ml_min": np.clip(75 * np.exp(rng.normal(0, 0.2, n + 1)), 51, 122).round(0),
        "baseline_hb_g_l": np.clip(np.where(sex == "F", rng.normal(130, 10, n + 1),
                                            rng.normal(142, 11, n + 1)), 97, 165).round(0),
        "baseline_wbc_1e9_l": np.clip(6.0 * np.exp(rng.normal(0, 0.3, n + 1)), 2.4, 20).round(1),
        "baseline_anc_1e9_l": np.clip(3.5 * np.exp(rng.normal(0, 0.33, n + 1)), 1.6, 11).round(1),
        "baseline_platelets_1e9_l": np.clip(222 * np.exp(rng.normal(0, 0.33, n + 1)), 52, 552
                                            ).round(0),
    })
    reasons = (["death"] * 7 + ["toxicity"] * 13 + ["progression"] * 12
               + ["step2_completed"] * 9 + ["step1_completed"] * (n - 41))
    reasons = list(rng.permutation(reasons))
    cyc_rows, ev_rows = [], []
    for i in range(n):
        pid, reason = ids[i], reasons[i]
        bed_per_cycle = 4.9 * float(np.exp(rng.normal(0, 0.3)))
        if reason in ("death", "toxicity", "progression"):
            n1 = int(rng.integers(1, 6)) if reason != "toxicity" else int(rng.choice([2, 3, 5]))
            n2 = 0
        else:
            n1 = int(np.clip(round(27 / bed_per_cycle), 3, 7))
            n2 = int(rng.integers(2, 4)) if reason == "step2_completed" else 0
        first = inclusion[i] + pd.Timedelta(days=int(rng.integers(7, 30)))
        dates = [first]
        for _ in range(n1 + n2 - 1):
            dates.append(dates[-1] + pd.Timedelta(days=int(rng.integers(56, 85))))
        for k, d in enumerate(dates, start=1):
            cyc_rows.append(
                {
                    "patient_id": pid,
                    "cycle": k,
                    "administration_date": d.strftime("%Y-%m-%d"),
                    "administered_activity_mbq": 7400.0,
                    "step": 1 if k <= n1 else 2,
                    "kidney_dose_gy": round(bed_per_cycle * 0.85, 2),
                    "kidney_bed_gy": round(bed_per_cycle, 2),
                }
            )
        end = dates[-1]
        death_days = 20 + rng.exponential(47 * 30.4 / np.log(2))
        if reason == "death":
            death_days = (end - inclusion[i]).days + int(rng.integers(10, 80))
        cutoff = pd.Timestamp("2019-01-31")
        death = inclusion[i] + pd.Timedelta(days=int(death_days))
        dead = death <= cutoff
        last = death if dead else cutoff
        ev_rows.append({"patient_id": pid, "treatment_end_date": end.strftime("%Y-%m-%d"),
                        "treatment_end_reason": reason,
                        "step1_completed": reason in ("step1_completed", "step2_completed"),
                        "progression_date": None,
                        "death_date": death.strftime("%Y-%m-%d") if dead else None,
                        "death_cause": "tumour" if dead else None,
                        "last_followup_date": last.strftime("%Y-%m-%d")})
    return patients, pd.DataFrame(cyc_rows), pd.DataFrame(ev_rows)


@pytest.fixture(scope="module")
def trial():
    return standin_trial()


@pytest.fixture(scope="module")
def simulated(trial):
    patients, cycles, events = trial
    return simulate_safety(patients, cycles, events, seed=SEED)


def test_columns_and_sorting(simulated):
    labs, aes = simulated
    assert tuple(labs.columns) == LAB_COLUMNS
    assert tuple(aes.columns) == AE_COLUMNS
    assert set(labs["test"]) == {"hemoglobin", "platelets", "neutrophils", "wbc", "lymphocytes",
                                 "alt", "ast", "bilirubin", "alp", "creatinine", "egfr",
                                 "measured_gfr"}
    assert (aes["grade"].between(1, 5)).all()
    assert labs["value"].ge(0).all()


def test_deterministic_from_seed(trial):
    a = simulate_safety(*trial, seed=3)
    b = simulate_safety(*trial, seed=3)
    c = simulate_safety(*trial, seed=4)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert not a[0]["value"].equals(c[0]["value"])


def test_dates_within_follow_up(trial, simulated):
    patients, cycles, events = trial
    labs, aes = simulated
    incl = pd.to_datetime(patients.set_index("patient_id")["inclusion_date"])
    last = pd.to_datetime(events.set_index("patient_id")["last_followup_date"])
    first = pd.to_datetime(cycles.groupby("patient_id")["administration_date"].min())
    assert (labs["date"] >= labs["patient_id"].map(incl)).all()
    assert (labs["date"] <= labs["patient_id"].map(last)).all()
    assert (aes["onset_date"] >= aes["patient_id"].map(first)).all()
    assert (aes["onset_date"] <= aes["patient_id"].map(last)).all()
    # the untreated patient has no labs after baseline and no adverse events
    assert "P097" not in set(aes["patient_id"])


def test_baseline_rows_equal_patients_table(trial, simulated):
    patients, _, _ = trial
    labs, _ = simulated
    p = patients.set_index("patient_id")
    base = labs[(labs["date"] == labs["patient_id"].map(pd.to_datetime(p["inclusion_date"])))
                & (labs["test"] == "platelets")].set_index("patient_id")["value"]
    np.testing.assert_allclose(base, p.loc[base.index, "baseline_platelets_1e9_l"])


def _relative_counts(labs: pd.DataFrame, cycles: pd.DataFrame, test: str) -> pd.DataFrame:
    """Count relative to the patient's baseline, with days since the latest cycle and its number."""
    x = labs[(labs["test"] == test) & (labs["unit"] == "10^9/L")].copy()
    base = x.sort_values("date").groupby("patient_id")["value"].first()
    x["relative"] = x["value"] / x["patient_id"].map(base)
    c = cycles.assign(administration_date=pd.to_datetime(cycles["administration_date"]))
    x = pd.merge_asof(x.sort_values("date"), c.sort_values("administration_date"),
                      left_on="date", right_on="administration_date", by="patient_id",
                      allow_exact_matches=False)
    x["days_after"] = (x["date"] - x["administration_date"]).dt.days
    return x.dropna(subset=["cycle"])


def test_platelet_nadir_weeks_after_cycle(trial, simulated):
    _, cycles, _ = trial
    x = _relative_counts(simulated[0], cycles, "platelets")
    weekly = x[x["days_after"].isin([7, 14, 21, 28, 35, 42])]
    by_day = weekly.groupby("days_after")["relative"].median()
    assert by_day.idxmin() in (21, 28, 35)              # nadir three to five weeks after the cycle
    assert by_day.min() < 0.85 * by_day[7]             # a real dip ...
    assert by_day[42] > by_day.min()                    # ... and recovery


def test_cumulative_effect_over_cycles(trial, simulated):
    _, cycles, _ = trial
    x = _relative_counts(simulated[0], cycles, "platelets")
    nadir = x[x["days_after"] == 28]
    early = nadir[nadir["cycle"] == 1]["relative"].median()
    later = nadir[nadir["cycle"] == 4]["relative"].median()
    assert later < early - 0.05
    # within patients too: the fourth nadir is deeper than the first in most patients
    paired = nadir.pivot_table(index="patient_id", columns="cycle", values="relative")[[1, 4]]
    paired = paired.dropna()
    assert len(paired) > 20
    assert (paired[4] < paired[1]).mean() > 0.7


def test_renal_decline_steeper_with_bed(trial):
    patients, cycles, events = trial
    # Double the BED of half the patients: their decline must be steeper than their own at 1x.
    labs1, _ = simulate_safety(patients, cycles, events, seed=SEED)
    cycles2 = cycles.copy()
    cycles2["kidney_bed_gy"] *= 2
    labs2, _ = simulate_safety(patients, cycles2, events, seed=SEED)

    def loss_at_2y(labs: pd.DataFrame) -> pd.Series:
        g = labs[labs["test"] == "measured_gfr"].sort_values("date")
        first = g.groupby("patient_id")["value"].first()
        at2 = g.groupby("patient_id").nth(2).set_index("patient_id")["value"]
        return 1 - at2 / first.loc[at2.index]

    l1, l2 = loss_at_2y(labs1), loss_at_2y(labs2)
    assert len(l1) > 30
    assert (l2.median() - l1.median()) > 0.03
    # and across patients: higher delivered BED, steeper decline (rank correlation)
    bed = cycles.groupby("patient_id")["kidney_bed_gy"].sum()
    rho = pd.concat([l1, bed.loc[l1.index]], axis=1).corr(method="spearman").iloc[0, 1]
    assert rho > 0.15


def test_other_units_present_and_consistent(simulated):
    labs, _ = simulated
    hb_dl = labs[(labs["test"] == "hemoglobin") & (labs["unit"] == "g/dL")]
    cr_mg = labs[(labs["test"] == "creatinine") & (labs["unit"] == "mg/dL")]
    assert len(hb_dl) > 10 and len(cr_mg) > 3
    assert hb_dl["value"].between(5, 18).all()       # g/dL, not g/L
    assert cr_mg["uln"].round(2).eq(round(100 / 88.42, 2)).all()


def test_two_aml_cases_late(trial, simulated):
    _, cycles, _ = trial
    _, aes = simulated
    aml = aes[aes["term"] == "acute_myeloid_leukemia"]
    assert len(aml) == 2
    first = pd.to_datetime(cycles.groupby("patient_id")["administration_date"].min())
    years = (aml["onset_date"] - aml["patient_id"].map(first)).dt.days / 365.25
    np.testing.assert_allclose(sorted(years), [2.0, 4.0], atol=0.01)


def test_expected_count_allocation_hits_paper_counts(simulated):
    _, aes = simulated
    # Early fatigue: 60 patients of 96 with any grade (worst grade per patient, many events).
    fatigue = aes[aes["term"] == "fatigue"]
    assert fatigue.groupby("patient_id").size().max() > 1       # several events per patient
    assert 60 <= fatigue["patient_id"].nunique() <= 60 + 9      # + late-only fatigue patients


def test_ckd_epi_known_value():
    # 60-year-old man, creatinine 1.0 mg/dL: 141 · (1/0.9)^-1.209 · 0.993^60 = 81.4
    assert ckd_epi_2009(np.array([88.42]), 60, False)[0] == pytest.approx(
        141 * (1 / 0.9) ** -1.209 * 0.993 ** 60, rel=1e-12)
    assert ckd_epi_2009(np.array([88.42]), 60, False)[0] == pytest.approx(81.44, abs=0.01)


def test_bad_parameters_and_inputs(trial):
    patients, cycles, events = trial
    with pytest.raises(InputError, match="unknown parameter"):
        SafetySimulationParameters.from_overrides({"no_such_thing": 1})
    with pytest.raises(InputError, match="four non-negative"):
        SafetySimulationParameters(early_events={"fatigue": (0.5, 0.6, 0.0, 0.0)})
    with pytest.raises(InputError, match="cycles"):
        simulate_safety(patients, cycles.drop(columns=["administration_date"]), events, seed=1)
    bad = patients.copy()
    bad.loc[3, "inclusion_date"] = "2011-13-45"
    with pytest.raises(InputError, match="row 3"):
        simulate_safety(bad, cycles, events, seed=1)


def test_tables_pass_the_cohort_schema():
    import dataclasses

    from iluminet.synthetic.trial import generate_cohort

    cohort = generate_cohort(fast=True)
    labs, aes = simulate_safety(cohort.patients, cohort.cycles, cohort.events, seed=SEED)
    checked = dataclasses.replace(cohort, labs=labs, adverse_events=aes).validated()
    assert len(checked.labs) == len(labs) and len(checked.adverse_events) == len(aes)
