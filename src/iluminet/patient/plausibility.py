"""Plausibility interlocks: numeric but implausible input must not produce a confident decision.

A kidney activity typed in GBq instead of MBq is still a positive number, and the chain would turn
it into a dose 1000 times too small and a recommendation to give more cycles. These checks compare
each value with what the physics allows and with the patient's own other cycles; every value
outside the limits becomes a *flag* on its cycle, and a flagged cycle withholds the decision
(:func:`iluminet.patient.planning.decide_next_cycle`) with the flag as the reason. The limits and
their sources are in ``params/analysis.yaml`` (section ``plausibility``).

Checks
------
* per scan and kidney: activity as a fraction of the administered activity decay-corrected to the
  scan time, ``f = A_kidney(t) / (A_0 · e^(−λ_phys t))``, within ``[kidney_fraction_min,
  kidney_fraction_max]``; a value that would be plausible after ×1000 or ÷1000 is named as a likely
  unit error ("looks like GBq");
* per cycle: kidney dose per administered GBq within ``[dose_per_gbq_min, dose_per_gbq_max]``, and
  within a factor ``cycle_consistency_factor`` of the median of the patient's other cycles (those
  within the range);
* per cycle: kidney BED at most ``cycle_bed_max_gy``;
* between cycles: the interval within the protocol window ``nominal ± tolerance`` widened by
  ``interval_margin_weeks``. A shorter interval breaks the full-repair assumption behind summing
  per-cycle BEDs and withholds; a longer one (a delayed cycle is common after toxicity) is a
  warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from iluminet.errors import InputError
from iluminet.nuclide import decay_factor
from iluminet.scalars import as_float, as_int

SOURCE = "analysis parameters"
UNIT_FACTORS = ((1e3, "GBq (×1000 would be plausible)"), (1e-3, "kBq (÷1000 would be plausible)"))


@dataclass(frozen=True)
class PlausibilityLimits:
    """The limits of ``analysis.plausibility`` (see ``params/analysis.yaml`` for their sources)."""

    kidney_fraction_min: float
    kidney_fraction_max: float
    dose_per_gbq_min: float
    dose_per_gbq_max: float
    cycle_consistency_factor: float
    cycle_bed_max_gy: float
    interval_margin_weeks: float

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not np.isfinite(value) or value < 0:
                raise InputError(f"must be a finite number ≥ 0, got {_show(value)}", source=SOURCE,
                                 field=f"plausibility.{spec.name}")
        pairs = (("kidney_fraction_min", "kidney_fraction_max"),
                 ("dose_per_gbq_min", "dose_per_gbq_max"))
        for low, high in pairs:
            if not 0 < getattr(self, low) < getattr(self, high):
                raise InputError(f"must satisfy 0 < {low} < {high}", source=SOURCE,
                                 field=f"plausibility.{low}")
        if not self.cycle_consistency_factor > 1:
            raise InputError("must be > 1", source=SOURCE,
                             field="plausibility.cycle_consistency_factor")

    @classmethod
    def from_parameters(cls, analysis: Mapping[str, Any]) -> PlausibilityLimits:
        """From the ``analysis`` section of the merged parameters."""
        section = analysis.get("plausibility")
        if not isinstance(section, Mapping):
            raise InputError("missing section", source=SOURCE, field="plausibility")
        names = [spec.name for spec in fields(cls)]
        missing = [name for name in names if section.get(name) is None]
        if missing:
            raise InputError("missing value", source=SOURCE,
                             field=", ".join(f"plausibility.{name}" for name in missing))
        return cls(**{name: section[name] for name in names})


def _show(value: Any) -> str:
    """A value as a physicist would write it (no ``np.float64(...)``)."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, float, np.integer, np.floating)):
        return f"{float(value):g}"
    return repr(value) if isinstance(value, str) else type(value).__name__


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.3g} %"


def _unit_hint(value: float, low: float, high: float) -> str:
    """Name the unit mistake that would make ``value`` plausible, if one does."""
    for factor, unit in UNIT_FACTORS:
        if low <= value * factor <= high:
            return f" — looks like {unit}"
    return ""


def kidney_fraction_flags(activity: pd.DataFrame, cycles: pd.DataFrame,
                          limits: PlausibilityLimits) -> dict[int, list[str]]:
    """Per cycle: the scans whose kidney activity is an implausible fraction of the administered
    activity decay-corrected to the scan time.

    ``activity`` is the long table of :class:`~iluminet.patient.records.PatientRecord` (``cycle``,
    ``time_h``, ``kidney``, ``activity_mbq``), ``cycles`` its cycles table.
    """
    administered = cycles.set_index("cycle")["administered_activity_mbq"].astype(float)
    flags: dict[int, list[str]] = {}
    low, high = limits.kidney_fraction_min, limits.kidney_fraction_max
    for row in activity.itertuples(index=False):
        cycle, time_h = as_int(row.cycle), as_float(row.time_h)
        activity_mbq = as_float(row.activity_mbq)
        reference_mbq = float(administered[cycle]) * decay_factor(time_h)
        fraction = activity_mbq / reference_mbq
        if low <= fraction <= high:
            continue
        hint = _unit_hint(fraction, low, high)
        flags.setdefault(cycle, []).append(
            f"{row.kidney} kidney at {time_h:.1f} h: {activity_mbq:g} MBq is "
            f"{_percent(fraction)} of the decay-corrected administered activity (plausible "
            f"{_percent(low)}–{_percent(high)}){hint}")
    return flags


def dose_per_gbq_flags(dose_per_gbq: Mapping[int, float], limits: PlausibilityLimits
                       ) -> dict[int, list[str]]:
    """Per cycle: a kidney dose per GBq outside the plausible range, or more than
    ``cycle_consistency_factor`` from the median of the patient's other cycles."""
    flags: dict[int, list[str]] = {}
    finite = {c: float(v) for c, v in dose_per_gbq.items() if np.isfinite(v)}
    low, high = limits.dose_per_gbq_min, limits.dose_per_gbq_max
    for cycle, value in finite.items():
        if not low <= value <= high:
            hint = _unit_hint(value, low, high)
            flags.setdefault(cycle, []).append(
                f"kidney dose {value:.4g} Gy/GBq outside the plausible {low:g}–{high:g} Gy/GBq"
                f"{hint}")
        # compared with the cycles that are themselves plausible, so one unit error does not
        # make the correct cycles look inconsistent
        others = [v for c, v in finite.items() if c != cycle and low <= v <= high]
        if others and value > 0:
            median = float(np.median(others))
            ratio = value / median
            factor = limits.cycle_consistency_factor
            if not 1 / factor <= ratio <= factor:
                flags.setdefault(cycle, []).append(
                    f"kidney dose {value:.4g} Gy/GBq is {ratio:.3g} × the median {median:.4g} "
                    f"Gy/GBq of the patient's other plausible cycles (more than a factor "
                    f"{factor:g} apart: "
                    "a unit or entry error in one cycle?)")
    return flags


def cycle_bed_flags(bed_gy: float, limits: PlausibilityLimits) -> list[str]:
    """A per-cycle kidney BED above the plausible maximum."""
    if np.isfinite(bed_gy) and bed_gy > limits.cycle_bed_max_gy:
        return [f"kidney BED {bed_gy:.4g} Gy in one cycle above the plausible "
                f"{limits.cycle_bed_max_gy:g} Gy"]
    return []


@dataclass(frozen=True)
class IntervalCheck:
    """The interval checks: flags withhold the cycle's decision, warnings are only reported."""

    flags: dict[int, list[str]]
    warnings: list[str]


def interval_checks(administration: Sequence[pd.Timestamp], nominal_weeks: float,
                    tolerance_weeks: float, limits: PlausibilityLimits) -> IntervalCheck:
    """Intervals between consecutive administrations against the protocol window ± the margin.

    ``administration`` holds the administration times of cycles 1, 2, … in order.
    """
    flags: dict[int, list[str]] = {}
    warnings: list[str] = []
    shortest = nominal_weeks - tolerance_weeks - limits.interval_margin_weeks
    longest = nominal_weeks + tolerance_weeks + limits.interval_margin_weeks
    for number in range(2, len(administration) + 1):
        weeks = (administration[number - 1] - administration[number - 2]).total_seconds() \
            / (7 * 24 * 3600.0)
        window = (f"protocol {nominal_weeks:g} ± {tolerance_weeks:g} weeks, margin "
                  f"{limits.interval_margin_weeks:g}")
        if weeks < shortest:
            flags.setdefault(number, []).append(
                f"only {weeks:.1f} weeks after cycle {number - 1} ({window}): summing per-cycle "
                "BEDs assumes full repair between cycles")
        elif weeks > longest:
            warnings.append(f"cycle {number}: {weeks:.1f} weeks after cycle {number - 1} "
                            f"({window})")
    return IntervalCheck(flags, warnings)
