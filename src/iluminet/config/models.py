"""The typed parameter tree: one pydantic model per section of ``params/*.yaml``.

Every value is checked for its type (numbers are finite, whole numbers are integers, flags are
``true``/``false``, choices come from a fixed list), its range, and its relation to other values
(a tolerance smaller than its limit, step 1's window below step 2's, ...). Unknown keys are errors
(``extra="forbid"``), so a misspelt key never leaves the default silently in force.

The models carry no default values: the YAML files under ``params/`` are the one place defaults
live, and every layer merged onto them (site, patient, ``--set``) is validated as a whole
(:mod:`iluminet.config.params`). The upper bounds of the ranges are plausibility limits meant to
catch unit and typing errors (GBq typed as MBq, days as weeks), not clinical recommendations.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator
from pydantic_core import PydanticCustomError

# ------------------------------------------------------------------------------------------------
# choices (one definition each; the domain modules import them)
# ------------------------------------------------------------------------------------------------

KineticModel = Literal["mono", "biexp", "auto"]
DoseMethod = Literal["s_value", "concentration"]
Phantom = Literal["adult_male", "adult_female", "intermediate"]
KidneyChoice = Literal["mean", "max"]
ShapeViews = Literal["posterior", "conjugate"]
RecoveryMethod = Literal["voi_shape", "volume_curve", "none"]
LastCyclePolicy = Literal["within_tolerance", "within_limit", "reach_lower_bound", "nearest",
                          "risk_limited"]
UncertaintyMethod = Literal["analytic", "monte_carlo"]
BedPrediction = Literal["mean", "last", "max"]

ReferenceRule = Literal["step1_end", "treatment_end"]
ResponseRule = Literal["nearest", "first_after"]
FallbackRule = Literal["last_before", "none"]
PfsRule = Literal["assessed_or_died", "assessed", "all_treated"]
CensorRule = Literal["last_followup", "last_assessment"]
TtmrMethod = Literal["km", "order_statistic"]

Counting = Literal["any", "worsening"]
CreatinineCriterion = Literal["uln_and_baseline", "uln"]
GfrTest = Literal["measured_gfr", "egfr"]

#: No protocol plans more cycles than this; a plan needing more comes from a broken input (a unit
#: error, a near-zero BED per cycle) and is refused rather than looped over.
MAX_PLANNED_CYCLES = 100

# ------------------------------------------------------------------------------------------------
# value types
# ------------------------------------------------------------------------------------------------

#: A finite real number (an integer is accepted, text and booleans are not).
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Days = Annotated[StrictInt, Field(ge=0)]


def _relation(field: str, message: str) -> PydanticCustomError:
    """A broken relation between values, attributed to ``field`` (dotted, within the section)."""
    return PydanticCustomError("relation", message, {"field": field})


class Section(BaseModel):
    """A section of the parameter tree: unknown keys are refused, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------------------------------------
# protocol (params/protocol.yaml)
# ------------------------------------------------------------------------------------------------


class Interval(Section):
    nominal_weeks: Annotated[Number, Field(gt=0, le=52, description="time between cycles (weeks)")]
    tolerance_weeks: Annotated[Number, Field(
        ge=0, description="allowed deviation either way (weeks), shorter than the interval")]

    @model_validator(mode="after")
    def _tolerance_below_interval(self) -> Interval:
        if not self.tolerance_weeks < self.nominal_weeks:
            raise _relation("tolerance_weeks", _fmt(
                "must be shorter than the nominal interval nominal_weeks = {0} weeks, "
                "got {1} weeks",
                self.nominal_weeks, self.tolerance_weeks))
        return self


class Radiobiology(Section):
    alpha_beta_gy: Annotated[Number, Field(gt=0, le=30, description="kidney α/β (Gy)")]
    repair_half_time_h: Annotated[Number, Field(gt=0, le=48, description="kidney sublethal-damage "
                                                                         "repair half-time (h)")]


class StepLimit(Section):
    bed_limit_gy: Annotated[Number, Field(gt=0, le=200, description="cumulative kidney BED target "
                                                                    "of the step (Gy)")]
    tolerance_gy: Annotated[Number, Field(ge=0, description="± window around the limit (Gy), "
                                                            "smaller than the limit")]

    @model_validator(mode="after")
    def _tolerance_below_limit(self) -> StepLimit:
        if not self.tolerance_gy < self.bed_limit_gy:
            raise _relation("tolerance_gy", _fmt("must be smaller than the limit "
                                                 "bed_limit_gy = {0} Gy, got {1} Gy",
                                                 self.bed_limit_gy, self.tolerance_gy))
        return self


class Step2Criteria(Section):
    gfr_min_ml_min: Annotated[Number, Field(ge=0, le=200, description="GFR must be strictly above "
                                                                      "this (ml/min)")]
    gfr_max_decrease_fraction: Annotated[Number, Field(ge=0, le=1, description="largest allowed "
                                                       "decrease from baseline GFR (fraction)")]
    max_toxicity_grade: Annotated[StrictInt, Field(ge=0, le=5, description="worst CTCAE grade "
                                                                          "allowed")]
    max_age_years: Annotated[Number, Field(gt=0, le=120, description="oldest age allowed (years)")]
    exclude_diabetes: StrictBool
    exclude_uncontrolled_hypertension: StrictBool
    exclude_previous_liver_embolization: StrictBool
    exclude_previous_chemotherapy: StrictBool


class Step2(StepLimit):
    criteria: Step2Criteria


class MarrowLimit(Section):
    """Red-marrow absorbed-dose limit: shown beside the kidney BED; it changes the decision only
    when ``enforced``."""

    limit_gy: Annotated[Number, Field(gt=0, le=50)]
    enforced: StrictBool


class ProtocolConfig(Section):
    """``params/protocol.yaml``: every number the cycle decision uses."""

    activity_per_cycle_gbq: Annotated[Number, Field(gt=0, le=15, description="administered "
                                                                             "activity per cycle "
                                                                             "(GBq)")]
    interval: Interval
    radiobiology: Radiobiology
    step1: StepLimit
    step2: Step2
    last_cycle_policy: LastCyclePolicy
    bed_prediction: BedPrediction
    max_cycles: Annotated[StrictInt | None, Field(ge=1, le=MAX_PLANNED_CYCLES,
                                                  description="optional cap on the number of "
                                                              "cycles (null = none)")]
    marrow_limit: MarrowLimit
    max_overshoot_probability: Annotated[Number, Field(gt=0, lt=1, description="risk_limited "
                                                       "policy: largest accepted probability that "
                                                       "the next cycle ends above limit + "
                                                       "tolerance")]

    @model_validator(mode="after")
    def _step1_window_below_step2_window(self) -> ProtocolConfig:
        top1 = self.step1.bed_limit_gy + self.step1.tolerance_gy
        bottom2 = self.step2.bed_limit_gy - self.step2.tolerance_gy
        if not top1 < bottom2:
            raise _relation("step2.bed_limit_gy", _fmt(
                "step 1's window must lie below step 2's: step1.bed_limit_gy + step1.tolerance_gy "
                "= {0} Gy must be < step2.bed_limit_gy − step2.tolerance_gy = {1} Gy", top1,
                bottom2))
        return self


# ------------------------------------------------------------------------------------------------
# analysis (params/analysis.yaml)
# ------------------------------------------------------------------------------------------------


class Kinetics(Section):
    model: KineticModel
    mono_fit_from_h: Annotated[Number, Field(ge=0, le=168, description="mono-exponential fits use "
                                                                      "scans from this time (h)")]
    min_points: Annotated[StrictInt, Field(ge=3, le=100, description="fewer usable scans → no fit")]
    max_relative_tia_se: Annotated[Number, Field(gt=0, le=1, description="fits with a relative "
                                                                        "TIA SE above this are "
                                                                        "flagged")]


class Dosimetry(Section):
    method: DoseMethod
    phantom: Phantom
    tissue_density_g_per_ml: Annotated[Number, Field(ge=0.5, le=2.0, description="kidney density "
                                                                                "(g/ml)")]
    kidney_for_decision: KidneyChoice


class Imaging(Section):
    camera_calibration: Annotated[StrictStr, Field(min_length=1, description="calibration file "
                                                                             "under params/")]
    max_calibration_age_days: Annotated[Number, Field(gt=0, le=3650)]
    shape_views: ShapeViews
    recovery_method: RecoveryMethod
    cycle_folder_pattern: Annotated[StrictStr, Field(
        min_length=1, description="regular expression of a cycle's image folder name; its first "
                                  "group is the cycle number")]
    dicom_folder: Annotated[StrictStr, Field(min_length=1, description="sub-folder of a cycle "
                                                                         "folder holding DICOM")]
    max_kidney_mass_difference: Annotated[Number, Field(
        gt=0, le=1, description="flag a cycle whose CT-VOI kidney mass differs from the mass in "
                                "cycles.csv by more than this fraction")]
    min_roi_voi_overlap: Annotated[Number, Field(
        gt=0, lt=1, description="least share of a kidney's projected VOI inside its planar ROI")]
    max_overlap_ratio: Annotated[Number, Field(gt=0, lt=1)]
    min_kidney_share: Annotated[Number, Field(gt=0, lt=1)]
    max_background_hot_fraction: Annotated[Number, Field(gt=0, lt=1)]
    tissue_hu_range: tuple[Annotated[Number, Field(ge=-1000, le=3000)],
                           Annotated[Number, Field(ge=-1000, le=3000)]]
    activity_rtol: Annotated[Number, Field(gt=0, le=0.5)]
    small_voi_radius_mm: Annotated[Number, Field(gt=0, le=50)]
    collimator_fwhm_at_face_mm: Annotated[Number, Field(gt=0, le=50)]
    collimator_fwhm_slope: Annotated[Number, Field(ge=0, le=1)]
    site_timezone: StrictStr | None = None
    kidney_voi: Annotated[StrictStr, Field(min_length=1, description="kidney VOIs relative to "
                                                                      "the cycle folder")]
    kidney_voi_labels: dict[Literal["left", "right"], Annotated[StrictInt, Field(ge=1)]]
    kidney_roi_names: dict[Literal["left", "right"], list[Annotated[StrictStr,
                                                                    Field(min_length=1)]]]

    @model_validator(mode="after")
    def _both_kidneys(self) -> Imaging:
        for name in ("kidney_voi_labels", "kidney_roi_names"):
            if set(getattr(self, name)) != {"left", "right"}:
                raise _relation(name, "needs an entry for left and for right")
        if self.kidney_voi_labels["left"] == self.kidney_voi_labels["right"]:
            raise _relation("kidney_voi_labels", "needs two different label values")
        return self

    @model_validator(mode="after")
    def _ordered_hu(self) -> Imaging:
        if not self.tissue_hu_range[0] < self.tissue_hu_range[1]:
            raise _relation("tissue_hu_range", "needs its lower bound below its upper bound")
        if self.site_timezone is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(self.site_timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise _relation("site_timezone", f"{self.site_timezone!r} is not an IANA time "
                                                 "zone (e.g. Europe/Stockholm)") from None
        return self

    @model_validator(mode="after")
    def _pattern_has_a_cycle_group(self) -> Imaging:
        try:
            groups = re.compile(self.cycle_folder_pattern).groups
        except re.error as exc:
            raise _relation("cycle_folder_pattern", f"is not a regular expression ({exc})"
                            ) from None
        if groups < 1:
            raise _relation("cycle_folder_pattern", "needs a group for the cycle number, e.g. "
                                                    "'cycle_(\\d+)'")
        return self


class Report(Section):
    decimals: Annotated[StrictInt, Field(ge=0, le=6, description="printed precision of doses "
                                                                 "and BEDs")]


class Plausibility(Section):
    """Interlocks: a value outside these bounds withholds the decision (sources in
    ``params/analysis.yaml``; :mod:`iluminet.patient.plausibility`)."""

    kidney_fraction_min: Annotated[Number, Field(gt=0, lt=1)]
    kidney_fraction_max: Annotated[Number, Field(gt=0, le=1)]
    dose_per_gbq_min: Annotated[Number, Field(gt=0)]
    dose_per_gbq_max: Annotated[Number, Field(gt=0)]
    cycle_consistency_factor: Annotated[Number, Field(gt=1)]
    cycle_bed_max_gy: Annotated[Number, Field(gt=0)]
    interval_margin_weeks: Annotated[Number, Field(ge=0)]

    @model_validator(mode="after")
    def _ordered(self) -> Plausibility:
        if not self.kidney_fraction_min < self.kidney_fraction_max:
            raise _relation("kidney_fraction_min", "must be below kidney_fraction_max")
        if not self.dose_per_gbq_min < self.dose_per_gbq_max:
            raise _relation("dose_per_gbq_min", "must be below dose_per_gbq_max")
        return self


class Marrow(Section):
    """Red-marrow dosimetry (:mod:`iluminet.patient.marrow`; sources in
    ``params/analysis.yaml``)."""

    blood_model: Literal["mono", "biexp", "auto"]
    min_blood_samples: Annotated[StrictInt, Field(ge=2, le=100)]
    rmblr: Annotated[Number, Field(gt=0, le=10)]
    rmblr_from_haematocrit: StrictBool
    mass_scaling: Literal["weight", "lean_body_mass", "none"]
    electron_absorbed_fraction: Annotated[Number, Field(gt=0, le=1)]
    vertebral_group: Literal["L2-L4", "lumbar"]
    spect_recovery: Annotated[Number, Field(gt=0, le=2)]
    lesion_margin_voxels: Annotated[StrictInt, Field(ge=0, le=20)]


RelativeU = Annotated[Number, Field(ge=0, le=1, description="relative standard uncertainty "
                                                            "(1 SD, fraction)")]


class Uncertainty(Section):
    """Standard uncertainties of the measured inputs (``iluminet.uncertainty``): relative, one
    standard deviation, each with its sharing (per scan, per cycle, per patient)."""

    method: UncertaintyMethod
    n_draws: Annotated[StrictInt, Field(ge=100, le=1_000_000, description="Monte Carlo draws")]
    seed: Annotated[StrictInt, Field(ge=0, description="Monte Carlo seed")]
    count_statistics: RelativeU
    planar_sensitivity: RelativeU
    spect_level: RelativeU
    recovery: RelativeU
    dead_time: RelativeU
    camera_calibration: RelativeU
    kidney_mass: RelativeU
    s_value_model: RelativeU
    administered_activity: RelativeU
    next_cycle_variability: RelativeU


class AnalysisConfig(Section):
    """``params/analysis.yaml``: the per-patient analysis choices."""

    kinetics: Kinetics
    dosimetry: Dosimetry
    imaging: Imaging
    report: Report
    plausibility: Plausibility
    marrow: Marrow
    uncertainty: Uncertainty


# ------------------------------------------------------------------------------------------------
# cohort analyses (params/efficacy.yaml, params/safety.yaml)
# ------------------------------------------------------------------------------------------------


def _check_edges(edges: list[float], field: str) -> None:
    if len(edges) != 2 or not 0 <= edges[0] < edges[1]:
        raise _relation(field, _fmt("expected two increasing edges ≥ 0 (Gy), got {0}", edges))


def _check_increasing(values: list[int], field: str) -> None:
    if any(b <= a for a, b in pairwise(values)):
        raise _relation(field, _fmt("expected strictly increasing values, got {0}", values))


class EfficacyConfig(Section):
    """``params/efficacy.yaml``: the choices of the efficacy analysis (notebook 04)."""

    confirm_responses: StrictBool
    min_confirmation_interval_days: Days
    min_sd_duration_days: Days
    response_reference: ReferenceRule
    response_delay_days: Annotated[StrictInt, Field(ge=0, le=3650)]
    response_window_days: Annotated[StrictInt, Field(ge=0, le=365)]
    response_rule: ResponseRule
    carry_forward_pd: StrictBool
    response_fallback: FallbackRule
    pfs_evaluable: PfsRule
    censor_at: CensorRule
    ttmr_method: TtmrMethod
    bed_edges_gy: list[Number]
    landmark_months: Annotated[Number, Field(gt=0, le=600)]
    conf_level: Annotated[Number, Field(gt=0, lt=1)]
    waterfall_until_progression: StrictBool
    landmark_times_months: Annotated[
        list[Annotated[Number, Field(gt=0, le=600)]], Field(min_length=1)]
    bed_effect: StrictBool

    @model_validator(mode="after")
    def _relations(self) -> EfficacyConfig:
        _check_edges(self.bed_edges_gy, "bed_edges_gy")
        return self


#: A clinical adverse-event term as ``adverse_events.csv`` writes it (lower case, ``_`` for spaces).
AeTerm = Annotated[StrictStr, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
#: Its printed label in Table 2.
AeLabel = Annotated[StrictStr, Field(min_length=1, max_length=80, pattern=r"\S")]


class SafetyConfig(Section):
    """``params/safety.yaml``: the choices of the safety analysis (notebook 05)."""

    early_end_days: Days
    late_centres_days: Annotated[list[Annotated[StrictInt, Field(gt=0)]], Field(min_length=1)]
    late_half_width_days: Days
    counting: Counting
    creatinine_criterion: CreatinineCriterion
    include_unlisted_terms: StrictBool
    screening_window_days: Days
    renal_years: Annotated[list[Annotated[StrictInt, Field(ge=0, le=50)]], Field(min_length=1)]
    renal_window_days: Days
    gfr_test: GfrTest
    bed_group_edges_gy: list[Number]
    termination_window_days: Days
    site_ae_terms: dict[AeTerm, AeLabel]

    @model_validator(mode="after")
    def _relations(self) -> SafetyConfig:
        _check_increasing(self.late_centres_days, "late_centres_days")
        _check_increasing(self.renal_years, "renal_years")
        _check_edges(self.bed_group_edges_gy, "bed_group_edges_gy")
        return self


# ------------------------------------------------------------------------------------------------
# the whole tree
# ------------------------------------------------------------------------------------------------


class Parameters(Section):
    """Every parameter in force: ``protocol``, ``analysis``, ``efficacy``, ``safety``."""

    protocol: ProtocolConfig
    analysis: AnalysisConfig
    efficacy: EfficacyConfig
    safety: SafetyConfig

    def to_dict(self) -> dict[str, Any]:
        """The plain nested mapping (as ``params/*.yaml`` would hold it)."""
        return self.model_dump(mode="python")


SECTIONS: tuple[str, ...] = tuple(Parameters.model_fields)


def _fmt(template: str, *values: Any) -> str:
    """``template`` with ``{0}``, ``{1}``, ... replaced by compact numbers; the result holds no
    braces, so pydantic's own formatting of custom-error messages leaves it as it is."""
    text = template
    for i, value in enumerate(values):
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        text = text.replace(f"{{{i}}}", shown)
    return text.replace("{", "(").replace("}", ")")
