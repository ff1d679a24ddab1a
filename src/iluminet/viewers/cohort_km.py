"""Cohort explorer: Kaplan–Meier curves of PFS, OS or TTP stratified by any baseline column, with
the at-risk table, per-group medians and the log-rank p-value.

Curves, medians and the test come from :mod:`iluminet.trial.survival` (R's ``survfit`` and
``survdiff`` rules) on the per-patient endpoint table of
:func:`iluminet.trial.efficacy.efficacy_analysis`, so the grouped results shown for the paper's
groupings are those of notebook 04. The analysis set is the endpoint's (every treated patient for
OS, the PFS-evaluable set for PFS and TTP); patients with a missing stratification value are left
out of that comparison only, as in the efficacy analysis.

Stratification of a column
--------------------------
* categorical, boolean or numeric columns with at most ``max_groups`` distinct values are used
  as they are (category order kept);
* other numeric columns are split at the median of the analysis set: ``< m`` and ``≥ m``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from iluminet.errors import InputError
from iluminet.report.palette import GROUP_TITLES, OVERALL_COLOUR, format_p, group_colours
from iluminet.trial.efficacy import GROUPINGS, EfficacyResults, analysis_set
from iluminet.trial.survival import LogRankResult, logrank_test, plot_kaplan_meier, survival_summary

#: columns of the endpoint table that are outcomes or bookkeeping, never a baseline stratum.
NOT_BASELINE = ("patient_id", "inclusion_date", "diagnosis_date", "treated", "os_months",
                "os_event", "pfs_months", "pfs_event", "ttp_months", "ttp_event", "pfs_evaluable",
                "response_exclusion", "response_evaluable", "n_post_assessments",
                "response_reference_date", "response_after_step1", "response_assessment_date",
                "response_fallback", "best_overall_response", "time_to_max_response_months",
                "best_pct_change")
MAX_GROUPS = 6


def stratification_options(results: EfficacyResults, max_groups: int = MAX_GROUPS
                            ) -> list[tuple[str, str | None]]:
    """``(label, column)`` choices: none, the paper's groupings, then every other baseline column
    that can be stratified (categorical with ≤ ``max_groups`` levels, or numeric)."""
    options: list[tuple[str, str | None]] = [("none (all patients)", None)]
    options += [(label, column) for column, label in GROUPINGS.items() if column is not None]
    taken = {c for _, c in options}
    for column in results.patients.columns:
        if column in taken or column in NOT_BASELINE:
            continue
        values = results.patients[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            continue
        n_levels = values.nunique(dropna=True)
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if n_levels >= 2 and (numeric or n_levels <= max_groups):
            options.append((column, column))
    return options


def endpoint_data(results: EfficacyResults, endpoint: str) -> pd.DataFrame:
    """The endpoint's analysis set, as the efficacy analysis defines it."""
    return analysis_set(results, endpoint, source="cohort explorer")


def stratify(values: pd.Series, max_groups: int = MAX_GROUPS) -> pd.Series:
    """Group labels (categorical, missing → NaN) for a baseline column (module notes)."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) \
        and not isinstance(values.dtype, pd.CategoricalDtype)
    if numeric and values.nunique(dropna=True) > max_groups:
        x = values.astype(float)
        median = float(np.nanmedian(x))
        labels = [f"< {median:g}", f"≥ {median:g}"]
        group = np.where(x < median, labels[0], labels[1]).astype(object)
        group[x.isna().to_numpy()] = None
        out = pd.Series(pd.Categorical(group,
                                       categories=labels), index=values.index)
        return out
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.astype(object).where(values.astype(object) != "Missing")
        categories = [c for c in values.cat.categories if c != "Missing"]
        return pd.Series(pd.Categorical(cat, categories=categories), index=values.index)
    obj = values.astype(object).where(values.notna())
    labels = sorted({str(v) for v in obj.dropna()})
    return pd.Series(pd.Categorical(obj.map(lambda v: None if v is None or v is pd.NA else str(v)),
                                    categories=labels), index=values.index)


@dataclass(frozen=True)
class StratifiedSurvival:
    """What the explorer shows for one endpoint and stratification."""

    endpoint: str
    column: str | None
    data: pd.DataFrame  # the analysis set, with the stratum in column "stratum"
    summary: pd.DataFrame  # survival_summary per stratum
    logrank: LogRankResult | None  # None without stratification or with a single stratum


def stratified_survival(results: EfficacyResults, endpoint: str, column: str | None,
                        max_groups: int = MAX_GROUPS) -> StratifiedSurvival:
    """Kaplan–Meier summary and log-rank test of ``endpoint`` by ``column`` (None: overall)."""
    d = endpoint_data(results, endpoint).copy()
    group_col = None
    if column is not None:
        if column not in d.columns:
            raise InputError(f"column not found; choose one of {list(d.columns)}",
                             source="cohort explorer", field=column)
        d["stratum"] = stratify(d[column], max_groups)
        d = d[d["stratum"].notna()].copy()
        d["stratum"] = d["stratum"].cat.remove_unused_categories()
        group_col = "stratum"
    duration, event = f"{endpoint}_months", f"{endpoint}_event"
    summary = survival_summary(d, duration, event, group_col, source=f"{endpoint} endpoint table")
    test = None
    if group_col is not None and len(d[group_col].cat.categories) >= 2 and d[event].any():
        test = logrank_test(d[duration], d[event], d[group_col],
                            source=f"{endpoint} endpoint table")
    return StratifiedSurvival(endpoint, column, d, summary, test)


def format_stratified(s: StratifiedSurvival) -> str:
    """HTML: per-stratum n, events, median (95 % CI) in months, and the log-rank test."""
    def f(v: float) -> str:
        return "NR" if not np.isfinite(v) else f"{v:.1f}"

    rows = "".join(
        f"<tr><td>{g}</td><td class='value'>{int(r['n'])}</td>"
        f"<td class='value'>{int(r['events'])}</td><td class='value'>{f(r['median'])} "
        f"({f(r['median_lower'])}–{f(r['median_upper'])})</td></tr>"
        for g, r in s.summary.iterrows())
    if s.logrank is None:
        test = "log-rank: — (no stratification)" if s.column is None else \
            "log-rank: — (fewer than two groups)"
    else:
        test = (f"log-rank χ² = {s.logrank.statistic:.2f}, df = {s.logrank.df}, "
                f"<b class='p-value'>p = {s.logrank.p_value:.4f}</b>")
    return (f"<table class='iluminet-numbers'><tr><th>{s.column or 'group'}</th><th>n</th>"
            f"<th>events</th><th>median, months (95 % CI)</th></tr>{rows}</table><p>{test}</p>")


def draw_stratified(fig: Figure, s: StratifiedSurvival, *, conf_level: float = 0.95) -> None:
    """Draw the curves with the at-risk table into ``fig`` (cleared first: the number of curves and
    the at-risk rows change with the stratification, so the axes are rebuilt)."""
    fig.clear()
    ax = fig.add_subplot()
    months = s.data[f"{s.endpoint}_months"]
    xticks = list(np.arange(0.0, float(months.max()) + 12.0, 12.0))
    title = f"{s.endpoint.upper()} — {GROUP_TITLES.get(s.column, s.column)}"
    if s.logrank is not None:
        title += f" (log-rank {format_p(s.logrank.p_value)})"
    levels = ["all"] if s.column is None else list(s.data["stratum"].cat.categories)
    plot_kaplan_meier(s.data, f"{s.endpoint}_months", f"{s.endpoint}_event",
                      None if s.column is None else "stratum", conf_level=conf_level,
                      show_ci=s.column is None, xticks=xticks, xlabel="Months from inclusion",
                      ylabel="Survival probability", title=title, ax=ax,
                      source=f"{s.endpoint} endpoint table",
                      colours=group_colours(s.column, levels) if s.column else
                      {"all": OVERALL_COLOUR})
    legend = ax.get_legend()
    if legend is not None:
        legend.set_title(GROUP_TITLES.get(s.column) or str(s.column))
