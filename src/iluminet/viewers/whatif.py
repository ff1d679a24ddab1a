"""BED what-if: change α/β, the repair half-time, the step limits and tolerances, the last-cycle
policy or the BED prediction, and see the per-cycle and cumulative kidney BED and the predicted
number of cycles.

The controls become a nested override mapping (:func:`whatif_overrides`) merged onto the patient's
parameters with :func:`iluminet.config.params.merge_parameters` (so a wrong type is refused as in a
batch run), and the whole chain :func:`iluminet.patient.chain.run_patient_dosimetry` is rerun: BED
depends on α/β and T_rep through each fit's dose-rate curve, so no shortcut formula is used here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from iluminet.config.params import merge_parameters
from iluminet.patient.chain import PatientDosimetry, run_patient_dosimetry
from iluminet.patient.planning import POLICIES, PREDICTIONS, Action

#: control name → path in the parameter tree.
CONTROL_PATHS: dict[str, tuple[str, ...]] = {
    "alpha_beta_gy": ("protocol", "radiobiology", "alpha_beta_gy"),
    "repair_half_time_h": ("protocol", "radiobiology", "repair_half_time_h"),
    "step1_bed_limit_gy": ("protocol", "step1", "bed_limit_gy"),
    "step1_tolerance_gy": ("protocol", "step1", "tolerance_gy"),
    "step2_bed_limit_gy": ("protocol", "step2", "bed_limit_gy"),
    "step2_tolerance_gy": ("protocol", "step2", "tolerance_gy"),
    "last_cycle_policy": ("protocol", "last_cycle_policy"),
    "bed_prediction": ("protocol", "bed_prediction"),
}


def current_controls(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The control values in force in ``parameters``."""
    out = {}
    for name, path in CONTROL_PATHS.items():
        node: Any = parameters
        for key in path:
            node = node[key]
        out[name] = node
    return out


def whatif_overrides(**controls: Any) -> dict[str, Any]:
    """Nested overrides (``{"protocol": {...}}``) from control values; unknown controls are refused
    by :func:`iluminet.config.params.merge_parameters` through a key outside the tree."""
    nested: dict[str, Any] = {}
    for name, value in controls.items():
        path = CONTROL_PATHS.get(name, ("protocol", name))
        node = nested
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = float(value) if isinstance(value, (int, np.integer, np.floating)) \
            and not isinstance(value, bool) else value
    return nested


def run_whatif(base: PatientDosimetry, **controls: Any) -> PatientDosimetry:
    """The chain rerun for ``base.record`` with ``controls`` merged onto ``base.parameters``."""
    parameters = merge_parameters(base.parameters, ("BED what-if controls",
                                                    whatif_overrides(**controls)))
    return run_patient_dosimetry(base.record, parameters)


@dataclass(frozen=True)
class PlannedCourse:
    """Cycles given and predicted by the decision (each predicted cycle adds the predicted BED)."""

    cycles_given: int
    cycles_predicted: int | None  # more cycles under the current step; None if withheld
    predicted_cumulative_bed_gy: tuple[float, ...]

    @property
    def total_cycles(self) -> int | None:
        return None if self.cycles_predicted is None else self.cycles_given + self.cycles_predicted


def planned_course(result: PatientDosimetry) -> PlannedCourse:
    """Cycles given, the decision's predicted cycles remaining and the cumulative BED after each."""
    d = result.decision_
    given = len(result.cycles_)
    if d.action == Action.WITHHOLD:
        return PlannedCourse(given, None, ())
    more = int(d.predicted_cycles_remaining or 0) if d.gives_cycle else 0
    start = float(d.cumulative_bed_gy or 0.0)
    step = float(d.predicted_cycle_bed_gy or 0.0)
    return PlannedCourse(given, more, tuple(start + step * k for k in range(1, more + 1)))


def format_whatif(result: PatientDosimetry) -> str:
    """HTML summary: per-cycle and cumulative BED, decision and predicted cycles."""
    t = result.cycles_
    course = planned_course(result)
    cycle_rows: Iterable[Any] = t.itertuples()
    intervals = ["—"] * len(t)
    if result.uncertainty_ is not None:
        unc = result.uncertainty_.cycle_table()
        intervals = [f"{lo:.2f}–{hi:.2f}" if np.isfinite(lo) else "—"
                     for lo, hi in zip(unc["cumulative_bed_gy_lower95"],
                                       unc["cumulative_bed_gy_upper95"])]
    rows = "".join(
        f"<tr><td>{int(r.cycle)}</td><td class='value'>{r.bed_gy:.3f}</td>"
        f"<td class='value'>{r.cumulative_bed_gy:.3f}</td><td>{interval}</td></tr>"
        for r, interval in zip(cycle_rows, intervals))
    if course.total_cycles is None:
        predicted = "withheld (see reasons)"
    else:
        predicted = (f"{course.cycles_given} given + {course.cycles_predicted} more = "
                     f"<b class='total-cycles'>{course.total_cycles}</b>")
    reasons = "".join(f"<li>{r}</li>" for r in result.decision_.reasons)
    reasons += "".join(f"<li>step-2 criterion not met: {c}</li>"
                       for c in result.decision_.failed_criteria)
    return (f"<table class='iluminet-numbers'><tr><th>cycle</th><th>BED (Gy)</th>"
            f"<th>cumulative BED (Gy)</th><th>95 % interval (Gy)</th></tr>{rows}</table>"
            f"<p>decision: <b class='decision'>{result.decision_.summary()}</b><br>"
            f"predicted cycles: {predicted}</p><ul>{reasons}</ul>")


class BedPlot:
    """Per-cycle BED bars, cumulative BED, predicted cycles and the step bands, updated in place.

    The bar count is fixed by the cycles given (a what-if changes their heights, not their number);
    predicted cycles are drawn as hollow points continuing the cumulative line.
    """

    def __init__(self, ax: Axes, result: PatientDosimetry, *, max_cycles_shown: int = 12) -> None:
        self.ax = ax
        n = len(result.cycles_)
        self.bars = ax.bar(result.cycles_["cycle"], np.zeros(n), color="tab:gray", alpha=0.6,
                           label="BED per cycle")
        (self.cumulative,) = ax.plot([], [], "o-", color="black", label="cumulative BED")
        (self.predicted,) = ax.plot([], [], "o:", color="black", mfc="white",
                                    label="predicted cycles")
        self.bands: list[Rectangle] = []
        self.limits: list[Line2D] = []
        for colour in ("tab:green", "tab:red"):
            self.bands.append(ax.axhspan(0.0, 1.0, color=colour, alpha=0.15))
            self.limits.append(ax.axhline(0.0, color=colour, lw=1))
        ax.set_xlabel("cycle")
        ax.set_ylabel("kidney BED (Gy)")
        ax.set_xlim(0.4, max_cycles_shown + 0.6)
        ax.set_xticks(range(1, max_cycles_shown + 1))
        self.update(result)

    def update(self, result: PatientDosimetry) -> None:
        t = result.cycles_
        for bar, height in zip(self.bars, t["bed_gy"].fillna(0.0)):
            bar.set_height(float(height))
        self.cumulative.set_data(t["cycle"].to_numpy(float), t["cumulative_bed_gy"].to_numpy(float))
        course = planned_course(result)
        if course.predicted_cumulative_bed_gy:
            assert course.total_cycles is not None  # a predicted course has a total
            x = np.arange(course.cycles_given, course.total_cycles + 1).astype(float)
            y = np.concatenate([[float(t["cumulative_bed_gy"].iloc[-1])],
                                course.predicted_cumulative_bed_gy])
            self.predicted.set_data(x, y)
        else:
            self.predicted.set_data([], [])
        p = result.protocol
        for band, line, (limit, tol, name) in zip(
                self.bands, self.limits,
                ((p.step1_bed_limit_gy, p.step1_tolerance_gy, "step 1"),
                 (p.step2_bed_limit_gy, p.step2_tolerance_gy, "step 2"))):
            band.set_y(limit - tol)
            band.set_height(2 * tol)
            line.set_ydata([limit, limit])
            line.set_label(f"{name} {limit:g} ± {tol:g} Gy")
        top = max(p.step2_bed_limit_gy + p.step2_tolerance_gy,
                  *(course.predicted_cumulative_bed_gy or (0.0,)),
                  float(np.nanmax(t["cumulative_bed_gy"].to_numpy(float), initial=0.0))) + 3.0
        self.ax.set_ylim(0.0, top)
        self.ax.legend(loc="upper left", frameon=False, fontsize="small")
        self.ax.set_title(f"{result.record.patient_id}: {result.decision_.summary()}",
                          fontsize="medium")


__all__ = ["CONTROL_PATHS", "POLICIES", "PREDICTIONS", "BedPlot", "PlannedCourse",
           "current_controls", "format_whatif", "planned_course", "run_whatif",
           "whatif_overrides"]
