"""Red-marrow doses of the synthetic trial: blood curves "measured" and analysed per cycle.

Per patient: body weight (log-normal, by sex), blood volume 70 ml/kg, a blood curve with a fast
(glomerular/extracellular) and a slow (retained) phase, a true red-marrow-to-blood ratio and a
true red-marrow mass that differ from the analysis' assumptions (RMBLR = 1, ICRP 89 mass scaled
by weight), and whole-body retention. Per cycle the kinetics vary a little, five blood samples
(0.5, 2, 6, 24, 168 h, with 5 % noise) are "drawn", and the marrow dose is computed by the
package's blood-based method (:func:`iluminet.patient.marrow.blood_based_marrow_dose`, the fit
:class:`iluminet.patient.marrow.BloodCurveFitter`); the true dose uses the true curve, ratio and
mass. The defaults give about 0.04 Gy/GBq, inside the published range for 177Lu-DOTATATE
(:data:`PUBLISHED_GY_PER_GBQ`): a calibration, not evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from iluminet.nuclide import LU177
from iluminet.patient import marrow

__all__ = ["PUBLISHED_GY_PER_GBQ", "MarrowPopulation", "PatientMarrow", "sample_patient_marrow"]

#: Range of mean red-marrow absorbed dose per administered activity reported for 177Lu-DOTATATE
#: (Gy/GBq), spanning blood-based and image-based series: about 0.02 (Sandström et al., J Nucl Med
#: 2013;54:33, blood-based), 0.07 (Forrer et al., Eur J Nucl Med Mol Imaging 2009;36:1138, with
#: cross-dose from organs and tumours) and image-based values up to ~0.1 (Hagmarker et al., J Nucl
#: Med 2019;60:1406). The bounds are rounded outward; check the primary sources before quoting.
PUBLISHED_GY_PER_GBQ = (0.01, 0.10)


@dataclass(frozen=True)
class MarrowPopulation:
    """Population model of the marrow kinetics (medians, log SDs)."""

    weight_median_kg_male: float = 80.0
    weight_median_kg_female: float = 67.0
    weight_sd_log: float = 0.18
    blood_volume_ml_per_kg: float = 70.0
    fast_fraction: float = 0.85
    fast_half_life_h: float = 1.6
    fast_half_life_sd_log: float = 0.3
    slow_fraction: float = 0.006
    slow_fraction_sd_log: float = 0.35
    slow_half_life_h: float = 60.0
    slow_half_life_sd_log: float = 0.25
    true_rmblr_sd_log: float = 0.10
    true_mass_sd_log: float = 0.10
    retained_fraction: float = 0.35
    retained_sd_log: float = 0.2
    retained_half_life_h: float = 80.0
    excretion_half_life_h: float = 3.0
    cycle_cv: float = 0.08
    sample_times_h: tuple[float, ...] = (0.5, 2.0, 6.0, 24.0, 168.0)
    sample_cv: float = 0.05


@dataclass
class PatientMarrow:
    """One patient's marrow kinetics, drawn once; :meth:`cycle` gives a cycle's doses."""

    sex: str
    weight_kg: float
    blood_volume_ml: float
    fast_half_life_h: float
    slow_fraction: float
    slow_half_life_h: float
    true_rmblr: float
    true_mass_g: float
    retained_fraction: float
    population: MarrowPopulation

    def _curve(self, t: np.ndarray, activity_mbq: float, f: np.ndarray) -> np.ndarray:
        p = self.population
        c0 = activity_mbq / self.blood_volume_ml
        lam_f = math.log(2) / (self.fast_half_life_h * f[0])
        lam_s = math.log(2) / (self.slow_half_life_h * f[1])
        # slow-phase clearance never slower than physical decay
        lam_s = max(lam_s, LU177.decay_constant_per_h)
        return c0 * (p.fast_fraction * np.exp(-lam_f * t)
                     + self.slow_fraction * f[2] * np.exp(-lam_s * t))

    def cycle(self, activity_mbq: float, rng: np.random.Generator) -> tuple[float, float]:
        """(measured, true) red-marrow dose of a cycle (Gy)."""
        p = self.population
        f = np.exp(p.cycle_cv * rng.standard_normal(3))
        t = np.asarray(p.sample_times_h, dtype=float)
        t = t * np.exp(0.03 * rng.standard_normal(t.size))
        noise = np.exp(p.sample_cv * rng.standard_normal(t.size))
        measured = self._curve(t, activity_mbq, f) * noise
        fit = marrow.BloodCurveFitter("auto").fit(t, measured)
        # whole body: excreted part (fast) + retained part (effective half-life)
        wb_true = activity_mbq / math.log(2) * (
            (1 - self.retained_fraction) * p.excretion_half_life_h
            + self.retained_fraction * p.retained_half_life_h)
        # the analysis sees the whole-body TIA with 10 % error (planar quantification)
        wb_measured = wb_true * math.exp(0.10 * rng.standard_normal())
        m_model = marrow.red_marrow_mass_g(self.sex, self.weight_kg)
        s_model = marrow.marrow_s_values(m_model, self.weight_kg)
        dose = marrow.blood_based_marrow_dose(fit.tia_mbq_h_per_ml_, s_model,
                                              whole_body_tia_mbq_h=wb_measured).dose_gy
        # truth: exact integral of the true curve, true ratio and mass
        fine = np.concatenate([np.linspace(0.0, 12.0, 1201), np.linspace(12.0, 4000.0, 4001)[1:]])
        conc_tia = float(np.trapezoid(self._curve(fine, activity_mbq, f), fine))
        s_true = marrow.marrow_s_values(self.true_mass_g, self.weight_kg)
        true = marrow.blood_based_marrow_dose(conc_tia, s_true, rmblr=self.true_rmblr,
                                              whole_body_tia_mbq_h=wb_true).dose_gy
        return float(dose), float(true)


def sample_patient_marrow(sex: str, rng: np.random.Generator,
                          population: MarrowPopulation | None = None) -> PatientMarrow:
    """Draw one patient's marrow kinetics (sex ``"F"``/``"M"``)."""
    p = population or MarrowPopulation()
    z = rng.standard_normal(7)
    weight = (p.weight_median_kg_male if sex == "M" else p.weight_median_kg_female) * math.exp(
        p.weight_sd_log * z[0])
    reference_mass = marrow.red_marrow_mass_g(sex, weight)
    return PatientMarrow(
        sex=sex, weight_kg=weight, blood_volume_ml=p.blood_volume_ml_per_kg * weight,
        fast_half_life_h=p.fast_half_life_h * math.exp(p.fast_half_life_sd_log * z[1]),
        slow_fraction=p.slow_fraction * math.exp(p.slow_fraction_sd_log * z[2]),
        slow_half_life_h=p.slow_half_life_h * math.exp(p.slow_half_life_sd_log * z[3]),
        true_rmblr=math.exp(p.true_rmblr_sd_log * z[4]),
        true_mass_g=reference_mass * math.exp(p.true_mass_sd_log * z[5]),
        retained_fraction=min(0.9, p.retained_fraction * math.exp(p.retained_sd_log * z[6])),
        population=p)


def cycle_measurements(patient: PatientMarrow, activity_mbq: float, rng: np.random.Generator,
                       wb_times_h: np.ndarray) -> dict[str, object]:
    """Blood samples and whole-body activities of one cycle, as a centre would record them, with
    the truth: ``sample_time_h``, ``concentration_mbq_per_ml`` (5 % noise), ``haematocrit``,
    ``whole_body_mbq`` at ``wb_times_h`` (8 % noise), and ``true_blood_tia_mbq_h_per_ml``,
    ``true_tia_rm_mbq_h``, ``true_whole_body_tia_mbq_h``, ``true_dose_gy``."""
    p = patient.population
    f = np.exp(p.cycle_cv * rng.standard_normal(3))
    t = np.asarray(p.sample_times_h, dtype=float) * np.exp(0.03 * rng.standard_normal(
        len(p.sample_times_h)))
    conc = patient._curve(t, activity_mbq, f) * np.exp(p.sample_cv * rng.standard_normal(t.size))
    hct = float(np.clip(rng.normal(0.40 if patient.sex == "M" else 0.37, 0.03), 0.25, 0.55))
    lam_ret = math.log(2) / p.retained_half_life_h
    lam_exc = math.log(2) / p.excretion_half_life_h
    wb_t = np.asarray(wb_times_h, dtype=float)
    wb_true = activity_mbq * ((1 - patient.retained_fraction) * np.exp(-lam_exc * wb_t)
                              + patient.retained_fraction * np.exp(-lam_ret * wb_t))
    wb = wb_true * np.exp(0.08 * rng.standard_normal(wb_t.size))
    fine = np.concatenate([np.linspace(0.0, 12.0, 1201), np.linspace(12.0, 4000.0, 4001)[1:]])
    conc_tia = float(np.trapezoid(patient._curve(fine, activity_mbq, f), fine))
    wb_tia = activity_mbq * ((1 - patient.retained_fraction) / lam_exc
                             + patient.retained_fraction / lam_ret)
    s_true = marrow.marrow_s_values(patient.true_mass_g, patient.weight_kg)
    true = marrow.blood_based_marrow_dose(conc_tia, s_true, rmblr=patient.true_rmblr,
                                          whole_body_tia_mbq_h=wb_tia)
    return {"sample_time_h": t, "concentration_mbq_per_ml": conc, "haematocrit": hct,
            "whole_body_mbq": wb, "true_blood_tia_mbq_h_per_ml": conc_tia,
            "true_tia_rm_mbq_h": true.tia_rm_mbq_h, "true_whole_body_tia_mbq_h": wb_tia,
            "true_dose_gy": true.dose_gy}
