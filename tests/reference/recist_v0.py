"""Tumour response by RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228-47).

Everything works on one flat *lesions* table, one row per lesion per assessment (CT scan):

``patient_id`` (str)
    Pseudonymous patient ID.
``assessment_date`` (date)
    Date of the scan, without time of day; a patient's earliest date is the baseline.
``lesion_id`` (str)
    Stable across a patient's assessments (unique per patient and date).
``organ`` (str)
    Organ or site, e.g. ``"liver"``; all lymph nodes count as one organ for the 2-per-organ rule.
``is_lymph_node`` (bool)
    Nodal lesion, measured by its short axis.
``category`` (str)
    ``"target"`` | ``"non_target"`` (both fixed at baseline) | ``"new"`` (unequivocal).
``diameter_mm`` (float, mm)
    Longest diameter (non-nodal) or short axis (nodal); ``0`` for a disappeared non-nodal lesion;
    NaN when not measured or not evaluable.
``too_small_to_measure`` (bool)
    Target present but too small to measure: counts as 5 mm; ``diameter_mm`` is then NaN.
``non_target_status`` (str or NaN)
    Non-target lesions only: ``"present"`` | ``"absent"`` | ``"unequivocal_progression"``;
    NaN = not evaluated.

:data:`LESION_COLUMNS` carries the same information in machine-readable form and
:func:`validate_lesions` enforces it. Conventions that follow from this design:

* Target and non-target lesions are chosen at baseline (:func:`select_targets` applies the RECIST
  rule) and keep their category and ID at every later assessment. A baseline lesion that has no row
  at a follow-up assessment was *not evaluated* there (target: SLD not evaluable; non-target: NE).
* A row with ``category == "new"`` is an *unequivocal* new lesion. Equivocal findings are not
  entered until they are confirmed; RECIST then dates the progression to the scan that first showed
  them, so they are entered at that date.
* A disappeared non-nodal target is recorded as ``0`` mm; a node keeps its measured short axis even
  when normal (RECIST 1.1 sect. 4.3.1), so the SLD of a complete response may be above zero.
* ``too_small_to_measure`` rows leave ``diameter_mm`` empty; the 5 mm default is applied here, never
  stored, so the raw reading stays distinguishable from the convention.

Response codes are plain strings (``"CR"``, ``"PR"``, ``"SD"``, ``"PD"``, ``"NE"``, and for
non-target disease ``"NON_CR_NON_PD"`` and ``"NA"`` for "no non-target lesions at baseline"), so
that tables stay ordinary pandas columns.

Not modelled: tumour markers (needed by RECIST for a non-target CR), cytology, FDG-PET for new
lesions, patients without measurable disease at baseline (RECIST table 2; ILUMINET required
measurable disease), and the EORTC clarification that a *confirmed* PR continues as PR until PD even
when the sum later rises above 70 % of baseline: here every time point is classified from its own
SLD, baseline and nadir.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from iluminet.errors import InputError

# --------------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------------

CR = "CR"
PR = "PR"
SD = "SD"
PD = "PD"
NE = "NE"
NON_CR_NON_PD = "NON_CR_NON_PD"
NOT_APPLICABLE = "NA"

TARGET_RESPONSES: tuple[str, ...] = (CR, PR, SD, PD, NE)
NON_TARGET_RESPONSES: tuple[str, ...] = (CR, NON_CR_NON_PD, PD, NE, NOT_APPLICABLE)
OVERALL_RESPONSES: tuple[str, ...] = (CR, PR, SD, PD, NE)

CATEGORIES: tuple[str, ...] = ("target", "non_target", "new")
NON_TARGET_STATUSES: tuple[str, ...] = ("present", "absent", "unequivocal_progression")

MEASURABLE_NON_NODAL_MM = 10.0  # longest diameter, CT slice thickness <= 5 mm
MEASURABLE_NODE_SHORT_AXIS_MM = 15.0
PATHOLOGICAL_NODE_SHORT_AXIS_MM = 10.0  # below this a node is normal
TOO_SMALL_TO_MEASURE_MM = 5.0
PR_DECREASE_FRACTION = 0.30  # from baseline
PD_INCREASE_FRACTION = 0.20  # from nadir
PD_MIN_INCREASE_MM = 5.0  # absolute increase over nadir
MAX_TARGETS = 5
MAX_TARGETS_PER_ORGAN = 2
NODE_ORGAN = "lymph node"  # EORTC RECIST FAQ: all nodes together are one organ
DAYS_PER_MONTH = 365.25 / 12.0

# Thresholds are compared with this slack so that a sum exactly on a boundary (e.g. 100 -> 70 mm,
# exactly -30 %) is classified as RECIST says ("at least") despite binary rounding of decimals.
_EPS = 1e-9

LESION_COLUMNS: dict[str, dict[str, Any]] = {
    "patient_id": {"dtype": "str", "unit": None, "allowed": "non-empty string",
                   "description": "pseudonymous patient ID"},
    "assessment_date": {"dtype": "date", "unit": "calendar date", "allowed": "date without time",
                        "description": "date of the CT/MR assessment; earliest = baseline"},
    "lesion_id": {"dtype": "str", "unit": None, "allowed": "non-empty string, unique per patient",
                  "description": "lesion identifier, stable across assessments"},
    "organ": {"dtype": "str", "unit": None, "allowed": "non-empty string",
              "description": "organ/site; nodes form one organ for the 2-per-organ rule"},
    "is_lymph_node": {"dtype": "bool", "unit": None, "allowed": (True, False),
                      "description": "nodal lesion (measured by short axis)"},
    "category": {"dtype": "str", "unit": None, "allowed": CATEGORIES,
                 "description": "target / non_target (fixed at baseline) / new (unequivocal)"},
    "diameter_mm": {"dtype": "float", "unit": "mm", "allowed": ">= 0 or NaN",
                    "description": "longest diameter (non-nodal) or short axis (nodal); "
                                   "0 = disappeared; NaN = not measured/not evaluable"},
    "too_small_to_measure": {"dtype": "bool", "unit": None, "allowed": (True, False),
                             "description": "target present but too small: counts as 5 mm; "
                                            "diameter_mm must then be NaN"},
    "non_target_status": {"dtype": "str or NaN", "unit": None, "allowed": NON_TARGET_STATUSES,
                          "description": "non-target lesions only; NaN = not evaluated"},
}

TIMEPOINT_COLUMNS: tuple[str, ...] = (
    "patient_id", "assessment_date", "is_baseline", "days_from_baseline", "sld_mm",
    "sld_measured_mm", "sld_baseline_mm", "sld_nadir_mm", "pct_change_from_baseline",
    "pct_change_from_nadir", "target_response", "non_target_response", "new_lesion",
    "overall_response",
)

DateLike = date | datetime | pd.Timestamp | str
DatesArg = DateLike | Mapping[str, DateLike] | pd.Series


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float) and math.isnan(value))


def _where(df: pd.DataFrame, label: object) -> str:
    """Human-readable location of a row: its index label plus patient/lesion/date when known."""
    if isinstance(label, np.generic):
        label = label.item()
    parts = [f"row {label!r}"]
    row = df.loc[label]
    for col in ("patient_id", "lesion_id", "assessment_date"):
        if col in df.columns and not _is_missing(row[col]):
            value = row[col]
            if isinstance(value, pd.Timestamp):
                value = value.date().isoformat()
            parts.append(f"{col}={value}")
    return f"{parts[0]} ({', '.join(parts[1:])})" if len(parts) > 1 else parts[0]


def _row_error(df: pd.DataFrame, label: object, column: str, message: str,
               source: str) -> InputError:
    return InputError(f"{_where(df, label)}: {message}", source=source, field=column)


def _as_date(value: object, *, source: str, field: str, what: str) -> pd.Timestamp:
    """Parse a calendar date; refuse times of day and time zones (response is dated by day)."""
    ts = _parse_date(value)
    if ts is None:
        raise InputError(f"{what}: expected a calendar date without time of day or time zone, got "
                         f"{value!r}", source=source, field=field)
    return ts


def validate_lesions(df: pd.DataFrame, source: str = "lesions table") -> pd.DataFrame:
    """Check a lesions table against :data:`LESION_COLUMNS` and the RECIST bookkeeping rules.

    Parameters
    ----------
    df
        Lesions table (see the module docstring). The index labels are used to name rows in errors.
    source
        Name of the table or file, used in error messages.

    Returns
    -------
    pandas.DataFrame
        A copy with normalised dtypes: ``assessment_date`` as ``datetime64[ns]`` (midnight),
        booleans as ``bool``, ``diameter_mm`` as ``float``, ``non_target_status`` as object with
        NaN.

    Raises
    ------
    InputError
        Naming the table, the row (index label, patient, lesion, date) and the column, for: a
        missing column; an empty or non-string ID/organ; a bad date; a non-boolean flag; an unknown
        category or status; a negative or non-numeric diameter; a status on a target or new lesion;
        a too-small flag on a non-target or with a diameter; a duplicate lesion/date row; a lesion
        whose organ or node flag changes; a new lesion at baseline; a target or non-target lesion
        first seen after baseline or whose category changed; a baseline target without a measurement
        or not measurable; a non-target absent or progressing at baseline; a patient without target
        lesions; more than 5 targets or more than 2 per organ.
    """
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(df).__name__}", source=source)
    missing = [c for c in LESION_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; expected columns {list(LESION_COLUMNS)}",
                         source=source, field=missing[0])
    if not df.index.is_unique:
        raise InputError("row index labels must be unique so that rows can be named in errors",
                         source=source)
    out = df.copy()

    def fail_first(mask: pd.Series | np.ndarray | list[bool], column: str,
                   message: str | Callable[[Any], str]) -> None:
        """Raise for the first row (in table order) where ``mask`` is true."""
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            label = out.index[int(np.argmax(mask))]
            text = message(label) if callable(message) else message
            raise _row_error(out, label, column, text, source)

    for col in ("patient_id", "lesion_id", "organ"):
        bad = [not (isinstance(v, str) and v.strip()) for v in out[col]]
        fail_first(bad, col, lambda lbl, c=col: f"expected a non-empty string, got "
                                                f"{out.at[lbl, c]!r}")

    parsed = []
    for label, value in out["assessment_date"].items():
        ts = _parse_date(value)
        if ts is None:
            raise _row_error(out, label, "assessment_date",
                             f"expected a calendar date without time of day or time zone, got "
                             f"{value!r}", source)
        parsed.append(ts)
    out["assessment_date"] = pd.to_datetime(pd.Series(parsed, index=out.index, dtype=object))

    for col in ("is_lymph_node", "too_small_to_measure"):
        bad = [not (isinstance(v, (bool, np.bool_))
                    or (isinstance(v, (int, np.integer)) and v in (0, 1))) for v in out[col]]
        fail_first(bad, col, lambda lbl, c=col: f"expected True or False, got {out.at[lbl, c]!r}")
        out[col] = out[col].astype(bool)

    fail_first(~out["category"].isin(CATEGORIES), "category",
               lambda lbl: f"expected one of {list(CATEGORIES)}, got {out.at[lbl, 'category']!r}")

    def as_mm(v: object) -> float | None:
        if _is_missing(v):
            return math.nan
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.number)):
            return None
        f = float(v)
        return f if math.isfinite(f) and f >= 0 else None

    diam = [as_mm(v) for v in out["diameter_mm"]]
    fail_first([d is None for d in diam], "diameter_mm",
               lambda lbl: "expected a finite diameter >= 0 mm (a number of millimetres) or NaN, "
                           f"got {out.at[lbl, 'diameter_mm']!r}")
    out["diameter_mm"] = np.asarray(diam, dtype=float)

    status = [np.nan if _is_missing(v) else v for v in out["non_target_status"]]
    fail_first([not (s in NON_TARGET_STATUSES or (isinstance(s, float) and math.isnan(s)))
                for s in status],
               "non_target_status",
               lambda lbl: f"expected one of {list(NON_TARGET_STATUSES)} or empty, got "
                           f"{out.at[lbl, 'non_target_status']!r}")
    out["non_target_status"] = pd.Series(status, index=out.index, dtype=object)

    cat = out["category"]
    has_status = out["non_target_status"].notna()
    fail_first((cat != "non_target") & has_status, "non_target_status",
               lambda lbl: "only non-target lesions have a status; this row is "
                           f"'{out.at[lbl, 'category']}', expected empty")
    small = out["too_small_to_measure"]
    fail_first(small & (cat != "target"), "too_small_to_measure",
               "only target lesions use the 'too small to measure' convention")
    fail_first(small & out["diameter_mm"].notna(), "diameter_mm",
               lambda lbl: "a lesion 'too small to measure' must have an empty diameter (the "
                           f"{TOO_SMALL_TO_MEASURE_MM:g} mm default is applied by the analysis), "
                           f"got {out.at[lbl, 'diameter_mm']!r}")

    fail_first(out.duplicated(["patient_id", "lesion_id", "assessment_date"], keep="first"),
               "lesion_id", "duplicate row for the same patient, lesion and assessment date")

    by_lesion = out.groupby(["patient_id", "lesion_id"], sort=False)
    for col in ("organ", "is_lymph_node"):
        first = by_lesion[col].transform("first")
        fail_first(out[col] != first, col,
                   lambda lbl, c=col, f=first: f"lesion '{out.at[lbl, 'lesion_id']}' of patient "
                                               f"'{out.at[lbl, 'patient_id']}' changes {c} between "
                                               f"assessments ({f[lbl]!r} before, "
                                               f"{out.at[lbl, c]!r} here); expected one value per "
                                               "lesion")

    is_base = (out["assessment_date"]
               == out.groupby("patient_id", sort=False)["assessment_date"].transform("min"))
    node = out["is_lymph_node"]
    d = out["diameter_mm"]
    fail_first(is_base & (cat == "new"), "category",
               "a 'new' lesion at the baseline assessment; baseline lesions are 'target' or "
               "'non_target'")
    base_target = is_base & (cat == "target")
    fail_first(base_target & (small | d.isna()), "diameter_mm",
               "target lesion without a baseline measurement; expected its baseline diameter in mm")
    need = np.where(node, MEASURABLE_NODE_SHORT_AXIS_MM, MEASURABLE_NON_NODAL_MM)
    fail_first(base_target & (d < need), "diameter_mm",
               lambda lbl: f"target lesion not measurable at baseline: "
                           f"{out.at[lbl, 'diameter_mm']:g} mm, expected >= "
                           f"{need[out.index.get_loc(lbl)]:g} mm")
    fail_first(is_base & (cat == "non_target")
               & out["non_target_status"].isin(["absent", "unequivocal_progression"]),
               "non_target_status",
               lambda lbl: "a baseline non-target lesion must be 'present' (or empty), got "
                           f"{out.at[lbl, 'non_target_status']!r}")

    base_cat = (out.loc[is_base, ["patient_id", "lesion_id", "category"]]
                .set_index(["patient_id", "lesion_id"])["category"])
    keys = pd.MultiIndex.from_frame(out[["patient_id", "lesion_id"]])
    cat_at_base = pd.Series(base_cat.reindex(keys).to_numpy(), index=out.index)
    follow = ~is_base
    fail_first(follow & (cat == "new") & cat_at_base.notna(), "lesion_id",
               lambda lbl: f"new lesion reuses the ID of baseline lesion "
                           f"'{out.at[lbl, 'lesion_id']}'; expected a lesion ID not used at "
                           "baseline")
    fail_first(follow & (cat != "new") & cat_at_base.isna(), "lesion_id",
               lambda lbl: f"{out.at[lbl, 'category']} lesion '{out.at[lbl, 'lesion_id']}' has no "
                           f"baseline row; a {out.at[lbl, 'category']} lesion must be recorded at "
                           "the baseline assessment")
    fail_first(follow & (cat != "new") & cat_at_base.notna() & (cat != cat_at_base), "category",
               lambda lbl: f"lesion '{out.at[lbl, 'lesion_id']}' was '{cat_at_base[lbl]}' at "
                           f"baseline but is '{out.at[lbl, 'category']}' here; categories are "
                           "fixed at baseline")

    with_target = set(out.loc[base_target, "patient_id"])
    fail_first(is_base & ~out["patient_id"].isin(with_target), "category",
               lambda lbl: f"patient '{out.at[lbl, 'patient_id']}' has no target lesion at "
                           "baseline; response by RECIST 1.1 here needs measurable disease (at "
                           "least one target)")
    rank = base_target.astype(int).groupby(out["patient_id"], sort=False).cumsum()
    n_targets = base_target.astype(int).groupby(out["patient_id"], sort=False).transform("sum")
    fail_first(base_target & (rank > MAX_TARGETS), "category",
               lambda lbl: f"patient '{out.at[lbl, 'patient_id']}' has {n_targets[lbl]} target "
                           f"lesions; expected at most {MAX_TARGETS}")
    organ = pd.Series(np.where(node, NODE_ORGAN, out["organ"].str.strip().str.casefold()),
                      index=out.index)
    rank = base_target.astype(int).groupby([out["patient_id"], organ], sort=False).cumsum()
    fail_first(base_target & (rank > MAX_TARGETS_PER_ORGAN), "organ",
               lambda lbl: f"patient '{out.at[lbl, 'patient_id']}' has more than "
                           f"{MAX_TARGETS_PER_ORGAN} target lesions in organ '{organ[lbl]}'; "
                           f"expected at most {MAX_TARGETS_PER_ORGAN} per organ (all lymph nodes "
                           "are one organ)")
    return out


def _parse_date(value: object) -> pd.Timestamp | None:
    """A calendar date, or None for anything else (missing, unparsable, time of day, time zone)."""
    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if pd.isna(ts) or ts.tzinfo is not None or ts != ts.normalize():
        return None
    return ts


def _organ_key(organ: str, is_lymph_node: bool) -> str:
    return NODE_ORGAN if is_lymph_node else organ.strip().casefold()


# --------------------------------------------------------------------------------------------------
# Baseline: measurability and target selection
# --------------------------------------------------------------------------------------------------


def is_measurable(diameter_mm: float, is_lymph_node: bool) -> bool:
    """Whether a baseline lesion is measurable by RECIST 1.1 (CT, slice thickness <= 5 mm).

    Non-nodal lesions: longest diameter >= 10 mm. Lymph nodes: short axis >= 15 mm (nodes of
    10 to < 15 mm are pathological but non-measurable, i.e. non-target; < 10 mm are normal).
    A missing diameter (NaN) is not measurable.

    Raises
    ------
    InputError
        For a negative diameter.
    """
    if diameter_mm is None or (isinstance(diameter_mm, float) and math.isnan(diameter_mm)):
        return False
    d = float(diameter_mm)
    if d < 0:
        raise InputError(f"expected a diameter >= 0 mm, got {diameter_mm!r}",
                         source="is_measurable", field="diameter_mm")
    threshold = MEASURABLE_NODE_SHORT_AXIS_MM if is_lymph_node else MEASURABLE_NON_NODAL_MM
    return d >= threshold


def is_pathological_node(short_axis_mm: float) -> bool:
    """Whether a lymph node is pathological (short axis >= 10 mm); smaller nodes are normal."""
    if short_axis_mm is None or math.isnan(float(short_axis_mm)):
        return False
    return float(short_axis_mm) >= PATHOLOGICAL_NODE_SHORT_AXIS_MM


def select_targets(baseline_lesions: pd.DataFrame, *, max_targets: int = MAX_TARGETS,
                   max_per_organ: int = MAX_TARGETS_PER_ORGAN,
                   represent_all_organs: bool = False,
                   source: str = "baseline lesions") -> pd.DataFrame:
    """Choose target lesions at baseline; all other lesions become non-target.

    For each patient, measurable lesions (:func:`is_measurable`) are taken largest first
    (``diameter_mm``: longest diameter, or short axis for nodes) while the patient has fewer than
    ``max_targets`` targets and the lesion's organ fewer than ``max_per_organ``. All lymph nodes
    count as one organ. With ``represent_all_organs`` the largest lesion of each organ is taken
    first (organs in order of their largest lesion), then the remaining places are filled largest
    first; RECIST asks targets to be "representative of all involved organs", the default follows
    the size rule only.

    Ties in diameter are broken by ``lesion_id`` in ascending string order, so the choice does not
    depend on row order.

    Parameters
    ----------
    baseline_lesions
        One row per baseline lesion with ``patient_id``, ``lesion_id``, ``organ``,
        ``is_lymph_node``, ``diameter_mm`` (other columns are kept).
    max_targets, max_per_organ
        RECIST 1.1: 5 in total, 2 per organ.
    represent_all_organs
        Give each involved organ one target before a second lesion of any organ is chosen.
    source
        Name of the table for error messages.

    Returns
    -------
    pandas.DataFrame
        A copy in the input row order with ``category`` set to ``"target"`` or ``"non_target"``;
        ``too_small_to_measure`` (False) and ``non_target_status`` (``"present"`` for non-targets,
        NaN for targets) are added or overwritten so the result is a valid baseline for
        :func:`validate_lesions`.

    Raises
    ------
    InputError
        For missing columns, a negative diameter, or a lymph node with short axis < 10 mm (normal
        nodes are not lesions and must not be recorded).
    """
    need = ["patient_id", "lesion_id", "organ", "is_lymph_node", "diameter_mm"]
    missing = [c for c in need if c not in baseline_lesions.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}", source=source, field=missing[0])
    out = baseline_lesions.copy()
    measurable = {}
    for label, row in out.iterrows():
        d = row["diameter_mm"]
        node = bool(row["is_lymph_node"])
        d = math.nan if _is_missing(d) else float(d)
        if d < 0:
            raise _row_error(out, label, "diameter_mm", f"expected >= 0 mm, got {d!r}", source)
        if node and not math.isnan(d) and not is_pathological_node(d):
            raise _row_error(out, label, "diameter_mm",
                             f"lymph node short axis {d:g} mm < "
                             f"{PATHOLOGICAL_NODE_SHORT_AXIS_MM:g} mm is normal, not a lesion; "
                             "remove the row", source)
        measurable[label] = is_measurable(d, node)

    category = pd.Series("non_target", index=out.index, dtype=object)
    for _, pat in out.groupby("patient_id", sort=False):
        cand = pat[[measurable[lbl] for lbl in pat.index]]
        order = sorted(cand.index, key=lambda lbl: (-float(cand.at[lbl, "diameter_mm"]),
                                                    str(cand.at[lbl, "lesion_id"])))
        keys = {lbl: _organ_key(str(cand.at[lbl, "organ"]), bool(cand.at[lbl, "is_lymph_node"]))
                for lbl in order}
        chosen: list[object] = []
        per_organ: dict[str, int] = {}
        # first pass (optional): the largest lesion of every organ; second pass: by size
        passes = ([True, False] if represent_all_organs else [False])
        for first_of_organ_only in passes:
            for lbl in order:
                n_organ = per_organ.get(keys[lbl], 0)
                if len(chosen) >= max_targets:
                    break
                if lbl in chosen or n_organ >= max_per_organ or (first_of_organ_only and n_organ):
                    continue
                chosen.append(lbl)
                per_organ[keys[lbl]] = n_organ + 1
        category.loc[chosen] = "target"

    out["category"] = category
    out["too_small_to_measure"] = False
    out["non_target_status"] = category.map({"target": np.nan, "non_target": "present"}).astype(
        object)
    return out


# --------------------------------------------------------------------------------------------------
# Time-point classification
# --------------------------------------------------------------------------------------------------


def sum_of_diameters(diameter_mm: Iterable[float],
                     too_small_to_measure: Iterable[bool] | None = None) -> float:
    """Sum of diameters (SLD) of the target lesions, in mm.

    ``SLD = sum_i d_i`` with ``d_i`` the longest diameter of a non-nodal target or the short axis of
    a nodal target, and ``d_i = 5 mm`` when the lesion is too small to measure. If any target is not
    measured (NaN and not too small) the sum is not evaluable and NaN is returned. The sum over no
    lesions is 0 (so the SLD is additive over disjoint sets of lesions).

    Raises
    ------
    InputError
        For a negative diameter or mismatched lengths.
    """
    d = np.asarray(list(diameter_mm), dtype=float)
    small = (np.zeros(d.shape, dtype=bool) if too_small_to_measure is None
             else np.asarray(list(too_small_to_measure), dtype=bool))
    if small.shape != d.shape:
        raise InputError(f"{d.size} diameters but {small.size} too-small flags",
                         source="sum_of_diameters", field="too_small_to_measure")
    if np.any(d[~np.isnan(d)] < 0):
        raise InputError("expected diameters >= 0 mm", source="sum_of_diameters",
                         field="diameter_mm")
    eff = np.where(small, TOO_SMALL_TO_MEASURE_MM, d)
    if np.any(np.isnan(eff)):
        return math.nan
    return float(eff.sum())


def target_response(sld_now_mm: float, sld_baseline_mm: float, sld_nadir_mm: float,
                    all_nodes_below_10mm: bool, all_non_nodal_gone: bool, *,
                    sld_measured_mm: float | None = None,
                    pr_decrease_fraction: float = PR_DECREASE_FRACTION,
                    pd_increase_fraction: float = PD_INCREASE_FRACTION,
                    pd_min_increase_mm: float = PD_MIN_INCREASE_MM) -> str:
    """Target-lesion response at one assessment (RECIST 1.1 sect. 4.3.1).

    In order of precedence:

    * ``NE`` — the SLD is not evaluable (``sld_now_mm`` NaN), unless the lesions that *were*
      measured already satisfy PD (``sld_measured_mm``, a lower bound of the SLD; RECIST 1.1
      appendix: missing lesions cannot undo a progression).
    * ``CR`` — every non-nodal target has disappeared and every nodal target has short axis < 10 mm.
      CR precedes PD: a node < 10 mm is normal, so growth within the normal range is not progression
      (EORTC RECIST FAQ "abnormal lymph node").
    * ``PD`` — ``SLD - nadir >= 0.20 * nadir`` and ``SLD - nadir >= 5 mm``; the nadir is the
      smallest SLD before this assessment, baseline included.
    * ``PR`` — ``SLD <= (1 - 0.30) * baseline``.
    * ``SD`` — otherwise.

    Boundaries are inclusive ("at least"), evaluated with a 1e-9 tolerance against binary rounding.

    Parameters
    ----------
    sld_now_mm, sld_baseline_mm, sld_nadir_mm
        Sum of diameters now, at baseline, and its smallest previous value (mm).
    all_nodes_below_10mm, all_non_nodal_gone
        CR conditions over all target lesions (vacuously true when there are none of that kind).
    sld_measured_mm
        Sum over the measured targets when some were not evaluated (optional).
    pr_decrease_fraction, pd_increase_fraction, pd_min_increase_mm
        The RECIST 1.1 thresholds (0.30, 0.20, 5 mm).

    Raises
    ------
    InputError
        If the baseline SLD is missing or not positive, or the nadir is missing, negative, or above
        the baseline (the nadir includes the baseline).
    """
    src = "target_response"
    base = float(sld_baseline_mm)
    nadir = float(sld_nadir_mm)
    if not math.isfinite(base) or base <= 0:
        raise InputError(f"expected a baseline SLD > 0 mm, got {sld_baseline_mm!r}", source=src,
                         field="sld_baseline_mm")
    if not math.isfinite(nadir) or nadir < 0 or nadir > base * (1 + _EPS):
        raise InputError(f"expected 0 <= nadir <= baseline SLD ({base:g} mm), got "
                         f"{sld_nadir_mm!r}", source=src, field="sld_nadir_mm")
    now = float(sld_now_mm)
    if not math.isnan(now) and now < 0:
        raise InputError(f"expected an SLD >= 0 mm, got {sld_now_mm!r}", source=src,
                         field="sld_now_mm")

    def progressed(value: float) -> bool:
        increase = value - nadir
        return (increase >= pd_min_increase_mm - _EPS
                and increase >= pd_increase_fraction * nadir - _EPS * max(nadir, 1.0))

    if math.isnan(now):
        if sld_measured_mm is not None and not math.isnan(float(sld_measured_mm)) and progressed(
                float(sld_measured_mm)):
            return PD
        return NE
    if all_non_nodal_gone and all_nodes_below_10mm:
        return CR
    if progressed(now):
        return PD
    if (now - base) / base <= -pr_decrease_fraction + _EPS:
        return PR
    return SD


def non_target_response(statuses: Iterable[object]) -> str:
    """Non-target response at one assessment from the statuses of all baseline non-target lesions.

    * ``PD`` — any lesion shows unequivocal progression (even if others were not evaluated);
    * ``NE`` — otherwise, any lesion not evaluated (NaN/None);
    * ``CR`` — all lesions absent (nodes: non-pathological, < 10 mm short axis);
    * ``NON_CR_NON_PD`` — otherwise (persistence of one or more lesions);
    * ``NA`` — there were no non-target lesions at baseline.

    Raises
    ------
    InputError
        For a status outside ``"present"``, ``"absent"``, ``"unequivocal_progression"`` or missing.
    """
    values = list(statuses)
    for v in values:
        if not _is_missing(v) and v not in NON_TARGET_STATUSES:
            raise InputError(f"expected one of {list(NON_TARGET_STATUSES)} or missing, got {v!r}",
                             source="non_target_response", field="non_target_status")
    if not values:
        return NOT_APPLICABLE
    if any(v == "unequivocal_progression" for v in values if not _is_missing(v)):
        return PD
    if any(_is_missing(v) for v in values):
        return NE
    if all(v == "absent" for v in values):
        return CR
    return NON_CR_NON_PD


def overall_response(target: str, non_target: str, new_lesion: bool) -> str:
    """Overall response at one assessment: RECIST 1.1 Table 1 (patients with target disease).

    ==========  ========================  ==========  =======
    target      non-target                new lesion  overall
    ==========  ========================  ==========  =======
    CR          CR (or none, ``NA``)      no          CR
    CR          NON_CR_NON_PD             no          PR
    CR          NE (not evaluated)        no          PR
    PR          non-PD or NE (or NA)      no          PR
    SD          non-PD or NE (or NA)      no          SD
    NE          non-PD (or NA)            no          NE
    PD          any                       any         PD
    any         PD                        any         PD
    any         any                       yes         PD
    ==========  ========================  ==========  =======

    Raises
    ------
    InputError
        For codes outside :data:`TARGET_RESPONSES` / :data:`NON_TARGET_RESPONSES` or a non-boolean
        ``new_lesion``.
    """
    src = "overall_response"
    if target not in TARGET_RESPONSES:
        raise InputError(f"expected one of {list(TARGET_RESPONSES)}, got {target!r}", source=src,
                         field="target")
    if non_target not in NON_TARGET_RESPONSES:
        raise InputError(f"expected one of {list(NON_TARGET_RESPONSES)}, got {non_target!r}",
                         source=src, field="non_target")
    if not isinstance(new_lesion, (bool, np.bool_)):
        raise InputError(f"expected True or False, got {new_lesion!r}", source=src,
                         field="new_lesion")
    if new_lesion or target == PD or non_target == PD:
        return PD
    if target == NE:
        return NE
    if target == CR:
        return CR if non_target in (CR, NOT_APPLICABLE) else PR
    return target  # PR or SD: non-target non-PD or not all evaluated


# --------------------------------------------------------------------------------------------------
# Per-patient time course
# --------------------------------------------------------------------------------------------------


def timepoint_responses(lesions: pd.DataFrame, *, source: str = "lesions table") -> pd.DataFrame:
    """Response at every assessment of every patient.

    The table is validated first (:func:`validate_lesions`). Per patient, the earliest assessment is
    the baseline; at each later assessment the SLD over the baseline targets is formed
    (:func:`sum_of_diameters`; a target without a row counts as not evaluated), the nadir is the
    smallest evaluable SLD *before* this assessment (baseline included), and target, non-target and
    overall responses follow :func:`target_response`, :func:`non_target_response` and
    :func:`overall_response`. Assessments after a progression are still classified on their own.

    Returns
    -------
    pandas.DataFrame
        One row per patient and assessment date, sorted by ``patient_id`` and date, with the columns
        of :data:`TIMEPOINT_COLUMNS`: ``is_baseline``, ``days_from_baseline``, ``sld_mm`` (NaN if
        not evaluable), ``sld_measured_mm`` (sum over measured targets), ``sld_baseline_mm``,
        ``sld_nadir_mm``, ``pct_change_from_baseline`` and ``pct_change_from_nadir`` (percent; from
        a nadir of 0 the change is +inf, or 0 when the SLD is still 0), the response codes (None at
        baseline) and ``new_lesion`` (bool).
    """
    df = validate_lesions(lesions, source=source)
    key = ["patient_id", "assessment_date"]
    visits = df[key].drop_duplicates().sort_values(key, kind="mergesort").reset_index(drop=True)
    baseline_date = visits.groupby("patient_id", sort=False)["assessment_date"].transform("min")
    visits["is_baseline"] = visits["assessment_date"] == baseline_date
    visits["days_from_baseline"] = (visits["assessment_date"] - baseline_date).dt.days.astype(int)
    at_base = df.merge(visits[visits["is_baseline"]][key], on=key)

    # Target lesions: every baseline target at every visit of its patient; no row = not evaluated.
    targets = at_base.loc[at_base["category"] == "target", ["patient_id", "lesion_id",
                                                             "is_lymph_node"]]
    grid = targets.merge(visits[key], on="patient_id").merge(
        df.loc[df["category"] == "target", key + ["lesion_id", "diameter_mm",
                                                  "too_small_to_measure"]],
        on=key + ["lesion_id"], how="left")
    small = grid["too_small_to_measure"].eq(True)  # NaN (no row) is not "too small"
    eff = grid["diameter_mm"].where(~small, TOO_SMALL_TO_MEASURE_MM)
    node = grid["is_lymph_node"].astype(bool)
    per_visit = pd.DataFrame({
        "patient_id": grid["patient_id"], "assessment_date": grid["assessment_date"],
        "measured": eff.fillna(0.0), "unmeasured": eff.isna(),
        # CR flags; vacuously true for a kind of target the patient does not have
        "node_ok": ~node | (eff < PATHOLOGICAL_NODE_SHORT_AXIS_MM),
        "gone": node | ((eff == 0.0) & ~small),
    }).groupby(key, sort=False).agg(measured=("measured", "sum"),
                                    unmeasured=("unmeasured", "any"),
                                    node_ok=("node_ok", "all"), gone=("gone", "all"))
    tp = visits.merge(per_visit.reset_index(), on=key, how="left")
    tp["sld_measured_mm"] = tp["measured"].astype(float)
    tp["sld_mm"] = tp["sld_measured_mm"].where(~tp["unmeasured"].astype(bool))
    by_patient = tp.groupby("patient_id", sort=False)["sld_mm"]
    tp["sld_baseline_mm"] = by_patient.transform("first")
    # nadir before this visit: running minimum of the evaluable sums, shifted by one visit
    running_min = by_patient.transform(lambda s: s.cummin().ffill().shift(1))
    tp["sld_nadir_mm"] = running_min.fillna(tp["sld_baseline_mm"])
    tp["pct_change_from_baseline"] = (100.0 * (tp["sld_mm"] - tp["sld_baseline_mm"])
                                      / tp["sld_baseline_mm"])
    tp["pct_change_from_nadir"] = [_pct_change(v, n)
                                   for v, n in zip(tp["sld_mm"], tp["sld_nadir_mm"], strict=True)]

    # Non-target lesions: statuses of all baseline non-targets at each visit, NaN if not evaluated.
    non_targets = at_base.loc[at_base["category"] == "non_target", ["patient_id", "lesion_id"]]
    nt = non_targets.merge(visits[key], on="patient_id").merge(
        df.loc[df["category"] == "non_target", key + ["lesion_id", "non_target_status"]],
        on=key + ["lesion_id"], how="left")
    statuses = nt.groupby(key, sort=False)["non_target_status"].agg(list)
    new = df.loc[df["category"] == "new", key].drop_duplicates().assign(new_lesion=True)
    tp = tp.merge(new, on=key, how="left")
    tp["new_lesion"] = tp["new_lesion"].notna()

    t_resp, nt_resp, overall = [], [], []
    for row in tp.itertuples(index=False):
        if row.is_baseline:
            t_resp.append(None), nt_resp.append(None), overall.append(None)
            continue
        t = target_response(row.sld_mm, row.sld_baseline_mm, row.sld_nadir_mm, bool(row.node_ok),
                            bool(row.gone), sld_measured_mm=row.sld_measured_mm)
        n = non_target_response(statuses.get((row.patient_id, row.assessment_date), []))
        t_resp.append(t), nt_resp.append(n), overall.append(overall_response(t, n, row.new_lesion))
    tp["target_response"] = pd.Series(t_resp, index=tp.index, dtype=object)
    tp["non_target_response"] = pd.Series(nt_resp, index=tp.index, dtype=object)
    tp["overall_response"] = pd.Series(overall, index=tp.index, dtype=object)
    return tp[list(TIMEPOINT_COLUMNS)]


def _pct_change(value: float, reference: float) -> float:
    if math.isnan(value):
        return math.nan
    if reference == 0:
        return 0.0 if value == 0 else math.inf
    return 100.0 * (value - reference) / reference


# --------------------------------------------------------------------------------------------------
# Patient-level endpoints
# --------------------------------------------------------------------------------------------------


def _check_timepoints(timepoints: pd.DataFrame, source: str) -> None:
    need = ["patient_id", "assessment_date", "is_baseline", "overall_response"]
    missing = [c for c in need if c not in timepoints.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; expected the output of "
                         "timepoint_responses()", source=source, field=missing[0])


def _per_patient_dates(dates: DatesArg | None, patients: Iterable[str], *, source: str,
                       field: str, default: Mapping[str, pd.Timestamp] | None = None
                       ) -> dict[str, pd.Timestamp]:
    """Resolve a scalar date or a patient -> date mapping for every patient."""
    out: dict[str, pd.Timestamp] = {}
    if dates is None:
        if default is None:
            raise InputError("a date is required", source=source, field=field)
        return {p: default[p] for p in patients}
    if isinstance(dates, (Mapping, pd.Series)):
        for p in patients:
            if p not in dates:
                raise InputError(f"no date for patient '{p}'", source=source, field=field)
            out[p] = _as_date(dates[p], source=source, field=field, what=f"patient '{p}'")
        return out
    ts = _as_date(dates, source=source, field=field, what="date")
    return {p: ts for p in patients}


def _post_baseline_by_patient(timepoints: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Post-baseline time points of each patient, sorted by date (patients without any included)."""
    out: dict[str, pd.DataFrame] = {}
    for pid, pat in timepoints.groupby("patient_id", sort=True):
        post = pat[~pat["is_baseline"].astype(bool)]
        out[str(pid)] = post.sort_values("assessment_date", kind="mergesort")
    return out


def _until_first_pd(post: pd.DataFrame) -> pd.DataFrame:
    is_pd = (post["overall_response"] == PD).to_numpy()
    if is_pd.any():
        return post.iloc[: int(np.argmax(is_pd)) + 1]
    return post


def _confirmed(resp: list[str], dates: list[pd.Timestamp], i: int, level: str,
               min_interval_days: int) -> bool:
    """Whether the response at index ``i`` is confirmed at ``level`` (CR, or PR meaning PR-or-CR):
    a later time point at least ``min_interval_days`` later reaches the level again, and every time
    point in between is at that level or NE."""
    ok = {CR} if level == CR else {CR, PR}
    for j in range(i + 1, len(resp)):
        if resp[j] in ok and (dates[j] - dates[i]).days >= min_interval_days:
            return True
        if resp[j] not in ok and resp[j] != NE:
            return False
    return False


def best_overall_response(timepoints: pd.DataFrame, *, confirmation: bool = False,
                          min_confirmation_interval_days: int = 28,
                          min_sd_duration_days: int = 42,
                          start_dates: DatesArg | None = None,
                          source: str = "timepoints") -> pd.DataFrame:
    """Best overall response per patient (RECIST 1.1 sect. 4.4).

    The best time-point response is taken from the first assessment after baseline up to and
    including the first PD; later assessments are ignored. Order: CR > PR > SD > PD > NE.

    * SD (or a better time point that does not count as CR/PR) counts only once it has been observed
      at least ``min_sd_duration_days`` after the start date. If it never is, the best response is
      PD when a progression followed, else NE (RECIST 1.1: SD at first assessment before the
      minimum, then PD, is PD; lost to follow-up is not evaluable).
    * Without confirmation, any CR or PR time point counts.
    * With ``confirmation=True`` (non-randomised trials with response as primary endpoint) a CR at
      time ``t`` counts only if a later assessment at ``>= t + min_confirmation_interval_days`` is
      again CR with only CR or NE time points in between; a PR (or unconfirmed CR) counts as PR if a
      later assessment at least that interval later is PR or CR, with only PR, CR or NE in between.
      An unconfirmed response falls back to SD if the SD duration is met (RECIST 1.1 Table 3). A CR
      followed by a PR is read as PR at both (the footnote's "lesions were present but indistinct").

    Parameters
    ----------
    timepoints
        Output of :func:`timepoint_responses` (possibly filtered, e.g. to assessments before the
        start of another therapy).
    confirmation
        Require confirmation of CR/PR. Whether ILUMINET confirmed responses is not stated.
    min_confirmation_interval_days
        RECIST: at least 4 weeks (28 days) between response and confirmation.
    min_sd_duration_days
        Minimum time from the start date to an SD time point; RECIST suggests 6-8 weeks. With
        3-monthly CT (ILUMINET) any SD on the first follow-up scan qualifies.
    start_dates
        Start of treatment / inclusion: a date for all, or a patient -> date mapping. Default: each
        patient's baseline assessment date.

    Returns
    -------
    pandas.DataFrame
        One row per patient: ``patient_id``, ``best_overall_response``, ``best_response_date``
        (first time point supporting it; NaT for NE), ``confirmed`` (True for a CR/PR that met the
        confirmation rule, or any CR/PR when ``confirmation`` is False), ``first_pd_date`` (NaT if
        none), ``n_assessments`` (post-baseline assessments considered).
    """
    _check_timepoints(timepoints, source)
    groups = _post_baseline_by_patient(timepoints)
    patients = sorted(groups)
    base_dates = {str(p): pd.Timestamp(d) for p, d in
                  timepoints.groupby("patient_id")["assessment_date"].min().items()}
    starts = _per_patient_dates(start_dates, patients, source=source, field="start_dates",
                                default=base_dates)
    rows = []
    for pid in patients:
        post = _until_first_pd(groups[pid])
        dates = [pd.Timestamp(d) for d in post["assessment_date"]]
        resp = list(post["overall_response"])
        first_pd = dates[-1] if resp and resp[-1] == PD else pd.NaT
        best, best_date, confirmed = NE, pd.NaT, False

        for level in (CR, PR):
            hits = [i for i, r in enumerate(resp) if r == level or (level == PR and r == CR)]
            if confirmation:
                hits = [i for i in hits
                        if _confirmed(resp, dates, i, level, min_confirmation_interval_days)]
            if hits:
                best, best_date, confirmed = level, dates[hits[0]], True
                break
        if best == NE:
            sd_ok = [i for i, r in enumerate(resp) if r in (CR, PR, SD)
                     and (dates[i] - starts[pid]).days >= min_sd_duration_days]
            if sd_ok:
                best, best_date = SD, dates[sd_ok[0]]
            elif not pd.isna(first_pd):
                best, best_date = PD, first_pd
        rows.append({"patient_id": pid, "best_overall_response": best,
                     "best_response_date": best_date, "confirmed": confirmed,
                     "first_pd_date": first_pd, "n_assessments": len(resp)})
    out = pd.DataFrame(rows, columns=["patient_id", "best_overall_response", "best_response_date",
                                      "confirmed", "first_pd_date", "n_assessments"])
    for col in ("best_response_date", "first_pd_date"):
        out[col] = pd.to_datetime(out[col])
    return out


def response_at(timepoints: pd.DataFrame, reference_date: DatesArg, window_days: int = 45, *,
                rule: str = "nearest", carry_forward_pd: bool = True,
                source: str = "timepoints") -> pd.DataFrame:
    """Overall response at a given time, e.g. 3 months after completing step 1 (ILUMINET primary
    endpoint).

    Among the post-baseline assessments in the window, an evaluable one (not NE) is preferred; of
    those, ``rule="nearest"`` takes the one closest to ``reference_date`` within ``±window_days``
    (on a tie the later one), ``rule="first_after"`` the first one in
    ``[reference_date, reference_date + window_days]``. If only NE assessments are in the window the
    response is NE; with none it is NE with no date.

    With ``carry_forward_pd`` a progression at any assessment on or before the selected one (or
    before the end of the window when none is selected) makes the response PD, dated at the first
    PD: a patient who progressed earlier has not "responded" at the later time (ILUMINET counted
    patients stopped for progression as PD).

    Parameters
    ----------
    timepoints
        Output of :func:`timepoint_responses`.
    reference_date
        One date for all patients or a patient -> date mapping (then only those patients are
        reported; a patient without assessments is NE).
    window_days
        Half-width (``nearest``) or length (``first_after``) of the window in days. The default,
        45 days, is half of the 3-monthly CT interval, so neighbouring windows do not overlap.
    rule
        ``"nearest"`` or ``"first_after"``.
    carry_forward_pd
        Report an earlier progression as PD.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``reference_date``, ``assessment_date`` (NaT if none),
        ``days_from_reference``, ``response``, ``carried_forward`` (the PD comes from an earlier
        assessment).
    """
    _check_timepoints(timepoints, source)
    if rule not in ("nearest", "first_after"):
        raise InputError(f"expected rule 'nearest' or 'first_after', got {rule!r}", source=source,
                         field="rule")
    if window_days < 0:
        raise InputError(f"expected window_days >= 0, got {window_days!r}", source=source,
                         field="window_days")
    # dates as datetime64 once; per patient plain numpy arrays (a pandas selection per patient
    # costs milliseconds, which matters for 10 000-patient cohorts)
    dated = timepoints.assign(assessment_date=pd.to_datetime(timepoints["assessment_date"]))
    groups = _post_baseline_by_patient(dated)
    if isinstance(reference_date, (Mapping, pd.Series)):
        patients = sorted(str(p) for p in reference_date.keys())
    else:
        patients = sorted(groups)
    refs = _per_patient_dates(reference_date, patients, source=source, field="reference_date")
    window = np.timedelta64(int(window_days), "D")
    no_dates = np.array([], dtype="datetime64[ns]")
    no_responses = np.array([], dtype=object)
    rows = []
    for pid in patients:
        ref = refs[pid]
        ref64 = np.datetime64(pd.Timestamp(ref).to_datetime64())
        post = groups.get(pid)
        dates = no_dates if post is None else post["assessment_date"].to_numpy("datetime64[ns]")
        responses = no_responses if post is None else post["overall_response"].to_numpy(object)
        low = ref64 - window if rule == "nearest" else ref64
        in_window = np.flatnonzero((dates >= low) & (dates <= ref64 + window))
        pick: int | None = None
        if in_window.size:
            evaluable = in_window[responses[in_window] != NE]
            pool = evaluable if evaluable.size else in_window
            if rule == "nearest":
                distance = np.abs(dates[pool] - ref64)
                # ties: the later assessment (dates are sorted, so the last minimum)
                pick = int(pool[np.flatnonzero(distance == distance.min())[-1]])
            else:
                pick = int(pool[0])
        chosen_date = pd.NaT if pick is None else pd.Timestamp(dates[pick])
        response = NE if pick is None else str(responses[pick])
        carried = False
        if carry_forward_pd:
            horizon = dates[pick] if pick is not None else ref64 + window
            earlier_pd = np.flatnonzero((responses == PD) & (dates <= horizon))
            if earlier_pd.size:
                first = pd.Timestamp(dates[earlier_pd[0]])
                carried = pick is None or first < chosen_date
                response, chosen_date = PD, first
        rows.append({"patient_id": pid, "reference_date": ref, "assessment_date": chosen_date,
                     "days_from_reference": (math.nan if pd.isna(chosen_date)
                                             else (chosen_date - ref).days),
                     "response": response, "carried_forward": carried})
    out = pd.DataFrame(rows, columns=["patient_id", "reference_date", "assessment_date",
                                      "days_from_reference", "response", "carried_forward"])
    out["assessment_date"] = pd.to_datetime(out["assessment_date"])
    out["reference_date"] = pd.to_datetime(out["reference_date"])
    return out


def time_to_maximum_response(timepoints: pd.DataFrame, start_dates: DatesArg | None = None, *,
                             include_after_progression: bool = False,
                             source: str = "timepoints") -> pd.DataFrame:
    """Time from the start date to the assessment with the smallest SLD (maximum shrinkage).

    Defined for every patient with an evaluable post-baseline SLD, responders or not: the time to
    the post-baseline nadir of the SLD, i.e. the first assessment at which the smallest
    post-baseline SLD was reached. By default only assessments up to and including the first overall
    PD are considered (later shrinkage would belong to another treatment); a patient whose SLD never
    fell below baseline gets the date of the smallest post-baseline SLD, and ``shrank`` tells the
    two apart. Patients without an evaluable post-baseline SLD get NaN.

    Parameters
    ----------
    timepoints
        Output of :func:`timepoint_responses`.
    start_dates
        Start (ILUMINET: date of inclusion), a date or patient -> date mapping. Default: the
        baseline assessment date.
    include_after_progression
        Also consider assessments after the first PD.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``nadir_date``, ``nadir_sld_mm``, ``pct_change_at_nadir``, ``shrank``
        (nadir below baseline), ``time_to_max_response_days`` and ``time_to_max_response_months``
        (days / 30.4375).
    """
    _check_timepoints(timepoints, source)
    groups = _post_baseline_by_patient(timepoints)
    patients = sorted(groups)
    base_dates = {str(p): pd.Timestamp(d) for p, d in
                  timepoints.groupby("patient_id")["assessment_date"].min().items()}
    starts = _per_patient_dates(start_dates, patients, source=source, field="start_dates",
                                default=base_dates)
    rows = []
    for pid in patients:
        post = groups[pid]
        if not include_after_progression:
            post = _until_first_pd(post)
        post = post[post["sld_mm"].notna()]
        if post.empty:
            rows.append({"patient_id": pid, "nadir_date": pd.NaT, "nadir_sld_mm": math.nan,
                         "pct_change_at_nadir": math.nan, "shrank": False,
                         "time_to_max_response_days": math.nan,
                         "time_to_max_response_months": math.nan})
            continue
        i = int(np.argmin(post["sld_mm"].to_numpy()))  # first occurrence of the minimum
        r = post.iloc[i]
        days = (pd.Timestamp(r["assessment_date"]) - starts[pid]).days
        rows.append({"patient_id": pid, "nadir_date": pd.Timestamp(r["assessment_date"]),
                     "nadir_sld_mm": float(r["sld_mm"]),
                     "pct_change_at_nadir": float(r["pct_change_from_baseline"]),
                     "shrank": bool(r["sld_mm"] < r["sld_baseline_mm"]),
                     "time_to_max_response_days": float(days),
                     "time_to_max_response_months": days / DAYS_PER_MONTH})
    out = pd.DataFrame(rows, columns=["patient_id", "nadir_date", "nadir_sld_mm",
                                      "pct_change_at_nadir", "shrank", "time_to_max_response_days",
                                      "time_to_max_response_months"])
    out["nadir_date"] = pd.to_datetime(out["nadir_date"])
    return out


def best_percent_change(timepoints: pd.DataFrame, *, until_progression: bool = False,
                        source: str = "timepoints") -> pd.DataFrame:
    """Best (most negative) percent change of the SLD from baseline per patient (waterfall plot).

    ``best_pct_change = 100 * (min_t SLD_t - SLD_0) / SLD_0`` over the evaluable post-baseline
    assessments (ILUMINET Fig. 3: "baseline to post-baseline nadir"); positive when the SLD only
    grew. With ``until_progression`` only assessments up to the first overall PD are used. Patients
    without an evaluable post-baseline SLD get NaN.

    Returns
    -------
    pandas.DataFrame
        ``patient_id``, ``best_pct_change``, ``assessment_date`` (of that SLD).
    """
    _check_timepoints(timepoints, source)
    rows = []
    for pid, post in _post_baseline_by_patient(timepoints).items():
        if until_progression:
            post = _until_first_pd(post)
        post = post[post["pct_change_from_baseline"].notna()]
        if post.empty:
            rows.append({"patient_id": pid, "best_pct_change": math.nan,
                         "assessment_date": pd.NaT})
            continue
        i = int(np.argmin(post["pct_change_from_baseline"].to_numpy()))
        rows.append({"patient_id": pid,
                     "best_pct_change": float(post["pct_change_from_baseline"].iloc[i]),
                     "assessment_date": pd.Timestamp(post["assessment_date"].iloc[i])})
    out = pd.DataFrame(rows, columns=["patient_id", "best_pct_change", "assessment_date"])
    out["assessment_date"] = pd.to_datetime(out["assessment_date"])
    return out


# --------------------------------------------------------------------------------------------------
# Waterfall plot
# --------------------------------------------------------------------------------------------------

RESPONSE_COLORS: dict[str, str] = {
    CR: "#1a9641", PR: "#a6d96a", SD: "#7f9fbf", PD: "#d7191c", NE: "#bdbdbd",
}


def waterfall_plot(best_change_df: pd.DataFrame, color_by: str | None = "best_overall_response",
                   ax: Axes | None = None, *, value_column: str = "best_pct_change",
                   colors: Mapping[str, str] | None = None, title: str | None = None,
                   source: str = "best change table") -> Figure:
    """Waterfall plot of the best percent change in SLD, one bar per patient.

    Bars are sorted from the largest increase (left) to the largest decrease (right), with dashed
    reference lines at -30 % (PR threshold) and +20 % (PD threshold, from nadir). Patients with
    no value (NaN) are left out and counted in the x-axis label.

    Parameters
    ----------
    best_change_df
        Output of :func:`best_percent_change`, usually joined with :func:`best_overall_response` or
        with a grouping column (e.g. a BED group, as ILUMINET Fig. 3).
    color_by
        Column whose categories colour the bars (``None``: one colour). Response codes get the
        :data:`RESPONSE_COLORS`; other categories the ``tab10`` cycle in sorted order.
    ax
        Axes to draw into; a new figure is created if None.
    value_column
        Column with the percent change.
    colors
        Optional category -> colour mapping, overriding the defaults.

    Returns
    -------
    matplotlib.figure.Figure
        The figure containing the axes.
    """
    need = [value_column] + ([color_by] if color_by is not None else [])
    missing = [c for c in need if c not in best_change_df.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}", source=source, field=missing[0])
    data = best_change_df[best_change_df[value_column].notna()]
    n_missing = len(best_change_df) - len(data)
    data = data.sort_values(value_column, ascending=False, kind="mergesort")
    if ax is None:
        fig = Figure(figsize=(8, 4.5), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.get_figure()  # type: ignore[assignment]
    x = np.arange(len(data))
    values = data[value_column].to_numpy(dtype=float)
    if color_by is None:
        ax.bar(x, values, color="#4c72b0", width=0.8)
    else:
        cats = data[color_by].astype(object).where(data[color_by].notna(), "missing")
        palette = dict(colors or {})
        cycle = [f"C{i}" for i in range(10)]
        others = sorted((c for c in cats.unique() if c not in palette and c not in RESPONSE_COLORS),
                        key=str)
        for i, c in enumerate(others):
            palette[c] = cycle[i % len(cycle)]
        for c in cats.unique():
            palette.setdefault(c, RESPONSE_COLORS.get(c, "#999999"))
        order = [c for c in (CR, PR, SD, PD, NE) if c in set(cats)] + sorted(
            (c for c in cats.unique() if c not in RESPONSE_COLORS), key=str)
        for c in order:
            mask = (cats == c).to_numpy()
            ax.bar(x[mask], values[mask], color=palette[c], width=0.8, label=str(c))
        ax.legend(title=color_by, frameon=False)
    ax.axhline(-100.0 * PR_DECREASE_FRACTION, color="k", ls="--", lw=0.8)
    ax.axhline(100.0 * PD_INCREASE_FRACTION, color="k", ls="--", lw=0.8)
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xticks([])
    label = f"patients (n = {len(data)})"
    if n_missing:
        label += f"; {n_missing} without evaluable follow-up not shown"
    ax.set_xlabel(label)
    ax.set_ylabel("best change in sum of diameters (%)")
    if title:
        ax.set_title(title)
    return fig  # type: ignore[return-value]
