"""Time-activity explorer: leave scans out, switch the fit model, and follow TIA → dose → BED →
decision through the package's own chain.

Nothing is recomputed here: :meth:`TacExploration.result` reruns
:func:`iluminet.patient.chain.run_patient_dosimetry` on the patient record whose activity
table lacks the excluded points, with the model set through
:func:`iluminet.config.params.merge_parameters`. A kidney left with fewer scans than
``analysis.kinetics.min_points`` therefore gets the chain's own flag and the decision is withheld,
exactly as in a batch run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from iluminet.config.params import merge_parameters
from iluminet.errors import InputError
from iluminet.patient.chain import KidneyFit, PatientDosimetry, run_patient_dosimetry
from iluminet.patient.records import KIDNEYS, PatientRecord

MODELS = ("mono", "biexp", "auto")
#: A measured point: (cycle, kidney, position of the scan in that cycle's time order).
PointKey = tuple[int, str, int]


def exclude_points(record: PatientRecord, excluded: Iterable[PointKey]) -> PatientRecord:
    """A copy of ``record`` whose activity table lacks the ``excluded`` points.

    Points are addressed by cycle, kidney and the scan's position (0-based) in time order within
    that cycle and kidney, as listed by :func:`points`.
    """
    excluded = set(excluded)
    activity = record.activity.sort_values(["cycle", "kidney", "time_h"]).copy()
    position = activity.groupby(["cycle", "kidney"]).cumcount()
    keys = list(zip(activity["cycle"].astype(int), activity["kidney"], position.astype(int)))
    known = set(keys)
    unknown = excluded - known
    if unknown:
        raise InputError(f"no such measured point(s): {sorted(unknown)}",
                         source=str(record.folder / "kidney_activity.csv"),
                         field="cycle/kidney/scan")
    keep = np.array([k not in excluded for k in keys], dtype=bool)
    return dataclasses.replace(record, activity=activity[keep].reset_index(drop=True))


def points(record: PatientRecord, cycle: int, kidney: str) -> list[tuple[int, float, float]]:
    """The measured points of one cycle and kidney: ``(position, time_h, activity_mbq)``."""
    if kidney not in KIDNEYS:
        raise InputError(f"expected one of {KIDNEYS}, got {kidney!r}", source="TAC explorer",
                         field="kidney")
    rows = record.activity[(record.activity["cycle"] == cycle)
                           & (record.activity["kidney"] == kidney)].sort_values("time_h")
    if rows.empty:
        raise InputError(f"no measurements for cycle {cycle}, {kidney} kidney",
                         source=str(record.folder / "kidney_activity.csv"), field="cycle")
    return [(i, float(t), float(a)) for i, (t, a) in
            enumerate(zip(rows["time_h"], rows["activity_mbq"]))]


class TacExploration:
    """State of an exploration: the base result, the excluded points and the fit model.

    Parameters
    ----------
    base
        A :class:`PatientDosimetry` from the batch chain (its record and parameters are reused).

    Attributes
    ----------
    excluded : set of PointKey
    model : str
        ``mono``, ``biexp`` or ``auto`` (``analysis.kinetics.model``).
    result_ : PatientDosimetry
        The chain rerun on the current state (updated by :meth:`recompute`).
    """

    def __init__(self, base: PatientDosimetry) -> None:
        self.base = base
        self.excluded: set[PointKey] = set()
        self.model = str(base.parameters["analysis"]["kinetics"]["model"])
        self.result_ = base

    def parameters(self) -> dict[str, Any]:
        """The base parameters with the chosen model (merged and type-checked)."""
        return merge_parameters(self.base.parameters, (
            "TAC explorer", {"analysis": {"kinetics": {"model": self.model}}}))

    def recompute(self) -> PatientDosimetry:
        """Rerun the chain on the reduced record; the new result is also kept in ``result_``."""
        if self.model not in MODELS:
            raise InputError(f"expected one of {MODELS}, got {self.model!r}",
                             source="TAC explorer", field="model")
        record = exclude_points(self.base.record, self.excluded)
        self.result_ = run_patient_dosimetry(record, self.parameters())
        return self.result_

    def set_excluded(self, cycle: int, kidney: str, positions: Iterable[int]) -> None:
        """Replace the excluded points of one cycle and kidney."""
        self.excluded = {k for k in self.excluded if k[:2] != (cycle, kidney)}
        self.excluded |= {(int(cycle), kidney, int(p)) for p in positions}

    def kidney_fit(self, cycle: int, kidney: str) -> KidneyFit:
        for fit in self.result_.kidney_fits:
            if fit.cycle == cycle and fit.kidney == kidney:
                return fit
        raise InputError(f"no fit for cycle {cycle}, {kidney} kidney", source="TAC explorer",
                         field="cycle")

    def numbers(self, cycle: int, kidney: str) -> dict[str, Any]:
        """The numbers the explorer shows for one cycle and kidney, straight from ``result_``."""
        r = self.result_
        kd = r.kidney_doses_[(r.kidney_doses_["cycle"] == cycle)
                             & (r.kidney_doses_["kidney"] == kidney)].iloc[0]
        fit_row = r.fits_[(r.fits_["cycle"] == cycle) & (r.fits_["kidney"] == kidney)].iloc[0]
        cyc = r.cycles_[r.cycles_["cycle"] == cycle].iloc[0]
        return {
            "model": fit_row["model"], "n_points": int(fit_row["n_points"]),
            "effective_half_life_h": float(fit_row["effective_half_life_h"]),
            "tia_mbq_h": float(kd["tia_mbq_h"]), "dose_gy": float(kd["dose_gy"]),
            "bed_gy": float(kd["bed_gy"]), "cycle_bed_gy": float(cyc["bed_gy"]),
            "cumulative_bed_gy": float(r.cycles_["cumulative_bed_gy"].iloc[-1]),
            "flags": str(fit_row["flags"]), "decision": r.decision_.summary(),
        }


def format_numbers(numbers: Mapping[str, Any]) -> str:
    """HTML summary of :meth:`TacExploration.numbers` (fixed precision, units in the labels)."""
    def f(value: float, digits: int) -> str:
        return "—" if not np.isfinite(value) else f"{value:.{digits}f}"

    rows = [
        ("fit model", f"{numbers['model']} ({numbers['n_points']} points)"),
        ("effective half-life (h)", f(numbers["effective_half_life_h"], 1)),
        ("TIA (MBq·h)", f(numbers["tia_mbq_h"], 1)),
        ("absorbed dose (Gy)", f(numbers["dose_gy"], 3)),
        ("kidney BED (Gy)", f(numbers["bed_gy"], 3)),
        ("cycle BED (Gy)", f(numbers["cycle_bed_gy"], 3)),
        ("cumulative BED (Gy)", f(numbers["cumulative_bed_gy"], 3)),
        ("decision", numbers["decision"]),
    ]
    if numbers["flags"]:
        rows.append(("flags", f"<span style='color:#b00'>{numbers['flags']}</span>"))
    cells = "".join(f"<tr><td>{k}</td><td class='value'>{v}</td></tr>" for k, v in rows)
    return f"<table class='iluminet-numbers'>{cells}</table>"


class TacPlot:
    """Measured points and the fitted curve of one cycle and kidney, updated in place.

    Filled markers: points used by the fit; hollow: measured but not used by the model (the
    mono-exponential fit starts at ``mono_fit_from_h``); crosses: excluded by the user. The curve is
    dashed when the fit is flagged.
    """

    def __init__(self, ax: Axes, exploration: TacExploration, cycle: int, kidney: str,
                 *, t_max_h: float = 200.0) -> None:
        self.ax, self.exploration = ax, exploration
        self.grid_h = np.linspace(0.0, t_max_h, 300)
        (self.used_line,) = ax.plot([], [], "o", color="tab:blue", label="used by the fit")
        (self.unused_line,) = ax.plot([], [], "o", mfc="none", color="tab:blue",
                                      label="not used by the model")
        (self.excluded_line,) = ax.plot([], [], "x", color="tab:red", ms=8, label="excluded")
        (self.fit_line,) = ax.plot([], [], "-", color="black", lw=1.2, label="fit")
        ax.set_xlabel("time after administration (h)")
        ax.set_ylabel("kidney activity (MBq)")
        ax.set_xlim(0.0, t_max_h)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", frameon=False, fontsize="small")
        self.cycle, self.kidney = cycle, kidney
        self.update(cycle, kidney)

    def update(self, cycle: int | None = None, kidney: str | None = None) -> None:
        """Show ``cycle``/``kidney`` (default: unchanged) from the exploration's current result."""
        self.cycle = self.cycle if cycle is None else int(cycle)
        self.kidney = self.kidney if kidney is None else kidney
        pts = points(self.exploration.base.record, self.cycle, self.kidney)
        fit = self.exploration.kidney_fit(self.cycle, self.kidney)
        excluded = {p for c, k, p in self.exploration.excluded
                    if (c, k) == (self.cycle, self.kidney)}
        kept = [(t, a) for i, t, a in pts if i not in excluded]
        used = np.zeros(len(kept), dtype=bool) if fit.used.size != len(kept) else fit.used
        t_kept = np.array([t for t, _ in kept])
        a_kept = np.array([a for _, a in kept])
        self.used_line.set_data(t_kept[used], a_kept[used])
        self.unused_line.set_data(t_kept[~used], a_kept[~used])
        self.excluded_line.set_data([t for i, t, _ in pts if i in excluded],
                                    [a for i, _, a in pts if i in excluded])
        if fit.fitter is not None and np.isfinite(fit.fitter.tia_mbq_h_):
            self.fit_line.set_data(self.grid_h, fit.fitter.predict(self.grid_h))
        else:
            self.fit_line.set_data([], [])
        self.fit_line.set_linestyle("--" if fit.flags else "-")
        top = max(a for _, _, a in pts) * 1.15
        self.ax.set_ylim(0.0, top)
        self.ax.set_xlim(0.0, max(float(self.grid_h[-1]), max(t for _, t, _ in pts) * 1.05))
        flagged = " — flagged" if fit.flags else ""
        self.ax.set_title(f"{self.exploration.base.record.patient_id}: cycle {self.cycle}, "
                          f"{self.kidney} kidney{flagged}",
                          color="tab:red" if fit.flags else "black", fontsize="medium")
