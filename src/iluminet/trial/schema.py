"""The cohort tables of a trial: declarative schema, validation and CSV input/output.

A cohort is one folder of CSV files (``data/README.md``, "Cohort tables"): ``patients.csv``,
``cycles.csv``, ``kidney_activity.csv``, ``lesions.csv`` and ``events.csv`` are required,
``labs.csv``, ``adverse_events.csv`` and ``qol.csv`` (questionnaire item responses) optional.
Each column is declared once, in :data:`TABLES`, with its type, unit, whether it may be empty,
its allowed values or range and its meaning; one generic validator (:func:`validate_table`)
reads every table from those declarations. Rules that span rows or tables are checked by
:func:`validate_cohort`:

* keys unique; every ``patient_id`` of another table is in ``patients.csv``;
* cycles only for treated patients, every treated patient has cycles and one ``events.csv`` row;
  cycles numbered 1, 2, … per patient, administration dates strictly increasing; ``step``
  non-decreasing; a patient with a step-2 cycle has ``step1_completed`` true;
* kidney activities only for cycles that exist;
* no date of a patient before inclusion (except ``diagnosis_date``, which must not be after it,
  and baseline tumour assessments and laboratory values, which may precede inclusion by at most
  :data:`SCREENING_WINDOW_DAYS` days, as screening examinations do);
* ``treatment_end_date`` equals the date of the last cycle; ``last_followup_date`` is on or after
  every other date of the patient; ``death_date``, when present, equals ``last_followup_date``;
  a ``death_cause`` only with a ``death_date``;
* questionnaire rows (``qol.csv``): the item belongs to the questionnaire and the response is
  within its range (:mod:`iluminet.trial.qol_scoring`: 1–4, items 29–30 of the QLQ-C30 1–7); one
  date per patient, visit and questionnaire; a patient's visits on distinct dates; the
  ``baseline`` visit may precede inclusion by the screening window, every other visit is on or
  after inclusion;
* the lesions table passes :func:`iluminet.trial.recist.validate_lesions` (RECIST bookkeeping) and
  its patients are known.

Every violation raises :class:`iluminet.errors.InputError` naming the table (the file when read
from disk), the row (data rows numbered 1..n, i.e. CSV line n + 1) and the column.

In memory the tables are typed: dates ``datetime64[ns]`` (NaT = missing), booleans ``bool``,
integers ``int64`` (``Int64`` when nullable), floats ``float64`` (NaN = missing), strings
``object`` (``None`` = missing). On disk: ISO dates ``YYYY-MM-DD``, ``true``/``false``, an empty
cell for a missing value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from iluminet.errors import InputError
from iluminet.provenance import write_text_atomic
from iluminet.trial.qol_scoring import QUESTIONNAIRES, item_maximum
from iluminet.trial.recist import CATEGORIES, LESION_COLUMNS, NON_TARGET_STATUSES, validate_lesions

__all__ = [
    "DEATH_CAUSES",
    "END_REASONS",
    "EXTRA_FILES",
    "ORIGINS",
    "QOL_BASELINE_VISIT",
    "SCREENING_WINDOW_DAYS",
    "TABLES",
    "Cohort",
    "ColumnSpec",
    "TableSpec",
    "empty_table",
    "read_cohort",
    "validate_cohort",
    "validate_table",
    "write_cohort",
]

DType = Literal["str", "date", "bool", "int", "float"]

ORIGINS: tuple[str, ...] = ("small_intestine", "pancreas", "lung", "unknown_primary", "colon",
                            "rectum", "stomach", "other")
END_REASONS: tuple[str, ...] = ("step1_completed", "step2_completed", "death", "toxicity",
                                "progression", "withdrawal", "other")
DEATH_CAUSES: tuple[str, ...] = ("tumour", "treatment", "other", "unknown")
#: A baseline CT or laboratory value may precede inclusion by this many days (screening).
SCREENING_WINDOW_DAYS = 42
#: Visit label of the baseline questionnaires (may precede inclusion by the screening window).
QOL_BASELINE_VISIT = "baseline"
#: Files besides the tables that a cohort folder may hold (written by the generator).
EXTRA_FILES: tuple[str, ...] = ("README.md", "provenance.json")

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}


@dataclass(frozen=True)
class ColumnSpec:
    """One column: type, unit, whether it may be empty, allowed values or range, meaning.

    ``minimum``/``maximum`` are inclusive unless ``exclusive_minimum`` is set (``> minimum``).
    """

    name: str
    dtype: DType
    description: str
    unit: str | None = None
    nullable: bool = False
    allowed: tuple[Any, ...] | None = None
    optional: bool = False  # the column may be absent (read as all-missing); nullable columns only
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False

    def expectation(self) -> str:
        """What a valid value looks like, in words (used in error messages)."""
        kind = {"str": "a text value", "date": "a date YYYY-MM-DD", "bool": "true or false",
                "int": "an integer", "float": "a number"}[self.dtype]
        parts = [kind + (f" in {self.unit}" if self.unit else "")]
        if self.allowed is not None:
            parts = [f"one of {list(self.allowed)}"]
        if self.minimum is not None:
            parts.append(f"{'>' if self.exclusive_minimum else '≥'} {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"≤ {self.maximum:g}")
        return ", ".join(parts)


@dataclass(frozen=True)
class TableSpec:
    """One table: its file, columns, key and whether its ``patient_id`` refers to patients."""

    name: str
    file_name: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    description: str
    required: bool = True
    references_patients: bool = True

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(name)


def _c(name: str, dtype: DType, description: str, **kw: Any) -> ColumnSpec:
    return ColumnSpec(name, dtype, description, **kw)


_PID = _c("patient_id", "str", "pseudonymous patient ID")

PATIENTS = TableSpec(
    "patients",
    "patients.csv",
    (
        _PID,
        _c(
            "inclusion_date",
            "date",
            "inclusion in the trial; time zero of every time-to-event endpoint",
        ),
        _c("treated", "bool", "received at least one cycle"),
        _c("age_years", "float", "age at inclusion", unit="years", minimum=18, maximum=100),
        _c("sex", "str", "sex", allowed=("F", "M")),
        _c("origin", "str", "primary tumour", allowed=ORIGINS),
        _c(
            "ki67_percent",
            "float",
            "Ki-67 labelling index",
            unit="%",
            nullable=True,
            minimum=0,
            maximum=100,
        ),
        _c("ecog", "int", "ECOG performance status at baseline", nullable=True, allowed=(0, 1, 2)),
        _c("diagnosis_date", "date", "date of diagnosis (not after inclusion)", nullable=True),
        _c("previous_ssa_only", "bool", "no previous treatment except somatostatin analogues"),
        _c("previous_chemotherapy", "bool", "previous chemotherapy"),
        _c("previous_targeted_therapy", "bool", "previous sunitinib / everolimus / interferon"),
        _c("previous_surgery", "bool", "previous surgery"),
        _c("previous_prrt", "bool", "previous PRRT"),
        _c("previous_liver_directed", "bool", "liver embolization or other liver-directed therapy"),
        _c("diabetes", "bool", "diabetes (step-2 exclusion)"),
        _c("uncontrolled_hypertension", "bool", "uncontrolled hypertension (step-2 exclusion)"),
        _c("protocol_deviation", "bool", "excluded from the response analysis"),
        _c(
            "baseline_creatinine_umol_l",
            "float",
            "plasma creatinine",
            unit="µmol/L",
            nullable=True,
            minimum=0,
            exclusive_minimum=True,
        ),
        _c(
            "baseline_gfr_ml_min",
            "float",
            "measured GFR",
            unit="ml/min",
            nullable=True,
            minimum=0,
            exclusive_minimum=True,
        ),
        _c(
            "baseline_hb_g_l",
            "float",
            "haemoglobin",
            unit="g/L",
            nullable=True,
            minimum=0,
            exclusive_minimum=True,
        ),
        _c(
            "baseline_wbc_1e9_l",
            "float",
            "leukocytes (LPK)",
            unit="10⁹/L",
            nullable=True,
            minimum=0,
            exclusive_minimum=True,
        ),
        _c(
            "baseline_anc_1e9_l",
            "float",
            "neutrophils (ANC)",
            unit="10⁹/L",
            nullable=True,
            minimum=0,
            exclusive_minimum=True,
        ),
        _c(
            "baseline_platelets_1e9_l",
            "float",
            "platelets (TPK)",
            unit="10⁹/L",
            nullable=True,
            minimum=0,
            exclusive_minimum=True,
        ),
    ),
    key=("patient_id",),
    description="one row per enrolled patient",
    references_patients=False,
)

CYCLES = TableSpec("cycles", "cycles.csv", (
    _PID,
    _c("cycle", "int", "cycle number, consecutive per patient", minimum=1),
    _c("administration_date", "date", "date of the administration"),
    _c("administered_activity_mbq", "float", "administered activity", unit="MBq", minimum=500,
       maximum=15000),
    _c("step", "int", "protocol step", allowed=(1, 2)),
    _c("kidney_dose_gy", "float", "mean kidney absorbed dose of the cycle", unit="Gy",
       nullable=True, minimum=0),
    _c("kidney_bed_gy", "float", "kidney BED of the cycle", unit="Gy", nullable=True, minimum=0),
    _c("marrow_dose_gy", "float", "red-marrow absorbed dose of the cycle (blood- or image-based)",
       unit="Gy", nullable=True, minimum=0, optional=True),
), key=("patient_id", "cycle"), description="one row per given cycle")

KIDNEY_ACTIVITY = TableSpec("kidney_activity", "kidney_activity.csv", (
    _PID,
    _c("cycle", "int", "cycle the scan belongs to", minimum=1),
    _c("time_h", "float", "scan time after administration", unit="h", minimum=0,
       exclusive_minimum=True),
    _c("left_kidney_activity_mbq", "float", "calibrated left kidney activity", unit="MBq",
       minimum=0, exclusive_minimum=True),
    _c("right_kidney_activity_mbq", "float", "calibrated right kidney activity", unit="MBq",
       minimum=0, exclusive_minimum=True),
), key=("patient_id", "cycle", "time_h"), description="kidney activities per scan")

LESIONS = TableSpec("lesions", "lesions.csv", (
    _PID,
    _c("assessment_date", "date", LESION_COLUMNS["assessment_date"]["description"]),
    _c("lesion_id", "str", LESION_COLUMNS["lesion_id"]["description"]),
    _c("organ", "str", LESION_COLUMNS["organ"]["description"]),
    _c("is_lymph_node", "bool", LESION_COLUMNS["is_lymph_node"]["description"]),
    _c("category", "str", LESION_COLUMNS["category"]["description"], allowed=CATEGORIES),
    _c("diameter_mm", "float", LESION_COLUMNS["diameter_mm"]["description"], unit="mm",
       nullable=True, minimum=0),
    _c("too_small_to_measure", "bool", LESION_COLUMNS["too_small_to_measure"]["description"]),
    _c("non_target_status", "str", LESION_COLUMNS["non_target_status"]["description"],
       nullable=True, allowed=NON_TARGET_STATUSES),
), key=("patient_id", "assessment_date", "lesion_id"),
    description="RECIST 1.1 measurements (iluminet.trial.recist)")

EVENTS = TableSpec("events", "events.csv", (
    _PID,
    _c("treatment_end_date", "date", "date of the last cycle"),
    _c("treatment_end_reason", "str", "why treatment ended", allowed=END_REASONS),
    _c("step1_completed", "bool", "step 1 completed (with or without step 2)"),
    _c("progression_date", "date", "first radiological progression (RECIST PD)", nullable=True),
    _c("death_date", "date", "date of death", nullable=True),
    _c("death_cause", "str", "cause of death", nullable=True, allowed=DEATH_CAUSES),
    _c("last_followup_date", "date", "last contact; equals death_date if dead"),
), key=("patient_id",), description="one row per treated patient")

LABS = TableSpec("labs", "labs.csv", (
    _PID,
    _c("date", "date", "sampling date"),
    _c("test", "str", "laboratory test"),
    _c("value", "float", "measured value"),
    _c("unit", "str", "unit of value"),
    _c("lln", "float", "lower limit of normal", nullable=True),
    _c("uln", "float", "upper limit of normal", nullable=True),
), key=("patient_id", "date", "test"), description="laboratory values", required=False)

ADVERSE_EVENTS = TableSpec("adverse_events", "adverse_events.csv", (
    _PID,
    _c("onset_date", "date", "onset of the adverse event"),
    _c("term", "str", "CTCAE term"),
    _c("grade", "int", "CTCAE grade", minimum=1, maximum=5),
), key=("patient_id", "onset_date", "term"), description="clinical adverse events",
    required=False)

QOL = TableSpec("qol", "qol.csv", (
    _PID,
    _c("visit", "str", f"visit label: '{QOL_BASELINE_VISIT}' or another label of the schedule"),
    _c("date", "date", "date the questionnaire was completed"),
    _c("questionnaire", "str", "questionnaire", allowed=tuple(QUESTIONNAIRES)),
    _c("item", "int", "item number (QLQ-C30 1–30, QLQ-GI.NET21 31–51)", minimum=1, maximum=51),
    _c("response", "int", "response (1–4; QLQ-C30 items 29–30 1–7); empty = item not answered",
       nullable=True, minimum=1, maximum=7),
), key=("patient_id", "visit", "questionnaire", "item"),
    description="questionnaire item responses (EORTC QLQ-C30, QLQ-GI.NET21)", required=False)

#: Every cohort table by name, in the order they are read and written.
TABLES: dict[str, TableSpec] = {t.name: t for t in (PATIENTS, CYCLES, KIDNEY_ACTIVITY, LESIONS,
                                                     EVENTS, LABS, ADVERSE_EVENTS, QOL)}


# --------------------------------------------------------------------------------------------
# The cohort
# --------------------------------------------------------------------------------------------


def empty_table(name: str) -> pd.DataFrame:
    """An empty, typed table with the columns of ``TABLES[name]``."""
    spec = TABLES[name]
    return pd.DataFrame({c.name: pd.Series(dtype=_pandas_dtype(c)) for c in spec.columns})


def _pandas_dtype(spec: ColumnSpec) -> Any:
    return {"str": object, "date": "datetime64[ns]", "bool": bool,
            "int": "Int64" if spec.nullable else "int64", "float": float}[spec.dtype]


@dataclass
class Cohort:
    """The patient-level tables of one trial (typed DataFrames, see the module docstring).

    ``labs``, ``adverse_events`` and ``qol`` are optional: empty tables with the right columns
    when absent.
    """

    patients: pd.DataFrame
    cycles: pd.DataFrame
    kidney_activity: pd.DataFrame
    lesions: pd.DataFrame
    events: pd.DataFrame
    labs: pd.DataFrame = field(default_factory=lambda: empty_table("labs"))
    adverse_events: pd.DataFrame = field(default_factory=lambda: empty_table("adverse_events"))
    qol: pd.DataFrame = field(default_factory=lambda: empty_table("qol"))

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by name, in :data:`TABLES` order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def validated(self) -> Cohort:
        """A typed, validated copy (raises :class:`InputError` on the first violation)."""
        return validate_cohort(self)


# --------------------------------------------------------------------------------------------
# Column and table validation
# --------------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and value.strip() == "":
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _fail(source: str, row: int, column: str, message: str) -> InputError:
    return InputError(f"row {row}: {message}", source=source, field=column)


def _parse_value(value: Any, spec: ColumnSpec, source: str, row: int) -> Any:
    """One non-missing cell → its typed value, or InputError."""
    got = f"got {value!r}"
    if spec.dtype == "str":
        if not isinstance(value, str):
            raise _fail(source, row, spec.name, f"expected {spec.expectation()}, {got}")
        return value.strip()
    if spec.dtype == "bool":
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, str) and value.strip() in _TRUE | _FALSE:
            return value.strip() in _TRUE
        raise _fail(source, row, spec.name, f"expected true or false, {got}")
    if spec.dtype == "date":
        if isinstance(value, str):
            text = value.strip()
            if not _DATE_RE.match(text):
                raise _fail(source, row, spec.name,
                            f"expected a date YYYY-MM-DD (no time of day), {got}")
            try:
                return pd.Timestamp(text)
            except ValueError:
                raise _fail(source, row, spec.name, f"not a calendar date: {got}") from None
        if isinstance(value, (pd.Timestamp, np.datetime64)) or hasattr(value, "isoformat"):
            ts = pd.Timestamp(value)
            if ts.tzinfo is not None or ts != ts.normalize():
                raise _fail(source, row, spec.name,
                            f"expected a calendar date without time of day or time zone, {got}")
            return ts
        raise _fail(source, row, spec.name, f"expected a date YYYY-MM-DD, {got}")
    # numbers
    if isinstance(value, (bool, np.bool_)):
        raise _fail(source, row, spec.name, f"expected {spec.expectation()}, {got}")
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            hint = ""
            if spec.name == "ki67_percent":
                hint = " (a Ki-67 labelling index in %, not a grade or a code)"
            raise _fail(source, row, spec.name,
                        f"expected {spec.expectation()}{hint}, {got}") from None
    elif isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
    else:
        raise _fail(source, row, spec.name, f"expected {spec.expectation()}, {got}")
    if not math.isfinite(number):
        raise _fail(source, row, spec.name, f"expected a finite number, {got}")
    if spec.dtype == "int":
        if number != round(number):
            raise _fail(source, row, spec.name, f"expected an integer, {got}")
        return int(round(number))
    return number


def _check_value(value: Any, spec: ColumnSpec, source: str, row: int) -> None:
    if spec.allowed is not None and value not in spec.allowed:
        raise _fail(source, row, spec.name, f"expected one of {list(spec.allowed)}, got {value!r}")
    if spec.minimum is not None:
        low_ok = value > spec.minimum if spec.exclusive_minimum else value >= spec.minimum
        if not low_ok:
            raise _fail(source, row, spec.name, f"expected {spec.expectation()}, got {value!r}")
    if spec.maximum is not None and value > spec.maximum:
        raise _fail(source, row, spec.name, f"expected {spec.expectation()}, got {value!r}")


def _column(values: Iterable[Any], spec: ColumnSpec, source: str) -> pd.Series:
    parsed: list[Any] = []
    for row, value in enumerate(values, start=1):
        if _missing(value):
            if not spec.nullable:
                raise _fail(source, row, spec.name,
                            f"missing required value; expected {spec.expectation()}")
            parsed.append(None)
            continue
        typed = _parse_value(value, spec, source, row)
        _check_value(typed, spec, source, row)
        if spec.dtype == "date" \
                and not pd.Timestamp.min.year < typed.year < pd.Timestamp.max.year:
            # outside the nanosecond timestamps pandas holds: a typing error, not a crash
            raise _fail(source, row, spec.name, f"date {typed.date().isoformat()} is not "
                        f"plausible (year {typed.year})")
        parsed.append(typed)
    if spec.dtype == "date":
        return pd.Series(pd.to_datetime(pd.Series(parsed, dtype=object)), dtype="datetime64[ns]")
    if spec.dtype == "float":
        return pd.Series([np.nan if v is None else v for v in parsed], dtype=float)
    if spec.dtype == "int":
        return pd.Series(parsed, dtype=_pandas_dtype(spec))
    if spec.dtype == "bool":
        return pd.Series(parsed, dtype=bool)
    return pd.Series(parsed, dtype=object)


def _column_at_once(values: pd.Series, spec: ColumnSpec) -> pd.Series | None:
    """:func:`_column` with whole-column operations for the usual layouts: text as read from CSV,
    or a column already of the declared type. Returns None when any cell is invalid or the layout
    is unusual (then :func:`_column` checks cell by cell and names the first bad cell); a column
    returned here equals what :func:`_column` returns, value for value and in dtype."""
    if not len(values):
        return None
    kind = pd.api.types.infer_dtype(values, skipna=True)
    dtype = values.dtype
    is_object = pd.api.types.is_object_dtype(dtype)
    text: pd.Series | None = None
    if is_object and kind in ("string", "empty"):
        # strings (None/NaN for missing in memory); blank text is missing, as in _missing()
        try:
            text = values.str.strip()
        except AttributeError:
            return None
        missing = (text.isna() | (text == "")).to_numpy()
    elif is_object:
        return None
    else:
        missing = values.isna().to_numpy()
    if missing.any() and not spec.nullable:
        return None
    present = ~missing
    if spec.dtype == "str":
        if text is None:
            return None
        parsed = text.to_numpy(dtype=object).copy()
        parsed[missing] = None
        if spec.allowed is not None and not np.isin(parsed[present], list(spec.allowed)).all():
            return None
        return pd.Series(parsed, dtype=object)
    if spec.dtype == "bool":
        if text is not None:
            ok = text[present].isin(_TRUE | _FALSE).all()
            if not ok or missing.any():
                return None
            return pd.Series(text.isin(_TRUE).to_numpy(), dtype=bool)
        if pd.api.types.is_bool_dtype(dtype) and not missing.any():
            return pd.Series(values.to_numpy(dtype=bool), dtype=bool)
        return None
    if spec.dtype == "date":
        if text is not None:
            shown = text[present]
            if not shown.str.match(_DATE_RE.pattern).all():
                return None
            dates = pd.to_datetime(text.where(present), format="%Y-%m-%d",
                                   errors="coerce")
            if dates[present].isna().any():
                return None
        elif pd.api.types.is_datetime64_dtype(dtype) and not isinstance(dtype, pd.DatetimeTZDtype):
            dates = pd.to_datetime(values).astype("datetime64[ns]")
            if (dates[present] != dates[present].dt.normalize()).any():
                return None
        else:
            return None
        out = pd.Series(dates.to_numpy("datetime64[ns]"), dtype="datetime64[ns]")
        return out if spec.allowed is None and spec.minimum is None and spec.maximum is None \
            else None
    # numbers
    if text is not None:
        try:
            number = text.where(present, "nan").to_numpy(dtype=object).astype(float)
        except (TypeError, ValueError):
            return None
    elif pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return None
    else:
        number = values.to_numpy(dtype=float, na_value=np.nan)
    number = np.where(present, number, np.nan)
    if not np.isfinite(number[present]).all():
        return None
    if spec.dtype == "int":
        if (number[present] != np.round(number[present])).any():
            return None
    checked = number[present]
    if spec.allowed is not None and not np.isin(checked, list(spec.allowed)).all():
        return None
    if spec.minimum is not None:
        low_ok = checked > spec.minimum if spec.exclusive_minimum else checked >= spec.minimum
        if not low_ok.all():
            return None
    if spec.maximum is not None and (checked > spec.maximum).any():
        return None
    if spec.dtype == "float":
        return pd.Series(number, dtype=float)
    ints = pd.array(np.where(present, number, 0).astype(np.int64), dtype="Int64")
    ints[missing] = pd.NA
    return pd.Series(ints, dtype=_pandas_dtype(spec))


def validate_table(df: pd.DataFrame, spec: TableSpec, *, source: str | None = None
                   ) -> pd.DataFrame:
    """Check one table against its :class:`TableSpec` and return it typed.

    Driven entirely by the column declarations: every declared column present and no other;
    each cell of the declared type (strings from a CSV are parsed), non-empty unless nullable,
    among the allowed values and within the range; the key unique. Rows are numbered 1..n in
    table order in errors.

    Parameters
    ----------
    df
        The table (strings as read from CSV, or already typed values).
    spec
        Its declaration, e.g. ``TABLES["patients"]``.
    source
        File path or table name for error messages (default: the table name).

    Returns
    -------
    pandas.DataFrame
        Columns in declared order, typed, with a fresh ``RangeIndex``.
    """
    source = source or spec.name
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame, got {type(df).__name__}", source=source)
    missing = [c for c in spec.column_names
               if c not in df.columns and not spec.column(c).optional]
    if missing:
        raise InputError(f"missing column(s) {missing}; expected columns {spec.column_names}",
                         source=source, field=missing[0])
    absent = [c for c in spec.column_names if c not in df.columns]
    if absent:  # optional columns: all missing
        df = df.assign(**{c: pd.Series([None] * len(df), index=df.index, dtype=object)
                          for c in absent})
    extra = [str(c) for c in df.columns if c not in spec.column_names]
    if extra:
        raise InputError(f"unknown column(s) {extra}; expected columns {spec.column_names}",
                         source=source, field=extra[0])
    columns = {}
    for c in spec.columns:
        # whole-column parsing; a column it cannot vouch for (a bad or unusual cell) is parsed
        # cell by cell, which names the first bad cell
        typed = _column_at_once(df[c.name], c)
        columns[c.name] = typed if typed is not None else _column(df[c.name].tolist(), c, source)
    out = pd.DataFrame(columns)
    if len(df) == 0:
        out = empty_table(spec.name)
    duplicated: np.ndarray = out.duplicated(list(spec.key), keep="first").to_numpy()
    if duplicated.any():
        row = int(np.argmax(duplicated))
        key_columns = out[list(spec.key)]
        same_key = (key_columns == key_columns.iloc[row]).all(axis=1)
        first = int(np.argmax(same_key.to_numpy()))
        key = ", ".join(f"{k}={_show(out.at[row, k])}" for k in spec.key)
        raise _fail(source, row + 1, spec.key[-1],
                    f"duplicate key ({key}), first seen in row {first + 1}; expected "
                    f"one row per {' and '.join(spec.key)}")
    return out


def _show(value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return str(value)


# --------------------------------------------------------------------------------------------
# Cross-table rules
# --------------------------------------------------------------------------------------------


def validate_cohort(cohort: Cohort, sources: Mapping[str, str] | None = None) -> Cohort:
    """Validate every table and the rules between them; return the typed cohort.

    Parameters
    ----------
    cohort
        The tables (raw strings or typed).
    sources
        Table name → file path used in error messages (default: the table names).

    Raises
    ------
    InputError
        For the first violation, naming table, row and column (see the module docstring).
    """
    sources = dict(sources or {})
    src = {name: sources.get(name, name) for name in TABLES}
    typed: dict[str, pd.DataFrame] = {}
    for name, spec in TABLES.items():
        typed[name] = validate_table(getattr(cohort, name), spec, source=src[name])

    patients = typed["patients"]
    inclusion = patients.set_index("patient_id")["inclusion_date"]
    treated = patients.set_index("patient_id")["treated"]

    # diagnosis not after inclusion
    late = (patients["diagnosis_date"] > patients["inclusion_date"]).to_numpy()
    if late.any():
        row = int(np.argmax(late))
        raise _fail(src["patients"], row + 1, "diagnosis_date",
                    f"diagnosis {_show(patients.at[row, 'diagnosis_date'])} after inclusion "
                    f"{_show(patients.at[row, 'inclusion_date'])}")

    for name, spec in TABLES.items():
        if spec.references_patients:
            _check_known(typed[name], inclusion.index, src[name])

    cycles = typed["cycles"]
    _check_treated_only(cycles, treated, src["cycles"], "a cycle")
    _check_cycles(cycles, inclusion, src["cycles"])
    without = sorted(set(treated[treated].index) - set(cycles["patient_id"]))
    if without:
        row = int(np.flatnonzero(patients["patient_id"].to_numpy() == without[0])[0]) + 1
        raise _fail(src["patients"], row, "treated",
                    f"patient '{without[0]}' is marked treated but has no row in cycles; "
                    "expected treated = false or its cycles")

    activity = typed["kidney_activity"]
    cycle_keys = pd.MultiIndex.from_arrays([cycles["patient_id"], cycles["cycle"]])
    no_cycle = ~pd.MultiIndex.from_arrays([activity["patient_id"], activity["cycle"]]).isin(
        cycle_keys) if len(activity) else np.zeros(0, dtype=bool)
    if no_cycle.any():
        i = int(np.argmax(no_cycle))
        raise _fail(src["kidney_activity"], i + 1, "cycle",
                    f"no cycle {activity.at[i, 'cycle']} of patient "
                    f"'{activity.at[i, 'patient_id']}' in cycles")

    lesions_raw = typed["lesions"].copy()
    lesions_raw.index = pd.RangeIndex(1, len(lesions_raw) + 1)  # rows named as data rows 1..n
    if len(lesions_raw):
        lesions = validate_lesions(lesions_raw, source=src["lesions"]).reset_index(drop=True)
    else:
        lesions = typed["lesions"]
    typed["lesions"] = lesions

    events = typed["events"]
    _check_treated_only(events, treated, src["events"], "an events row")
    no_events = sorted(set(treated[treated].index) - set(events["patient_id"]))
    if no_events:
        row = int(np.flatnonzero(patients["patient_id"].to_numpy() == no_events[0])[0]) + 1
        raise _fail(src["patients"], row, "treated",
                    f"treated patient '{no_events[0]}' has no row in events; expected one row "
                    "per treated patient")
    _check_qol(typed["qol"], src["qol"])
    _check_dates(typed, inclusion, src)
    _check_events(events, cycles, src["events"])
    return Cohort(**typed)


def _check_qol(qol: pd.DataFrame, source: str) -> None:
    """Items of their questionnaire, responses in range, one date per visit, visits apart."""
    if not len(qol):
        return
    maxima = {(q, i): top for q, items in QUESTIONNAIRES.items() for i, top in items.items()}
    top = np.array([maxima.get(k, 0) for k in zip(qol["questionnaire"], qol["item"])])
    unknown = top == 0
    if unknown.any():
        i = int(np.argmax(unknown))
        name = str(qol.at[i, "questionnaire"])
        items = sorted(QUESTIONNAIRES[name])
        raise _fail(source, i + 1, "item",
                    f"item {qol.at[i, 'item']} is not an item of {name}; expected "
                    f"{items[0]}–{items[-1]}")
    response = qol["response"].astype("float64").to_numpy()
    high = np.isfinite(response) & (response > top)
    if high.any():
        i = int(np.argmax(high))
        name = str(qol.at[i, "questionnaire"])
        item = int(qol["item"].iloc[i])
        raise _fail(source, i + 1, "response",
                    f"response {int(response[i])} to item {item} of {name}; "
                    f"expected 1–{item_maximum(name, item)} or empty (not answered)")
    keys = ["patient_id", "visit", "questionnaire"]
    first_date = qol.groupby(keys, sort=False)["date"].transform("first")
    other = (qol["date"] != first_date).to_numpy()
    if other.any():
        row = int(np.argmax(other))
        raise _fail(source, row + 1, "date",
                    f"visit '{qol.at[row, 'visit']}' of patient '{qol.at[row, 'patient_id']}' "
                    f"has {qol.at[row, 'questionnaire']} items dated {_show(qol.at[row, 'date'])}"
                    f" and {_show(first_date.iloc[row])}; expected one date per visit")
    visits = qol.drop_duplicates(["patient_id", "visit", "date"])
    clash = visits.duplicated(["patient_id", "date"], keep="first")
    if clash.any():
        k = visits.index[int(np.argmax(clash.to_numpy()))]
        pid, day = qol.at[k, "patient_id"], qol.at[k, "date"]
        first = visits[(visits["patient_id"] == pid) & (visits["date"] == day)].iloc[0]
        raise _fail(source, int(k) + 1, "visit",
                    f"duplicate visit: patient '{pid}' has visits '{first['visit']}' and "
                    f"'{qol.at[k, 'visit']}' on {_show(day)}; expected one visit per date")


def _check_known(table: pd.DataFrame, known: pd.Index, source: str) -> None:
    unknown = ~table["patient_id"].isin(known).to_numpy()
    if unknown.any():
        row = int(np.argmax(unknown))
        raise _fail(source, row + 1, "patient_id",
                    f"unknown patient '{table.at[row, 'patient_id']}'; expected a patient_id of "
                    "patients")


def _check_treated_only(table: pd.DataFrame, treated: pd.Series, source: str, what: str) -> None:
    bad = ~table["patient_id"].map(treated).astype(bool).to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise _fail(source, row + 1, "patient_id",
                    f"{what} for patient '{table.at[row, 'patient_id']}', who is not treated "
                    "(treated = false in patients)")


def _check_cycles(cycles: pd.DataFrame, inclusion: pd.Series, source: str) -> None:
    """Cycles numbered 1, 2, … per patient with increasing dates and a non-decreasing step.

    Checked for all patients at once on the table sorted by patient (in order of first
    appearance) and cycle; a patient that breaks a rule is then checked alone, which names the
    row exactly as a patient-by-patient check in table order would."""
    if not len(cycles):
        return
    first_seen = pd.factorize(cycles["patient_id"])[0]
    order = np.lexsort((np.arange(len(cycles)), cycles["cycle"].to_numpy(), first_seen))
    pid = first_seen[order]
    numbers = cycles["cycle"].to_numpy()[order]
    dates = cycles["administration_date"].to_numpy()[order]
    steps = cycles["step"].to_numpy()[order]
    start = np.r_[True, pid[1:] != pid[:-1]]
    position = np.arange(len(order)) - np.maximum.accumulate(np.where(start, np.arange(len(order)),
                                                                      0))
    bad = numbers != position + 1
    same = ~start
    bad[1:] |= same[1:] & (dates[1:] <= dates[:-1])
    bad[1:] |= same[1:] & (steps[1:] < steps[:-1])
    if not bad.any():
        return
    culprit = int(pid[int(np.argmax(bad))])
    # the first offending patient in order of first appearance, as the per-patient loop met them
    idx = cycles.index[first_seen == culprit]
    _check_one_patient_cycles(cycles, str(cycles.at[idx[0], "patient_id"]), idx, source)


def _check_one_patient_cycles(cycles: pd.DataFrame, pid: str, idx: pd.Index, source: str) -> None:
    part = cycles.loc[idx].sort_values("cycle", kind="mergesort")
    numbers = part["cycle"].to_numpy()
    expected = np.arange(1, len(numbers) + 1)
    if not np.array_equal(numbers, expected):
        k = int(np.argmax(numbers != expected))
        raise _fail(source, int(part.index[k]) + 1, "cycle",
                    f"cycles of patient '{pid}' are {numbers.tolist()}; expected consecutive "
                    "numbers 1, 2, …")
    dates = part["administration_date"].to_numpy()
    if len(dates) > 1:
        bad = dates[1:] <= dates[:-1]
        if bad.any():
            k = int(np.argmax(bad)) + 1
            raise _fail(source, int(part.index[k]) + 1, "administration_date",
                        f"cycle {numbers[k]} of patient '{pid}' on {_show(pd.Timestamp(dates[k]))}"
                        f" is not after cycle {numbers[k - 1]} "
                        f"({_show(pd.Timestamp(dates[k - 1]))}); expected increasing dates")
    steps = part["step"].to_numpy()
    if len(steps) > 1 and (np.diff(steps) < 0).any():
        k = int(np.argmax(np.diff(steps) < 0)) + 1
        raise _fail(source, int(part.index[k]) + 1, "step",
                    f"patient '{pid}' goes back from step {steps[k - 1]} to {steps[k]} at "
                    f"cycle {numbers[k]}; expected a non-decreasing step")


def _check_events(events: pd.DataFrame, cycles: pd.DataFrame, source: str) -> None:
    """Events consistent with the cycles; the rules are evaluated for all rows at once and the first
    row that breaks any of them is then checked alone (naming the first rule it breaks)."""
    if not len(events):
        return
    last = cycles.groupby("patient_id")["administration_date"].max()
    max_step = cycles.groupby("patient_id")["step"].max()
    pid = events["patient_id"]
    has_cycles = pid.isin(last.index).to_numpy()
    last_date = pid.map(last)
    top_step = pid.map(max_step)
    completed = events["step1_completed"].astype(bool).to_numpy()
    reason = events["treatment_end_reason"]
    dead = events["death_date"].notna().to_numpy()
    bad = (has_cycles & (events["treatment_end_date"] != last_date).to_numpy())
    bad |= has_cycles & (top_step == 2).to_numpy() & ~completed
    bad |= (reason == "step2_completed").to_numpy() & ~(top_step.fillna(1) == 2).to_numpy()
    bad |= reason.isin(["step1_completed", "step2_completed"]).to_numpy() & ~completed
    bad |= dead & (events["death_date"] != events["last_followup_date"]).to_numpy()
    bad |= ~dead & events["death_cause"].notna().to_numpy()
    bad |= (reason == "death").to_numpy() & ~dead
    if bad.any():
        i = int(np.argmax(bad))
        _check_events_rows(events.iloc[i:i + 1], last, max_step, source, first_row=i + 1)


def _check_events_rows(events: pd.DataFrame, last: pd.Series, max_step: pd.Series, source: str,
                       first_row: int = 1) -> None:
    row: Any  # a row of the events table (heterogeneous columns)
    for i, row in enumerate(events.itertuples(index=False), start=first_row):
        pid = row.patient_id
        if pid in last.index and row.treatment_end_date != last[pid]:
            raise _fail(source, i, "treatment_end_date",
                        f"{_show(row.treatment_end_date)} is not the date of the last cycle of "
                        f"patient '{pid}' ({_show(last[pid])})")
        if pid in max_step.index and max_step[pid] == 2 and not row.step1_completed:
            raise _fail(source, i, "step1_completed",
                        f"patient '{pid}' has step-2 cycles; expected step1_completed = true")
        if row.treatment_end_reason == "step2_completed" and max_step.get(pid, 1) != 2:
            raise _fail(source, i, "treatment_end_reason",
                        f"'step2_completed' but patient '{pid}' has no step-2 cycle")
        if row.treatment_end_reason in ("step1_completed", "step2_completed") \
                and not row.step1_completed:
            raise _fail(source, i, "step1_completed",
                        f"treatment ended with '{row.treatment_end_reason}'; expected "
                        "step1_completed = true")
        dead = not pd.isna(row.death_date)
        if dead and row.death_date != row.last_followup_date:
            raise _fail(source, i, "last_followup_date",
                        f"{_show(row.last_followup_date)} differs from death_date "
                        f"{_show(row.death_date)}; expected last_followup_date = death_date")
        if not dead and row.death_cause is not None:
            raise _fail(source, i, "death_cause",
                        f"cause {row.death_cause!r} given without a death_date")
        if row.treatment_end_reason == "death" and not dead:
            raise _fail(source, i, "death_date",
                        "treatment ended by death but death_date is empty")


def _check_dates(tables: Mapping[str, pd.DataFrame], inclusion: pd.Series,
                 src: Mapping[str, str]) -> None:
    """No date before inclusion (screening window for baselines); follow-up covers every date."""
    events = tables["events"]
    last_fu = events.set_index("patient_id")["last_followup_date"]
    screening = pd.Timedelta(days=SCREENING_WINDOW_DAYS)
    lesion_base = tables["lesions"].groupby("patient_id")["assessment_date"].transform("min") \
        if len(tables["lesions"]) else pd.Series(dtype="datetime64[ns]")
    checks: list[tuple[str, str, pd.Series | None]] = [
        ("cycles", "administration_date", None),
        ("lesions", "assessment_date", lesion_base),
        ("labs", "date", None),
        ("adverse_events", "onset_date", None),
        ("qol", "date", None),
        ("events", "treatment_end_date", None),
        ("events", "progression_date", None),
        ("events", "death_date", None),
        ("events", "last_followup_date", None),
    ]
    for name, column, baseline in checks:
        table = tables[name]
        if not len(table):
            continue
        dates = table[column]
        start = table["patient_id"].map(inclusion)
        allowed_start = start.copy()
        if name == "lesions" and baseline is not None:
            # the baseline scan may be a screening examination shortly before inclusion
            allowed_start = start.where(dates != baseline.to_numpy(), start - screening)
        if name == "labs":
            allowed_start = start - screening
        if name == "qol":
            # baseline questionnaires may be completed at screening, shortly before inclusion
            allowed_start = start.where(table["visit"] != QOL_BASELINE_VISIT, start - screening)
        early = (dates.notna() & (dates < allowed_start)).to_numpy()
        if early.any():
            row = int(np.argmax(early))
            what = "death" if column == "death_date" else column.replace("_", " ")
            raise _fail(src[name], row + 1, column,
                        f"{what} {_show(dates.iloc[row])} before inclusion "
                        f"{_show(start.iloc[row])} of patient '{table.at[row, 'patient_id']}'")
        if name == "events" and column == "last_followup_date":
            continue
        fu = table["patient_id"].map(last_fu)
        late = (dates.notna() & fu.notna() & (dates > fu)).to_numpy()
        if late.any():
            row = int(np.argmax(late))
            raise _fail(src[name], row + 1, column,
                        f"{_show(dates.iloc[row])} after the last follow-up "
                        f"{_show(fu.iloc[row])} of patient '{table.at[row, 'patient_id']}'; "
                        "expected last_followup_date ≥ every date of the patient")


# --------------------------------------------------------------------------------------------
# Reading and writing
# --------------------------------------------------------------------------------------------


def read_cohort(folder: str | Path) -> Cohort:
    """Read and validate the cohort tables in ``folder``.

    Required tables missing → :class:`InputError`; optional ones (labs, adverse events, qol)
    missing → empty tables. Every cell is read as text and parsed by the declarations, so a stray
    code such as ``G2`` in ``ki67_percent`` is reported with its row instead of turning the column
    into text.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("not a folder; expected a folder of cohort CSV files", source=str(folder))
    raw: dict[str, pd.DataFrame] = {}
    sources: dict[str, str] = {}
    for name, spec in TABLES.items():
        path = folder / spec.file_name
        sources[name] = str(path)
        if not path.is_file():
            if spec.required:
                raise InputError(f"required table {spec.file_name} is missing", source=str(path))
            raw[name] = empty_table(name)
            continue
        try:
            raw[name] = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[],
                                    encoding="utf-8")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(f"not a readable CSV table ({exc})", source=str(path)) from None
    return validate_cohort(Cohort(**raw), sources)


def _to_csv_text(df: pd.DataFrame, spec: TableSpec) -> str:
    out = pd.DataFrame(index=df.index)
    for c in spec.columns:
        values = df[c.name]
        if c.dtype == "date":
            text = values.map(lambda v: "" if pd.isna(v) else pd.Timestamp(v).date().isoformat())
        elif c.dtype == "bool":
            text = values.map(lambda v: "true" if bool(v) else "false")
        elif c.dtype == "int":
            text = values.map(lambda v: "" if pd.isna(v) else str(int(v)))
        elif c.dtype == "float":
            text = values.map(lambda v: "" if pd.isna(v) else repr(float(v)))
        else:
            text = values.map(lambda v: "" if _missing(v) else str(v))
        out[c.name] = text.astype(object)
    return out.to_csv(index=False, lineterminator="\n")


def write_cohort(cohort: Cohort, folder: str | Path, *, force: bool = False,
                 extra_files: Mapping[str, str] | None = None) -> list[Path]:
    """Validate ``cohort`` and write its tables as CSV files into ``folder``.

    Each file is written atomically (temporary file + rename,
    :func:`iluminet.provenance.write_text_atomic`). Optional tables are written only when they
    have rows (an absent file reads back as an empty table); with ``force`` a stale optional table
    of an earlier cohort is removed.

    Parameters
    ----------
    cohort
        The tables.
    folder
        Target folder (created if needed).
    force
        Replace an existing cohort in ``folder``. Without it, a folder that already holds a cohort
        table is refused.
    extra_files
        Further text files to write beside the tables; only the names in :data:`EXTRA_FILES`
        (the README and provenance record saying the data are synthetic).

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    InputError
        Invalid cohort; ``folder`` is a file, holds files other than cohort files, or holds a
        cohort and ``force`` is not given; an extra file name that is not allowed.
    """
    folder = Path(folder)
    extra_files = dict(extra_files or {})
    bad_extra = [n for n in extra_files if n not in EXTRA_FILES]
    if bad_extra:
        raise InputError(f"cannot write {bad_extra}; extra files may be {list(EXTRA_FILES)}",
                         source=str(folder), field="extra_files")
    typed = validate_cohort(cohort)
    if folder.exists() and not folder.is_dir():
        raise InputError("exists and is not a folder", source=str(folder))
    table_files = {spec.file_name for spec in TABLES.values()}
    if folder.is_dir():
        present = sorted(p.name for p in folder.iterdir())
        foreign = [n for n in present if n not in table_files and n not in EXTRA_FILES]
        if foreign:
            raise InputError(f"the folder holds other files {foreign[:5]}; expected an empty "
                             "folder or a cohort written earlier", source=str(folder))
        existing = [n for n in present if n in table_files]
        if existing and not force:
            raise InputError(f"already holds a cohort ({', '.join(existing)}); use force to "
                             "replace it", source=str(folder))
    written: list[Path] = []
    for name, spec in TABLES.items():
        table = getattr(typed, name)
        path = folder / spec.file_name
        if not spec.required and not len(table):
            if path.exists():
                path.unlink()
            continue
        written.append(write_text_atomic(path, _to_csv_text(table, spec)))
    for name, text in extra_files.items():
        written.append(write_text_atomic(folder / name, text))
    return written
