"""Organ time-activity curves of a virtual patient: sums of exponentials with closed-form integrals.

Every compartment's activity (MBq, decay included) is

    A(t) = Σ_i a_i · exp(−λ_i · t),   t ≥ 0 h after the start of administration,

with λ_i = λ_phys + λ_bio,i the *effective* rate constants (1/h) and a_i in MBq. An uptake phase is
a pair of terms with opposite amplitudes, a·(exp(−λ_e t) − exp(−λ_u t)) with λ_u > λ_e. The
time-integrated activity from 0 to T is

    Ã(T) = Σ_i a_i / λ_i · (1 − exp(−λ_i T)),   Ã(∞) = Σ_i a_i / λ_i   (MBq·h).

Physical decay uses ``iluminet.nuclide.LU177`` (T½ = 159.528 h, ICRP-107).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from iluminet.errors import InputError
from iluminet.nuclide import LU177

LN2 = float(np.log(2.0))
LAMBDA_PHYS_PER_H = LU177.decay_constant_per_h

KidneyModel = Literal["monoexponential", "biexponential"]


@dataclass(frozen=True)
class ExponentialCurve:
    """A(t) = Σ a_i exp(−λ_i t) in MBq, t in hours after administration.

    Parameters
    ----------
    amplitudes_mbq
        a_i (MBq); negative terms model uptake.
    rate_constants_per_h
        λ_i (1/h), effective (biological + physical), all > 0.
    """

    amplitudes_mbq: tuple[float, ...]
    rate_constants_per_h: tuple[float, ...]

    def __post_init__(self) -> None:
        a = np.asarray(self.amplitudes_mbq, float)
        lam = np.asarray(self.rate_constants_per_h, float)
        if a.shape != lam.shape or a.ndim != 1 or a.size == 0:
            raise InputError(
                "amplitudes and rate constants must be equal-length, non-empty lists",
                source="organ kinetics",
                field="amplitudes_mbq",
            )
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(lam))):
            raise InputError(
                "kinetic parameters must be finite",
                source="organ kinetics",
                field="rate_constants_per_h",
            )
        if np.any(lam <= 0):
            raise InputError(
                f"effective rate constants must be > 0 1/h, got {lam.tolist()}",
                source="organ kinetics",
                field="rate_constants_per_h",
            )
        # Non-negative activity at all times: check on a dense log-spaced grid plus t = 0.
        t = np.concatenate([[0.0], np.geomspace(1e-3, 1e4, 400)])
        values = (a[None, :] * np.exp(-lam[None, :] * t[:, None])).sum(axis=1)
        if np.any(values < -1e-9 * max(1.0, float(np.abs(a).sum()))):
            raise InputError(
                "the curve becomes negative: check the uptake/clearance amplitudes",
                source="organ kinetics",
                field="amplitudes_mbq",
            )

    @classmethod
    def monoexponential(cls, a0_mbq: float, effective_half_life_h: float) -> ExponentialCurve:
        """A(t) = A0 · exp(−ln2 · t / T_eff)."""
        _check_positive(a0_mbq, "a0_mbq", allow_zero=True)
        _check_positive(effective_half_life_h, "effective_half_life_h")
        return cls((float(a0_mbq),), (LN2 / effective_half_life_h,))

    @classmethod
    def uptake_washout(
        cls, a_mbq: float, uptake_half_life_h: float, effective_half_life_h: float
    ) -> ExponentialCurve:
        """A(t) = a · (exp(−λ_e t) − exp(−λ_u t)), λ_u = ln2/T_up > λ_e = ln2/T_eff."""
        _check_positive(a_mbq, "a_mbq", allow_zero=True)
        _check_positive(uptake_half_life_h, "uptake_half_life_h")
        _check_positive(effective_half_life_h, "effective_half_life_h")
        if uptake_half_life_h >= effective_half_life_h:
            raise InputError(
                "uptake half-life must be shorter than the effective half-life",
                source="organ kinetics",
                field="uptake_half_life_h",
            )
        return cls(
            (float(a_mbq), -float(a_mbq)), (LN2 / effective_half_life_h, LN2 / uptake_half_life_h)
        )

    def __add__(self, other: ExponentialCurve) -> ExponentialCurve:
        return ExponentialCurve(
            self.amplitudes_mbq + other.amplitudes_mbq,
            self.rate_constants_per_h + other.rate_constants_per_h,
        )

    def scaled(self, factor: float) -> ExponentialCurve:
        """The curve multiplied by a non-negative factor."""
        _check_positive(factor, "factor", allow_zero=True)
        return ExponentialCurve(
            tuple(a * factor for a in self.amplitudes_mbq), self.rate_constants_per_h
        )

    def activity_mbq(self, time_h: float | np.ndarray) -> np.ndarray | float:
        """A(t) in MBq (scalar in, scalar out). Times before administration give 0."""
        t = np.asarray(time_h, float)
        a = np.asarray(self.amplitudes_mbq)
        lam = np.asarray(self.rate_constants_per_h)
        value = (a * np.exp(-lam * t[..., None])).sum(axis=-1)
        value = np.where(t < 0, 0.0, np.maximum(value, 0.0))
        return float(value) if value.ndim == 0 else value

    def tia_mbq_h(self, end_h: float = np.inf) -> float:
        """Ã from 0 to ``end_h`` (default ∞): Σ a_i/λ_i · (1 − exp(−λ_i T)) in MBq·h."""
        if end_h < 0:
            raise InputError(
                "integration end must be ≥ 0 h", source="organ kinetics", field="end_h"
            )
        a = np.asarray(self.amplitudes_mbq)
        lam = np.asarray(self.rate_constants_per_h)
        tail = 0.0 if np.isinf(end_h) else np.exp(-lam * end_h)
        return float(np.sum(a / lam * (1.0 - tail)))

    @property
    def slowest_half_life_h(self) -> float:
        """Effective half-life of the slowest positive term (the terminal phase), h."""
        lam = [r for a, r in zip(self.amplitudes_mbq, self.rate_constants_per_h) if a > 0]
        return LN2 / min(lam) if lam else float("nan")

    def as_dict(self) -> dict:
        return {
            "model": "sum_of_exponentials",
            "formula": "A(t) = sum_i a_i exp(-lambda_i t); lambda_i effective (phys + bio)",
            "amplitudes_mbq": list(self.amplitudes_mbq),
            "rate_constants_per_h": list(self.rate_constants_per_h),
            "effective_half_lives_h": [LN2 / r for r in self.rate_constants_per_h],
            "tia_mbq_h": self.tia_mbq_h(),
        }


def _check_positive(value: float, name: str, *, allow_zero: bool = False) -> None:
    ok = np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        expected = "≥ 0" if allow_zero else "> 0"
        raise InputError(
            f"{name} must be finite and {expected}, got {value}",
            source="organ kinetics",
            field=name,
        )


@dataclass(frozen=True)
class PatientKinetics:
    """Patient-level kinetic traits (fractions of the injected activity, IA; half-lives in h).

    Drawn once per patient; each cycle perturbs them (intra-patient variability) in
    :meth:`for_cycle`. Kidney uptake is a few % of IA in total (≈ 1.2 % per kidney, lognormal
    σ_ln = 0.25) and the kidney effective half-life is lognormal around 50 h (σ_ln = 0.2), giving
    ≈ 0.4–0.6 Gy/GBq for 120–200 g kidneys, as reported for 177Lu-DOTATATE.
    """

    kidney_fraction_left: float
    kidney_fraction_right: float
    kidney_half_life_h: float
    liver_fraction: float
    liver_half_life_h: float
    spleen_fraction: float
    spleen_half_life_h: float
    tumour_uptake_per_ml: float
    tumour_half_life_h: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> PatientKinetics:
        kidney = 0.012 * float(rng.lognormal(0.0, 0.25))
        return cls(
            kidney_fraction_left=kidney * float(rng.lognormal(0.0, 0.08)),
            kidney_fraction_right=kidney * float(rng.lognormal(0.0, 0.08)),
            kidney_half_life_h=float(np.clip(50.0 * rng.lognormal(0.0, 0.2), 25.0, 110.0)),
            liver_fraction=0.025 * float(rng.lognormal(0.0, 0.25)),
            liver_half_life_h=float(np.clip(70.0 * rng.lognormal(0.0, 0.2), 30.0, 130.0)),
            spleen_fraction=0.010 * float(rng.lognormal(0.0, 0.3)),
            spleen_half_life_h=float(np.clip(65.0 * rng.lognormal(0.0, 0.2), 30.0, 130.0)),
            tumour_uptake_per_ml=0.0006 * float(rng.lognormal(0.0, 0.4)),
            tumour_half_life_h=float(np.clip(95.0 * rng.lognormal(0.0, 0.15), 50.0, 140.0)),
        )


def _effective_half_life(half_life_h: float) -> float:
    """Keep an effective half-life strictly shorter than the physical one (λ_bio > 0)."""
    return float(min(half_life_h, 0.95 * LU177.half_life_h))


@dataclass(frozen=True)
class CycleKinetics:
    """The compartment curves of one cycle (MBq, t in h after administration)."""

    injected_activity_mbq: float
    curves: dict[str, ExponentialCurve]
    kidney_model: str

    def activities_mbq(self, time_h: float) -> dict[str, float]:
        return {name: float(c.activity_mbq(time_h)) for name, c in self.curves.items()}

    def total_in_body_mbq(self, time_h: float | np.ndarray) -> np.ndarray | float:
        return sum(c.activity_mbq(time_h) for c in self.curves.values())


def cycle_kinetics(
    traits: PatientKinetics,
    injected_activity_mbq: float,
    tumour_volumes_ml: dict[str, float],
    rng: np.random.Generator,
    kidney_model: KidneyModel = "monoexponential",
) -> CycleKinetics:
    """Compartment curves for one cycle.

    Compartments: ``kidney_left``, ``kidney_right`` (mono-exponential, or with
    ``kidney_model="biexponential"`` an extra fast component of 60 % of the slow amplitude with a
    1.5 h effective half-life, i.e. early urinary transit), ``liver`` and ``spleen``
    (mono-exponential), tumours (uptake with 3 h half-life, washout), ``bladder`` (filling with
    1 h half-life, voiding with 3 h effective half-life; 30 % of IA passes through) and
    ``remainder`` (blood and soft tissue: 45 % of IA clearing with 2 h, 12 % with 60 h).
    Each cycle varies the patient's fractions by σ_ln = 0.10 and half-lives by σ_ln = 0.08.
    """
    _check_positive(injected_activity_mbq, "injected_activity_mbq")
    if injected_activity_mbq == 0:
        raise InputError(
            "injected activity must be > 0 MBq",
            source="organ kinetics",
            field="injected_activity_mbq",
        )
    if kidney_model not in ("monoexponential", "biexponential"):
        raise InputError(
            f"kidney_model must be 'monoexponential' or 'biexponential', got {kidney_model!r}",
            source="organ kinetics",
            field="kidney_model",
        )
    ia = float(injected_activity_mbq)

    def vary_f(f: float) -> float:
        return f * float(rng.lognormal(0.0, 0.10))

    def vary_t(t: float) -> float:
        return _effective_half_life(t * float(rng.lognormal(0.0, 0.08)))

    curves: dict[str, ExponentialCurve] = {}
    t_kidney = vary_t(traits.kidney_half_life_h)
    for side, f in (("left", traits.kidney_fraction_left), ("right", traits.kidney_fraction_right)):
        # both kidneys share the cycle's half-life (same physiology), with a small side difference
        a0 = ia * vary_f(f)
        curve = ExponentialCurve.monoexponential(
            a0, _effective_half_life(t_kidney * float(rng.lognormal(0.0, 0.03)))
        )
        if kidney_model == "biexponential":
            curve = curve + ExponentialCurve.monoexponential(0.6 * a0, 1.5)
        curves[f"kidney_{side}"] = curve
    curves["liver"] = ExponentialCurve.monoexponential(
        ia * vary_f(traits.liver_fraction), vary_t(traits.liver_half_life_h)
    )
    curves["spleen"] = ExponentialCurve.monoexponential(
        ia * vary_f(traits.spleen_fraction), vary_t(traits.spleen_half_life_h)
    )
    t_tumour = vary_t(traits.tumour_half_life_h)
    for name, volume_ml in tumour_volumes_ml.items():
        curves[name] = ExponentialCurve.uptake_washout(
            ia * vary_f(traits.tumour_uptake_per_ml) * volume_ml, 3.0, t_tumour
        )
    curves["bladder"] = ExponentialCurve.uptake_washout(0.30 * ia, 1.0, 3.0)
    curves["remainder"] = ExponentialCurve.monoexponential(
        0.45 * ia, 2.0
    ) + ExponentialCurve.monoexponential(0.12 * ia, _effective_half_life(60.0))
    kinetics = CycleKinetics(ia, curves, kidney_model)
    t = np.concatenate([[0.0], np.geomspace(0.01, 2000.0, 200)])
    if np.any(np.asarray(kinetics.total_in_body_mbq(t)) > ia * (1 + 1e-9)):
        raise InputError(
            "compartment curves exceed the injected activity",
            source="organ kinetics",
            field="curves",
        )
    return kinetics
