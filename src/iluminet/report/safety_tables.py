"""The safety report's summaries as styled HTML: paper vs this run, treatment terminated for
toxicity, step 2, late haematological malignancies and renal function.

Each table reads the :class:`~iluminet.trial.safety.SafetyResults` fields that the printed
version in :mod:`iluminet.report.trial_text` reads, and computes nothing.
"""

from __future__ import annotations

import pandas as pd
from pandas.io.formats.style import Styler

from iluminet.report.html import facts_table, styled_table
from iluminet.trial.safety import SafetyResults

__all__ = ["gfr_by_bed_table", "gfr_categories_table", "creatinine_table",
           "malignancies_table", "paper_comparison_table", "renal_paper_table",
           "step2_table", "terminations_table"]

#: Renal figures of the paper, in words (key of ``SafetyResults.renal_paper``).
RENAL_FIGURE_LABELS = {
    "gfr_over_60_baseline_pct": "GFR > 60 ml/min at baseline, % of treated",
    "gfr_over_60_after_pct": "GFR > 60 ml/min after treatment, %",
    "gfr_30_60_baseline_pct": "GFR 30–60 ml/min at baseline, %",
    "gfr_30_60_after_pct": "GFR 30–60 ml/min after treatment, %",
    "gfr_after_n": "Patients with a GFR after treatment",
    "gfr_after_median_months": "Last GFR after treatment, median months from inclusion",
    "creatinine_grade1_baseline_pct": "Creatinine grade 1 at baseline, %",
    "creatinine_grade1_36m_pct": "Creatinine grade 1 at 36 months, %",
}


def _n_pct(n: pd.Series, pct: pd.Series) -> list[str]:
    return [f"{int(a)} ({b:.1f})" for a, b in zip(n, pct, strict=True)]


def paper_comparison_table(results: SafetyResults) -> Styler:
    """Table 2 rows, the paper's counts beside this run's: n (%) of the treated patients."""
    c = results.paper_table2
    frame = pd.DataFrame({
        "period": c["period"].str.capitalize(), "label": c["label"],
        "paper_all": _n_pct(c["paper_n_all"], c["paper_pct_all"]),
        "run_all": _n_pct(c["run_n_all"], c["run_pct_all"]),
        "paper_g34": _n_pct(c["paper_n_grade3_4"], c["paper_pct_grade3_4"]),
        "run_g34": _n_pct(c["run_n_grade3_4"], c["run_pct_grade3_4"]),
    })
    return styled_table(frame, {
        "period": ("Period", ""), "label": ("Adverse event", ""),
        "paper_all": ("Paper, all grades, n (%)", ""),
        "run_all": ("This run, all grades, n (%)", ""),
        "paper_g34": ("Paper, grade 3–4, n (%)", ""), "run_g34": ("This run, grade 3–4, n (%)", ""),
    }, caption=f"Paper vs this run (counting: {results.parameters.counting})",
        text_columns=("period", "label"), uuid="papervsrun")


def renal_paper_table(results: SafetyResults) -> Styler:
    """The paper's renal figures beside this run's."""
    r = results.renal_paper.copy()
    r["figure"] = [RENAL_FIGURE_LABELS.get(str(f), str(f)) for f in r["figure"]]
    return styled_table(r, {"figure": ("Renal figure", ""), "paper": ("Paper", "{:.1f}"),
                            "run": ("This run", "{:.1f}")},
                        caption="Renal function, paper vs this run", text_columns=("figure",),
                        uuid="renalpaper")


def terminations_table(results: SafetyResults) -> Styler:
    """Patients whose treatment was terminated for toxicity, by pattern of haematological AEs."""
    p = results.termination_patterns()
    return styled_table(p, {"pattern": ("Pattern of haematological toxicity", ""),
                            "n": ("Patients", "{:d}")},
                        caption=f"Treatment terminated for toxicity: {len(results.terminations)} "
                                "patients", text_columns=("pattern",), uuid="terminations")


def step2_table(results: SafetyResults) -> Styler:
    """Step 2 in figures: entered, completed, and among the completers AEs and renal function."""
    s = results.step2_summary
    return facts_table([
        ("Entered step 2", s["n_entered_step2"]),
        ("Completed step 2", s["n_completed_step2"]),
        ("Completers with a grade 3–4 AE, early period", s["n_grade3_4_early"]),
        ("Completers with a grade 3–4 AE, late period", s["n_grade3_4_late"]),
        ("Completers with baseline GFR > 60 ml/min", s["n_baseline_gfr_over_60"]),
        ("Completers with last GFR > 60 ml/min", s["n_last_gfr_over_60"]),
        ("Completers with last GFR 30–60 ml/min", s["n_last_gfr_30_60"]),
        ("Median follow-up of the completers, months", f"{s['median_follow_up_months']:.1f}"),
    ], caption="Step 2 (cumulative kidney BED up to 40 Gy)")


def malignancies_table(results: SafetyResults) -> Styler:
    """Late haematological malignancies, one row per patient."""
    m = results.malignancies.copy()
    m["term"] = m["term"].astype(str).str.replace("_", " ").str.capitalize()
    m["origin"] = m["origin"].astype(str).str.replace("_", " ")
    return styled_table(m, {
        "patient_id": ("Patient", ""), "term": ("Malignancy", ""),
        "years_after_first_cycle": ("Years after the first cycle", "{:.1f}"),
        "age_years": ("Age, years", "{:.0f}"), "origin": ("Primary tumour", ""),
        "n_cycles": ("Cycles", "{:d}"),
    }, caption=f"Late haematological malignancies: {len(m)}",
        text_columns=("patient_id", "term", "origin"), uuid="malignancies")


def gfr_categories_table(results: SafetyResults) -> Styler:
    """GFR categories at baseline and at the last value after treatment, n (%)."""
    g = results.gfr_categories
    s = results.gfr_summary
    frame = pd.DataFrame({"category": g["category"],
                          "baseline": _n_pct(g["n_baseline"], g["pct_baseline"]),
                          "after": _n_pct(g["n_after"], g["pct_after"])})
    return styled_table(frame, {
        "category": ("GFR, ml/min", ""),
        "baseline": (f"Baseline (n = {s['n_baseline']}), n (%)", ""),
        "after": (f"Last after treatment (n = {s['n_after']}), n (%)", ""),
    }, caption=f"GFR ({results.parameters.gfr_test}) categories; the last value is at a median "
               f"{s['after_median_months_from_inclusion']:.1f} months from inclusion",
        text_columns=("category",), uuid="gfrcategories")


def creatinine_table(results: SafetyResults) -> Styler:
    """Creatinine CTCAE grade by months from inclusion (ULN criterion, as the paper), with the
    share of grade ≥ 1 under the baseline criterion beside it."""
    c = results.creatinine_by_year.copy()
    c["n_grade3_4"] = c["n_grade3"] + c["n_grade4"]
    return styled_table(c, {
        "months": ("Months from inclusion", "{:d}"), "n": ("Patients", "{:d}"),
        "median_creatinine_umol_l": ("Median creatinine, µmol/l", "{:.0f}"),
        "pct_grade1": ("Grade 1, %", "{:.1f}"), "pct_grade_ge1": ("Grade ≥ 1, %", "{:.1f}"),
        "n_grade3_4": ("Grade ≥ 3, n", "{:d}"),
        "pct_grade_ge1_with_baseline": ("Grade ≥ 1 by the baseline criterion, %", "{:.1f}"),
    }, caption="Creatinine grade by months from inclusion (ULN criterion, as the paper)",
        uuid="creatinine")


def gfr_by_bed_table(results: SafetyResults) -> Styler:
    """GFR by delivered kidney-BED group: median change from baseline per year and eGFR slope."""
    g = results.gfr_by_bed_group.copy()
    years = [y for y in results.parameters.renal_years if y > 0]
    columns: dict[str, tuple[str, str]] = {
        "bed_group": ("Delivered kidney BED", ""), "n": ("Patients", "{:d}"),
        "median_delivered_bed_gy": ("Median BED, Gy", "{:.1f}"),
        "median_baseline_gfr": ("Median baseline GFR, ml/min", "{:.0f}"),
    }
    for y in years:
        g[f"year{y}"] = [f"{c:+.1f} (n {int(n)})" if pd.notna(c) else "—"
                         for c, n in zip(g[f"median_change_pct_year{y}"], g[f"n_year{y}"],
                                         strict=True)]
        columns[f"year{y}"] = (f"Year {y}: median change, %", "")
    columns["median_egfr_slope_per_year"] = ("Median eGFR slope, ml/min per year", "{:+.2f}")
    return styled_table(g, columns, caption="GFR by delivered kidney BED",
                        text_columns=("bed_group",), uuid="gfrbybed")
