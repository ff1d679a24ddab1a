"""Cohort tables as styled HTML (pandas ``Styler``): Table 1 and Table 3 in the paper's layout
(one block per characteristic, its levels beneath), the response tables, a one-screen survival
summary (the full table is linked as CSV) and the log-rank tests with p-values as a paper prints
them ("p < 0.001").

The printed, fixed-precision versions compared by nbval are in :mod:`iluminet.report.trial_text`;
both read the same result objects and compute nothing.
"""

from __future__ import annotations

import math

import pandas as pd
from pandas.io.formats.style import Styler

from iluminet.config.models import Counting
from iluminet.report.html import TABLE_CSS, Html, escape, styled_table
from iluminet.report.palette import GROUP_TITLES, format_p, ordered_levels
from iluminet.trial.efficacy import EfficacyResults
from iluminet.trial.safety import SafetyResults

__all__ = ["characteristics_table", "csv_link", "logrank_table", "response_table",
           "survival_summary_table", "table2_table", "time_to_max_response_table"]

_ENDPOINT_NAMES = {"pfs": "PFS", "os": "OS", "ttp": "TTP"}
_GROUP_HEADING = ("text-align: left; vertical-align: top; background: #f7f9fb; "
                  "border-bottom: 1px solid #c9d1da;")


def characteristics_table(table: pd.DataFrame, caption: str) -> Styler:
    """Table 1 or Table 3 (:func:`iluminet.trial.tables.table1` / ``table3``) laid out as the
    paper: the characteristic once, spanning its levels; the cells as printed there
    ("67 [35–84]", "54 (56)")."""
    t = table.copy()
    t["level"] = t["level"].fillna("").astype(str)
    t = t.set_index(["variable", "level"])
    t.index.names = [None, None]
    styler = t.style.set_table_styles([
        *TABLE_CSS,
        {"selector": "th.row_heading.level0", "props": _GROUP_HEADING},
        {"selector": "th.row_heading.level1", "props": "text-align: left; font-weight: normal; "
                                                      "background: white; padding-left: 1.2em; "
                                                      "border-bottom: 1px solid #e3e7ec;"},
        {"selector": "td", "props": "text-align: center;"},
    ]).set_caption(caption)
    return styler.set_uuid(_uuid(caption))


def _uuid(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())[:24] or "table"


def response_table(table: pd.DataFrame, caption: str) -> Styler:
    """A response table (:func:`iluminet.trial.proportions.proportion_table`): count, percent
    and the Wald interval as the paper prints it, Wilson and Clopper–Pearson as sensitivity."""
    t = table.reset_index().copy()
    for method in ("wilson", "clopper_pearson"):
        t[method] = [f"{lo:.1f}–{hi:.1f}" for lo, hi in zip(t[f"{method}_lower"],
                                                          t[f"{method}_upper"], strict=True)]
    return styled_table(t, {
        "category": ("Response", ""),
        "count": ("Patients", "{:d}"),
        "n": ("Evaluable", "{:d}"),
        "paper": ("Percent (Wald 95 % CI), as the paper", ""),
        "wilson": ("Wilson 95 % CI (%)", ""),
        "clopper_pearson": ("Clopper–Pearson 95 % CI (%)", ""),
    }, caption=caption, text_columns=("category",), uuid=_uuid(caption))


def _months(median: float, lower: float, upper: float) -> str:
    def f(v: float) -> str:
        return "NR" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"

    return f"{f(median)} ({f(lower)}–{f(upper)})"


def survival_summary_table(results: EfficacyResults) -> Styler:
    """Median PFS, OS and TTP (months, 95 % CI; NR = not reached) and landmark OS per group, one
    row per group level, groups in natural order with the log-rank p-value in the group header.
    The full table (every endpoint, landmark intervals) is ``survival.csv``."""
    s = results.survival
    landmark = float(s["landmark_months"].iloc[0]) if len(s) else math.nan
    rows = []
    for grouping in dict.fromkeys(s["grouping"]):
        key = None if grouping == "all" else str(grouping)
        part = s[s["grouping"] == grouping]
        p_text = []
        for endpoint in _ENDPOINT_NAMES:
            lr = results.logrank[(results.logrank["endpoint"] == endpoint)
                                 & (results.logrank["grouping"] == grouping)]
            if not lr.empty:
                p_text.append(f"{_ENDPOINT_NAMES[endpoint]} {format_p(lr['p_value'].iloc[0])}")
        title = GROUP_TITLES.get(key, str(grouping))
        levels = ordered_levels(key, part["group"]) if key else list(dict.fromkeys(part["group"]))
        for level in levels:
            row: dict[str, str] = {"grouping": title,
                                   "group": "all" if key is None else str(level),
                                   "logrank": "; ".join(p_text) if level == levels[0] else ""}
            for endpoint, name in _ENDPOINT_NAMES.items():
                hit = part[(part["endpoint"] == endpoint) & (part["group"] == level)]
                if hit.empty:
                    row[name] = "—"
                    continue
                r = hit.iloc[0]
                row[name] = _months(r["median"], r["median_lower"], r["median_upper"])
                if endpoint == "pfs":
                    row["n"] = f"{int(r['n'])}"
                if endpoint == "os":
                    surv = r["surv_landmark"]
                    row["landmark"] = "—" if math.isnan(surv) else (
                        f"{100 * surv:.0f} ({100 * r['surv_landmark_lower']:.0f}–"
                        f"{100 * r['surv_landmark_upper']:.0f})")
            rows.append(row)
    t = pd.DataFrame(rows).set_index(["grouping", "group"])
    t.index.names = [None, None]
    t = t[[c for c in ("n", "PFS", "OS", "TTP", "landmark", "logrank") if c in t.columns]]
    t.columns = [{"n": "n (PFS set)", "PFS": "Median PFS, months (95 % CI)",
                  "OS": "Median OS, months (95 % CI)", "TTP": "Median TTP, months (95 % CI)",
                  "landmark": f"OS at {landmark:g} months, % (95 % CI)",
                  "logrank": "Log-rank test"}[c] for c in t.columns]
    return t.style.set_table_styles([
        *TABLE_CSS,
        {"selector": "th.row_heading.level0", "props": _GROUP_HEADING},
        {"selector": "th.row_heading.level1", "props": "text-align: left; font-weight: normal; "
                                                      "background: white; "
                                                      "border-bottom: 1px solid #e3e7ec;"},
        {"selector": "td", "props": "text-align: right; white-space: nowrap;"},
    ]).set_caption("Survival by group (Kaplan–Meier, R's log interval)").set_uuid("survival")


def logrank_table(results: EfficacyResults) -> Styler:
    """Log-rank tests: χ², degrees of freedom, p ("p < 0.001") and patients compared."""
    t = results.logrank.copy()
    t["endpoint"] = t["endpoint"].map(_ENDPOINT_NAMES).fillna(t["endpoint"])
    t["grouping"] = t["grouping"].map(lambda g: GROUP_TITLES.get(g, g))
    t["p"] = t["p_value"].map(format_p)
    return styled_table(t, {
        "endpoint": ("Endpoint", ""), "grouping": ("Compared by", ""),
        "statistic": ("χ²", "{:.2f}"), "df": ("df", "{:d}"), "p": ("p-value", ""),
        "n": ("Patients", "{:d}"),
    }, caption="Log-rank tests (R survdiff)", text_columns=("endpoint", "grouping"),
        uuid="logrank")


def time_to_max_response_table(results: EfficacyResults) -> Styler:
    """Median time to maximum response (months) with its interval and range, by BED group."""
    t = results.time_to_max_response.copy()
    return styled_table(t, {
        "group": ("Delivered kidney BED", ""), "n": ("Patients", "{:d}"),
        "median": ("Median (months)", "{:.1f}"), "lower": ("95 % CI lower", "{:.1f}"),
        "upper": ("95 % CI upper", "{:.1f}"), "min": ("Min", "{:.1f}"), "max": ("Max", "{:.1f}"),
    }, caption="Time to maximum response", text_columns=("group",), uuid="ttmr")


def table2_table(results: SafetyResults, counting: Counting | None = None) -> Styler:
    """Table 2 as the paper: per period and AE category, patients by worst grade, n (%), all
    grades and grade 3–4; rows that are not in the paper's table marked *."""
    t = results.table2_any if (counting or results.parameters.counting) == "any" \
        else results.table2_worsening
    rows = []
    for period in ("early", "late"):
        for category in ("clinical", "laboratory"):
            part = t[(t["period"] == period) & (t["category"] == category)]
            for _, r in part.iterrows():
                rows.append({
                    "block": f"{period.capitalize()} — {category} AE",
                    "term": r["label"] + ("" if r["in_paper"] else " *"),
                    "all": f"{r['n_all']} ({r['pct_all']:.1f})",
                    "g34": f"{r['n_grade3_4']} ({r['pct_grade3_4']:.1f})"
                    if r["n_grade3_4"] else "—",
                })
    frame = pd.DataFrame(rows, columns=["block", "term", "all", "g34"]).set_index(
        ["block", "term"])
    frame.index.names = [None, None]
    frame.columns = ["All grades, n (%)", "Grade 3–4, n (%)"]
    basis = "any grade during the period" if (counting or results.parameters.counting) == "any" \
        else "worsening from baseline"
    return frame.style.set_table_styles([
        *TABLE_CSS,
        {"selector": "th.row_heading.level0", "props": _GROUP_HEADING},
        {"selector": "th.row_heading.level1", "props": "text-align: left; font-weight: normal; "
                                                      "background: white; "
                                                      "border-bottom: 1px solid #e3e7ec;"},
        {"selector": "td", "props": "text-align: right;"},
    ]).set_caption(f"Table 2 · Adverse events, patients by worst grade ({basis}; "
                   f"n = {results.n_treated} treated; * not a row of the paper's table)"
                   ).set_uuid(f"table2{basis[:3]}")


def csv_link(name: str, label: str = "") -> Html:
    """A link to a CSV written next to the report (same folder)."""
    return Html(f"<p>Full table: <a href='{escape(name)}'>{escape(label or name)}</a> (CSV)</p>")
