"""Tests of kidney time-activity fits, TIA and single-time-point estimates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from iluminet.errors import InputError
from iluminet.nuclide import LU177
from iluminet.patient.kinetics import (
    BiExponentialFitter,
    MonoExponentialFitter,
    fit_time_activity,
    hanscheid_tia,
    trapezoid_tia,
    validate_time_activity,
)

LN2 = math.log(2.0)
SCHEDULE_H = np.array([1.0, 24.0, 96.0, 168.0])  # ILUMINET planar imaging times
T_EFF_H = 50.0
LAM = LN2 / T_EFF_H
A0_MBQ = 100.0


def mono_curve(t: np.ndarray, a0: float = A0_MBQ, lam: float = LAM) -> np.ndarray:
    return a0 * np.exp(-lam * t)


def biexp_curve(t: np.ndarray, a0: float = A0_MBQ, t_clear_h: float = 50.0,
                t_uptake_h: float = 2.0) -> np.ndarray:
    return a0 * (np.exp(-LN2 / t_clear_h * t) - np.exp(-LN2 / t_uptake_h * t))


def biexp_tia(a0: float = A0_MBQ, t_clear_h: float = 50.0, t_uptake_h: float = 2.0) -> float:
    return a0 * (t_clear_h - t_uptake_h) / LN2


# ---------------------------------------------------------------------------------------------
# Noise-free ground truth
# ---------------------------------------------------------------------------------------------


def test_mono_noise_free_tia_exact():
    fit = MonoExponentialFitter().fit(SCHEDULE_H, mono_curve(SCHEDULE_H))
    assert fit.flags_ == []
    assert fit.tia_mbq_h_ == pytest.approx(A0_MBQ / LAM, rel=1e-3)
    assert fit.tia_mbq_h_ == pytest.approx(A0_MBQ / LAM, rel=1e-9)
    assert fit.effective_half_life_h_ == pytest.approx(T_EFF_H, rel=1e-9)
    assert fit.params_["A0_mbq"] == pytest.approx(A0_MBQ, rel=1e-9)
    assert fit.params_["lambda_per_h"] == pytest.approx(LAM, rel=1e-9)
    assert fit.r_squared_ == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(fit.predict([0.0, 50.0]), [A0_MBQ, A0_MBQ / 2], rtol=1e-9)
    np.testing.assert_allclose(fit.residuals_.to_numpy(), 0.0, atol=1e-9)
    # share of the TIA after 168 h: exp(−λ·168)
    assert fit.tail_fraction_ == pytest.approx(math.exp(-LAM * 168.0), rel=1e-9)


def test_biexp_noise_free_tia_exact_on_iluminet_schedule():
    """Clearance 50 h, uptake 2 h, sampled at 1, 24, 96, 168 h: 4 points pin 3 parameters."""
    y = biexp_curve(SCHEDULE_H)
    fit = BiExponentialFitter().fit(SCHEDULE_H, y)
    assert fit.flags_ == []
    assert fit.tia_mbq_h_ == pytest.approx(biexp_tia(), rel=1e-3)
    assert fit.effective_half_life_h_ == pytest.approx(50.0, rel=1e-3)
    assert fit.uptake_half_life_h_ == pytest.approx(2.0, rel=1e-3)
    assert fit.params_["A0_mbq"] == pytest.approx(A0_MBQ, rel=1e-3)
    assert fit.df_resid_ == 1
    assert fit.predict(0.0)[0] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(fit.predict(SCHEDULE_H), y, rtol=1e-6)


def test_mono_fit_of_uptake_data_is_flagged_and_from_peak_excludes_uptake_points():
    y = biexp_curve(SCHEDULE_H)
    plain = MonoExponentialFitter().fit(SCHEDULE_H, y)
    assert any(f.startswith("model mismatch") for f in plain.flags_)
    peak = MonoExponentialFitter(from_peak=True).fit(SCHEDULE_H, y)
    assert peak.excluded_time_h_ == [1.0]
    assert peak.flags_ == []
    # the uptake term is negligible after 24 h, so λ is the clearance rate; integrating from
    # t = 0 as instant uptake overestimates the TIA by A0/λu, i.e. by T_u/(T_c − T_u) ≈ 4.2 %
    assert peak.effective_half_life_h_ == pytest.approx(50.0, rel=1e-3)
    assert peak.tia_mbq_h_ / biexp_tia() == pytest.approx(50.0 / 48.0, rel=1e-3)


def test_auto_selects_biexp_only_with_enough_points():
    t6 = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0])
    chosen = fit_time_activity(t6, biexp_curve(t6), model="auto")
    assert isinstance(chosen, BiExponentialFitter)
    assert chosen.tia_mbq_h_ == pytest.approx(biexp_tia(), rel=1e-6)
    assert chosen.aicc_by_model_["biexp"] < chosen.aicc_by_model_["mono"]
    # 4 points: AICc of a 3-parameter model needs n ≥ 5, so it is +inf and mono is chosen
    four = fit_time_activity(SCHEDULE_H, biexp_curve(SCHEDULE_H), model="auto")
    assert isinstance(four, MonoExponentialFitter)
    assert four.aicc_by_model_["biexp"] == math.inf
    # mono data: the mono fit is selected
    rng = np.random.default_rng(3)
    y = mono_curve(t6) * (1 + 0.05 * rng.standard_normal(t6.size))
    assert isinstance(fit_time_activity(t6, y, model="auto"), MonoExponentialFitter)


def test_fit_time_activity_dispatch_and_unknown_model():
    y = mono_curve(SCHEDULE_H)
    assert isinstance(fit_time_activity(SCHEDULE_H, y), MonoExponentialFitter)
    assert isinstance(fit_time_activity(SCHEDULE_H, biexp_curve(SCHEDULE_H), "biexp"),
                      BiExponentialFitter)
    with pytest.raises(InputError) as err:
        fit_time_activity(SCHEDULE_H, y, model="triexp")  # type: ignore[arg-type]
    assert err.value.field == "model"
    with pytest.raises(InputError) as err:
        fit_time_activity(SCHEDULE_H, y, model="auto", from_peak=True)
    assert err.value.field == "from_peak"


# ---------------------------------------------------------------------------------------------
# Uncertainty: delta method and coverage
# ---------------------------------------------------------------------------------------------


def test_mono_covariance_matches_weighted_linear_regression():
    """With absolute SDs the fit is weighted linear regression of ln A on t: (XᵀWX)⁻¹."""
    rng = np.random.default_rng(11)
    y = mono_curve(SCHEDULE_H) * (1 + 0.08 * rng.standard_normal(4))
    sd = 0.08 * y
    fit = MonoExponentialFitter().fit(SCHEDULE_H, y, activity_sd_mbq=sd)
    x = np.column_stack([np.ones(4), -SCHEDULE_H])
    w = np.diag((y / sd) ** 2)
    cov = np.linalg.inv(x.T @ w @ x)  # in (ln A0, λ)
    beta = cov @ x.T @ w @ np.log(y)
    a0, lam = math.exp(beta[0]), beta[1]
    assert fit.params_["lambda_per_h"] == pytest.approx(lam, rel=1e-9)
    assert fit.standard_errors_["lambda_per_h"] == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-6)
    assert fit.standard_errors_["A0_mbq"] == pytest.approx(a0 * math.sqrt(cov[0, 0]), rel=1e-6)
    # delta method: var(ln TIA) = var(ln A0) + var(λ)/λ² − 2 cov(ln A0, λ)/λ
    var_log_tia = cov[0, 0] + cov[1, 1] / lam**2 - 2 * cov[0, 1] / lam
    assert fit.tia_se_mbq_h_ == pytest.approx(a0 / lam * math.sqrt(var_log_tia), rel=1e-6)
    assert fit.chi2_ == pytest.approx(float(np.sum(((np.log(y) - x @ beta) * y / sd) ** 2)),
                                      rel=1e-9)
    assert fit.ci_quantile(0.95) == pytest.approx(1.959964, rel=1e-6)  # known SDs → normal
    unweighted = MonoExponentialFitter().fit(SCHEDULE_H, y)
    assert unweighted.ci_quantile(0.95) == pytest.approx(4.302653, rel=1e-6)  # t with 2 d.o.f.


def _coverage(noise: float, levels: tuple[float, ...], n_rep: int, seed: int,
              known_sd: bool) -> list[int]:
    """Number of replicates whose interval at each level contains the true TIA."""
    rng = np.random.default_rng(seed)
    y_true = mono_curve(SCHEDULE_H)
    truth = A0_MBQ / LAM
    hits = [0] * len(levels)
    for _ in range(n_rep):
        y = y_true * (1 + noise * rng.standard_normal(SCHEDULE_H.size))
        fit = MonoExponentialFitter().fit(
            SCHEDULE_H, y, activity_sd_mbq=noise * y_true if known_sd else None)
        for i, level in enumerate(levels):
            lo, hi = fit.tia_confidence_interval_mbq_h(level)
            hits[i] += lo <= truth <= hi
    return hits


def _assert_nominal(hits: int, n_rep: int, level: float) -> None:
    # two-sided 99.9 % binomial acceptance band around the nominal coverage
    lo, hi = stats.binom.ppf(0.0005, n_rep, level), stats.binom.isf(0.0005, n_rep, level)
    assert lo <= hits <= hi, f"coverage {hits / n_rep:.3f} for nominal {level}"


@pytest.mark.parametrize("noise", [0.05, 0.10])
def test_mono_tia_interval_coverage_estimated_variance(noise):
    """4 points, multiplicative Gaussian noise, 400 seeded replicates: the t-based (2 d.o.f.)
    interval from SE(TIA) covers the true TIA at the nominal 68 % and 95 % rates."""
    n_rep, levels = 400, (0.68, 0.95)
    hits = _coverage(noise, levels, n_rep, seed=20240 + int(100 * noise), known_sd=False)
    for h, level in zip(hits, levels):
        _assert_nominal(h, n_rep, level)


def test_mono_tia_interval_coverage_known_sd():
    n_rep, levels = 400, (0.68, 0.95)
    hits = _coverage(0.10, levels, n_rep, seed=777, known_sd=True)
    for h, level in zip(hits, levels):
        _assert_nominal(h, n_rep, level)


def test_normal_quantile_with_estimated_variance_would_undercover():
    """Guard on the test itself: ± 1.96 SE with 2 residual d.o.f. covers far less than 95 %."""
    rng = np.random.default_rng(5)
    truth = A0_MBQ / LAM
    hits = 0
    for _ in range(400):
        y = mono_curve(SCHEDULE_H) * (1 + 0.1 * rng.standard_normal(4))
        fit = MonoExponentialFitter().fit(SCHEDULE_H, y)
        hits += abs(fit.tia_mbq_h_ - truth) <= 1.959964 * fit.tia_se_mbq_h_
    assert hits / 400 < 0.90


# ---------------------------------------------------------------------------------------------
# Flags: non-physical and impossible fits
# ---------------------------------------------------------------------------------------------


def test_rising_activity_at_last_point_is_flagged():
    fit = fit_time_activity(SCHEDULE_H, [10.0, 8.0, 6.0, 9.0])
    assert not fit.ok_
    assert any("rises between 96 h and 168 h" in f for f in fit.flags_)
    assert any(f.startswith("non-physical") for f in fit.flags_)


def test_effective_half_life_longer_than_physical_is_flagged():
    fit = fit_time_activity(SCHEDULE_H, mono_curve(SCHEDULE_H, lam=LN2 / 200.0))
    assert fit.effective_half_life_h_ == pytest.approx(200.0, rel=1e-9)
    assert fit.flags_ and "exceeds the physical half-life" in fit.flags_[0]
    assert "159.528" in fit.flags_[0]
    # just faster than physical decay: accepted
    ok = fit_time_activity(SCHEDULE_H, mono_curve(SCHEDULE_H, lam=LN2 / 159.0))
    assert ok.flags_ == []


def test_rising_tail_gives_nan_tia_and_flag():
    y = mono_curve(SCHEDULE_H, lam=-0.002)
    fit = fit_time_activity(SCHEDULE_H, y)
    assert math.isnan(fit.tia_mbq_h_)
    assert fit.effective_half_life_h_ == math.inf
    assert any("the fitted curve rises" in f for f in fit.flags_)


def test_biexp_without_uptake_phase_is_flagged_not_raised():
    fit = BiExponentialFitter().fit(SCHEDULE_H, mono_curve(SCHEDULE_H))
    assert any(f.startswith("uptake not resolved") for f in fit.flags_)


def test_from_peak_with_too_few_points_is_flagged_not_raised():
    fit = MonoExponentialFitter(from_peak=True).fit(SCHEDULE_H, [1.0, 2.0, 3.0, 4.0])
    assert fit.flags_ and "fit impossible" in fit.flags_[0]
    assert math.isnan(fit.tia_mbq_h_)
    assert np.isnan(fit.predict(10.0)).all()


def test_relative_se_limit_flag():
    rng = np.random.default_rng(2)
    y = mono_curve(SCHEDULE_H) * (1 + 0.3 * rng.standard_normal(4)).clip(0.2)
    loose = MonoExponentialFitter().fit(SCHEDULE_H, y)
    rel = loose.tia_se_mbq_h_ / loose.tia_mbq_h_
    strict = MonoExponentialFitter(max_relative_tia_se=rel / 2).fit(SCHEDULE_H, y)
    assert any(f.startswith("uncertain") for f in strict.flags_)
    relaxed = MonoExponentialFitter(max_relative_tia_se=rel * 2).fit(SCHEDULE_H, y)
    assert not any(f.startswith("uncertain") for f in relaxed.flags_)


def test_optimiser_exception_is_flagged_not_raised(monkeypatch):
    import iluminet.patient.kinetics as kinetics

    def broken(*args, **kwargs):
        raise ValueError("simulated breakdown")

    monkeypatch.setattr(kinetics.optimize, "least_squares", broken)
    fit = BiExponentialFitter().fit(SCHEDULE_H, biexp_curve(SCHEDULE_H))
    assert fit.flags_ and fit.flags_[0].startswith("fit failed")
    assert "simulated breakdown" in fit.flags_[0]
    assert math.isnan(fit.tia_mbq_h_)


def test_non_convergence_is_flagged_with_reason(monkeypatch):
    import iluminet.patient.kinetics as kinetics

    real = kinetics.optimize.least_squares

    def one_step(*args, **kwargs):
        kwargs["max_nfev"] = 1
        return real(*args, **kwargs)

    monkeypatch.setattr(kinetics.optimize, "least_squares", one_step)
    fit = BiExponentialFitter().fit(SCHEDULE_H, biexp_curve(SCHEDULE_H))
    assert any(f.startswith("fit did not converge") and "function evaluations" in f
               for f in fit.flags_)
    # auto never picks a fit that did not converge
    t6 = np.array([1.0, 4.0, 24.0, 48.0, 96.0, 168.0])
    assert isinstance(fit_time_activity(t6, biexp_curve(t6), model="auto"),
                      MonoExponentialFitter)


def test_predict_rejects_negative_time():
    fit = MonoExponentialFitter().fit(SCHEDULE_H, mono_curve(SCHEDULE_H))
    with pytest.raises(InputError) as err:
        fit.predict([-1.0, 2.0])
    assert err.value.field == "time_h"


def test_summary_table():
    fit = MonoExponentialFitter().fit(SCHEDULE_H, mono_curve(SCHEDULE_H) * [1.02, 0.97, 1.03, 0.99])
    table = fit.summary
    assert list(table.index) == ["A0_mbq", "lambda_per_h", "tia_mbq_h", "effective_half_life_h"]
    q = fit.ci_quantile(0.95)
    assert table.loc["tia_mbq_h", "upper_95"] == pytest.approx(
        fit.tia_mbq_h_ + q * fit.tia_se_mbq_h_)
    lo, hi = fit.tia_confidence_interval_mbq_h(0.95)
    assert table.loc["tia_mbq_h", "lower_95"] == pytest.approx(lo)
    assert hi > fit.tia_mbq_h_ > lo


def test_predict_before_fit_raises():
    with pytest.raises(RuntimeError):
        MonoExponentialFitter().predict(1.0)


# ---------------------------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_h", "activity_mbq", "field", "text"),
    [
        ([1, 24, 96], [5, 4, 3, 2], "activity_mbq", "one activity per time point"),
        ([24.0], [5.0], "time_h", "at least"),
        ([1, 24, 24, 168], [5, 4, 3, 2], "time_h", "more than once"),
        ([0, 24, 96, 168], [5, 4, 3, 2], "time_h", "> 0 h"),
        ([-1, 24, 96, 168], [5, 4, 3, 2], "time_h", "> 0 h"),
        ([1, 96, 24, 168], [5, 4, 3, 2], "time_h", "strictly increasing"),
        ([1, 24, 96, 168], [5, 0, 3, 2], "activity_mbq", "> 0 MBq"),
        ([1, 24, 96, 168], [5, -4, 3, 2], "activity_mbq", "> 0 MBq"),
        ([1, 24, 96, 168], [5, float("nan"), 3, 2], "activity_mbq", "finite"),
        ([1, 24, float("inf"), 168], [5, 4, 3, 2], "time_h", "finite"),
        ([1, 24, 96, 168], ["a", 4, 3, 2], "activity_mbq", "expected numbers"),
    ],
)
def test_invalid_input_raises_with_field(time_h, activity_mbq, field, text):
    with pytest.raises(InputError) as err:
        MonoExponentialFitter().fit(time_h, activity_mbq, source="patient P001 kidney table")
    assert err.value.field == field
    assert text in str(err.value)
    assert "patient P001 kidney table" in str(err.value)


def test_minimum_points_per_model():
    # mono: 2 parameters + 1 residual degree of freedom
    with pytest.raises(InputError, match="at least 3"):
        MonoExponentialFitter().fit([24.0, 96.0], [5.0, 3.0])
    with pytest.raises(InputError, match="at least 4"):
        BiExponentialFitter().fit([1.0, 24.0, 96.0], [2.0, 5.0, 3.0])
    # trapezoid needs 2
    assert trapezoid_tia([24.0, 96.0], [5.0, 3.0]).tia_mbq_h > 0
    with pytest.raises(InputError, match="at least 2"):
        trapezoid_tia([24.0], [5.0])


def test_invalid_sd_raises():
    with pytest.raises(InputError) as err:
        validate_time_activity(SCHEDULE_H, [4, 3, 2, 1], [0.1, 0.0, 0.1, 0.1])
    assert err.value.field == "activity_sd_mbq"
    with pytest.raises(InputError) as err:
        validate_time_activity(SCHEDULE_H, [4, 3, 2, 1], [0.1, 0.1])
    assert err.value.field == "activity_sd_mbq"


# ---------------------------------------------------------------------------------------------
# Trapezoid and single-time-point estimates
# ---------------------------------------------------------------------------------------------


def test_trapezoid_known_answer():
    t, y = [1.0, 24.0, 96.0, 168.0], [10.0, 8.0, 4.0, 2.0]
    res = trapezoid_tia(t, y, tail="physical", head="zero")
    body = (10 + 8) / 2 * 23 + (8 + 4) / 2 * 72 + (4 + 2) / 2 * 72
    assert res.head_mbq_h == pytest.approx(0.5 * 1.0 * 10.0)
    assert res.body_mbq_h == pytest.approx(body)
    assert res.tail_mbq_h == pytest.approx(2.0 / LU177.decay_constant_per_h)
    assert res.tia_mbq_h == pytest.approx(5.0 + body + 2.0 * 159.528 / LN2)
    assert float(res) == res.tia_mbq_h
    fit_tail = trapezoid_tia(t, y, tail="fit", head="constant")
    assert fit_tail.tail_decay_constant_per_h == pytest.approx(LN2 / 72.0)
    assert fit_tail.tail_mbq_h == pytest.approx(2.0 * 72.0 / LN2)
    assert fit_tail.head_mbq_h == pytest.approx(10.0)
    assert fit_tail.flags == []


def test_trapezoid_head_and_tail_exact_for_mono_and_body_overestimates():
    y = mono_curve(SCHEDULE_H)
    res = trapezoid_tia(SCHEDULE_H, y, tail="fit", head="exponential")
    assert res.head_mbq_h == pytest.approx(A0_MBQ / LAM * (1 - math.exp(-LAM)), rel=1e-9)
    assert res.tail_mbq_h == pytest.approx(mono_curve(np.array([168.0]))[0] / LAM, rel=1e-9)
    exact_body = A0_MBQ / LAM * (math.exp(-LAM) - math.exp(-LAM * 168.0))
    assert res.body_mbq_h > exact_body  # trapezoids over a convex curve
    # the physical tail is the conservative upper bound
    assert trapezoid_tia(SCHEDULE_H, y, tail="physical").tia_mbq_h > res.tia_mbq_h


def test_trapezoid_fit_tail_slower_than_physical_falls_back_with_flag():
    res = trapezoid_tia(SCHEDULE_H, [10.0, 8.0, 6.0, 9.0], tail="fit")
    assert res.tail_decay_constant_per_h == LU177.decay_constant_per_h
    assert res.flags and res.flags[0].startswith("non-physical: activity rises")
    slow = trapezoid_tia(SCHEDULE_H, [10.0, 8.0, 6.0, 5.9], tail="fit")
    assert slow.flags and "more slowly than physical decay" in slow.flags[0]
    rising_head = trapezoid_tia(SCHEDULE_H, [5.0, 8.0, 6.0, 3.0], head="exponential")
    assert rising_head.head_mbq_h == pytest.approx(5.0)
    assert rising_head.flags and rising_head.flags[0].startswith("head")


def test_trapezoid_bad_options():
    with pytest.raises(InputError) as err:
        trapezoid_tia(SCHEDULE_H, [4, 3, 2, 1], tail="linear")  # type: ignore[arg-type]
    assert err.value.field == "tail"
    with pytest.raises(InputError) as err:
        trapezoid_tia(SCHEDULE_H, [4, 3, 2, 1], head="spline")  # type: ignore[arg-type]
    assert err.value.field == "head"


@pytest.mark.parametrize(("time_h", "expected_ratio"),
                         [(24.0, 0.688), (48.0, 0.987), (96.0, 1.015), (168.0, 0.654)])
def test_hanscheid_known_answers(time_h, expected_ratio):
    a_t = mono_curve(np.array([time_h]))[0]
    ratio = hanscheid_tia(a_t, time_h) / (A0_MBQ / LAM)
    assert ratio == pytest.approx(expected_ratio, abs=5e-4)


@pytest.mark.parametrize(("activity", "time_h", "field"),
                         [(-1.0, 24.0, "activity_mbq"), (1.0, 0.0, "time_h"),
                          (float("nan"), 24.0, "activity_mbq"), (None, 24.0, "activity_mbq")])
def test_hanscheid_bad_input(activity, time_h, field):
    with pytest.raises(InputError) as err:
        hanscheid_tia(activity, time_h)
    assert err.value.field == field


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

_noise = st.lists(st.floats(-0.15, 0.15), min_size=4, max_size=4)


@settings(max_examples=60, deadline=None)
@given(noise=_noise, scale=st.floats(1e-3, 1e4), t_eff_h=st.floats(20.0, 120.0))
def test_mono_tia_scales_linearly_with_activity(noise, scale, t_eff_h):
    y = mono_curve(SCHEDULE_H, lam=LN2 / t_eff_h) * (1.0 + np.asarray(noise))
    base = MonoExponentialFitter().fit(SCHEDULE_H, y)
    scaled = MonoExponentialFitter().fit(SCHEDULE_H, scale * y)
    assert scaled.tia_mbq_h_ == pytest.approx(scale * base.tia_mbq_h_, rel=1e-8)
    # SE is ~0 (round-off) for noise-free draws, hence the absolute tolerance
    assert scaled.tia_se_mbq_h_ == pytest.approx(scale * base.tia_se_mbq_h_, rel=1e-6,
                                                 abs=1e-9 * scaled.tia_mbq_h_)
    assert scaled.effective_half_life_h_ == pytest.approx(base.effective_half_life_h_, rel=1e-8)


@settings(max_examples=60, deadline=None)
@given(a0=st.floats(1.0, 1e4), t_eff_h=st.floats(5.0, 159.0),
       t_h=st.floats(1.0, 300.0))
def test_hanscheid_ratio_formula(a0, t_eff_h, t_h):
    lam = LN2 / t_eff_h
    ratio = hanscheid_tia(a0 * math.exp(-lam * t_h), t_h) / (a0 / lam)
    x = t_h / t_eff_h
    assert ratio == pytest.approx(2 * x * 2.0 ** (-x), rel=1e-9)
    assert ratio <= 2 / (math.e * LN2) + 1e-12  # maximum 1.0615 at t = T/ln 2


@settings(max_examples=40, deadline=None)
@given(a0=st.floats(1.0, 1e4), t_eff_h=st.floats(10.0, 150.0))
def test_noise_free_mono_fit_recovers_any_curve(a0, t_eff_h):
    lam = LN2 / t_eff_h
    fit = MonoExponentialFitter().fit(SCHEDULE_H, mono_curve(SCHEDULE_H, a0, lam))
    assert fit.tia_mbq_h_ == pytest.approx(a0 / lam, rel=1e-6)
    assert fit.flags_ == []
