"""One colour per group level, the natural order of the levels and readable titles, shared by
every cohort figure (Kaplan–Meier curves, waterfall, GFR trajectories) and the HTML tables.

A level keeps its colour whatever figure it appears in and whichever other levels are present:
colours are looked up by level, never assigned by drawing order or by sorting labels as text.
Colours are from the Okabe–Ito colour-blind-safe set where possible.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from iluminet.trial.recist import CR, NE, PD, PR, RESPONSE_COLORS, SD
from iluminet.trial.tables import BED_EDGES_GY, ECOG_LEVELS, KI67_GROUPS, MISSING, ORIGIN_GROUPS

__all__ = ["GROUP_PHRASES", "GROUP_TITLES", "LEVELS", "MISSING_COLOUR", "OVERALL_COLOUR",
           "bed_levels", "colour_of", "format_p", "group_colours", "ordered_levels"]

OVERALL_COLOUR = "#000000"
MISSING_COLOUR = "#bdbdbd"
#: Colours used, in this order, for levels a grouping does not name (e.g. other BED edges).
_SPARE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


def bed_levels(edges: Sequence[float] = BED_EDGES_GY) -> tuple[str, str, str]:
    """The three delivered-BED group labels for ``edges``
    (as :func:`iluminet.trial.tables.bed_group` writes them)."""
    lo, hi = float(edges[0]), float(edges[1])
    return (f"< {lo:g} Gy", f"{lo:g}–{hi:g} Gy", f"> {hi:g} Gy")


#: Grouping column → levels in their natural order.
LEVELS: dict[str, tuple[str, ...]] = {
    "bed_group": bed_levels(),
    "ecog_level": tuple(v for v in ECOG_LEVELS if v != MISSING),
    "ki67_group": KI67_GROUPS,
    "origin_group": ORIGIN_GROUPS,
    "best_overall_response": (CR, PR, SD, PD, NE),
}

#: Grouping column → legend / column title a reader understands.
GROUP_TITLES: dict[str | None, str] = {
    None: "All patients",
    "bed_group": "Delivered kidney BED",
    "ecog_level": "ECOG performance status",
    "ki67_group": "Ki-67 index (%)",
    "origin_group": "Tumour origin",
    "best_overall_response": "Best overall response",
}

#: Grouping column → the words after "by" in a figure title ("PFS by delivered kidney BED").
GROUP_PHRASES: dict[str | None, str] = {
    None: "all patients",
    "bed_group": "delivered kidney BED",
    "ecog_level": "ECOG performance status",
    "ki67_group": "Ki-67 index",
    "origin_group": "tumour origin",
    "best_overall_response": "best overall response",
}

_COLOURS: dict[str, tuple[str, ...]] = {
    # low → high BED: blue, orange, vermillion
    "bed_group": ("#0072B2", "#E69F00", "#D55E00"),
    "ecog_level": ("#009E73", "#56B4E9", "#CC79A7"),
    "ki67_group": ("#009E73", "#0072B2", "#E69F00", "#D55E00"),
    "origin_group": ("#0072B2", "#CC79A7", "#7f7f7f"),
    "best_overall_response": tuple(RESPONSE_COLORS[c] for c in (CR, PR, SD, PD, NE)),
}


def ordered_levels(grouping: str, present: Iterable[object]) -> list[str]:
    """The levels of ``present`` in natural order: the known levels first as :data:`LEVELS`
    lists them (BED groups by their lower edge when the edges differ), then any other level in
    order of first appearance."""
    seen = [str(v) for v in dict.fromkeys(present) if v is not None and not _is_nan(v)]
    known = list(LEVELS.get(grouping, ()))
    if grouping == "bed_group" and not set(seen) <= set(known):
        known = sorted(seen, key=_bed_sort_key)
    return [v for v in known if v in seen] + [v for v in seen if v not in known]


def colour_of(grouping: str | None, level: object) -> str:
    """The one colour of ``level`` of ``grouping`` (black for the whole set, grey if missing)."""
    if grouping is None:
        return OVERALL_COLOUR
    text = str(level)
    if text in (MISSING, "missing") or _is_nan(level):
        return MISSING_COLOUR
    levels = LEVELS.get(grouping, ())
    colours = _COLOURS.get(grouping, _SPARE)
    if grouping == "bed_group" and text not in levels:
        # other BED edges: still low → high by the label's number
        rank = {"<": 0, ">": 2}.get(text[:1], 1)
        return colours[rank]
    if text in levels:
        return colours[levels.index(text) % len(colours)]
    return _SPARE[sum(map(ord, text)) % len(_SPARE)]


def group_colours(grouping: str | None, levels: Iterable[object]) -> dict[str, str]:
    """``{level: colour}`` for the given levels (see :func:`colour_of`)."""
    return {str(v): colour_of(grouping, v) for v in levels}


def format_p(p: float | None, decimals: int = 3) -> str:
    """A p-value as read in a paper: "p < 0.001" below 0.001, otherwise "p = 0.042"."""
    if p is None or _is_nan(p):
        return "p not computed"
    threshold = 10.0 ** -decimals
    if p < threshold:
        return f"p < {threshold:.{decimals}f}"
    return f"p = {p:.{decimals}f}"


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _bed_sort_key(label: str) -> tuple[int, float]:
    rank = {"<": 0, ">": 2}.get(label[:1], 1)
    digits = "".join(ch if (ch.isdigit() or ch == ".") else " " for ch in label).split()
    return rank, float(digits[0]) if digits else math.inf
