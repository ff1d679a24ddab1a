"""Analyses of survival by delivered kidney BED that respect when the BED is accrued.

Why
---
The paper's BED groups (< 25, 25–29, > 29 Gy) are formed from the BED a patient *went on to
receive*. Reaching 25–29 Gy takes about a year of cycles, which a patient survives free of
progression by definition, so a naive comparison by delivered BED credits the high-BED group with
that guaranteed event-free time (guarantee-time or immortal-time bias; Anderson et al., J Clin
Oncol 1983;1:710–9). Two analyses that do not:

* **Landmark** (:func:`landmark_analysis`): at a landmark time ``L`` (months from inclusion) take
  the patients still event-free and under follow-up (``time > L``), group them by the cumulative
  BED of the cycles given up to ``L`` (administration date ≤ inclusion + ``L``), and analyse the
  time from ``L``: Kaplan–Meier medians, the log-rank test (R ``survdiff``) and a Cox model of the
  landmark BED group (:class:`iluminet.trial.cox.CoxModel`). Cycles after ``L`` do not move a
  patient between groups.
* **Time-dependent Cox** (:func:`iluminet.trial.cox.counting_process_bed` with
  :class:`iluminet.trial.cox.TimeVaryingCoxModel`): the cumulative BED as a covariate that steps
  up at each cycle, so the hazard at time ``t`` is compared among patients at risk at ``t`` by
  the BED they have *at* ``t``.

Neither removes confounding by indication (a patient who stops early for toxicity or frailty has a
low BED and also a worse prognosis); both remove the bias that comes from the definition of the
groups. The null-effect simulation (``validation/null_effect_bed.py``) measures how often each
analysis calls BED significant when the generator has no BED effect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from iluminet.errors import InputError
from iluminet.trial.cox import CoxModel
from iluminet.trial.survival import logrank_test, survival_summary
from iluminet.trial.tables import BED_EDGES_GY, DAYS_PER_MONTH, as_dates, bed_group

__all__ = ["LANDMARK_COLUMNS", "LandmarkResult", "bed_by_time", "landmark_analysis",
           "landmark_table"]

LANDMARK_COLUMNS: tuple[str, ...] = (
    "endpoint", "landmark_months", "group", "n", "events", "median", "median_lower",
    "median_upper", "hr", "hr_lower", "hr_upper", "hr_p_value", "logrank_statistic",
    "logrank_df", "logrank_p_value", "n_landmark", "n_excluded_before_landmark")


def bed_by_time(patients: pd.DataFrame, cycles: pd.DataFrame, months: float,
                *, source: str = "cycles") -> pd.Series:
    """Cumulative kidney BED (Gy) of the cycles given up to ``months`` after inclusion (cycles on
    or before that day), per patient of ``patients`` (index patient_id, ``inclusion_date``)."""
    for col in ("patient_id", "administration_date", "kidney_bed_gy"):
        if col not in cycles.columns:
            raise InputError("missing column", source=source, field=col)
    cyc = cycles[cycles["patient_id"].isin(patients.index)]
    dates = as_dates(cyc["administration_date"], source=source, field="administration_date")
    inc = pd.to_datetime(patients["inclusion_date"]).reindex(cyc["patient_id"]).to_numpy()
    days = (dates.to_numpy() - inc) / np.timedelta64(1, "D")
    given = days <= months * DAYS_PER_MONTH
    bed = pd.to_numeric(cyc["kidney_bed_gy"], errors="coerce").to_numpy(float)
    s = pd.Series(np.where(given, bed, 0.0), index=cyc["patient_id"].to_numpy())
    # a cycle given by the landmark without a BED leaves the patient's BED unknown
    unknown = pd.Series(given & np.isnan(bed), index=s.index).groupby(level=0).any()
    total = s.groupby(level=0).sum(min_count=1).reindex(patients.index).fillna(0.0)
    return total.where(~unknown.reindex(patients.index, fill_value=False)).rename(
        "landmark_bed_gy")


@dataclass
class LandmarkResult:
    """One landmark analysis of one endpoint (:func:`landmark_analysis`)."""

    endpoint: str
    landmark_months: float
    n_landmark: int
    n_excluded: int
    table: pd.DataFrame
    logrank: dict[str, float]
    cox: CoxModel | None
    data: pd.DataFrame = field(repr=False)


def landmark_analysis(data: pd.DataFrame, cycles: pd.DataFrame, endpoint: str,
                      landmark_months: float, *,
                      bed_edges_gy: tuple[float, float] = BED_EDGES_GY,
                      conf_level: float = 0.95) -> LandmarkResult:
    """Landmark analysis of ``endpoint`` by the BED group reached at ``landmark_months``.

    Parameters
    ----------
    data
        The analysis set of the endpoint, one row per patient (index patient_id):
        ``inclusion_date``, ``<endpoint>_months``, ``<endpoint>_event``.
    cycles
        ``patient_id``, ``administration_date``, ``kidney_bed_gy``.
    endpoint
        ``"pfs"``, ``"os"`` or ``"ttp"``.
    landmark_months
        The landmark, months from inclusion (> 0).

    Returns
    -------
    LandmarkResult
        ``table``: per landmark BED group ``n``, ``events``, median (months from the landmark)
        with CI and the Cox hazard ratio against the lowest group; ``logrank``: ``statistic``,
        ``df``, ``p_value`` (NaN with fewer than two groups or no event).
    """
    if not (isinstance(landmark_months, (int, float)) and landmark_months > 0
            and math.isfinite(landmark_months)):
        raise InputError(f"expected a landmark > 0 months, got {landmark_months!r}",
                         source="landmark analysis", field="landmark_months")
    tcol, ecol = f"{endpoint}_months", f"{endpoint}_event"
    for col in ("inclusion_date", tcol, ecol):
        if col not in data.columns:
            raise InputError("missing column", source="landmark analysis", field=col)
    at_risk = data[pd.to_numeric(data[tcol]) > landmark_months]
    d = pd.DataFrame(index=at_risk.index)
    d["time_months"] = pd.to_numeric(at_risk[tcol]).astype(float) - float(landmark_months)
    d["event"] = pd.to_numeric(at_risk[ecol]).astype(int)
    d["landmark_bed_gy"] = bed_by_time(at_risk, cycles, float(landmark_months))
    d["landmark_bed_group"] = bed_group(d["landmark_bed_gy"], bed_edges_gy)
    d = d[d["landmark_bed_group"].notna()]
    d["landmark_bed_group"] = d["landmark_bed_group"].cat.remove_unused_categories()
    rows: list[dict[str, Any]] = []
    logrank = {"statistic": math.nan, "df": math.nan, "p_value": math.nan}
    cox: CoxModel | None = None
    if not d.empty:
        summary = survival_summary(d, "time_months", "event", "landmark_bed_group",
                                   conf_level=conf_level, source=f"{endpoint} landmark table")
        n_groups = d["landmark_bed_group"].nunique()
        if n_groups >= 2 and d["event"].any():
            lr = logrank_test(d["time_months"], d["event"], d["landmark_bed_group"],
                              source=f"{endpoint} landmark {landmark_months:g}")
            logrank = {"statistic": lr.statistic, "df": float(lr.df), "p_value": lr.p_value}
            try:
                cox = CoxModel(conf_level).fit(d, "time_months", "event", ["landmark_bed_group"],
                                               ph_test=False, source=f"{endpoint} landmark Cox")
            except InputError:
                cox = None
        hr = {} if cox is None else {
            str(c).split("[", 1)[1][:-1]: r for c, r in
            cox.coefficients_.set_index("covariate").iterrows()}
        for g, r in summary.iterrows():
            h = hr.get(str(g))
            ref = str(g) == str(d["landmark_bed_group"].cat.categories[0])
            rows.append({"group": str(g), "n": int(r["n"]), "events": int(r["events"]),
                         "median": r["median"], "median_lower": r["median_lower"],
                         "median_upper": r["median_upper"],
                         "hr": 1.0 if ref and cox is not None else (
                             math.nan if h is None else float(h["hr"])),
                         "hr_lower": math.nan if h is None else float(h["hr_lower"]),
                         "hr_upper": math.nan if h is None else float(h["hr_upper"]),
                         "hr_p_value": math.nan if h is None else float(h["p_value"])})
    table = pd.DataFrame(rows)
    return LandmarkResult(endpoint=endpoint, landmark_months=float(landmark_months),
                          n_landmark=len(d), n_excluded=len(data) - len(d), table=table,
                          logrank=logrank, cox=cox, data=d)


def landmark_table(results: Sequence[LandmarkResult]) -> pd.DataFrame:
    """Landmark analyses as one long table (columns :data:`LANDMARK_COLUMNS`)."""
    frames = []
    for r in results:
        t = r.table.copy()
        if t.empty:
            t = pd.DataFrame([{"group": "all", "n": 0, "events": 0}])
        t.insert(0, "landmark_months", r.landmark_months)
        t.insert(0, "endpoint", r.endpoint)
        t["logrank_statistic"] = r.logrank["statistic"]
        t["logrank_df"] = r.logrank["df"]
        t["logrank_p_value"] = r.logrank["p_value"]
        t["n_landmark"] = r.n_landmark
        t["n_excluded_before_landmark"] = r.n_excluded
        frames.append(t)
    return pd.concat(frames, ignore_index=True).reindex(columns=list(LANDMARK_COLUMNS))
