"""Parameters of the synthetic cohort model (population, kidney kinetics, treatment, hazards,
tumour response), with defaults calibrated to the ILUMINET paper (Sundlöv et al. 2022).

Every number of the generator that is not a protocol number (those come from
``params/protocol.yaml``) or a published baseline count (:mod:`.population`) is a field here.
Hazard ratios are per category against the reference (ECOG 0, Ki-67 0–2 %, delivered BED < 25 Gy).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, cast

__all__ = ["KIDNEY_SPREAD_PUBLISHED", "CohortParameters"]

#: Between-patient spreads of kidney uptake and effective half-life giving the published
#: between-patient spread of kidney absorbed dose per GBq. Published series of 177Lu-DOTATATE
#: report 0.43 ± 0.13 Gy/GBq (CV 30 %) and 0.38 ± 0.19 Gy/GBq (CV 50 %); means of 0.38–0.57
#: Gy/GBq. The spread is set on uptake (lognormal SD 0.25) and effective half-life (0.20), the
#: two factors of the time-integrated activity; the split between them is an assumption. With the
#: cycle-to-cycle, mass and measurement terms the patient-mean dose per GBq
#: then has a between-patient CV of ≈ 35 % (``validation/paper_ensemble.py`` measures it), in
#: the published 30–50 %. The calibrated defaults (``uptake_fraction_sd_log`` 0.08,
#: ``t_eff_sd_log`` 0.06) give ≈ 16 %, a third of it.
KIDNEY_SPREAD_PUBLISHED: dict[str, float] = {"uptake_fraction_sd_log": 0.25,
                                             "t_eff_sd_log": 0.20}


@dataclass(frozen=True)
class CohortParameters:
    """The synthetic trial's population, kinetic, treatment, hazard and response model.

    Population and follow-up
    ------------------------
    accrual_start, accrual_end
        Inclusion period (paper: October 2011 – June 2018).
    accrual_shape
        Inclusion at ``start + span · U^(1/shape)``; > 1 puts more inclusions late.
    cutoff_date
        Analysis cut-off (administrative censoring). Chosen with ``accrual_shape`` so that the
        reverse-KM median follow-up is ≈ 42 months and every patient has finished treatment.
    last_contact_max_days
        Alive patients' last contact lies up to this many days before the cut-off.
    diabetes_prevalence, hypertension_prevalence
        Step-2 exclusion criteria not reported in the paper (assumed).
    untreated_fraction
        Enrolled but never treated (paper: 1 of 97, consent withdrawn).
    protocol_deviation_fraction
        Treated but excluded from the response analysis (paper: 1 of 96).

    Kidney kinetics (per cycle; curve of :mod:`iluminet.synthetic.demo_patients`)
    ----------------------------------------------------------
    ``A(t) = A_adm · u_k · (e^(−λ_eff t) − e^(−λ_up t))`` for kidney ``k``.

    uptake_fraction_median, uptake_fraction_sd_log
        Patient kidney uptake fraction per kidney, lognormal.
    kidney_asymmetry_sd_log
        Left/right deviation from the patient's uptake fraction (lognormal).
    cycle_uptake_cv
        Cycle-to-cycle variation of the uptake fraction (lognormal SD).
    t_eff_median_h, t_eff_sd_log
        Patient effective half-life, lognormal; scaled by ``(75 / GFR)^t_eff_gfr_exponent``
        (poorer renal function, slower clearance).
    cycle_t_eff_cv
        Cycle-to-cycle variation of the effective half-life (lognormal SD, as the demo patients).
    kidney_mass_median_g_male, kidney_mass_median_g_female, kidney_mass_sd_log
        Single-kidney mass, lognormal (same for both kidneys up to ``kidney_mass_cycle_cv``).
    kidney_mass_cycle_cv
        Relative CT volume variation between cycles.
    measurement_cv
        Multiplicative Gaussian noise of each kidney activity.
    late_scan_48h_fraction
        Patients imaged at 48 h instead of 96 h.
    activity_sd_mbq
        Spread of the administered activity around the protocol's 7.4 GBq.
    gfr_decline_per_cycle_mean, gfr_decline_per_cycle_sd
        Fractional GFR loss per cycle (normal), for the step-2 GFR criteria.

    Treatment
    ---------
    first_cycle_delay_days
        Inclusion to first cycle, uniform in this range.
    interval_shift_weeks, interval_sd_weeks
        Mean delay and SD of the cycle interval relative to the nominal 10 weeks (normal, clipped
        to the protocol's ± 2 weeks; delays for blood counts or logistics make it longer on
        average).
    toxicity_stop_probability
        Probability per given cycle of a limiting (grade 3–4) haematological toxicity that ends
        treatment (paper: 13 of 96 before completing step 1) for a cycle whose red-marrow dose is
        ``toxicity_reference_marrow_dose_gy`` (the median, ≈ 0.046 Gy/GBq × 7.4 GBq); it scales
        with the cycle's marrow dose and by ``1 + toxicity_cumulative_gain_per_gy · ΣD`` with the
        marrow dose of the earlier cycles.
    toxicity_stop_hr_chemotherapy
        Multiplier of that probability after previous chemotherapy.
    grade_probabilities
        Worst toxicity grade 0/1/2/3 per cycle that does not stop treatment (a transient
        grade 3 still excludes step 2).

    Progression and death (:mod:`.outcomes`)
    ----------------------------------------
    progression_scale_months, progression_shape
        Weibull baseline of progression.
    death_scale_months, death_shape
        Weibull baseline of death.
    hr_ecog1, hr_ecog2, hr_ki67_3_10, hr_ki67_11_20, hr_bed_25_29, hr_bed_over_29
        Hazard ratios of progression.
    death_hr_ecog1, death_hr_ecog2, death_hr_ki67_3_10, death_hr_ki67_11_20,
    death_hr_bed_25_29, death_hr_bed_over_29
        Hazard ratios of death.
    death_hr_after_progression
        Death hazard ratio once progressed.
    early_death_rate_per_month, early_death_months
        Extra early mortality (× ``death_hr_ecog2`` for ECOG 2).

    Tumour response (:mod:`.tumour`)
    --------------------------------
    sensitivity_median_per_gy, sensitivity_sd_log
        Patient tumour shrinkage per Gy of kidney BED (the tumour dose follows the administered
        activity, which the kidney BED tracks), lognormal.
    lesion_sensitivity_sd_log
        Lesion-to-lesion variation of that sensitivity.
    shrinkage_time_months
        Time constant with which the shrinkage of a cycle is reached (continues for months).
    regrowth_rate_per_month_median
        Log growth rate of regrowth before progression (lognormal, SD log 0.4).
    diameter_sd_mm, diameter_cv
        Reading error of a diameter: ``d · (1 + cv·ε₁) + sd·ε₂``, rounded to 1 mm.
    new_lesion_probability
        Progression shown by a new lesion (else by growth of the target lesions).
    ct_interval_days, ct_jitter_days
        CT every 3 months from inclusion, ± jitter.
    """

    # population and follow-up
    accrual_start: date = date(2011, 10, 1)
    accrual_end: date = date(2018, 6, 30)
    accrual_shape: float = 2.5
    cutoff_date: date = date(2020, 6, 30)
    last_contact_max_days: int = 60
    diabetes_prevalence: float = 0.2
    hypertension_prevalence: float = 0.1
    untreated_fraction: float = 1.0 / 97.0
    protocol_deviation_fraction: float = 1.0 / 96.0
    # kidney kinetics
    uptake_fraction_median: float = 0.0150
    uptake_fraction_sd_log: float = 0.08
    kidney_asymmetry_sd_log: float = 0.08
    cycle_uptake_cv: float = 0.08
    t_eff_median_h: float = 50.0
    t_eff_sd_log: float = 0.06
    t_eff_gfr_exponent: float = 0.15
    cycle_t_eff_cv: float = 0.08
    kidney_mass_median_g_male: float = 155.0
    kidney_mass_median_g_female: float = 145.0
    kidney_mass_sd_log: float = 0.06
    kidney_mass_cycle_cv: float = 0.03
    measurement_cv: float = 0.06
    late_scan_48h_fraction: float = 0.2
    activity_sd_mbq: float = 100.0
    gfr_decline_per_cycle_mean: float = 0.035
    gfr_decline_per_cycle_sd: float = 0.03
    # treatment
    first_cycle_delay_days: tuple[int, int] = (14, 42)
    interval_shift_weeks: float = 0.8
    interval_sd_weeks: float = 0.8
    toxicity_stop_probability: float = 0.022
    toxicity_stop_hr_chemotherapy: float = 2.0
    toxicity_reference_marrow_dose_gy: float = 0.34
    toxicity_cumulative_gain_per_gy: float = 0.5
    grade_probabilities: tuple[float, ...] = (0.45, 0.38, 0.14, 0.03)
    # progression and death
    progression_scale_months: float = 78.0
    progression_shape: float = 1.05
    death_scale_months: float = 160.0
    death_shape: float = 1.2
    hr_ecog1: float = 2.0
    hr_ecog2: float = 3.5
    hr_ki67_3_10: float = 1.3
    hr_ki67_11_20: float = 3.0
    hr_bed_25_29: float = 0.7
    hr_bed_over_29: float = 0.5
    death_hr_ecog1: float = 2.0
    death_hr_ecog2: float = 3.5
    death_hr_ki67_3_10: float = 1.1
    death_hr_ki67_11_20: float = 1.3
    death_hr_bed_25_29: float = 0.7
    death_hr_bed_over_29: float = 0.5
    death_hr_after_progression: float = 6.0
    early_death_rate_per_month: float = 0.012
    early_death_months: float = 4.0
    # tumour response
    sensitivity_median_per_gy: float = 0.017
    sensitivity_sd_log: float = 0.8
    lesion_sensitivity_sd_log: float = 0.3
    shrinkage_time_months: float = 10.0
    regrowth_rate_per_month_median: float = 0.06
    diameter_sd_mm: float = 1.0
    diameter_cv: float = 0.04
    new_lesion_probability: float = 0.5
    ct_interval_days: float = 91.3
    ct_jitter_days: int = 7

    def with_published_kidney_spread(self) -> CohortParameters:
        """These parameters with the published between-patient kidney spread
        (:data:`KIDNEY_SPREAD_PUBLISHED`)."""
        from dataclasses import replace

        return replace(self, **cast(dict[str, Any], KIDNEY_SPREAD_PUBLISHED))

    def to_dict(self) -> dict[str, Any]:
        """Plain values (dates as ISO strings), e.g. for the provenance record."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, date):
                out[key] = value.isoformat()
            elif isinstance(value, tuple):
                out[key] = list(value)
        return out
