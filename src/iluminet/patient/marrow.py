"""Red-marrow absorbed dose of one 177Lu-DOTATATE cycle: blood-based and image-based.

Both methods follow the MIRD scheme D_RM = Ã_RM · S(RM ← RM) + Ã_RB · S(RM ← RB): self-dose from
the activity in the red marrow (RM) and cross-dose from the activity in the remainder of the body
(RB). They differ in how Ã_RM is obtained.

Blood-based (EANM SOP for bone-marrow dosimetry, Hindorf et al., Eur J Nucl Med Mol Imaging
2010;37:1238–50)
    The activity concentration in the red marrow is taken proportional to that in blood:
    [Ã_RM] = RMBLR · [Ã_blood], so Ã_RM = RMBLR · ã_blood / ρ_blood · m_RM, with ã_blood the
    time-integrated blood activity concentration (MBq·h per ml, from the fitted blood curve),
    ρ_blood = 1.06 g/ml (ICRP 89) and m_RM the patient's red-marrow mass (g). RMBLR (red-marrow-to-
    blood activity concentration ratio, per gram) is 1 for small peptides that do not bind to
    marrow cells (SOP; measured for 177Lu-DOTATATE in marrow aspirates by Forrer et al., Eur J
    Nucl Med Mol Imaging 2009;36:1138); the haematocrit form RMBLR = RMECFF / (1 − HCT) with
    RMECFF = 0.19 (Sgouros, J Nucl Med 1993;34:689) is the option for agents confined to plasma
    and extracellular fluid.

Image-based (Hagmarker et al., J Nucl Med 2019;60:1406, the ILUMINET method)
    The marrow activity in lumbar vertebrae on the 24 h SPECT/CT (VOI on the trabecular bone),
    corrected for recovery, is scaled to the whole red marrow with the reference fraction of red
    marrow in those vertebrae; the time dependence comes from the blood (or whole-body) curve:
    Ã_RM = A_vert(24 h) / (RC · f_vert) · ∫ c(t) dt / c(24 h). Lesions are excluded from the VOI,
    and any lesion in the marrow VOI is flagged: skeletal metastases raise the image-based marrow
    dose (Hagmarker 2019), so for such patients the blood-based value is the one to trust.

S values (see :data:`S_VALUE_SOURCE`)
-------------------------------------
The values are an **electron absorbed-fraction approximation computed here**, not numbers copied
from OLINDA/EXM or ICRP Publication 133 (which could not be checked against the primary tables
when this module was written):

* electrons (β⁻, conversion, Auger: E_e = 147.92 keV per decay, ICRP 107) emitted in the red
  marrow are absorbed in it with absorbed fraction φ_e (default 1, the assumption of the
  OLINDA/EXM 1 skeletal model used by the SOP; ICRP 110-based skeletal models give ≈ 0.6–0.8 for
  177Lu electrons, so φ_e = 1 is the conservative choice);
* photons (E_γ = 35.10 keV per decay, ICRP 107) from a whole-body uniform source are absorbed with
  φ_γ(TB ← TB) ≈ 0.35 (MIRD Pamphlet 5 revised, 70 kg ellipsoid, 100–200 keV: 0.34–0.37), and the
  red marrow (spread through the trunk) receives the whole-body mean photon dose;
* S(RM ← TB) = (E_e + φ_γ·E_γ) / m_TB, and the remainder-of-body value follows from the SOP's
  remainder correction S(RM ← RB) = S(RM ← TB)·m_TB/m_RB − S(RM ← RM)·m_RM/m_RB,
  m_RB = m_TB − m_RM. In this approximation the electron parts cancel, leaving the photon part:
  S(RM ← RB) = φ_γ E_γ / m_RB (for a 73 kg patient ≈ 1.0·10⁻⁴ mGy/(MBq·h)), against
  S(RM ← RM) = 0.0729 mGy/(MBq·h) for the 1170 g reference male marrow. The photon part of the
  marrow self-dose (< 1 % of the electron part for 177Lu) is neglected.

Against published phantom values (:data:`OLINDA2_MALE_LU177_MGY_PER_MBQ_S`: OLINDA/EXM 2.0, ICRP 89
adult male, as tabulated in the open-source PyTheranostics package): for the same 1170 g marrow
and 73 kg body, S(RM ← RM) here is 2.03·10⁻⁵ mGy/(MBq·s) against 1.15·10⁻⁵ (× 1.76: the
φ_e = 1 of the older skeletal model against the ICRP 110-based absorbed fraction; φ_e = 0.57,
``analysis.marrow.electron_absorbed_fraction``, reproduces it) and S(RM ← TB) 3.52·10⁻⁷ against
2.74·10⁻⁷ (× 1.28). The blood-based marrow doses of this package are therefore conservative by
about that factor relative to OLINDA 2.0 (``tests/marrow/test_marrow_dose.py``).

Red-marrow mass
---------------
ICRP Publication 89 reference adults: red marrow 1170 g (male, 73 kg, 176 cm) and 900 g
(female, 60 kg, 163 cm). The SOP scales the reference mass to the patient by total body weight
(``mass_scaling="weight"``, default) or, for obese patients, by lean body mass
(``"lean_body_mass"``, James' formula with weight and height); ``"none"`` keeps the reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize

from iluminet.errors import InputError
from iluminet.nuclide import LU177, Nuclide

__all__ = [
    "BLOOD_DENSITY_G_PER_ML",
    "REFERENCE_ADULTS",
    "RMECFF",
    "S_VALUE_SOURCE",
    "VERTEBRAL_MARROW_FRACTIONS",
    "BloodCurveFitter",
    "MarrowDose",
    "MarrowSValues",
    "ReferenceAdult",
    "VertebralMarrow",
    "blood_based_marrow_dose",
    "image_based_marrow_tia",
    "lean_body_mass_kg",
    "marrow_s_values",
    "red_marrow_mass_g",
    "rmblr_from_haematocrit",
    "vertebral_marrow_activity",
]

DECAYS_PER_MBQ_H = 1.0e6 * 3600.0
_MGY_PER_J_PER_KG = 1.0e3
_KEV_TO_J = 1.602176634e-16
BLOOD_DENSITY_G_PER_ML = 1.06  # ICRP Publication 89, whole blood
RMECFF = 0.19  # red-marrow extracellular fluid fraction (Sgouros, J Nucl Med 1993;34:689)
PHOTON_ABSORBED_FRACTION_TB = 0.35  # MIRD Pamphlet 5 rev., 70 kg ellipsoid, 100–200 keV photons
S_VALUE_SOURCE = ("electron absorbed-fraction approximation computed in iluminet.patient.marrow "
                  "(ICRP 107 177Lu energies, phi_e = 1 in red marrow, phi_gamma(TB<-TB) = 0.35); "
                  "not OLINDA/ICRP 133 table values")
_SOURCE = "marrow dosimetry"
#: S(RM ← RM) and S(RM ← TB) of 177Lu, mGy/(MBq·s), OLINDA/EXM 2.0 ICRP 89 adult male phantom
#: (red marrow 1170 g, 73 kg), as tabulated in qurit/PyTheranostics
#: (pytheranostics/dosimetry/phantomdata/Lu177-Male-Svalues.csv, commit cc3b720); used only to
#: state the difference of the approximation, not in any dose.
OLINDA2_MALE_LU177_MGY_PER_MBQ_S = {"rm_from_rm": 1.15e-5, "rm_from_tb": 2.74e-7}


@dataclass(frozen=True)
class ReferenceAdult:
    """ICRP Publication 89 reference adult (red-marrow mass, body mass, height)."""

    red_marrow_mass_g: float
    body_mass_kg: float
    height_cm: float


REFERENCE_ADULTS: dict[str, ReferenceAdult] = {
    "M": ReferenceAdult(1170.0, 73.0, 176.0),
    "F": ReferenceAdult(900.0, 60.0, 163.0),
}

#: Fraction of the adult active (red) marrow in vertebral groups. ``lumbar`` (L1–L5): 12.3 %
#: (Cristy, Phys Med Biol 1981;26:389, adult); ``L2-L4``: 6.7 %, the value used for L2–L4 VOIs
#: in the image-based literature (check against the primary source before clinical use).
VERTEBRAL_MARROW_FRACTIONS: dict[str, float] = {"lumbar": 0.123, "L2-L4": 0.067}


def _number(value: object, name: str, *, source: str = _SOURCE, low: float | None = 0.0,
            high: float | None = None, allow_low: bool = False) -> float:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"expected a number, got {value!r}", source=source, field=name) from None
    if not math.isfinite(v):
        raise InputError(f"expected a finite number, got {value!r}", source=source, field=name)
    if low is not None and (v < low or (v == low and not allow_low)):
        raise InputError(f"expected a number {'≥' if allow_low else '>'} {low:g}, got {v:g}",
                         source=source, field=name)
    if high is not None and v > high:
        raise InputError(f"expected a number ≤ {high:g}, got {v:g}", source=source, field=name)
    return v


def _reference(sex: str | None) -> ReferenceAdult:
    if sex not in REFERENCE_ADULTS:
        raise InputError(f"expected F or M for the reference red-marrow mass, got {sex!r}",
                         source=_SOURCE, field="sex")
    return REFERENCE_ADULTS[str(sex)]


def lean_body_mass_kg(weight_kg: float, height_cm: float, sex: str) -> float:
    """Lean body mass by James' formula (male 1.10 W − 128 (W/H)², female 1.07 W − 148 (W/H)²)."""
    w = _number(weight_kg, "weight_kg")
    h = _number(height_cm, "height_cm")
    if sex == "M":
        return 1.10 * w - 128.0 * (w / h) ** 2
    if sex == "F":
        return 1.07 * w - 148.0 * (w / h) ** 2
    raise InputError(f"expected F or M, got {sex!r}", source=_SOURCE, field="sex")


MassScaling = Literal["weight", "lean_body_mass", "none"]


def red_marrow_mass_g(sex: str, weight_kg: float | None = None, height_cm: float | None = None,
                      scaling: MassScaling = "weight") -> float:
    """The patient's red-marrow mass: the ICRP 89 reference scaled as the SOP suggests.

    ``weight``: m_ref · W / W_ref; ``lean_body_mass``: m_ref · LBM / LBM_ref (James' formula,
    reference LBM from the reference weight and height); ``none``: m_ref. A missing weight (or
    height for LBM) is an error, never silently the reference.
    """
    ref = _reference(sex)
    if scaling == "none":
        return ref.red_marrow_mass_g
    if weight_kg is None:
        raise InputError("patient weight needed to scale the red-marrow mass (or set "
                         "analysis.marrow.mass_scaling: none)", source=_SOURCE, field="weight_kg")
    if scaling == "weight":
        return ref.red_marrow_mass_g * _number(weight_kg, "weight_kg") / ref.body_mass_kg
    if scaling == "lean_body_mass":
        if height_cm is None:
            raise InputError("patient height needed for lean-body-mass scaling", source=_SOURCE,
                             field="height_cm")
        lbm = lean_body_mass_kg(weight_kg, height_cm, sex)
        lbm_ref = lean_body_mass_kg(ref.body_mass_kg, ref.height_cm, sex)
        return ref.red_marrow_mass_g * lbm / lbm_ref
    raise InputError(f"expected weight, lean_body_mass or none, got {scaling!r}", source=_SOURCE,
                     field="mass_scaling")


@dataclass(frozen=True)
class MarrowSValues:
    """S values of the patient's red marrow in mGy/(MBq·h) (:data:`S_VALUE_SOURCE`)."""

    rm_from_rm: float
    rm_from_tb: float
    rm_from_rb: float
    red_marrow_mass_g: float
    body_mass_g: float
    source: str = S_VALUE_SOURCE


def marrow_s_values(red_marrow_mass_g: float, body_mass_kg: float, *,
                    electron_absorbed_fraction: float = 1.0,
                    photon_absorbed_fraction_tb: float = PHOTON_ABSORBED_FRACTION_TB,
                    nuclide: Nuclide = LU177) -> MarrowSValues:
    """S(RM ← RM), S(RM ← TB) and S(RM ← RB) for the patient's masses (module notes).

    S(RM ← RM) = φ_e E_e / m_RM; S(RM ← TB) = (E_e + φ_γ E_γ) / m_TB;
    S(RM ← RB) = S(RM ← TB) m_TB/m_RB − S(RM ← RM) m_RM/m_RB (SOP remainder correction).
    """
    m_rm = _number(red_marrow_mass_g, "red_marrow_mass_g") / 1000.0  # kg
    m_tb = _number(body_mass_kg, "body_mass_kg")
    if m_rm >= m_tb:
        raise InputError("red-marrow mass must be below the body mass", source=_SOURCE,
                         field="red_marrow_mass_g")
    phi_e = _number(electron_absorbed_fraction, "electron_absorbed_fraction", high=1.0)
    phi_g = _number(photon_absorbed_fraction_tb, "photon_absorbed_fraction_tb", low=0.0,
                    allow_low=True, high=1.0)
    per_kev = DECAYS_PER_MBQ_H * _KEV_TO_J * _MGY_PER_J_PER_KG  # mGy·kg per (MBq·h·keV)
    e_e, e_g = nuclide.electron_energy_kev, nuclide.photon_energy_kev
    s_rm = phi_e * e_e * per_kev / m_rm
    s_tb = (e_e + phi_g * e_g) * per_kev / m_tb
    m_rb = m_tb - m_rm
    s_rb = s_tb * m_tb / m_rb - s_rm * m_rm / m_rb
    # with phi_e < 1 the electron parts no longer cancel exactly; never negative
    s_rb = max(s_rb, phi_g * e_g * per_kev / m_tb)
    return MarrowSValues(s_rm, s_tb, s_rb, m_rm * 1000.0, m_tb * 1000.0)


def rmblr_from_haematocrit(haematocrit: float, rmecff: float = RMECFF) -> float:
    """RMBLR = RMECFF / (1 − HCT) (Sgouros 1993), for agents in plasma and extracellular fluid."""
    hct = _number(haematocrit, "haematocrit", low=0.1, allow_low=True, high=0.7)
    return _number(rmecff, "rmecff", high=1.0) / (1.0 - hct)


# --------------------------------------------------------------------------------------------
# Blood curve
# --------------------------------------------------------------------------------------------

BloodModel = Literal["mono", "biexp", "auto"]


class BloodCurveFitter:
    """Sum-of-exponentials fit of the blood activity concentration, c(t) = Σ_j C_j e^(−λ_j t).

    Concentrations are not decay-corrected (effective rate constants). Fitted by nonlinear least
    squares on the logarithm (relative errors), θ = (ln C_j, ln λ_j), λ_1 > λ_2 enforced by
    ordering. ``mono``: one phase (≥ 2 samples); ``biexp``: fast and slow phase (≥ 4 samples);
    ``auto``: biexp when there are ≥ 4 samples and the fit finds two distinct phases (positive
    amplitudes, fast rate > 1.5 × slow rate), else mono. Peptide blood curves are biphasic (a
    fast extracellular/renal phase and a slow retained phase; the SOP fits sums of exponentials),
    and with the usual 4–6 samples an AICc comparison cannot support 4 parameters, so the choice
    rests on the shape, not on AICc.

    Attributes after :meth:`fit`
    ----------------------------
    model_ : str
    amplitudes_mbq_per_ml_, rates_per_h_ : ndarray
    tia_mbq_h_per_ml_ : float
        ∫₀^∞ c dt = Σ C_j / λ_j.
    flags_ : list[str]
        Reasons the fit must not be used (empty: fine).
    """

    def __init__(self, model: BloodModel = "auto", nuclide: Nuclide = LU177) -> None:
        if model not in ("mono", "biexp", "auto"):
            raise InputError(f"expected mono, biexp or auto, got {model!r}", source=_SOURCE,
                             field="blood_model")
        self.model = model
        self.nuclide = nuclide

    def _fit_n(self, t: np.ndarray, y: np.ndarray, n_exp: int
               ) -> tuple[np.ndarray, np.ndarray, float]:
        ly = np.log(y)
        if n_exp == 1:
            slope, intercept = np.polyfit(t, ly, 1)
            lam = -slope
            resid = ly - (intercept - lam * t)
            return np.array([math.exp(intercept)]), np.array([lam]), float(resid @ resid)
        # start: slow phase from the last half of the points, fast phase from the residual
        half = max(2, t.size // 2)
        s2, i2 = np.polyfit(t[-half:], ly[-half:], 1)
        lam2 = max(-s2, 1e-4)
        early = y[:half] - math.exp(i2) * np.exp(-lam2 * t[:half])
        lam1 = max(5.0 * lam2, 0.3)
        c1 = max(float(np.max(early)), 0.1 * y[0]) * math.exp(lam1 * t[0])

        def model(theta: np.ndarray) -> np.ndarray:
            c_a, c_b, l_b, dl = np.exp(theta)
            return np.log(c_a * np.exp(-(l_b + dl) * t) + c_b * np.exp(-l_b * t))

        lam2 = max(lam2, self.nuclide.decay_constant_per_h * 1.001)
        theta0 = np.log([c1, math.exp(i2), lam2, max(lam1 - lam2, 1e-3)])
        # bounds keep exp() finite: amplitudes within 1e±8 of the data, rates up to 50 per h; the
        # slow phase is never slower than physical decay (activity cannot outlive its decay)
        scale_y = float(np.max(y))
        lam_phys = self.nuclide.decay_constant_per_h
        lo = np.log([scale_y * 1e-8, scale_y * 1e-8, lam_phys, 1e-5])
        hi = np.log([scale_y * 1e8, scale_y * 1e8, 50.0, 50.0])
        theta0 = np.clip(theta0, lo + 1e-9, hi - 1e-9)
        def residual(theta: np.ndarray) -> np.ndarray:
            return model(theta) - ly

        best = None
        for scale in (1.0, 0.3, 3.0):
            start = theta0 + np.array([0.0, 0.0, 0.0, math.log(scale)])
            res = optimize.least_squares(residual, start, method="trf",
                                         bounds=(lo, hi), max_nfev=4000)
            if best is None or res.cost < best.cost:
                best = res
        assert best is not None
        c_a, c_b, l_b, dl = np.exp(best.x)
        resid = model(best.x) - ly
        return np.array([c_a, c_b]), np.array([l_b + dl, l_b]), float(resid @ resid)

    def fit(self, time_h: ArrayLike, concentration_mbq_per_ml: ArrayLike, *,
            source: str = _SOURCE) -> BloodCurveFitter:
        t = np.asarray(time_h, dtype=float)
        y = np.asarray(concentration_mbq_per_ml, dtype=float)
        if t.shape != y.shape or t.ndim != 1:
            raise InputError("times and concentrations must be 1-D and of equal length",
                             source=source, field="activity_concentration")
        if not (np.all(np.isfinite(t)) and np.all(t > 0) and np.all(np.diff(t) > 0)):
            raise InputError("sample times must be > 0 h and strictly increasing", source=source,
                             field="time_h")
        if not (np.all(np.isfinite(y)) and np.all(y > 0)):
            raise InputError("concentrations must be > 0", source=source,
                             field="activity_concentration")
        n = t.size
        self.flags_: list[str] = []
        if n < 2:
            raise InputError(f"at least 2 blood samples needed, got {n}", source=source,
                             field="activity_concentration")
        candidates: dict[str, tuple[np.ndarray, np.ndarray, float]] = {}
        if self.model in ("mono", "auto") or n < 4:
            candidates["mono"] = self._fit_n(t, y, 1)
        if self.model == "biexp" and n < 4:
            self.flags_.append(f"bi-exponential blood fit needs ≥ 4 samples, got {n}: "
                               "mono-exponential used")
        if self.model in ("biexp", "auto") and n >= 4:
            candidates["biexp"] = self._fit_n(t, y, 2)

        choice = "mono"
        if "biexp" in candidates:
            amps2, rates2, _ = candidates["biexp"]
            distinct = bool(np.all(amps2 > 0) and rates2[1] > 0 and rates2[0] > 1.5 * rates2[1])
            if distinct or self.model == "biexp":
                choice = "biexp"
            if not distinct:
                self.flags_.append("bi-exponential blood fit without two distinct phases"
                                   + ("" if self.model == "biexp" else ": mono-exponential used"))
                if self.model != "biexp":
                    candidates.setdefault("mono", self._fit_n(t, y, 1))
        amps, rates, _ = candidates[choice]
        self.model_ = choice
        self.amplitudes_mbq_per_ml_ = amps
        self.rates_per_h_ = rates
        if np.any(rates <= 0):
            self.flags_.append("blood concentration does not decrease: no finite integral")
            self.tia_mbq_h_per_ml_ = math.nan
        else:
            self.tia_mbq_h_per_ml_ = float(np.sum(amps / rates))
            if np.min(rates) < self.nuclide.decay_constant_per_h * 0.999:
                self.flags_.append("non-physical: blood clearance slower than physical decay")
        return self

    def predict(self, time_h: ArrayLike) -> np.ndarray:
        """c(t) in MBq/ml."""
        t = np.asarray(time_h, dtype=float)
        return np.sum(self.amplitudes_mbq_per_ml_[:, None]
                      * np.exp(-self.rates_per_h_[:, None] * t.ravel()[None, :]), axis=0
                      ).reshape(t.shape)


# --------------------------------------------------------------------------------------------
# Dose
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarrowDose:
    """Red-marrow dose of one cycle.

    ``tia_rm_mbq_h`` Ã_RM, ``tia_rb_mbq_h`` Ã_RB (remainder of body; NaN if unknown),
    ``self_dose_gy`` Ã_RM·S(RM←RM), ``cross_dose_gy`` Ã_RB·S(RM←RB) (0 and flagged if Ã_RB is
    unknown), ``dose_gy`` their sum.
    """

    method: str
    tia_rm_mbq_h: float
    tia_rb_mbq_h: float
    self_dose_gy: float
    cross_dose_gy: float
    dose_gy: float
    s_values: MarrowSValues
    rmblr: float = math.nan
    flags: tuple[str, ...] = ()


def remainder_tia_mbq_h(whole_body_tia_mbq_h: float, red_marrow_tia_mbq_h: float,
                        other_sources_tia_mbq_h: float = 0.0) -> float:
    """Ã_RB = Ã_WB − Ã_RM − Ã_organs/tumours (the SOP's remainder of body)."""
    rest = float(whole_body_tia_mbq_h) - float(red_marrow_tia_mbq_h) - float(
        other_sources_tia_mbq_h)
    if not rest > 0:
        raise InputError(f"whole-body TIA {whole_body_tia_mbq_h:g} MBq·h does not exceed the "
                         f"marrow and organ TIAs ({red_marrow_tia_mbq_h:g} + "
                         f"{other_sources_tia_mbq_h:g} MBq·h)", source=_SOURCE,
                         field="whole_body_activity_mbq")
    return rest


def _combine(method: str, tia_rm: float, tia_rb: float | None, s: MarrowSValues, rmblr: float,
             flags: list[str]) -> MarrowDose:
    self_gy = tia_rm * s.rm_from_rm / 1000.0
    if tia_rb is None or not math.isfinite(tia_rb):
        flags.append("cross-dose from the remainder of the body not included (no whole-body "
                     "activity): marrow dose underestimated")
        cross_gy, tia_rb_v = 0.0, math.nan
    else:
        cross_gy, tia_rb_v = tia_rb * s.rm_from_rb / 1000.0, float(tia_rb)
    return MarrowDose(method, tia_rm, tia_rb_v, self_gy, cross_gy, self_gy + cross_gy, s, rmblr,
                      tuple(flags))


def blood_based_marrow_dose(blood_tia_mbq_h_per_ml: float, s_values: MarrowSValues, *,
                            rmblr: float = 1.0, whole_body_tia_mbq_h: float | None = None,
                            other_sources_tia_mbq_h: float = 0.0,
                            blood_density_g_per_ml: float = BLOOD_DENSITY_G_PER_ML,
                            flags: Sequence[str] = ()) -> MarrowDose:
    """Blood-based marrow dose (EANM SOP): Ã_RM = RMBLR · ã_blood / ρ_blood · m_RM.

    Parameters
    ----------
    blood_tia_mbq_h_per_ml
        ∫ c_blood dt (MBq·h/ml), e.g. :attr:`BloodCurveFitter.tia_mbq_h_per_ml_`.
    s_values
        :func:`marrow_s_values` for the patient's masses (the marrow mass is taken from them).
    rmblr
        Red-marrow-to-blood concentration ratio per gram (1 for peptides).
    whole_body_tia_mbq_h, other_sources_tia_mbq_h
        Whole-body TIA and the TIA of organs and tumours counted separately; the remainder of
        body is Ã_WB − Ã_RM − Ã_other. ``None``: no cross-dose (flagged).
    """
    c_tia = _number(blood_tia_mbq_h_per_ml, "blood_tia_mbq_h_per_ml")
    ratio = _number(rmblr, "rmblr")
    rho = _number(blood_density_g_per_ml, "blood_density_g_per_ml")
    tia_rm = ratio * c_tia / rho * s_values.red_marrow_mass_g
    tia_rb = None if whole_body_tia_mbq_h is None else remainder_tia_mbq_h(
        whole_body_tia_mbq_h, tia_rm, other_sources_tia_mbq_h)
    return _combine("blood", tia_rm, tia_rb, s_values, ratio, list(flags))


# --------------------------------------------------------------------------------------------
# Image-based
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VertebralMarrow:
    """Marrow activity in the vertebral VOI at the SPECT time.

    ``activity_mbq`` the recovery-corrected activity of the VOI without lesions (rescaled to the
    full VOI volume when ``rescaled``), ``excluded_activity_mbq`` the recovery-corrected activity
    in the excluded lesion voxels, ``excluded_volume_fraction`` their share of the VOI,
    ``skeletal_lesion`` whether any lesion touches the VOI (the Hagmarker flag).
    """

    activity_mbq: float
    excluded_activity_mbq: float
    voi_volume_ml: float
    excluded_volume_fraction: float
    skeletal_lesion: bool
    rescaled: bool
    flags: tuple[str, ...] = ()


def _dilate(mask: np.ndarray, voxels: int) -> np.ndarray:
    out = mask.copy()
    for _ in range(int(voxels)):
        grown = out.copy()
        for axis in range(out.ndim):
            grown |= np.roll(out, 1, axis=axis) | np.roll(out, -1, axis=axis)
        out = grown
    return out


def vertebral_marrow_activity(spect_mbq_per_ml: np.ndarray, voxel_volume_ml: float,
                              marrow_voi: np.ndarray, lesion_mask: np.ndarray | None = None, *,
                              recovery: float = 1.0, lesion_margin_voxels: int = 0,
                              rescale_excluded: bool = True, bone_volume_ml: float | None = None,
                              source: str = _SOURCE) -> VertebralMarrow:
    """Marrow activity in a vertebral VOI with lesions excluded.

    A = Σ_{VOI∖L} c·V / RC, with L the lesion mask grown by ``lesion_margin_voxels`` (spill-out
    of the lesion into the surrounding marrow). With ``rescale_excluded`` the marrow lost with the
    excluded voxels is restored at the mean concentration of the remaining marrow
    (A · V_VOI / V_{VOI∖L}); without it, exclusion lowers A by exactly the lesion's
    recovery-corrected activity Σ_L c·V / RC. The VOI must lie on the SPECT grid and inside its
    field of view (finite values).

    ``bone_volume_ml``: the volume of the whole vertebrae the reference marrow fraction refers to,
    when the VOI is smaller (an eroded VOI keeps off the edges): the activity is then the mean
    recovery-corrected concentration of the kept voxels × ``bone_volume_ml``.
    """
    c = np.asarray(spect_mbq_per_ml, dtype=float)
    voi = np.asarray(marrow_voi, dtype=bool)
    if voi.shape != c.shape:
        raise InputError(f"marrow VOI of shape {voi.shape} is not on the SPECT grid {c.shape}",
                         source=source, field="marrow_voi")
    if not voi.any():
        raise InputError("marrow VOI is empty", source=source, field="marrow_voi")
    if not np.all(np.isfinite(c[voi])):
        raise InputError("marrow VOI extends outside the SPECT field of view (no reconstructed "
                         "values there)", source=source, field="marrow_voi")
    rc = _number(recovery, "recovery", high=1.5)
    v = _number(voxel_volume_ml, "voxel_volume_ml")
    flags: list[str] = []
    lesions = np.zeros_like(voi) if lesion_mask is None else np.asarray(lesion_mask, dtype=bool)
    if lesions.shape != voi.shape:
        raise InputError(f"lesion mask of shape {lesions.shape} is not on the SPECT grid",
                         source=source, field="lesion_mask")
    grown = _dilate(lesions, lesion_margin_voxels) if lesion_margin_voxels else lesions
    excluded = voi & grown
    kept = voi & ~grown
    skeletal = bool(excluded.any())
    if skeletal:
        flags.append("skeletal lesion in the marrow VOI: image-based marrow dose is raised by "
                     "metastases (Hagmarker et al. 2019); lesion voxels excluded — prefer the "
                     "blood-based dose")
    if not kept.any():
        raise InputError("no marrow voxel left after excluding lesions", source=source,
                         field="marrow_voi")
    kept_activity = float(c[kept].sum()) * v / rc
    excluded_activity = float(c[excluded].sum()) * v / rc
    fraction = float(excluded.sum()) / float(voi.sum())
    activity = kept_activity
    if rescale_excluded and skeletal:
        activity = kept_activity / (1.0 - fraction)
    if bone_volume_ml is not None:
        mean_c = float(c[kept].mean()) / rc if (rescale_excluded or not skeletal) else \
            kept_activity / (float(voi.sum()) * v)
        activity = mean_c * _number(bone_volume_ml, "bone_volume_ml")
    return VertebralMarrow(activity, excluded_activity, float(voi.sum()) * v, fraction, skeletal,
                           bool(rescale_excluded and skeletal), tuple(flags))


def image_based_marrow_tia(vertebral_activity_mbq: float, scan_time_h: float,
                           shape: BloodCurveFitter, *, vertebral_fraction: float) -> float:
    """Ã_RM = A_vert(t_s) / f_vert · ∫ c dt / c(t_s): the SPECT level, the blood-curve shape."""
    a = _number(vertebral_activity_mbq, "vertebral_activity_mbq")
    f = _number(vertebral_fraction, "vertebral_fraction", high=1.0)
    t = _number(scan_time_h, "scan_time_h")
    c_t = float(shape.predict(np.array([t]))[0])
    return a / f * shape.tia_mbq_h_per_ml_ / c_t


def image_based_marrow_dose(vertebral: VertebralMarrow, scan_time_h: float,
                            shape: BloodCurveFitter, s_values: MarrowSValues, *,
                            vertebral_fraction: float, whole_body_tia_mbq_h: float | None = None,
                            other_sources_tia_mbq_h: float = 0.0) -> MarrowDose:
    """Image-based marrow dose (Hagmarker 2019 method): :func:`image_based_marrow_tia` + S."""
    tia_rm = image_based_marrow_tia(vertebral.activity_mbq, scan_time_h, shape,
                                    vertebral_fraction=vertebral_fraction)
    tia_rb = None if whole_body_tia_mbq_h is None else remainder_tia_mbq_h(
        whole_body_tia_mbq_h, tia_rm, other_sources_tia_mbq_h)
    return _combine("image", tia_rm, tia_rb, s_values, math.nan,
                    list(vertebral.flags) + list(shape.flags_))


# --------------------------------------------------------------------------------------------
# Over cycles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarrowLimitCheck:
    """Cumulative marrow dose against the limit: what the decision shows beside the kidney BED."""

    cumulative_dose_gy: float
    predicted_cycle_dose_gy: float
    predicted_cumulative_dose_gy: float
    limit_gy: float
    enforced: bool
    exceeded: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)


def marrow_limit_check(per_cycle_dose_gy: Sequence[float] | np.ndarray, limit_gy: float = 2.0, *,
                       enforced: bool = False, prediction: str = "mean") -> MarrowLimitCheck:
    """Sum the per-cycle marrow doses and predict the next cycle's (mean/last/max so far).

    ``exceeded``: the predicted cumulative dose after the next cycle would exceed ``limit_gy``.
    The result is advice unless ``enforced`` (a centre's choice, ``protocol.marrow_limit``).
    """
    doses = np.asarray(per_cycle_dose_gy, dtype=float)
    if doses.size == 0:
        raise InputError("no marrow doses", source=_SOURCE, field="marrow_dose_gy")
    if not np.all(np.isfinite(doses)) or np.any(doses < 0):
        raise InputError(f"marrow doses must be finite and ≥ 0, got {doses.tolist()}",
                         source=_SOURCE, field="marrow_dose_gy")
    limit = _number(limit_gy, "marrow_limit.limit_gy")
    if prediction not in ("mean", "last", "max"):
        raise InputError(f"expected mean, last or max, got {prediction!r}", source=_SOURCE,
                         field="bed_prediction")
    cumulative = float(doses.sum())
    if prediction == "mean":
        predicted = float(np.mean(doses))
    elif prediction == "last":
        predicted = float(doses[-1])
    else:
        predicted = float(np.max(doses))
    after = cumulative + predicted
    exceeded = after > limit
    state = "enforced" if enforced else "advisory, not used by the decision"
    reason = (f"cumulative red-marrow dose {cumulative:.2f} Gy after {doses.size} cycle(s); next "
              f"cycle predicted to add {predicted:.2f} Gy, giving {after:.2f} Gy against the "
              f"{limit:g} Gy marrow limit ({state})")
    reasons = (reason,) + ((f"marrow limit {limit:g} Gy would be exceeded",) if exceeded else ())
    return MarrowLimitCheck(cumulative, predicted, after, limit, bool(enforced), bool(exceeded),
                            reasons)


def detect_hot_lesions(spect_mbq_per_ml: np.ndarray, marrow_voi: np.ndarray, *,
                       factor: float = 3.0) -> np.ndarray:
    """Automatic lesion mask inside the marrow VOI: voxels above ``factor`` × the VOI median.

    Marrow uptake of 177Lu-DOTATATE is close to the blood level and nearly uniform over a few
    vertebrae, while somatostatin-receptor-positive bone metastases take up tens of times more,
    so a hot spot well above the VOI median marks a lesion (a VOI file of lesions delineated on
    CT/SPECT is the better input when available).
    """
    c = np.asarray(spect_mbq_per_ml, dtype=float)
    voi = np.asarray(marrow_voi, dtype=bool)
    if voi.shape != c.shape or not voi.any():
        raise InputError("marrow VOI empty or not on the SPECT grid", source=_SOURCE,
                         field="marrow_voi")
    level = float(np.median(c[voi]))
    return voi & (c > _number(factor, "factor") * level)
