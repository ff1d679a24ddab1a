"""Uncertainty propagation: hand-computable cases, analytic vs Monte Carlo on the demo patients,
invariants, and bad per-scan uncertainty input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iluminet.config.params import load_parameters
from iluminet.errors import InputError
from iluminet.patient import kinetics
from iluminet.patient.chain import KidneyFit, run_patient_dosimetry
from iluminet.patient.entry import prepare_patient
from iluminet.patient.planning import BedCovariance
from iluminet.patient.records import load_patient
from iluminet.uncertainty.budget import COMPONENTS, Budget
from iluminet.uncertainty.model import build_error_model
from iluminet.uncertainty.propagation import propagate_analytic, propagate_monte_carlo

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo" / "patients"
ZERO = Budget({c.name: 0.0 for c in COMPONENTS}, 0.0, 0.0)


def _fit(times, activities, cycle=1, kidney="left"):
    t, a = np.asarray(times, float), np.asarray(activities, float)
    fitter = kinetics.fit_time_activity(t, a, model="mono")
    return KidneyFit(cycle, kidney, t, a, np.ones(t.size, bool), fitter)


def _model(fits, budget, cycles=(1,)):
    masses = {(f.cycle, f.kidney): 150.0 for f in fits}
    return build_error_model(fits, masses, {}, list(cycles), list(cycles), budget=budget,
                             alpha_beta_gy=2.6, repair_half_time_h=2.8, phantom="adult_male",
                             kidney_for_decision="mean")


def _curve(times, a0=100.0, t_eff=50.0):
    return a0 * np.exp(-math.log(2) / t_eff * np.asarray(times, float))


def test_shared_scale_error_gives_the_same_relative_tia_error_whatever_the_number_of_scans():
    for times in ([24, 96, 168], [4, 24, 48, 96, 168], [3, 6, 24, 48, 72, 96, 120, 168]):
        fit = _fit(times, _curve(times))
        result = propagate_analytic(_model([fit], ZERO.scaled(spect_level=0.06)))
        rel = result.sd("tia_mbq_h")[0] / result.value["tia_mbq_h"][0]
        assert rel == pytest.approx(0.06, rel=1e-4)


def test_one_scan_with_a_known_error_gives_the_tia_error_by_hand():
    # mono fit through 3 points: ln A0 and λ are linear in ln y; with an error u on the scan at
    # t_k only, u(ln TIA) = u · |∂(ln A0 − ln λ)/∂ ln y_k| computed from the regression weights
    times = np.array([24.0, 96.0, 168.0])
    fit = _fit(times, _curve(times))
    budget = ZERO.scaled(count_statistics=0.05)
    model = _model([fit], budget)
    # only the 96 h scan has an error: zero the others' σ
    for i, (name, unit, _) in enumerate(model.variables):
        if name == "count_statistics" and not unit.endswith(" 96 h"):
            model.variables[i] = (name, unit, 0.0)
    result = propagate_analytic(model)
    x = np.column_stack([np.ones(3), -times])
    lmat = np.linalg.solve(x.T @ x, x.T)  # rows: d lnA0/d ln y, d λ/d ln y
    lam = math.log(2) / 50.0
    d_ln_tia = lmat[0, 1] - lmat[1, 1] / lam  # ln TIA = ln A0 − ln λ
    expected = 0.05 * abs(d_ln_tia)
    rel = result.sd("tia_mbq_h")[0] / result.value["tia_mbq_h"][0]
    assert rel == pytest.approx(expected, rel=1e-3)


def test_independent_errors_shrink_as_scans_are_added():
    rels = []
    for times in ([24, 96, 168], [24, 48, 96, 168], [24, 48, 72, 96, 120, 168],
                  list(np.linspace(24, 168, 12))):
        fit = _fit(times, _curve(times))
        result = propagate_analytic(_model([fit], ZERO.scaled(count_statistics=0.05)))
        rels.append(result.sd("tia_mbq_h")[0] / result.value["tia_mbq_h"][0])
    assert all(b < a for a, b in zip(rels, rels[1:]))


def test_covariance_of_two_cycles_sharing_a_calibration():
    times = [24, 96, 168]
    fits = [_fit(times, _curve(times), cycle=c, kidney=k) for c in (1, 2)
            for k in ("left", "right")]
    result = propagate_analytic(_model(fits, ZERO.scaled(camera_calibration=0.05), (1, 2)))
    doses = result.value["cycle_dose_gy"]
    cov = result.covariance("cycle_dose_gy")
    # fully shared 5 % scale: cov = (0.05 D1)(0.05 D2), correlation 1
    assert cov[0, 1] == pytest.approx(0.05 ** 2 * doses[0] * doses[1], rel=1e-4)
    assert cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]) == pytest.approx(1.0, abs=1e-6)
    # independent per-cycle SPECT levels: no covariance between cycles
    indep = propagate_analytic(_model(fits, ZERO.scaled(spect_level=0.05), (1, 2)))
    assert abs(indep.covariance("cycle_dose_gy")[0, 1]) < 1e-12
    # the cumulative BED variance includes the covariance: u²(B1+B2) = u1² + u2² + 2 cov
    c = result.covariance("cycle_bed_gy")
    assert result.sd("cumulative_bed_gy")[1] ** 2 == pytest.approx(c.sum(), rel=1e-6)


@pytest.mark.parametrize("patient", ["P001", "P002", "P003", "P004"])
def test_analytic_and_monte_carlo_agree_within_5_percent_on_demo_patients(patient):
    params = load_parameters()
    record = prepare_patient(DEMO, patient, params).record
    result = run_patient_dosimetry(record, params)
    model = result.uncertainty_.model
    analytic = propagate_analytic(model)
    mc = propagate_monte_carlo(model, 20000, seed=7)
    for name in ("tia_mbq_h", "dose_gy", "cumulative_bed_gy"):
        a, m = analytic.sd(name), mc.sd(name)
        ok = np.isfinite(a)
        assert ok.any()
        np.testing.assert_allclose(m[ok], a[ok], rtol=0.05, err_msg=f"{patient} {name}")


@settings(max_examples=30, deadline=None)
@given(u=st.one_of(st.just(0.0), st.floats(1e-4, 0.2)), t_eff=st.floats(20.0, 150.0),
       n=st.integers(3, 8), factor=st.floats(0.1, 10.0))
def test_invariants(u, t_eff, n, factor):
    times = np.linspace(20, 170, n)
    fit = _fit(times, _curve(times, t_eff=t_eff))
    base = propagate_analytic(_model([fit], ZERO.scaled(count_statistics=u, spect_level=u)))
    rel = base.sd("tia_mbq_h")[0] / base.value["tia_mbq_h"][0]
    # the relative TIA uncertainty never falls below the shared part, and is scale-free
    assert rel >= u * (1 - 1e-6)
    scaled_fit = _fit(times, factor * _curve(times, t_eff=t_eff))
    scaled = propagate_analytic(_model([scaled_fit],
                                       ZERO.scaled(count_statistics=u, spect_level=u)))
    assert scaled.sd("tia_mbq_h")[0] / scaled.value["tia_mbq_h"][0] == pytest.approx(
        rel, rel=1e-5, abs=1e-9)


def test_bed_covariance_sd_after_matches_the_sum_of_the_covariance():
    cov = np.array([[0.2, 0.05], [0.05, 0.3]])
    bc = BedCovariance(cov, 0.0)
    # no cycle ahead: the SD of the sum
    assert bc.sd_after_gy([4.0, 5.0], 0, "mean") == pytest.approx(math.sqrt(cov.sum()))
    # one ahead with the mean: g = 1.5 each
    assert bc.sd_after_gy([4.0, 5.0], 1, "mean") == pytest.approx(math.sqrt(2.25 * cov.sum()))


HEADER = "patient_id,cycle,time_h,left_kidney_activity_mbq,right_kidney_activity_mbq"


def _patient_with_u(tmp_path, column, values):
    folder = tmp_path / "P001"
    import shutil

    shutil.copytree(DEMO / "P001", folder)
    path = folder / "kidney_activity.csv"
    lines = path.read_text().splitlines()
    out = [lines[0] + f",{column}"]
    for line, value in zip(lines[1:], values):
        out.append(line + f",{value}")
    path.write_text("\n".join(out) + "\n")
    return folder, len(lines) - 1


@pytest.mark.parametrize("bad, message", [("-1", "≥ 0"), ("abc", "not a number"),
                                          ("150", "exceeds 100 %")])
def test_bad_per_scan_uncertainty_names_file_row_and_field(tmp_path, bad, message):
    folder, n = _patient_with_u(tmp_path, "left_kidney_activity_mbq_u_percent", ["2"] * 100)
    path = folder / "kidney_activity.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + f",{bad}"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        load_patient(folder)
    text = str(info.value)
    assert "kidney_activity.csv" in text and "row 3" in text
    assert "left_kidney_activity_mbq_u_percent" in text and message in text


def test_uncertainty_for_some_scans_only_is_an_error(tmp_path):
    folder, n = _patient_with_u(tmp_path, "right_kidney_activity_mbq_u_mbq", ["0.5", ""] * 100)
    with pytest.raises(InputError) as info:
        load_patient(folder)
    assert "row 2" in str(info.value) and "every scan" in str(info.value)


def test_per_scan_uncertainty_enters_the_count_statistics(tmp_path):
    params = load_parameters()
    folder, n = _patient_with_u(tmp_path, "left_kidney_activity_mbq_u_percent", ["20"] * 100)
    record = load_patient(folder)
    assert np.allclose(record.activity.loc[record.activity.kidney == "left",
                                           "activity_u_relative"], 0.20)
    result = run_patient_dosimetry(record, params)
    plain = run_patient_dosimetry(load_patient(DEMO / "P001"), params)
    big = result.uncertainty_.kidney_table().set_index(["cycle", "kidney"])
    small = plain.uncertainty_.kidney_table().set_index(["cycle", "kidney"])
    assert (big.loc[(1, "left"), "tia_mbq_h_relative_u"]
            > 1.5 * small.loc[(1, "left"), "tia_mbq_h_relative_u"])
    assert big.loc[(1, "right"), "tia_mbq_h_relative_u"] == pytest.approx(
        small.loc[(1, "right"), "tia_mbq_h_relative_u"])


def test_risk_limited_policy_and_decision_text():
    from iluminet.patient.planning import allows_another_cycle, cycles_allowed

    # 24 Gy so far, 4.9 Gy predicted: 28.9 ≤ 29 (within_tolerance gives it) but with σ = 1.5 Gy
    # P(> 29 Gy) ≈ 47 %: risk_limited at 10 % refuses it
    assert allows_another_cycle(24.0, 4.9, 27.0, 2.0, "within_tolerance")
    assert not allows_another_cycle(24.0, 4.9, 27.0, 2.0, "risk_limited", sd_after_gy=1.5,
                                    max_overshoot_probability=0.10)
    assert allows_another_cycle(24.0, 4.9, 27.0, 2.0, "risk_limited", sd_after_gy=1.5,
                                max_overshoot_probability=0.60)
    # without uncertainty risk_limited counts like within_tolerance
    assert cycles_allowed(10.0, 4.9, 27.0, 2.0, "risk_limited") == \
        cycles_allowed(10.0, 4.9, 27.0, 2.0, "within_tolerance")
    params = load_parameters()
    result = run_patient_dosimetry(prepare_patient(DEMO, "P001", params).record, params)
    assert any("P(> 29 Gy)" in reason for reason in result.decision_.reasons)
    p = result.next_cycle_probabilities_
    assert 0.0 <= p.p_overshoot <= 1.0 and abs(sum(p.cycles_remaining.values()) - 1) < 1e-3


def test_results_json_adds_uncertainty_keys_and_keeps_the_old_ones(tmp_path):
    import json

    from iluminet.report.patient_results import write_patient_results

    params = load_parameters()
    result = run_patient_dosimetry(prepare_patient(DEMO, "P002", params).record, params)
    content = json.loads(write_patient_results(result, tmp_path).read_text())
    cycle = content["cycles"][-1]
    for key in ("dose_gy", "bed_gy", "cumulative_bed_gy", "kidneys", "flags"):
        assert key in cycle
    lo, hi = cycle["cumulative_bed_gy_95"]
    assert lo < cycle["cumulative_bed_gy"] < hi and cycle["cumulative_bed_gy_u"] > 0
    left = cycle["kidneys"]["left"]
    assert left["tia_u_mbq_h"] > 0 and left["dose_gy_95"][0] < left["dose_gy"]
    probs = content["decision"]["probabilities"]
    assert 0 <= probs["p_overshoot"] <= 1 and probs["limit_gy"] == 40.0
    budget = content["uncertainty"]["latest_cycle_dose_budget"]
    assert abs(sum(b["fraction"] for b in budget) - 1.0) < 1e-3
    assert "dominant source" in content["uncertainty"]["dominant_source"]


@pytest.mark.parametrize("patient", ["P001", "P002", "P003"])
def test_analytic_and_monte_carlo_decision_probabilities_agree(patient):
    found = {}
    for method in ("analytic", "monte_carlo"):
        params = load_parameters()
        params["analysis"]["uncertainty"]["method"] = method
        params["analysis"]["uncertainty"]["n_draws"] = 20000
        result = run_patient_dosimetry(prepare_patient(DEMO, patient, params).record, params)
        found[method] = result.next_cycle_probabilities_
    a, m = found["analytic"], found["monte_carlo"]
    assert a.method == "analytic" and m.method == "Monte Carlo"
    assert m.p_overshoot == pytest.approx(a.p_overshoot, abs=0.03)
    assert m.p_within == pytest.approx(a.p_within, abs=0.03)
    assert m.sd_after_gy == pytest.approx(a.sd_after_gy, rel=0.05)
