"""Efficacy analysis of the ILUMINET trial: response rates, survival and time to maximum response.

Inputs are the cohort tables as pandas DataFrames (``data/README.md``, "Cohort tables"):
``patients``, ``cycles``, ``lesions`` (RECIST 1.1 measurements, :mod:`iluminet.trial.recist`) and
``events``. :func:`efficacy_analysis` derives every endpoint and returns an
:class:`EfficacyResults`; :func:`write_efficacy_outputs` writes ``efficacy.json`` (with
provenance) and the tables as CSV.

Time origin and unit
--------------------
Every time-to-event endpoint starts at ``inclusion_date`` (paper: "All time-to-event endpoints were
estimated from date of inclusion") and is expressed in months, ``days / (365.25/12)``.

Endpoints
---------
* **OS**: event = death (``death_date``); otherwise censored at ``last_followup_date``.
* **PFS**: event = progression (``progression_date``, first RECIST PD) or death, whichever is
  first; otherwise censored at ``last_followup_date`` (``censor_at="last_followup"``, default) or
  at the last post-baseline tumour assessment (``"last_assessment"``, the FDA convention; a
  patient never assessed is then censored at time 0).
* **TTP**: event = progression; a death without progression is censored at the date of death (or
  at the last assessment with ``censor_at="last_assessment"``).

Evaluable sets (the paper: 96 treated; 94 for PFS/TTP; 90 for response)
-------------------------------------------------------------------------
* OS: every treated patient.
* PFS/TTP, ``pfs_evaluable``: ``"assessed_or_died"`` (default) — at least one post-baseline
  tumour assessment, or a recorded death (a death before any scan is a PFS event, so the patient
  is informative); ``"assessed"`` — at least one post-baseline assessment; ``"all_treated"``. The
  paper does not state its rule; the default excludes only treated patients who are alive and
  were never re-assessed (e.g. withdrawal before the first scan).
* Response (after step 1, best overall response, time to maximum response, waterfall): treated,
  minus protocol deviations (``protocol_deviation``), minus deaths before any post-baseline
  assessment, minus living patients without any post-baseline assessment. Exclusion reasons are
  reported per patient (column ``response_exclusion``) in this order of precedence.

Response 3 months after completing step 1 (primary endpoint)
------------------------------------------------------------
The reference date is the administration date of the *last step-1 cycle* plus
``response_delay_days`` (default 91 days ≈ 3 months). For a patient who completed step 1 that
cycle completed it; for a patient who stopped earlier it is the last cycle given, so "~3 months
after the last cycle" (``response_reference="step1_end"``). With
``response_reference="treatment_end"`` the last cycle of any step is used (step 2 included). The
assessment is chosen by :func:`iluminet.trial.recist.response_at` (``response_rule`` "nearest"
within ``± response_window_days``, or "first_after"); an earlier progression makes the response PD
(``carry_forward_pd``). If no evaluable assessment falls in the window, ``response_fallback=
"last_before"`` (default) takes the latest evaluable assessment before the reference date — the
patient's last known status, e.g. after stopping treatment early and dying before the planned
scan; ``"none"`` leaves such a patient NE (still in the denominator). The default is ``"none"``:
the paper does not describe an imputation, and carrying a scan forward turns an unknown response
into a known one. The ``"last_before"`` variant and the number it imputes are reported beside it
(``EfficacyResults.sensitivity``).

Best overall response
---------------------
:func:`iluminet.trial.recist.best_overall_response` over all assessments up to the first PD (step 2
included, as the paper), confirmation of CR/PR required by default (``confirm_responses``; the
paper does not say, and in a single-arm trial with response as its primary endpoint RECIST 1.1
requires it), SD counted from ``min_sd_duration_days`` after inclusion. The unconfirmed best
response is reported beside it (``EfficacyResults.sensitivity``).

Time to maximum response
------------------------
Months from inclusion to the post-baseline nadir of the sum of diameters
(:func:`iluminet.trial.recist.time_to_maximum_response`, assessments up to the first PD), for every
response-evaluable patient with an evaluable SLD — responders or not (the paper's Table 3 has
n = 90). The paper's "18 months (95 % CI 16–22)" is read as R's ``survfit`` on these times with
every time an event (``ttmr_method="km"``): the median is then the ordinary sample median (the
Table 3 median, 18, equals it) and the interval is where R's log-scale pointwise band crosses 0.5.
``ttmr_method="order_statistic"`` gives the sample median with the distribution-free binomial
(order-statistic) interval instead.

Survival by subgroup
--------------------
Kaplan–Meier (R's log interval and median rules, :mod:`iluminet.trial.survival`) overall and by
delivered-BED group, ECOG, Ki-67 group and origin group, with the log-rank test (R ``survdiff``).
Patients with a missing grouping value (ECOG, Ki-67, BED) are left out of that comparison only.

The groups by *delivered* BED are formed after the fact and carry guarantee-time bias; the
landmark analyses and Cox models of :mod:`iluminet.trial.bed_effect` (``bed_effect`` in the
results) are reported beside them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError
from scipy import stats

from iluminet.config.models import (
    CensorRule,
    EfficacyConfig,
    FallbackRule,
    PfsRule,
    ReferenceRule,
    ResponseRule,
    TtmrMethod,
)
from iluminet.config.params import validation_error
from iluminet.errors import InputError
from iluminet.provenance import provenance, write_json_atomic, write_text_atomic
from iluminet.scalars import as_timestamp
from iluminet.trial import recist
from iluminet.trial.bed_effect import BedEffectResults, bed_effect_analyses
from iluminet.trial.proportions import proportion_table
from iluminet.trial.survival import (
    KaplanMeier,
    logrank_test,
    median_follow_up,
    survival_summary,
)
from iluminet.trial.tables import (
    BED_EDGES_GY,
    as_dates,
    months_between,
    patient_characteristics,
    require_columns,
    table1,
    table3,
)

__all__ = [
    "ENDPOINTS",
    "analysis_set",
    "GROUPINGS",
    "EfficacyOptions",
    "EfficacyResults",
    "cohort_input_files",
    "efficacy_analysis",
    "endpoint_table",
    "median_with_ci",
    "response_after_step1",
    "response_evaluable",
    "response_reference_dates",
    "write_efficacy_outputs",
]

EVENT_COLUMNS: tuple[str, ...] = (
    "patient_id", "treatment_end_date", "treatment_end_reason", "step1_completed",
    "progression_date", "death_date", "last_followup_date",
)
#: Endpoint name → description.
ENDPOINTS: dict[str, str] = {
    "pfs": "progression-free survival (progression or death)",
    "os": "overall survival (death)",
    "ttp": "time to progression (death without progression censored)",
}
#: Grouping column → label; ``None`` is the whole evaluable set.
GROUPINGS: dict[str | None, str] = {
    None: "all", "bed_group": "delivered BED", "ecog_level": "ECOG", "ki67_group": "Ki-67",
    "origin_group": "origin",
}
RESPONSE_CATEGORIES: tuple[str, ...] = (recist.CR, recist.PR, recist.SD, recist.PD, recist.NE)



@dataclass(frozen=True)
class EfficacyOptions:
    """Analysis choices of the efficacy analysis (see the module docstring for each rule).

    Attributes
    ----------
    confirm_responses
        Require confirmation of CR/PR for the best overall response (≥ 28 days later); default
        True (the conservative choice where the paper is silent; the unconfirmed result is
        reported beside it, ``EfficacyResults.sensitivity``).
    min_confirmation_interval_days
        Minimum interval for a confirmation (RECIST: 4 weeks).
    min_sd_duration_days
        Minimum time from inclusion for SD to count in the best overall response.
    response_reference
        ``"step1_end"`` (last step-1 cycle) or ``"treatment_end"`` (last cycle of any step).
    response_delay_days
        Time from the reference cycle to the planned response assessment (3 months ≈ 91 days).
    response_window_days
        Half-width ("nearest") or length ("first_after") of the window around the planned date.
    response_rule
        ``"nearest"`` or ``"first_after"`` (:func:`iluminet.trial.recist.response_at`).
    carry_forward_pd
        An earlier progression makes the response PD.
    response_fallback
        ``"none"`` (default: no imputation, the patient is NE) or ``"last_before"`` (carry the
        last earlier evaluable assessment forward): what to do without an evaluable assessment
        in the window. The other variant and its number of imputed patients are reported beside
        it (``EfficacyResults.sensitivity``).
    pfs_evaluable
        ``"assessed_or_died"``, ``"assessed"`` or ``"all_treated"``.
    censor_at
        ``"last_followup"`` or ``"last_assessment"`` (PFS and TTP censoring date).
    ttmr_method
        ``"km"`` or ``"order_statistic"`` (median time to maximum response and its interval).
    bed_edges_gy
        Edges of the delivered-BED groups (``< lo``, ``lo–hi`` inclusive, ``> hi``).
    landmark_months
        Time of the landmark survival (5-year OS: 60 months).
    conf_level
        Level of every confidence interval.
    waterfall_until_progression
        Best change of the SLD over assessments up to the first PD only.
    landmark_times_months
        Landmarks of the analyses by BED accrued at the landmark (:mod:`iluminet.trial.landmark`).
    bed_effect
        Run the landmark and Cox analyses (:mod:`iluminet.trial.bed_effect`).
    """

    confirm_responses: bool = True
    min_confirmation_interval_days: int = 28
    min_sd_duration_days: int = 42
    response_reference: ReferenceRule = "step1_end"
    response_delay_days: int = 91
    response_window_days: int = 45
    response_rule: ResponseRule = "nearest"
    carry_forward_pd: bool = True
    response_fallback: FallbackRule = "none"
    pfs_evaluable: PfsRule = "assessed_or_died"
    censor_at: CensorRule = "last_followup"
    ttmr_method: TtmrMethod = "km"
    bed_edges_gy: tuple[float, float] = BED_EDGES_GY
    landmark_months: float = 60.0
    conf_level: float = 0.95
    waterfall_until_progression: bool = True
    landmark_times_months: tuple[float, ...] = (12.0, 18.0)
    bed_effect: bool = True

    def __post_init__(self) -> None:
        # the rules live in the typed configuration (params/efficacy.yaml is validated by them)
        try:
            EfficacyConfig.model_validate(self.to_dict())
        except ValidationError as exc:
            raise validation_error(exc, "efficacy options", root=EfficacyConfig) from None

    @classmethod
    def from_config(cls, config: EfficacyConfig) -> EfficacyOptions:
        """Options from the typed ``efficacy`` section
        (:func:`iluminet.config.params.load_config`)."""
        return cls.from_mapping(config.model_dump())

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> EfficacyOptions:
        """Options from a mapping (e.g. notebook parameters); an unknown key is an error."""
        values = dict(values or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"unknown option(s) {unknown}; expected some of {sorted(known)}",
                             source="efficacy options", field=unknown[0])
        if "bed_edges_gy" in values:
            values["bed_edges_gy"] = tuple(float(v) for v in values["bed_edges_gy"])
        if "landmark_times_months" in values:
            values["landmark_times_months"] = tuple(float(v)
                                                    for v in values["landmark_times_months"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["bed_edges_gy"] = list(self.bed_edges_gy)
        out["landmark_times_months"] = list(self.landmark_times_months)
        return out


# --------------------------------------------------------------------------------------------------
# endpoint derivation
# --------------------------------------------------------------------------------------------------


def _events_by_patient(events: pd.DataFrame, treated: pd.Index) -> pd.DataFrame:
    require_columns(events, EVENT_COLUMNS, "events")
    if events["patient_id"].duplicated().any():
        dup = events.loc[events["patient_id"].duplicated(), "patient_id"].iloc[0]
        raise InputError(f"duplicate patient_id {dup!r}; expected one row per treated patient",
                         source="events", field="patient_id")
    ev = events.set_index("patient_id", drop=False)
    missing = [p for p in treated if p not in ev.index]
    if missing:
        raise InputError(f"treated patient(s) {missing[:5]} have no row; expected one row per "
                         "treated patient", source="events", field="patient_id")
    ev = ev.loc[list(treated)].copy()
    for col in ("treatment_end_date", "progression_date", "death_date", "last_followup_date"):
        ev[col] = as_dates(ev[col], source="events", field=col)
    if ev["last_followup_date"].isna().any():
        pid = ev.index[ev["last_followup_date"].isna()][0]
        raise InputError(f"patient {pid!r}: expected a last follow-up date", source="events",
                         field="last_followup_date")
    return ev


def _assessment_summary(timepoints: pd.DataFrame, patients: pd.Index) -> pd.DataFrame:
    """Per patient: number of post-baseline assessments and the first/last such date."""
    post = timepoints[~timepoints["is_baseline"].astype(bool)]
    g = post.groupby("patient_id")["assessment_date"]
    out = pd.DataFrame({"n_post_assessments": g.size(), "first_assessment_date": g.min(),
                        "last_assessment_date": g.max()}).reindex(patients)
    out["n_post_assessments"] = out["n_post_assessments"].fillna(0).astype("int64")
    return out


def response_evaluable(protocol_deviation: pd.Series, n_post_assessments: pd.Series,
                       died: pd.Series) -> pd.Series:
    """Reason a treated patient is excluded from the response analysis ("" if evaluable).

    Precedence: ``"protocol deviation"``, ``"died before assessment"`` (dead, no post-baseline
    assessment), ``"not assessed"`` (alive, no post-baseline assessment). All three Series share
    the patient index.
    """
    reason = pd.Series("", index=protocol_deviation.index, dtype=object)
    never = n_post_assessments.reindex(reason.index).fillna(0).astype(int) == 0
    reason[never & ~died.reindex(reason.index).astype(bool)] = "not assessed"
    reason[never & died.reindex(reason.index).astype(bool)] = "died before assessment"
    reason[protocol_deviation.astype(bool)] = "protocol deviation"
    return reason.rename("response_exclusion")


def endpoint_table(characteristics: pd.DataFrame, events: pd.DataFrame,
                   assessments: pd.DataFrame, options: EfficacyOptions = EfficacyOptions()
                   ) -> pd.DataFrame:
    """Per treated patient: OS, PFS and TTP (months, event flags) and the evaluable sets.

    Parameters
    ----------
    characteristics
        :func:`iluminet.trial.tables.patient_characteristics` (treated patients, by patient_id).
    events
        The events table (one row per treated patient).
    assessments
        Per patient ``n_post_assessments`` and ``last_assessment_date`` (index patient_id).
    options
        ``pfs_evaluable`` and ``censor_at`` are used.

    Returns
    -------
    pandas.DataFrame
        Indexed by patient_id: ``os_months``, ``os_event``, ``pfs_months``, ``pfs_event``,
        ``ttp_months``, ``ttp_event`` (events as 0/1 ints), ``pfs_evaluable`` (bool),
        ``response_exclusion`` (str, "" = evaluable), ``response_evaluable`` (bool),
        ``n_post_assessments``.

    Raises
    ------
    InputError
        For an event or follow-up date before inclusion.
    """
    idx = characteristics.index
    ev = _events_by_patient(events, idx)
    start = characteristics["inclusion_date"]
    death, prog, last_fu = ev["death_date"], ev["progression_date"], ev["last_followup_date"]
    for col, values in (("death_date", death), ("progression_date", prog),
                        ("last_followup_date", last_fu)):
        early = values.notna() & (values < start)
        if early.any():
            pid = early.index[early.to_numpy()][0]
            raise InputError(f"patient {pid!r}: {values[pid].date()} is before the inclusion "
                             f"date {start[pid].date()}; expected dates on or after inclusion",
                             source="events", field=col)
    n_post = assessments["n_post_assessments"].reindex(idx).fillna(0).astype("int64")
    died = death.notna()
    if options.censor_at == "last_followup":
        censor = last_fu
    else:  # last tumour assessment, never after last contact; time 0 if never assessed
        censor = assessments["last_assessment_date"].reindex(idx)
        censor = censor.where(censor.notna(), start)
    out = pd.DataFrame(index=idx)
    out["os_months"] = months_between(start, death.where(died, last_fu))
    out["os_event"] = died.astype("int64")
    pfs_event = prog.notna() | died
    pfs_date = pd.concat([prog, death], axis=1).min(axis=1)
    out["pfs_months"] = months_between(start, pfs_date.where(pfs_event, censor))
    out["pfs_event"] = pfs_event.astype("int64")
    ttp_censor = censor if options.censor_at == "last_assessment" else death.where(died, last_fu)
    out["ttp_months"] = months_between(start, prog.where(prog.notna(), ttp_censor))
    out["ttp_event"] = prog.notna().astype("int64")
    if options.pfs_evaluable == "assessed_or_died":
        out["pfs_evaluable"] = (n_post > 0) | died
    elif options.pfs_evaluable == "assessed":
        out["pfs_evaluable"] = n_post > 0
    else:
        out["pfs_evaluable"] = True
    out["response_exclusion"] = response_evaluable(
        characteristics["protocol_deviation"], n_post, died)
    out["response_evaluable"] = out["response_exclusion"] == ""
    out["n_post_assessments"] = n_post
    for col in ("os_months", "pfs_months", "ttp_months"):
        out[col] = out[col].clip(lower=0.0)
    return out


def response_reference_dates(cycles: pd.DataFrame, patients: Iterable[str],
                             options: EfficacyOptions = EfficacyOptions()) -> pd.Series:
    """Planned date of the primary response assessment per patient.

    ``reference = administration date of the last step-1 cycle (or of the last cycle with
    "treatment_end") + response_delay_days``.
    """
    require_columns(cycles, ["patient_id", "administration_date", "step"], "cycles")
    cyc = cycles[["patient_id", "administration_date", "step"]].copy()
    cyc["administration_date"] = as_dates(cyc["administration_date"], source="cycles",
                                          field="administration_date")
    if options.response_reference == "step1_end":
        cyc = cyc[cyc["step"] == 1]
    last = cyc.groupby("patient_id")["administration_date"].max()
    ids = list(patients)
    missing = [p for p in ids if p not in last.index]
    if missing:
        raise InputError(f"patient(s) {missing[:5]} have no step-1 cycle; expected at least one "
                         "cycle per treated patient", source="cycles", field="patient_id")
    return (last.loc[ids] + pd.Timedelta(days=options.response_delay_days)).rename(
        "reference_date")


def response_after_step1(timepoints: pd.DataFrame, reference_dates: pd.Series,
                         options: EfficacyOptions = EfficacyOptions()) -> pd.DataFrame:
    """Response at the planned assessment 3 months after step 1, one row per patient.

    :func:`iluminet.trial.recist.response_at` with the options' window, rule and PD carry-forward;
    then, with ``response_fallback="last_before"``, a patient left NE takes the latest evaluable
    assessment before the reference date (``fallback`` column True).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`iluminet.trial.recist.response_at` plus ``fallback``.
    """
    ref = {str(k): v for k, v in reference_dates.items()}
    out = recist.response_at(timepoints, ref, options.response_window_days,
                             rule=options.response_rule,
                             carry_forward_pd=options.carry_forward_pd)
    out["fallback"] = False
    if options.response_fallback == "none":
        return out
    post = timepoints[~timepoints["is_baseline"].astype(bool)
                      & (timepoints["overall_response"] != recist.NE)]
    # row positions per patient (one sub-table per patient would cost seconds for 10 000)
    rows_of = post.groupby("patient_id").indices
    for i in out.index[out["response"] == recist.NE]:
        pid = out.at[i, "patient_id"]
        if pid not in rows_of:
            continue
        pat = post.iloc[rows_of[pid]]
        before = pat[pat["assessment_date"] < out.at[i, "reference_date"]]
        if before.empty:
            continue
        last = before.sort_values("assessment_date").iloc[-1]
        out.at[i, "response"] = str(last["overall_response"])
        out.at[i, "assessment_date"] = pd.Timestamp(last["assessment_date"])
        out.at[i, "days_from_reference"] = (pd.Timestamp(last["assessment_date"])
                                            - as_timestamp(out.at[i, "reference_date"])).days
        out.at[i, "fallback"] = True
    return out


def median_with_ci(times_months: Sequence[float] | pd.Series, method: TtmrMethod = "km",
                   conf_level: float = 0.95) -> dict[str, float]:
    """Median of fully observed times with a confidence interval.

    ``"km"``: R ``survfit`` with every time an event: the median is the sample median and the
    limits are where the log-scale pointwise band crosses 0.5 (not reached → NaN).
    ``"order_statistic"``: the sample median with the distribution-free interval
    ``[x_(r), x_(n−r+1)]``, ``r = max(1, F⁻¹_Bin(n, 1/2)((1 − level)/2))``.

    Returns
    -------
    dict
        ``n``, ``median``, ``lower``, ``upper``, ``min``, ``max``.
    """
    t = np.sort(pd.to_numeric(pd.Series(times_months), errors="coerce").dropna().to_numpy(float))
    n = int(t.size)
    out: dict[str, float] = {"n": n, "median": math.nan, "lower": math.nan, "upper": math.nan,
                             "min": math.nan, "max": math.nan}
    if n == 0:
        return out
    out["min"], out["max"] = float(t[0]), float(t[-1])
    if method == "km":
        km = KaplanMeier("log", conf_level).fit(t, np.ones(n, dtype=bool))
        med = km.median_estimate_
        out["median"] = math.nan if med.median is None else med.median
        out["lower"] = math.nan if med.lower is None else med.lower
        out["upper"] = math.nan if med.upper is None else med.upper
    else:
        out["median"] = float(np.median(t))
        r = max(1, int(stats.binom.ppf((1.0 - conf_level) / 2.0, n, 0.5)))
        out["lower"], out["upper"] = float(t[r - 1]), float(t[n - r])
    return out


# --------------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------------


@dataclass
class EfficacyResults:
    """Everything the efficacy analysis reports.

    Attributes
    ----------
    options
        The analysis choices used.
    patients
        One row per treated patient (index patient_id): characteristics, derived columns,
        endpoints (months, events), evaluable flags, response after step 1, best overall
        response, time to maximum response, best % change of the SLD.
    counts
        Sizes of the analysis sets and exclusions.
    treatment
        Treatment summary: step-1 completion and reasons for stopping, step 2, cycles, BED groups.
    response_after_step1, best_overall_response
        :func:`iluminet.trial.proportions.proportion_table` (percent, Wald + Wilson +
        Clopper–Pearson).
    survival
        Long table: ``endpoint``, ``grouping``, ``group``, ``n``, ``events``, median with CI and
        landmark survival with CI (:func:`iluminet.trial.survival.survival_summary`).
    logrank
        ``endpoint``, ``grouping``, ``statistic``, ``df``, ``p_value``, ``n``.
    landmark_os
        OS at ``options.landmark_months`` with its log CI: ``surv``, ``lower``, ``upper``.
    follow_up
        Median follow-up (reverse Kaplan–Meier) with CI, months.
    time_to_max_response
        ``group`` (all, then BED groups), ``n``, ``median``, ``lower``, ``upper``, ``min``, ``max``.
    waterfall
        Per response-evaluable patient: ``best_pct_change``, ``best_overall_response``,
        ``bed_group``.
    table1, table3
        The paper's Tables 1 and 3 as printed strings.
    bed_effect
        Landmark and Cox analyses by BED (:class:`iluminet.trial.bed_effect.BedEffectResults`),
        or None when ``options.bed_effect`` is off.
    sensitivity
        The non-default variants: ``response_after_step1`` with the other ``response_fallback``
        and the count it imputes, ``best_overall_response`` with the other confirmation rule.
    """

    options: EfficacyOptions
    patients: pd.DataFrame
    counts: dict[str, int]
    treatment: dict[str, Any]
    response_after_step1: pd.DataFrame
    best_overall_response: pd.DataFrame
    survival: pd.DataFrame
    logrank: pd.DataFrame
    landmark_os: dict[str, float]
    follow_up: dict[str, float]
    time_to_max_response: pd.DataFrame
    waterfall: pd.DataFrame
    table1: pd.DataFrame
    table3: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    bed_effect: BedEffectResults | None = None
    sensitivity: dict[str, Any] = field(default_factory=dict)

    def median(self, endpoint: str, grouping: str = "all", group: str = "all") -> dict[str, float]:
        """Median (months) with CI of one curve: ``endpoint`` ``"pfs"``/``"os"``/``"ttp"``;
        ``grouping`` ``"all"`` or a grouping column (``"bed_group"``, ``"ecog_level"``,
        ``"ki67_group"``, ``"origin_group"``); ``group`` a label of that grouping."""
        rows = self.survival[(self.survival["endpoint"] == endpoint)
                             & (self.survival["grouping"] == grouping)
                             & (self.survival["group"] == group)]
        if rows.empty:
            raise KeyError(f"no curve {endpoint}/{grouping}/{group}")
        r = rows.iloc[0]
        return {"n": int(r["n"]), "events": int(r["events"]), "median": float(r["median"]),
                "lower": float(r["median_lower"]), "upper": float(r["median_upper"])}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content of ``efficacy.json`` (NaN becomes null when written)."""
        def records(df: pd.DataFrame) -> list[dict[str, Any]]:
            frame = df if isinstance(df.index, pd.RangeIndex) else df.reset_index()
            return [{str(k): _plain(v) for k, v in row.items()}
                    for row in frame.to_dict(orient="records")]

        return {
            "options": self.options.to_dict(),
            "counts": {k: int(v) for k, v in self.counts.items()},
            "treatment": {k: _plain(v) for k, v in self.treatment.items()},
            "response_after_step1": records(self.response_after_step1),
            "best_overall_response": records(self.best_overall_response),
            "survival": records(self.survival),
            "logrank": records(self.logrank),
            "landmark_os": {k: _plain(v) for k, v in self.landmark_os.items()},
            "median_follow_up_months": {k: _plain(v) for k, v in self.follow_up.items()},
            "time_to_max_response": records(self.time_to_max_response),
            "bed_effect": None if self.bed_effect is None else self.bed_effect.to_dict(),
            "sensitivity": {
                k: records(v) if isinstance(v, pd.DataFrame) else _plain(v)
                for k, v in self.sensitivity.items()},
        }


def _plain(value: Any) -> Any:
    """numpy/pandas scalars → Python scalars; NaT/NA → None; Timestamps → ISO dates."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def _treatment_summary(ch: pd.DataFrame, events: pd.DataFrame, patients: pd.DataFrame,
                       cycles: pd.DataFrame) -> dict[str, Any]:
    ev = events.set_index("patient_id").loc[ch.index]
    completed = ev["step1_completed"].astype(bool)
    stopped = ev.loc[~completed, "treatment_end_reason"].value_counts().sort_index()
    n = len(ch)
    dates = as_dates(cycles["administration_date"], source="cycles", field="administration_date")
    span = dates.groupby(cycles["patient_id"]).agg(["min", "max"]).reindex(ch.index)
    duration_weeks = (span["max"] - span["min"]).dt.days / 7.0
    bed_counts = ch["bed_group"].value_counts(sort=False)
    return {
        "enrolled": len(patients),
        "treated": n,
        "step1_completed": int(completed.sum()),
        "stopped_before_step1_completed": int((~completed).sum()),
        "stopped_before_step1_completed_by_reason": {str(k): int(v) for k, v in stopped.items()},
        "step2": int(ch["step2"].sum()),
        "cycles_median": float(ch["n_cycles"].median()),
        "cycles_min": int(ch["n_cycles"].min()),
        "cycles_max": int(ch["n_cycles"].max()),
        "more_than_four_cycles": int((ch["n_cycles"] > 4).sum()),
        "more_than_four_cycles_percent": 100.0 * float((ch["n_cycles"] > 4).mean()),
        "total_activity_gbq_median": float(ch["total_activity_mbq"].median() / 1000.0),
        "treatment_duration_weeks_median": float(duration_weeks.median()),
        "treatment_duration_weeks_max": float(duration_weeks.max()),
        "bed_group": {str(k): int(v) for k, v in bed_counts.items()},
        "bed_missing": int(ch["bed_group"].isna().sum()),
    }


def _survival_tables(data: pd.DataFrame, options: EfficacyOptions
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    summaries, tests = [], []
    landmark = float(options.landmark_months)
    key = f"{landmark:g}"
    for endpoint in ENDPOINTS:
        subset = data if endpoint == "os" else data[data["pfs_evaluable"]]
        for grouping in GROUPINGS:
            d = subset
            if grouping is not None:
                g = d[grouping].astype(object).where(d[grouping].notna(), "Missing")
                d = d[g != "Missing"].copy()
                if d.empty:
                    continue
                d[grouping] = d[grouping].cat.remove_unused_categories()
            summary = survival_summary(d, f"{endpoint}_months", f"{endpoint}_event", grouping,
                                       times=(landmark,), conf_level=options.conf_level,
                                       source=f"{endpoint} endpoint table")
            summary = summary.rename(columns={f"surv_{key}": "surv_landmark",
                                              f"surv_{key}_lower": "surv_landmark_lower",
                                              f"surv_{key}_upper": "surv_landmark_upper"})
            summary.index = summary.index.astype(str)
            summary = summary.rename_axis("group").reset_index()
            summary.insert(0, "grouping", grouping or "all")
            summary.insert(0, "endpoint", endpoint)
            summaries.append(summary)
            if grouping is not None and d[grouping].nunique() >= 2 and d[f"{endpoint}_event"].any():
                lr = logrank_test(d[f"{endpoint}_months"], d[f"{endpoint}_event"], d[grouping],
                                  source=f"{endpoint} by {grouping}")
                tests.append({"endpoint": endpoint, "grouping": grouping,
                              "statistic": lr.statistic, "df": lr.df, "p_value": lr.p_value,
                              "n": len(d)})
    survival = pd.concat(summaries, ignore_index=True)
    survival["landmark_months"] = landmark
    logrank = pd.DataFrame(tests, columns=["endpoint", "grouping", "statistic", "df", "p_value",
                                           "n"])
    return survival, logrank


def efficacy_analysis(patients: pd.DataFrame, cycles: pd.DataFrame, lesions: pd.DataFrame,
                      events: pd.DataFrame, *, options: EfficacyOptions | None = None
                      ) -> EfficacyResults:
    """The trial's efficacy analysis from its patient-level tables.

    Parameters
    ----------
    patients, cycles, lesions, events
        Cohort tables with the columns of ``data/README.md`` ("Cohort tables"); ``lesions`` as
        :mod:`iluminet.trial.recist` documents (validated there). Only treated patients are
        analysed.
    options
        Analysis choices; default :class:`EfficacyOptions()`.

    Returns
    -------
    EfficacyResults

    Raises
    ------
    InputError
        Missing columns, unparsable dates, dates before inclusion, a treated patient without an
        events row or without cycles, invalid lesion data (named by table, row and field).
    """
    options = options or EfficacyOptions()
    ch = patient_characteristics(patients, cycles, bed_edges=options.bed_edges_gy)
    if ch.empty:
        raise InputError("no treated patient; expected at least one row with treated = true",
                         source="patients", field="treated")
    ids = ch.index
    require_columns(lesions, ["patient_id"], "lesions")
    les = lesions[lesions["patient_id"].isin(ids)]
    timepoints = (recist.timepoint_responses(les, source="lesions") if not les.empty
                  else pd.DataFrame(columns=list(recist.TIMEPOINT_COLUMNS)))
    assessments = _assessment_summary(timepoints, ids)
    endpoints = endpoint_table(ch, events, assessments, options)
    data = ch.join(endpoints)
    evaluable = data.index[data["response_evaluable"]]
    tp_eval = timepoints[timepoints["patient_id"].isin(evaluable)]
    start = {str(p): d for p, d in data["inclusion_date"].items()}
    start_eval = {p: start[p] for p in evaluable}

    # response 3 months after step 1
    refs = response_reference_dates(cycles, evaluable, options)
    after = response_after_step1(tp_eval, refs, options).set_index("patient_id")
    data["response_reference_date"] = after["reference_date"].reindex(ids)
    data["response_after_step1"] = after["response"].reindex(ids)
    data["response_assessment_date"] = after["assessment_date"].reindex(ids)
    data["response_fallback"] = after["fallback"].reindex(ids)

    # best overall response
    if len(evaluable):
        bor = recist.best_overall_response(
            tp_eval, confirmation=options.confirm_responses,
            min_confirmation_interval_days=options.min_confirmation_interval_days,
            min_sd_duration_days=options.min_sd_duration_days, start_dates=start_eval
        ).set_index("patient_id")
        ttmr = recist.time_to_maximum_response(tp_eval, start_eval).set_index("patient_id")
        best = recist.best_percent_change(
            tp_eval, until_progression=options.waterfall_until_progression).set_index("patient_id")
    else:
        bor = pd.DataFrame(columns=["best_overall_response"])
        ttmr = pd.DataFrame(columns=["time_to_max_response_months", "shrank"])
        best = pd.DataFrame(columns=["best_pct_change"])
    data["best_overall_response"] = bor["best_overall_response"].reindex(ids)
    data["time_to_max_response_months"] = pd.to_numeric(
        ttmr["time_to_max_response_months"].reindex(ids), errors="coerce")
    data["best_pct_change"] = pd.to_numeric(best["best_pct_change"].reindex(ids), errors="coerce")

    n_resp = len(evaluable)
    resp = data.loc[evaluable]
    response_table = proportion_table(resp["response_after_step1"].value_counts(), n_resp,
                                      categories=RESPONSE_CATEGORIES,
                                      conf_level=options.conf_level,
                                      source="response after step 1") if n_resp else (
        pd.DataFrame())
    bor_table = proportion_table(resp["best_overall_response"].value_counts(), n_resp,
                                 categories=RESPONSE_CATEGORIES, conf_level=options.conf_level,
                                 source="best overall response") if n_resp else pd.DataFrame()

    survival, logrank = _survival_tables(data, options)
    os_all = survival[(survival["endpoint"] == "os") & (survival["grouping"] == "all")].iloc[0]
    landmark_os = {"months": float(options.landmark_months),
                   "surv": float(os_all["surv_landmark"]),
                   "lower": float(os_all["surv_landmark_lower"]),
                   "upper": float(os_all["surv_landmark_upper"])}
    fu = median_follow_up(data["os_months"], data["os_event"], conf_level=options.conf_level)
    follow_up = {"median": math.nan if fu.median is None else fu.median,
                 "lower": math.nan if fu.lower is None else fu.lower,
                 "upper": math.nan if fu.upper is None else fu.upper}

    ttmr_rows = [{"group": "all", **median_with_ci(resp["time_to_max_response_months"],
                                                   options.ttmr_method, options.conf_level)}]
    for g in resp["bed_group"].cat.categories:
        values = resp.loc[resp["bed_group"] == g, "time_to_max_response_months"]
        ttmr_rows.append({"group": str(g), **median_with_ci(values, options.ttmr_method,
                                                            options.conf_level)})
    ttmr_table = pd.DataFrame(ttmr_rows)

    waterfall = resp[["best_pct_change", "best_overall_response", "bed_group"]].copy()
    waterfall.index.name = "patient_id"

    counts = {
        "enrolled": len(patients),
        "treated": len(ids),
        "os_evaluable": len(ids),
        "pfs_evaluable": int(data["pfs_evaluable"].sum()),
        "response_evaluable": n_resp,
        "response_excluded_protocol_deviation":
            int((data["response_exclusion"] == "protocol deviation").sum()),
        "response_excluded_died_before_assessment":
            int((data["response_exclusion"] == "died before assessment").sum()),
        "response_excluded_not_assessed":
            int((data["response_exclusion"] == "not assessed").sum()),
        "response_fallback_last_before": int(resp["response_fallback"].eq(True).sum()),
        "time_to_max_response_evaluable": int(resp["time_to_max_response_months"].notna().sum()),
    }
    sensitivity = _sensitivity(tp_eval, refs, start_eval, n_resp, options)
    bed_effect = (bed_effect_analyses(data, cycles, landmark_months=options.landmark_times_months,
                                      bed_edges_gy=options.bed_edges_gy,
                                      conf_level=options.conf_level)
                  if options.bed_effect else None)
    t1 = table1(ch)
    t3 = table3(ch, resp["time_to_max_response_months"])
    return EfficacyResults(
        options=options, patients=data, counts=counts,
        treatment=_treatment_summary(ch, events, patients, cycles),
        response_after_step1=response_table, best_overall_response=bor_table,
        survival=survival, logrank=logrank, landmark_os=landmark_os, follow_up=follow_up,
        time_to_max_response=ttmr_table, waterfall=waterfall, table1=t1, table3=t3,
        tables={"timepoints": timepoints}, bed_effect=bed_effect, sensitivity=sensitivity,
    )


def _sensitivity(tp_eval: pd.DataFrame, refs: pd.Series, start_eval: dict[str, Any], n_resp: int,
                 options: EfficacyOptions) -> dict[str, Any]:
    """The response tables under the non-default imputation and confirmation rules."""
    if not n_resp:
        return {}
    other_fallback: FallbackRule = "last_before" if options.response_fallback == "none" else "none"
    alt = response_after_step1(tp_eval, refs, replace(options, response_fallback=other_fallback))
    imputed = response_after_step1(tp_eval, refs, replace(options,
                                                          response_fallback="last_before"))
    bor = recist.best_overall_response(
        tp_eval, confirmation=not options.confirm_responses,
        min_confirmation_interval_days=options.min_confirmation_interval_days,
        min_sd_duration_days=options.min_sd_duration_days, start_dates=start_eval)
    return {
        "response_fallback": other_fallback,
        "response_after_step1": proportion_table(
            alt["response"].value_counts(), n_resp, categories=RESPONSE_CATEGORIES,
            conf_level=options.conf_level, source="response after step 1 (variant)"),
        "response_imputed_last_before": int(imputed["fallback"].sum()),
        "confirm_responses": not options.confirm_responses,
        "best_overall_response": proportion_table(
            bor["best_overall_response"].value_counts(), n_resp,
            categories=RESPONSE_CATEGORIES, conf_level=options.conf_level,
            source="best overall response (variant)"),
    }


# --------------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------------

PATIENT_OUTPUT_COLUMNS: tuple[str, ...] = (
    "patient_id", "inclusion_date", "origin_group", "ki67_percent", "ki67_group", "ecog_level",
    "n_cycles", "total_activity_mbq", "delivered_bed_gy", "bed_group", "step2", "os_months",
    "os_event", "pfs_months", "pfs_event", "ttp_months", "ttp_event", "pfs_evaluable",
    "response_evaluable", "response_exclusion", "n_post_assessments", "response_reference_date",
    "response_assessment_date", "response_after_step1", "response_fallback",
    "best_overall_response", "time_to_max_response_months", "best_pct_change",
)


#: The cohort tables the efficacy analysis reads (file names in a cohort folder).
INPUT_TABLES: tuple[str, ...] = ("patients.csv", "cycles.csv", "lesions.csv", "events.csv")


def cohort_input_files(folder: str | Path) -> list[Path]:
    """The files of a cohort folder that the efficacy analysis reads, for the provenance."""
    return [Path(folder) / name for name in INPUT_TABLES if (Path(folder) / name).is_file()]


def write_efficacy_outputs(results: EfficacyResults, out_dir: str | Path, *,
                           input_files: Iterable[str | Path] = (),
                           root: str | Path | None = None) -> list[Path]:
    """Write ``efficacy.json`` (with provenance) and the tables as CSV, each atomically.

    Files: ``efficacy.json``, ``efficacy_patients.csv``, ``response_after_step1.csv``,
    ``best_overall_response.csv``, ``survival.csv``, ``logrank.csv``,
    ``time_to_max_response.csv``, ``table1.csv``, ``table3.csv`` and, with the BED analyses,
    ``landmark.csv``, ``cox.csv``, ``cox_tests.csv``. Nothing is written when
    ``out_dir`` is empty (an interactive session).

    Parameters
    ----------
    results
        Output of :func:`efficacy_analysis`.
    out_dir
        Destination folder (created if needed), e.g. ``reports/cohort``.
    input_files
        The cohort CSV files read, hashed into the provenance block.
    root
        Workbook root, for the git commit in the provenance (default: the installed workbook).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    if not str(out_dir):
        return []
    out = Path(out_dir)
    if root is None:
        from iluminet.config.params import workbook_root

        root = workbook_root()
    written = []
    patients = results.patients.reset_index(drop=True)
    csvs = {
        "efficacy_patients.csv": patients[[c for c in PATIENT_OUTPUT_COLUMNS
                                           if c in patients.columns]],
        "response_after_step1.csv": results.response_after_step1.reset_index(),
        "best_overall_response.csv": results.best_overall_response.reset_index(),
        "survival.csv": results.survival,
        "logrank.csv": results.logrank,
        "time_to_max_response.csv": results.time_to_max_response,
        "table1.csv": results.table1,
        "table3.csv": results.table3,
    }
    if results.bed_effect is not None:
        csvs["landmark.csv"] = results.bed_effect.landmark
        csvs["cox.csv"] = results.bed_effect.cox
        csvs["cox_tests.csv"] = results.bed_effect.cox_tests
    for name, table in csvs.items():
        written.append(write_text_atomic(out / name, table.to_csv(index=False)))
    content = results.to_dict()
    content["provenance"] = provenance(list(input_files), results.options.to_dict(), root)
    written.insert(0, write_json_atomic(out / "efficacy.json", content))
    return written


# --------------------------------------------------------------------------------------------------
# analysis sets (plots and printed summaries: iluminet.report.trial_figures, trial_text)
# --------------------------------------------------------------------------------------------------


def analysis_set(
    results: EfficacyResults, endpoint: str, *, source: str = "efficacy"
) -> pd.DataFrame:
    """The patients analysed for ``endpoint``: every treated patient for OS, the PFS-evaluable set
    for PFS and TTP (one row per patient of ``results.patients``)."""
    if endpoint not in ENDPOINTS:
        raise InputError(f"expected one of {list(ENDPOINTS)}, got {endpoint!r}",
                         source=source, field="endpoint")
    p = results.patients
    return p if endpoint == "os" else p[p["pfs_evaluable"].astype(bool)]
