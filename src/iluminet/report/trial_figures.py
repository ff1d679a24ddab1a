"""Cohort figures: Kaplan–Meier panels (the paper's Figures 1 and 2), the waterfall plot
(Figure 3), GFR trajectories and blood counts over treatment.

Every group level is drawn in its one colour from :mod:`iluminet.report.palette`, legends list the
levels in their natural order under a readable title, and p-values read "p < 0.001". Figures are
returned, never shown.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from iluminet.errors import InputError
from iluminet.report.palette import (
    GROUP_PHRASES,
    GROUP_TITLES,
    colour_of,
    format_p,
    ordered_levels,
)
from iluminet.trial.efficacy import GROUPINGS, EfficacyResults, analysis_set
from iluminet.trial.recist import PD_INCREASE_FRACTION, PR_DECREASE_FRACTION
from iluminet.trial.safety import SafetyResults
from iluminet.trial.survival import KaplanMeier

__all__ = ["ENDPOINT_LABELS", "plot_blood_counts", "plot_gfr_trajectories", "plot_survival",
           "plot_survival_panels", "plot_waterfall"]

ENDPOINT_LABELS = {"pfs": "Progression-free survival", "os": "Overall survival",
                   "ttp": "Freedom from progression"}
_ENDPOINT_SHORT = {"pfs": "PFS", "os": "OS", "ttp": "TTP"}


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.get_figure(), ax  # type: ignore[return-value]
    import matplotlib.pyplot as plt

    fig, new = plt.subplots(figsize=figsize)
    return fig, new


def _km_groups(results: EfficacyResults, endpoint: str, grouping: str | None
               ) -> list[tuple[str, pd.DataFrame]]:
    d = analysis_set(results, endpoint, source="plot_survival")
    if grouping not in GROUPINGS:
        raise InputError(f"expected one of {list(GROUPINGS)}, got {grouping!r}",
                         source="plot_survival", field="grouping")
    if grouping is None:
        return [("All patients", d)]
    values = d[grouping].astype(object)
    keep = values.notna() & (values != "Missing")
    d, values = d[keep], values[keep].astype(str)
    return [(level, d[values == level]) for level in ordered_levels(grouping, values)]


def logrank_p(results: EfficacyResults, endpoint: str, grouping: str) -> float | None:
    """The stored log-rank p-value of ``endpoint`` by ``grouping`` (``None`` if not tested)."""
    lr = results.logrank[(results.logrank["endpoint"] == endpoint)
                         & (results.logrank["grouping"] == grouping)]
    return None if lr.empty else float(lr["p_value"].iloc[0])


def plot_survival(results: EfficacyResults, endpoint: str = "pfs", grouping: str | None = None,
                  *, ax: Axes | None = None, xticks: Sequence[float] | None = None) -> Figure:
    """Kaplan–Meier curves of one endpoint, overall (with its pointwise 95 % band, R's log
    interval) or by a grouping, censoring ticks, the number at risk under the axis and the
    log-rank p-value in the title."""
    from lifelines.plotting import add_at_risk_counts

    fig, ax = _new_axes(ax, (7.0, 4.8))
    groups = _km_groups(results, endpoint, grouping)
    time_col, event_col = f"{endpoint}_months", f"{endpoint}_event"
    longest = max(float(g[time_col].max()) for _, g in groups if len(g)) if groups else 12.0
    if xticks is None:
        xticks = list(np.arange(0.0, longest + 12.0, 12.0))
    fits = []
    for level, rows in groups:
        if rows.empty:
            continue
        km = KaplanMeier("log", results.options.conf_level).fit(
            rows[time_col].to_numpy(float), rows[event_col].to_numpy(bool),
            label=f"{level} (n = {len(rows)})")
        colour = colour_of(grouping, level)
        km.kmf_.plot_survival_function(ax=ax, ci_show=False, show_censors=True, color=colour,
                                       censor_styles={"marker": "|", "ms": 6}, lw=1.6)
        if grouping is None:
            tab = km.survival_table_
            t = np.concatenate([[0.0], tab["time"].to_numpy()])
            lo = np.concatenate([[1.0], tab["lower"].to_numpy()])
            hi = np.concatenate([[1.0], tab["upper"].to_numpy()])
            ax.fill_between(t, lo, hi, step="post", alpha=0.2, color=colour, linewidth=0,
                            label="95 % CI")
        fits.append(km)
    title = (f"{_ENDPOINT_SHORT[endpoint]} — {GROUP_PHRASES[None]}" if grouping is None
             else f"{_ENDPOINT_SHORT[endpoint]} by {GROUP_PHRASES[grouping]}")
    if grouping is not None:
        title += f" (log-rank {format_p(logrank_p(results, endpoint, grouping))})"
    ax.set_title(title)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlim(left=0.0)
    ax.set_xticks(list(xticks))
    ax.set_xlabel("Months from inclusion")
    ax.set_ylabel(ENDPOINT_LABELS[endpoint])
    ax.grid(alpha=0.25)
    ax.legend(title=GROUP_TITLES[grouping] if grouping else None, frameon=False,
              loc="best", fontsize="small", title_fontsize="small")
    if fits:
        add_at_risk_counts(*[km.kmf_ for km in fits], ax=ax, rows_to_show=["At risk"],
                           xticks=list(xticks))
    fig.tight_layout()
    return fig


def plot_survival_panels(results: EfficacyResults, endpoint: str = "pfs") -> Figure:
    """Four panels as the paper's Figure 1 (PFS) / Figure 2 (OS): all, by BED, ECOG, Ki-67."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 10.5))
    for ax, grouping in zip(axes.ravel(), (None, "bed_group", "ecog_level", "ki67_group"),
                            strict=True):
        plot_survival(results, endpoint, grouping, ax=ax)
    fig.tight_layout()
    return fig


def plot_waterfall(results: EfficacyResults, color_by: str = "bed_group", *,
                   ax: Axes | None = None) -> Figure:
    """Best change of the sum of diameters per response-evaluable patient, largest increase on
    the left, coloured by ``color_by`` (delivered-BED group, the paper's Figure 3, or
    ``"best_overall_response"``); dashed lines at −30 % (PR) and +20 % (PD)."""
    data = results.waterfall.reset_index()
    if color_by not in data.columns:
        raise InputError(f"expected one of {sorted(set(data.columns) - {'patient_id'})}, got "
                         f"{color_by!r}", source="plot_waterfall", field="color_by")
    shown = data[data["best_pct_change"].notna()].sort_values(
        "best_pct_change", ascending=False, kind="mergesort")
    n_missing = len(data) - len(shown)
    fig, ax = _new_axes(ax, (9.0, 4.5))
    x = np.arange(len(shown))
    values = shown["best_pct_change"].to_numpy(float)
    levels = shown[color_by].astype(object).where(shown[color_by].notna(), "Missing").astype(str)
    for level in ordered_levels(color_by, levels) + (["Missing"] if "Missing" in set(levels)
                                                       else []):
        mask = (levels == level).to_numpy()
        if mask.any():
            ax.bar(x[mask], values[mask], color=colour_of(color_by, level), width=0.8,
                   label=f"{level} (n = {int(mask.sum())})")
    ax.axhline(-100.0 * PR_DECREASE_FRACTION, color="k", ls="--", lw=0.8)
    ax.axhline(100.0 * PD_INCREASE_FRACTION, color="k", ls="--", lw=0.8)
    ax.axhline(0.0, color="k", lw=0.5)
    for y, text in ((-100.0 * PR_DECREASE_FRACTION, "−30 %\n(PR)"),
                    (100.0 * PD_INCREASE_FRACTION, "+20 %\n(PD)")):
        ax.text(1.01, y, text, transform=ax.get_yaxis_transform(), ha="left", va="center",
                fontsize="small")
    ax.set_xticks([])
    label = f"Patients (n = {len(shown)})"
    if n_missing:
        label += f"; {n_missing} without evaluable follow-up not shown"
    ax.set_xlabel(label)
    ax.set_ylabel("Best change in sum of diameters (%)")
    ax.set_title("Best change in sum of diameters from baseline")
    ax.legend(title=GROUP_TITLES.get(color_by, color_by), frameon=False, fontsize="small",
              title_fontsize="small")
    fig.tight_layout()
    return fig


def plot_gfr_trajectories(results: SafetyResults, ax: Axes | None = None) -> Figure:
    """Median GFR change from baseline (%) by year and delivered-BED group, over thin patient
    lines in the group's colour."""
    fig, ax = _new_axes(ax, (7.0, 4.5))
    traj = results.gfr_trajectories
    for (group, _pid), rows in traj.groupby(["bed_group", "patient_id"], observed=True):
        ax.plot(rows["year"], rows["relative_change_pct"], color=colour_of("bed_group", group),
                alpha=0.15, lw=0.8)
    groups = traj["bed_group"].astype(object)
    for group in ordered_levels("bed_group", groups):
        rows = traj[groups == group]
        med = rows.groupby("year")["relative_change_pct"].median()
        ax.plot(med.index, med.to_numpy(), color=colour_of("bed_group", group), lw=2.5,
                marker="o", label=f"{group} (median, n = {rows['patient_id'].nunique()})")
    ax.axhline(0, color="k", lw=0.5)
    years = sorted(traj["year"].dropna().unique())
    if years:
        ax.set_xticks([float(y) for y in years])
    ax.set_xlabel("Years from inclusion")
    test = "measured GFR" if results.parameters.gfr_test == "measured_gfr" else "eGFR"
    ax.set_ylabel(f"{test}: change from baseline (%)")
    ax.grid(alpha=0.25)
    ax.legend(title=GROUP_TITLES["bed_group"], frameon=False, fontsize="small",
              title_fontsize="small")
    fig.tight_layout()
    return fig


_TEST_LABELS = {"platelets": "Platelet count", "neutrophils": "Neutrophil count",
                "hemoglobin": "Haemoglobin", "wbc": "White blood cell count",
                "lymphocytes": "Lymphocyte count"}


def plot_blood_counts(results: SafetyResults, test: str = "platelets",
                      ax: Axes | None = None) -> Figure:
    """Median count relative to baseline by week from the first cycle (the nadirs after each
    cycle and the slow cumulative decline)."""
    fig, ax = _new_axes(ax, (7.0, 4.0))
    g = results.graded_labs
    x = g[g["test"] == test][["patient_id", "date", "value_canonical", "is_baseline"]]
    base = x[x["is_baseline"]].groupby("patient_id")["value_canonical"].last()
    x = x.assign(relative=x["value_canonical"] / x["patient_id"].map(base)).dropna()
    first = results.periods["first_cycle"]
    x = x.assign(days=(x["date"] - x["patient_id"].map(first)).dt.days)
    x = x[(x["days"] >= 0) & (x["days"] <= 600)]
    weekly = x.assign(week=x["days"] // 7).groupby("week")["relative"].median()
    ax.plot(weekly.index, weekly.to_numpy(), marker=".", lw=1, color="#0072B2")
    ax.axhline(1.0, color="k", lw=0.5)
    ax.set_xlabel("Weeks from the first cycle")
    ax.set_ylabel(f"{_TEST_LABELS.get(test, test)}: median / baseline")
    ax.grid(alpha=0.25)
    fig.tight_layout()
    return fig
