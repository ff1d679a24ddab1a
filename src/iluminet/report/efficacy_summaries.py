"""The efficacy report's summaries as styled HTML: the treatment given and the headline numbers.

They read the :class:`~iluminet.trial.efficacy.EfficacyResults` fields that the printed versions
(:func:`iluminet.report.trial_text.format_treatment_summary`, ``format_key_numbers``) read, and
compute nothing.
"""

from __future__ import annotations

import math

from pandas.io.formats.style import Styler

from iluminet.report.html import facts_table
from iluminet.trial.efficacy import ENDPOINTS, EfficacyResults

__all__ = ["key_numbers_table", "treatment_summary_table"]


def _months(median: float, lower: float, upper: float) -> str:
    def f(v: float) -> str:
        return "NR" if v is None or math.isnan(v) else f"{v:.1f}"

    return f"{f(median)} ({f(lower)}–{f(upper)})"


def treatment_summary_table(results: EfficacyResults) -> Styler:
    """Treatment given: step-1 completion and reasons for stopping, step 2, cycles, activity,
    duration and the delivered-BED groups."""
    t = results.treatment
    by_reason = t["stopped_before_step1_completed_by_reason"]
    reasons = ", ".join(f"{k} {v}" for k, v in by_reason.items())
    facts: list[tuple[str, object]] = [
        ("Treated patients", f"{t['treated']} of {t['enrolled']} enrolled"),
        ("Completed step 1 (cumulative kidney BED 27 ± 2 Gy)", t["step1_completed"]),
        ("Stopped before completing step 1",
         f"{t['stopped_before_step1_completed']} ({reasons or 'none'})"),
        ("Continued to step 2", t["step2"]),
        ("Cycles, median [min–max]",
         f"{t['cycles_median']:.0f} [{t['cycles_min']}–{t['cycles_max']}]"),
        ("More than four cycles", f"{t['more_than_four_cycles']} "
                                  f"({t['more_than_four_cycles_percent']:.0f} %)"),
        ("Total activity, median, GBq", f"{t['total_activity_gbq_median']:.1f}"),
        ("Treatment duration, median (max), weeks",
         f"{t['treatment_duration_weeks_median']:.0f} ({t['treatment_duration_weeks_max']:.0f})"),
    ]
    facts += [(f"Delivered kidney BED {group}", n) for group, n in t["bed_group"].items()]
    if t["bed_missing"]:
        facts.append(("Delivered kidney BED missing", t["bed_missing"]))
    return facts_table(facts, "Treatment given")


def key_numbers_table(results: EfficacyResults) -> Styler:
    """Analysis sets, median PFS/OS/TTP (months, 95 % CI; NR = not reached), landmark OS and the
    median follow-up (reverse Kaplan–Meier)."""
    c = results.counts
    facts: list[tuple[str, object]] = [
        ("Treated patients", f"{c['treated']} of {c['enrolled']} enrolled"),
        ("Evaluable for OS / PFS and TTP / response",
         f"{c['os_evaluable']} / {c['pfs_evaluable']} / {c['response_evaluable']}"),
        ("Not evaluable for response",
         f"{c['response_excluded_died_before_assessment']} died before assessment, "
         f"{c['response_excluded_protocol_deviation']} protocol deviation, "
         f"{c['response_excluded_not_assessed']} not assessed"),
    ]
    for endpoint in ENDPOINTS:
        m = results.median(endpoint)
        facts.append((f"Median {endpoint.upper()}, months (95 % CI)",
                      f"{_months(m['median'], m['lower'], m['upper'])}; n = {m['n']}, "
                      f"{m['events']} events"))
    lm = results.landmark_os
    facts.append((f"OS at {lm['months']:g} months, % (95 % CI)",
                  f"{100 * lm['surv']:.1f} ({100 * lm['lower']:.1f}–{100 * lm['upper']:.1f})"
                  if not math.isnan(lm["surv"]) else "not estimable"))
    fu = results.follow_up
    facts.append(("Median follow-up (reverse Kaplan–Meier), months (95 % CI)",
                  _months(fu["median"], fu["lower"], fu["upper"])))
    return facts_table(facts, "Key numbers")
