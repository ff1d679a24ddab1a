"""The synthetic trial over an ensemble of seeds: where the paper's value falls among the runs.

One seed is one draw of the model; a reader needs the model's spread to judge a "paper vs this
run" row. ``validation/paper_ensemble.py`` runs the generator (closed-form dosimetry, the default
model and the one with the published kidney spread) for seeds 1–50 and writes one row per seed
and spread to ``validation/paper_ensemble.csv`` (committed; columns are the quantities of
:data:`~iluminet.synthetic.trial.generator.PAPER` plus ``kidney dose per GBq, CV``). This module
computes the per-seed values (:func:`ensemble_row`) and summarises the table
(:func:`ensemble_summary`): median and 90 % range over seeds, the paper's value, its percentile
among the seeds and the row's provenance label.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iluminet.errors import InputError
from iluminet.synthetic.trial.generator import PAPER, PAPER_PROVENANCE, paper_comparison
from iluminet.trial.schema import Cohort
from iluminet.trial.tables import bed_group, delivered_bed_gy

__all__ = ["ENSEMBLE_CSV", "TREATMENT_QUANTITIES", "ensemble_row", "ensemble_summary",
           "format_ensemble", "format_kidney_spread", "kidney_dose_per_gbq_cv",
           "kidney_spread_comparison", "treatment_quantities"]

#: Committed output of ``validation/paper_ensemble.py`` (relative to the workbook root).
ENSEMBLE_CSV = Path("validation") / "paper_ensemble.csv"
DOSE_CV = "kidney dose per GBq, CV"
#: Quantities computed for both kidney spreads (the treatment flow and the BED split).
TREATMENT_QUANTITIES: tuple[str, ...] = (
    "cycles, median", "more than 4 cycles", "completed step 1", "continued to step 2",
    "delivered BED < 25 Gy", "delivered BED 25-29 Gy", "delivered BED > 29 Gy", DOSE_CV)


def kidney_dose_per_gbq_cv(cohort: Cohort) -> float:
    """Between-patient CV (%) of the patient-mean kidney dose per GBq (over the patient's
    cycles)."""
    c = cohort.cycles
    per = (c["kidney_dose_gy"] / (c["administered_activity_mbq"] / 1000.0)).groupby(
        c["patient_id"]).mean()
    return float(100.0 * per.std(ddof=1) / per.mean())


def treatment_quantities(cohort: Cohort) -> dict[str, float]:
    """:data:`TREATMENT_QUANTITIES` from the cohort tables alone (no efficacy analysis)."""
    c, ev = cohort.cycles, cohort.events
    n = c.groupby("patient_id")["cycle"].size()
    bed = bed_group(delivered_bed_gy(c)).value_counts()
    step2 = c[c["step"] == 2]["patient_id"].nunique()
    return {"cycles, median": float(n.median()), "more than 4 cycles": float((n > 4).sum()),
            "completed step 1": float(ev["step1_completed"].astype(bool).sum()),
            "continued to step 2": float(step2),
            "delivered BED < 25 Gy": float(bed.get("< 25 Gy", 0)),
            "delivered BED 25-29 Gy": float(bed.get("25–29 Gy", 0)),
            "delivered BED > 29 Gy": float(bed.get("> 29 Gy", 0)),
            DOSE_CV: kidney_dose_per_gbq_cv(cohort)}


def ensemble_row(cohort: Cohort, full: bool = True) -> dict[str, float]:
    """One seed's values: every "paper vs this run" quantity (``full``) or only
    :data:`TREATMENT_QUANTITIES`."""
    out: dict[str, float] = {}
    if full:
        comp = paper_comparison(cohort)
        out.update(dict(zip(comp["quantity"], comp["this_run"].astype(float), strict=True)))
    out.update(treatment_quantities(cohort))
    return out


def _read(path: str | Path | None) -> pd.DataFrame:
    if path is None:
        from iluminet.config.params import workbook_root

        path = Path(workbook_root()) / ENSEMBLE_CSV
    p = Path(path)
    if not p.is_file():
        raise InputError("file not found; run validation/paper_ensemble.py", source=str(p))
    table = pd.read_csv(p)
    for col in ("seed", "kidney_spread"):
        if col not in table.columns:
            raise InputError("missing column", source=str(p), field=col)
    return table


def ensemble_summary(path: str | Path | None = None, kidney_spread: str = "calibrated"
                     ) -> pd.DataFrame:
    """Per quantity: ``provenance``, ``parameters``, ``paper``, ``seeds``, ``median``, ``p05``,
    ``p95`` over seeds, ``paper_percentile`` (percent of seeds below the paper's value, ties
    counted half) and ``paper_in_90`` (the paper's value within the 90 % range)."""
    t = _read(path)
    t = t[t["kidney_spread"] == kidney_spread]
    rows = []
    for q, paper, unit in PAPER:
        if q not in t.columns:
            continue
        v = pd.to_numeric(t[q], errors="coerce").dropna().to_numpy(float)
        label, params = PAPER_PROVENANCE[q]
        row: dict[str, Any] = {"quantity": q, "unit": unit, "provenance": label,
                               "parameters": ", ".join(params), "paper": float(paper),
                               "seeds": int(v.size)}
        if v.size:
            p05, med, p95 = np.quantile(v, [0.05, 0.5, 0.95])
            row.update(median=float(med), p05=float(p05), p95=float(p95))
            if math.isnan(paper):
                row.update(paper_percentile=math.nan, paper_in_90=None,
                           percent_below_0_05=float(100.0 * np.mean(v < 0.05)))
            else:
                pct = 100.0 * (np.mean(v < paper) + 0.5 * np.mean(v == paper))
                row.update(paper_percentile=float(pct), paper_in_90=bool(p05 <= paper <= p95),
                           percent_below_0_05=math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def format_ensemble(summary: pd.DataFrame) -> str:
    """The ensemble table with fixed precision; for log-rank rows the percent of seeds with
    p < 0.05 replaces the paper's percentile."""
    lines = [f"{'quantity':<38} {'label':<10} {'paper':>6} {'median':>7} {'90 % range':>15} "
             f"{'paper at':>9}"]
    for _, r in summary.iterrows():
        paper = "sig." if math.isnan(r["paper"]) else f"{r['paper']:.0f}"
        dec = 3 if str(r["quantity"]).startswith("log-rank") else 1
        rng = f"{r['p05']:.{dec}f}–{r['p95']:.{dec}f}"
        where = (f"{r['percent_below_0_05']:.0f}% sig" if math.isnan(r["paper"])
                 else f"{r['paper_percentile']:.0f}th" + ("" if r["paper_in_90"] else " !"))
        lines.append(f"{r['quantity']:<38} {r['provenance']:<10} {paper:>6} "
                     f"{r['median']:>7.{dec}f} {rng:>15} {where:>9}")
    return "\n".join(lines)


def kidney_spread_comparison(path: str | Path | None = None) -> pd.DataFrame:
    """Median and 90 % range over seeds of :data:`TREATMENT_QUANTITIES` for the calibrated and
    the published kidney spread, beside the paper."""
    t = _read(path)
    paper = {q: v for q, v, _ in PAPER}
    rows = []
    for q in TREATMENT_QUANTITIES:
        row: dict[str, Any] = {"quantity": q, "paper": paper.get(q, math.nan)}
        for spread in ("calibrated", "published"):
            v = pd.to_numeric(t.loc[t["kidney_spread"] == spread, q], errors="coerce").dropna()
            p05, med, p95 = np.quantile(v.to_numpy(float), [0.05, 0.5, 0.95]) if len(v) else (
                math.nan, math.nan, math.nan)
            row.update({f"{spread}_median": med, f"{spread}_p05": p05, f"{spread}_p95": p95})
        rows.append(row)
    return pd.DataFrame(rows)


def format_kidney_spread(table: pd.DataFrame) -> str:
    """The two kidney spreads side by side (median [90 % range] over seeds)."""
    lines = [f"{'quantity':<26} {'paper':>6}  {'calibrated spread':>20}  {'published spread':>20}"]
    for _, r in table.iterrows():
        paper = "" if math.isnan(r["paper"]) else f"{r['paper']:.0f}"
        cells = [f"{r[f'{s}_median']:.1f} [{r[f'{s}_p05']:.1f}–{r[f'{s}_p95']:.1f}]"
                 for s in ("calibrated", "published")]
        lines.append(f"{r['quantity']:<26} {paper:>6}  {cells[0]:>20}  {cells[1]:>20}")
    return "\n".join(lines)
