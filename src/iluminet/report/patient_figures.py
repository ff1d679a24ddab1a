"""Static figures for the per-patient reports (matplotlib; no display calls; figures returned)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from iluminet.patient.chain import PatientDosimetry
from iluminet.patient.entry import PreparedPatient
from iluminet.patient.planning import Protocol

KIDNEY_COLOURS = {"left": "tab:blue", "right": "tab:orange"}


def plot_time_activity(result: PatientDosimetry, *, max_columns: int = 3) -> Figure:
    """Measured kidney activities and the fitted curves, one panel per cycle.

    Points excluded from the fit are drawn hollow; a flagged fit is drawn dashed and its panel
    titled in red.
    """
    cycles = sorted({fit.cycle for fit in result.kidney_fits})
    columns = min(max_columns, max(len(cycles), 1))
    rows = int(np.ceil(len(cycles) / columns)) or 1
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False,
                             sharey=True)
    for ax in axes.flat[len(cycles):]:
        ax.set_visible(False)
    for ax, cycle in zip(axes.flat, cycles):
        flagged = False
        for fit in (f for f in result.kidney_fits if f.cycle == cycle):
            colour = KIDNEY_COLOURS[fit.kidney]
            ax.plot(fit.time_h[fit.used], fit.activity_mbq[fit.used], "o", color=colour,
                    label=f"{fit.kidney}")
            ax.plot(fit.time_h[~fit.used], fit.activity_mbq[~fit.used], "o", mfc="none",
                    color=colour)
            flagged |= bool(fit.flags)
            if fit.fitter is not None:
                grid = np.linspace(0.0, max(200.0, float(fit.time_h.max()) * 1.1), 300)
                ax.plot(grid, fit.fitter.predict(grid), "--" if fit.flags else "-", color=colour,
                        lw=1.2)
        ax.set_title(f"cycle {cycle}" + (" — flagged" if flagged else ""),
                     color="tab:red" if flagged else "black")
        ax.set_xlabel("time after administration (h)")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("kidney activity (MBq)")
    axes.flat[0].legend(frameon=False)
    fig.suptitle(f"{result.record.patient_id}: kidney time-activity curves")
    fig.tight_layout()
    return fig


def plot_cumulative_bed(result: PatientDosimetry) -> Figure:
    """Per-cycle kidney BED (bars) and cumulative BED (line) against the step-1 and step-2 limits,
    with the predicted next cycle when one is recommended."""
    protocol: Protocol = result.protocol
    table = result.cycles_
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    flagged = table["flags"].fillna("").astype(bool).to_numpy()
    ax.bar(table["cycle"][~flagged], table["bed_gy"][~flagged], color="tab:gray", alpha=0.6,
           label="BED per cycle")
    if flagged.any():
        ax.bar(table["cycle"][flagged], table["bed_gy"][flagged], color="#fde0dd",
               edgecolor="#a50f15", hatch="//", label="flagged cycle (BED not counted)")
    ax.plot(table["cycle"], table["cumulative_bed_gy"], "o-", color="black", label="cumulative BED")
    decision = result.decision_
    if decision.gives_cycle and decision.predicted_cumulative_bed_gy is not None:
        last = table["cumulative_bed_gy"].iloc[-1]
        ax.plot([table["cycle"].iloc[-1], decision.next_cycle],
                [last, decision.predicted_cumulative_bed_gy], "o:", color="black", mfc="white",
                label="predicted next cycle")
    for limit, tolerance, name, colour in (
            (protocol.step1_bed_limit_gy, protocol.step1_tolerance_gy, "step 1", "tab:green"),
            (protocol.step2_bed_limit_gy, protocol.step2_tolerance_gy, "step 2", "tab:red")):
        ax.axhspan(limit - tolerance, limit + tolerance, color=colour, alpha=0.15)
        ax.axhline(limit, color=colour, lw=1, label=f"{name} {limit:g} ± {tolerance:g} Gy")
    ax.set_xlabel("cycle")
    ax.set_ylabel("kidney BED (Gy)")
    ax.set_xticks(range(1, int(max(table["cycle"].max(), decision.next_cycle or 0)) + 1))
    ax.set_ylim(0, protocol.step2_bed_limit_gy + protocol.step2_tolerance_gy + 3)
    ax.legend(loc="upper left", frameon=False, fontsize="small")
    ax.set_title(f"{result.record.patient_id}: {decision.summary()}", fontsize="medium")
    fig.tight_layout()
    return fig


def plot_planar_views(prepared: PreparedPatient, cycle: int = 1, time_index: int = -1
                      ) -> Figure | None:
    """Anterior and posterior photopeak views of one scan with the kidney and background ROIs
    (image-level entry only; ``None`` otherwise)."""
    if prepared.quantification is None:
        return None
    from iluminet.report.imaging_figures import plot_planar_with_rois

    study = next(c.study for c in prepared.quantification.cycles if c.cycle == cycle)
    scan = study.planar[time_index]
    return plot_planar_with_rois(scan, study.planar_rois,
                                 title=f"{prepared.record.patient_id}, cycle {cycle}")


def plot_spect_ct(prepared: PreparedPatient, cycle: int = 1, axis: str = "coronal"
                  ) -> Figure | None:
    """SPECT fused on CT through the kidneys with the kidney VOI contours (image level only)."""
    if prepared.quantification is None:
        return None
    from iluminet.report.imaging_figures import plot_spect_ct_slice

    study = next(c.study for c in prepared.quantification.cycles if c.cycle == cycle)
    return plot_spect_ct_slice(study.spect.image, study.ct.image, study.kidney_voi, axis=axis,
                               title=f"{prepared.record.patient_id}, cycle {cycle}: SPECT/CT 24 h")
