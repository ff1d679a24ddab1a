"""A small hand-built cohort (as tests/cohort/test_efficacy.py) whose BED groups are known:
delivered BED P1 30 Gy (> 29), P2 15, P3 12 (< 25), P4 4, P5 4.5, P6 28 (25–29); the waterfall
(response-evaluable P1–P3) then holds only "< 25 Gy" and "> 29 Gy", the KM curves all three."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


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


def make_cohort() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    patients = pd.DataFrame([
        _patient("P1", ki67_percent=1.0, ecog=0),
        _patient("P2", ki67_percent=15.0, ecog=1, origin="pancreas"),
        _patient("P3", ki67_percent=5.0, ecog=1, origin="lung"),
        _patient("P4", ecog=None),
        _patient("P5", ki67_percent=12.0, ecog=2),
        _patient("P6", protocol_deviation=True),
        _patient("P7", treated=False),
    ])
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
    cycles = pd.DataFrame([
        {"patient_id": pid, "cycle": i, "administration_date": date,
         "administered_activity_mbq": 7400.0, "step": step, "kidney_dose_gy": 0.9 * bed,
         "kidney_bed_gy": bed}
        for pid, rows in spec.items() for i, (date, step, bed) in enumerate(rows, start=1)])
    series = {
        "P1": [("2019-12-20", 50), ("2020-04-01", 45), ("2020-07-01", 42), ("2020-10-01", 40),
               ("2020-11-10", 30), ("2021-02-10", 0)],
        "P2": [("2019-12-18", 50), ("2020-04-15", 40), ("2020-07-15", 60)],
        "P3": [("2019-12-19", 50), ("2020-04-20", 48)],
        "P4": [("2019-12-21", 50)], "P5": [("2019-12-22", 50)],
        "P6": [("2019-12-23", 50), ("2020-04-10", 47)], "P7": [("2019-12-24", 50)],
    }
    lesions = pd.DataFrame([
        {"patient_id": pid, "assessment_date": d, "lesion_id": "L1", "organ": "liver",
         "is_lymph_node": False, "category": "target", "diameter_mm": x,
         "too_small_to_measure": False, "non_target_status": np.nan}
        for pid, rows in series.items() for d, x in rows])

    def ev(pid, end, reason, step1, prog=None, death=None, last="2023-01-01"):
        return {"patient_id": pid, "treatment_end_date": end, "treatment_end_reason": reason,
                "step1_completed": step1, "progression_date": prog, "death_date": death,
                "death_cause": None if death is None else "tumour",
                "last_followup_date": death or last}

    events = pd.DataFrame([
        ev("P1", "2020-10-16", "step2_completed", True),
        ev("P2", "2020-06-08", "progression", False, prog="2020-07-15", death="2021-03-01"),
        ev("P3", "2020-03-25", "toxicity", False, death="2020-07-01"),
        ev("P4", "2020-01-12", "withdrawal", False, last="2020-06-01"),
        ev("P5", "2020-01-14", "death", False, death="2020-02-20"),
        ev("P6", "2020-08-13", "step1_completed", True),
    ])
    return patients, cycles, lesions, events


@pytest.fixture(scope="session")
def efficacy_results():
    from iluminet.trial.efficacy import efficacy_analysis

    return efficacy_analysis(*make_cohort())
