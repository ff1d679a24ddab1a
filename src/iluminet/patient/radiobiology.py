"""Biologically effective dose (BED) of the kidneys by the linear-quadratic (LQ) model.

For an absorbed dose ``D`` delivered with dose rate ``R(t)`` and mono-exponential repair of
sublethal damage (repair constant ``μ = ln 2 / T_rep``), the LQ model gives (Dale 1985)

    BED = D + G · D² / (α/β),

    G   = (2 / D²) ∫₀^∞ R(t) ∫₀^t R(w) e^(−μ(t−w)) dw dt,

where ``G`` (the Lea–Catcheside dose-protraction factor, 0 < G ≤ 1) measures how much of the
quadratic (two-track) damage survives repair while the dose is being delivered. ``G = 1`` is an
acute dose; protracted delivery gives ``G ≪ 1``.

Closed forms are given for the two usual kidney time-activity models: instant uptake with
mono-exponential clearance, and exponential uptake with exponential clearance (Baechler et al.,
Radiother Oncol 2008). Any other curve — a fitted model sampled on a grid, or a piecewise curve —
is handled exactly for its piecewise-linear interpolant by :func:`bed_from_dose_rate`.

The kidney parameters of the ILUMINET protocol are α/β = 2.6 Gy and T_rep = 2.8 h
(:data:`KIDNEY_ALPHA_BETA_GY`, :data:`KIDNEY_REPAIR_HALF_TIME_H`); they are the defaults
throughout.

Cycles of 177Lu-DOTATATE are given about 10 weeks apart: repair between cycles is taken as
complete and repopulation is neglected, so the cumulative BED is the sum of the per-cycle BEDs
(:func:`cumulative_bed`). The equivalent dose in 2-Gy fractions is
``EQD2 = BED / (1 + 2/(α/β))`` (:func:`eqd2`).

Scalars in give Python floats out; the closed forms also accept numpy arrays (broadcast
element-wise) and then return arrays. Invalid input raises :class:`iluminet.errors.InputError`
naming the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from iluminet.errors import InputError

__all__ = [
    "KIDNEY_ALPHA_BETA_GY",
    "KIDNEY_REPAIR_HALF_TIME_H",
    "g_factor_monoexponential",
    "g_factor_biexponential",
    "g_factor_from_dose_rate",
    "bed_linear_quadratic",
    "bed_monoexponential",
    "bed_biexponential",
    "bed_from_dose_rate",
    "bed_fractionated",
    "bed_equal_cycles",
    "bed_of_cycles",
    "cumulative_bed",
    "eqd2",
]

#: Kidney α/β ratio (Gy) used by ILUMINET (Sundlöv et al. 2022; MIRD Pamphlet 20, Wessels 2008).
KIDNEY_ALPHA_BETA_GY: float = 2.6
#: Kidney repair half-time of sublethal damage (h) used by ILUMINET.
KIDNEY_REPAIR_HALF_TIME_H: float = 2.8

_LN2 = math.log(2.0)

FloatOrArray = float | NDArray[np.float64]


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------

def _as_float_array(value: Any, field: str, source: str) -> NDArray[np.float64]:
    """``value`` as a float array; non-numeric or non-finite values are an :class:`InputError`."""
    if isinstance(value, (str, bytes)):
        raise InputError(f"expected a number ({_unit(field)}), got the string {value!r}",
                         source=source, field=field)
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"expected a number or an array of numbers ({_unit(field)}), "
                         f"got {value!r}", source=source, field=field) from exc
    if not np.all(np.isfinite(arr)):
        raise InputError(f"expected finite values ({_unit(field)}), got {value!r}",
                         source=source, field=field)
    return arr


def _unit(field: str) -> str:
    """The unit a parameter is expected in, read from its name."""
    if field.endswith("_gy_per_h"):
        return "Gy/h"
    if field.endswith("_gy"):
        return "Gy"
    if field.endswith("_h"):
        return "hours"
    return "dimensionless"


def _positive(value: Any, field: str, source: str) -> NDArray[np.float64]:
    arr = _as_float_array(value, field, source)
    if np.any(arr <= 0.0):
        raise InputError(f"expected a value > 0 ({_unit(field)}), got {value!r}",
                         source=source, field=field)
    return arr


def _non_negative(value: Any, field: str, source: str) -> NDArray[np.float64]:
    arr = _as_float_array(value, field, source)
    if np.any(arr < 0.0):
        raise InputError(f"expected a value >= 0 ({_unit(field)}), got {value!r}",
                         source=source, field=field)
    return arr


def _out(arr: NDArray[np.float64]) -> FloatOrArray:
    """Python float for 0-d results, a numpy array otherwise."""
    arr = np.asarray(arr, dtype=float)
    return float(arr) if arr.ndim == 0 else arr


# --------------------------------------------------------------------------------------------
# dose-protraction factors
# --------------------------------------------------------------------------------------------

def g_factor_monoexponential(t_eff_h: ArrayLike,
                             t_rep_h: ArrayLike = KIDNEY_REPAIR_HALF_TIME_H) -> FloatOrArray:
    """Dose-protraction factor for instant uptake and mono-exponential clearance.

    With ``R(t) = R₀ e^(−λt)``, ``λ = ln 2 / T_eff`` and ``μ = ln 2 / T_rep``,

        G = λ / (μ + λ) = T_rep / (T_rep + T_eff).

    Parameters
    ----------
    t_eff_h
        Effective (biological and physical) half-life of the dose rate, hours, > 0.
    t_rep_h
        Repair half-time of sublethal damage, hours, > 0.

    Returns
    -------
    float or numpy.ndarray
        G, dimensionless, in (0, 1).
    """
    src = "g_factor_monoexponential"
    t_eff = _positive(t_eff_h, "t_eff_h", src)
    t_rep = _positive(t_rep_h, "t_rep_h", src)
    # T_rep/(T_rep+T_eff) is λ/(μ+λ) with ln 2 cancelled: no rounding from the logarithm.
    return _out(t_rep / (t_rep + t_eff))


def g_factor_biexponential(t_clear_h: ArrayLike, t_uptake_h: ArrayLike,
                           t_rep_h: ArrayLike = KIDNEY_REPAIR_HALF_TIME_H) -> FloatOrArray:
    """Dose-protraction factor for exponential uptake and exponential clearance.

    The dose rate is ``R(t) = K (e^(−a t) − e^(−b t))`` with ``a = ln 2 / t_clear_h`` (clearance)
    and ``b = ln 2 / t_uptake_h`` (uptake), ``b > a``; ``μ = ln 2 / t_rep_h``.

    Derivation. The inner integral ``q(t) = ∫₀^t R(w) e^(−μ(t−w)) dw`` of a single exponential
    ``e^(−y w)`` is ``(e^(−y t) − e^(−μ t)) / (μ − y)``, and for any outer exponent ``x``

        ∫₀^∞ e^(−x t) (e^(−y t) − e^(−μ t)) / (μ − y) dt = 1 / ((x + y)(x + μ)).

    Expanding ``R(t) q(t)`` into its four exponential pairs and using ``D = K (b − a) / (a b)``,

        G = 2 a² b² / (b − a)² · [ 1/(2a(a+μ)) + 1/(2b(b+μ)) − (1/(a+b)) (1/(a+μ) + 1/(b+μ)) ],

    whose bracket has the numerator ``(b − a)² (a + b + μ)`` over ``2ab(a + b)(a + μ)(b + μ)``,
    so that (Baechler et al. 2008)

        G = a b (a + b + μ) / ((a + b)(a + μ)(b + μ)).

    The result is free of the cancellation of the expanded form; it tends to the
    mono-exponential ``a / (a + μ)`` as the uptake half-time tends to 0, and is always smaller
    than it (``G_mono − G_bi ∝ aμ > 0``): spreading the delivery over the uptake phase gives repair
    more time.

    Parameters
    ----------
    t_clear_h
        Clearance (effective) half-life, hours, > ``t_uptake_h``.
    t_uptake_h
        Uptake half-time, hours, > 0.
    t_rep_h
        Repair half-time of sublethal damage, hours, > 0.

    Returns
    -------
    float or numpy.ndarray
        G, dimensionless, in (0, 1).
    """
    return _out(_g_biexponential(t_clear_h, t_uptake_h, t_rep_h, "g_factor_biexponential"))


def _g_biexponential(t_clear_h: ArrayLike, t_uptake_h: ArrayLike, t_rep_h: ArrayLike,
                     src: str) -> NDArray[np.float64]:
    t_clear = _positive(t_clear_h, "t_clear_h", src)
    t_uptake = _positive(t_uptake_h, "t_uptake_h", src)
    t_rep = _positive(t_rep_h, "t_rep_h", src)
    if np.any(t_uptake >= t_clear):
        raise InputError(
            f"expected an uptake half-time shorter than the clearance half-life "
            f"(t_clear_h={t_clear_h!r}), got {t_uptake_h!r} hours", source=src, field="t_uptake_h")
    # In units of ln 2 (rates 1/T): G is homogeneous of degree 0 in (a, b, μ), so ln 2 cancels.
    a, b, mu = 1.0 / t_clear, 1.0 / t_uptake, 1.0 / t_rep
    return a * b * (a + b + mu) / ((a + b) * (a + mu) * (b + mu))


def _phi_functions(x: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """``φ₁ … φ₄`` evaluated at ``−x`` (x ≥ 0), with ``φₙ(z) = Σ_k z^k / (k + n)!``.

    ``φₙ(−x) = ∫₀^1 e^(−x w) (1 − w)^(n−1) / (n−1)! dw`` — all positive and bounded by ``1/n!``.
    The recurrence ``φₙ₊₁ = (1/n! − φₙ) / x`` cancels badly for small ``x``, so the Taylor series
    is used below ``x = 1`` (25 terms; the first omitted one is below 1e-25 of the sum).
    """
    x = np.asarray(x, dtype=float)
    small = x < 1.0
    xs = np.where(small, x, 0.0)
    xl = np.where(small, 1.0, x)

    # recurrence for x >= 1
    rec = []
    phi = np.exp(-xl)  # φ₀
    for n in range(4):
        phi = (1.0 / math.factorial(n) - phi) / xl
        rec.append(phi)

    # Taylor series for x < 1 (alternating, terms shrink at least geometrically)
    ser = []
    for n in range(1, 5):
        # Horner form: φₙ(z) = (1/n!) (1 + z/(n+1) (1 + z/(n+2) (1 + …)))
        total = np.ones_like(xs)
        for k in range(24, 0, -1):
            total = 1.0 + (-xs) / (n + k) * total
        ser.append(total / math.factorial(n))

    return tuple(np.where(small, s, r) for s, r in zip(ser, rec, strict=True))


def _validate_dose_rate_curve(t_h: ArrayLike, dose_rate_gy_per_h: ArrayLike,
                              source: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    t = _as_float_array(t_h, "t_h", source)
    r = _as_float_array(dose_rate_gy_per_h, "dose_rate_gy_per_h", source)
    if t.ndim != 1:
        raise InputError(f"expected a 1-D sequence of times in hours, got shape {t.shape}",
                         source=source, field="t_h")
    if r.ndim != 1:
        raise InputError(f"expected a 1-D sequence of dose rates in Gy/h, got shape {r.shape}",
                         source=source, field="dose_rate_gy_per_h")
    if r.size != t.size:
        raise InputError(f"expected as many dose rates as times ({t.size}), got {r.size}",
                         source=source, field="dose_rate_gy_per_h")
    if t.size < 2:
        raise InputError(f"expected at least 2 samples, got {t.size}", source=source, field="t_h")
    if t[0] != 0.0:
        raise InputError(
            f"expected the first sample at administration, t_h[0] = 0, got {t[0]!r} h; prepend "
            f"(0, R(0)) for instant uptake or (0, 0) for uptake from zero", source=source,
            field="t_h")
    steps = np.diff(t)
    if np.any(steps <= 0.0):
        i = int(np.argmax(steps <= 0.0))
        raise InputError(f"expected strictly increasing times, got t_h[{i}] = {t[i]!r} h followed "
                         f"by t_h[{i + 1}] = {t[i + 1]!r} h", source=source, field="t_h")
    if np.any(r < 0.0):
        i = int(np.argmax(r < 0.0))
        raise InputError(f"expected dose rates >= 0 Gy/h, got {r[i]!r} at t_h[{i}] = {t[i]!r} h",
                         source=source, field="dose_rate_gy_per_h")
    return t, r


def _dose_and_repair_integral(t: NDArray[np.float64], r: NDArray[np.float64],
                              mu: float) -> tuple[float, float]:
    """``D = ∫R dt`` and ``I = ∫R(t) q(t) dt`` exactly for the piecewise-linear curve.

    On a segment of length ``h`` with end values ``R₀, R₁`` and ``x = μh``, with ``φₙ = φₙ(−x)``:

    * ``q₁ = q₀ e^(−x) + h (R₀ (φ₁ − φ₂) + R₁ φ₂)`` (exact solution of ``q' = R − μq``),
    * ``∫ R q = q₀ h (R₀ φ₂ + R₁ (φ₁ − φ₂))
      + h² ((R₀² + R₁²)(φ₃ − φ₄) + R₀ R₁ (φ₂ − 2φ₃ + 2φ₄))``.

    Every term is non-negative, so the sum has no cancellation.
    """
    h = np.diff(t)
    r0, r1 = r[:-1], r[1:]
    x = mu * h
    phi1, phi2, phi3, phi4 = _phi_functions(x)
    decay = np.exp(-x)
    source_term = h * (r0 * (phi1 - phi2) + r1 * phi2)   # q gained over the segment from q₀ = 0
    carry_weight = h * (r0 * phi2 + r1 * (phi1 - phi2))   # ∫R e^(−μs) ds: multiplies q₀
    within = h * h * ((r0 * r0 + r1 * r1) * (phi3 - phi4) + r0 * r1 * (phi2 - 2 * phi3 + 2 * phi4))

    # q at the start of each segment: a first-order linear recurrence, run in plain floats.
    q_start = np.empty_like(h)
    q = 0.0
    for i, (e_i, s_i) in enumerate(zip(decay.tolist(), source_term.tolist(), strict=True)):
        q_start[i] = q
        q = q * e_i + s_i

    dose = float(np.sum(h * (r0 + r1)) / 2.0)
    integral = float(np.sum(q_start * carry_weight) + np.sum(within))
    return dose, integral


def g_factor_from_dose_rate(t_h: ArrayLike, dose_rate_gy_per_h: ArrayLike,
                            t_rep_h: float = KIDNEY_REPAIR_HALF_TIME_H) -> float:
    """Dose-protraction factor of a sampled dose-rate curve.

    See :func:`bed_from_dose_rate` for the curve convention and the method.

    Returns
    -------
    float
        G, dimensionless, in (0, 1].

    Raises
    ------
    InputError
        For an invalid curve, or a curve that is zero everywhere (G is then undefined).
    """
    src = "g_factor_from_dose_rate"
    t, r = _validate_dose_rate_curve(t_h, dose_rate_gy_per_h, src)
    t_rep = float(_positive(t_rep_h, "t_rep_h", src))
    dose, integral = _dose_and_repair_integral(t, r, _LN2 / t_rep)
    if dose <= 0.0:
        raise InputError("the dose-rate curve is zero everywhere: G is undefined", source=src,
                         field="dose_rate_gy_per_h")
    return 2.0 * integral / (dose * dose)


# --------------------------------------------------------------------------------------------
# BED
# --------------------------------------------------------------------------------------------

def bed_linear_quadratic(dose_gy: ArrayLike, g_factor: ArrayLike,
                         alpha_beta_gy: ArrayLike = KIDNEY_ALPHA_BETA_GY) -> FloatOrArray:
    """BED = D + G · D² / (α/β) for a known dose-protraction factor ``G`` (0 ≤ G ≤ 1).

    Parameters
    ----------
    dose_gy
        Absorbed dose, Gy, ≥ 0.
    g_factor
        Dose-protraction factor, dimensionless, in [0, 1].
    alpha_beta_gy
        α/β ratio of the tissue, Gy, > 0.
    """
    src = "bed_linear_quadratic"
    dose = _non_negative(dose_gy, "dose_gy", src)
    g = _non_negative(g_factor, "g_factor", src)
    if np.any(g > 1.0):
        raise InputError(f"expected a dose-protraction factor in [0, 1], got {g_factor!r}",
                         source=src, field="g_factor")
    ab = _positive(alpha_beta_gy, "alpha_beta_gy", src)
    return _out(dose + g * dose * dose / ab)


def bed_monoexponential(dose_gy: ArrayLike, t_eff_h: ArrayLike,
                        alpha_beta_gy: ArrayLike = KIDNEY_ALPHA_BETA_GY,
                        t_rep_h: ArrayLike = KIDNEY_REPAIR_HALF_TIME_H) -> FloatOrArray:
    """BED of a dose delivered with instant uptake and mono-exponential clearance.

    ``BED = D + G D² / (α/β)`` with ``G = λ/(μ + λ)``, ``λ = ln 2 / T_eff``,
    ``μ = ln 2 / T_rep`` (see :func:`g_factor_monoexponential`).

    Parameters
    ----------
    dose_gy
        Absorbed dose of the cycle, Gy, ≥ 0.
    t_eff_h
        Effective half-life of the kidney dose rate, hours, > 0.
    alpha_beta_gy
        α/β ratio, Gy, > 0 (kidney: 2.6 Gy).
    t_rep_h
        Repair half-time, hours, > 0 (kidney: 2.8 h).

    Returns
    -------
    float or numpy.ndarray
        BED in Gy; a float for scalar input.

    Examples
    --------
    >>> round(bed_monoexponential(4.5, 50.0), 3)
    4.913
    """
    src = "bed_monoexponential"
    dose = _non_negative(dose_gy, "dose_gy", src)
    ab = _positive(alpha_beta_gy, "alpha_beta_gy", src)
    t_eff = _positive(t_eff_h, "t_eff_h", src)
    t_rep = _positive(t_rep_h, "t_rep_h", src)
    g = t_rep / (t_rep + t_eff)
    return _out(dose + g * dose * dose / ab)


def bed_biexponential(dose_gy: ArrayLike, t_clear_h: ArrayLike, t_uptake_h: ArrayLike,
                      alpha_beta_gy: ArrayLike = KIDNEY_ALPHA_BETA_GY,
                      t_rep_h: ArrayLike = KIDNEY_REPAIR_HALF_TIME_H) -> FloatOrArray:
    """BED of a dose delivered with exponential uptake and exponential clearance.

    Dose rate ``R(t) ∝ e^(−λc t) − e^(−λu t)`` with ``λc = ln 2 / t_clear_h``,
    ``λu = ln 2 / t_uptake_h`` (``t_uptake_h < t_clear_h``). ``BED = D + G D² / (α/β)`` with the
    closed form (Baechler et al. 2008), derived from
    ``G = (2/D²) ∫₀^∞ R(t) ∫₀^t R(w) e^(−μ(t−w)) dw dt`` in :func:`g_factor_biexponential`:

        G = λc λu (λc + λu + μ) / ((λc + λu)(λc + μ)(λu + μ)),   μ = ln 2 / t_rep_h.

    Parameters
    ----------
    dose_gy
        Absorbed dose of the cycle, Gy, ≥ 0.
    t_clear_h
        Clearance (effective) half-life, hours.
    t_uptake_h
        Uptake half-time, hours, 0 < ``t_uptake_h`` < ``t_clear_h``.
    alpha_beta_gy
        α/β ratio, Gy, > 0.
    t_rep_h
        Repair half-time, hours, > 0.

    Returns
    -------
    float or numpy.ndarray
        BED in Gy; a float for scalar input.

    Examples
    --------
    >>> round(bed_biexponential(4.5, 50.0, 2.0), 3)
    4.906
    """
    src = "bed_biexponential"
    dose = _non_negative(dose_gy, "dose_gy", src)
    ab = _positive(alpha_beta_gy, "alpha_beta_gy", src)
    g = _g_biexponential(t_clear_h, t_uptake_h, t_rep_h, src)
    return _out(dose + g * dose * dose / ab)


def bed_from_dose_rate(t_h: ArrayLike, dose_rate_gy_per_h: ArrayLike,
                       alpha_beta_gy: float = KIDNEY_ALPHA_BETA_GY,
                       t_rep_h: float = KIDNEY_REPAIR_HALF_TIME_H) -> float:
    """BED of a sampled dose-rate curve.

    Curve convention. ``t_h`` is time since administration in hours and must start at
    ``t_h[0] = 0``; between samples the dose rate is linear, after the last sample it is zero.
    A curve whose first sample is later than administration is rejected rather than extended:
    whether the dose rate before the first image was at its first measured value (instant
    uptake) or rose from zero (gradual uptake) is a kinetic-model choice, worth a few per cent of
    the kidney dose, and the caller — who knows the model — states it by prepending ``(0, R(0))``
    or ``(0, 0)``. Likewise the tail is not extrapolated: sample far enough (several effective
    half-lives) that the dose after the last sample is negligible.

    Method. With ``q(t) = ∫₀^t R(w) e^(−μ(t−w)) dw``, which solves ``q' = R − μq``, ``q(0) = 0``,

        BED = D + (2 / (α/β)) ∫ R(t) q(t) dt,   D = ∫ R(t) dt.

    On each linear segment both ``q`` and ``∫ R q`` have exact closed forms in the functions
    ``φₙ(−μh)`` (``h`` the segment length), so the result is exact for the piecewise-linear curve
    at any spacing — no quadrature error, only the interpolation of the true curve by straight
    lines. The terms are all non-negative, so there is no cancellation.

    Parameters
    ----------
    t_h
        Sample times after administration, hours: 1-D, strictly increasing, finite,
        ``t_h[0] = 0``, at least 2 samples.
    dose_rate_gy_per_h
        Dose rate at each sample, Gy/h, finite and ≥ 0, same length as ``t_h``.
    alpha_beta_gy
        α/β ratio, Gy, > 0.
    t_rep_h
        Repair half-time, hours, > 0.

    Returns
    -------
    float
        BED in Gy (0 for a curve that is zero everywhere).
    """
    src = "bed_from_dose_rate"
    t, r = _validate_dose_rate_curve(t_h, dose_rate_gy_per_h, src)
    ab = float(_positive(alpha_beta_gy, "alpha_beta_gy", src))
    t_rep = float(_positive(t_rep_h, "t_rep_h", src))
    dose, integral = _dose_and_repair_integral(t, r, _LN2 / t_rep)
    return dose + 2.0 * integral / ab


def bed_fractionated(total_dose_gy: ArrayLike, dose_per_fraction_gy: ArrayLike,
                     alpha_beta_gy: ArrayLike) -> FloatOrArray:
    """BED of fractionated external-beam radiotherapy: ``BED = D (1 + d / (α/β))``.

    Acute fractions (``G = 1`` per fraction), complete repair between fractions and no
    repopulation.

    Parameters
    ----------
    total_dose_gy
        Total dose ``D``, Gy, ≥ 0.
    dose_per_fraction_gy
        Dose per fraction ``d``, Gy, > 0.
    alpha_beta_gy
        α/β ratio, Gy, > 0.

    Examples
    --------
    >>> round(bed_fractionated(23.0, 2.0, 2.6), 2)
    40.69
    """
    src = "bed_fractionated"
    total = _non_negative(total_dose_gy, "total_dose_gy", src)
    d = _positive(dose_per_fraction_gy, "dose_per_fraction_gy", src)
    ab = _positive(alpha_beta_gy, "alpha_beta_gy", src)
    return _out(total * (1.0 + d / ab))


def bed_equal_cycles(total_dose_gy: ArrayLike, dose_per_cycle_gy: ArrayLike, t_eff_h: ArrayLike,
                     alpha_beta_gy: ArrayLike = KIDNEY_ALPHA_BETA_GY,
                     t_rep_h: ArrayLike = KIDNEY_REPAIR_HALF_TIME_H) -> FloatOrArray:
    """Cumulative BED of a total dose given in equal mono-exponential cycles.

    ``n = D / d`` cycles of dose ``d`` each, fully repaired in between:
    ``BED = n (d + G d² / (α/β)) = D (1 + G d / (α/β))``, ``G = T_rep / (T_rep + T_eff)``.
    ``n`` need not be an integer — this is the usual way of quoting the BED of a dose limit
    (for example 23 Gy given as 4.5 Gy cycles).

    Parameters
    ----------
    total_dose_gy
        Total absorbed dose ``D``, Gy, ≥ 0.
    dose_per_cycle_gy
        Absorbed dose per cycle ``d``, Gy, > 0.
    t_eff_h
        Effective half-life of each cycle, hours, > 0.
    alpha_beta_gy
        α/β ratio, Gy, > 0.
    t_rep_h
        Repair half-time, hours, > 0.

    Examples
    --------
    >>> round(bed_equal_cycles(23.0, 4.5, 50.0), 2)
    25.11
    """
    src = "bed_equal_cycles"
    total = _non_negative(total_dose_gy, "total_dose_gy", src)
    d = _positive(dose_per_cycle_gy, "dose_per_cycle_gy", src)
    t_eff = _positive(t_eff_h, "t_eff_h", src)
    ab = _positive(alpha_beta_gy, "alpha_beta_gy", src)
    t_rep = _positive(t_rep_h, "t_rep_h", src)
    g = t_rep / (t_rep + t_eff)
    return _out(total * (1.0 + g * d / ab))


def bed_of_cycles(doses_gy: ArrayLike, t_eff_h: ArrayLike,
                  alpha_beta_gy: float = KIDNEY_ALPHA_BETA_GY,
                  t_rep_h: float = KIDNEY_REPAIR_HALF_TIME_H) -> NDArray[np.float64]:
    """Per-cycle BEDs of a series of mono-exponential cycles.

    Parameters
    ----------
    doses_gy
        Absorbed dose of each cycle, Gy, 1-D, ≥ 0.
    t_eff_h
        Effective half-life, hours, > 0: one value for all cycles or one per cycle.
    alpha_beta_gy, t_rep_h
        As in :func:`bed_monoexponential`.

    Returns
    -------
    numpy.ndarray
        BED of each cycle in Gy; pass it to :func:`cumulative_bed` for the running total.
    """
    src = "bed_of_cycles"
    doses = _non_negative(doses_gy, "doses_gy", src)
    if doses.ndim != 1:
        raise InputError(f"expected a 1-D sequence of per-cycle doses in Gy, got shape "
                         f"{doses.shape}", source=src, field="doses_gy")
    t_eff = _positive(t_eff_h, "t_eff_h", src)
    if t_eff.ndim > 1 or (t_eff.ndim == 1 and t_eff.size != doses.size):
        raise InputError(f"expected one effective half-life or one per cycle ({doses.size}), "
                         f"got shape {t_eff.shape}", source=src, field="t_eff_h")
    ab = _positive(alpha_beta_gy, "alpha_beta_gy", src)
    t_rep = _positive(t_rep_h, "t_rep_h", src)
    g = t_rep / (t_rep + t_eff)
    return np.asarray(doses + g * doses * doses / ab, dtype=float).reshape(doses.shape)


def cumulative_bed(per_cycle_bed_gy: ArrayLike | Sequence[float]) -> NDArray[np.float64]:
    """Running total of per-cycle BEDs.

    Cycles are about 10 weeks apart, so sublethal damage is taken as fully repaired between them
    (no interaction of one cycle's dose with the next) and repopulation of the kidney is
    neglected: the cumulative BED after cycle ``k`` is simply ``Σ_{i ≤ k} BED_i``.

    Parameters
    ----------
    per_cycle_bed_gy
        BED of each cycle in order of administration, Gy, 1-D, ≥ 0 (may be empty).

    Returns
    -------
    numpy.ndarray
        Cumulative BED after each cycle, Gy, same length as the input.
    """
    src = "cumulative_bed"
    beds = _non_negative(per_cycle_bed_gy, "per_cycle_bed_gy", src)
    if beds.ndim != 1:
        raise InputError(f"expected a 1-D sequence of per-cycle BEDs in Gy, got shape "
                         f"{beds.shape}", source=src, field="per_cycle_bed_gy")
    return np.cumsum(beds)


def eqd2(bed_gy: ArrayLike, alpha_beta_gy: ArrayLike = KIDNEY_ALPHA_BETA_GY) -> FloatOrArray:
    """Equivalent dose in 2-Gy fractions: ``EQD2 = BED / (1 + 2 / (α/β))``.

    Parameters
    ----------
    bed_gy
        BED, Gy, ≥ 0.
    alpha_beta_gy
        α/β ratio, Gy, > 0.

    Examples
    --------
    >>> round(eqd2(27.0), 2)
    15.26
    """
    src = "eqd2"
    bed = _non_negative(bed_gy, "bed_gy", src)
    ab = _positive(alpha_beta_gy, "alpha_beta_gy", src)
    return _out(bed / (1.0 + 2.0 / ab))
