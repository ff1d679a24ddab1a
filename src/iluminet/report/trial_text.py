"""Printed summaries of the cohort analyses with fixed precision (plain text: stable for nbval).

The efficacy and safety modules compute; this module only turns their results into text. The
styled HTML versions of the same tables are in :mod:`iluminet.report.trial_tables`.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from iluminet.config.models import Counting
from iluminet.report.data_source import cohort_source
from iluminet.trial.efficacy import ENDPOINTS, EfficacyResults
from iluminet.trial.safety import SafetyResults
from iluminet.trial.tables import format_table

__all__ = ["describe_cohort_source", "format_key_numbers", "format_logrank",
           "format_malignancies", "format_paper_comparison", "format_renal", "format_responses",
           "format_step2", "format_survival", "format_table2", "format_terminations",
           "format_time_to_max_response", "format_treatment_summary"]



def _ci(median: float, lower: float, upper: float, decimals: int = 1) -> str:
    def f(v: float) -> str:
        return "NR" if v is None or math.isnan(v) else f"{v:.{decimals}f}"

    return f"{f(median)} ({f(lower)}–{f(upper)})"


def describe_cohort_source(folder: str | Path) -> str:
    """One line saying where the cohort comes from, in capitals when it is synthetic
    (the marks are those of :func:`iluminet.report.data_source.cohort_source`)."""
    source = cohort_source(folder)
    if source.synthetic:
        seed = "" if source.seed is None else f" (seed {source.seed})"
        return f"SYNTHETIC DATA{seed}: {source.description}"
    return source.description


def format_key_numbers(results: EfficacyResults) -> str:
    """The headline numbers: analysis sets, median PFS/OS/TTP with 95 % CI, landmark OS, follow-up
    (months, one decimal; "NR" = not reached)."""
    c = results.counts
    lines = [(f"treated {c['treated']} of {c['enrolled']} enrolled; evaluable: "
              f"OS {c['os_evaluable']}, "
             f"PFS/TTP {c['pfs_evaluable']}, response {c['response_evaluable']} "
             f"(excluded: {c['response_excluded_died_before_assessment']} died before assessment, "
             f"{c['response_excluded_protocol_deviation']} protocol deviation, "
             f"{c['response_excluded_not_assessed']} not assessed)")]
    for endpoint in ENDPOINTS:
        m = results.median(endpoint)
        lines.append(f"median {endpoint.upper()}: {_ci(m['median'], m['lower'], m['upper'])} "
                     f"months (n = {m['n']}, {m['events']} events)")
    lm = results.landmark_os
    lines.append(f"OS at {lm['months']:g} months: {100 * lm['surv']:.1f} % "
                 f"({100 * lm['lower']:.1f}–{100 * lm['upper']:.1f})"
                 if not math.isnan(lm["surv"]) else f"OS at {lm['months']:g} months: not estimable")
    fu = results.follow_up
    lines.append(f"median follow-up (reverse KM): {_ci(fu['median'], fu['lower'], fu['upper'])} "
                 "months")
    return "\n".join(lines)


def format_responses(table: pd.DataFrame) -> str:
    """A response table (:func:`iluminet.trial.proportions.proportion_table`) as
    fixed-precision text."""
    if table.empty:
        return "no response-evaluable patient"
    cols = ["count", "n", "percent", "wald_lower", "wald_upper", "wilson_lower", "wilson_upper",
            "clopper_pearson_lower", "clopper_pearson_upper", "paper"]
    return format_table(table[cols].reset_index(), decimals=2)


def format_survival(results: EfficacyResults, endpoint: str | None = None) -> str:
    """Survival table (months; landmark survival in percent), one decimal."""
    s = results.survival if endpoint is None else results.survival[
        results.survival["endpoint"] == endpoint]
    s = s.copy()
    for col in ("surv_landmark", "surv_landmark_lower", "surv_landmark_upper"):
        s[col] = 100.0 * s[col]
    cols = ["endpoint", "grouping", "group", "n", "events", "median", "median_lower",
            "median_upper", "surv_landmark", "surv_landmark_lower", "surv_landmark_upper"]
    return format_table(s[cols], decimals=1)


def format_logrank(results: EfficacyResults) -> str:
    """Log-rank tests: chi-square (2 decimals), df and p (4 decimals)."""
    lr = results.logrank.copy()
    lr["statistic"] = lr["statistic"].map(lambda v: f"{v:.2f}")
    lr["p_value"] = lr["p_value"].map(lambda v: f"{v:.4f}")
    return lr.to_string(index=False)


def format_time_to_max_response(results: EfficacyResults) -> str:
    """Median time to maximum response (months) with CI, overall and by BED group."""
    return format_table(results.time_to_max_response, decimals=1)


def format_treatment_summary(results: EfficacyResults) -> str:
    """Treatment given: step-1 completion, reasons for stopping, step 2, cycles, BED groups."""
    t = results.treatment
    by_reason = t["stopped_before_step1_completed_by_reason"]
    reasons = ", ".join(f"{k} {v}" for k, v in by_reason.items())
    bed = ", ".join(f"{k}: {v}" for k, v in t["bed_group"].items())
    return "\n".join([
        f"treated: {t['treated']} of {t['enrolled']} enrolled",
        (f"completed step 1: {t['step1_completed']}; stopped before: "
        f"{t['stopped_before_step1_completed']} ({reasons or 'none'})"),
        f"continued to step 2: {t['step2']}",
        (f"cycles: median {t['cycles_median']:.0f} [{t['cycles_min']}–{t['cycles_max']}]; "
        f"more than four: {t['more_than_four_cycles']} "
        f"({t['more_than_four_cycles_percent']:.0f} %)"),
        (f"total activity: median {t['total_activity_gbq_median']:.1f} GBq; treatment duration: "
        f"median {t['treatment_duration_weeks_median']:.0f} weeks "
        f"(max {t['treatment_duration_weeks_max']:.0f})"),
        f"delivered BED groups: {bed}" + (f"; missing BED: {t['bed_missing']}"
                                          if t["bed_missing"] else ""),
    ])





def format_table2(results: SafetyResults, counting: Counting | None = None) -> str:
    """Table 2 as fixed-precision text, laid out as the paper (n (%) per column)."""
    t = results.table2_any if (counting or results.parameters.counting) == "any" \
        else results.table2_worsening
    basis = "" if not len(t) else ("any grade during the period" if t["counting"].iloc[0] == "any"
                                   else "worsening from baseline")
    lines = [f"Table 2 — adverse events, patients by worst grade "
             f"({basis}; n = {results.n_treated} treated)" if len(t)
             else "Table 2 — no adverse events"]
    for period in ("early", "late"):
        for category in ("clinical", "laboratory"):
            rows = t[(t["period"] == period) & (t["category"] == category)]
            lines.append(f"\n{period.capitalize()} — {category} AE"
                         f"{'':<{33 - len(period) - len(category)}}all grades    grade 3–4")
            for _, r in rows.iterrows():
                g34 = (f"{r['n_grade3_4']:3d} ({r['pct_grade3_4']:4.1f})" if r["n_grade3_4"]
                       else "   -")
                mark = "" if r["in_paper"] else " *"
                lines.append(f"  {r['label'] + mark:<38}{r['n_all']:3d} ({r['pct_all']:4.1f})"
                             f"   {g34}")
    lines.append("\n* not a row of the paper's Table 2")
    return "\n".join(lines)


def format_table2_creatinine_criteria(results: SafetyResults) -> str:
    """The primary Table 2 with creatinine graded by the ULN alone (the paper's reading, the
    default) and by ULN or baseline (CTCAE), side by side; rows that differ are marked ``<``."""
    t = results.table2_creatinine_criteria
    if not len(t):
        return "Table 2 by creatinine criterion — no adverse events"
    chosen = results.parameters.creatinine_criterion
    lines = [f"Table 2 by creatinine criterion (counting: {t['counting'].iloc[0]}; "
             f"n = {results.n_treated} treated; this run's criterion: {chosen})",
             f"{'':<44}{'ULN only':^22}{'ULN or baseline':^22}",
             f"{'':<44}{'all':>10}{'3–4':>10}  {'all':>10}{'3–4':>10}"]
    for period in ("early", "late"):
        rows = t[t["period"] == period]
        if not len(rows):
            continue
        lines.append(f"{period.capitalize()}")
        for _, r in rows.iterrows():
            cells = []
            for c in ("uln", "uln_and_baseline"):
                cells.append(f"{r[f'n_all_{c}']:4d} ({r[f'pct_all_{c}']:4.1f})"
                             f"{r[f'n_grade3_4_{c}']:8d}")
            mark = " <" if r["differs"] else ""
            lines.append(f"  {r['category'][:3]}  {r['label']:<37}{cells[0]}  {cells[1]}{mark}")
    n_diff = int(t["differs"].sum())
    lines.append(f"\n< the two criteria differ ({n_diff} row(s); only creatinine-graded rows can)")
    return "\n".join(lines)


def format_paper_comparison(results: SafetyResults) -> str:
    """Paper vs this run, Table 2 rows and renal figures."""
    c = results.paper_table2
    header = (f"{'period':<6} {'AE':<26}{'paper all':>14}{'run all':>14}{'paper 3–4':>12}"
              f"{'run 3–4':>12}")
    lines = [f"Paper vs this run (counting: {results.parameters.counting}), n (%) of treated",
             header]
    for _, r in c.iterrows():
        lines.append(f"{r['period']:<6} {r['label']:<26}"
                     f"{r['paper_n_all']:4d} ({r['paper_pct_all']:4.1f}%)"
                     f"{r['run_n_all']:4d} ({r['run_pct_all']:4.1f}%)"
                     f"{r['paper_n_grade3_4']:5d} ({r['paper_pct_grade3_4']:3.1f}%)"
                     f"{r['run_n_grade3_4']:4d} ({r['run_pct_grade3_4']:3.1f}%)")
    lines.append("")
    for _, r in results.renal_paper.iterrows():
        lines.append(f"{r['figure']:<34} paper {r['paper']:6.1f}   run {r['run']:6.1f}")
    return "\n".join(lines)


def format_renal(results: SafetyResults) -> str:
    """GFR categories, creatinine grades by year and GFR by delivered-BED group."""
    p = results.parameters
    s = results.gfr_summary
    title = (f"GFR ({p.gfr_test}) categories: baseline (n = {s['n_baseline']}) vs last value "
             f"after treatment (n = {s['n_after']}, median "
             f"{s['after_median_months_from_inclusion']:.1f} months from inclusion)")
    lines = [title]
    for _, r in results.gfr_categories.iterrows():
        lines.append(f"  {r['category']:<6} {r['n_baseline']:3d} ({r['pct_baseline']:5.1f}%)   "
                     f"{r['n_after']:3d} ({r['pct_after']:5.1f}%)")
    lines.append("\nCreatinine grade (ULN criterion, as the paper) by months from inclusion")
    for _, r in results.creatinine_by_year.iterrows():
        lines.append(f"  {int(r['months']):3d} months: n = {int(r['n']):3d}, grade 1 "
                     f"{r['pct_grade1']:5.1f}%, grade ≥ 1 {r['pct_grade_ge1']:5.1f}%, grade ≥ 3 "
                     f"{int(r['n_grade3'] + r['n_grade4']):d}; with baseline criterion grade ≥ 1 "
                     f"{r['pct_grade_ge1_with_baseline']:5.1f}%")
    lines.append("\nGFR by delivered kidney BED")
    years = [y for y in p.renal_years if y > 0]
    for _, r in results.gfr_by_bed_group.iterrows():
        parts = ", ".join(f"y{y} {r[f'median_change_pct_year{y}']:+5.1f}% (n {r[f'n_year{y}']})"
                          for y in years)
        lines.append(f"  {r['bed_group']:<10} n = {r['n']:2d}, "
                     f"BED {r['median_delivered_bed_gy']:4.1f} Gy, "
                     f"baseline {r['median_baseline_gfr']:5.1f}; {parts}; eGFR slope "
                     f"{r['median_egfr_slope_per_year']:+5.2f}/year")
    return "\n".join(lines)


def format_terminations(results: SafetyResults) -> str:
    t = results.terminations
    lines = [f"Treatment terminated for toxicity: {len(t)} patients"]
    for _, r in results.termination_patterns().iterrows():
        lines.append(f"  {r['pattern']:<46} {int(r['n']):3d}")
    if len(t):
        lines.append("  cycles received: " + ", ".join(
            f"{k}: {v}" for k, v in t["n_cycles"].value_counts().sort_index().items()))
    return "\n".join(lines)


def format_step2(results: SafetyResults) -> str:
    s = results.step2_summary
    return (f"Step 2: {s['n_entered_step2']} entered, {s['n_completed_step2']} completed; among "
            f"the completers: grade 3–4 AE early {s['n_grade3_4_early']}, late "
            f"{s['n_grade3_4_late']}; baseline GFR > 60: {s['n_baseline_gfr_over_60']}; last GFR "
            f"> 60: {s['n_last_gfr_over_60']}, 30–60: {s['n_last_gfr_30_60']}; median follow-up "
            f"{s['median_follow_up_months']:.1f} months")


def format_malignancies(results: SafetyResults) -> str:
    m = results.malignancies
    lines = [f"Late haematological malignancies: {len(m)}"]
    for _, r in m.iterrows():
        lines.append(f"  {r['patient_id']}: {r['term']}, {r['years_after_first_cycle']:.1f} years "
                     f"after the first cycle; age {r['age_years']:.0f}, {r['origin']}, "
                     f"{int(r['n_cycles'])} cycles")
    return "\n".join(lines)

