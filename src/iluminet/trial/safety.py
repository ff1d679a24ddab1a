"""Safety analysis of a PRRT trial cohort: ILUMINET Table 2, renal function, terminations.

Inputs are the cohort tables of ``data/README.md`` ("Cohort tables"): ``patients``, ``cycles``,
``events``, ``labs`` and ``adverse_events`` as plain DataFrames (typed as
:func:`iluminet.trial.read_cohort` returns them, or with dates and numbers as text).

Grading
-------
Every lab row is mapped to its CTCAE v4.03 term (:data:`LAB_TERMS`) and graded by
:func:`iluminet.trial.ctcae.grade_table` with the row's LLN/ULN. Creatinine is graded against the
ULN and the patient's baseline creatinine (``patients.baseline_creatinine_umol_l``, else the latest
pre-treatment creatinine), the worse of the two (``creatinine_criterion="uln_and_baseline"``, the
CTCAE rule; note that its grade 1 is *any* value above the baseline, so measurement noise alone
makes most patients grade 1) or against the ULN only (``"uln"``, the default: the ILUMINET report
reads creatinine 100–150 µmol/L as grade 1, i.e. the ULN reading). Both grades are kept on every
row (``grade_uln``, ``grade_uln_and_baseline``), the yearly creatinine table
(``safety_creatinine_by_year.csv``) reports both, and Table 2 is also given under each criterion
side by side (:func:`table2_by_creatinine_criterion`, ``safety_table2_creatinine_criteria.csv``;
only the laboratory rows graded on creatinine can differ). Rows whose grade
cannot be told (no LLN for a mild decrease) do not count. A lab table with a defect — unknown
test, unknown unit, a value that is not a number, a date before inclusion (beyond the screening
window of :data:`iluminet.trial.schema.SCREENING_WINDOW_DAYS` days), an unknown patient — raises
:class:`~iluminet.errors.InputError` naming the table, the row (1-based data row, as the schema
reports it) and the column.

Periods (all bounds inclusive, in days; :class:`SafetyParameters`)
------------------------------------------------------------------
* baseline: the latest value on or before the first administration (pre-treatment, screening
  included); a sample taken on the day of the first cycle is pre-dose, so it is both the baseline
  and part of the early period.
* early: from the first cycle to ``early_end_days`` (91, "3 months") after the last step-1 cycle.
  For a patient who did not complete step 1 the last step-1 cycle is the last cycle, so the period
  ends 3 months after the last cycle.
* late: the windows ``late_centres_days`` (182 and 365, "6 and 12 months") ±
  ``late_half_width_days`` (45) after the last cycle (step 1 or 2); their union is the late period
  of Table 2.
Lab rows and adverse-event onsets outside these periods (between them, or later) are in no period.

Counting (Table 2)
------------------
Patients, not events: per period, term and patient the worst grade; "all grades" counts patients
with a worst grade ≥ 1, "grade 3–4" those with worst grade 3 or 4 (grade 5 counted apart). The
denominator is the number of treated patients (96 in ILUMINET), whatever their follow-up. The
paper does not say whether laboratory AEs were counted as *any grade during the period* or as
*worsening from baseline*; both are computed (``counting="any"``: the primary table by default;
``"worsening"``: a patient counts only with a worst grade above the baseline grade of the same
term, an unknown baseline grade taken as 0). Clinical AEs have no baseline (onset is never before
the first cycle), so both variants agree for them. Haematological malignancies (acute myeloid
leukaemia, myelodysplastic syndrome) are listed separately, not in Table 2.

ALT and AST are counted together as "liver enzyme increase" (the paper's row), the other lab terms
each on their own row (:data:`TABLE2_GROUPS`); terms not in the paper are appended (flag
``in_paper``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
from pydantic import ValidationError

from iluminet.config.models import Counting, CreatinineCriterion, GfrTest, SafetyConfig
from iluminet.config.params import validation_error
from iluminet.errors import InputError
from iluminet.provenance import provenance, write_json_atomic, write_text_atomic
from iluminet.scalars import as_str, as_timestamp
from iluminet.trial import ctcae
from iluminet.trial.schema import SCREENING_WINDOW_DAYS
from iluminet.trial.tables import BED_EDGES_GY, bed_group
from iluminet.trial.vocabulary import CANONICAL_UNITS, CLINICAL_LABELS, TEST_UNITS
from iluminet.units import DAYS_PER_MONTH, DAYS_PER_YEAR

__all__ = [
    "HAEMATOLOGICAL_MALIGNANCIES",
    "LAB_TERMS",
    "PAPER_RENAL",
    "PAPER_TABLE2",
    "TABLE2_GROUPS",
    "SafetyParameters",
    "SafetyResults",
    "assign_periods",
    "grade_labs",
    "patient_periods",
    "safety_analysis",
    "table2",
    "table2_by_creatinine_criterion",
    "validate_labs",
    "write_safety_outputs",
]

#: CTCAE term of each lab test.
LAB_TERMS: Mapping[str, str] = {
    "hemoglobin": "anemia",
    "platelets": "platelet_count_decreased",
    "neutrophils": "neutrophil_count_decreased",
    "wbc": "white_blood_cell_decreased",
    "lymphocytes": "lymphocyte_count_decreased",
    "alt": "alt_increased",
    "ast": "ast_increased",
    "bilirubin": "blood_bilirubin_increased",
    "alp": "alkaline_phosphatase_increased",
    "creatinine": "creatinine_increased",
    "egfr": "chronic_kidney_disease",
    "measured_gfr": "chronic_kidney_disease",
}

#: Table 2 rows of laboratory AEs: row key → (label, CTCAE terms counted together).
TABLE2_GROUPS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "thrombocytopenia": ("Thrombocytopenia", ("platelet_count_decreased",)),
    "anemia": ("Anemia", ("anemia",)),
    "leukopenia": ("Leukopenia", ("white_blood_cell_decreased",)),
    "neutropenia": ("Neutropenia", ("neutrophil_count_decreased",)),
    "liver_enzyme_increase": ("Liver enzyme increase", ("alt_increased", "ast_increased")),
    "lymphopenia": ("Lymphopenia", ("lymphocyte_count_decreased",)),
    "bilirubin_increase": ("Blood bilirubin increased", ("blood_bilirubin_increased",)),
    "alp_increase": ("Alkaline phosphatase increased", ("alkaline_phosphatase_increased",)),
    "creatinine_increased": ("Creatinine increased", ("creatinine_increased",)),
    "chronic_kidney_disease": ("Chronic kidney disease", ("chronic_kidney_disease",)),
}
_GROUP_OF_TERM = {t: g for g, (_, terms) in TABLE2_GROUPS.items() for t in terms}
_HAEM = ("thrombocytopenia", "neutropenia", "anemia", "leukopenia")

#: Clinical terms listed as late haematological malignancies, not in Table 2.
HAEMATOLOGICAL_MALIGNANCIES: tuple[str, ...] = (
    "acute_myeloid_leukemia", "myelodysplastic_syndrome", "leukemia_secondary_to_oncology_therapy",
)

#: ILUMINET Table 2: period, category, row key, patients with any grade, with grade 3–4 (of 96).
PAPER_TABLE2: pd.DataFrame = pd.DataFrame(
    [
        ("early", "clinical", t, a, b) for t, (a, b) in {
            "fatigue": (60, 1), "nausea_vomiting": (48, 1), "pain": (21, 1), "diarrhea": (19, 0),
            "abdominal_pain": (18, 1), "flushing": (7, 0), "alopecia": (6, 0),
            "constipation": (5, 0), "depression": (5, 0), "infection": (5, 1), "ileus": (2, 1),
            "thromboembolic_event": (2, 2), "weight_loss": (2, 1),
            "biliary_tract_infection": (1, 1), "dehydration": (1, 1)}.items()
    ] + [
        ("early", "laboratory", t, a, b) for t, (a, b) in {
            "thrombocytopenia": (58, 9), "anemia": (51, 1), "leukopenia": (32, 4),
            "neutropenia": (28, 6), "liver_enzyme_increase": (6, 1)}.items()
    ] + [
        ("late", "clinical", "fatigue", 9, 0), ("late", "clinical", "thromboembolic_event", 1, 1),
    ] + [
        ("late", "laboratory", t, a, b) for t, (a, b) in {
            "anemia": (20, 0), "thrombocytopenia": (10, 0), "neutropenia": (9, 1),
            "leukopenia": (8, 1)}.items()
    ],
    columns=["period", "category", "term", "paper_n_all", "paper_n_grade3_4"],
)
PAPER_N_TREATED = 96

#: Renal figures of the ILUMINET report (percent).
PAPER_RENAL: Mapping[str, float] = {
    "gfr_over_60_baseline_pct": 82.0, "gfr_over_60_after_pct": 59.0,
    "gfr_30_60_baseline_pct": 18.0, "gfr_30_60_after_pct": 39.0,
    "gfr_after_n": 71, "gfr_after_median_months": 29.0,
    "creatinine_grade1_baseline_pct": 17.0, "creatinine_grade1_36m_pct": 47.0,
}



@dataclass(frozen=True)
class SafetyParameters:
    """Analysis choices of :func:`safety_analysis` (see the module notes).

    Attributes
    ----------
    early_end_days
        The early period ends this many days after the last step-1 cycle (91 ≈ 3 months).
    late_centres_days, late_half_width_days
        Late windows: centre ± half-width, in days after the last cycle.
    counting
        Primary Table 2: ``"any"`` grade during the period or ``"worsening"`` from baseline.
    creatinine_criterion
        ``"uln"`` (default, the paper's reading) or ``"uln_and_baseline"`` (CTCAE: also any rise
        above the patient's baseline) for the creatinine grade.
    include_unlisted_terms
        Append lab terms that are not rows of the paper's Table 2.
    screening_window_days
        Labs may precede inclusion by this many days (screening); earlier is an error.
    renal_years
        Years of follow-up (from inclusion) of the creatinine-grade table; 0 = baseline.
    renal_window_days
        A yearly value is the one nearest to inclusion + year within this many days.
    gfr_test
        Test used for GFR categories and trajectories: ``"measured_gfr"`` or ``"egfr"``.
    bed_group_edges_gy
        Delivered-BED groups: below the first edge, between both (inclusive), above the second.
    termination_window_days
        Haematological pattern of a toxicity termination: worst grades from the first cycle to
        this many days after the last cycle.
    site_ae_terms
        The site's clinical adverse-event terms beyond the vocabulary
        (:data:`iluminet.trial.preflight.CLINICAL_AE_TERMS`), each with its Table 2 label
        (``params/safety.yaml``; :func:`iluminet.trial.preflight.clinical_vocabulary`).
    """

    early_end_days: int = 91
    late_centres_days: tuple[int, ...] = (182, 365)
    late_half_width_days: int = 45
    counting: Counting = "any"
    creatinine_criterion: CreatinineCriterion = "uln"
    include_unlisted_terms: bool = True
    screening_window_days: int = SCREENING_WINDOW_DAYS
    renal_years: tuple[int, ...] = (0, 1, 2, 3)
    renal_window_days: int = 45
    gfr_test: GfrTest = "measured_gfr"
    bed_group_edges_gy: tuple[float, float] = BED_EDGES_GY
    termination_window_days: int = 91
    site_ae_terms: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # the rules live in the typed configuration (params/safety.yaml is validated by them)
        try:
            SafetyConfig.model_validate(self.to_dict())
        except ValidationError as exc:
            raise validation_error(exc, "safety parameters", root=SafetyConfig) from None

    @classmethod
    def from_config(cls, config: SafetyConfig) -> SafetyParameters:
        """Parameters from the typed ``safety`` section
        (:func:`iluminet.config.params.load_config`)."""
        return cls.from_overrides(config.model_dump())

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None) -> SafetyParameters:
        """Defaults with the given fields replaced; an unknown key is an :class:`InputError`."""
        overrides = dict(overrides or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InputError(f"unknown parameter(s) {unknown}; expected some of {sorted(known)}",
                             source="safety parameters", field=unknown[0])
        for name in ("late_centres_days", "renal_years", "bed_group_edges_gy"):
            if name in overrides:
                overrides[name] = tuple(overrides[name])
        return replace(cls(), **overrides)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["site_ae_terms"] = dict(self.site_ae_terms)
        return out


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------


def _require(df: pd.DataFrame, columns: Iterable[str], table: str) -> None:
    for col in columns:
        if col not in df.columns:
            raise InputError(f"missing column {col!r} (columns: {list(df.columns)})",
                             source=table, field=col)


def _dates(series: pd.Series, *, table: str, column: str, nullable: bool = False) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        out = series
    else:
        out = pd.to_datetime(series.where(series.astype(str).str.strip() != ""), errors="coerce",
                             format="mixed" if series.dtype == object else None)
    bad = out.isna() & (series.notna() & (series.astype(str).str.strip() != ""))
    if not nullable:
        bad |= out.isna()
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise InputError(f"row {i + 1}: expected an ISO 8601 date (YYYY-MM-DD), got "
                         f"{series.iloc[i]!r}", source=table, field=column)
    return out.dt.normalize().astype("datetime64[ns]")


def _bools(series: pd.Series) -> pd.Series:
    if series.dtype == object:
        return series.map(lambda x: str(x).strip().lower() in ("true", "1", "yes"))
    return series.fillna(False).astype(bool)


def _numbers(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def _treated(patients: pd.DataFrame) -> pd.DataFrame:
    _require(patients, ("patient_id", "inclusion_date", "treated"), "patients")
    pts = patients.copy()
    pts["patient_id"] = pts["patient_id"].astype(str)
    pts["inclusion_date"] = _dates(pts["inclusion_date"], table="patients",
                                   column="inclusion_date")
    pts["treated"] = _bools(pts["treated"])
    return pts.set_index("patient_id", drop=False)


def validate_labs(labs: pd.DataFrame, patients: pd.DataFrame, *,
                  screening_window_days: int = SCREENING_WINDOW_DAYS,
                  source: str = "labs") -> pd.DataFrame:
    """A typed copy of ``labs`` with ``value_canonical`` (and ``unit_canonical``) added.

    Checks every row: known patient, a date not before inclusion − ``screening_window_days``,
    a known test, a numeric non-negative value, a unit of that test, numeric LLN/ULN.

    Raises
    ------
    InputError
        Naming ``source``, the 1-based data row and the column of the first defect.
    """
    _require(labs, ("patient_id", "date", "test", "value", "unit", "lln", "uln"), source)
    pts = _treated(patients)
    out = labs.reset_index(drop=True).copy()
    out["patient_id"] = out["patient_id"].astype(str)
    unknown = ~out["patient_id"].isin(pts.index)
    if unknown.any():
        i = int(np.argmax(unknown.to_numpy()))
        raise InputError(f"row {i + 1}: patient {out.at[i, 'patient_id']!r} is not in the "
                         "patients table", source=source, field="patient_id")
    out["date"] = _dates(out["date"], table=source, column="date")
    start = out["patient_id"].map(pts["inclusion_date"]) - pd.Timedelta(days=screening_window_days)
    early = out["date"] < start
    if early.any():
        i = int(np.argmax(early.to_numpy()))
        incl = as_timestamp(pts.at[out.at[i, "patient_id"], "inclusion_date"])
        allowed = (f" (screening window {screening_window_days} days)"
                   if screening_window_days else "")
        raise InputError(f"row {i + 1}: date {as_timestamp(out.at[i, 'date']).date()} "
                         f"before inclusion "
                         f"{incl.date()}{allowed} of patient {out.at[i, 'patient_id']!r}",
                         source=source, field="date")
    tests = out["test"].astype(str).str.strip().str.lower()
    bad_test = ~tests.isin(list(TEST_UNITS))
    if bad_test.any():
        i = int(np.argmax(bad_test.to_numpy()))
        raise InputError(f"row {i + 1}: unknown test {out.at[i, 'test']!r}; expected one of "
                         f"{', '.join(TEST_UNITS)}", source=source, field="test")
    out["test"] = tests
    for col, nullable, positive in (("value", False, False), ("lln", True, True),
                                    ("uln", True, True)):
        raw = out[col]
        num = _numbers(raw)
        missing_raw = raw.isna() | (raw.astype(str).str.strip() == "")
        bad = (num.isna() & ~missing_raw) | (~nullable & missing_raw)
        with np.errstate(invalid="ignore"):
            bad |= num.notna() & (~np.isfinite(num) | (num < 0) | (positive & (num == 0)))
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            what = "a positive number" if positive else "a non-negative number"
            raise InputError(f"row {i + 1}: expected {what}"
                             f"{' or an empty cell' if nullable else ''}, got {raw.iloc[i]!r}",
                             source=source, field=col)
        out[col] = num.astype(float)
    # the unit factor of each distinct (test, unit) pair, then mapped onto the rows: a table has
    # a handful of pairs and millions of rows
    test_codes, test_names = pd.factorize(out["test"])
    unit_codes, unit_values = pd.factorize(out["unit"].astype(object))  # missing: code -1
    pairs, pair_codes = np.unique(test_codes * (len(unit_values) + 1) + unit_codes + 1,
                                  return_inverse=True)
    pair_factors = np.full(len(pairs), np.nan)
    for k, pair in enumerate(pairs):
        test = test_names[pair // (len(unit_values) + 1)]
        u = pair % (len(unit_values) + 1) - 1
        unit = unit_values[u] if u >= 0 else None
        key = ctcae.normalise_unit(unit) if isinstance(unit, str) else None
        factor = TEST_UNITS[test].get(key) if key else None
        if factor is not None:
            pair_factors[k] = factor
    unknown_unit = np.isnan(pair_factors)[pair_codes] if len(out) else np.zeros(0, dtype=bool)
    if unknown_unit.any():
        i = int(np.argmax(unknown_unit))  # the first such row in table order
        test, unit = as_str(out.at[i, "test"]), out.at[i, "unit"]
        raise InputError(f"row {i + 1}: unknown unit {unit!r} for test {test!r}; expected "
                         f"one of {', '.join(sorted(TEST_UNITS[test]))}",
                         source=source, field="unit")
    factors = pair_factors[pair_codes] if len(out) else np.empty(0)
    out["unit_factor"] = factors
    out["value_canonical"] = out["value"] * factors
    out["unit_canonical"] = out["test"].map(CANONICAL_UNITS)
    return out


# --------------------------------------------------------------------------------------------
# Periods
# --------------------------------------------------------------------------------------------


def patient_periods(cycles: pd.DataFrame, events: pd.DataFrame | None = None,
                    parameters: SafetyParameters | None = None) -> pd.DataFrame:
    """Per treated patient: first cycle, last step-1 and last cycle, early and late windows.

    Returns
    -------
    DataFrame indexed by ``patient_id`` with ``first_cycle``, ``last_step1_cycle``,
    ``last_cycle``, ``n_cycles``, ``delivered_bed_gy``, ``early_start``, ``early_end`` and
    ``late{k}_start``/``late{k}_end`` per late window (k = 1, 2, ...), and, when ``events`` is
    given, ``treatment_end_reason``, ``step1_completed``, ``last_followup``, ``death_date``.
    """
    p = parameters or SafetyParameters()
    _require(cycles, ("patient_id", "administration_date"), "cycles")
    cyc = cycles.copy()
    cyc["patient_id"] = cyc["patient_id"].astype(str)
    cyc["administration_date"] = _dates(cyc["administration_date"], table="cycles",
                                        column="administration_date")
    step = _numbers(cyc["step"]) if "step" in cyc else pd.Series(1, index=cyc.index)
    bed = _numbers(cyc["kidney_bed_gy"]) if "kidney_bed_gy" in cyc else pd.Series(
        np.nan, index=cyc.index)
    cyc = cyc.assign(_step=step.fillna(1), _bed=bed)
    g = cyc.groupby("patient_id")
    out = pd.DataFrame(
        {
            "first_cycle": g["administration_date"].min(),
            "last_cycle": g["administration_date"].max(),
            "last_step1_cycle": cyc[cyc["_step"] == 1]
            .groupby("patient_id")["administration_date"]
            .max(),
            "n_cycles": g.size(),
            "n_step2_cycles": (cyc["_step"] == 2).groupby(cyc["patient_id"]).sum(),
            "delivered_bed_gy": g["_bed"].sum(min_count=1),
        }
    )
    out["last_step1_cycle"] = out["last_step1_cycle"].fillna(out["last_cycle"])
    out["early_start"] = out["first_cycle"]
    out["early_end"] = out["last_step1_cycle"] + pd.Timedelta(days=p.early_end_days)
    for k, centre in enumerate(p.late_centres_days, start=1):
        out[f"late{k}_start"] = out["last_cycle"] + pd.Timedelta(
            days=centre - p.late_half_width_days
        )
        out[f"late{k}_end"] = out["last_cycle"] + pd.Timedelta(days=centre + p.late_half_width_days)
    if events is not None:
        _require(events, ("patient_id", "treatment_end_reason", "last_followup_date"), "events")
        ev = events.copy()
        ev["patient_id"] = ev["patient_id"].astype(str)
        ev = ev.set_index("patient_id")
        out["treatment_end_reason"] = ev["treatment_end_reason"].reindex(out.index)
        out["step1_completed"] = (_bools(ev["step1_completed"]).reindex(out.index)
                                  if "step1_completed" in ev else np.nan)
        out["last_followup"] = _dates(ev["last_followup_date"], table="events",
                                      column="last_followup_date").reindex(out.index)
        out["death_date"] = (_dates(ev["death_date"], table="events", column="death_date",
                                    nullable=True).reindex(out.index)
                             if "death_date" in ev else pd.NaT)
    out.index.name = "patient_id"
    return out


def assign_periods(patient_ids: pd.Series, dates: pd.Series, periods: pd.DataFrame,
                   parameters: SafetyParameters | None = None) -> pd.DataFrame:
    """Period (``"early"``, ``"late"`` or ``None``) and late window (``"late_6m"`` ...) per row.

    Windows are inclusive at both ends (see the module notes); early wins if they overlap.
    """
    p = parameters or SafetyParameters()
    per = periods.reindex(patient_ids.astype(str).to_numpy())
    d = pd.to_datetime(dates).to_numpy()
    early = (d >= per["early_start"].to_numpy()) & (d <= per["early_end"].to_numpy())
    period = np.full(len(d), None, dtype=object)
    period[early] = "early"
    window = np.full(len(d), None, dtype=object)
    for k, centre in enumerate(p.late_centres_days, start=1):
        inside = (d >= per[f"late{k}_start"].to_numpy()) & (d <= per[f"late{k}_end"].to_numpy())
        inside &= ~early
        period[inside] = "late"
        window[inside & pd.isna(window)] = f"late_{round(centre / DAYS_PER_MONTH)}m"
    return pd.DataFrame({"period": period, "late_window": window}, index=patient_ids.index)


# --------------------------------------------------------------------------------------------
# Grading
# --------------------------------------------------------------------------------------------


def _baseline_creatinine(valid: pd.DataFrame, pts: pd.DataFrame,
                         periods: pd.DataFrame) -> pd.Series:
    """Baseline creatinine (µmol/L) per patient: the patients table, else the latest pre-dose
    lab."""
    col = (_numbers(pts["baseline_creatinine_umol_l"]) if "baseline_creatinine_umol_l" in pts
           else pd.Series(np.nan, index=pts.index))
    cr = valid[valid["test"] == "creatinine"]
    first = cr["patient_id"].map(periods["first_cycle"])
    pre = (
        cr[cr["date"] <= first].sort_values("date").groupby("patient_id")["value_canonical"].last()
    )
    return col.where(col.notna() & (col > 0), pre.reindex(col.index))


def grade_labs(labs: pd.DataFrame, patients: pd.DataFrame, cycles: pd.DataFrame,
               parameters: SafetyParameters | None = None, *, source: str = "labs",
               periods: pd.DataFrame | None = None) -> pd.DataFrame:
    """Validate and grade every lab row; add period, baseline flag and baseline grade.

    Returns
    -------
    DataFrame
        The validated rows (see :func:`validate_labs`) with ``term`` (CTCAE), ``group`` (Table 2
        row), ``grade`` (Int64, ``<NA>`` unknown; by ``creatinine_criterion``), ``grade_uln``
        (creatinine on the ULN alone), ``grade_uln_and_baseline`` (the CTCAE two-criterion grade),
        ``is_baseline`` (the patient's latest pre-treatment row of the test), ``baseline_grade``
        (the worst baseline grade of the patient's Table 2 row, 0 if unknown), ``period`` and
        ``late_window``.
    """
    p = parameters or SafetyParameters()
    pts = _treated(patients)
    per = periods if periods is not None else patient_periods(cycles, None, p)
    valid = validate_labs(labs, patients, screening_window_days=p.screening_window_days,
                          source=source)
    valid["term"] = valid["test"].map(LAB_TERMS)
    valid["group"] = valid["term"].map(_GROUP_OF_TERM)
    base_cr = _baseline_creatinine(valid, pts, per)
    # Baseline creatinine in the unit of the row (the grade compares like with like).
    valid["baseline"] = np.where(valid["test"] == "creatinine",
                                 valid["patient_id"].map(base_cr) / valid["unit_factor"], np.nan)
    graded_uln = ctcae.grade_table(valid, term_col="term", baseline_col=None, source=source)
    valid["grade_uln"] = graded_uln
    valid["grade_uln_and_baseline"] = ctcae.grade_table(valid, term_col="term",
                                                        baseline_col="baseline", source=source)
    valid["grade"] = (valid["grade_uln_and_baseline"]
                      if p.creatinine_criterion == "uln_and_baseline" else graded_uln)
    first = valid["patient_id"].map(per["first_cycle"])
    pre = valid["date"] <= first
    latest_pre = valid[pre].groupby(["patient_id", "test"])["date"].transform("max")
    valid["is_baseline"] = False
    valid.loc[latest_pre.index, "is_baseline"] = valid.loc[latest_pre.index, "date"] == latest_pre
    base = (valid[valid["is_baseline"]].groupby(["patient_id", "group"])["grade"].max()
            .astype("float"))
    key = pd.MultiIndex.from_arrays([valid["patient_id"], valid["group"]])
    valid["baseline_grade"] = base.reindex(key).fillna(0).astype(int).to_numpy()
    treated_rows = valid["patient_id"].isin(per.index)
    periods_df = assign_periods(valid.loc[treated_rows, "patient_id"],
                                valid.loc[treated_rows, "date"], per, p)
    valid["period"] = periods_df["period"].reindex(valid.index)
    valid["late_window"] = periods_df["late_window"].reindex(valid.index)
    return valid


def _clinical_rows(adverse_events: pd.DataFrame, periods: pd.DataFrame,
                   p: SafetyParameters, source: str = "adverse_events") -> pd.DataFrame:
    _require(adverse_events, ("patient_id", "onset_date", "term", "grade"), source)
    ae = adverse_events.reset_index(drop=True).copy()
    ae["patient_id"] = ae["patient_id"].astype(str)
    ae["onset_date"] = _dates(ae["onset_date"], table=source, column="onset_date")
    grade = _numbers(ae["grade"])
    bad = grade.isna() | ~grade.isin([1, 2, 3, 4, 5])
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise InputError(f"row {i + 1}: expected a CTCAE grade 1–5, got {ae.at[i, 'grade']!r}",
                         source=source, field="grade")
    ae["grade"] = grade.astype(int)
    ae["term"] = ae["term"].astype(str).str.strip().str.lower()
    ae = ae[ae["patient_id"].isin(periods.index)]
    per = assign_periods(ae["patient_id"], ae["onset_date"], periods, p)
    return ae.assign(period=per["period"], late_window=per["late_window"])


# --------------------------------------------------------------------------------------------
# Table 2
# --------------------------------------------------------------------------------------------


def _label(term: str, category: str, site_labels: Mapping[str, str] | None = None) -> str:
    if category == "laboratory" and term in TABLE2_GROUPS:
        return TABLE2_GROUPS[term][0]
    if term in CLINICAL_LABELS:
        return CLINICAL_LABELS[term]
    if site_labels and term in site_labels:
        return site_labels[term]
    return term.replace("_", " ").capitalize()


def table2(graded_labs: pd.DataFrame, clinical: pd.DataFrame, n_treated: int, *,
           counting: Counting = "any", include_unlisted_terms: bool = True,
           site_labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Table 2: patients by worst grade per period, category and term.

    Parameters
    ----------
    graded_labs
        From :func:`grade_labs`.
    clinical
        Clinical AEs with ``period`` (from the analysis); haematological malignancies excluded.
    n_treated
        Denominator (treated patients).
    counting
        ``"any"`` grade during the period or ``"worsening"`` from the baseline grade.
    site_labels
        Labels of the site's own clinical terms (``SafetyParameters.site_ae_terms``).

    Returns
    -------
    DataFrame with ``period, category, term, label, n_all, pct_all, n_grade3_4, pct_grade3_4,
    n_grade5, n_treated, counting, in_paper``, sorted as the paper (period, clinical before
    laboratory, then by descending ``n_all`` and label).
    """
    labs = graded_labs[graded_labs["period"].notna() & graded_labs["grade"].notna()]
    if not include_unlisted_terms:
        listed = set(PAPER_TABLE2.loc[PAPER_TABLE2["category"] == "laboratory", "term"])
        labs = labs[labs["group"].isin(listed)]
    lab_worst = (labs.groupby(["period", "group", "patient_id"])
                 .agg(worst=("grade", "max"), baseline=("baseline_grade", "max")).reset_index()
                 .rename(columns={"group": "term"}).assign(category="laboratory"))
    cl = clinical[clinical["period"].notna()]
    cl_worst = (cl.groupby(["period", "term", "patient_id"]).agg(worst=("grade", "max"))
                .reset_index().assign(baseline=0, category="clinical"))
    worst = pd.concat([cl_worst, lab_worst], ignore_index=True)
    worst["worst"] = worst["worst"].astype(int)
    worst["baseline"] = worst["baseline"].astype(int)
    if counting == "worsening":
        worst = worst[worst["worst"] > worst["baseline"]]
    g = worst.groupby(["period", "category", "term"])
    out = pd.DataFrame({
        "n_all": g["worst"].apply(lambda w: int((w >= 1).sum())),
        "n_grade3_4": g["worst"].apply(lambda w: int(w.isin([3, 4]).sum())),
        "n_grade5": g["worst"].apply(lambda w: int((w == 5).sum())),
    }).reset_index()
    out = out[out["n_all"] > 0]
    out["label"] = [_label(t, c, site_labels) for t, c in zip(out["term"], out["category"])]
    out["pct_all"] = 100.0 * out["n_all"] / n_treated
    out["pct_grade3_4"] = 100.0 * out["n_grade3_4"] / n_treated
    out["n_treated"] = n_treated
    out["counting"] = counting
    paper_keys = set(zip(PAPER_TABLE2["category"], PAPER_TABLE2["term"]))
    out["in_paper"] = [(c, t) in paper_keys for c, t in zip(out["category"], out["term"])]
    out["_p"] = out["period"].map({"early": 0, "late": 1})
    out["_c"] = out["category"].map({"clinical": 0, "laboratory": 1})
    out = out.sort_values(["_p", "_c", "n_all", "label"], ascending=[True, True, False, True])
    cols = ["period", "category", "term", "label", "n_all", "pct_all", "n_grade3_4",
            "pct_grade3_4", "n_grade5", "n_treated", "counting", "in_paper"]
    return out[cols].reset_index(drop=True)


#: The creatinine criteria of :func:`table2_by_creatinine_criterion`, with their grade columns.
CREATININE_CRITERIA: dict[str, str] = {"uln": "grade_uln",
                                       "uln_and_baseline": "grade_uln_and_baseline"}


def _regraded(graded_labs: pd.DataFrame, criterion: str) -> pd.DataFrame:
    """``graded_labs`` with ``grade`` and ``baseline_grade`` as under ``criterion``."""
    g = graded_labs.copy()
    g["grade"] = g[CREATININE_CRITERIA[criterion]]
    base = (g[g["is_baseline"]].groupby(["patient_id", "group"])["grade"].max().astype("float"))
    key = pd.MultiIndex.from_arrays([g["patient_id"], g["group"]])
    g["baseline_grade"] = base.reindex(key).fillna(0).astype(int).to_numpy()
    return g


def table2_by_creatinine_criterion(graded_labs: pd.DataFrame, clinical: pd.DataFrame,
                                   n_treated: int, *, counting: Counting = "any",
                                   include_unlisted_terms: bool = True,
                                   site_labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Table 2 with creatinine graded by the ULN alone (the paper's reading) and by the CTCAE
    two-criterion rule (ULN or the patient's baseline), side by side.

    Each criterion's table is :func:`table2` of the same rows with ``grade`` (and, for
    ``counting="worsening"``, the baseline grade) taken from ``grade_uln`` /
    ``grade_uln_and_baseline``. A row absent under one criterion counts 0 there.

    Returns
    -------
    DataFrame with ``period, category, term, label``, then ``n_all_<c>``, ``pct_all_<c>``,
    ``n_grade3_4_<c>`` for ``c`` in ``uln`` and ``uln_and_baseline``, ``n_treated``,
    ``counting`` and ``differs`` (the two criteria give different counts), in the order of the
    ULN table (rows only the baseline criterion has appended).
    """
    keys = ["period", "category", "term", "label"]
    parts = {}
    for criterion in CREATININE_CRITERIA:
        t = table2(_regraded(graded_labs, criterion), clinical, n_treated, counting=counting,
                   include_unlisted_terms=include_unlisted_terms, site_labels=site_labels)
        parts[criterion] = t[[*keys, "n_all", "pct_all", "n_grade3_4"]].rename(
            columns={c: f"{c}_{criterion}" for c in ("n_all", "pct_all", "n_grade3_4")})
    uln, base = parts["uln"], parts["uln_and_baseline"]
    only_base = base.merge(uln[keys], on=keys, how="left", indicator=True)
    only_base = only_base[only_base["_merge"] == "left_only"].drop(columns="_merge")
    out = pd.concat([uln.merge(base, on=keys, how="left"), only_base], ignore_index=True)
    for criterion in CREATININE_CRITERIA:
        for c in ("n_all", "n_grade3_4"):
            out[f"{c}_{criterion}"] = out[f"{c}_{criterion}"].fillna(0).astype(int)
        out[f"pct_all_{criterion}"] = 100.0 * out[f"n_all_{criterion}"] / n_treated \
            if n_treated else math.nan
    out["n_treated"] = n_treated
    out["counting"] = counting
    out["differs"] = ((out["n_all_uln"] != out["n_all_uln_and_baseline"])
                      | (out["n_grade3_4_uln"] != out["n_grade3_4_uln_and_baseline"]))
    cols = [*keys]
    for criterion in CREATININE_CRITERIA:
        cols += [f"n_all_{criterion}", f"pct_all_{criterion}", f"n_grade3_4_{criterion}"]
    return out[[*cols, "n_treated", "counting", "differs"]].reset_index(drop=True)


def paper_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's Table 2 rows beside this run's counts (``run_*``; 0 when absent)."""
    run = table.set_index(["period", "category", "term"])[["n_all", "n_grade3_4"]]
    out = PAPER_TABLE2.copy()
    key = pd.MultiIndex.from_frame(out[["period", "category", "term"]])
    out["run_n_all"] = run["n_all"].reindex(key).fillna(0).astype(int).to_numpy()
    out["run_n_grade3_4"] = run["n_grade3_4"].reindex(key).fillna(0).astype(int).to_numpy()
    n = int(table["n_treated"].iloc[0]) if len(table) else PAPER_N_TREATED
    out["paper_pct_all"] = 100.0 * out["paper_n_all"] / PAPER_N_TREATED
    out["run_pct_all"] = 100.0 * out["run_n_all"] / n
    out["paper_pct_grade3_4"] = 100.0 * out["paper_n_grade3_4"] / PAPER_N_TREATED
    out["run_pct_grade3_4"] = 100.0 * out["run_n_grade3_4"] / n
    out.insert(3, "label", [_label(t, c) for t, c in zip(out["term"], out["category"])])
    return out


# --------------------------------------------------------------------------------------------
# Terminations, renal function, step 2, malignancies
# --------------------------------------------------------------------------------------------


def _worst_haem(graded: pd.DataFrame, pids: Sequence[str], start: pd.Series,
                end: pd.Series) -> pd.DataFrame:
    rows = graded[graded["patient_id"].isin(pids) & graded["group"].isin(_HAEM)
                  & graded["grade"].notna()]
    inside = (rows["date"] >= rows["patient_id"].map(start)) & (
        rows["date"] <= rows["patient_id"].map(end))
    w = rows[inside].groupby(["patient_id", "group"])["grade"].max().unstack("group")
    w = w.reindex(index=list(pids), columns=list(_HAEM)).fillna(0).astype(int)
    return w


def _termination_pattern(r: pd.Series) -> str:
    if r["thrombocytopenia"] >= 1 and (r["neutropenia"] >= 2 or r["anemia"] >= 1):
        return "thrombocytopenia with neutropenia or anemia"
    if r["neutropenia"] >= 2 and r[["thrombocytopenia", "anemia"]].max() == 0:
        return "neutropenia only"
    if r[list(_HAEM)].max() >= 2:
        return "other haematological (grade ≥ 2)"
    return "no haematological toxicity ≥ grade 2"


def toxicity_terminations(graded: pd.DataFrame, periods: pd.DataFrame, patients: pd.DataFrame,
                          p: SafetyParameters) -> pd.DataFrame:
    """Patients whose treatment ended for toxicity, with their haematological pattern.

    Worst grades of thrombocytopenia, neutropenia, anemia and leukopenia from the first cycle to
    ``termination_window_days`` after the last cycle; the pattern is the paper's: thrombocytopenia
    (grade ≥ 1) with neutropenia (≥ 2) or anemia (≥ 1); neutropenia only; other haematological
    (any of them ≥ 2); none.
    """
    tox = periods[periods.get("treatment_end_reason", pd.Series(dtype=object)) == "toxicity"]
    pids = list(tox.index)
    end = tox["last_cycle"] + pd.Timedelta(days=p.termination_window_days)
    w = _worst_haem(graded, pids, tox["first_cycle"], end)
    pts = _treated(patients)
    out = pd.DataFrame({
        "patient_id": pids,
        "n_cycles": tox["n_cycles"].to_numpy(),
        "previous_chemotherapy": (_bools(pts["previous_chemotherapy"]).reindex(pids).to_numpy()
                                  if "previous_chemotherapy" in pts else np.nan),
    })
    for col in _HAEM:
        out[f"worst_{col}"] = w[col].to_numpy() if len(pids) else []
    out["pattern"] = [_termination_pattern(r) for _, r in w.iterrows()] if len(pids) else []
    return out


def _gfr_category(gfr: pd.Series) -> pd.Series:
    """'> 60' for ≥ 60 (CTCAE grade 0–1), '30–60' for 30 ≤ GFR < 60 (grade 2), '< 30'."""
    cat = np.select([gfr >= 60, gfr >= 30, gfr < 30], ["> 60", "30–60", "< 30"], default="")
    out = pd.Series(cat, index=gfr.index, dtype=object)
    out[gfr.isna().to_numpy()] = None
    return out


def _nearest(rows: pd.DataFrame, targets: pd.Series, window_days: int) -> pd.DataFrame:
    """Per patient, the row nearest to the target date within ± window_days (ties: earlier)."""
    r = rows.assign(_t=rows["patient_id"].map(targets))
    r = r[r["_t"].notna()]
    r = r.assign(_d=(r["date"] - r["_t"]).dt.days.abs())
    r = r[r["_d"] <= window_days].sort_values(["patient_id", "_d", "date"])
    return r.groupby("patient_id").head(1).set_index("patient_id")


def gfr_categories(graded: pd.DataFrame, periods: pd.DataFrame, patients: pd.DataFrame,
                   p: SafetyParameters) -> tuple[pd.DataFrame, dict[str, Any]]:
    """GFR category at baseline (patients table) and at the last GFR after treatment ended."""
    pts = _treated(patients)
    treated = periods.index
    col = (_numbers(pts["baseline_gfr_ml_min"]).reindex(treated)
           if "baseline_gfr_ml_min" in pts else pd.Series(np.nan, index=treated))
    g = graded[graded["test"] == p.gfr_test]
    pre = g[g["is_baseline"]].groupby("patient_id")["value_canonical"].last()
    baseline = col.where(col.notna(), pre.reindex(treated))
    after_rows = g[g["date"] > g["patient_id"].map(periods["last_cycle"])]
    last = after_rows.sort_values("date").groupby("patient_id").tail(1).set_index("patient_id")
    after = last["value_canonical"].reindex(treated)
    cats = ["> 60", "30–60", "< 30"]
    b, a = _gfr_category(baseline), _gfr_category(after)
    nb, na = int(baseline.notna().sum()), int(after.notna().sum())
    table = pd.DataFrame({
        "category": cats,
        "n_baseline": [int((b == c).sum()) for c in cats],
        "n_after": [int((a == c).sum()) for c in cats],
    })
    table["pct_baseline"] = 100.0 * table["n_baseline"] / max(nb, 1)
    table["pct_after"] = 100.0 * table["n_after"] / max(na, 1)
    incl = pts["inclusion_date"].reindex(last.index)
    months = (last["date"] - incl).dt.days / DAYS_PER_MONTH
    summary = {"n_baseline": nb, "n_after": na,
               "after_median_months_from_inclusion": float(months.median()) if na else math.nan}
    return table[["category", "n_baseline", "pct_baseline", "n_after", "pct_after"]], summary


def creatinine_by_year(graded: pd.DataFrame, periods: pd.DataFrame, patients: pd.DataFrame,
                       p: SafetyParameters) -> pd.DataFrame:
    """Creatinine grade at baseline and yearly (nearest value to inclusion + k years, ± window).

    ``grade_uln`` is the paper's reading (ULN only: 100–150 µmol/L is grade 1 with ULN 100);
    ``pct_grade_ge1_with_baseline`` uses the CTCAE two-criterion grade.
    """
    pts = _treated(patients)
    cr = graded[(graded["test"] == "creatinine") & graded["patient_id"].isin(periods.index)]
    rows = []
    for year in p.renal_years:
        if year == 0:
            pick = cr[cr["is_baseline"]].sort_values("date").groupby("patient_id").tail(1)
            pick = pick.set_index("patient_id")
        else:
            target = pts["inclusion_date"].reindex(periods.index) + pd.Timedelta(
                days=round(DAYS_PER_YEAR * year))
            pick = _nearest(cr, target, p.renal_window_days)
        gu = pick["grade_uln"].dropna().astype(int)
        gb = pick["grade_uln_and_baseline"].dropna().astype(int)
        n = len(gu)
        row: dict[str, Any] = {"year": year, "months": 12 * year, "n": n,
                               "median_creatinine_umol_l": float(pick["value_canonical"].median())
                               if len(pick) else math.nan}
        for k in range(5):
            row[f"n_grade{k}"] = int((gu == k).sum())
        row["pct_grade1"] = 100.0 * row["n_grade1"] / n if n else math.nan
        row["pct_grade_ge1"] = 100.0 * int((gu >= 1).sum()) / n if n else math.nan
        row["pct_grade_ge1_with_baseline"] = (100.0 * int((gb >= 1).sum()) / len(gb)
                                              if len(gb) else math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def gfr_trajectories(graded: pd.DataFrame, periods: pd.DataFrame, patients: pd.DataFrame,
                     p: SafetyParameters) -> tuple[pd.DataFrame, pd.DataFrame]:
    """GFR over follow-up by delivered-BED group.

    Returns
    -------
    (trajectories, by_group)
        ``trajectories``: per patient and year (0 = baseline, then nearest to inclusion + k
        years ± window) the GFR and its % change from baseline. ``by_group``: per BED group the
        number of patients, median delivered BED, median baseline GFR, median GFR and % change at
        each year, and the median per-patient eGFR slope (ml/min/1.73 m² per year; least squares
        over the eGFR values from the first cycle on, patients with ≥ 3 values over ≥ 180 days).
    """
    pts = _treated(patients)
    groups = bed_group(periods["delivered_bed_gy"], p.bed_group_edges_gy).astype(object)
    g = graded[(graded["test"] == p.gfr_test) & graded["patient_id"].isin(periods.index)]
    base = g[g["is_baseline"]].sort_values("date").groupby("patient_id")["value_canonical"].last()
    if "baseline_gfr_ml_min" in pts and p.gfr_test == "measured_gfr":
        col = _numbers(pts["baseline_gfr_ml_min"]).reindex(periods.index)
        base = col.where(col.notna(), base.reindex(periods.index))
    frames = [pd.DataFrame({"patient_id": base.index, "year": 0, "gfr": base.to_numpy()})]
    for year in [y for y in p.renal_years if y > 0]:
        target = pts["inclusion_date"].reindex(periods.index) + pd.Timedelta(
            days=round(DAYS_PER_YEAR * year)
        )
        pick = _nearest(g, target, p.renal_window_days)
        frames.append(pd.DataFrame({"patient_id": pick.index, "year": year,
                                    "gfr": pick["value_canonical"].to_numpy()}))
    traj = pd.concat(frames, ignore_index=True).dropna(subset=["gfr"])
    traj["bed_group"] = traj["patient_id"].map(groups)
    traj["relative_change_pct"] = 100.0 * (traj["gfr"] / traj["patient_id"].map(base) - 1.0)

    # eGFR slopes
    e = graded[(graded["test"] == "egfr") & graded["patient_id"].isin(periods.index)]
    e = e[e["date"] >= e["patient_id"].map(periods["first_cycle"])]
    slopes = {}
    # per patient by row positions (sub-tables per patient would dominate for large cohorts);
    # the same np.polyfit per patient, so the slopes are unchanged to the last digit
    all_years = ((e["date"] - e["patient_id"].map(periods["first_cycle"])).dt.days.to_numpy()
                 / 365.25)
    all_values = e["value_canonical"].to_numpy()
    for pid, idx in sorted(e.groupby("patient_id").indices.items()):
        years = all_years[idx]
        if len(idx) >= 3 and years.max() - years.min() >= 180 / 365.25:
            slopes[pid] = float(np.polyfit(years, all_values[idx], 1)[0])
    slope = pd.Series(slopes, dtype=float)

    order = [f"< {p.bed_group_edges_gy[0]:g} Gy",
             f"{p.bed_group_edges_gy[0]:g}–{p.bed_group_edges_gy[1]:g} Gy",
             f"> {p.bed_group_edges_gy[1]:g} Gy"]
    rows = []
    for name in order:
        members = groups[groups == name].index
        row: dict[str, Any] = {
            "bed_group": name, "n": len(members),
            "median_delivered_bed_gy": float(periods.loc[members, "delivered_bed_gy"].median())
            if len(members) else math.nan,
            "median_baseline_gfr": float(base.reindex(members).median()) if len(members)
            else math.nan,
        }
        t = traj[traj["patient_id"].isin(members)]
        for year in [y for y in p.renal_years if y > 0]:
            ty = t[t["year"] == year]
            row[f"n_year{year}"] = len(ty)
            row[f"median_gfr_year{year}"] = float(ty["gfr"].median()) if len(ty) else math.nan
            row[f"median_change_pct_year{year}"] = (float(ty["relative_change_pct"].median())
                                                    if len(ty) else math.nan)
        s = slope.reindex(members).dropna()
        row["n_slope"] = len(s)
        row["median_egfr_slope_per_year"] = float(s.median()) if len(s) else math.nan
        rows.append(row)
    return traj.reset_index(drop=True), pd.DataFrame(rows)


def step2_subgroup(graded: pd.DataFrame, clinical: pd.DataFrame, periods: pd.DataFrame,
                   patients: pd.DataFrame, p: SafetyParameters) -> tuple[pd.DataFrame,
                                                                          dict[str, Any]]:
    """Patients who received step-2 cycles: grade 3–4 AEs, GFR at baseline and last, follow-up.

    Grade 3–4 AEs are clinical AEs and the laboratory rows of the paper's Table 2 plus chronic
    kidney disease (lymphopenia is not a row of the paper). The summary is over the patients who
    *completed* step 2 (``treatment_end_reason ==
    "step2_completed"``), as the paper's seven; the table lists every patient with a step-2 cycle.
    Median follow-up from inclusion by the reverse Kaplan–Meier method (death = censoring).
    """
    from iluminet.trial.survival import median_follow_up

    pts = _treated(patients)
    sub = periods[periods["n_step2_cycles"] > 0]
    pids = list(sub.index)
    paper_lab_rows = PAPER_TABLE2.loc[PAPER_TABLE2["category"] == "laboratory", "term"]
    lab34 = graded[graded["grade"].isin([3, 4]) & graded["period"].notna()
                   & graded["group"].isin(set(paper_lab_rows) | {"chronic_kidney_disease"})]
    cl34 = clinical[clinical["grade"].isin([3, 4]) & clinical["period"].notna()]
    g = graded[graded["test"] == p.gfr_test]
    last = g.sort_values("date").groupby("patient_id").tail(1).set_index("patient_id")
    base = (_numbers(pts["baseline_gfr_ml_min"]) if "baseline_gfr_ml_min" in pts
            else pd.Series(np.nan, index=pts.index))
    table = pd.DataFrame(
        {
            "patient_id": pids,
            "completed_step2": (sub["treatment_end_reason"] == "step2_completed").to_numpy()
            if "treatment_end_reason" in sub
            else False,
            "n_cycles": sub["n_cycles"].to_numpy(),
            "delivered_bed_gy": sub["delivered_bed_gy"].to_numpy(),
            "early_grade3_4": [
                int(
                    ((lab34["patient_id"] == i) & (lab34["period"] == "early")).sum()
                    + ((cl34["patient_id"] == i) & (cl34["period"] == "early")).sum()
                    > 0
                )
                for i in pids
            ],
            "late_grade3_4": [
                int(
                    ((lab34["patient_id"] == i) & (lab34["period"] == "late")).sum()
                    + ((cl34["patient_id"] == i) & (cl34["period"] == "late")).sum()
                    > 0
                )
                for i in pids
            ],
            "baseline_gfr": base.reindex(pids).to_numpy(),
            "last_gfr": last["value_canonical"].reindex(pids).to_numpy(),
        }
    )
    table["baseline_category"] = _gfr_category(table["baseline_gfr"])
    table["last_category"] = _gfr_category(table["last_gfr"])
    done = table[table["completed_step2"]]
    summary: dict[str, Any] = {
        "n_entered_step2": len(table), "n_completed_step2": len(done),
        "n_grade3_4_early": int(done["early_grade3_4"].sum()),
        "n_grade3_4_late": int(done["late_grade3_4"].sum()),
        "n_baseline_gfr_over_60": int((done["baseline_category"] == "> 60").sum()),
        "n_last_gfr_over_60": int((done["last_category"] == "> 60").sum()),
        "n_last_gfr_30_60": int((done["last_category"] == "30–60").sum()),
        "median_follow_up_months": math.nan,
    }
    if len(done) and "last_followup" in periods:
        ids = done["patient_id"]
        months = ((periods.loc[ids, "last_followup"] - pts.loc[ids, "inclusion_date"].to_numpy())
                  .dt.days / DAYS_PER_MONTH)
        died = periods.loc[ids, "death_date"].notna().to_numpy()
        med = median_follow_up(months.to_numpy(), died.astype(int), source="step-2 subgroup")
        summary["median_follow_up_months"] = math.nan if med.median is None else med.median
    return table, summary


def haematological_malignancies(adverse_events: pd.DataFrame, periods: pd.DataFrame,
                                patients: pd.DataFrame) -> pd.DataFrame:
    """Late haematological malignancies with the patient's characteristics."""
    pts = _treated(patients)
    ae = adverse_events[adverse_events["term"].isin(HAEMATOLOGICAL_MALIGNANCIES)]
    out = pd.DataFrame({
        "patient_id": ae["patient_id"].to_numpy(),
        "term": ae["term"].to_numpy(),
        "onset_date": ae["onset_date"].to_numpy(),
    })
    first = out["patient_id"].map(periods["first_cycle"])
    out["years_after_first_cycle"] = (out["onset_date"] - first).dt.days / 365.25
    for col in ("age_years", "origin", "previous_chemotherapy", "previous_targeted_therapy"):
        out[col] = out["patient_id"].map(pts[col]) if col in pts else np.nan
    out["n_cycles"] = out["patient_id"].map(periods["n_cycles"])
    return out.sort_values("onset_date").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# The analysis
# --------------------------------------------------------------------------------------------


@dataclass
class SafetyResults:
    """Everything :func:`safety_analysis` computes (tables as DataFrames).

    Attributes
    ----------
    parameters
        The analysis choices used.
    n_treated
        Denominator of Table 2.
    periods
        Per treated patient: cycles, BED and period windows (:func:`patient_periods`).
    graded_labs
        Every lab row graded, with period (:func:`grade_labs`).
    clinical_events
        Clinical AEs with period.
    table2_any, table2_worsening
        Table 2 counted as any grade during the period / as worsening from baseline.
    paper_table2
        The paper's rows beside the primary table's.
    terminations
        Toxicity terminations and their haematological pattern.
    gfr_categories, gfr_summary
        GFR categories at baseline and after treatment, with counts.
    creatinine_by_year
        Creatinine grades at baseline and yearly.
    gfr_trajectories, gfr_by_bed_group
        GFR over follow-up per patient and summarised by delivered-BED group.
    step2, step2_summary
        The step-2 subgroup.
    malignancies
        Late haematological malignancies.
    renal_paper
        The paper's renal figures beside this run's.
    table2_creatinine_criteria
        The primary Table 2 with creatinine graded by the ULN alone and by ULN or baseline, side
        by side (:func:`table2_by_creatinine_criterion`).
    """

    parameters: SafetyParameters
    n_treated: int
    periods: pd.DataFrame
    graded_labs: pd.DataFrame
    clinical_events: pd.DataFrame
    table2_any: pd.DataFrame
    table2_worsening: pd.DataFrame
    paper_table2: pd.DataFrame
    terminations: pd.DataFrame
    gfr_categories: pd.DataFrame
    gfr_summary: dict[str, Any]
    creatinine_by_year: pd.DataFrame
    gfr_trajectories: pd.DataFrame
    gfr_by_bed_group: pd.DataFrame
    step2: pd.DataFrame
    step2_summary: dict[str, Any]
    malignancies: pd.DataFrame
    renal_paper: pd.DataFrame = field(default_factory=pd.DataFrame)
    table2_creatinine_criteria: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def table2(self) -> pd.DataFrame:
        """The primary Table 2 (``parameters.counting``)."""
        return self.table2_any if self.parameters.counting == "any" else self.table2_worsening

    def termination_patterns(self) -> pd.DataFrame:
        """Number of toxicity terminations per haematological pattern."""
        t = self.terminations
        return (t.groupby("pattern").size().rename("n").reset_index() if len(t)
                else pd.DataFrame({"pattern": [], "n": []}))

    def tables(self) -> dict[str, pd.DataFrame]:
        """The result tables written as CSV, by file stem."""
        return {
            "table2_any": self.table2_any, "table2_worsening": self.table2_worsening,
            "table2_paper_comparison": self.paper_table2,
            "toxicity_terminations": self.terminations,
            "gfr_categories": self.gfr_categories, "creatinine_by_year": self.creatinine_by_year,
            "gfr_by_bed_group": self.gfr_by_bed_group, "gfr_trajectories": self.gfr_trajectories,
            "step2_subgroup": self.step2, "haematological_malignancies": self.malignancies,
            "renal_paper_comparison": self.renal_paper,
            "table2_creatinine_criteria": self.table2_creatinine_criteria,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: parameters, counts and the small tables as records."""
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            out = df.copy()
            for c in out.columns:
                if pd.api.types.is_datetime64_any_dtype(out[c]):
                    out[c] = out[c].dt.strftime("%Y-%m-%d")
            out = out.astype(object).mask(out.isna(), cast(Any, None))
            return [{str(k): v for k, v in r.items()} for r in out.to_dict(orient="records")]

        return {
            "analysis": "safety",
            "parameters": self.parameters.to_dict(),
            "n_treated": self.n_treated,
            "counting_primary": self.parameters.counting,
            "table2_any": records(self.table2_any),
            "table2_worsening": records(self.table2_worsening),
            "table2_paper_comparison": records(self.paper_table2),
            "toxicity_terminations": records(self.terminations),
            "termination_patterns": records(self.termination_patterns()),
            "gfr_categories": records(self.gfr_categories),
            "gfr_summary": dict(self.gfr_summary),
            "creatinine_by_year": records(self.creatinine_by_year),
            "gfr_by_bed_group": records(self.gfr_by_bed_group),
            "step2_subgroup": records(self.step2),
            "step2_summary": dict(self.step2_summary),
            "haematological_malignancies": records(self.malignancies),
            "renal_paper_comparison": records(self.renal_paper),
            "table2_creatinine_criteria": records(self.table2_creatinine_criteria),
        }


def _renal_paper(gfr_cat: pd.DataFrame, gfr_summary: Mapping[str, Any],
                 creat: pd.DataFrame) -> pd.DataFrame:
    c = gfr_cat.set_index("category")
    by_year = creat.set_index("year")
    run = {
        "gfr_over_60_baseline_pct": c.at["> 60", "pct_baseline"],
        "gfr_over_60_after_pct": c.at["> 60", "pct_after"],
        "gfr_30_60_baseline_pct": c.at["30–60", "pct_baseline"],
        "gfr_30_60_after_pct": c.at["30–60", "pct_after"],
        "gfr_after_n": gfr_summary["n_after"],
        "gfr_after_median_months": gfr_summary["after_median_months_from_inclusion"],
        "creatinine_grade1_baseline_pct": by_year.at[0, "pct_grade1"] if 0 in by_year.index
        else math.nan,
        "creatinine_grade1_36m_pct": by_year.at[3, "pct_grade1"] if 3 in by_year.index
        else math.nan,
    }
    return pd.DataFrame({"figure": list(PAPER_RENAL), "paper": list(PAPER_RENAL.values()),
                         "run": [float(run[k]) for k in PAPER_RENAL]})


def safety_analysis(patients: pd.DataFrame, cycles: pd.DataFrame, events: pd.DataFrame,
                    labs: pd.DataFrame, adverse_events: pd.DataFrame, *,
                    parameters: SafetyParameters | None = None) -> SafetyResults:
    """The safety analysis of a cohort (see the module notes for every definition).

    Parameters
    ----------
    patients, cycles, events, labs, adverse_events
        Cohort tables (``data/README.md``); ``labs`` and ``adverse_events`` may be empty.
    parameters
        Analysis choices; defaults as in the module notes.

    Returns
    -------
    SafetyResults

    Raises
    ------
    InputError
        A defect in any table (named with row and column).
    """
    p = parameters or SafetyParameters()
    pts = _treated(patients)
    n_treated = int(pts["treated"].sum())
    periods = patient_periods(cycles, events, p)
    periods = periods[periods.index.isin(pts.index[pts["treated"]])]
    graded = grade_labs(labs, patients, cycles, p, periods=periods)
    clinical_all = _clinical_rows(adverse_events, periods, p)
    clinical = clinical_all[~clinical_all["term"].isin(HAEMATOLOGICAL_MALIGNANCIES)]
    labels = dict(p.site_ae_terms)
    t_any = table2(graded, clinical, n_treated, counting="any",
                   include_unlisted_terms=p.include_unlisted_terms, site_labels=labels)
    t_worse = table2(graded, clinical, n_treated, counting="worsening",
                     include_unlisted_terms=p.include_unlisted_terms, site_labels=labels)
    primary = t_any if p.counting == "any" else t_worse
    gfr_cat, gfr_sum = gfr_categories(graded, periods, patients, p)
    creat = creatinine_by_year(graded, periods, patients, p)
    traj, by_bed = gfr_trajectories(graded, periods, patients, p)
    s2, s2_sum = step2_subgroup(graded, clinical, periods, patients, p)
    return SafetyResults(
        parameters=p, n_treated=n_treated, periods=periods, graded_labs=graded,
        clinical_events=clinical_all, table2_any=t_any, table2_worsening=t_worse,
        paper_table2=paper_comparison(primary),
        terminations=toxicity_terminations(graded, periods, patients, p),
        gfr_categories=gfr_cat, gfr_summary=gfr_sum, creatinine_by_year=creat,
        gfr_trajectories=traj, gfr_by_bed_group=by_bed, step2=s2, step2_summary=s2_sum,
        malignancies=haematological_malignancies(clinical_all, periods, patients),
        renal_paper=_renal_paper(gfr_cat, gfr_sum, creat),
        table2_creatinine_criteria=table2_by_creatinine_criterion(
            graded, clinical, n_treated, counting=p.counting,
            include_unlisted_terms=p.include_unlisted_terms, site_labels=labels),
    )


def write_safety_outputs(results: SafetyResults, out_dir: str | Path, *,
                         input_files: Iterable[str | Path] = (),
                         root: str | Path | None = None) -> list[Path]:
    """Write ``safety.json`` (with provenance) and the tables as CSV, each atomically.

    Returns the written paths (JSON first).
    """
    out = Path(out_dir)
    content = results.to_dict()
    content["provenance"] = provenance(input_files, results.parameters.to_dict(), root)
    written = [write_json_atomic(out / "safety.json", content)]
    for stem, df in results.tables().items():
        written.append(write_text_atomic(out / f"safety_{stem}.csv",
                                         df.to_csv(index=False, float_format="%.6g")))
    return written
