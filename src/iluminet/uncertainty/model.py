"""The error model of one patient: elementary error variables and the chain they pass through.

Elementary variables
--------------------
ε_j ~ N(0, 1), one per component and sharing unit (:mod:`iluminet.uncertainty.budget`), each with
its relative standard uncertainty u_j. For kidney-cycle ``kc`` with fitted scans i:

    δ_i  = Σ_j u_j ε_j  over the activity components that reach scan i   (ln A_i' = ln A_i + δ_i)
    δ_m  = u_mass ε_mass,kc,       δ_S = u_S ε_S

Chain (the same function for the analytic and the Monte Carlo propagation)
---------------------------------------------------------------------------
* fit: the least-squares solution in log space responds to δ through the sensitivity matrix
  ``L = (Jᵀ W J)⁻¹ Jᵀ W`` at the optimum (J: Jacobian of the log model, W the fit weights):
  θ' = θ + L δ. For the mono-exponential model (ordinary regression of ln A on t) this is exact;
  for the bi-exponential model it is the Gauss–Newton (first-order) response of the refit.
* TIA(θ') in closed form: A0/λ (mono), A0 (1/λc − 1/λu) (biexp); T_eff = ln 2 / λ(c).
* dose' = TIA' · S(m') · e^{δ_S} / 1000 with S(m) = S_e(m0) m0/m + S_γ (the mass-scaled S value of
  :func:`iluminet.patient.dosimetry.kidney_s_value_mgy_per_mbq_h`), m' = m0 e^{δ_m}.
* BED' from dose' and the perturbed T_eff (and uptake half-life), as the chain computes it.
* cycle value: mean (or max) of the two kidneys; cumulative BED: the running sum over cycles.

A shared scale error (δ_i = c for every i) moves ln A0 by c and leaves λ alone, so the TIA changes
by the factor e^c whatever the number of scans; independent errors average out as scans are added.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from iluminet.patient import dosimetry
from iluminet.uncertainty.budget import COMPONENTS, Budget

FloatArray = NDArray[np.float64]
LN2 = math.log(2.0)


@dataclass
class KidneyCycleModel:
    """The linearised fit and the point values of one kidney in one cycle."""

    cycle: int
    kidney: str
    model: str  # mono | biexp
    theta: FloatArray
    sensitivity: FloatArray  # L, shape (p, n_scans): dθ / d ln A
    activity_rows: FloatArray  # shape (n_scans, n_vars): δ ln A_i / d ε
    mass_row: FloatArray  # shape (n_vars,)
    s_row: FloatArray
    s_electron_mgy_per_mbq_h: float
    s_photon_mgy_per_mbq_h: float
    tia_mbq_h: float
    dose_gy: float


@dataclass
class PatientErrorModel:
    """Every elementary error variable of a patient and the kidney-cycles they act on.

    ``variables`` lists (component, unit label, u); the k-th column of every row matrix is the
    effect of ε_k. ``cycles`` lists the cycle numbers; a kidney-cycle without a usable fit is
    missing from ``kidney_cycles`` and makes its cycle's values NaN.
    """

    variables: list[tuple[str, str, float]]
    kidney_cycles: list[KidneyCycleModel]
    cycles: list[int]
    alpha_beta_gy: float
    repair_half_time_h: float
    kidney_for_decision: str
    budget: Budget
    usable_cycles: list[int] = field(default_factory=list)

    @property
    def n_vars(self) -> int:
        return len(self.variables)

    @property
    def sigma(self) -> FloatArray:
        return np.array([u for _, _, u in self.variables], dtype=float)

    def component_of(self) -> list[str]:
        return [name for name, _, _ in self.variables]

    # ---- the chain, vectorised over draws ------------------------------------------------------
    def evaluate(self, eps: FloatArray) -> dict[str, FloatArray]:
        """Outputs for each row of standard-normal draws ``eps`` (shape (m, n_vars)).

        Returns arrays of shape (m, n): ``tia_mbq_h``, ``dose_gy``, ``bed_gy`` per kidney-cycle
        (order of ``kidney_cycles``), ``cycle_dose_gy``, ``cycle_bed_gy``, ``cumulative_bed_gy``
        per cycle (order of ``cycles``)."""
        eps = np.atleast_2d(np.asarray(eps, dtype=float))
        scaled = eps * self.sigma  # u_j ε_j
        m = eps.shape[0]
        tia, dose, bed = (np.full((m, len(self.kidney_cycles)), np.nan) for _ in range(3))
        for k, kc in enumerate(self.kidney_cycles):
            delta = scaled @ kc.activity_rows.T  # (m, n_scans)
            theta = kc.theta[None, :] + delta @ kc.sensitivity.T
            t_i, t_eff, t_up = _tia_and_half_lives(kc.model, theta)
            d_m = scaled @ kc.mass_row
            d_s = scaled @ kc.s_row
            s_value = (kc.s_electron_mgy_per_mbq_h * np.exp(-d_m) + kc.s_photon_mgy_per_mbq_h) \
                * np.exp(d_s)
            d = t_i * s_value / 1000.0
            tia[:, k], dose[:, k] = t_i, d
            bed[:, k] = _bed(d, t_eff, t_up, self.alpha_beta_gy, self.repair_half_time_h)
        n_c = len(self.cycles)
        cycle_dose, cycle_bed = np.full((m, n_c), np.nan), np.full((m, n_c), np.nan)
        combine = np.mean if self.kidney_for_decision == "mean" else np.max
        for c, number in enumerate(self.cycles):
            cols = [k for k, kc in enumerate(self.kidney_cycles) if kc.cycle == number]
            if len(cols) == 2:
                cycle_dose[:, c] = combine(dose[:, cols], axis=1)
                cycle_bed[:, c] = combine(bed[:, cols], axis=1)
        usable = np.array([n in self.usable_cycles for n in self.cycles], dtype=bool)
        masked = np.where(usable[None, :], cycle_bed, np.nan)
        cumulative = np.cumsum(masked, axis=1)  # NaN from the first unusable cycle on
        return {"tia_mbq_h": tia, "dose_gy": dose, "bed_gy": bed, "cycle_dose_gy": cycle_dose,
                "cycle_bed_gy": cycle_bed, "cumulative_bed_gy": cumulative}


def _tia_and_half_lives(model: str, theta: FloatArray
                        ) -> tuple[FloatArray, FloatArray, FloatArray]:
    a0 = np.exp(theta[:, 0])
    if model == "mono":
        lam = theta[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = lam > 0
            tia = np.where(ok, a0 / np.where(ok, lam, 1.0), np.nan)
            t_eff = np.where(ok, LN2 / np.where(ok, lam, 1.0), np.nan)
        return tia, t_eff, np.full_like(tia, np.nan)
    with np.errstate(over="ignore"):  # a near-instant uptake: λu → ∞, the mono limit
        lam_c = np.exp(theta[:, 1])
        lam_u = lam_c + np.exp(theta[:, 2])
    return a0 * (1.0 / lam_c - 1.0 / lam_u), LN2 / lam_c, LN2 / lam_u


def _bed(dose: FloatArray, t_eff: FloatArray, t_up: FloatArray, ab: float, t_rep: float
         ) -> FloatArray:
    """BED = D + G D²/(α/β), G of :func:`iluminet.patient.radiobiology.bed_monoexponential` /
    ``bed_biexponential`` (vectorised here without the per-call validation)."""
    mu = LN2 / t_rep
    lam_c = LN2 / t_eff
    g_mono = t_rep / (t_rep + t_eff)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        lam_u = LN2 / t_up
        g_bi = lam_c * lam_u * (lam_c + lam_u + mu) / ((lam_c + lam_u) * (lam_c + mu)
                                                       * (lam_u + mu))
    g = np.where(np.isfinite(t_up) & (t_up > 0), g_bi, g_mono)
    return dose + g * dose * dose / ab


def fit_sensitivity(fitter: Any) -> FloatArray:
    """``L = (Jᵀ W J)⁻¹ Jᵀ W``: first-order response of the fitted θ to ln A of the fitted points
    (exact for the mono-exponential model's linear regression in log space)."""
    t = np.asarray(fitter.time_h_, dtype=float)
    theta = np.asarray(fitter._theta, dtype=float)
    jm = np.asarray(fitter._log_model_jac(t, theta), dtype=float)
    sd = fitter.activity_sd_mbq_
    w = np.ones_like(t) if sd is None else (np.asarray(fitter.activity_mbq_) / sd) ** 2
    jw = jm.T * w
    return np.asarray(np.linalg.solve(jw @ jm, jw), dtype=float)


def build_error_model(kidney_fits: Sequence[Any], masses_g: Mapping[tuple[int, str], float],
                      count_u: Mapping[tuple[int, str], Mapping[float, float]],
                      cycles: Sequence[int], usable_cycles: Sequence[int], *, budget: Budget,
                      alpha_beta_gy: float, repair_half_time_h: float, phantom: str,
                      kidney_for_decision: str) -> PatientErrorModel:
    """Lay out the elementary variables of a patient and linearise each kidney-cycle's fit.

    Parameters
    ----------
    kidney_fits
        :class:`iluminet.patient.chain.KidneyFit` objects; those without a usable fit are left out.
    masses_g
        Kidney mass per (cycle, kidney), g.
    count_u
        Per (cycle, kidney): the relative count-statistics uncertainty of each scan (by time in h)
        given in ``kidney_activity.csv``; a scan not listed (or NaN) takes the site default.
    cycles, usable_cycles
        Every cycle number, and those whose BED enters the cumulative BED (no flag).
    """
    rel = budget.relative
    variables: list[tuple[str, str, float]] = []
    index: dict[tuple[str, str], int] = {}

    def var(component: str, unit: str, u: float) -> int:
        key = (component, unit)
        if key not in index:
            index[key] = len(variables)
            variables.append((component, unit, float(u)))
        return index[key]

    usable_fits = [f for f in kidney_fits if f.fitter is not None
                   and np.isfinite(getattr(f.fitter, "tia_mbq_h_", np.nan))
                   and getattr(f.fitter, "_theta", None) is not None]
    layout = []
    for f in usable_fits:
        kc_unit = f"cycle {f.cycle} {f.kidney}"
        times = [float(t) for t in np.asarray(f.fitter.time_h_, dtype=float)]
        scan_vars = []
        for t in times:
            per_scan: list[int] = []
            for comp in COMPONENTS:
                if comp.target != "activity":
                    continue
                if comp.sharing == "scan":
                    unit = f"{kc_unit} {t:g} h"
                    u = rel[comp.name]
                    if comp.name == "count_statistics":
                        given = count_u.get((f.cycle, f.kidney), {}).get(t, np.nan)
                        u = float(given) if np.isfinite(given) else u
                    per_scan.append(var(comp.name, unit, u))
                elif comp.sharing == "cycle":
                    per_scan.append(var(comp.name, f"cycle {f.cycle}", rel[comp.name]))
                elif comp.sharing == "kidney_cycle":
                    per_scan.append(var(comp.name, kc_unit, rel[comp.name]))
                else:
                    per_scan.append(var(comp.name, "patient", rel[comp.name]))
            scan_vars.append(per_scan)
        mass_var = var("kidney_mass", kc_unit, rel["kidney_mass"])
        s_var = var("s_value_model", "patient", rel["s_value_model"])
        layout.append((f, scan_vars, mass_var, s_var))

    n = len(variables)
    models = []
    for f, scan_vars, mass_var, s_var in layout:
        rows = np.zeros((len(scan_vars), n))
        for i, ids in enumerate(scan_vars):
            rows[i, ids] = 1.0
        mass_row, s_row = np.zeros(n), np.zeros(n)
        mass_row[mass_var], s_row[s_var] = 1.0, 1.0
        mass = float(masses_g[(f.cycle, f.kidney)])
        s_e = dosimetry.electron_s_value_mgy_per_mbq_h(mass)
        s_total = dosimetry.kidney_s_value_mgy_per_mbq_h(mass, phantom)
        tia = float(f.fitter.tia_mbq_h_)
        models.append(KidneyCycleModel(
            f.cycle, f.kidney, f.fitter.model_name, np.asarray(f.fitter._theta, dtype=float),
            fit_sensitivity(f.fitter), rows, mass_row, s_row, s_e, s_total - s_e, tia,
            tia * s_total / 1000.0))
    return PatientErrorModel(variables, models, list(cycles), float(alpha_beta_gy),
                             float(repair_half_time_h), kidney_for_decision, budget,
                             list(usable_cycles))
