"""Ground truth: calibration and the hybrid chain against the simulator's truth.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from iluminet.imaging import calibrate_camera, quantify_patient, write_measurement_tables
from iluminet.patient.dosimetry import electron_s_value_mgy_per_mbq_h
from iluminet.patient.kinetics import fit_time_activity


def _errors(root: Path) -> dict[str, list[float]]:
    calibration, _, _ = calibrate_camera(root / "calibration", "virtual")
    out: dict[str, list[float]] = {"activity_1h": [], "activity": [], "spect": [], "tia": [],
                                   "dose": [], "mass": []}
    for patient in sorted((root / "patients").iterdir()):
        result = quantify_patient(patient, calibration)
        for cq in result.cycles:
            truth = json.loads((cq.study.folder / "truth.json").read_text())
            scans = {s["datetime"]: s for s in truth["scans"]}
            spect_truth = next(s for s in truth["scans"] if s["kind"] == "spect")
            assert len(cq.kidney_activity) == len(truth["scans"]) - 2  # all planar scans
            for side in ("left", "right"):
                t_h, a = [], []
                for _, row in cq.kidney_activity.iterrows():
                    scan = scans[row["scan_datetime"]]
                    value = row[f"{side}_kidney_activity_mbq"]
                    key = "activity_1h" if scan["nominal_time_h"] < 2 else "activity"
                    out[key].append(value / scan["activity_mbq"][f"kidney_{side}"] - 1)
                    t_h.append(scan["time_h"])
                    a.append(value)
                t_h, a = np.array(t_h), np.array(a)
                fit = fit_time_activity(t_h[t_h >= 2], a[t_h >= 2], "mono")
                kidney = truth["kidneys"][side]
                mass = cq.masses_g[side]
                dose = fit.tia_mbq_h_ * electron_s_value_mgy_per_mbq_h(mass) / 1000.0
                out["tia"].append(fit.tia_mbq_h_ / kidney["tia_mbq_h"] - 1)
                out["dose"].append(dose / kidney["absorbed_dose_gy"] - 1)
                out["mass"].append(mass / kidney["mass_g"] - 1)
                spect = cq.spect.set_index("kidney").loc[side, "activity_mbq"]
                out["spect"].append(spect / spect_truth["activity_mbq"][f"kidney_{side}"] - 1)
    return out


def _summary(errors: dict[str, list[float]]) -> str:
    return "; ".join(f"{k}: mean {np.mean(v):+.4f} sd {np.std(v, ddof=1):.4f} "
                     f"max {np.max(np.abs(v)):.4f}" for k, v in errors.items())


@pytest.mark.slow
def test_hybrid_chain_noise_free_within_5_percent(cohort_noise_free):
    errors = _errors(cohort_noise_free)
    print(_summary(errors))
    assert len(errors["tia"]) == 20
    # every time point, the 1 h scan (blood pool 40–50 times the kidney activity) included
    for key in ("activity_1h", "activity", "spect", "tia", "dose"):
        assert np.max(np.abs(errors[key])) < 0.05, (key, _summary(errors))
    assert np.max(np.abs(errors["mass"])) < 1e-6  # same voxelised VOI, same density


@pytest.mark.slow
def test_hybrid_chain_noisy_within_10_percent(cohort_noisy):
    errors = _errors(cohort_noisy)
    print(_summary(errors))
    for key in ("activity_1h", "activity", "spect", "tia", "dose"):
        assert np.max(np.abs(errors[key])) < 0.10, (key, _summary(errors))
    # no systematic bias in the kidney dose
    assert abs(np.mean(errors["dose"])) < 0.02


def test_calibration_recovers_simulated_camera(one_patient, tmp_path):
    calibration, planar, phantom = calibrate_camera(one_patient / "calibration", "virtual")
    planar_truth = json.loads(
        (one_patient / "calibration/planar_sensitivity/truth.json").read_text())
    phantom_truth = json.loads(
        (one_patient / "calibration/spect_phantom/truth.json").read_text())
    assert planar.activity_at_acquisition_mbq == pytest.approx(
        planar_truth["activity_at_acquisition_mbq"], rel=1e-6)
    assert calibration.planar_sensitivity_cps_per_mbq == pytest.approx(
        planar_truth["true_sensitivity_cps_per_mbq"], rel=0.02)
    assert calibration.calibration_factor_bq_per_cps == pytest.approx(
        phantom_truth["camera"]["calibration_factor_bq_per_cps"], rel=0.02)
    for mine, true in zip(phantom.spheres, phantom_truth["spheres"]):
        assert mine["recovery_coefficient_mean"] == pytest.approx(
            true["recovery_coefficient_mean"], rel=0.02)
    assert calibration.recovery_fwhm_mm == pytest.approx(
        phantom_truth["camera"]["fwhm_mm"], rel=0.05)


def test_calibration_noisy_within_2_percent(cohort_noisy):
    calibration, _, _ = calibrate_camera(cohort_noisy / "calibration", "virtual")
    assert calibration.planar_sensitivity_cps_per_mbq == pytest.approx(6.0, rel=0.02)
    assert calibration.spect_sensitivity_cps_per_mbq == pytest.approx(10.0, rel=0.02)


def test_measurement_tables_feed_the_measurement_chain(one_patient, tmp_path):
    from iluminet.config.params import load_parameters
    from iluminet.patient.chain import run_patient_dosimetry
    from iluminet.patient.records import ACTIVITY_COLUMNS, load_patient

    calibration, _, _ = calibrate_camera(one_patient / "calibration", "virtual")
    patient = one_patient / "patients" / "VP001"
    result = quantify_patient(patient, calibration)
    assert list(result.kidney_activity.columns)[:4] == list(ACTIVITY_COLUMNS)
    # beside the activities: the Poisson uncertainty of each scan's shape signal (percent)
    u = result.kidney_activity["left_kidney_activity_mbq_u_percent"]
    assert u.notna().all() and ((u > 0) & (u < 20)).all()
    out = tmp_path / "VP001"
    paths = write_measurement_tables(result, out)
    assert {"kidney_activity", "kidney_masses", "cycles", "patient"} <= set(paths)
    record = load_patient(out)
    assert len(record.activity) == 2 * len(result.kidney_activity)
    dosimetry = run_patient_dosimetry(record, load_parameters(root=Path(__file__).parents[2]))
    truth = json.loads((patient / "cycle_01/truth.json").read_text())
    doses = dosimetry.kidney_doses_.set_index("kidney")
    for side in ("left", "right"):
        true_dose = truth["kidneys"][side]["absorbed_dose_gy"]
        # the chain's S value adds the phantom photon self-dose (+1–1.5 %) to the electron truth
        assert doses.loc[side, "dose_gy"] == pytest.approx(true_dose, rel=0.05)


def test_calibration_yaml_roundtrip_and_age_flags(one_patient, tmp_path):
    from datetime import date

    from iluminet.errors import InputError
    from iluminet.imaging import calibration_age_flags, load_calibration, save_calibration

    calibration, _, _ = calibrate_camera(one_patient / "calibration", "cam A")
    path = save_calibration(calibration, tmp_path)
    assert path.name == "cam A.yaml"
    loaded = load_calibration(path)
    assert loaded.calibration_factor_bq_per_cps == pytest.approx(
        calibration.calibration_factor_bq_per_cps)
    assert loaded.acquisition_date == calibration.acquisition_date
    day = calibration.acquisition_date
    assert calibration_age_flags(loaded, day, 30) == []
    old = calibration_age_flags(loaded, date.fromordinal(day.toordinal() + 31), 30)
    assert len(old) == 1 and "31 days old" in old[0]
    path.write_text(path.read_text().replace("spect_sensitivity_cps_per_mbq:",
                                             "spect_sensitivity_cps_per_mbq: -1 #"))
    with pytest.raises(InputError, match="spect_sensitivity_cps_per_mbq"):
        load_calibration(path)
