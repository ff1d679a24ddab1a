"""Synthetic RECIST 1.1 measurements: baseline lesions and CT follow-up of one patient.

Baseline
    1 + Poisson(2.5) lesions (at most 8) in liver, lymph nodes, mesentery, bone, lung, peritoneum
    or pancreas; the first one measurable (liver or node). Diameters lognormal per organ (nodes:
    short axis ≥ 10 mm, i.e. pathological), bone lesions without a measurable soft-tissue part
    (no diameter). Targets are chosen by :func:`iluminet.trial.recist.select_targets` (largest
    first, at most 5, at most 2 per organ); the rest are non-target.

Response model (diameter of lesion ``j`` at ``t`` months after inclusion)
    ``d_j(t) = d_j(0) · exp(−w_j · S(t) + ρ · (t − t_r)₊)`` with

    * ``S(t) = σ · Σ_k BED_k · (1 − exp(−(t − t_k)/τ))₊`` — every cycle ``k`` (given at ``t_k``,
      kidney BED ``BED_k``) adds shrinkage proportional to its BED, reached with time constant
      ``τ`` (months): shrinkage grows with the delivered BED and continues for months after the
      last cycle. ``σ`` (per Gy) is the patient's sensitivity (lognormal), ``w_j`` a lesion factor
      (lognormal, median 1).
    * regrowth at log rate ``ρ`` (lognormal per patient) from ``t_r = T_P − ln(1.3)/ρ``, ``T_P``
      the latent progression time of :mod:`.outcomes`.

    A reading adds error ``d·cv·ε₁ + sd·ε₂`` and is rounded to 1 mm; a non-nodal target below
    3 mm has disappeared (0 mm), from 3 to 5 mm it is "too small to measure"; a node keeps its
    short axis (≥ 4 mm). A non-target lesion is "absent" below a quarter of its baseline size.

Progression is radiological by construction
    CTs are every 3 months from inclusion until death, last contact or the first CT after
    ``T_P``. That CT shows RECIST progression — a new lesion (probability
    ``new_lesion_probability``), else the targets grown to ≥ 25 % and ≥ 6 mm above the nadir —
    and no earlier CT does: an earlier reading that the noise would make a PD (≥ 20 % and
    ≥ 5 mm above the nadir) is scaled down to 15 % above it. So the first RECIST PD computed
    from the table by :mod:`iluminet.trial.recist` is the ``progression_date`` of ``events.csv``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from iluminet.synthetic.trial.parameters import CohortParameters
from iluminet.units import DAYS_PER_MONTH

__all__ = ["ORGANS", "baseline_lesions", "follow_up_lesions"]


@dataclass(frozen=True)
class _Organ:
    name: str
    is_lymph_node: bool
    weight: float
    median_mm: float  # NaN: no measurable diameter (bone)


ORGANS: tuple[_Organ, ...] = (
    _Organ("liver", False, 0.45, 24.0),
    _Organ("lymph node", True, 0.22, 8.0),  # short axis = 10 mm + lognormal(8 mm)
    _Organ("mesentery", False, 0.10, 22.0),
    _Organ("bone", False, 0.08, math.nan),
    _Organ("lung", False, 0.05, 14.0),
    _Organ("peritoneum", False, 0.06, 18.0),
    _Organ("pancreas", False, 0.04, 28.0),
)
_WEIGHTS = np.array([o.weight for o in ORGANS]) / sum(o.weight for o in ORGANS)


def _diameter(rng: np.random.Generator, organ: _Organ) -> float:
    if math.isnan(organ.median_mm):
        return math.nan
    d = organ.median_mm * math.exp(0.45 * rng.standard_normal())
    if organ.is_lymph_node:
        return float(round(10.0 + d))
    return float(max(round(d), 5.0))


def baseline_lesions(rng: np.random.Generator, patient_id: str) -> pd.DataFrame:
    """Baseline lesions of one patient (before target selection; see the module docstring)."""
    n = min(1 + int(rng.poisson(2.5)), 8)
    rows = []
    for j in range(n):
        if j == 0:  # at least one measurable lesion (RECIST-measurable disease was required)
            organ = ORGANS[0] if rng.random() < 0.75 else ORGANS[1]
            d = _diameter(rng, organ)
            d = max(d, 16.0 if organ.is_lymph_node else 12.0)
        else:
            organ = ORGANS[int(rng.choice(len(ORGANS), p=_WEIGHTS))]
            d = _diameter(rng, organ)
        rows.append({"patient_id": patient_id, "lesion_id": f"L{j + 1}", "organ": organ.name,
                     "is_lymph_node": organ.is_lymph_node, "diameter_mm": d})
    return pd.DataFrame(rows)


def _sld(d: np.ndarray, small: np.ndarray, target: np.ndarray) -> float:
    eff = np.where(small, 5.0, d)
    return float(np.nansum(eff[target]))


def _is_pd(sld: float, nadir: float, *, margin: float = 0.0) -> bool:
    return sld - nadir >= 5.0 - 1e-9 and sld >= (1.2 + margin) * nadir - 1e-9


def follow_up_lesions(rng: np.random.Generator, baseline: pd.DataFrame, p: CohortParameters, *,
                      inclusion: pd.Timestamp, baseline_day: int, ct_days: list[int],
                      pd_index: int | None, cycle_days: list[int], bed_gy: list[float],
                      progression_months: float | None) -> dict[str, list[object]]:
    """All assessments of one patient (baseline included) as columns of the lesions table.

    Parameters
    ----------
    baseline
        The patient's baseline lesions with ``category`` etc. from
        :func:`iluminet.trial.recist.select_targets`.
    baseline_day
        Day of the baseline CT relative to inclusion (≤ 0).
    ct_days
        Follow-up CT days (relative to inclusion) that take place, in order.
    pd_index
        Index into ``ct_days`` of the CT that shows progression (the last one), or None.
    cycle_days, bed_gy
        Days and kidney BEDs of the given cycles.
    progression_months
        Latent progression time (months after inclusion), or None.
    """
    n_les = len(baseline)
    d0 = baseline["diameter_mm"].to_numpy(float)
    node = baseline["is_lymph_node"].to_numpy(bool)
    target = (baseline["category"] == "target").to_numpy()
    sigma = p.sensitivity_median_per_gy * math.exp(p.sensitivity_sd_log * rng.standard_normal())
    w = np.exp(p.lesion_sensitivity_sd_log * rng.standard_normal(n_les))
    rho = p.regrowth_rate_per_month_median * math.exp(0.4 * rng.standard_normal())
    t_regrow = (progression_months - math.log(1.3) / rho
                if progression_months is not None else math.inf)

    t = np.asarray(ct_days, dtype=float) / DAYS_PER_MONTH
    tk = np.asarray(cycle_days, dtype=float) / DAYS_PER_MONTH
    bed = np.asarray(bed_gy, dtype=float)
    since = t[:, None] - tk[None, :]
    shrink = sigma * (
        bed[None, :] * np.where(since > 0, 1 - np.exp(-since / p.shrinkage_time_months), 0.0)
    ).sum(axis=1)
    growth = rho * np.clip(t - t_regrow, 0.0, None)
    log_ratio = -shrink[:, None] * w[None, :] + growth[:, None]
    true = d0[None, :] * np.exp(log_ratio)
    read = true * (1 + p.diameter_cv * rng.standard_normal(true.shape)) \
        + p.diameter_sd_mm * rng.standard_normal(true.shape)
    read = np.round(read)

    cols: dict[str, list[object]] = {k: [] for k in (
        "patient_id", "assessment_date", "lesion_id", "organ", "is_lymph_node", "category",
        "diameter_mm", "too_small_to_measure", "non_target_status")}
    pid = str(baseline["patient_id"].iloc[0])
    ids = baseline["lesion_id"].tolist()
    organs = baseline["organ"].tolist()
    cats = baseline["category"].tolist()

    def emit(day: int, d: np.ndarray, small: np.ndarray, status: list[object]) -> None:
        date = inclusion + pd.Timedelta(days=int(day))
        for j in range(n_les):
            cols["patient_id"].append(pid)
            cols["assessment_date"].append(date)
            cols["lesion_id"].append(ids[j])
            cols["organ"].append(organs[j])
            cols["is_lymph_node"].append(bool(node[j]))
            cols["category"].append(cats[j])
            cols["diameter_mm"].append(float(d[j]))
            cols["too_small_to_measure"].append(bool(small[j]))
            cols["non_target_status"].append(status[j])

    base_status: list[object] = [None if c == "target" else "present" for c in cats]
    no_small = np.zeros(n_les, dtype=bool)
    emit(baseline_day, d0, no_small, base_status)

    nadir = _sld(d0, no_small, target)
    prev_d, prev_small = d0.copy(), no_small.copy()
    for i, day in enumerate(ct_days):
        d = read[i].copy()
        small = np.zeros(n_les, dtype=bool)
        for j in range(n_les):
            if math.isnan(d0[j]):
                d[j] = math.nan
            elif node[j]:
                d[j] = max(d[j], 4.0)
            elif d[j] < 3.0:
                d[j] = 0.0
            elif d[j] < 5.0 and target[j]:
                d[j], small[j] = math.nan, True
        status: list[object] = [None] * n_les
        for j in range(n_les):
            if not target[j]:
                gone = not node[j] and math.exp(log_ratio[i, j]) < 0.25
                status[j] = "absent" if gone else "present"
                if not math.isnan(d[j]) and gone:
                    d[j] = 0.0
        sld = _sld(d, small, target)
        new_lesion = False
        if pd_index is not None and i == pd_index:
            if rng.random() < p.new_lesion_probability or sld == 0.0:
                new_lesion = True
            elif not _is_pd(sld, nadir, margin=0.05):
                goal = max(1.25 * nadir, nadir + 6.0)
                measured = target & ~small & (d > 0)
                factor = (goal - _sld(np.where(measured, 0.0, d), small, target)) \
                    / max(float(np.nansum(d[measured])), 1e-9)
                d[measured] = np.ceil(d[measured] * factor)
                if not _is_pd(_sld(d, small, target), nadir):
                    new_lesion = True
        elif _is_pd(sld, nadir, margin=-0.02):
            # not yet progressed: a reading that would be PD is scaled down to 15 % above nadir
            measured = target & ~small & (d > 0)
            rest = _sld(np.where(measured, 0.0, d), small, target)
            total = float(np.nansum(d[measured]))
            if total > 0:
                d[measured] = np.floor(d[measured] * max(1.15 * nadir - rest, 0.0) / total)
            if _is_pd(_sld(d, small, target), nadir, margin=-0.02):
                d, small = prev_d.copy(), prev_small.copy()
        emit(day, d, small, status)
        if new_lesion:
            date = inclusion + pd.Timedelta(days=int(day))
            cols["patient_id"].append(pid)
            cols["assessment_date"].append(date)
            cols["lesion_id"].append("N1")
            cols["organ"].append("liver")
            cols["is_lymph_node"].append(False)
            cols["category"].append("new")
            cols["diameter_mm"].append(float(round(8 + 8 * rng.random())))
            cols["too_small_to_measure"].append(False)
            cols["non_target_status"].append(None)
        nadir = min(nadir, _sld(d, small, target))
        prev_d, prev_small = d, small
    return cols
