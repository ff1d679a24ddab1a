"""Kidney absorbed dose from time-integrated activity (MIRD) and from activity concentration.

MIRD self-dose: D = Ã · S with Ã the kidney time-integrated activity (MBq·h) and S the kidney
self-S value (mGy per MBq·h). Cross-dose from other organs is neglected (for 177Lu, a β emitter
with little photon energy, it is below a few per cent of the kidney dose).

S values
--------
S = S_e + S_γ, with

* S_e — electrons (β⁻, conversion and Auger, 147.92 keV per decay for 177Lu, ICRP-107), absorbed
  locally: S_e = E_e · 3.6·10⁹ decays/(MBq·h) / m. Exact scaling with the patient's kidney mass m
  (from the CT volume), and a lower bound on S. Checks: 0.2752 (310 g), 0.3102 (275 g),
  0.2853 (299 g) mGy/(MBq·h).
* S_γ — photon self-dose: the published phantom self-S value minus S_e at the phantom mass; about
  1 % (adult female) to 1.5 % (adult male) of S. It is kept *unscaled*: photon self-dose changes
  slowly with organ size (roughly as m^(−2/3), against m^(−1) for electrons), so for kidneys within
  a factor of two of the phantom mass the error is about 1 % of S at most (S slightly high for
  heavy kidneys, slightly low for light ones) — well below the uncertainty of the kidney volume.

Published phantom self-S values (OLINDA/EXM 2.0 tables for the ICRP-89 adult phantoms, 177Lu,
kidneys ← kidneys; full references in docs/references.md, "Kidney S values"): adult male 310 g,
0.2794; adult female 275 g, 0.3132 mGy/(MBq·h).

Concentration (local-deposition) variant: D = c̃ / ρ · E_e with c̃ the time-integrated activity
concentration (MBq·h/ml) in a VOI well inside the kidney and ρ the tissue density; electrons only,
no partial-volume loss from the kidney edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from iluminet.errors import InputError
from iluminet.nuclide import LU177, Nuclide

__all__ = [
    "DECAYS_PER_MBQ_H",
    "KIDNEY_PHANTOMS",
    "KidneyDoses",
    "KidneyPhantom",
    "absorbed_dose_from_concentration_gy",
    "absorbed_dose_gy",
    "electron_s_value_mgy_per_mbq_h",
    "kidney_doses",
    "kidney_s_value_mgy_per_mbq_h",
]

DECAYS_PER_MBQ_H = 1.0e6 * 3600.0  # 1 MBq for 1 h = 3.6·10⁹ decays (exact)
DEFAULT_TISSUE_DENSITY_G_PER_ML = 1.05  # soft tissue / kidney (ICRU 44 / ICRP 89 ≈ 1.05 g/ml)
_SOURCE = "kidney dosimetry"


def _number(value: Any, field: str, *, source: str | None = None, positive: bool = True,
            allow_zero: bool = False) -> float:
    """Float from ``value``; InputError naming ``field`` for None, NaN, ±inf, or out of range."""
    src = source or _SOURCE
    if value is None:
        raise InputError("value is missing (None); a number is required", source=src, field=field)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"expected a number, got {value!r}", source=src, field=field) from None
    if math.isnan(v):
        raise InputError("value is missing (NaN); a number is required", source=src, field=field)
    if not math.isfinite(v):
        raise InputError(f"expected a finite number, got {value!r}", source=src, field=field)
    if positive and (v < 0.0 or (v == 0.0 and not allow_zero)):
        expected = "≥ 0" if allow_zero else "> 0"
        raise InputError(f"expected a number {expected}, got {value!r}", source=src, field=field)
    return v


def electron_s_value_mgy_per_mbq_h(mass_g: float, nuclide: Nuclide = LU177) -> float:
    """Electron-only (local-deposition) self-S value S_e = E_e · 3.6·10⁹ / m in mGy/(MBq·h).

    Parameters
    ----------
    mass_g
        Organ mass (g), > 0.
    nuclide
        Decay data; ``electron_energy_j`` is the mean electron energy per decay (J).
    """
    m_kg = _number(mass_g, "mass_g") / 1000.0
    return nuclide.electron_energy_j * DECAYS_PER_MBQ_H / m_kg * 1000.0  # Gy → mGy


@dataclass(frozen=True)
class KidneyPhantom:
    """A reference phantom's kidneys: total mass and published 177Lu kidney self-S value.

    ``photon_s_mgy_per_mbq_h`` is the published value minus the electron bound at the phantom
    mass, i.e. the photon self-dose part, kept unscaled when the S value is scaled to a patient.
    """

    name: str
    mass_g: float
    self_s_mgy_per_mbq_h: float
    source: str

    @property
    def electron_s_mgy_per_mbq_h(self) -> float:
        return electron_s_value_mgy_per_mbq_h(self.mass_g)

    @property
    def photon_s_mgy_per_mbq_h(self) -> float:
        return self.self_s_mgy_per_mbq_h - self.electron_s_mgy_per_mbq_h


_PUBLISHED = ("OLINDA/EXM 2.0 self-S table, ICRP-89 reference adult phantoms, Lu-177 kidneys "
              "← kidneys (docs/references.md, 'Kidney S values')")
_ADULT_MALE = KidneyPhantom("adult_male", 310.0, 0.2794, _PUBLISHED + " (adult male, 310 g)")
_ADULT_FEMALE = KidneyPhantom("adult_female", 275.0, 0.3132, _PUBLISHED + " (adult female, 275 g)")
# 299 g is the kidney mass of the Cristy–Eckerman adult male (OLINDA/EXM 1.x). No published 177Lu
# self-S value for it is recorded in the physics reference, so its photon part is taken as the
# mean of the two ICRP-89 phantoms' photon parts (0.0036 mGy/(MBq·h), 1.2 % of S; the two differ
# by ±0.0006, i.e. ±0.2 % of S) — an approximation, stated in `source`.
_INTERMEDIATE_PHOTON = 0.5 * (_ADULT_MALE.photon_s_mgy_per_mbq_h
                              + _ADULT_FEMALE.photon_s_mgy_per_mbq_h)
_INTERMEDIATE = KidneyPhantom(
    "intermediate", 299.0,
    electron_s_value_mgy_per_mbq_h(299.0) + _INTERMEDIATE_PHOTON,
    "electron bound for 299 g (Cristy–Eckerman adult male kidney mass) plus the mean photon "
    "part of the ICRP-89 adult male and female phantoms (approximation, no tabulated value)")

KIDNEY_PHANTOMS: dict[str, KidneyPhantom] = {
    p.name: p for p in (_ADULT_MALE, _ADULT_FEMALE, _INTERMEDIATE)
}


def _phantom(phantom: str | KidneyPhantom) -> KidneyPhantom:
    if isinstance(phantom, KidneyPhantom):
        return phantom
    try:
        return KIDNEY_PHANTOMS[phantom]
    except (KeyError, TypeError):
        raise InputError(f"unknown phantom {phantom!r}; expected one of "
                         f"{sorted(KIDNEY_PHANTOMS)}", source=_SOURCE, field="phantom") from None


def kidney_s_value_mgy_per_mbq_h(mass_g: float,
                                 phantom: str | KidneyPhantom = "adult_male") -> float:
    """Kidney self-S value (mGy per MBq·h) scaled to the patient's kidney mass.

    S(m) = S_e(m_phantom) · m_phantom / m + S_γ(phantom) = E_e · 3.6·10⁹ / m + S_γ(phantom):
    the electron part scaled by phantom mass / patient mass, the photon part (published S minus
    the electron bound at the phantom mass) kept unscaled. At the phantom mass this returns the
    published value.

    Parameters
    ----------
    mass_g
        Kidney mass (g) — usually CT volume × density; one kidney or both, consistent with the
        TIA it is used with.
    phantom
        ``"adult_male"`` (default), ``"adult_female"``, ``"intermediate"`` or a
        :class:`KidneyPhantom`.

    Raises
    ------
    InputError
        Mass missing (None/NaN), not finite or ≤ 0 (field ``mass_g``); unknown phantom.
    """
    m = _number(mass_g, "mass_g")
    ph = _phantom(phantom)
    return electron_s_value_mgy_per_mbq_h(m) + ph.photon_s_mgy_per_mbq_h


def absorbed_dose_gy(tia_mbq_h: float, s_mgy_per_mbq_h: float) -> float:
    """Absorbed dose D = Ã · S in Gy (Ã in MBq·h, S in mGy/(MBq·h)).

    Raises
    ------
    InputError
        TIA missing, not finite or negative (field ``tia_mbq_h``); S missing or ≤ 0
        (field ``s_mgy_per_mbq_h``).
    """
    tia = _number(tia_mbq_h, "tia_mbq_h", allow_zero=True)
    s = _number(s_mgy_per_mbq_h, "s_mgy_per_mbq_h")
    return tia * s / 1000.0


def absorbed_dose_from_concentration_gy(
    tia_concentration_mbq_h_per_ml: float,
    density_g_per_ml: float = DEFAULT_TISSUE_DENSITY_G_PER_ML,
    nuclide: Nuclide = LU177,
) -> float:
    """Local-deposition absorbed dose from the time-integrated activity concentration.

    D = (c̃ / ρ) · 3.6·10⁹ · E_e with c̃ in MBq·h/ml, ρ in g/ml and E_e the electron energy per
    decay (J): the time-integrated activity per gram times the energy each decay leaves locally.
    Photons are neglected (≈ 1–1.5 % for a whole kidney, less for a small VOI).

    Returns
    -------
    float
        Absorbed dose in Gy.
    """
    c = _number(tia_concentration_mbq_h_per_ml, "tia_concentration_mbq_h_per_ml",
                allow_zero=True)
    rho = _number(density_g_per_ml, "density_g_per_ml")
    tia_per_kg = c / rho * 1000.0  # MBq·h per kg
    return tia_per_kg * DECAYS_PER_MBQ_H * nuclide.electron_energy_j


@dataclass(frozen=True)
class KidneyDoses:
    """Per-kidney absorbed doses for one cycle.

    Attributes
    ----------
    left_gy, right_gy
        Absorbed dose of each kidney (Gy).
    mean_gy
        Simple mean of the two kidneys' doses — the figure ILUMINET reports and uses.
    mass_weighted_mean_gy
        Total energy / total mass = Σ D·m / Σ m, the dose to the two kidneys as one organ.
    max_gy
        The higher of the two.
    left_s_mgy_per_mbq_h, right_s_mgy_per_mbq_h
        The S values used.
    administered_activity_mbq
        Activity given in the cycle.
    mean_gy_per_gbq
        ``mean_gy`` per administered GBq.
    """

    left_gy: float
    right_gy: float
    mean_gy: float
    mass_weighted_mean_gy: float
    max_gy: float
    left_s_mgy_per_mbq_h: float
    right_s_mgy_per_mbq_h: float
    administered_activity_mbq: float
    mean_gy_per_gbq: float


def kidney_doses(
    tia_left_mbq_h: float,
    tia_right_mbq_h: float,
    mass_left_g: float,
    mass_right_g: float,
    administered_activity_mbq: float,
    phantom: str | KidneyPhantom = "adult_male",
) -> KidneyDoses:
    """Absorbed dose to each kidney, their mean and the dose per administered activity.

    Each kidney gets S scaled to its own mass (:func:`kidney_s_value_mgy_per_mbq_h`), with the
    phantom's photon part for the pair; cross-dose between the kidneys is neglected.

    Parameters
    ----------
    tia_left_mbq_h, tia_right_mbq_h
        Time-integrated activity of each kidney (MBq·h), ≥ 0.
    mass_left_g, mass_right_g
        Mass of each kidney (g), > 0.
    administered_activity_mbq
        Activity administered in the cycle (MBq), > 0 (7400 MBq in ILUMINET).
    phantom
        Reference phantom for the photon part of S.

    Raises
    ------
    InputError
        A missing (None/NaN), non-finite or out-of-range input, naming its field.
    """
    tia_l = _number(tia_left_mbq_h, "tia_left_mbq_h", allow_zero=True)
    tia_r = _number(tia_right_mbq_h, "tia_right_mbq_h", allow_zero=True)
    m_l = _number(mass_left_g, "mass_left_g")
    m_r = _number(mass_right_g, "mass_right_g")
    a_mbq = _number(administered_activity_mbq, "administered_activity_mbq")
    s_l = kidney_s_value_mgy_per_mbq_h(m_l, phantom)
    s_r = kidney_s_value_mgy_per_mbq_h(m_r, phantom)
    d_l = absorbed_dose_gy(tia_l, s_l)
    d_r = absorbed_dose_gy(tia_r, s_r)
    mean = 0.5 * (d_l + d_r)
    return KidneyDoses(
        left_gy=d_l, right_gy=d_r, mean_gy=mean,
        mass_weighted_mean_gy=(d_l * m_l + d_r * m_r) / (m_l + m_r),
        max_gy=max(d_l, d_r), left_s_mgy_per_mbq_h=s_l, right_s_mgy_per_mbq_h=s_r,
        administered_activity_mbq=a_mbq, mean_gy_per_gbq=mean / (a_mbq / 1000.0))
