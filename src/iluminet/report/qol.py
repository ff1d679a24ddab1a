"""Quality-of-life tables and figures for clinicians (from :mod:`iluminet.trial.qol_analysis`).

Printed tables use fixed precision so that notebook outputs are stable (nbval); figures show mean
trajectories with their confidence bands and the time-to-deterioration Kaplan–Meier curves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from iluminet.errors import InputError
from iluminet.trial.qol_analysis import QolResults, scale_info

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "format_change",
    "format_completion",
    "format_deterioration",
    "format_means",
    "format_mixed_model",
    "format_responders",
    "plot_deterioration",
    "plot_mean_trajectories",
]


def _f(value: Any, decimals: int = 1) -> str:
    """Fixed precision; a missing value (a median or limit not reached) prints "NR"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NR"
    return f"{value:.{decimals}f}"


def _labels() -> dict[str, str]:
    return dict(zip(scale_info()["scale"], scale_info()["label"]))


def format_completion(results: QolResults) -> str:
    """Questionnaires received out of expected per assessment window."""
    c = results.counts
    lines = [f"Questionnaires: {c['c30_forms']} QLQ-C30 and {c['ginet21_forms']} QLQ-GI.NET21 "
             f"forms from {c['patients_with_questionnaires']} of {c['treated']} treated patients",
             f"{'month':>5} {'expected':>8} {'QLQ-C30':>14} {'QLQ-GI.NET21':>14}"]
    for r in results.completion.itertuples(index=False):
        lines.append(f"{r.timepoint:5.0f} {r.expected:8d} {r.c30_received:5d} "
                     f"({_f(r.c30_rate_pct)}%) {r.ginet21_received:5d} "
                     f"({_f(r.ginet21_rate_pct)}%)")
    return "\n".join(lines)


def _by_time(table: pd.DataFrame, scales: Sequence[str], what: str) -> str:
    labels = _labels()
    lines = []
    for s in scales:
        part = table[table["scale"] == s]
        if not len(part):
            continue
        lines.append(f"{labels[s]} ({s}) — {what}")
        for r in part.itertuples(index=False):
            lines.append(f"  month {r.timepoint:4.0f}  n = {r.n:3d}  {r.mean:6.1f} "
                         f"({_f(r.lower)} to {_f(r.upper)})")
    return "\n".join(lines)


def format_means(results: QolResults, scales: Sequence[str] = ("QL2", "PF2", "FA", "SUM")
                 ) -> str:
    """Mean score (95 % CI) per window of the chosen scales."""
    return _by_time(results.means, scales, "mean score (CI)")


def format_change(results: QolResults, scales: Sequence[str] = ("QL2", "PF2", "FA", "SUM")
                  ) -> str:
    """Mean change from baseline (CI) per window of the chosen scales."""
    return _by_time(results.change, scales, "mean change from baseline (CI)")


def format_responders(results: QolResults, scales: Sequence[str] = ("QL2", "PF2", "FA"),
                      timepoints: Sequence[float] = (3.0, 6.0, 12.0, 24.0)) -> str:
    """Improved / stable / worsened by the MID at chosen windows."""
    labels = _labels()
    mid = results.parameters.mid_points
    lines = [f"Change from baseline by ≥ {mid:g} points: improved / stable / worsened, n (%)"]
    t = results.responders
    for s in scales:
        lines.append(f"{labels[s]} ({s})")
        for tp in timepoints:
            row = t[(t["scale"] == s) & np.isclose(t["timepoint"], tp)]
            if not len(row):
                continue
            r = row.iloc[0]
            lines.append(f"  month {tp:4.0f}  n = {int(r['n']):3d}  "
                         f"{int(r['improved']):3d} ({r['improved_pct']:4.1f})  "
                         f"{int(r['stable']):3d} ({r['stable_pct']:4.1f})  "
                         f"{int(r['worsened']):3d} ({r['worsened_pct']:4.1f})")
    return "\n".join(lines)


def format_deterioration(results: QolResults) -> str:
    """Time to deterioration per scale: n, events, median (CI), deterioration-free at 6 and 12 m."""
    mid = results.parameters.mid_points
    rule = "death counts as deterioration" if results.parameters.death_as_event else \
        "censored at the last questionnaire"
    lines = [f"Time to deterioration (≥ {mid:g} points worse than baseline; {rule}), months",
             f"{'scale':<34} {'n':>3} {'events':>6}  {'median (95% CI)':<20} "
             f"{'free at 6 m':>12} {'free at 12 m':>12}"]
    for r in results.deterioration_summary.to_dict(orient="records"):
        median = f"{_f(r.get('median_months'))} ({_f(r.get('lower'))}–{_f(r.get('upper'))})"
        lines.append(f"{r['label'] + ' (' + r['scale'] + ')':<34} {r['n']:3d} {r['events']:6d}  "
                     f"{median:<20} {100 * r['free_at_6m']:11.1f}% "
                     f"{100 * r['free_at_12m']:11.1f}%")
    return "\n".join(lines)


def format_mixed_model(results: QolResults) -> str:
    """Fixed effects of the global-health mixed model with their CIs."""
    m = results.mixed_model
    lines = [f"Linear mixed model (REML): {m['formula']}",
             f"{m['n_observations']} questionnaires of {m['n_patients']} patients; reference BED "
             f"group {m['reference_bed_group']}; converged: {m['converged']}",
             f"{'term':<22} {'estimate':>9} {'SE':>7} {'95% CI':>18} {'p':>7}"]
    for r in m["fixed_effects"].itertuples(index=False):
        lines.append(f"{r.term:<22} {r.estimate:9.2f} {r.std_error:7.2f} "
                     f"{r.lower:8.2f} to {r.upper:6.2f} {r.p_value:7.3f}")
    cov = np.asarray(m["random_effects_cov"])
    lines.append(f"random intercept SD {math.sqrt(cov[0, 0]):.2f}; residual SD "
                 f"{math.sqrt(m['residual_variance']):.2f}")
    return "\n".join(lines)


def plot_mean_trajectories(results: QolResults, scales: Sequence[str] = ("QL2", "PF2", "FA",
                                                                          "SUM"),
                           *, ncols: int = 2) -> Figure:
    """Mean score per window with its confidence band, one panel per scale, n under the axis."""
    import matplotlib.pyplot as plt

    labels = _labels()
    better = scale_info().set_index("scale")["higher_is_better"]
    unknown = [s for s in scales if s not in labels]
    if unknown:
        raise InputError(f"unknown scale(s) {unknown}", field="scales")
    nrows = math.ceil(len(scales) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.6 * nrows), squeeze=False)
    level = round(100 * results.parameters.conf_level)
    for ax, s in zip(axes.ravel(), scales):
        m = results.means[results.means["scale"] == s]
        ax.fill_between(m["timepoint"], m["lower"], m["upper"], alpha=0.25, linewidth=0,
                        label=f"{level}% CI")
        ax.plot(m["timepoint"], m["mean"], marker="o", ms=3.5, label="mean")
        ax.set_ylim(0, 100)
        ax.set_xlim(left=0)
        ax.set_title(f"{labels[s]} ({'higher = better' if better[s] else 'higher = worse'})",
                     fontsize=10)
        ax.set_xlabel("Months from inclusion")
        ax.set_ylabel("Score (0–100)")
        for tp, n in zip(m["timepoint"], m["n"]):
            ax.annotate(f"{n}", (tp, 2), ha="center", fontsize=7, color="0.35")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(scales):]:
        ax.set_visible(False)
    axes.ravel()[0].legend(loc="upper right", fontsize=8)
    fig.suptitle("Mean scores over time (numbers: patients assessed)", fontsize=11)
    fig.tight_layout()
    return fig


def plot_deterioration(results: QolResults, scales: Sequence[str] = ("QL2", "PF2", "FA")
                       ) -> Figure:
    """Kaplan–Meier curves of time to deterioration (R's log band), one curve per scale."""
    import matplotlib.pyplot as plt
    from lifelines.plotting import add_at_risk_counts

    labels = _labels()
    fig, ax = plt.subplots(figsize=(7.2, 4.8))
    fits = []
    for s in scales:
        km = results.km(s)
        km.kmf_._label = labels[s]
        km.kmf_.plot_survival_function(ax=ax, ci_show=False, show_censors=True,
                                       censor_styles={"marker": "|", "ms": 6}, label=labels[s])
        colour = ax.get_lines()[-1].get_color()
        tab = km.survival_table_
        t = np.concatenate([[0.0], tab["time"].to_numpy()])
        lo = np.concatenate([[1.0], tab["lower"].to_numpy()])
        hi = np.concatenate([[1.0], tab["upper"].to_numpy()])
        ax.fill_between(t, lo, hi, step="post", alpha=0.15, color=colour, linewidth=0)
        fits.append(km.kmf_)
    ax.set_ylim(0, 1.05)
    ax.set_xlim(left=0)
    ax.set_xlabel("Months from inclusion")
    ax.set_ylabel("Free of deterioration")
    ax.set_title(f"Time to deterioration (≥ {results.parameters.mid_points:g} points)")
    add_at_risk_counts(*fits, ax=ax, rows_to_show=["At risk"])
    fig.tight_layout()
    return fig
