"""Tests of iluminet.patient.radiobiology: LQ-model BED, G factors, EQD2 and cumulative BED.

Known answers are the "Worked checks" of the reference physics notes (α/β = 2.6 Gy, T_rep = 2.8 h).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from iluminet.errors import InputError
from iluminet.patient import radiobiology as rb

LN2 = math.log(2.0)
AB = 2.6
T_REP = 2.8

# strategies ------------------------------------------------------------------------------------
doses = st.floats(min_value=0.0, max_value=50.0, allow_nan=False)
positive_doses = st.floats(min_value=0.01, max_value=50.0)
half_lives = st.floats(min_value=0.5, max_value=500.0)
repair_times = st.floats(min_value=0.1, max_value=20.0)
alpha_betas = st.floats(min_value=0.5, max_value=20.0)


# ---------------------------------------------------------------------------------------------
# known answers (independently computed worked checks; Dale 1985, Baechler 2008)
# ---------------------------------------------------------------------------------------------

def test_monoexponential_known_answer():
    assert rb.g_factor_monoexponential(50.0, 2.8) == pytest.approx(0.05303, abs=5e-6)
    assert rb.bed_monoexponential(4.5, 50.0) == pytest.approx(4.913, abs=1e-3)


def test_biexponential_known_answer():
    assert rb.bed_biexponential(4.5, 50.0, 2.0) == pytest.approx(4.906, abs=1e-3)


@pytest.mark.parametrize(("t_eff_h", "expected_gy"), [(40.0, 25.60), (50.0, 25.11), (60.0, 24.77)])
def test_dose_limit_in_equal_cycles_known_answer(t_eff_h, expected_gy):
    # 23 Gy as 23/4.5 cycles of 4.5 Gy: BED = D + D d G/(α/β) (the paper's "≈ 25 Gy").
    assert rb.bed_equal_cycles(23.0, 4.5, t_eff_h) == pytest.approx(expected_gy, abs=5e-3)


def test_equal_cycles_is_sum_of_cycle_beds_for_whole_cycles():
    per_cycle = rb.bed_of_cycles([4.5] * 5, 50.0)
    assert rb.cumulative_bed(per_cycle)[-1] == pytest.approx(rb.bed_equal_cycles(22.5, 4.5, 50.0),
                                                              rel=1e-12)
    assert per_cycle == pytest.approx([rb.bed_monoexponential(4.5, 50.0)] * 5, rel=1e-12)


def test_external_beam_known_answer():
    assert rb.bed_fractionated(23.0, 2.0, 2.6) == pytest.approx(40.69, abs=5e-3)


@pytest.mark.parametrize(("bed_gy", "expected_gy"), [(27.0, 15.26), (40.0, 22.61)])
def test_eqd2_known_answer(bed_gy, expected_gy):
    assert rb.eqd2(bed_gy, 2.6) == pytest.approx(expected_gy, abs=5e-3)


def test_scalar_api_returns_python_float():
    for value in (rb.bed_monoexponential(4.5, 50.0), rb.bed_biexponential(np.float64(4.5), 50, 2),
                  rb.eqd2(27), rb.bed_fractionated(23, 2, 2.6), rb.bed_equal_cycles(23, 4.5, 50),
                  rb.g_factor_monoexponential(50), rb.g_factor_biexponential(50, 2),
                  rb.bed_from_dose_rate([0, 1], [1, 0]), rb.g_factor_from_dose_rate([0, 1], [1, 1]),
                  rb.bed_linear_quadratic(4.5, 0.05)):
        assert type(value) is float


def test_closed_forms_vectorise_over_doses():
    d = np.array([0.0, 2.0, 4.5, 8.0])
    out = rb.bed_monoexponential(d, 50.0)
    assert isinstance(out, np.ndarray) and out.shape == d.shape
    assert out == pytest.approx([rb.bed_monoexponential(float(x), 50.0) for x in d], rel=1e-15)
    out_bi = rb.bed_biexponential(d, 50.0, 2.0)
    assert out_bi == pytest.approx([rb.bed_biexponential(float(x), 50.0, 2.0) for x in d],
                                   rel=1e-15)


# ---------------------------------------------------------------------------------------------
# bed_from_dose_rate: ground truth
# ---------------------------------------------------------------------------------------------

def _sampling_grid_h() -> np.ndarray:
    # 0.05 h steps over the first 50 h (the uptake peak), 0.5 h steps out to 1000 h, which is
    # >= 20 half-lives for T_eff <= 50 h (tail beyond: < 2^-20 of the dose); 2901 samples.
    return np.unique(np.concatenate([np.linspace(0.0, 50.0, 1001),
                                     np.linspace(50.0, 1000.0, 1901)]))


@pytest.mark.parametrize("dose_gy", [1.0, 4.5, 20.0])
@pytest.mark.parametrize("t_eff_h", [30.0, 50.0])
def test_sampled_monoexponential_agrees_with_closed_form(dose_gy, t_eff_h):
    t = _sampling_grid_h()
    lam = LN2 / t_eff_h
    rate = dose_gy * lam * np.exp(-lam * t)
    assert rb.bed_from_dose_rate(t, rate) == pytest.approx(
        rb.bed_monoexponential(dose_gy, t_eff_h), rel=1e-4)
    assert rb.g_factor_from_dose_rate(t, rate) == pytest.approx(
        rb.g_factor_monoexponential(t_eff_h), rel=1e-4)


@pytest.mark.parametrize("dose_gy", [1.0, 4.5, 20.0])
@pytest.mark.parametrize(("t_clear_h", "t_uptake_h"), [(50.0, 2.0), (40.0, 0.5), (50.0, 10.0)])
def test_sampled_biexponential_agrees_with_closed_form(dose_gy, t_clear_h, t_uptake_h):
    t = _sampling_grid_h()
    a, b = LN2 / t_clear_h, LN2 / t_uptake_h
    k = dose_gy / (1.0 / a - 1.0 / b)
    rate = k * (np.exp(-a * t) - np.exp(-b * t))
    assert rb.bed_from_dose_rate(t, rate) == pytest.approx(
        rb.bed_biexponential(dose_gy, t_clear_h, t_uptake_h), rel=1e-4)
    assert rb.g_factor_from_dose_rate(t, rate) == pytest.approx(
        rb.g_factor_biexponential(t_clear_h, t_uptake_h), rel=1e-4)


@pytest.mark.parametrize("duration_h", [1e-6, 0.01, 1.0, 2.8, 30.0, 1e4])
def test_constant_dose_rate_matches_lea_catcheside(duration_h):
    # Constant rate for T hours (a single linear segment): G = 2 (μT − 1 + e^(−μT)) / (μT)².
    mu_t = LN2 / T_REP * duration_h
    if mu_t < 1e-3:
        g_exact = 1.0 - mu_t / 3.0 + mu_t**2 / 12.0  # series: the closed form cancels here
    else:
        g_exact = 2.0 * (mu_t + math.expm1(-mu_t)) / mu_t**2
    rate = 3.0 / duration_h
    assert rb.g_factor_from_dose_rate([0.0, duration_h], [rate, rate]) == pytest.approx(
        g_exact, rel=1e-12)


def _ode_bed(t, rate, alpha_beta_gy=AB, t_rep_h=T_REP):
    """Oracle: integrate q' = R − μq and I' = R q with scipy, segment by segment."""
    mu = LN2 / t_rep_h
    q, integral, dose = 0.0, 0.0, 0.0
    for t0, t1, r0, r1 in zip(t[:-1], t[1:], rate[:-1], rate[1:], strict=True):
        slope = (r1 - r0) / (t1 - t0)

        def rhs(s, y, r0=r0, slope=slope, t0=t0):
            r = r0 + slope * (s - t0)
            return [r - mu * y[0], r * y[0]]

        sol = solve_ivp(rhs, (t0, t1), [q, 0.0], method="DOP853", rtol=1e-12, atol=1e-14)
        q = sol.y[0, -1]
        integral += sol.y[1, -1]
        dose += 0.5 * (r0 + r1) * (t1 - t0)
    return dose + 2.0 * integral / alpha_beta_gy


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(0.05, 30.0), st.floats(0.0, 2.0)), min_size=1, max_size=8),
       st.floats(0.0, 2.0))
def test_piecewise_linear_curve_agrees_with_ode_integration(segments, first_rate):
    t = np.concatenate([[0.0], np.cumsum([h for h, _ in segments])])
    rate = np.array([first_rate] + [r for _, r in segments])
    assert rb.bed_from_dose_rate(t, rate) == pytest.approx(_ode_bed(t, rate), rel=1e-8, abs=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0.01, 50.0), st.floats(0.0, 3.0)), min_size=1, max_size=12),
       st.floats(0.0, 3.0), st.integers(0, 11), st.floats(0.05, 0.95))
def test_splitting_a_segment_does_not_change_bed(segments, first_rate, which, fraction):
    # The method is exact for the piecewise-linear curve: inserting a point on a segment at the
    # interpolated value describes the same curve and must give the same BED.
    t = np.concatenate([[0.0], np.cumsum([h for h, _ in segments])])
    rate = np.array([first_rate] + [r for _, r in segments])
    i = which % (t.size - 1)
    t_mid = t[i] + fraction * (t[i + 1] - t[i])
    r_mid = rate[i] + fraction * (rate[i + 1] - rate[i])
    t2 = np.insert(t, i + 1, t_mid)
    r2 = np.insert(rate, i + 1, r_mid)
    assert rb.bed_from_dose_rate(t2, r2) == pytest.approx(rb.bed_from_dose_rate(t, rate),
                                                          rel=1e-11, abs=1e-14)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 3.0), min_size=2, max_size=20), st.floats(0.1, 5.0),
       st.floats(0.01, 10.0))
def test_dose_rate_scaling(rates, step_h, scale):
    # D scales with c, the quadratic term with c²: BED(cR) − cD = c² (BED(R) − D).
    t = np.arange(len(rates)) * step_h
    rate = np.array(rates)
    dose = float(np.trapezoid(rate, t))
    excess = rb.bed_from_dose_rate(t, rate) - dose
    excess_scaled = rb.bed_from_dose_rate(t, scale * rate) - scale * dose
    assert excess >= 0.0
    assert excess_scaled == pytest.approx(scale**2 * excess, rel=1e-9, abs=1e-12)


def test_zero_curve_gives_zero_bed_and_undefined_g():
    assert rb.bed_from_dose_rate([0.0, 5.0, 10.0], [0.0, 0.0, 0.0]) == 0.0
    with pytest.raises(InputError) as err:
        rb.g_factor_from_dose_rate([0.0, 5.0], [0.0, 0.0])
    assert err.value.field == "dose_rate_gy_per_h"


# ---------------------------------------------------------------------------------------------
# properties of the closed forms
# ---------------------------------------------------------------------------------------------

@given(doses, half_lives, alpha_betas, repair_times)
def test_bed_at_least_dose(dose, t_eff, ab, t_rep):
    assert rb.bed_monoexponential(dose, t_eff, ab, t_rep) >= dose
    assert rb.bed_biexponential(dose, t_eff, t_eff / 10.0, ab, t_rep) >= dose


@given(positive_doses, positive_doses, half_lives)
def test_bed_increasing_in_dose(d1, d2, t_eff):
    lo, hi = sorted((d1, d2))
    if hi > lo * (1 + 1e-6):  # distinct beyond rounding
        assert rb.bed_monoexponential(hi, t_eff) > rb.bed_monoexponential(lo, t_eff)
        assert rb.bed_biexponential(hi, t_eff, t_eff / 4) > rb.bed_biexponential(lo, t_eff,
                                                                                t_eff / 4)


@given(positive_doses, half_lives, repair_times, repair_times)
def test_bed_increasing_in_repair_half_time(dose, t_eff, r1, r2):
    # Slower repair (larger T_rep, smaller μ) leaves more sublethal damage to interact:
    # G = T_rep/(T_rep + T_eff) grows, so BED grows with T_rep.
    lo, hi = sorted((r1, r2))
    if hi > lo * (1 + 1e-6):  # distinct beyond rounding
        assert rb.bed_monoexponential(dose, t_eff, AB, hi) > rb.bed_monoexponential(dose, t_eff,
                                                                                    AB, lo)
        assert rb.bed_biexponential(dose, t_eff, t_eff / 5, AB, hi) > rb.bed_biexponential(
            dose, t_eff, t_eff / 5, AB, lo)


@given(positive_doses, half_lives, half_lives)
def test_bed_decreasing_in_effective_half_life_and_tends_to_dose(dose, t1, t2):
    lo, hi = sorted((t1, t2))
    if hi > lo * (1 + 1e-6):  # distinct beyond rounding
        assert rb.bed_monoexponential(dose, hi) < rb.bed_monoexponential(dose, lo)
    # exact excess over D: D² T_rep / ((T_rep + T_eff) α/β) → 0 as T_eff → ∞
    for t_eff in (1e3, 1e6, 1e9):
        excess = rb.bed_monoexponential(dose, t_eff) - dose
        # (BED − D loses ~eps·D to rounding, hence the absolute allowance)
        assert 0.0 <= excess <= dose**2 * T_REP / (t_eff * AB) + 4 * np.finfo(float).eps * dose


@given(positive_doses, half_lives, alpha_betas, alpha_betas)
def test_bed_decreasing_in_alpha_beta(dose, t_eff, ab1, ab2):
    lo, hi = sorted((ab1, ab2))
    if hi > lo * (1 + 1e-6):  # distinct beyond rounding
        assert rb.bed_monoexponential(dose, t_eff, hi) < rb.bed_monoexponential(dose, t_eff, lo)


@given(half_lives, st.floats(0.01, 0.99), repair_times)
def test_biexponential_g_below_monoexponential(t_clear, ratio, t_rep):
    # Spreading delivery over an uptake phase gives repair more time: G_bi < G_mono.
    g_bi = rb.g_factor_biexponential(t_clear, ratio * t_clear, t_rep)
    g_mono = rb.g_factor_monoexponential(t_clear, t_rep)
    assert 0.0 < g_bi < g_mono < 1.0


@given(positive_doses, half_lives, repair_times)
def test_biexponential_tends_to_monoexponential_as_uptake_vanishes(dose, t_clear, t_rep):
    mono = rb.bed_monoexponential(dose, t_clear, AB, t_rep)
    gaps = [mono - rb.bed_biexponential(dose, t_clear, f * t_clear, AB, t_rep)
            for f in (1e-1, 1e-3, 1e-6)]
    assert gaps[0] >= gaps[1] >= gaps[2] >= 0.0
    assert gaps[2] <= 1e-5 * (mono - dose) + 1e-12


@given(st.lists(doses, max_size=12), half_lives)
def test_cumulative_bed_monotone(cycle_doses, t_eff):
    per_cycle = rb.bed_of_cycles(cycle_doses, t_eff)
    total = rb.cumulative_bed(per_cycle)
    assert total.shape == (len(cycle_doses),)
    assert np.all(np.diff(total) >= 0.0)
    if cycle_doses:
        assert total[-1] == pytest.approx(sum(per_cycle), rel=1e-12)
        assert total[-1] >= sum(cycle_doses) - 1e-9


def test_bed_of_cycles_accepts_per_cycle_half_lives():
    out = rb.bed_of_cycles([4.5, 4.0], [50.0, 40.0])
    assert out == pytest.approx([rb.bed_monoexponential(4.5, 50.0),
                                 rb.bed_monoexponential(4.0, 40.0)], rel=1e-15)


@given(st.floats(0.01, 200.0), alpha_betas)
def test_eqd2_below_bed(bed, ab):
    assert rb.eqd2(bed, ab) < bed


@given(st.floats(0.0, 100.0), alpha_betas)
def test_eqd2_of_two_gray_fractions_is_the_physical_dose(total, ab):
    assert rb.eqd2(rb.bed_fractionated(total, 2.0, ab), ab) == pytest.approx(total, rel=1e-12,
                                                                             abs=1e-12)


@given(positive_doses, half_lives, repair_times)
def test_linear_quadratic_with_g_matches_monoexponential(dose, t_eff, t_rep):
    g = rb.g_factor_monoexponential(t_eff, t_rep)
    assert rb.bed_linear_quadratic(dose, g) == pytest.approx(
        rb.bed_monoexponential(dose, t_eff, AB, t_rep), rel=1e-14)


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("call", "field"), [
    (lambda: rb.bed_monoexponential(-1.0, 50.0), "dose_gy"),
    (lambda: rb.bed_monoexponential(float("nan"), 50.0), "dose_gy"),
    (lambda: rb.bed_monoexponential("4.5", 50.0), "dose_gy"),
    (lambda: rb.bed_monoexponential(4.5, 0.0), "t_eff_h"),
    (lambda: rb.bed_monoexponential(4.5, -50.0), "t_eff_h"),
    (lambda: rb.bed_monoexponential(4.5, float("inf")), "t_eff_h"),
    (lambda: rb.bed_monoexponential(4.5, 50.0, 0.0), "alpha_beta_gy"),
    (lambda: rb.bed_monoexponential(4.5, 50.0, -2.6), "alpha_beta_gy"),
    (lambda: rb.bed_monoexponential(4.5, 50.0, 2.6, 0.0), "t_rep_h"),
    (lambda: rb.bed_biexponential(-4.5, 50.0, 2.0), "dose_gy"),
    (lambda: rb.bed_biexponential(4.5, 50.0, 50.0), "t_uptake_h"),
    (lambda: rb.bed_biexponential(4.5, 50.0, 60.0), "t_uptake_h"),
    (lambda: rb.bed_biexponential(4.5, 50.0, 0.0), "t_uptake_h"),
    (lambda: rb.bed_biexponential(4.5, -50.0, 2.0), "t_clear_h"),
    (lambda: rb.bed_biexponential(4.5, 50.0, 2.0, 0.0), "alpha_beta_gy"),
    (lambda: rb.bed_biexponential(4.5, 50.0, 2.0, 2.6, -1.0), "t_rep_h"),
    (lambda: rb.g_factor_monoexponential(50.0, 0.0), "t_rep_h"),
    (lambda: rb.g_factor_biexponential(2.0, 50.0), "t_uptake_h"),
    (lambda: rb.bed_linear_quadratic(4.5, 1.5), "g_factor"),
    (lambda: rb.eqd2(-1.0), "bed_gy"),
    (lambda: rb.eqd2(27.0, 0.0), "alpha_beta_gy"),
    (lambda: rb.bed_fractionated(-23.0, 2.0, 2.6), "total_dose_gy"),
    (lambda: rb.bed_fractionated(23.0, 0.0, 2.6), "dose_per_fraction_gy"),
    (lambda: rb.bed_fractionated(23.0, 2.0, -2.6), "alpha_beta_gy"),
    (lambda: rb.bed_equal_cycles(23.0, 0.0, 50.0), "dose_per_cycle_gy"),
    (lambda: rb.bed_of_cycles([4.5, -1.0], 50.0), "doses_gy"),
    (lambda: rb.bed_of_cycles([4.5, 4.0], [50.0, 40.0, 30.0]), "t_eff_h"),
    (lambda: rb.cumulative_bed([4.9, -0.1]), "per_cycle_bed_gy"),
    (lambda: rb.cumulative_bed([[4.9, 5.0]]), "per_cycle_bed_gy"),
    # sampled curves
    (lambda: rb.bed_from_dose_rate([0.0, 1.0, 1.0], [1.0, 1.0, 1.0]), "t_h"),
    (lambda: rb.bed_from_dose_rate([0.0, 2.0, 1.0], [1.0, 1.0, 1.0]), "t_h"),
    (lambda: rb.bed_from_dose_rate([1.0, 2.0], [1.0, 1.0]), "t_h"),
    (lambda: rb.bed_from_dose_rate([-1.0, 0.0, 2.0], [1.0, 1.0, 1.0]), "t_h"),
    (lambda: rb.bed_from_dose_rate([0.0, float("inf")], [1.0, 1.0]), "t_h"),
    (lambda: rb.bed_from_dose_rate([0.0], [1.0]), "t_h"),
    (lambda: rb.bed_from_dose_rate([[0.0, 1.0]], [[1.0, 1.0]]), "t_h"),
    (lambda: rb.bed_from_dose_rate([0.0, 1.0], [1.0, -0.5]), "dose_rate_gy_per_h"),
    (lambda: rb.bed_from_dose_rate([0.0, 1.0], [1.0, float("nan")]), "dose_rate_gy_per_h"),
    (lambda: rb.bed_from_dose_rate([0.0, 1.0, 2.0], [1.0, 1.0]), "dose_rate_gy_per_h"),
    (lambda: rb.bed_from_dose_rate([0.0, 1.0], [1.0, 1.0], 0.0), "alpha_beta_gy"),
    (lambda: rb.bed_from_dose_rate([0.0, 1.0], [1.0, 1.0], 2.6, -2.8), "t_rep_h"),
])
def test_bad_input_names_the_field(call, field):
    with pytest.raises(InputError) as err:
        call()
    assert err.value.field == field
    assert field in str(err.value)
    assert err.value.source  # the function the parameter was given to
    assert "expected" in str(err.value)


def test_first_sample_after_administration_is_rejected_with_a_remedy():
    with pytest.raises(InputError, match=r"t_h\[0\] = 0") as err:
        rb.bed_from_dose_rate([1.0, 24.0, 48.0], [0.2, 0.1, 0.05])
    assert "prepend" in str(err.value)
