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
    u = result.uncertainty_
    if u is not None:
        unc = u.cycle_table()
        lo, hi = unc["cumulative_bed_gy_lower95"], unc["cumulative_bed_gy_upper95"]
        mid = table["cumulative_bed_gy"].to_numpy()
        ax.errorbar(table["cycle"], mid, yerr=[mid - lo.to_numpy(), hi.to_numpy() - mid],
                    fmt="none", ecolor="black", capsize=3, lw=1, label="95 % interval")
    ax.plot(table["cycle"], table["cumulative_bed_gy"], "o-", color="black", label="cumulative BED")
    decision = result.decision_
    if decision.gives_cycle and decision.predicted_cumulative_bed_gy is not None:
        last = table["cumulative_bed_gy"].iloc[-1]
        ax.plot([table["cycle"].iloc[-1], decision.next_cycle],
                [last, decision.predicted_cumulative_bed_gy], "o:", color="black", mfc="white",
                label="predicted next cycle")
    fan = _fan(result)
    if fan is not None:
        x, mean, bands = fan
        for (low, high), alpha, name in zip(bands, (0.12, 0.25), ("95 %", "68 %")):
            ax.fill_between(x, low, high, color="tab:purple", alpha=alpha, lw=0,
                            label=f"predicted cycles, {name}")
    for limit, tolerance, name, colour in (
            (protocol.step1_bed_limit_gy, protocol.step1_tolerance_gy, "step 1", "tab:green"),
            (protocol.step2_bed_limit_gy, protocol.step2_tolerance_gy, "step 2", "tab:red")):
        ax.axhspan(limit - tolerance, limit + tolerance, color=colour, alpha=0.15)
        ax.axhline(limit, color=colour, lw=1, label=f"{name} {limit:g} ± {tolerance:g} Gy")
    ax.set_xlabel("cycle")
    ax.set_ylabel("kidney BED (Gy)")
    last_x = max(table["cycle"].max(), decision.next_cycle or 0,
                 0 if fan is None else int(fan[0][-1]))
    ax.set_xticks(range(1, int(last_x) + 1))
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


def _fan(result: PatientDosimetry, ahead: int = 4
         ) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]] | None:
    """Fan of the cumulative BED over the next ``ahead`` predicted cycles: mean and the 68/95 %
    normal bands from :class:`iluminet.patient.planning.BedCovariance` (None without a usable
    uncertainty)."""
    u = result.uncertainty_
    table = result.cycles_
    if u is None or u.model.usable_cycles != u.model.cycles or table.empty:
        return None
    beds = [float(b) for b in table["bed_gy"]]
    if not np.all(np.isfinite(beds)):
        return None
    from iluminet.patient.planning import predict_cycle_bed

    cov = u.bed_covariance()
    method = result.protocol.bed_prediction
    predicted = predict_cycle_bed(beds, method)
    n = len(beds)
    x = np.arange(n, n + ahead + 1, dtype=float)
    mean = np.array([sum(beds) + k * predicted for k in range(ahead + 1)])
    sd = np.array([cov.sd_after_gy(beds, k, method) for k in range(ahead + 1)])
    return x, mean, [(mean - 1.96 * sd, mean + 1.96 * sd), (mean - sd, mean + sd)]


def plot_dose_budget(result: PatientDosimetry) -> Figure | None:
    """The uncertainty budget of the latest cycle's kidney dose: variance share of each input
    (horizontal bars, as in the EANM guidance); None without an uncertainty."""
    u = result.uncertainty_
    if u is None:
        return None
    budget = u.dose_budget().iloc[::-1]
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.barh(budget["label"], 100 * budget["fraction"], color="tab:purple", alpha=0.7)
    for y, (frac, rel) in enumerate(zip(budget["fraction"], budget["relative_u"])):
        ax.text(100 * frac + 0.5, y, f"{100 * rel:.1f} %", va="center", fontsize="small")
    ax.set_xlabel("share of the variance of the dose (%)  — labels: relative SD contributed")
    ax.set_title(f"{result.record.patient_id}: uncertainty budget, cycle {u.model.cycles[-1]} "
                 "kidney dose", fontsize="medium")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
