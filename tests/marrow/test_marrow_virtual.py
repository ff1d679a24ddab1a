"""Marrow methods on virtual patients whose forward model departs from the analysis' assumptions
(iluminet.synthetic.virtual.marrow): independent-simulation evidence, not consistency."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iluminet.synthetic.trial.marrow_model import PUBLISHED_GY_PER_GBQ
from iluminet.synthetic.virtual.marrow import evaluate_marrow_methods

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clean() -> pd.DataFrame:
    return pd.DataFrame(evaluate_marrow_methods(range(100, 110)))


def test_blood_based_tia_within_15_percent_on_average(clean: pd.DataFrame) -> None:
    error = clean["blood_ratio"] - 1.0
    assert abs(error.mean()) < 0.15
    assert error.abs().mean() < 0.15


def test_image_based_tia_within_20_percent_on_average_without_lesions(clean: pd.DataFrame) -> None:
    error = clean["image_ratio"] - 1.0
    assert error.abs().mean() < 0.20
    # the SPECT level itself (vertebral activity at 24 h) is within 10 % for every patient
    assert np.all(np.abs(clean["vertebral_level_ratio"] - 1.0) < 0.10)
    assert not clean["flag"].any()


@pytest.fixture(scope="module")
def thirty() -> pd.DataFrame:
    return pd.DataFrame(evaluate_marrow_methods(range(100, 130)))


def test_per_patient_targets_hold_when_the_patient_parameters_are_known(thirty) -> None:
    """Issue targets per patient (15 % blood-based, 20 % image-based without lesions).

    With the analysis' assumed parameters (RMBLR 1, weight-scaled ICRP 89 mass, reference 6.7 %
    vertebral fraction) the targets hold on average only: the virtual patients' own RMBLR (SD 10 %),
    marrow mass (SD 10 %) and vertebral fraction (SD 15 %) put about a third of them outside,
    an error no measurement removes. With those three parameters set to the patient's values, the
    measurement chain (blood sampling and fit, SPECT recovery, PSF tail, marrow-bound activity)
    meets the targets for every one of 30 patients.
    """
    assert np.all(np.abs(thirty["blood_ratio_known_parameters"] - 1.0) < 0.15)
    assert np.all(np.abs(thirty["image_ratio_known_fraction"] - 1.0) < 0.20)
    # and with the assumed parameters a sizeable share is outside: the spread is real
    outside_blood = float(np.mean(np.abs(thirty["blood_ratio"] - 1.0) >= 0.15))
    outside_image = float(np.mean(np.abs(thirty["image_ratio"] - 1.0) >= 0.20))
    assert 0.1 < outside_blood < 0.5 and 0.1 < outside_image < 0.5


def test_vertebral_lesion_fires_flag_and_exclusion_removes_most_of_its_effect() -> None:
    df = pd.DataFrame(evaluate_marrow_methods(range(200, 205), lesion=True))
    assert df["flag"].all()
    assert np.all(df["image_ratio_no_exclusion"] > 1.5)  # metastasis raises the marrow estimate
    assert np.all(np.abs(df["vertebral_level_ratio"] - 1.0) < 0.15)  # excluded: level restored


def test_demo_cohort_marrow_dose_per_gbq_in_published_range() -> None:
    path = ROOT / "data" / "demo" / "cohort" / "cycles.csv"
    if not path.is_file():
        pytest.skip("demo cohort not generated")
    cycles = pd.read_csv(path)
    if "marrow_dose_gy" not in cycles:
        pytest.skip("demo cohort made before marrow doses existed: regenerate it")
    per_gbq = cycles["marrow_dose_gy"] / (cycles["administered_activity_mbq"] / 1000.0)
    low, high = PUBLISHED_GY_PER_GBQ
    assert low <= float(per_gbq.median()) <= high
    assert np.mean((per_gbq >= low) & (per_gbq <= high)) > 0.9


def test_demo_patients_blood_based_tia_against_truth(default_params) -> None:
    """Measurement-level demo patients: marrow truth differs from the analysis (true RMBLR and
    marrow mass drawn around the assumed values), so this is a (weak) independent check."""
    import json

    from iluminet.patient.chain import run_patient_dosimetry
    from iluminet.patient.records import find_patients, load_patient

    folder = ROOT / "data" / "demo" / "patients"
    if not folder.is_dir() or not (folder / "P001" / "blood_samples.csv").is_file():
        pytest.skip("demo patients without blood samples: regenerate (make run)")
    errors = []
    for pid in find_patients(folder):
        result = run_patient_dosimetry(load_patient(folder / pid), default_params)
        truth = json.loads((folder / pid / "truth.json").read_text())
        true_tia = [c["marrow"]["true_tia_rm_mbq_h"] for c in truth["cycles"]]
        errors += list(result.marrow_.cycles_["tia_rm_mbq_h"].to_numpy() / np.array(true_tia) - 1)
    errors_arr = np.array(errors)
    assert np.abs(errors_arr).mean() < 0.15
