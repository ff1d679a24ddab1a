"""Known-answer and property tests of the red-marrow dosimetry (iluminet.patient.marrow)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iluminet.errors import InputError
from iluminet.nuclide import LU177
from iluminet.patient import marrow

KEV_J = 1.602176634e-16


def test_reference_masses_icrp89() -> None:
    assert marrow.red_marrow_mass_g("M", scaling="none") == 1170.0
    assert marrow.red_marrow_mass_g("F", scaling="none") == 900.0
    # weight scaling: 1170 g × 87.6 / 73
    assert marrow.red_marrow_mass_g("M", 87.6) == pytest.approx(1404.0)
    assert marrow.red_marrow_mass_g("F", 60.0) == pytest.approx(900.0)
    # lean body mass of the reference itself gives the reference
    assert marrow.red_marrow_mass_g("M", 73.0, 176.0, "lean_body_mass") == pytest.approx(1170.0)
    with pytest.raises(InputError, match="weight_kg"):
        marrow.red_marrow_mass_g("M", None)


def test_s_value_electron_part_by_hand() -> None:
    s = marrow.marrow_s_values(1170.0, 73.0)
    # 147.92 keV × 1.602e-16 J/keV × 3.6e9 decays/(MBq h) / 1.170 kg = 0.07292 mGy/(MBq h)
    assert s.rm_from_rm == pytest.approx(0.07292, abs=5e-5)
    by_hand = 147.92 * KEV_J * 3.6e9 / 1.170 * 1e3
    assert s.rm_from_rm == pytest.approx(by_hand, rel=1e-12)
    # remainder correction: electron parts cancel, photon part φγ Eγ / m_TB · m_TB / m_RB remains
    photon = 0.35 * 35.10 * KEV_J * 3.6e9 / (73.0 - 1.170) * 1e3
    assert s.rm_from_rb == pytest.approx(photon, rel=1e-9)
    assert s.rm_from_tb == pytest.approx((147.92 + 0.35 * 35.10) * KEV_J * 3.6e9 / 73.0 * 1e3)


def test_blood_based_self_dose_mono_exponential_hand_formula() -> None:
    """c(t) = C0 e^(−λt): D_self = RMBLR · C0/λ / ρ_blood · E_e (marrow mass cancels)."""
    c0, t_half = 0.5, 30.0  # MBq/ml, h
    lam = math.log(2) / t_half
    t = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0])
    fit = marrow.BloodCurveFitter("mono").fit(t, c0 * np.exp(-lam * t))
    assert fit.tia_mbq_h_per_ml_ == pytest.approx(c0 / lam, rel=1e-9)
    s = marrow.marrow_s_values(1300.0, 80.0)
    dose = marrow.blood_based_marrow_dose(fit.tia_mbq_h_per_ml_, s, rmblr=1.0)
    # by hand: 0.5 × 43.28 h / 1.06 g/ml = 20.42 MBq h per g; × 3.6e9 × 147.92 keV → Gy
    hand_gy = 0.5 * (30.0 / math.log(2)) / 1.06 * 3.6e9 * 147.92 * KEV_J / 1e-3
    assert hand_gy == pytest.approx(1.7418, abs=1e-3)
    assert dose.self_dose_gy == pytest.approx(hand_gy, rel=1e-9)
    assert dose.cross_dose_gy == 0.0 and any("cross-dose" in f for f in dose.flags)
    half = marrow.blood_based_marrow_dose(fit.tia_mbq_h_per_ml_, s, rmblr=0.5)
    assert half.self_dose_gy == pytest.approx(0.5 * hand_gy, rel=1e-12)


def test_cross_dose_constant_whole_body_activity_is_s_times_tia() -> None:
    """Whole-body activity without biological clearance: Ã_WB = A0/λ_phys; D_cross = S·Ã_RB."""
    a0 = 7400.0
    s = marrow.marrow_s_values(1170.0, 73.0)
    tia_wb = a0 / LU177.decay_constant_per_h
    dose = marrow.blood_based_marrow_dose(2.0, s, whole_body_tia_mbq_h=tia_wb)
    tia_rb = tia_wb - dose.tia_rm_mbq_h
    assert dose.tia_rb_mbq_h == pytest.approx(tia_rb)
    assert dose.cross_dose_gy == pytest.approx(s.rm_from_rb * tia_rb / 1000.0, rel=1e-12)
    assert dose.dose_gy == pytest.approx(dose.self_dose_gy + dose.cross_dose_gy)


def test_haematocrit_form() -> None:
    assert marrow.rmblr_from_haematocrit(0.4) == pytest.approx(0.19 / 0.6)
    for bad in (0.05, 0.75, 42.0):
        with pytest.raises(InputError, match="haematocrit"):
            marrow.rmblr_from_haematocrit(bad)


def test_biexponential_blood_fit_recovers_tia() -> None:
    t = np.array([0.25, 0.5, 1.0, 2.0, 4.0, 24.0, 48.0, 96.0, 168.0])
    c = 1.2 * np.exp(-0.9 * t) + 0.02 * np.exp(-0.012 * t)
    fit = marrow.BloodCurveFitter("auto").fit(t, c)
    assert fit.model_ == "biexp"
    assert fit.tia_mbq_h_per_ml_ == pytest.approx(1.2 / 0.9 + 0.02 / 0.012, rel=1e-6)
    assert not fit.flags_


@settings(max_examples=40, deadline=None)
@given(st.floats(0.05, 2.0), st.floats(5.0, 150.0), st.floats(0.3, 1.5), st.floats(600, 2000))
def test_self_dose_linear_and_mass_independent(c0: float, t_half: float, rmblr: float,
                                               mass_g: float) -> None:
    lam = math.log(2) / t_half
    s1 = marrow.marrow_s_values(mass_g, 70.0)
    s2 = marrow.marrow_s_values(1170.0, 70.0)
    d1 = marrow.blood_based_marrow_dose(c0 / lam, s1, rmblr=rmblr).self_dose_gy
    d2 = marrow.blood_based_marrow_dose(c0 / lam, s2, rmblr=rmblr).self_dose_gy
    assert d1 == pytest.approx(d2, rel=1e-9)  # concentration-based: marrow mass cancels
    assert marrow.blood_based_marrow_dose(2 * c0 / lam, s1, rmblr=rmblr).self_dose_gy == \
        pytest.approx(2 * d1, rel=1e-9)


def _vertebra_scene(with_lesion: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    spect = np.full((20, 20, 20), 0.001)
    voi = np.zeros(spect.shape, dtype=bool)
    voi[5:15, 8:12, 8:12] = True
    spect[voi] = 0.01
    lesion = np.zeros(spect.shape, dtype=bool)
    if with_lesion:
        lesion[9:11, 9:11, 9:11] = True
        spect[lesion] = 0.2
    return spect, voi, lesion


def test_lesion_exclusion_lowers_activity_by_lesion_activity_within_recovery() -> None:
    spect, voi, lesion = _vertebra_scene(True)
    v_ml, rc = 0.11, 0.8
    with_lesion = marrow.vertebral_marrow_activity(spect, v_ml, voi, None, recovery=rc)
    excluded = marrow.vertebral_marrow_activity(spect, v_ml, voi, lesion, recovery=rc,
                                                rescale_excluded=False)
    lesion_activity = float(spect[lesion].sum()) * v_ml / rc
    assert with_lesion.activity_mbq - excluded.activity_mbq == pytest.approx(lesion_activity)
    assert excluded.excluded_activity_mbq == pytest.approx(lesion_activity)
    assert excluded.skeletal_lesion and not with_lesion.skeletal_lesion
    assert any("Hagmarker" in f for f in excluded.flags)
    # rescaling restores the marrow of the excluded voxels at the marrow concentration
    rescaled = marrow.vertebral_marrow_activity(spect, v_ml, voi, lesion, recovery=rc)
    clean, _, _ = _vertebra_scene(False)
    truth = marrow.vertebral_marrow_activity(clean, v_ml, voi, None, recovery=rc).activity_mbq
    assert rescaled.activity_mbq == pytest.approx(truth, rel=1e-9)


def test_marrow_voi_outside_spect_is_an_error() -> None:
    spect, voi, _ = _vertebra_scene(False)
    spect[5, 8, 8] = np.nan  # outside the reconstructed field of view
    with pytest.raises(InputError, match="marrow_voi.*outside the SPECT"):
        marrow.vertebral_marrow_activity(spect, 0.1, voi, source="cycle_01/voi/marrow.nii.gz")
    with pytest.raises(InputError, match="marrow.nii.gz.*not on the SPECT grid"):
        marrow.vertebral_marrow_activity(spect, 0.1, voi[:-1], source="cycle_01/voi/marrow.nii.gz")


def test_image_based_tia_uses_blood_shape() -> None:
    lam = math.log(2) / 60.0
    t = np.array([1.0, 24.0, 96.0, 168.0])
    shape = marrow.BloodCurveFitter("mono").fit(t, 0.1 * np.exp(-lam * t))
    tia = marrow.image_based_marrow_tia(6.7, 24.0, shape, vertebral_fraction=0.067)
    # A_RM(24 h) = 100 MBq, mono-exponential: TIA = A(24) e^(24 λ) / λ
    assert tia == pytest.approx(100.0 * math.exp(24 * lam) / lam, rel=1e-9)


def test_limit_check_and_reasons() -> None:
    check = marrow.marrow_limit_check([0.3, 0.35, 0.4], 2.0)
    assert check.cumulative_dose_gy == pytest.approx(1.05)
    assert check.predicted_cumulative_dose_gy == pytest.approx(1.4)
    assert not check.exceeded and "advisory" in check.reasons[0]
    check = marrow.marrow_limit_check([0.6, 0.8], 2.0, enforced=True, prediction="max")
    assert check.exceeded and "enforced" in check.reasons[0]


def test_s_values_against_olinda2_male_phantom_values() -> None:
    """The approximation against OLINDA/EXM 2.0 (ICRP 89 male, 177Lu) as tabulated in
    PyTheranostics: self S × 1.76 with φ_e = 1 (conservative), 1.00 with φ_e = 0.568; S(RM ← TB)
    × 1.28. A change of the formula or constants shows here."""
    from iluminet.patient.marrow import OLINDA2_MALE_LU177_MGY_PER_MBQ_S as olinda

    s = marrow.marrow_s_values(1170.0, 73.0)
    ratio_self = s.rm_from_rm / 3600.0 / olinda["rm_from_rm"]
    ratio_tb = s.rm_from_tb / 3600.0 / olinda["rm_from_tb"]
    assert ratio_self == pytest.approx(1.761, abs=0.005)
    assert ratio_tb == pytest.approx(1.283, abs=0.005)
    matched = marrow.marrow_s_values(1170.0, 73.0, electron_absorbed_fraction=0.568)
    assert matched.rm_from_rm / 3600.0 == pytest.approx(olinda["rm_from_rm"], rel=0.005)
