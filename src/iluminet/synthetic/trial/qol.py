"""Synthetic EORTC QLQ-C30 and QLQ-GI.NET21 questionnaires of a 177Lu-DOTATATE trial cohort.

:func:`simulate_qol` adds ``qol.csv`` (``data/README.md``, "Cohort tables") to a cohort's
``patients``, ``cycles``, ``events`` and ``adverse_events`` tables. The data are SYNTHETIC: the
model below is chosen to look plausible for a NET population treated with PRRT, not fitted to the
ILUMINET questionnaires (which are unpublished), so no number of an analysis of these data says
anything about the trial.

Schedule
--------
For each treated patient: ``baseline`` 0–14 days before inclusion (screening); ``C<k>`` the day
before each cycle ``k ≥ 2`` (during treatment); ``FU<m>`` every three months (91 days) after the
last cycle, ``m`` = 3, 6, … months, while the patient is alive and followed (before the death date
and on or before the last follow-up). Untreated patients have no questionnaires.

Latent scores
-------------
Every scale ``s`` of both questionnaires has a latent *problem* score ``p`` on 0–100 (0 = no
problem; functional scales and global health status are ``100 − p``). For patient ``i`` at day
``t`` from inclusion

    p_is(t) = μ_s + σ_s·(λ_s·z_i + √(1 − λ_s²)·u_is)                          (baseline level)
              + c_s·n_i(t)·2^(−max(0, t − t_end)/T_c)                          (treatment)
              + Σ_AE b_s,term·grade·exp(−|t − t_AE|/τ_AE)                      (toxicity: the AEs)
              + d_s·2^(−(t − t_end)/T_d)·[ended for toxicity, t > t_end]       (toxicity stop)
              + r_s·min(t − t_PD, 36 months)·[t > t_PD]                         (after progression)
              + e_s·max(0, 1 − (t_death − t)/W)                                (before death)
              + ε,  ε ~ N(0, σ_ε²)

with ``z_i ~ N(0, 1)`` a general health factor shared by the scales (shifted by
``ecog_shift`` per ECOG level), ``u_is ~ N(0, 1)`` scale-specific, ``n_i(t)`` the cycles given by
``t``, ``t_end`` the last cycle, ``t_AE`` and ``grade`` the onsets and grades of the patient's
clinical adverse events (``adverse_events.csv``: fatigue raises fatigue and lowers functioning,
diarrhoea raises diarrhoea and the GI scale, …, :attr:`QolSimulationParameters.ae_effects`),
``t_PD`` the progression date and ``t_death`` the death date of ``events.csv``; ``p`` is clipped
to [0, 100].

Item responses
--------------
Item ``j`` of scale ``s`` (response range ``R``) is ``round(1 + R·p_is/100 + η)`` clipped to
1..R+1, ``η ~ N(0, item_sd²)`` (items 29–30, where 7 is best, use ``100 − p``). Scoring these items
with :mod:`iluminet.trial.qol_scoring` returns the latent score up to rounding and noise.

Missing data
------------
A scheduled QLQ-C30 is not returned with probability ``form_missing`` (baseline
``baseline_missing``), plus ``after_progression_missing`` after progression and
``before_death_missing`` within ``before_death_window_days`` of death (informative missingness:
sicker patients answer less). The GI.NET21 is returned with ``ginet_given_c30`` of the returned
C30 forms. Each item of a returned form is left blank with probability ``item_missing``.

Random numbers come from their own stream (``SeedSequence([seed, 0x514F4C])``), so adding the
questionnaires leaves every other table of a seed unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from iluminet.trial.qol_scoring import C30, GINET21, QUESTIONNAIRES, Scale, scales
from iluminet.trial.schema import QOL_BASELINE_VISIT, TABLES
from iluminet.units import DAYS_PER_MONTH

__all__ = ["QOL_STREAM", "QolSimulationParameters", "simulate_qol"]

#: Second word of the seed sequence of the questionnaire stream ("QOL").
QOL_STREAM = 0x514F4C

# (μ problem, σ, λ) per scale: NET patients before PRRT (global health ≈ 68, physical ≈ 82,
# fatigue ≈ 33, diarrhoea ≈ 30), plausible magnitudes rather than fitted values.
_BASELINE: dict[str, tuple[float, float, float]] = {
    "QL2": (32, 20, 0.7), "PF2": (18, 18, 0.7), "RF2": (25, 28, 0.7), "EF": (22, 20, 0.5),
    "CF": (15, 18, 0.5), "SF": (20, 25, 0.6), "FA": (33, 22, 0.7), "NV": (8, 14, 0.4),
    "PA": (22, 25, 0.5), "DY": (15, 20, 0.4), "SL": (28, 28, 0.4), "AP": (15, 22, 0.5),
    "CO": (10, 18, 0.3), "DI": (30, 30, 0.3), "FI": (15, 25, 0.3),
    "ED": (25, 25, 0.3), "GI": (28, 22, 0.4), "TR": (22, 20, 0.4), "WG": (15, 25, 0.2),
    "MB": (30, 30, 0.5), "SO": (18, 20, 0.6), "BI": (20, 25, 0.4), "DR": (35, 25, 0.5),
    "IN": (12, 20, 0.2),
}


def _default_ae_effects() -> dict[str, dict[str, float]]:
    return {
        "fatigue": {"FA": 10, "QL2": 5, "PF2": 5, "RF2": 8, "TR": 4},
        "nausea_vomiting": {"NV": 12, "AP": 6, "TR": 5},
        "diarrhea": {"DI": 15, "GI": 6},
        "abdominal_pain": {"PA": 10, "GI": 8},
        "pain": {"PA": 12, "MB": 10},
        "flushing": {"ED": 12},
        "depression": {"EF": 12, "QL2": 5},
        "weight_loss": {"AP": 8},
        "alopecia": {"BI": 10},
        "constipation": {"CO": 15},
    }


@dataclass(frozen=True)
class QolSimulationParameters:
    """Every number of the questionnaire model (module notes).

    Effects are in problem points (0–100) and apply to the scales named; scales not named are
    unaffected by that mechanism.
    """

    baseline: Mapping[str, tuple[float, float, float]] = field(
        default_factory=lambda: dict(_BASELINE))
    ecog_shift: float = 0.5
    cumulative_per_cycle: Mapping[str, float] = field(default_factory=lambda: {
        "FA": 2.0, "QL2": 1.5, "PF2": 1.0, "RF2": 2.0, "SF": 1.0, "TR": 2.0})
    cumulative_half_time_days: float = 120.0
    ae_effects: Mapping[str, Mapping[str, float]] = field(default_factory=_default_ae_effects)
    ae_decay_days: float = 30.0
    toxicity_stop: Mapping[str, float] = field(default_factory=lambda: {
        "FA": 10.0, "QL2": 8.0, "RF2": 10.0, "PF2": 5.0, "TR": 10.0})
    toxicity_stop_half_time_days: float = 180.0
    progression_per_month: Mapping[str, float] = field(default_factory=lambda: {
        "QL2": 1.0, "PF2": 0.8, "RF2": 1.2, "FA": 1.0, "PA": 0.8, "AP": 0.6, "SF": 0.8,
        "EF": 0.5, "GI": 0.6, "DR": 1.0})
    progression_other_per_month: float = 0.3
    progression_cap_months: float = 36.0
    before_death: Mapping[str, float] = field(default_factory=lambda: {
        "QL2": 30.0, "PF2": 30.0, "RF2": 35.0, "FA": 30.0, "AP": 25.0, "PA": 20.0, "SF": 25.0,
        "EF": 15.0, "CF": 10.0, "NV": 10.0, "DY": 15.0})
    before_death_other: float = 10.0
    before_death_window_days: float = 180.0
    visit_sd: float = 5.0
    item_sd: float = 0.35
    baseline_window_days: int = 14
    follow_up_interval_days: int = 91
    baseline_missing: float = 0.04
    form_missing: float = 0.07
    after_progression_missing: float = 0.20
    before_death_missing: float = 0.45
    ginet_given_c30: float = 0.95
    item_missing: float = 0.015

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict(self).items()}


def _schedule(inclusion: pd.Timestamp, cycle_dates: list[pd.Timestamp], end: pd.Timestamp,
              death: pd.Timestamp | None, p: QolSimulationParameters, rng: np.random.Generator
              ) -> list[tuple[str, pd.Timestamp]]:
    visits = [(QOL_BASELINE_VISIT,
               inclusion - pd.Timedelta(days=int(rng.integers(0, p.baseline_window_days + 1))))]
    visits += [(f"C{k + 1}", d - pd.Timedelta(days=1)) for k, d in enumerate(cycle_dates)
               if k >= 1]
    limit = end if death is None else min(end, death - pd.Timedelta(days=1))
    j = 1
    while True:
        day = cycle_dates[-1] + pd.Timedelta(days=p.follow_up_interval_days * j)
        if day > limit:
            break
        visits.append((f"FU{3 * j}", day))
        j += 1
    return [(v, d) for v, d in visits if d <= end]


def _problem_scores(days: np.ndarray, patient: Mapping[str, Any], all_scales: list[Scale],
                    p: QolSimulationParameters, rng: np.random.Generator) -> np.ndarray:
    """Latent problem scores (visits × scales) of one patient, model of the module notes."""
    z = rng.normal() + p.ecog_shift * float(patient["ecog"])
    out = np.empty((len(days), len(all_scales)))
    cycle_days, t_end = patient["cycle_days"], patient["end_day"]
    given = np.array([(cycle_days <= t).sum() for t in days], dtype=float)
    after_end = np.maximum(0.0, days - t_end)
    for j, scale in enumerate(all_scales):
        mu, sd, lam = p.baseline[scale.code]
        level = mu + sd * (lam * z + np.sqrt(1.0 - lam * lam) * rng.normal())
        value = np.full(len(days), level)
        value += (p.cumulative_per_cycle.get(scale.code, 0.0) * given
                  * 2.0 ** (-after_end / p.cumulative_half_time_days))
        for term, onset, grade in patient["aes"]:
            weight = p.ae_effects.get(term, {}).get(scale.code, 0.0)
            if weight:
                value += weight * grade * np.exp(-np.abs(days - onset) / p.ae_decay_days)
        if patient["toxicity_stop"]:
            stop = p.toxicity_stop.get(scale.code, 0.0)
            value += np.where(days > t_end, stop * 2.0 ** (
                -(days - t_end) / p.toxicity_stop_half_time_days), 0.0)
        if patient["pd_day"] is not None:
            rate = p.progression_per_month.get(scale.code, p.progression_other_per_month)
            months = np.clip((days - patient["pd_day"]) / DAYS_PER_MONTH, 0.0,
                             p.progression_cap_months)
            value += rate * months
        if patient["death_day"] is not None:
            top = p.before_death.get(scale.code, p.before_death_other)
            value += top * np.maximum(0.0, 1.0 - (patient["death_day"] - days)
                                      / p.before_death_window_days)
        value += rng.normal(0.0, p.visit_sd, len(days))
        out[:, j] = np.clip(value, 0.0, 100.0)
    return out


def simulate_qol(patients: pd.DataFrame, cycles: pd.DataFrame, events: pd.DataFrame,
                 adverse_events: pd.DataFrame | None = None, *, seed: int = 0,
                 parameters: QolSimulationParameters | None = None) -> pd.DataFrame:
    """The ``qol`` table (one row per item of each returned form) of a cohort.

    Parameters
    ----------
    patients, cycles, events, adverse_events
        Typed cohort tables (``adverse_events`` may be empty or ``None``: no AE-linked changes).
    seed
        Seed of the cohort; the questionnaires use their own stream of it (module notes).
    parameters
        The model; default :class:`QolSimulationParameters()`.

    Returns
    -------
    pandas.DataFrame
        Columns of ``TABLES["qol"]``, ``response`` nullable ``Int64`` (NA = item left blank).
    """
    p = parameters or QolSimulationParameters()
    root = np.random.SeedSequence([int(seed), QOL_STREAM])
    ids = list(patients["patient_id"])
    rngs = dict(zip(ids, (np.random.default_rng(s) for s in root.spawn(len(ids)))))
    all_scales = [*scales(C30), *scales(GINET21)]
    ev = events.set_index("patient_id")
    cyc = cycles.sort_values(["patient_id", "cycle"]).groupby("patient_id")["administration_date"]
    cycle_dates = {pid: list(pd.to_datetime(d)) for pid, d in cyc}
    aes = adverse_events if adverse_events is not None else pd.DataFrame(
        columns=["patient_id", "onset_date", "term", "grade"])
    ae_by = {pid: g for pid, g in aes.groupby("patient_id")}
    columns: dict[str, list[Any]] = {c: [] for c in TABLES["qol"].column_names}
    for _, row in patients.iterrows():
        pid = row["patient_id"]
        rng = rngs[pid]
        if not bool(row["treated"]) or pid not in ev.index:
            continue
        inc = pd.Timestamp(row["inclusion_date"])
        e = ev.loc[pid]
        death = None if pd.isna(e["death_date"]) else pd.Timestamp(e["death_date"])
        visits = _schedule(inc, cycle_dates[pid], pd.Timestamp(e["last_followup_date"]), death,
                           p, rng)
        days = np.array([(d - inc).days for _, d in visits], dtype=float)
        g = ae_by.get(pid)
        patient = {
            "ecog": 0 if pd.isna(row["ecog"]) else int(row["ecog"]),
            "cycle_days": np.array([(d - inc).days for d in cycle_dates[pid]], dtype=float),
            "end_day": float((cycle_dates[pid][-1] - inc).days),
            "aes": [] if g is None else [(t, float((pd.Timestamp(o) - inc).days), float(gr))
                                         for t, o, gr in zip(g["term"], g["onset_date"],
                                                             g["grade"])],
            "toxicity_stop": e["treatment_end_reason"] == "toxicity",
            "pd_day": (None if pd.isna(e["progression_date"])
                       else float((pd.Timestamp(e["progression_date"]) - inc).days)),
            "death_day": None if death is None else float((death - inc).days),
        }
        problem = _problem_scores(days, patient, all_scales, p, rng)
        index = {s.code: j for j, s in enumerate(all_scales)}
        for k, (visit, date) in enumerate(visits):
            miss = p.baseline_missing if visit == QOL_BASELINE_VISIT else p.form_missing
            if patient["pd_day"] is not None and days[k] > patient["pd_day"]:
                miss += p.after_progression_missing
            if patient["death_day"] is not None and \
                    patient["death_day"] - days[k] <= p.before_death_window_days:
                miss += p.before_death_missing
            if rng.random() < miss:
                continue
            forms = [C30] + ([GINET21] if rng.random() < p.ginet_given_c30 else [])
            for name in forms:
                for scale in scales(name):
                    for item in scale.items:
                        top = QUESTIONNAIRES[name][item]
                        level = problem[k, index[scale.code]]
                        if item in (29, 30):
                            level = 100.0 - level
                        answer = int(np.clip(np.rint(1.0 + (top - 1) * level / 100.0
                                                     + rng.normal(0.0, p.item_sd)), 1, top))
                        columns["patient_id"].append(pid)
                        columns["visit"].append(visit)
                        columns["date"].append(date)
                        columns["questionnaire"].append(name)
                        columns["item"].append(item)
                        columns["response"].append(
                            None if rng.random() < p.item_missing else answer)
    table = pd.DataFrame(columns)
    table["date"] = pd.to_datetime(table["date"])
    table["item"] = table["item"].astype("int64")
    table["response"] = table["response"].astype("Int64")
    return table.sort_values(["patient_id", "date", "questionnaire", "item"],
                             kind="mergesort").reset_index(drop=True)
