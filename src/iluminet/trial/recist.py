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
from typing import Any, NamedTuple, cast

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from iluminet.errors import InputError
from iluminet.scalars import as_float, as_str
from iluminet.units import DAYS_PER_MONTH

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
    row = df.loc[cast(Any, label)]
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
        bad = _not_text(out[col])

        def not_text(lbl: Any, c: str = col) -> str:
            return f"expected a non-empty string, got {out.at[lbl, c]!r}"

        fail_first(bad, col, not_text)

    out["assessment_date"] = _calendar_dates(out, source)

    for col in ("is_lymph_node", "too_small_to_measure"):
        bad = _not_flag(out[col])

        def not_flag(lbl: Any, c: str = col) -> str:
            return f"expected True or False, got {out.at[lbl, c]!r}"

        fail_first(bad, col, not_flag)
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

    raw = out["diameter_mm"]
    if pd.api.types.is_float_dtype(raw.dtype) or (pd.api.types.is_integer_dtype(raw.dtype)
                                                  and not pd.api.types.is_bool_dtype(raw.dtype)):
        # a numeric column at once: NaN/NA is "not measured", otherwise finite and >= 0
        values = raw.to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            bad_mm = ~np.isnan(values) & ~(np.isfinite(values) & (values >= 0))
        diam: list[float | None] | np.ndarray = values
    else:
        diam = [as_mm(v) for v in raw]
        bad_mm = np.array([d is None for d in diam], dtype=bool)
    fail_first(bad_mm, "diameter_mm",
               lambda lbl: "expected a finite diameter >= 0 mm (a number of millimetres) or NaN, "
                           f"got {out.at[lbl, 'diameter_mm']!r}")
    out["diameter_mm"] = np.asarray(diam, dtype=float)

    raw_status = out["non_target_status"]
    status_missing = raw_status.isna().to_numpy()
    status = raw_status.astype(object).where(~status_missing, np.nan).to_numpy(dtype=object)
    fail_first(~status_missing & ~raw_status.isin(NON_TARGET_STATUSES).to_numpy(),
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

        def changes(lbl: Any, c: str = col, f: pd.Series = first) -> str:
            return (f"lesion '{out.at[lbl, 'lesion_id']}' of patient "
                    f"'{out.at[lbl, 'patient_id']}' changes {c} between "
                    f"assessments ({f[lbl]!r} before, {out.at[lbl, c]!r} here); "
                    "expected one value per lesion")

        fail_first(out[col] != first, col, changes)

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


def _not_text(values: pd.Series) -> np.ndarray:
    """Per row, whether the value is not a non-empty string (after stripping blanks)."""
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=False) == "string":
        return (values.str.strip() == "").to_numpy()
    return np.array([not (isinstance(v, str) and v.strip()) for v in values], dtype=bool)


def _not_flag(values: pd.Series) -> np.ndarray:
    """Per row, whether the value is neither a boolean nor the integer 0 or 1."""
    if pd.api.types.is_bool_dtype(values.dtype) and not values.hasnans:
        return np.zeros(len(values), dtype=bool)
    if pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_extension_array_dtype(
            values.dtype):
        return ~values.isin([0, 1]).to_numpy()
    return np.array([not (isinstance(v, (bool, np.bool_))
                          or (isinstance(v, (int, np.integer)) and v in (0, 1))) for v in values],
                    dtype=bool)


def _calendar_dates(out: pd.DataFrame, source: str) -> pd.Series:
    """``assessment_date`` as midnight ``datetime64[ns]``; InputError naming the first row that is
    not a calendar date (missing, unparsable, with a time of day or a time zone)."""
    values = out["assessment_date"]
    if pd.api.types.is_datetime64_dtype(values.dtype) and not isinstance(
            values.dtype, pd.DatetimeTZDtype):
        dates = values.astype("datetime64[ns]")
        if not (dates.isna() | (dates != dates.dt.normalize())).any():
            return dates
    parsed = []  # other layouts (or a bad value to be named): one value at a time
    for label, value in values.items():
        ts = _parse_date(value)
        if ts is None:
            raise _row_error(out, label, "assessment_date",
                             f"expected a calendar date without time of day or time zone, got "
                             f"{value!r}", source)
        parsed.append(ts)
    return pd.to_datetime(pd.Series(parsed, index=out.index, dtype=object))


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
        order = sorted(cand.index, key=lambda lbl: (-as_float(cand.at[lbl, "diameter_mm"]),
                                                    as_str(cand.at[lbl, "lesion_id"])))
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
        category.loc[cast(Any, chosen)] = "target"

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
    pid = tp["patient_id"]
    tp["sld_baseline_mm"] = tp.groupby("patient_id", sort=False)["sld_mm"].transform("first")
    # nadir before this visit: running minimum of the evaluable sums (NaN skipped), carried over
    # not-evaluable visits and shifted by one visit; the same per-patient steps as
    # ``s.cummin().ffill().shift(1)``, done for all patients at once
    running_min = tp["sld_mm"].groupby(pid, sort=False).cummin()
    running_min = running_min.groupby(pid, sort=False).ffill()
    running_min = running_min.groupby(pid, sort=False).shift(1)
    tp["sld_nadir_mm"] = running_min.fillna(tp["sld_baseline_mm"])
    tp["pct_change_from_baseline"] = (100.0 * (tp["sld_mm"] - tp["sld_baseline_mm"])
                                      / tp["sld_baseline_mm"])
    tp["pct_change_from_nadir"] = _pct_change_array(tp["sld_mm"].to_numpy(dtype=float),
                                                    tp["sld_nadir_mm"].to_numpy(dtype=float))

    # Non-target lesions: statuses of all baseline non-targets at each visit, NaN if not evaluated.
    non_targets = at_base.loc[at_base["category"] == "non_target", ["patient_id", "lesion_id"]]
    nt = non_targets.merge(visits[key], on="patient_id").merge(
        df.loc[df["category"] == "non_target", key + ["lesion_id", "non_target_status"]],
        on=key + ["lesion_id"], how="left")
    status = nt["non_target_status"]
    nt_flags = pd.DataFrame({
        "patient_id": nt["patient_id"], "assessment_date": nt["assessment_date"],
        "progression": status.eq("unequivocal_progression"), "missing": status.isna(),
        "absent": status.eq("absent"),
    }).groupby(key, sort=False).agg(n_non_target=("missing", "size"),
                                    any_progression=("progression", "any"),
                                    any_missing=("missing", "any"), all_absent=("absent", "all"))
    tp = tp.merge(nt_flags.reset_index(), on=key, how="left")
    new = df.loc[df["category"] == "new", key].drop_duplicates().assign(new_lesion=True)
    tp = tp.merge(new, on=key, how="left")
    tp["new_lesion"] = tp["new_lesion"].notna()

    baseline = tp["is_baseline"].to_numpy(dtype=bool)
    t_resp = _target_responses(
        tp["sld_mm"].to_numpy(dtype=float), tp["sld_baseline_mm"].to_numpy(dtype=float),
        tp["sld_nadir_mm"].to_numpy(dtype=float), tp["node_ok"].to_numpy(dtype=bool),
        tp["gone"].to_numpy(dtype=bool), tp["sld_measured_mm"].to_numpy(dtype=float), baseline)
    nt_resp = _non_target_responses(tp["n_non_target"].fillna(0).to_numpy(dtype=np.int64),
                                    tp["any_progression"].eq(True).to_numpy(),
                                    tp["any_missing"].eq(True).to_numpy(),
                                    tp["all_absent"].eq(True).to_numpy())
    overall = _overall_responses(t_resp, nt_resp, tp["new_lesion"].to_numpy(dtype=bool))
    for codes in (t_resp, nt_resp, overall):
        codes[baseline] = None
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


def _pct_change_array(value: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """:func:`_pct_change` elementwise (the same floating-point operations)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        change = 100.0 * (value - reference) / reference
    at_zero = np.where(value == 0, 0.0, math.inf)
    return np.where(np.isnan(value), math.nan, np.where(reference == 0, at_zero, change))


def _target_responses(now: np.ndarray, base: np.ndarray, nadir: np.ndarray, node_ok: np.ndarray,
                      gone: np.ndarray, measured: np.ndarray, skip: np.ndarray) -> np.ndarray:
    """:func:`target_response` for arrays of visits (rows in ``skip``, the baselines, are not
    checked and get a placeholder)."""
    with np.errstate(invalid="ignore"):
        bad = ~skip & (~(np.isfinite(base) & (base > 0))
                       | ~(np.isfinite(nadir) & (nadir >= 0) & (nadir <= base * (1 + _EPS)))
                       | (~np.isnan(now) & (now < 0)))
    if bad.any():
        i = int(np.argmax(bad))
        # the scalar version names the offending value
        target_response(now[i], base[i], nadir[i], bool(node_ok[i]), bool(gone[i]),
                        sld_measured_mm=measured[i])

    def progressed(value: np.ndarray) -> np.ndarray:
        increase = value - nadir
        return ((increase >= PD_MIN_INCREASE_MM - _EPS)
                & (increase >= PD_INCREASE_FRACTION * nadir - _EPS * np.maximum(nadir, 1.0)))

    with np.errstate(invalid="ignore", divide="ignore"):
        partial_pd = ~np.isnan(measured) & progressed(measured)
        is_pd = progressed(now)
        is_pr = (now - base) / base <= -PR_DECREASE_FRACTION + _EPS
    missing = np.isnan(now)
    return np.select([missing & partial_pd, missing, gone & node_ok, is_pd, is_pr],
                     [PD, NE, CR, PD, PR], SD).astype(object)


def _non_target_responses(n_lesions: np.ndarray, any_progression: np.ndarray,
                          any_missing: np.ndarray, all_absent: np.ndarray) -> np.ndarray:
    """:func:`non_target_response` from per-visit summaries of the non-target statuses."""
    return np.select([n_lesions == 0, any_progression, any_missing, all_absent],
                     [NOT_APPLICABLE, PD, NE, CR], NON_CR_NON_PD).astype(object)


def _overall_responses(target: np.ndarray, non_target: np.ndarray,
                       new_lesion: np.ndarray) -> np.ndarray:
    """:func:`overall_response` (RECIST 1.1 Table 1) for arrays of codes."""
    is_pd = new_lesion | (target == PD) | (non_target == PD)
    cr_confirmed = (non_target == CR) | (non_target == NOT_APPLICABLE)
    return np.select([is_pd, target == NE, (target == CR) & cr_confirmed, target == CR],
                     [PD, NE, CR, PR], target).astype(object)


# --------------------------------------------------------------------------------------------------
# Patient-level endpoints
# --------------------------------------------------------------------------------------------------


def _check_timepoints(timepoints: pd.DataFrame, source: str) -> None:
    need = ["patient_id", "assessment_date", "is_baseline", "overall_response"]
    missing = [c for c in need if c not in timepoints.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; expected the output of "
                         "timepoint_responses()", source=source, field=missing[0])


_DAY_NS = 86_400_000_000_000  # nanoseconds per day
_NAT = np.datetime64("NaT", "ns")


class _PostBaseline(NamedTuple):
    """Post-baseline time points of a whole table as flat arrays, sorted by patient then date.

    Patients are numbered ``0..n-1`` in sorted order of their (string) IDs; rows of one patient are
    contiguous (a *segment*) and in date order, ties in the order of the input table. Every
    patient of the table is listed, also one with a baseline only (an empty segment).
    """

    patients: list[str]
    code: np.ndarray  # patient number of each row (non-decreasing)
    row: np.ndarray  # position of each row in the input table
    dates: np.ndarray  # datetime64[ns]
    responses: np.ndarray  # object: overall response codes
    baseline_dates: np.ndarray  # datetime64[ns], per patient: earliest date of any row


def _post_baseline(timepoints: pd.DataFrame) -> _PostBaseline:
    ids = timepoints["patient_id"].astype(str).to_numpy(dtype=object)
    codes, uniques = pd.factorize(ids, sort=True)
    dates = pd.to_datetime(timepoints["assessment_date"]).to_numpy("datetime64[ns]")
    n = len(uniques)
    baseline_dates = np.full(n, _NAT)
    if len(codes):
        order = np.lexsort((dates, codes))
        first = np.r_[True, codes[order][1:] != codes[order][:-1]]
        baseline_dates[codes[order][first]] = dates[order][first]
    post = np.flatnonzero(~timepoints["is_baseline"].astype(bool).to_numpy())
    order = post[np.lexsort((dates[post], codes[post]))]  # lexsort is stable
    return _PostBaseline(patients=[str(p) for p in uniques], code=codes[order].astype(np.int64),
                         row=order, dates=dates[order],
                         responses=timepoints["overall_response"].to_numpy(dtype=object)[order],
                         baseline_dates=baseline_dates)


def _first_in_segment(code: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Per segment (``code`` non-decreasing), the index of its first row where ``mask`` holds, or
    -1."""
    return _pick_first(code, np.flatnonzero(mask), n)


def _last_in_segment(code: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Per segment, the index of its last row where ``mask`` holds, or -1."""
    out = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(mask)
    if idx.size:
        c = code[idx]
        keep = np.r_[c[1:] != c[:-1], True]
        out[c[keep]] = idx[keep]
    return out


def _argmin_in_segment(code: np.ndarray, values: np.ndarray, mask: np.ndarray,
                       n: int) -> np.ndarray:
    """Per segment, the index of the first row with the smallest ``values`` among the rows where
    ``mask`` holds (as ``numpy.argmin`` per segment), or -1."""
    idx = np.flatnonzero(mask)
    return _pick_first(code, idx[np.lexsort((idx, values[idx], code[idx]))], n)


def _pick_first(code: np.ndarray, order: np.ndarray, n: int) -> np.ndarray:
    """``order`` lists row indices grouped by segment; the first listed of each segment, or -1."""
    out = np.full(n, -1, dtype=np.int64)
    if order.size:
        c = code[order]
        keep = np.r_[True, c[1:] != c[:-1]]
        out[c[keep]] = order[keep]
    return out


def _segment_cumsum(code: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` restarting at every segment."""
    total = np.cumsum(values, dtype=np.int64)
    if not total.size:
        return total
    start = np.r_[True, code[1:] != code[:-1]]
    offset = np.where(start, total - values, 0)
    return total - np.maximum.accumulate(offset)


def _until_first_pd_mask(code: np.ndarray, responses: np.ndarray) -> np.ndarray:
    """Rows up to and including the first overall PD of their patient."""
    is_pd = (responses == PD).astype(np.int64)
    return (_segment_cumsum(code, is_pd) - is_pd) == 0


def _days(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """Whole days from ``earlier`` to ``later`` (floor, as ``pandas.Timedelta.days``)."""
    return (later.astype(np.int64) - earlier.astype(np.int64)) // _DAY_NS


def _take_dates(dates: np.ndarray, pick: np.ndarray) -> np.ndarray:
    return np.where(pick >= 0, dates[np.maximum(pick, 0)] if dates.size else _NAT, _NAT)


def _dates_for(dates: DatesArg | None, patients: list[str], *, source: str, field: str,
               default: np.ndarray | None = None) -> np.ndarray:
    """A scalar date or a patient -> date mapping resolved for every patient, as a
    ``datetime64[ns]`` array aligned with ``patients`` (``default`` when ``dates`` is None)."""
    if dates is None:
        if default is None:
            raise InputError("a date is required", source=source, field=field)
        return default
    if isinstance(dates, (Mapping, pd.Series)):
        missing = [p for p in patients if p not in dates]
        if missing:
            raise InputError(f"no date for patient '{missing[0]}'", source=source, field=field)
        values = pd.Series([dates[p] for p in patients], dtype=object)
        fast = _dates_if_calendar(values)
        if fast is not None:
            return fast
        return np.array([_as_date(v, source=source, field=field, what=f"patient '{p}'")
                         .to_datetime64() for p, v in zip(patients, values, strict=True)],
                        dtype="datetime64[ns]").reshape(-1)
    ts = _as_date(dates, source=source, field=field, what="date")
    return np.full(len(patients), ts.to_datetime64().astype("datetime64[ns]"))


def _dates_if_calendar(values: pd.Series) -> np.ndarray | None:
    """The values as ``datetime64[ns]`` when every one is already a date or datetime at midnight
    without time zone (the usual case, checked at once); None to fall back to checking each."""
    if not len(values) or pd.api.types.infer_dtype(values, skipna=False) not in (
            "datetime", "datetime64", "date"):
        return None
    try:
        parsed = pd.to_datetime(values)
    except (TypeError, ValueError):
        return None
    if isinstance(parsed.dtype, pd.DatetimeTZDtype) or not pd.api.types.is_datetime64_ns_dtype(
            parsed.dtype) or parsed.isna().any() or (
            parsed != parsed.dt.normalize()).any():
        return None
    return parsed.to_numpy("datetime64[ns]")


def _confirmed_mask(code: np.ndarray, dates: np.ndarray, responses: np.ndarray,
                    ok: tuple[str, ...], min_interval_days: int, n: int) -> np.ndarray:
    """Per row, whether a response at level ``ok`` there is confirmed: a later time point of the
    same patient at least ``min_interval_days`` later is in ``ok`` with only ``ok`` or NE time
    points in between.

    A time point that is neither in ``ok`` nor NE breaks the run, so the candidates of row ``i``
    are the later ``ok`` rows of its *block* (rows up to the next break or the next patient); as
    dates are sorted, the last of them is the latest and decides.
    """
    in_ok = _isin(responses, ok)
    breaks = ~in_ok & (responses != NE)
    starts = np.r_[True, code[1:] != code[:-1]] if code.size else np.zeros(0, dtype=bool)
    block = np.cumsum(breaks | starts) - 1
    n_blocks = int(block[-1]) + 1 if block.size else 0
    last_ok = _last_in_segment(block, in_ok, n_blocks)[block] if block.size else block
    later = last_ok > np.arange(code.size)
    gap = _days(dates[np.maximum(last_ok, 0)], dates) if code.size else np.zeros(0, np.int64)
    return later & (gap >= min_interval_days)


def _empty_frame(columns: list[str], date_columns: tuple[str, ...]) -> pd.DataFrame:
    """The result of a patient-level endpoint for a table without patients."""
    out = pd.DataFrame(columns=columns)
    for col in date_columns:
        out[col] = pd.to_datetime(out[col])
    return out


def _isin(values: np.ndarray, codes: tuple[str, ...]) -> np.ndarray:
    """Elementwise membership for an object array of response codes (None allowed)."""
    out = np.zeros(values.shape, dtype=bool)
    for c in codes:
        out |= values == c
    return out


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
    post = _post_baseline(timepoints)
    patients = post.patients
    n = len(patients)
    if not n:
        return _empty_frame(["patient_id", "best_overall_response", "best_response_date",
                             "confirmed", "first_pd_date", "n_assessments"],
                            ("best_response_date", "first_pd_date"))
    starts = _dates_for(start_dates, patients, source=source, field="start_dates",
                        default=post.baseline_dates)
    # the time points up to and including the first PD; later assessments are ignored
    kept = _until_first_pd_mask(post.code, post.responses)
    code, dates, resp = post.code[kept], post.dates[kept], post.responses[kept]
    n_assessments = np.bincount(code, minlength=n).astype(np.int64)
    last = _last_in_segment(code, np.ones(code.size, dtype=bool), n)
    ends_in_pd = (last >= 0) & (resp[np.maximum(last, 0)] == PD if resp.size else False)
    first_pd = np.where(ends_in_pd, _take_dates(dates, last), _NAT)

    best = np.full(n, NE, dtype=object)
    best_date = np.full(n, _NAT)
    confirmed = np.zeros(n, dtype=bool)
    undecided = np.ones(n, dtype=bool)
    for level in (CR, PR):
        ok = (CR,) if level == CR else (CR, PR)
        hit = _isin(resp, ok)
        if confirmation:
            hit &= _confirmed_mask(code, dates, resp, ok, min_confirmation_interval_days, n)
        first = _first_in_segment(code, hit, n)
        take = undecided & (first >= 0)
        best[take], best_date[take], confirmed[take] = level, _take_dates(dates, first)[take], True
        undecided &= ~take
    sd_ok = _isin(resp, (CR, PR, SD)) & (
        _days(dates, starts[code]) >= min_sd_duration_days if code.size else False)
    first = _first_in_segment(code, sd_ok, n)
    take = undecided & (first >= 0)
    best[take], best_date[take] = SD, _take_dates(dates, first)[take]
    undecided &= ~take
    take = undecided & ends_in_pd
    best[take], best_date[take] = PD, first_pd[take]
    return pd.DataFrame({"patient_id": pd.Series(patients, dtype=object),
                         "best_overall_response": best, "best_response_date": best_date,
                         "confirmed": confirmed, "first_pd_date": first_pd,
                         "n_assessments": n_assessments})


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
    post = _post_baseline(timepoints)
    if isinstance(reference_date, (Mapping, pd.Series)):
        patients = sorted(str(p) for p in reference_date.keys())
    else:
        patients = post.patients
    n = len(patients)
    columns = ["patient_id", "reference_date", "assessment_date", "days_from_reference",
               "response", "carried_forward"]
    if not n:
        return _empty_frame(columns, ("assessment_date", "reference_date"))
    refs = _dates_for(reference_date, patients, source=source, field="reference_date")
    # renumber the rows by the reported patients (both lists sorted, so segments stay in order)
    number = pd.Index(patients).get_indexer(pd.Index(post.patients))
    reported = number[post.code] >= 0 if post.code.size else np.zeros(0, dtype=bool)
    code = number[post.code][reported] if post.code.size else post.code
    dates = post.dates[reported].astype(np.int64)
    resp = post.responses[reported]
    ref_ns = refs.astype(np.int64)
    window_ns = int(window_days) * _DAY_NS
    ref = ref_ns[code]
    low = ref - window_ns if rule == "nearest" else ref
    in_window = (dates >= low) & (dates <= ref + window_ns)
    evaluable = in_window & (resp != NE)
    has_evaluable = _first_in_segment(code, evaluable, n) >= 0
    pool = np.where(has_evaluable[code], evaluable, in_window)
    if rule == "nearest":
        idx = np.flatnonzero(pool)
        distance = np.abs(dates[idx] - ref[idx])
        # ties: the later assessment (rows are in date order, so the last minimum)
        pick = _pick_first(code, idx[np.lexsort((-idx, distance, code[idx]))], n)
    else:
        pick = _first_in_segment(code, pool, n)
    chosen = np.where(pick >= 0, dates[np.maximum(pick, 0)] if dates.size else 0, 0)
    has_pick = pick >= 0
    response = np.full(n, NE, dtype=object)
    response[has_pick] = [str(r) for r in resp[pick[has_pick]]]
    carried = np.zeros(n, dtype=bool)
    if carry_forward_pd:
        horizon = np.where(has_pick, chosen, ref_ns + window_ns)
        first = _first_in_segment(code, (resp == PD) & (dates <= horizon[code]), n)
        earlier = first >= 0
        first_ns = np.where(earlier, dates[np.maximum(first, 0)] if dates.size else 0, 0)
        carried = earlier & (~has_pick | (first_ns < chosen))
        response[earlier] = PD
        chosen = np.where(earlier, first_ns, chosen)
        has_pick |= earlier
    days = np.where(has_pick, (chosen - ref_ns) // _DAY_NS, 0)
    days_from_reference: np.ndarray = (days.astype(np.int64) if has_pick.all()
                                       else np.where(has_pick, days, np.nan))
    return pd.DataFrame({"patient_id": pd.Series(patients, dtype=object), "reference_date": refs,
                         "assessment_date": np.where(has_pick, chosen.astype("datetime64[ns]"),
                                                     _NAT),
                         "days_from_reference": days_from_reference, "response": response,
                         "carried_forward": carried})


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
    post = _post_baseline(timepoints)
    patients = post.patients
    n = len(patients)
    columns = ["patient_id", "nadir_date", "nadir_sld_mm", "pct_change_at_nadir", "shrank",
               "time_to_max_response_days", "time_to_max_response_months"]
    if not n:
        return _empty_frame(columns, ("nadir_date",))
    starts = _dates_for(start_dates, patients, source=source, field="start_dates",
                        default=post.baseline_dates)
    sld = timepoints["sld_mm"].to_numpy(dtype=float)[post.row]
    use = ~np.isnan(sld)
    if not include_after_progression:
        use &= _until_first_pd_mask(post.code, post.responses)
    pick = _argmin_in_segment(post.code, sld, use, n)
    found = pick >= 0
    at = np.maximum(pick, 0)

    def column(name: str) -> np.ndarray:
        values = timepoints[name].to_numpy(dtype=float)[post.row]
        return np.where(found, values[at] if values.size else np.nan, np.nan)

    nadir_sld = column("sld_mm")
    nadir_date = _take_dates(post.dates, pick)
    days = np.where(found, _days(nadir_date, starts), 0).astype(float)
    days[~found] = np.nan
    return pd.DataFrame({"patient_id": pd.Series(patients, dtype=object),
                         "nadir_date": nadir_date, "nadir_sld_mm": nadir_sld,
                         "pct_change_at_nadir": column("pct_change_from_baseline"),
                         "shrank": found & (nadir_sld < column("sld_baseline_mm")),
                         "time_to_max_response_days": days,
                         "time_to_max_response_months": days / DAYS_PER_MONTH})


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
    post = _post_baseline(timepoints)
    n = len(post.patients)
    if not n:
        return _empty_frame(["patient_id", "best_pct_change", "assessment_date"],
                            ("assessment_date",))
    change = timepoints["pct_change_from_baseline"].to_numpy(dtype=float)[post.row]
    use = ~np.isnan(change)
    if until_progression:
        use &= _until_first_pd_mask(post.code, post.responses)
    pick = _argmin_in_segment(post.code, change, use, n)
    found = pick >= 0
    return pd.DataFrame({"patient_id": pd.Series(post.patients, dtype=object),
                         "best_pct_change": np.where(found, change[np.maximum(pick, 0)]
                                                     if change.size else np.nan, np.nan),
                         "assessment_date": _take_dates(post.dates, pick)})


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
    return fig
