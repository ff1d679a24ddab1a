"""Scoring of the EORTC QLQ-C30 (version 3.0) and QLQ-GI.NET21 questionnaires.

The item-to-scale tables are data (``iluminet/data/qol/*.csv``, sources in the README beside
them); this module only applies the scoring rules of the EORTC QLQ-C30 Scoring Manual (3rd ed.,
Fayers et al. 2001) to them:

* raw score ``RS = mean of the answered items of the scale``;
* functional scales ``S = (1 − (RS − 1)/range)·100`` (higher = better functioning);
* symptom scales/items and global health status ``S = ((RS − 1)/range)·100``
  (higher = more symptoms, resp. better global health);
* ``range`` = highest minus lowest response: 3 for items answered 1–4, 6 for items 29–30 (1–7);
* missing items: a scale is scored when at least half of its items are answered, from the
  answered ones (the manual's "half rule"); otherwise it is missing. A single-item scale needs
  its item.

The QLQ-C30 summary score (Giesinger et al., J Clin Epidemiol 2016;69:79–88) is the mean of the 13
scales other than global health status (QL2) and financial difficulties (FI), the eight symptom
scales entered reversed (``100 − S``); it is computed only when all 13 scale scores exist (the
EORTC summary-score instruction).

The QLQ-GI.NET21 items are numbered 31–51 and scored by the same rules; the exact item-to-scale
mapping of that module could not be confirmed from a readable source (see the data README) and is
kept in one file to correct.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal, cast

import numpy as np
import pandas as pd

from iluminet.errors import InputError

__all__ = [
    "C30",
    "GINET21",
    "QUESTIONNAIRES",
    "SUMMARY_SCALES",
    "Scale",
    "item_maximum",
    "scale_table",
    "scales",
    "score_scale",
    "score_responses",
    "summary_score",
]

C30 = "QLQ-C30"
GINET21 = "QLQ-GINET21"

#: Items of each questionnaire and their highest response (lowest is always 1).
QUESTIONNAIRES: Mapping[str, Mapping[int, int]] = {
    C30: {**{i: 4 for i in range(1, 29)}, 29: 7, 30: 7},
    GINET21: {i: 4 for i in range(31, 52)},
}
_FILES = {C30: "qlq_c30_v3_scales.csv", GINET21: "qlq_ginet21_scales.csv"}

#: The 13 QLQ-C30 scales of the summary score (Giesinger et al. 2016).
SUMMARY_SCALES: tuple[str, ...] = ("PF2", "RF2", "EF", "CF", "SF", "FA", "NV", "PA", "DY", "SL",
                                   "AP", "CO", "DI")

Kind = Literal["global", "functional", "symptom"]


@dataclass(frozen=True)
class Scale:
    """One scale or single item: code, label, direction, items and response range."""

    questionnaire: str
    code: str
    label: str
    kind: Kind
    items: tuple[int, ...]
    item_range: int

    @property
    def higher_is_better(self) -> bool:
        """Functional scales and global health status: a higher score is better."""
        return self.kind in ("global", "functional")


@cache
def scale_table(questionnaire: str) -> pd.DataFrame:
    """The item-to-scale table of ``questionnaire`` as read from the package data."""
    if questionnaire not in _FILES:
        raise InputError(f"unknown questionnaire {questionnaire!r}; expected one of "
                         f"{list(_FILES)}", field="questionnaire")
    path = resources.files("iluminet") / "data" / "qol" / _FILES[questionnaire]
    with path.open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, dtype={"items": str})
    return table


@cache
def scales(questionnaire: str) -> tuple[Scale, ...]:
    """The scales of ``questionnaire`` in table order, checked against its item ranges."""
    out = []
    maxima = QUESTIONNAIRES[questionnaire]
    for row in scale_table(questionnaire).to_dict(orient="records"):
        items = tuple(int(i) for i in str(row["items"]).split())
        item_range = int(row["item_range"])
        for i in items:
            if i not in maxima or maxima[i] - 1 != item_range:
                raise RuntimeError(f"scale {row['scale']} of {questionnaire}: item {i} does not "
                                   f"have range {item_range}")
        kind = str(row["kind"])
        if kind not in ("global", "functional", "symptom"):
            raise RuntimeError(f"scale {row['scale']} of {questionnaire}: unknown kind {kind!r}")
        out.append(Scale(questionnaire, str(row["scale"]), str(row["label"]),
                         cast(Kind, kind), items, item_range))
    return tuple(out)


def item_maximum(questionnaire: str, item: int) -> int | None:
    """Highest allowed response of ``item`` (``None`` if the item is not in the questionnaire)."""
    return QUESTIONNAIRES.get(questionnaire, {}).get(int(item))


def score_scale(responses: np.ndarray, scale: Scale) -> np.ndarray:
    """Scores 0–100 of one scale for rows of item responses.

    Parameters
    ----------
    responses
        Array ``(n, len(scale.items))`` of responses in the scale's item order, NaN = unanswered.
    scale
        The scale.

    Returns
    -------
    numpy.ndarray
        ``n`` scores; NaN where fewer than half of the items are answered.
    """
    values = np.asarray(responses, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(scale.items):
        raise InputError(f"expected responses of shape (n, {len(scale.items)}) for scale "
                         f"{scale.code}, got {values.shape}", field=scale.code)
    answered = np.isfinite(values).sum(axis=1)
    with np.errstate(invalid="ignore"):
        raw = np.nansum(values, axis=1) / answered
    scored = answered * 2 >= len(scale.items)
    linear = (raw - 1.0) / scale.item_range
    score = (1.0 - linear) * 100.0 if scale.kind == "functional" else linear * 100.0
    return np.where(scored & (answered > 0), score, np.nan)


def score_responses(wide: pd.DataFrame, questionnaire: str) -> pd.DataFrame:
    """Every scale of ``questionnaire`` for a table with one column per item.

    Parameters
    ----------
    wide
        One row per completed form; item columns named by their number (``1``, ``2``, … or
        ``"1"``); missing columns and NaN cells are unanswered items. Other columns are ignored.
    questionnaire
        :data:`C30` or :data:`GINET21`.

    Returns
    -------
    pandas.DataFrame
        Same index, one column per scale code (and ``SUM`` for the QLQ-C30 summary score).
    """
    columns = {}
    lookup = {str(c): c for c in wide.columns}
    for scale in scales(questionnaire):
        block = np.column_stack([
            pd.to_numeric(wide[lookup[str(i)]], errors="coerce").to_numpy(dtype=float)
            if str(i) in lookup else np.full(len(wide), np.nan) for i in scale.items])
        columns[scale.code] = score_scale(block.reshape(len(wide), len(scale.items)), scale)
    out = pd.DataFrame(columns, index=wide.index)
    if questionnaire == C30:
        out["SUM"] = summary_score(out)
    return out


def summary_score(c30_scores: pd.DataFrame) -> pd.Series:
    """QLQ-C30 summary score (Giesinger et al. 2016) from the 0–100 scale scores.

    ``SUM = mean(PF2, RF2, EF, CF, SF, 100 − FA, 100 − NV, 100 − PA, 100 − DY, 100 − SL,
    100 − AP, 100 − CO, 100 − DI)``; NaN unless all 13 scales are scored.
    """
    missing = [c for c in SUMMARY_SCALES if c not in c30_scores.columns]
    if missing:
        raise InputError(f"missing scale column(s) {missing} for the summary score",
                         field=missing[0])
    kinds = {s.code: s.kind for s in scales(C30)}
    parts = [c30_scores[c] if kinds[c] == "functional" else 100.0 - c30_scores[c]
             for c in SUMMARY_SCALES]
    block = pd.concat(parts, axis=1)
    return block.mean(axis=1).where(block.notna().all(axis=1))
