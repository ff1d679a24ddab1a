"""Small HTML building blocks shared by the patient and cohort reports: a displayable HTML
fragment, the synthetic-data banner, and the styling of pandas tables (human headers with units,
per-column precision, flagged cells marked)."""

from __future__ import annotations

import html as _html
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
from pandas.io.formats.style import Styler

if TYPE_CHECKING:
    from pandas.io.formats.style_render import CSSDict

from iluminet.report.data_source import DataSource

__all__ = [
    "FLAG_STYLE",
    "TABLE_CSS",
    "facts_table",
    "Html",
    "escape",
    "short_flags",
    "styled_table",
    "synthetic_banner",
]

#: How a flagged value is marked in every table (and the decision box).
FLAG_STYLE = "background-color: #fde0dd; color: #a50f15; font-weight: bold;"

TABLE_CSS: list[CSSDict] = [
    {"selector": "", "props": "border-collapse: collapse; font-size: 0.92em; margin: 0.4em 0;"},
    {"selector": "th", "props": "background: #f0f3f7; border-bottom: 2px solid #8a9bb0; "
                               "padding: 4px 8px; text-align: center; font-weight: 600;"},
    {"selector": "td", "props": "padding: 3px 8px; border-bottom: 1px solid #e3e7ec; "
                               "font-variant-numeric: tabular-nums; vertical-align: top;"},
    {"selector": "caption", "props": "caption-side: top; text-align: left; font-weight: 600; "
                                    "padding: 2px 0 4px 0;"},
]


def escape(text: object) -> str:
    return _html.escape(str(text), quote=True)


class Html:
    """An HTML fragment that Jupyter displays as HTML (and nbconvert keeps as HTML)."""

    def __init__(self, markup: str) -> None:
        self.markup = markup

    def _repr_html_(self) -> str:
        return self.markup

    def __str__(self) -> str:
        return self.markup


def short_flags(flags: str) -> str:
    """``"left kidney: non-physical: measured activity rises …; right kidney: uncertain: …"`` →
    ``"left kidney: non-physical; right kidney: uncertain"`` (the full text is in the fits)."""
    parts = [p.strip() for p in flags.split("; ") if p.strip()]
    short = [": ".join(p.split(": ")[:2]) for p in parts if ": " in p]
    return "; ".join(dict.fromkeys(short)) if short else flags


def synthetic_banner(source: DataSource) -> Html:
    """The **SYNTHETIC DATA** banner for generated data; a quiet line for data as supplied."""
    if not source.synthetic:
        return Html(f'<p class="data-source" style="color:#555">Data source: '
                    f"{escape(source.description)}</p>")
    seed = "" if source.seed is None else f" (seed {source.seed})"
    return Html(
        '<div class="synthetic-banner" role="alert" style="background:#fff3cd; '
        "border: 2px solid #d39e00; border-radius: 6px; padding: 8px 14px; margin: 6px 0 12px 0; "
        'color: #5c4400; font-size: 1.05em;"><strong style="letter-spacing: 0.06em;">'
        f"SYNTHETIC DATA</strong>{escape(seed)} — {escape(source.description.rstrip('.'))}. "
        "Not for clinical "
        "use.</div>")


def styled_table(table: pd.DataFrame,
                 columns: Mapping[str, tuple[str, str | Callable[[Any], str]]], *,
                 caption: str = "", flagged_rows: Sequence[bool] | None = None,
                 flag_columns: Sequence[str] = (),
                 text_columns: Sequence[str] = (), uuid: str = "") -> Styler:
    """A pandas ``Styler`` of ``table[list(columns)]``.

    Parameters
    ----------
    columns
        ``{column: (header, format)}`` — the header a reader sees (with the unit) and the Python
        format of the values (``"{:.1f}"``; ``""`` for text). Missing numbers show as "—".
    flagged_rows
        Per row, whether it is flagged: its ``flag_columns`` (all columns if empty) are marked
        with :data:`FLAG_STYLE`.
    text_columns
        Columns aligned left (names, kidneys, flags).
    uuid
        A fixed id for the table's CSS (stable HTML from run to run); derived from the caption
        if empty.
    """
    data = table[list(columns)].reset_index(drop=True)
    formatters: dict[Any, Callable[[object], str] | str | None] = {}
    for name, (_, fmt) in columns.items():
        if fmt:
            formatters[name] = fmt
    styler = data.style.format(formatters, na_rep="—").hide(axis="index")
    styler = styler.set_table_styles(TABLE_CSS)
    # alignment per cell (a table-wide td rule would outrank the per-cell rules)
    left: list[Hashable] = [c for c in text_columns if c in data.columns]
    right: list[Hashable] = [c for c in data.columns if c not in left]
    if left:
        styler = styler.set_properties(subset=left, **{"text-align": "left"})
    if right:
        styler = styler.set_properties(subset=right, **{"text-align": "right",
                                                        "white-space": "nowrap"})
    if flagged_rows is not None and any(flagged_rows):
        rows = [i for i, flagged in enumerate(flagged_rows) if flagged]
        cols = [c for c in (flag_columns or data.columns) if c in data.columns]
        styler = styler.set_properties(subset=cast(Any, pd.IndexSlice[rows, cols]),
                                       **_props(FLAG_STYLE))
    styler = styler.relabel_index([header for header, _ in columns.values()], axis="columns")
    if caption:
        styler = styler.set_caption(caption)
    ident = uuid or "".join(ch for ch in caption.lower() if ch.isalnum())[:24]
    return styler.set_uuid(ident) if ident else styler


def facts_table(facts: Sequence[tuple[str, object]], caption: str) -> Styler:
    """A two-column table of named facts whose values are already formatted as text."""
    frame = pd.DataFrame({"item": [k for k, _ in facts], "value": [str(v) for _, v in facts]})
    return styled_table(frame, {"item": ("", ""), "value": ("", "")}, caption=caption,
                        text_columns=("item",))


def _props(css: str) -> dict[str, str]:
    out = {}
    for item in css.split(";"):
        if ":" in item:
            key, value = item.split(":", 1)
            out[key.strip()] = value.strip()
    return out
