"""The measurement-level chain against the demo generator's ground truth and the decision
branches."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from iluminet.config.params import merge_parameters
from iluminet.patient import dosimetry, radiobiology
from iluminet.patient.chain import run_patient_dosimetry
from iluminet.patient.records import load_patient
from iluminet.synthetic.demo_patients import (
    SCENARIOS,
    generate_demo_patient,
    generate_demo_patients,
)


@pytest.fixture(scope="module")
def noise_free(tmp_path_factory):
    out = tmp_path_factory.mktemp("noise_free")
    folders = []
    for scenario in SCENARIOS[:3]:
        generate_demo_patient(scenario, out / scenario.patient_id, seed=7, measurement_cv=0.0)
        folders.append(out / scenario.patient_id)
    return folders


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate_demo_patients(tmp_path_factory.mktemp("demo"))


def test_noise_free_tia_dose_and_bed_match_truth(noise_free, default_params):
    for folder in noise_free:
        truth = json.loads((folder / "truth.json").read_text())
        result = run_patient_dosimetry(load_patient(folder), default_params)
        for cycle in truth["cycles"]:
            for side, kidney in cycle["kidneys"].items():
                fit = result.fits_[
                    (result.fits_.cycle == cycle["cycle"]) & (result.fits_.kidney == side)
                ]
                # the mono fit from 24 h treats the 0.25 h uptake as instant: +0.25/T_eff ≈ +0.5 %
                assert fit.tia_mbq_h.item() == pytest.approx(kidney["tia_mbq_h"], rel=0.01)
                assert fit.effective_half_life_h.item() == pytest.approx(
                    kidney["t_eff_h"], rel=1e-3
                )  # CSV keeps 0.01 MBq
                assert fit["flags"].item() == ""
                doses = result.kidney_doses_
                row = doses[(doses.cycle == cycle["cycle"]) & (doses.kidney == side)]
                expected_dose = kidney["tia_mbq_h"] * dosimetry.kidney_s_value_mgy_per_mbq_h(
                    row.mass_g.item(), "adult_male") / 1000.0
                assert row.dose_gy.item() == pytest.approx(expected_dose, rel=0.01)
                assert row.bed_gy.item() == pytest.approx(radiobiology.bed_monoexponential(
                    row.dose_gy.item(), kidney["t_eff_h"]), rel=1e-3)
        cycles = result.cycles_
        assert np.allclose(cycles.cumulative_bed_gy, np.cumsum(cycles.bed_gy))
        left = result.kidney_doses_[result.kidney_doses_.kidney == "left"].bed_gy.to_numpy()
        right = result.kidney_doses_[result.kidney_doses_.kidney == "right"].bed_gy.to_numpy()
        assert np.allclose(cycles.bed_gy, (left + right) / 2)


def test_noisy_demo_tia_within_measurement_noise(demo, default_params):
    errors = []
    for folder in demo[:3]:  # the fourth carries a deliberate defect
        truth = json.loads((folder / "truth.json").read_text())
        fits = run_patient_dosimetry(load_patient(folder), default_params).fits_.set_index(
            ["cycle", "kidney"]
        )
        for cycle in truth["cycles"]:
            for side, kidney in cycle["kidneys"].items():
                errors.append(
                    fits.loc[(cycle["cycle"], side), "tia_mbq_h"] / kidney["tia_mbq_h"] - 1
                )
    errors = np.array(errors)
    assert len(errors) == 30
    assert np.abs(errors).max() < 0.20      # 6 % noise on three points
    assert abs(errors.mean()) < 0.05        # no systematic bias


def test_demo_scenarios_reach_their_decision(demo, default_params):
    for folder, scenario in zip(demo, SCENARIOS):
        decision = run_patient_dosimetry(load_patient(folder), default_params).decision_
        assert scenario.expected.startswith(decision.action.value), (folder.name, decision.reasons)


def test_kidney_for_decision_max(demo, default_params):
    params = merge_parameters(
        default_params, ("test", {"analysis": {"dosimetry": {"kidney_for_decision": "max"}}})
    )
    result = run_patient_dosimetry(load_patient(demo[0]), params)
    per_kidney = result.kidney_doses_.pivot(index="cycle", columns="kidney", values="bed_gy")
    assert np.allclose(result.cycles_.bed_gy, per_kidney.max(axis=1))


def test_protocol_override_changes_the_decision(demo, default_params):
    """α/β and limits reach the BED and the decision (a method developer's what-if)."""
    lower = merge_parameters(
        default_params, ("test", {"protocol": {"step1": {"bed_limit_gy": 12.0}}})
    )
    base = run_patient_dosimetry(load_patient(demo[0]), default_params)
    changed = run_patient_dosimetry(load_patient(demo[0]), lower)
    assert base.decision_.action.value == "next_cycle"
    assert changed.decision_.action.value.startswith("step1_complete")
    softer = merge_parameters(
        default_params, ("test", {"protocol": {"radiobiology": {"alpha_beta_gy": 5.0}}})
    )
    assert (
        run_patient_dosimetry(load_patient(demo[0]), softer).cycles_.bed_gy < base.cycles_.bed_gy
    ).all()


def test_missing_time_points_withhold_the_decision(tmp_path, default_params):
    folder = tmp_path / "P001"
    generate_demo_patient(SCENARIOS[0], folder, seed=3)
    table = pd.read_csv(folder / "kidney_activity.csv")
    table = table.drop(index=table.index[(table.cycle == 2)][2:])  # cycle 2 keeps only 1 h and 24 h
    table.to_csv(folder / "kidney_activity.csv", index=False)
    result = run_patient_dosimetry(load_patient(folder), default_params)
    assert result.decision_.action.value == "withhold"
    assert any("cycle 2: left kidney: only 1 usable scan(s)" in r for r in result.decision_.reasons)
    assert math.isnan(result.cycles_.cumulative_bed_gy.iloc[1])
