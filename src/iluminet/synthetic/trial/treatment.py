"""Treatment of one synthetic patient, cycle by cycle, through the package's own dosimetry chain.

For every cycle the kidney activities are "measured" (population kinetic model, see
:class:`~iluminet.synthetic.trial.parameters.CohortParameters`), fitted with
:func:`iluminet.patient.chain.fit_kidney` (the configured model of ``params/analysis.yaml``),
turned into absorbed dose with the mass-scaled S value
(:func:`iluminet.patient.dosimetry.kidney_s_value_mgy_per_mbq_h`,
:func:`iluminet.patient.dosimetry.absorbed_dose_gy`) and into BED
(:func:`iluminet.patient.radiobiology.bed_monoexponential`), the cycle's BED being the mean of the
two kidneys' BEDs; then :func:`iluminet.patient.planning.decide_next_cycle` decides, with the
protocol of ``params/protocol.yaml``, whether another cycle (step 1 or step 2) follows. The
decision sees one state per cycle given, as a patient's ``cycles.csv`` records them: that cycle's
toxicity grade, the GFR measured after it and the age on its date (age at inclusion + the time
since), combined by :func:`iluminet.patient.planning.cumulative_state` into the worst grade and
the lowest GFR so far; so the step-2 criteria are checked on the course so far and on the age at
step-2 entry, as the protocol words them.

Between cycles (10 ± 2 weeks) treatment can also end early:

* toxicity — a limiting haematological toxicity after a cycle, with a probability proportional
  to the cycle's red-marrow dose and rising with the marrow dose already given
  (``toxicity_stop_probability · D_k/D_ref · (1 + γ·ΣD_before)``, × the chemotherapy factor;
  :mod:`.marrow_model` gives the doses, measured by the package's blood-based method);
* death — the latent death time (:mod:`.outcomes`) falls before the next cycle;
* progression — the first CT after the latent progression time (CT every 3 months from
  inclusion) comes before the next cycle.

``fast=True`` replaces the fit by its closed form: for the mono-exponential model the fit is
ordinary least squares of ln A on t (``iluminet.patient.kinetics``), so ``λ`` and ``ln A0`` are the
OLS slope and intercept of the scans from ``mono_fit_from_h`` on, computed directly; the numbers are
the same to rounding, without the fitter's uncertainty analysis and flags. Fast mode always uses
the mono-exponential model. A fit that fails or is flagged is used as it is when it gives a finite
BED (the physicist accepted it after review); otherwise the closed form is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd

from iluminet.patient import dosimetry, radiobiology
from iluminet.patient.chain import fit_kidney
from iluminet.patient.planning import (
    Action,
    CycleDosimetry,
    PatientState,
    Protocol,
    decide_next_cycle,
)
from iluminet.synthetic.demo_patients import (
    ALTERNATIVE_SCAN_TIMES_H,
    SCAN_TIMES_H,
    UPTAKE_HALF_TIME_H,
)
from iluminet.synthetic.trial.marrow_model import sample_patient_marrow
from iluminet.synthetic.trial.outcomes import EventClock, Weibull, bed_group
from iluminet.synthetic.trial.parameters import CohortParameters
from iluminet.units import DAYS_PER_MONTH, DAYS_PER_YEAR

__all__ = ["PatientCourse", "closed_form_mono", "simulate_patient"]

LN2 = math.log(2.0)
_CET = timezone(timedelta(hours=1))


@dataclass
class PatientCourse:
    """What happened to one treated patient (days are counted from inclusion)."""

    cycle_days: list[int] = field(default_factory=list)
    activity_mbq: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    dose_gy: list[float] = field(default_factory=list)
    bed_gy: list[float] = field(default_factory=list)
    marrow_dose_gy: list[float] = field(default_factory=list)       # measured (blood-based)
    marrow_true_dose_gy: list[float] = field(default_factory=list)  # the simulator's truth
    scans: list[tuple[int, float, float, float]] = field(default_factory=list)
    end_reason: str = "other"
    step1_completed: bool = False
    progression_months: float | None = None   # latent (biological) progression time
    death_day: int | None = None
    death_cause: str | None = None
    last_contact_day: int = 0
    ct_days: list[int] = field(default_factory=list)  # every scheduled CT up to the cut-off
    flagged_fits: int = 0


def closed_form_mono(time_h: np.ndarray, activity_mbq: np.ndarray, from_h: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Mono-exponential OLS fit of ``ln A`` on ``t`` per row (kidney), scans from ``from_h`` on.

    Returns ``(tia_mbq_h, t_eff_h)`` with ``TIA = A0 / λ`` and ``T_eff = ln 2 / λ``; NaN where
    ``λ ≤ 0``.
    """
    used = time_h >= from_h
    t = time_h[used]
    y = np.log(activity_mbq[:, used])
    t_mean = t.mean()
    slope = ((t - t_mean) * (y - y.mean(axis=1, keepdims=True))).sum(axis=1) / (
        (t - t_mean) ** 2
    ).sum()
    intercept = y.mean(axis=1) - slope * t_mean
    lam = -slope
    with np.errstate(divide="ignore", invalid="ignore"):
        tia = np.where(lam > 0, np.exp(intercept) / lam, np.nan)
        t_eff = np.where(lam > 0, LN2 / lam, np.nan)
    return tia, t_eff


def _curve(time_h: np.ndarray, initial_mbq: np.ndarray, t_eff_h: np.ndarray) -> np.ndarray:
    """Uptake-and-clearance curve of :mod:`iluminet.synthetic.demo_patients`, one row per kidney."""
    lam_eff = LN2 / t_eff_h[:, None]
    lam_up = LN2 / UPTAKE_HALF_TIME_H
    return initial_mbq[:, None] * (np.exp(-lam_eff * time_h) - np.exp(-lam_up * time_h))


def _cycle_bed(time_h: np.ndarray, activity: np.ndarray, masses_g: np.ndarray,
               analysis: dict[str, Any], protocol: Protocol, fast: bool, source: str,
               cycle: int) -> tuple[float, float, bool]:
    """Mean kidney dose and BED of one cycle from the measured activities; and whether a fit was
    flagged."""
    kin = analysis["kinetics"]
    phantom = analysis["dosimetry"]["phantom"]
    from_h = float(kin["mono_fit_from_h"])
    tia, t_eff = closed_form_mono(time_h, activity, from_h)
    models = ["mono", "mono"]
    t_up = [math.nan, math.nan]
    flagged = False
    if not fast:
        for i, kidney in enumerate(("left", "right")):
            fit = fit_kidney(cycle, kidney, time_h, activity[i], kin, source)
            flagged = flagged or bool(fit.flags)
            f = fit.fitter
            if (
                f is not None
                and np.isfinite(f.tia_mbq_h_)
                and np.isfinite(f.effective_half_life_h_)
            ):
                tia[i], t_eff[i], models[i] = f.tia_mbq_h_, f.effective_half_life_h_, f.model_name
                t_up[i] = getattr(f, "uptake_half_life_h_", math.nan)
    doses, beds = [], []
    for i in range(2):
        if not (np.isfinite(tia[i]) and np.isfinite(t_eff[i])):
            raise FloatingPointError("kidney curve without clearance")
        s = dosimetry.kidney_s_value_mgy_per_mbq_h(float(masses_g[i]), phantom)
        dose = dosimetry.absorbed_dose_gy(float(tia[i]), s)
        if models[i] == "biexp":
            bed = radiobiology.bed_biexponential(
                dose,
                float(t_eff[i]),
                float(t_up[i]),
                protocol.alpha_beta_gy,
                protocol.repair_half_time_h,
            )
        else:
            bed = radiobiology.bed_monoexponential(dose, float(t_eff[i]), protocol.alpha_beta_gy,
                                                   protocol.repair_half_time_h)
        doses.append(dose)
        beds.append(float(bed))
    return float(np.mean(doses)), float(np.mean(beds)), flagged


def _linear_predictor(row: pd.Series, hr: dict[str, float]) -> float:
    eta = 0.0
    ecog = row["ecog"]
    if not pd.isna(ecog) and int(ecog) in (1, 2):
        eta += math.log(hr[f"ecog{int(ecog)}"])
    ki67 = row["ki67_percent"]
    if not pd.isna(ki67):
        if ki67 > 10:
            eta += math.log(hr["ki67_11_20"])
        elif ki67 > 2:
            eta += math.log(hr["ki67_3_10"])
    return eta


def simulate_patient(row: pd.Series, inclusion: pd.Timestamp, cutoff: pd.Timestamp,
                     p: CohortParameters, protocol: Protocol, analysis: dict[str, Any],
                     rng: np.random.Generator, *, fast: bool = False,
                     marrow_rng: np.random.Generator | None = None) -> PatientCourse:
    """Simulate treatment, progression and death of one treated patient (module docstring).

    ``marrow_rng`` draws the marrow kinetics and blood samples (its own stream, so the kidney and
    outcome draws do not depend on it); ``None``: a stream seeded from ``rng``.
    """
    course = PatientCourse()
    if marrow_rng is None:
        marrow_rng = np.random.default_rng(int(rng.integers(2**63)))
    patient_marrow = sample_patient_marrow(str(row["sex"]), marrow_rng)
    cutoff_day = (cutoff - inclusion).days
    course.last_contact_day = cutoff_day - int(rng.integers(0, p.last_contact_max_days + 1))
    k_max = int(cutoff_day / p.ct_interval_days) + 1
    ct = [int(round(k * p.ct_interval_days)) + int(rng.integers(-p.ct_jitter_days,
                                                                 p.ct_jitter_days + 1))
          for k in range(1, k_max + 1)]
    course.ct_days = [d for d in ct if d <= cutoff_day]

    # kinetics of this patient
    male = row["sex"] == "M"
    uptake = p.uptake_fraction_median * math.exp(p.uptake_fraction_sd_log * rng.standard_normal())
    uptake_k = uptake * np.exp(p.kidney_asymmetry_sd_log * rng.standard_normal(2))
    gfr0 = float(row["baseline_gfr_ml_min"])
    t_eff = (p.t_eff_median_h * math.exp(p.t_eff_sd_log * rng.standard_normal())
             * (75.0 / gfr0) ** p.t_eff_gfr_exponent)
    mass = ((p.kidney_mass_median_g_male if male else p.kidney_mass_median_g_female)
            * math.exp(p.kidney_mass_sd_log * rng.standard_normal()))
    schedule = np.array(ALTERNATIVE_SCAN_TIMES_H if rng.random() < p.late_scan_48h_fraction
                        else SCAN_TIMES_H)
    chemo = bool(row["previous_chemotherapy"])
    p_tox = min(
        1.0, p.toxicity_stop_probability * (p.toxicity_stop_hr_chemotherapy if chemo else 1)
    )

    # hazards
    eta_p = _linear_predictor(row, {"ecog1": p.hr_ecog1, "ecog2": p.hr_ecog2,
                                    "ki67_3_10": p.hr_ki67_3_10, "ki67_11_20": p.hr_ki67_11_20})
    eta_d = _linear_predictor(row, {"ecog1": p.death_hr_ecog1, "ecog2": p.death_hr_ecog2,
                                    "ki67_3_10": p.death_hr_ki67_3_10,
                                    "ki67_11_20": p.death_hr_ki67_11_20})
    bed_lhr_p = {"<25": 0.0, "25-29": math.log(p.hr_bed_25_29), ">29": math.log(p.hr_bed_over_29)}
    bed_lhr_d = {"<25": 0.0, "25-29": math.log(p.death_hr_bed_25_29),
                 ">29": math.log(p.death_hr_bed_over_29)}
    first_day = int(rng.integers(p.first_cycle_delay_days[0], p.first_cycle_delay_days[1] + 1))
    t1 = first_day / DAYS_PER_MONTH
    prog = EventClock(Weibull(p.progression_scale_months, p.progression_shape),
                      rng.exponential(), t1)
    death = EventClock(Weibull(p.death_scale_months, p.death_shape), rng.exponential(), t1)
    ecog2 = not pd.isna(row["ecog"]) and int(row["ecog"]) == 2
    early_rate = p.early_death_rate_per_month * (p.death_hr_ecog2 if ecog2 else 1.0)
    early = t1 + rng.exponential(1.0 / early_rate) if early_rate > 0 else math.inf
    early_death = early if early < p.early_death_months else None

    def advance(until: float, cum_bed: float) -> None:
        group = bed_group(cum_bed)
        prog.advance(until, math.exp(eta_p + bed_lhr_p[group]))
        tp = prog.event_time
        m_d = math.exp(eta_d + bed_lhr_d[group])
        post = math.exp(eta_d + bed_lhr_d[group]) * p.death_hr_after_progression
        if tp is not None and death.time < tp < until:
            death.advance(tp, m_d)
            death.advance(until, post)
        else:
            death.advance(until, post if tp is not None and tp <= death.time else m_d)

    def death_time() -> float | None:
        candidates = [t for t in (death.event_time, early_death) if t is not None]
        return min(candidates) if candidates else None

    def detected_progression_day(before_day: int) -> int | None:
        tp = prog.event_time
        if tp is None:
            return None
        for day in course.ct_days:
            if day >= tp * DAYS_PER_MONTH:
                return day if day <= before_day else None
        return None

    gfr = gfr0
    age0 = float(row["age_years"])
    given: list[CycleDosimetry] = []
    history: list[PatientState] = []  # one state per cycle: the decision sees all of them
    day = first_day
    step = 1
    source = f"kidney_activity.csv, patient {row['patient_id']}"
    while True:
        # give cycle k on `day`
        k = len(given) + 1
        activity = float(protocol.activity_per_cycle_gbq * 1000.0 + p.activity_sd_mbq
                         * rng.standard_normal())
        activity = round(activity, 1)
        times = schedule + rng.normal(0.0, 0.25, schedule.size)
        times[0] = max(times[0], 0.8)
        times = np.round(times, 2)
        u = uptake_k * np.exp(p.cycle_uptake_cv * rng.standard_normal(2))
        te = t_eff * np.exp(p.cycle_t_eff_cv * rng.standard_normal(2))
        true = _curve(times, activity * u, te)
        measured = np.round(true * (1.0 + p.measurement_cv * rng.standard_normal(true.shape)), 2)
        measured = np.maximum(measured, 0.01)
        masses = np.round(mass * (1.0 + p.kidney_mass_cycle_cv * rng.standard_normal(2)), 1)
        try:
            dose, bed, flagged = _cycle_bed(times, measured, masses, analysis, protocol, fast,
                                            source, k)
        except FloatingPointError:  # curve without clearance: re-imaged, true value used
            tia_true = activity * u * (te - UPTAKE_HALF_TIME_H) / LN2
            doses = [dosimetry.absorbed_dose_gy(tia_true[i], dosimetry.kidney_s_value_mgy_per_mbq_h(
                masses[i], analysis["dosimetry"]["phantom"])) for i in range(2)]
            beds = [float(radiobiology.bed_monoexponential(doses[i], te[i], protocol.alpha_beta_gy,
                                                           protocol.repair_half_time_h))
                    for i in range(2)]
            dose, bed, flagged = float(np.mean(doses)), float(np.mean(beds)), True
        course.flagged_fits += int(flagged)
        dose, bed = round(dose, 6), round(bed, 6)
        course.cycle_days.append(day)
        course.activity_mbq.append(activity)
        course.steps.append(step)
        course.dose_gy.append(dose)
        course.bed_gy.append(bed)
        marrow_before = float(sum(course.marrow_true_dose_gy))
        marrow_measured, marrow_true = patient_marrow.cycle(activity, marrow_rng)
        course.marrow_dose_gy.append(round(marrow_measured, 6))
        course.marrow_true_dose_gy.append(marrow_true)
        course.scans.extend((k, float(times[j]), float(measured[0, j]), float(measured[1, j]))
                            for j in range(times.size))
        administered = datetime.combine((inclusion + pd.Timedelta(days=day)).date(),
                                        time(9, 30), tzinfo=_CET)
        given.append(CycleDosimetry(k, administered, bed, dose))
        cum_bed = float(sum(course.bed_gy))

        # this cycle's state: its toxicity grade, the GFR measured after it and the age on its
        # date; the decision combines every cycle's state (worst grade and lowest GFR so far,
        # age at the decision: iluminet.patient.planning, "Decision state"), as the patient
        # records do (iluminet.patient.records.PatientRecord.states)
        grade = int(rng.choice(len(p.grade_probabilities), p=np.asarray(p.grade_probabilities)))
        gfr *= 1.0 - (p.gfr_decline_per_cycle_mean + p.gfr_decline_per_cycle_sd
                      * rng.standard_normal())
        history.append(PatientState(
            age_years=age0 + day / DAYS_PER_YEAR, baseline_gfr_ml_min=gfr0,
            current_gfr_ml_min=round(gfr, 1), worst_toxicity_grade=grade,
            diabetes=bool(row["diabetes"]),
            uncontrolled_hypertension=bool(row["uncontrolled_hypertension"]),
            previous_liver_embolization=bool(row["previous_liver_directed"]),
            previous_chemotherapy=chemo))
        decision = decide_next_cycle(given, history, protocol)
        if decision.action in (Action.STEP1_COMPLETE_STEP2_ELIGIBLE,
                               Action.STEP1_COMPLETE_NOT_ELIGIBLE, Action.STOP_AT_LIMIT) \
                or step == 2:
            course.step1_completed = True
        if not decision.gives_cycle:
            course.end_reason = "step2_completed" if step == 2 else "step1_completed"
            break
        # limiting toxicity: driven by the true marrow dose of this cycle and before it
        p_k = min(1.0, p_tox * marrow_true / p.toxicity_reference_marrow_dose_gy
                  * (1.0 + p.toxicity_cumulative_gain_per_gy * marrow_before))
        if rng.random() < p_k:
            course.end_reason = "toxicity"
            break
        interval_weeks = float(np.clip(
            protocol.interval_nominal_weeks + p.interval_shift_weeks
            + p.interval_sd_weeks * rng.standard_normal(),
            protocol.interval_nominal_weeks - protocol.interval_tolerance_weeks,
            protocol.interval_nominal_weeks + protocol.interval_tolerance_weeks))
        next_day = day + int(round(7 * interval_weeks))
        advance(next_day / DAYS_PER_MONTH, cum_bed)
        td = death_time()
        if td is not None and td * DAYS_PER_MONTH < next_day:
            course.end_reason = "death"
            break
        if detected_progression_day(next_day) is not None:
            course.end_reason = "progression"
            break
        if next_day > course.last_contact_day:  # still under treatment at the cut-off
            course.end_reason = "other"
            break
        day = next_day
        step = int(decision.step or step)

    # after treatment: the final delivered-BED group holds
    advance(math.inf, float(sum(course.bed_gy)))
    course.progression_months = prog.event_time
    td = death_time()
    last_cycle = course.cycle_days[-1]
    if td is not None:
        death_day = max(int(math.ceil(td * DAYS_PER_MONTH)), last_cycle + 1)
        if death_day <= course.last_contact_day:
            course.death_day = death_day
            course.last_contact_day = death_day
            tp = course.progression_months
            progressed = tp is not None and tp * DAYS_PER_MONTH < death_day
            if early_death is not None and td == early_death:
                causes: tuple[str, ...]
                weights: tuple[float, ...]
                causes, weights = ("tumour", "unknown"), (0.7, 0.3)
            elif progressed:
                causes, weights = ("tumour", "other"), (0.9, 0.1)
            else:
                causes, weights = ("other", "tumour", "unknown"), (0.5, 0.3, 0.2)
            course.death_cause = str(rng.choice(causes, p=np.asarray(weights)))
    if course.end_reason == "death" and course.death_day is None:
        course.end_reason = "other"  # death after the last contact: not observed
    return course
