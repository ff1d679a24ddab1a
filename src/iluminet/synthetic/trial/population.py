"""Baseline characteristics of a synthetic ILUMINET-like population (paper Tables 1 and 3).

Categorical baseline variables are not drawn independently: fixed category lists with the
published counts are shuffled, so the marginals of the 96 treated patients *equal* Table 1, and
the lists are built per tumour origin from Table 3, so its associations hold too (pancreatic NETs:
younger, higher Ki-67, chemotherapy and targeted therapy; small-intestinal: surgery,
liver-directed therapy). For another number of patients every count is scaled by the largest
remainder method (the proportions are kept; the totals add up).

Continuous variables (age, time since diagnosis, laboratory values) are drawn from a latent
normal (with origin effects for age and a shared renal-function factor for GFR and creatinine)
and mapped by a monotone piecewise-linear transform onto the published median and range, so
median, minimum and maximum are exact while ranks — and hence associations — come from the
latent draw.

Chemotherapy and liver-directed therapy are assigned to different patients where the counts
allow (paper: 60 patients excluded from step 2 for one of them, i.e. almost no overlap); every
patient not in the "SSA only" list receives at least one previous treatment.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd

__all__ = [
    "ORIGIN_COUNTS",
    "OTHER_ORIGIN_COUNTS",
    "TABLE1_TREATED",
    "baseline_patients",
    "scaled_counts",
    "values_with_summary",
]

#: The 96 treated patients of Table 1 / Table 3 (by origin: small intestine, pancreas, other).
TABLE1_TREATED = 96
ORIGIN_COUNTS: dict[str, int] = {"small_intestine": 57, "pancreas": 18, "other": 21}
#: Table 3 footnote: the "other" origins.
OTHER_ORIGIN_COUNTS: dict[str, int] = {"lung": 9, "unknown_primary": 5, "colon": 3, "rectum": 2,
                                       "stomach": 2}
SEX_COUNTS: dict[str, int] = {"M": 54, "F": 42}
#: ECOG 0 / 1 / 2 / missing by origin (Table 3).
ECOG_BY_ORIGIN: dict[str, dict[object, int]] = {
    "small_intestine": {0: 31, 1: 19, 2: 4, None: 3},
    "pancreas": {0: 9, 1: 7, 2: 0, None: 2},
    "other": {0: 15, 1: 4, 2: 1, None: 1},
}
#: Ki-67 groups 0–2 / 3–10 / 11–20 by origin: totals 36 / 43 / 17 (Table 1); the split by origin
#: is chosen to give Table 3's medians (2, 10 and 5 %).
KI67_BY_ORIGIN: dict[str, dict[str, int]] = {
    "small_intestine": {"0-2": 29, "3-10": 22, "11-20": 6},
    "pancreas": {"0-2": 2, "3-10": 8, "11-20": 8},
    "other": {"0-2": 5, "3-10": 13, "11-20": 3},
}
#: Previous treatments by origin (Table 3): SSA only, chemotherapy, TKI/mTORi/INF, surgery,
#: liver-directed. PRRT: none (an exclusion criterion in effect).
PREVIOUS_BY_ORIGIN: dict[str, dict[str, int]] = {
    "small_intestine": {"ssa_only": 5, "chemotherapy": 0, "targeted_therapy": 7, "surgery": 51,
                        "liver_directed": 32},
    "pancreas": {"ssa_only": 0, "chemotherapy": 11, "targeted_therapy": 8, "surgery": 11,
                 "liver_directed": 8},
    "other": {"ssa_only": 4, "chemotherapy": 5, "targeted_therapy": 3, "surgery": 13,
              "liver_directed": 4},
}
#: Latent mean age by origin (years), before the exact mapping to median 67 [35–84].
AGE_LATENT_MEAN: dict[str, float] = {"small_intestine": 69.0, "pancreas": 55.0, "other": 63.0}
AGE_SUMMARY = (67.0, 35.0, 84.0)
DIAGNOSIS_MONTHS_SUMMARY = (48.0, 1.9, 207.0)
#: Table 1 laboratory findings, median [min–max]; (median, min, max, decimals).
LAB_SUMMARY: dict[str, tuple[float, float, float, int]] = {
    "baseline_creatinine_umol_l": (77.0, 47.0, 146.0, 0),
    "baseline_gfr_ml_min": (75.0, 48.0, 122.0, 0),
    "baseline_hb_g_l": (135.0, 97.0, 165.0, 0),
    "baseline_wbc_1e9_l": (6.0, 2.4, 20.0, 1),
    "baseline_anc_1e9_l": (3.5, 1.6, 11.0, 1),
    "baseline_platelets_1e9_l": (222.0, 52.0, 552.0, 0),
}
_KI67_VALUES = {"0-2": (np.array([1, 2]), np.array([0.35, 0.65])),
                "3-10": (np.arange(3, 11), np.linspace(1.6, 0.5, 8)),
                "11-20": (np.arange(11, 21), np.linspace(1.5, 0.6, 10))}


_Key = TypeVar("_Key", bound=Hashable)


def scaled_counts(counts: Mapping[_Key, int], n: int) -> dict[_Key, int]:
    """Scale category counts to total ``n`` by the largest-remainder method (exact if unchanged)."""
    keys = list(counts)
    total = sum(counts.values())
    if total == n:
        return dict(counts)
    raw = np.array([counts[k] * n / total for k in keys], dtype=float)
    base = np.floor(raw).astype(int)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: n - int(base.sum())]] += 1
    return {k: int(v) for k, v in zip(keys, base)}


def _shuffled(rng: np.random.Generator, counts: Mapping[_Key, int]) -> list[_Key]:
    values: list[_Key] = []
    for key, count in counts.items():
        values.extend([key] * count)
    return [values[i] for i in rng.permutation(len(values))]


def values_with_summary(latent: np.ndarray, median: float, low: float, high: float,
                        decimals: int) -> np.ndarray:
    """Map latent draws monotonically onto values with exactly this median, minimum and maximum.

    Piecewise linear: min(latent) → ``low``, median(latent) → ``median``, max(latent) → ``high``;
    for an even count both middle values are set to ``median`` (order is kept because the map is
    monotone and they lie on either side of it); rounding to ``decimals`` is monotone too and the
    three summary values are representable, so they survive it.
    """
    z = np.asarray(latent, dtype=float)
    n = z.size
    if n == 0:
        return z.copy()
    if n == 1:
        return np.array([median])
    order = np.argsort(z, kind="stable")
    s = z[order]
    z_med = float(np.median(s))
    lo_span = max(z_med - s[0], 1e-12)
    hi_span = max(s[-1] - z_med, 1e-12)
    mapped = np.where(s <= z_med, low + (s - s[0]) / lo_span * (median - low),
                      median + (s - z_med) / hi_span * (high - median))
    mapped[0], mapped[-1] = low, high
    if n % 2 == 0:
        mapped[n // 2 - 1] = mapped[n // 2] = median
    else:
        mapped[n // 2] = median
    mapped = np.round(mapped, decimals)
    out = np.empty(n)
    out[order] = mapped
    return out


def _previous_treatments(rng: np.random.Generator, n: int, counts: Mapping[str, int]
                         ) -> dict[str, np.ndarray]:
    """Exact counts per previous treatment for ``n`` patients of one origin (module docstring)."""
    out = {k: np.zeros(n, dtype=bool) for k in ("ssa_only", "chemotherapy", "targeted_therapy",
                                                  "surgery", "liver_directed")}
    perm = rng.permutation(n)
    n_ssa = min(counts["ssa_only"], n)
    out["ssa_only"][perm[:n_ssa]] = True
    rest = perm[n_ssa:]
    covered = np.zeros(n, dtype=bool)

    def assign(name: str, count: int, avoid: np.ndarray | None = None) -> None:
        count = min(count, rest.size)
        key = rng.random(rest.size)
        # uncovered patients first (so everyone outside "SSA only" has a treatment), then those
        # without the avoided treatment, then at random
        rank = np.lexsort((key, np.zeros(rest.size) if avoid is None else avoid[rest],
                           covered[rest]))
        chosen = rest[rank[:count]]
        out[name][chosen] = True
        covered[chosen] = True

    surgery = rest[rng.permutation(rest.size)[: min(counts["surgery"], rest.size)]]
    out["surgery"][surgery] = True
    covered[surgery] = True
    assign("chemotherapy", counts["chemotherapy"])
    assign("liver_directed", counts["liver_directed"], avoid=out["chemotherapy"])
    assign("targeted_therapy", counts["targeted_therapy"])
    return out


def baseline_patients(rng: np.random.Generator, n: int, *, diabetes_prevalence: float,
                      hypertension_prevalence: float) -> pd.DataFrame:
    """Baseline characteristics of ``n`` patients (columns of ``patients.csv`` except the IDs,
    dates, ``treated`` and ``protocol_deviation``, plus ``months_since_diagnosis``).

    With ``n = 96`` every count equals Table 1 / Table 3 of the paper; otherwise the counts are
    scaled (:func:`scaled_counts`).
    """
    origin_n = scaled_counts(ORIGIN_COUNTS, n)
    frames = []
    for group, size in origin_n.items():
        if size == 0:
            continue
        ecog = _shuffled(rng, scaled_counts(ECOG_BY_ORIGIN[group], size))
        ki67_group = _shuffled(rng, scaled_counts(KI67_BY_ORIGIN[group], size))
        # not a partition (a patient can have several): each count scaled on its own
        previous = _previous_treatments(rng, size, {
            k: int(round(v * size / ORIGIN_COUNTS[group]))
            for k, v in PREVIOUS_BY_ORIGIN[group].items()})
        frames.append(pd.DataFrame({
            "origin_group": group, "ecog": ecog, "ki67_group": ki67_group,
            **{f"previous_{k}": v for k, v in previous.items()},
        }))
    df = pd.concat(frames, ignore_index=True)
    other = df["origin_group"] == "other"
    df["origin"] = df["origin_group"]
    df.loc[cast(Any, other), "origin"] = _shuffled(
        rng, scaled_counts(OTHER_ORIGIN_COUNTS, int(other.sum())))
    df = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    df["sex"] = _shuffled(rng, scaled_counts(SEX_COUNTS, n))

    values = []
    for g in df["ki67_group"]:
        choices, weights = _KI67_VALUES[g]
        values.append(float(rng.choice(choices, p=weights / weights.sum())))
    df["ki67_percent"] = values
    df["ecog"] = pd.array([None if pd.isna(e) else int(e) for e in df["ecog"]], dtype="Int64")

    age_latent = df["origin_group"].map(AGE_LATENT_MEAN).to_numpy() + rng.normal(0, 9.0, n)
    df["age_years"] = values_with_summary(age_latent, *AGE_SUMMARY, decimals=0)
    df["months_since_diagnosis"] = values_with_summary(rng.normal(0, 1, n),
                                                       *DIAGNOSIS_MONTHS_SUMMARY, decimals=1)
    renal = rng.normal(0, 1, n) - 0.03 * (df["age_years"].to_numpy() - 67)  # older: lower GFR
    latent = {
        "baseline_gfr_ml_min": renal + 0.5 * rng.normal(0, 1, n),
        "baseline_creatinine_umol_l": -renal + 0.6 * rng.normal(0, 1, n),
        "baseline_hb_g_l": rng.normal(0, 1, n) + 0.5 * (df["sex"] == "M").to_numpy(),
        "baseline_wbc_1e9_l": (wbc := rng.normal(0, 1, n)),
        "baseline_anc_1e9_l": wbc + 0.5 * rng.normal(0, 1, n),
        "baseline_platelets_1e9_l": rng.normal(0, 1, n),
    }
    for column, (median, low, high, decimals) in LAB_SUMMARY.items():
        df[column] = values_with_summary(latent[column], median, low, high, decimals)
    df["previous_prrt"] = False
    df["diabetes"] = rng.random(n) < diabetes_prevalence
    df["uncontrolled_hypertension"] = rng.random(n) < hypertension_prevalence
    return df.drop(columns=["origin_group", "ki67_group"])


def inclusion_dates(rng: np.random.Generator, n: int, start: date, end: date, shape: float
                    ) -> list[pd.Timestamp]:
    """Sorted inclusion dates in ``[start, end]``: ``start + (end − start) · U^(1/shape)``.

    ``shape = 1`` is uniform accrual; ``shape > 1`` puts more inclusions late in the period (a
    slow start, common in two-centre trials).
    """
    span = (pd.Timestamp(end) - pd.Timestamp(start)).days
    u = np.sort(rng.random(n)) ** (1.0 / shape)
    return [pd.Timestamp(start) + pd.Timedelta(days=int(round(x * span))) for x in u]


def sequence_ids(prefix: str, n: int) -> list[str]:
    """``prefix-001`` … (zero-padded to the width of ``n``, at least 3 digits)."""
    width = max(3, len(str(n)))
    return [f"{prefix}-{i:0{width}d}" for i in range(1, n + 1)]


def summary_counts(values: Sequence[object]) -> dict[object, int]:
    """Counts of each value (None included), for reports and tests."""
    out: dict[object, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out
