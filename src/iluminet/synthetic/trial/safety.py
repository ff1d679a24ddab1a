"""Synthetic laboratory values and clinical adverse events of a 177Lu-DOTATATE trial cohort.

:func:`simulate_safety` adds the two safety tables of the cohort layout (``labs.csv`` and
``adverse_events.csv``, ``data/README.md`` section "Cohort tables") to a cohort's ``patients``,
``cycles`` and ``events`` tables. The defaults of :class:`SafetySimulationParameters` are tuned so
that the analysis of :mod:`iluminet.trial.safety` lands near the ILUMINET report (Sundlöv et al.
2022, Table 2 and the renal-function text) for a cohort like the trial's; the data are synthetic.

Sampling schedule (the trial protocol)
--------------------------------------
* Baseline at inclusion: every test, with the baseline values of the patients table.
* Blood counts (haemoglobin, platelets, neutrophils, WBC, lymphocytes): weekly for six weeks after
  each cycle (days 7, ..., 42, only before the next cycle), the day before each later cycle, and
  every three months (91 days) after the last cycle until death or last follow-up.
* Creatinine and eGFR: at each visit (baseline, before each cycle, every three months in
  follow-up); ALT, AST, bilirubin and ALP at the same visits ("occasionally").
* Measured GFR: at inclusion and yearly (every 365 days) after it.

Blood counts (driven by the red-marrow dose)
--------------------------------------------
The log count of lineage ``x`` of patient ``i`` at time ``t`` (days) is

    ln X(t) = ln X0 − s_i·u_ix · [ Σ_k a_x·(D_k/D_ref)·(1 + γ_x·B_k)·g_x(t − t_k)
                                   + c_x·Σ_k (D_k/D_ref)·2^(−(t − t_k)/T_x) ] + ε,

where ``D_k`` is the red-marrow absorbed dose of cycle ``k`` (``cycles.marrow_dose_gy``),
``B_k = Σ_{j<k} D_j`` the marrow dose already given before it (Gy), ``D_ref`` =
``reference_marrow_dose_gy`` (the median cycle dose, so ``a_x`` is the first-nadir depth of a
median cycle), ``t_k`` the administration dates, ``g_x(τ) = ((τ/τ_x)·exp(1 − τ/τ_x))^m`` for τ > 0
a transient depression peaking at 1 on the nadir day ``τ_x``, ``γ_x`` the deepening of later
nadirs per Gy already given (reduced marrow reserve), ``c_x`` a chronic depression that recovers
with half-time ``T_x``. The nadir of one cycle is therefore X_nadir/X0 = exp(−D/D0) with
D0 = D_ref/(s·u·a): the exponential dose–survival form of marrow progenitors, in which the
platelet nadir falls log-linearly with marrow dose (as in the marrow dose–toxicity analyses of
radioimmunotherapy, e.g. Siegel et al., J Nucl Med 2003;44:67 — check the fitted form there
before quoting). Modifiers: the baseline count ``X0`` (a low baseline reaches a given grade at a
lower dose), ``s_i`` a log-normal marrow sensitivity shared by the lineages (×
``previous_chemotherapy_factor`` after chemotherapy; capped at ``tolerated_sensitivity_max`` for
the patients whose treatment did not end for toxicity), ``u_ix`` a log-normal lineage factor (×
the lineage's ``toxicity_factor`` for patients whose treatment ended for toxicity), and
``ε ~ N(0, cv_x²)`` sampling noise. ``X0`` is the patient's baseline column (lymphocytes, absent
from the patients table, are drawn). Without a ``marrow_dose_gy`` column every cycle is given
``D_ref`` (then the counts depend on the number of cycles only).

Renal function
--------------
The true GFR falls linearly from the patient's baseline measured GFR ``G0``:

    G(t) = G0 · max(floor, 1 − v_i·[r_age·y(t) + r_BED·∫_0^t BED(t') dt'/365.25]),

with ``y`` the years since the first cycle, ``BED(t)`` the kidney BED delivered by time ``t`` (sum
of ``cycles.kidney_bed_gy`` of the cycles given so far, so the decline is steeper with delivered
BED) and ``v_i`` a log-normal patient factor. Creatinine is ``C0·G0/G(t)`` (creatinine production
constant, clearance proportional to GFR); eGFR is the CKD-EPI 2009 equation of the sampled
creatinine (age, sex; no race term); measured GFR is ``G(t)`` with noise.

Clinical adverse events
-----------------------
Per period (``early``: first cycle to 91 days after the last step-1 cycle; ``late``: the windows
182 ± 45 and 365 ± 45 days after the last cycle) and term, each treated patient has a worst grade
drawn from the probabilities of :attr:`SafetySimulationParameters.early_events` and
:attr:`~SafetySimulationParameters.late_events` (per treated patient, as the paper's percentages).
With ``ae_allocation="expected_counts"`` exactly ``round(p·n)`` patients get each grade (chosen at
random), which removes the binomial noise of one synthetic trial; ``"bernoulli"`` draws every
patient independently. Late events are given to patients still followed in the window only (the
conditional probability ``p·n_treated / n_followed``). A patient with a worst grade ``g`` has one
event of grade ``g`` and ``Poisson(extra_episodes_mean)`` more of grades 1..g at random dates of the
period, so tables must count patients, not events. Two late acute myeloid leukaemias are added
(:attr:`~SafetySimulationParameters.aml_days_after_first_cycle`).

Units
-----
A share ``other_unit_fraction`` of haemoglobin rows is reported in g/dL and of creatinine and
bilirubin rows in mg/dL (value, LLN and ULN converted), to exercise unit handling.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from iluminet.errors import InputError
from iluminet.trial.vocabulary import (
    AE_COLUMNS,
    CANONICAL_UNITS,
    CLINICAL_LABELS,
    LAB_COLUMNS,
    TEST_UNITS,
)
from iluminet.units import DAYS_PER_YEAR

__all__ = [
    "AE_COLUMNS",
    "CLINICAL_LABELS",
    "LAB_COLUMNS",
    "CountKinetics",
    "SafetySimulationParameters",
    "ckd_epi_2009",
    "simulate_safety",
]

_CREATININE_UMOL_PER_MG_DL = TEST_UNITS["creatinine"]["mg/dl"]
_BILIRUBIN_UMOL_PER_MG_DL = TEST_UNITS["bilirubin"]["mg/dl"]


@dataclass(frozen=True)
class CountKinetics:
    """Marrow response of one blood count (see the module notes for the model).

    Attributes
    ----------
    nadir_depression
        ``a``: depth of the first nadir as a decrease of the log count (0.3 → count × 0.74).
    nadir_day
        ``τ``: days from administration to the nadir.
    kernel_shape
        ``m``: sharpness of the transient (higher recovers faster after the nadir).
    cumulative_gain
        ``γ``: relative increase of the nadir depth per Gy of red-marrow dose given before the
        cycle.
    chronic_per_cycle
        ``c``: persistent log-count decrease added by a cycle of the reference marrow dose.
    chronic_half_time_days
        ``T``: recovery half-time of the persistent decrease (days).
    lineage_sd
        Log-normal SD of the lineage factor ``u``.
    sample_cv
        SD of the log sampling noise ``ε`` (≈ coefficient of variation).
    decimals
        Reported decimals in the canonical unit.
    toxicity_factor
        Multiplier of the lineage's sensitivity for patients whose treatment ended for toxicity
        (their counts must explain the termination).
    """

    nadir_depression: float
    nadir_day: float
    kernel_shape: float
    cumulative_gain: float
    chronic_per_cycle: float
    chronic_half_time_days: float
    lineage_sd: float
    sample_cv: float
    decimals: int
    toxicity_factor: float = 1.0


def _default_counts() -> dict[str, CountKinetics]:
    return {
        # γ 0.25 per Gy ≈ the former 0.08 per cycle at the median 0.34 Gy per cycle
        "hemoglobin": CountKinetics(0.016, 35.0, 2.0, 0.25, 0.005, 365.0, 0.30, 0.025, 0, 2.5),
        "platelets": CountKinetics(0.26, 28.0, 3.0, 0.25, 0.010, 365.0, 0.30, 0.070, 0, 4.0),
        "neutrophils": CountKinetics(0.12, 35.0, 3.0, 0.25, 0.065, 365.0, 0.35, 0.120, 2, 2.5),
        "wbc": CountKinetics(0.085, 35.0, 3.0, 0.25, 0.05, 365.0, 0.30, 0.080, 1, 2.5),
        "lymphocytes": CountKinetics(0.30, 21.0, 2.0, 0.25, 0.050, 365.0, 0.30, 0.100, 2, 1.5),
    }


def _default_limits() -> dict[str, tuple[float | None, float | None, float | None, float | None]]:
    # (LLN female, LLN male, ULN female, ULN male) in the canonical unit; None = not reported.
    return {
        "hemoglobin": (117.0, 134.0, 153.0, 170.0),
        "platelets": (145.0, 145.0, 348.0, 348.0),
        "neutrophils": (1.6, 1.6, 5.9, 5.9),
        "wbc": (3.5, 3.5, 8.8, 8.8),
        "lymphocytes": (1.1, 1.1, 3.5, 3.5),
        "alt": (None, None, 45.0, 70.0),
        "ast": (None, None, 35.0, 45.0),
        "alp": (35.0, 35.0, 105.0, 105.0),
        "bilirubin": (5.0, 5.0, 26.0, 26.0),
        "creatinine": (45.0, 60.0, 100.0, 100.0),
        "egfr": (60.0, 60.0, None, None),
        "measured_gfr": (60.0, 60.0, None, None),
    }


def _paper_probabilities(counts: Mapping[str, tuple[int, int]], n: int = 96,
                         grade2_share: float = 1.0 / 3.0) -> dict[str, tuple[float, ...]]:
    """Worst-grade probabilities (grades 1–4) from Table 2 counts (all grades, grade 3–4).

    The paper does not split grade 1 from 2 nor 3 from 4: a third of the grade 1–2 patients are
    given grade 2 and all grade 3–4 patients grade 3 (the paper reports no clinical grade 4).
    """
    out: dict[str, tuple[float, ...]] = {}
    for term, (n_all, n_34) in counts.items():
        n_12 = n_all - n_34
        out[term] = ((1 - grade2_share) * n_12 / n, grade2_share * n_12 / n, n_34 / n, 0.0)
    return out


#: ILUMINET Table 2, clinical AEs: (patients with any grade, with grade 3–4) of 96.
PAPER_EARLY_CLINICAL: Mapping[str, tuple[int, int]] = {
    "fatigue": (60, 1), "nausea_vomiting": (48, 1), "pain": (21, 1), "diarrhea": (19, 0),
    "abdominal_pain": (18, 1), "flushing": (7, 0), "alopecia": (6, 0), "constipation": (5, 0),
    "depression": (5, 0), "infection": (5, 1), "ileus": (2, 1), "thromboembolic_event": (2, 2),
    "weight_loss": (2, 1), "biliary_tract_infection": (1, 1), "dehydration": (1, 1),
}
PAPER_LATE_CLINICAL: Mapping[str, tuple[int, int]] = {
    "fatigue": (9, 0), "thromboembolic_event": (1, 1),
}


def _default_early_events() -> dict[str, tuple[float, ...]]:
    return _paper_probabilities(PAPER_EARLY_CLINICAL)


def _default_late_events() -> dict[str, tuple[float, ...]]:
    # "grade 1 fatigue" persisted: all late fatigue is grade 1.
    return {"fatigue": (9 / 96, 0.0, 0.0, 0.0), "thromboembolic_event": (0.0, 0.0, 1 / 96, 0.0)}


@dataclass(frozen=True)
class SafetySimulationParameters:
    """Parameters of :func:`simulate_safety` (defaults tuned to the ILUMINET report).

    Attributes
    ----------
    counts
        Blood-count kinetics per test (``hemoglobin``, ``platelets``, ``neutrophils``, ``wbc``,
        ``lymphocytes``).
    reference_marrow_dose_gy
        ``D_ref``: the cycle marrow dose at which a lineage's first nadir has depth ``a`` (the
        median of the synthetic cohort, ≈ 0.046 Gy/GBq × 7.4 GBq).
    sensitivity_sd
        Log-normal SD of the patient's marrow sensitivity ``s_i``.
    tolerated_sensitivity_max
        Upper bound of ``s_i`` for patients whose treatment did not end for toxicity: the
        protocol stopped the patients whose marrow did not tolerate the cycles, so those who went
        on are selected for tolerance (applied before the chemotherapy factor).
    previous_chemotherapy_factor
        Sensitivity multiplier after previous chemotherapy.
    limits
        Laboratory reference limits per test: (LLN female, LLN male, ULN female, ULN male) in the
        canonical unit (g/L, 10^9/L, U/L, µmol/L, ml/min[/1.73 m²]); ``None`` = not reported.
        Creatinine ULN 100 µmol/L as the paper implies (grade 1 = 100–150 µmol/L).
    lymphocytes_median_1e9_l, lymphocytes_sd
        Baseline lymphocyte count (not in the patients table): log-normal median and SD.
    weekly_samples_after_cycle, followup_interval_days, measured_gfr_interval_days
        Sampling schedule.
    liver_baseline_ratio
        Median baseline ALT, AST, ALP, bilirubin as multiples of the ULN.
    liver_patient_sd, liver_sample_cv
        Between-patient log SD and within-patient sampling noise of the liver tests.
    liver_episode_probability, liver_episode_peak_ratio, liver_episode_peak_sd,
    liver_episode_days
        Transient transaminase rise during treatment: probability per patient, median peak (×ULN)
        and its log SD, duration (days, triangular profile) of one episode after a random cycle.
    renal_age_decline_per_year
        ``r_age``: fractional GFR loss per year without treatment.
    renal_bed_decline_per_gy_year
        ``r_BED``: fractional GFR loss per Gy of delivered kidney BED per year.
    renal_patient_sd
        Log-normal SD of the patient factor ``v_i``.
    renal_floor
        Lowest GFR as a fraction of the baseline.
    creatinine_cv, measured_gfr_cv
        Sampling noise (log SD) of creatinine and measured GFR.
    other_unit_fraction
        Share of haemoglobin rows in g/dL and of creatinine and bilirubin rows in mg/dL.
    early_events, late_events
        Clinical AEs: per term, probabilities per treated patient of worst grade 1, 2, 3, 4 in the
        period. Defaults: Table 2 counts / 96 (:data:`PAPER_EARLY_CLINICAL`).
    early_end_days, late_centres_days, late_half_width_days
        Periods in which clinical AEs are placed (as in :class:`iluminet.trial.safety.
        SafetyParameters`).
    extra_episodes_mean
        Mean number of further, not worse, events of a patient with the term in a period.
    ae_allocation
        ``"expected_counts"`` (exactly ``round(p·n)`` patients per grade) or ``"bernoulli"``.
    aml_days_after_first_cycle
        Onsets of the acute myeloid leukaemias (days after the first cycle); the patients are
        drawn among those followed that long, preferring small-intestine NETs aged ≥
        ``aml_min_age_years`` without previous chemotherapy (as the two ILUMINET cases).
    aml_grade
        Grade recorded for a leukaemia.
    """

    counts: Mapping[str, CountKinetics] = field(default_factory=_default_counts)
    reference_marrow_dose_gy: float = 0.34
    sensitivity_sd: float = 0.35
    tolerated_sensitivity_max: float = 1.4
    previous_chemotherapy_factor: float = 1.3
    limits: Mapping[str, tuple[float | None, ...]] = field(default_factory=_default_limits)
    lymphocytes_median_1e9_l: float = 1.5
    lymphocytes_sd: float = 0.35
    weekly_samples_after_cycle: int = 6
    followup_interval_days: int = 91
    measured_gfr_interval_days: int = 365
    liver_baseline_ratio: Mapping[str, float] = field(
        default_factory=lambda: {"alt": 0.45, "ast": 0.55, "alp": 0.80, "bilirubin": 0.40})
    liver_patient_sd: float = 0.22
    liver_sample_cv: float = 0.12
    liver_episode_probability: float = 0.05
    liver_episode_peak_ratio: float = 2.5
    liver_episode_peak_sd: float = 0.45
    liver_episode_days: float = 28.0
    renal_age_decline_per_year: float = 0.012
    renal_bed_decline_per_gy_year: float = 0.0030
    renal_patient_sd: float = 0.5
    renal_floor: float = 0.35
    creatinine_cv: float = 0.05
    measured_gfr_cv: float = 0.07
    other_unit_fraction: float = 0.03
    early_events: Mapping[str, tuple[float, ...]] = field(default_factory=_default_early_events)
    late_events: Mapping[str, tuple[float, ...]] = field(default_factory=_default_late_events)
    early_end_days: int = 91
    late_centres_days: tuple[int, ...] = (182, 365)
    late_half_width_days: int = 45
    extra_episodes_mean: float = 0.6
    ae_allocation: Literal["expected_counts", "bernoulli"] = "expected_counts"
    aml_days_after_first_cycle: tuple[int, ...] = (730, 1461)
    aml_min_age_years: float = 65.0
    aml_grade: int = 4

    def __post_init__(self) -> None:
        src = "safety simulation parameters"
        missing = {"hemoglobin", "platelets", "neutrophils", "wbc", "lymphocytes"} - set(
            self.counts
        )
        if missing:
            raise InputError(f"missing blood-count kinetics for {sorted(missing)}", source=src,
                             field="counts")
        for name, table in (("early_events", self.early_events), ("late_events", self.late_events)):
            for term, probs in table.items():
                if len(probs) != 4 or any(p < 0 for p in probs) or sum(probs) > 1 + 1e-12:
                    raise InputError(f"{term}: expected four non-negative probabilities of worst "
                                     f"grade 1–4 summing to at most 1, got {probs!r}",
                                     source=src, field=name)
        if self.ae_allocation not in ("expected_counts", "bernoulli"):
            raise InputError(f"expected 'expected_counts' or 'bernoulli', got "
                             f"{self.ae_allocation!r}", source=src, field="ae_allocation")
        if not 0 <= self.other_unit_fraction <= 1:
            raise InputError(f"expected a fraction in [0, 1], got {self.other_unit_fraction!r}",
                             source=src, field="other_unit_fraction")

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None) -> SafetySimulationParameters:
        """Defaults with the given fields replaced; an unknown key is an :class:`InputError`."""
        overrides = dict(overrides or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InputError(f"unknown parameter(s) {unknown}; expected some of {sorted(known)}",
                             source="safety simulation parameters", field=unknown[0])
        if isinstance(overrides.get("counts"), Mapping):
            counts = dict(_default_counts())
            for test, kin in overrides["counts"].items():
                counts[test] = kin if isinstance(kin, CountKinetics) else replace(
                    counts.get(test, _default_counts()["platelets"]), **kin)
            overrides["counts"] = counts
        return replace(cls(), **overrides)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def ckd_epi_2009(creatinine_umol_l: np.ndarray, age_years: np.ndarray | float,
                 female: bool) -> np.ndarray:
    """eGFR (ml/min/1.73 m²) by the CKD-EPI 2009 creatinine equation, without the race term.

    eGFR = 141 · min(S/κ, 1)^α · max(S/κ, 1)^−1.209 · 0.993^age · (1.018 if female), with S the
    serum creatinine in mg/dL (µmol/L / 88.42), κ = 0.7 (F) or 0.9 (M), α = −0.329 (F) or −0.411 (M)
    (Levey et al., Ann Intern Med 2009;150:604-12).
    """
    s = np.asarray(creatinine_umol_l, dtype=float) / _CREATININE_UMOL_PER_MG_DL
    kappa, alpha = (0.7, -0.329) if female else (0.9, -0.411)
    ratio = s / kappa
    egfr = (141.0 * np.minimum(ratio, 1.0) ** alpha * np.maximum(ratio, 1.0) ** -1.209
            * 0.993 ** np.asarray(age_years, dtype=float))
    return egfr * (1.018 if female else 1.0)


def _dates(series: pd.Series, *, table: str, column: str) -> pd.Series:
    out = pd.to_datetime(series, errors="coerce")
    bad = out.isna() & series.notna()
    if bad.any():
        row = series.index[int(np.argmax(bad.to_numpy()))]
        raise InputError(f"row {row!r}: expected an ISO 8601 date, got {series[row]!r}",
                         source=table, field=column)
    return out.dt.normalize()


def _require(df: pd.DataFrame, columns: tuple[str, ...], table: str) -> None:
    for col in columns:
        if col not in df.columns:
            raise InputError(f"missing column {col!r} (columns: {list(df.columns)})",
                             source=table, field=col)


def _bool(series: pd.Series) -> np.ndarray:
    if series.dtype == object:
        return series.map(lambda x: str(x).strip().lower() in ("true", "1", "yes")).to_numpy()
    return series.fillna(False).astype(bool).to_numpy()


def _baseline(row: pd.Series, column: str) -> float:
    value = row.get(column, np.nan)
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) and value > 0 else math.nan


@dataclass
class _Patient:
    patient_id: str
    inclusion: pd.Timestamp
    female: bool
    age_years: float
    cycle_dates: np.ndarray          # datetime64[D]
    cycle_bed_gy: np.ndarray
    cycle_marrow_gy: np.ndarray
    cycle_steps: np.ndarray
    last_followup: pd.Timestamp
    end_reason: str
    row: pd.Series


# --------------------------------------------------------------------------------------------
# Main entry
# --------------------------------------------------------------------------------------------


def simulate_safety(patients: pd.DataFrame, cycles: pd.DataFrame, events: pd.DataFrame, *,
                    seed: int, parameters: SafetySimulationParameters | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic ``labs`` and ``adverse_events`` tables for a cohort (see the module notes).

    Parameters
    ----------
    patients, cycles, events
        Cohort tables as documented in ``data/README.md`` (dates as ISO strings or datetimes).
        Used: ``patients.patient_id, inclusion_date, treated, age_years, sex,
        previous_chemotherapy, origin, baseline_*``; ``cycles.patient_id, cycle,
        administration_date, step, kidney_bed_gy, marrow_dose_gy``;
        ``events.patient_id, treatment_end_reason,
        last_followup_date``.
    seed
        Seed of the random generator: equal inputs and seed give equal tables.
    parameters
        Model parameters; defaults tuned to the ILUMINET report.

    Returns
    -------
    (labs, adverse_events)
        DataFrames with the columns :data:`LAB_COLUMNS` and :data:`AE_COLUMNS`, dates as
        ``datetime64`` (day precision), sorted by patient and date.

    Raises
    ------
    InputError
        A missing column, an unparseable date, or a treated patient without cycles or events.
    """
    p = parameters or SafetySimulationParameters()
    _require(patients, ("patient_id", "inclusion_date", "treated", "age_years", "sex"), "patients")
    _require(cycles, ("patient_id", "cycle", "administration_date"), "cycles")
    _require(events, ("patient_id", "last_followup_date"), "events")

    pts = patients.copy()
    pts["inclusion_date"] = _dates(pts["inclusion_date"], table="patients", column="inclusion_date")
    cyc = cycles.copy()
    cyc["administration_date"] = _dates(cyc["administration_date"], table="cycles",
                                        column="administration_date")
    ev = events.copy().set_index("patient_id")
    ev["last_followup_date"] = _dates(ev["last_followup_date"], table="events",
                                      column="last_followup_date")
    treated = pts[_bool(pts["treated"])].sort_values("patient_id")
    by_patient = {pid: g.sort_values("cycle") for pid, g in cyc.groupby("patient_id")}

    cohort: list[_Patient] = []
    for _, row in treated.iterrows():
        pid = str(row["patient_id"])
        if pid not in by_patient:
            raise InputError(f"treated patient {pid!r} has no cycles", source="cycles",
                             field="patient_id")
        if pid not in ev.index:
            raise InputError(f"treated patient {pid!r} has no row", source="events",
                             field="patient_id")
        g = by_patient[pid]
        bed = (pd.to_numeric(g["kidney_bed_gy"], errors="coerce").fillna(0.0).to_numpy()
               if "kidney_bed_gy" in g else np.zeros(len(g)))
        marrow_gy = (pd.to_numeric(g["marrow_dose_gy"], errors="coerce")
                     .fillna(p.reference_marrow_dose_gy).to_numpy(float)
                     if "marrow_dose_gy" in g else np.full(len(g), p.reference_marrow_dose_gy))
        steps = (pd.to_numeric(g["step"], errors="coerce").fillna(1).to_numpy(dtype=int)
                 if "step" in g else np.ones(len(g), dtype=int))
        reason = ev.at[pid, "treatment_end_reason"] if "treatment_end_reason" in ev else ""
        last_followup = ev["last_followup_date"]
        cohort.append(_Patient(
            patient_id=pid, inclusion=row["inclusion_date"], female=str(row["sex"]) == "F",
            age_years=float(row["age_years"]),
            cycle_dates=g["administration_date"].to_numpy(dtype="datetime64[D]"),
            cycle_bed_gy=bed, cycle_marrow_gy=marrow_gy, cycle_steps=steps,
            last_followup=pd.Timestamp(last_followup[pid]),
            end_reason="" if pd.isna(reason) else str(reason), row=row,
        ))

    root = np.random.SeedSequence(int(seed))
    lab_rng, ae_rng, unit_rng = (np.random.default_rng(s) for s in root.spawn(3))
    frames = [_patient_labs(pt, p, lab_rng) for pt in cohort]
    labs = (pd.concat(frames, ignore_index=True) if frames
            else pd.DataFrame({c: [] for c in LAB_COLUMNS}))
    labs = _other_units(labs, p, unit_rng)
    labs["date"] = pd.to_datetime(labs["date"]).astype("datetime64[ns]")
    labs = labs.sort_values(["patient_id", "date", "test"], kind="stable").reset_index(drop=True)
    aes = _adverse_events(cohort, p, ae_rng)
    return labs[list(LAB_COLUMNS)], aes[list(AE_COLUMNS)]


# --------------------------------------------------------------------------------------------
# Laboratory values
# --------------------------------------------------------------------------------------------

_BASELINE_COLUMNS = {"hemoglobin": "baseline_hb_g_l", "platelets": "baseline_platelets_1e9_l",
                     "neutrophils": "baseline_anc_1e9_l", "wbc": "baseline_wbc_1e9_l"}
# Population baselines for a missing baseline column (Table 1 medians).
_FALLBACK_BASELINE = {"hemoglobin": 135.0, "platelets": 222.0, "neutrophils": 3.5, "wbc": 6.0}
_DECIMALS = {"alt": 0, "ast": 0, "alp": 0, "bilirubin": 0, "creatinine": 0, "egfr": 0,
             "measured_gfr": 0}


def _schedule(pt: _Patient, p: SafetySimulationParameters) -> tuple[np.ndarray, np.ndarray]:
    """Blood-count dates and visit dates (datetime64[D]) of one patient."""
    incl = np.datetime64(pt.inclusion.date(), "D")
    end = np.datetime64(pt.last_followup.date(), "D")
    cyc = pt.cycle_dates
    counts = [incl]
    visits = [incl]
    for k, day in enumerate(cyc):
        nxt = cyc[k + 1] if k + 1 < len(cyc) else None
        weekly = day + 7 * np.arange(1, p.weekly_samples_after_cycle + 1)
        counts.extend(weekly if nxt is None else weekly[weekly < nxt - 1])
        if nxt is not None:
            counts.append(nxt - 1)
            visits.append(nxt - 1)
    follow = cyc[-1] + p.followup_interval_days * np.arange(1, 200)
    counts.extend(follow)
    visits.extend(follow)
    counts_arr = np.unique(np.array(counts, dtype="datetime64[D]"))
    visits_arr = np.unique(np.array(visits, dtype="datetime64[D]"))
    def keep(a: np.ndarray) -> np.ndarray:
        return a[(a >= incl) & (a <= end)]

    return keep(counts_arr), keep(visits_arr)


def _limits(p: SafetySimulationParameters, test: str, female: bool) -> tuple[float, float]:
    lln_f, lln_m, uln_f, uln_m = p.limits[test]
    lln = lln_f if female else lln_m
    uln = uln_f if female else uln_m
    return (math.nan if lln is None else float(lln)), (math.nan if uln is None else float(uln))


def _rows(pt: _Patient, test: str, dates: np.ndarray, values: np.ndarray, decimals: int,
          p: SafetySimulationParameters) -> pd.DataFrame:
    lln, uln = _limits(p, test, pt.female)
    return pd.DataFrame({
        "patient_id": pt.patient_id, "date": dates, "test": test,
        "value": np.round(values, decimals), "unit": CANONICAL_UNITS[test], "lln": lln, "uln": uln,
    })


def _patient_labs(pt: _Patient, p: SafetySimulationParameters,
                  rng: np.random.Generator) -> pd.DataFrame:
    count_dates, visit_dates = _schedule(pt, p)
    incl = np.datetime64(pt.inclusion.date(), "D")
    end = np.datetime64(pt.last_followup.date(), "D")
    first = pt.cycle_dates[0]
    t_counts = (count_dates - first).astype(float)        # days since the first cycle
    tk = (pt.cycle_dates - first).astype(float)
    frames = []

    # Marrow: shared sensitivity, × factors for toxicity terminations and previous chemotherapy.
    s = math.exp(rng.normal(0.0, p.sensitivity_sd))
    stopped = pt.end_reason == "toxicity"
    if not stopped:
        # Treatment continued, so the marrow tolerated it: the protocol stops the others.
        s = min(s, p.tolerated_sensitivity_max)
    if "previous_chemotherapy" in pt.row and _bool(pd.Series([pt.row["previous_chemotherapy"]]))[0]:
        s *= p.previous_chemotherapy_factor
    for test in ("hemoglobin", "platelets", "neutrophils", "wbc", "lymphocytes"):
        kin = p.counts[test]
        if test == "lymphocytes":
            x0 = p.lymphocytes_median_1e9_l * math.exp(rng.normal(0.0, p.lymphocytes_sd))
        else:
            x0 = _baseline(pt.row, _BASELINE_COLUMNS[test])
            if math.isnan(x0):
                x0 = _FALLBACK_BASELINE[test]
        u = math.exp(rng.normal(0.0, kin.lineage_sd)) * (kin.toxicity_factor if stopped else 1.0)
        tau = t_counts[:, None] - tk[None, :]            # days after each cycle
        relative = pt.cycle_marrow_gy / p.reference_marrow_dose_gy
        given_before = np.concatenate([[0.0], np.cumsum(pt.cycle_marrow_gy)[:-1]])
        with np.errstate(invalid="ignore", over="ignore"):
            r = np.where(tau > 0, tau / kin.nadir_day, 0.0)
            g = np.where(tau > 0, (r * np.exp(1.0 - r)) ** kin.kernel_shape, 0.0)
            chronic = np.where(tau > 0, 2.0 ** (-tau / kin.chronic_half_time_days), 0.0)
        depth = (kin.nadir_depression * relative * (1.0 + kin.cumulative_gain * given_before)
                 )[None, :]
        log_drop = s * u * ((depth * g).sum(axis=1)
                            + kin.chronic_per_cycle * (relative[None, :] * chronic).sum(axis=1))
        noise = rng.normal(0.0, kin.sample_cv, len(t_counts))
        noise[count_dates == incl] = 0.0  # the baseline row is the patients table's value
        values = x0 * np.exp(-log_drop + noise)
        frames.append(_rows(pt, test, count_dates, values, kin.decimals, p))

    # Renal function at visits, measured GFR yearly.
    g0 = _baseline(pt.row, "baseline_gfr_ml_min")
    g0 = 75.0 if math.isnan(g0) else g0
    c0 = _baseline(pt.row, "baseline_creatinine_umol_l")
    c0 = 77.0 if math.isnan(c0) else c0
    v = math.exp(rng.normal(0.0, p.renal_patient_sd))

    def gfr_fraction(days: np.ndarray) -> np.ndarray:
        t = np.maximum((days - first).astype(float), 0.0)
        # ∫ BED dt: each cycle's BED accrues from its date on.
        bed_days = (np.maximum(t[:, None] - tk[None, :], 0.0) * pt.cycle_bed_gy[None, :]).sum(1)
        loss = v * (p.renal_age_decline_per_year * t / DAYS_PER_YEAR
                    + p.renal_bed_decline_per_gy_year * bed_days / DAYS_PER_YEAR)
        return np.maximum(p.renal_floor, 1.0 - loss)

    fr = gfr_fraction(visit_dates)
    noise = rng.normal(0.0, p.creatinine_cv, len(visit_dates))
    noise[visit_dates == incl] = 0.0
    creat = c0 / fr * np.exp(noise)
    creat = np.round(creat)
    age = pt.age_years + (visit_dates - incl).astype(float) / DAYS_PER_YEAR
    frames.append(_rows(pt, "creatinine", visit_dates, creat, 0, p))
    frames.append(_rows(pt, "egfr", visit_dates, ckd_epi_2009(creat, age, pt.female), 0, p))

    gfr_dates = incl + p.measured_gfr_interval_days * np.arange(0, 100)
    gfr_dates = gfr_dates[gfr_dates <= end]
    noise = rng.normal(0.0, p.measured_gfr_cv, len(gfr_dates))
    noise[gfr_dates == incl] = 0.0
    frames.append(_rows(pt, "measured_gfr", gfr_dates, g0 * gfr_fraction(gfr_dates) * np.exp(noise),
                        0, p))

    # Liver tests at visits: a stable patient level, noise, and an occasional transient rise of
    # the transaminases after a random cycle (its peak day is sampled: the rise was looked for).
    episode = rng.random() < p.liver_episode_probability
    peak = p.liver_episode_peak_ratio * math.exp(rng.normal(0.0, p.liver_episode_peak_sd))
    onset = pt.cycle_dates[rng.integers(len(pt.cycle_dates))] + int(rng.integers(3, 15))
    peak_day = onset + int(p.liver_episode_days / 2)
    liver_dates = visit_dates
    if episode and incl <= peak_day <= end:
        liver_dates = np.unique(np.append(visit_dates, peak_day))
    for test in ("alt", "ast", "alp", "bilirubin"):
        _, uln = _limits(p, test, pt.female)
        level = p.liver_baseline_ratio[test] * math.exp(rng.normal(0.0, p.liver_patient_sd))
        ratio = level * np.exp(rng.normal(0.0, p.liver_sample_cv, len(liver_dates)))
        if episode and test in ("alt", "ast"):
            # Triangular rise to the peak and back over liver_episode_days.
            d = np.abs((liver_dates - peak_day).astype(float))
            bump = np.clip(1.0 - d / (p.liver_episode_days / 2), 0.0, 1.0)
            ratio = ratio + bump * peak * (1.0 if test == "alt" else 0.7)
        frames.append(_rows(pt, test, liver_dates, ratio * uln, _DECIMALS[test], p))
    return pd.concat(frames, ignore_index=True)


def _other_units(labs: pd.DataFrame, p: SafetySimulationParameters,
                 rng: np.random.Generator) -> pd.DataFrame:
    """Report a share of rows in g/dL (haemoglobin) or mg/dL (creatinine, bilirubin)."""
    labs = labs.copy()
    conversions = {
        "hemoglobin": ("g/dL", 10.0, 1),
        "creatinine": ("mg/dL", _CREATININE_UMOL_PER_MG_DL, 2),
        "bilirubin": ("mg/dL", _BILIRUBIN_UMOL_PER_MG_DL, 2),
    }
    draw = rng.random(len(labs)) < p.other_unit_fraction
    for test, (unit, factor, decimals) in conversions.items():
        rows = draw & (labs["test"] == test).to_numpy()
        labs.loc[rows, "unit"] = unit
        for col, nd in (("value", decimals), ("lln", 3), ("uln", 3)):
            labs.loc[rows, col] = np.round(labs.loc[rows, col].astype(float) / factor, nd)
    return labs


# --------------------------------------------------------------------------------------------
# Clinical adverse events
# --------------------------------------------------------------------------------------------


def _windows(pt: _Patient, p: SafetySimulationParameters, period: str
             ) -> list[tuple[np.datetime64, np.datetime64]]:
    """Date windows of a period, cut at the last follow-up (empty windows dropped)."""
    end = np.datetime64(pt.last_followup.date(), "D")
    if period == "early":
        steps = pt.cycle_steps
        step1 = pt.cycle_dates[steps == 1] if (steps == 1).any() else pt.cycle_dates
        spans = [(pt.cycle_dates[0], step1.max() + p.early_end_days)]
    else:
        last = pt.cycle_dates[-1]
        spans = [(last + c - p.late_half_width_days, last + c + p.late_half_width_days)
                 for c in p.late_centres_days]
    return [(a, min(b, end)) for a, b in spans if min(b, end) >= a]


def _random_date(windows: list[tuple[np.datetime64, np.datetime64]],
                 rng: np.random.Generator) -> np.datetime64:
    lengths = np.array([(b - a).astype(int) + 1 for a, b in windows], dtype=float)
    i = rng.choice(len(windows), p=lengths / lengths.sum())
    a, b = windows[i]
    return a + int(rng.integers(0, (b - a).astype(int) + 1))


def _allocate(probs: tuple[float, ...], eligible: list[int], n_reference: int,
              p: SafetySimulationParameters, rng: np.random.Generator) -> dict[int, int]:
    """Worst grade (1–4) of the patients given the term; ``probs`` are per treated patient."""
    if not eligible:
        return {}
    out: dict[int, int] = {}
    if p.ae_allocation == "expected_counts":
        order = list(rng.permutation(eligible))
        start = 0
        for grade, prob in enumerate(probs, start=1):
            n = math.floor(prob * n_reference + 0.5)
            for i in order[start:start + n]:
                out[int(i)] = grade
            start += n
    else:
        scale = n_reference / len(eligible)
        cum = np.cumsum(np.asarray(probs) * scale)
        u = rng.random(len(eligible))
        for i, x in zip(eligible, u):
            grade = int(np.searchsorted(cum, x, side="right")) + 1
            if grade <= 4:
                out[int(i)] = grade
    return out


def _adverse_events(cohort: list[_Patient], p: SafetySimulationParameters,
                    rng: np.random.Generator) -> pd.DataFrame:
    rows: list[tuple[str, np.datetime64, str, int]] = []
    n = len(cohort)
    for period, table in (("early", p.early_events), ("late", p.late_events)):
        windows = [_windows(pt, p, period) for pt in cohort]
        eligible = [i for i, w in enumerate(windows) if w]
        for term in sorted(table):
            for i, worst in sorted(_allocate(table[term], eligible, n, p, rng).items()):
                pt, w = cohort[i], windows[i]
                rows.append((pt.patient_id, _random_date(w, rng), term, worst))
                for _ in range(int(rng.poisson(p.extra_episodes_mean))):
                    rows.append((pt.patient_id, _random_date(w, rng), term,
                                 int(rng.integers(1, worst + 1))))
    # Secondary leukaemias: older small-intestine NET patients followed long enough.
    taken: set[int] = set()
    for days in p.aml_days_after_first_cycle:
        followed = [i for i, pt in enumerate(cohort) if i not in taken
                    and pt.cycle_dates[0] + days <= np.datetime64(pt.last_followup.date(), "D")]
        preferred = [
            i
            for i in followed
            if str(cohort[i].row.get("origin", "")) == "small_intestine"
            and cohort[i].age_years >= p.aml_min_age_years
            and not _bool(pd.Series([cohort[i].row.get("previous_chemotherapy", False)]))[0]
        ]
        pool = preferred or followed
        if not pool:
            continue
        i = int(rng.choice(pool))
        taken.add(i)
        rows.append((cohort[i].patient_id, cohort[i].cycle_dates[0] + days,
                     "acute_myeloid_leukemia", p.aml_grade))
    aes = pd.DataFrame(rows, columns=list(AE_COLUMNS))
    # One row per patient, onset date and term (the table's key): keep the worst grade.
    aes = aes.groupby(["patient_id", "onset_date", "term"], as_index=False).agg(
        grade=("grade", "max"))
    aes["onset_date"] = pd.to_datetime(aes["onset_date"]).astype("datetime64[ns]")
    aes["grade"] = aes["grade"].astype(int)
    return aes.sort_values(["patient_id", "onset_date", "term"], kind="stable").reset_index(
        drop=True
    )
