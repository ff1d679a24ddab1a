"""A patient's measurement-level records: ``patient.yaml``, ``cycles.csv``, ``kidney_activity.csv``.

The layout and every column are documented in ``data/README.md``. Reading validates everything the
dosimetry relies on, and each problem is reported with the file, the row (as a 1-based data row
number, header excluded) and the column, so a wrong dose can never come from a silently repaired
table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import yaml

from iluminet.errors import InputError
from iluminet.patient.planning import PatientState, cumulative_state
from iluminet.units import DAYS_PER_YEAR

PATIENT_FILE = "patient.yaml"
CYCLES_FILE = "cycles.csv"
ACTIVITY_FILE = "kidney_activity.csv"

PATIENT_KEYS: dict[str, type | tuple[type, ...]] = {
    "patient_id": str,
    "age_years": (int, float),
    "sex": str,
    "inclusion_date": (date, str),
    "baseline_gfr_ml_min": (int, float),
    "diabetes": bool,
    "uncontrolled_hypertension": bool,
    "previous_liver_embolization": bool,
    "previous_chemotherapy": bool,
    "dicom_patient_id": str,  # optional: the PatientID of the images, if it differs (pseudonyms)
    "weight_kg": (int, float),  # optional; scales the red-marrow mass (iluminet.patient.marrow)
    "height_cm": (int, float),  # optional; lean-body-mass scaling of the red-marrow mass
}
CYCLE_COLUMNS = ("cycle", "administration_datetime", "administered_activity_mbq",
                 "left_kidney_mass_g", "right_kidney_mass_g", "gfr_ml_min", "worst_toxicity_grade")
ACTIVITY_COLUMNS = (
    "cycle",
    "scan_datetime",
    "left_kidney_activity_mbq",
    "right_kidney_activity_mbq",
)
KIDNEYS = ("left", "right")
# Optional per-scan standard uncertainty of each kidney activity (the independent, per-scan part:
# count statistics), absolute (MBq) or relative (percent); without them the site default
# analysis.uncertainty.count_statistics applies (iluminet.uncertainty).
UNCERTAINTY_SUFFIXES = ("_u_mbq", "_u_percent")

# Plausibility ranges that catch unit mistakes (GBq or Bq instead of MBq, kg instead of g).
ADMINISTERED_MBQ_RANGE = (500.0, 15000.0)
KIDNEY_MASS_G_RANGE = (40.0, 500.0)
# Patient facts share the cohort schema's ranges (age 18–100 years at inclusion, GFR > 0). The
# schema only asks GFR > 0; a measured GFR below 5 ml/min (end-stage kidney failure, never treated
# with PRRT) or above 250 ml/min (about twice the young-adult normal, above reported
# hyperfiltration) is a typing or unit error (ml/s or l/min for ml/min).
# iluminet.patient may not import iluminet.trial (import contract): the schema's numbers are
# repeated here, and tests/interlocks/test_records_interlocks.py checks that they agree.
AGE_YEARS_RANGE = (18.0, 100.0)  # = trial.schema PATIENTS age_years minimum/maximum
GFR_ML_MIN_MIN, GFR_ML_MIN_MAX = 5.0, 250.0
TYPE_WORDS = {str: "a text value", bool: "true or false", (int, float): "a number",
              (date, str): "a date YYYY-MM-DD"}
# A date later than this after the time of reading is in the future (time zones, clock skew).
FUTURE_SLACK = timedelta(days=1)


@dataclass(frozen=True)
class PatientRecord:
    """Everything known about one patient at measurement level.

    Attributes
    ----------
    patient_id
        Pseudonymous identifier (folder name).
    folder
        Where the records were read from.
    info
        The contents of ``patient.yaml``.
    cycles
        One row per given cycle, columns as ``CYCLE_COLUMNS`` with ``administration_datetime`` as
        timezone-aware timestamps.
    activity
        Long table: ``cycle``, ``scan_datetime``, ``time_h`` (after administration), ``kidney``
        (``left``/``right``), ``activity_mbq``.
    cycle_flags
        Per cycle number, reasons found upstream of the tables (at image level: a misplaced
        kidney VOI) that make the cycle's dosimetry unusable: the chain withholds on them.
    """

    patient_id: str
    folder: Path
    info: dict[str, Any]
    cycles: pd.DataFrame
    activity: pd.DataFrame
    cycle_flags: Mapping[int, tuple[str, ...]] = field(default_factory=dict)

    def states(self) -> list[PatientState]:
        """One state per cycle row (that cycle's GFR and toxicity grade, and the age on that
        cycle's administration date), oldest first."""
        return [self._state(None if pd.isna(row["gfr_ml_min"]) else float(row["gfr_ml_min"]),
                            None if pd.isna(row["worst_toxicity_grade"])
                            else int(row["worst_toxicity_grade"]),
                            self.age_on(row.get("administration_datetime")))
                for _, row in self.cycles.iterrows()]

    def age_on(self, when: Any) -> float | None:
        """Age in years on the date of ``when``: ``age_years`` (the age on ``inclusion_date``)
        plus the years since inclusion, ``(date − inclusion_date) / 365.25 d``. Without an
        inclusion date the age is ``age_years`` as given. The step-2 age criterion is checked
        on the age at step-2 entry (:mod:`iluminet.patient.planning`, "Decision state"), so a
        patient included at 70 can be over 70 when step 1 ends."""
        age = self.info.get("age_years")
        included = self.info.get("inclusion_date")
        if age is None or included is None or when is None or pd.isna(when):
            return None if age is None else float(age)
        on = pd.Timestamp(when).date()
        if isinstance(included, datetime):
            included = included.date()
        elif not isinstance(included, date):
            included = date.fromisoformat(str(included).strip())
        return float(age) + (on - included).days / DAYS_PER_YEAR

    def state(self) -> PatientState:
        """The patient's state for the decision after the latest cycle: the worst toxicity grade
        over every cycle row and the lowest GFR so far
        (:func:`iluminet.patient.planning.cumulative_state`), not only the latest row's."""
        history = self.states()
        return cumulative_state(history) if history else self._state(None, None)

    def _state(self, gfr: float | None, grade: int | None,
               age_years: float | None = None) -> PatientState:
        return PatientState(
            age_years=self.info.get("age_years") if age_years is None else age_years,
            baseline_gfr_ml_min=self.info.get("baseline_gfr_ml_min"),
            current_gfr_ml_min=gfr, worst_toxicity_grade=grade,
            diabetes=self.info.get("diabetes"),
            uncontrolled_hypertension=self.info.get("uncontrolled_hypertension"),
            previous_liver_embolization=self.info.get("previous_liver_embolization"),
            previous_chemotherapy=self.info.get("previous_chemotherapy"),
        )

    def input_files(self) -> list[Path]:
        return [self.folder / name for name in (PATIENT_FILE, CYCLES_FILE, ACTIVITY_FILE)]


def _in_range(value: float, low: float | None, high: float | None, exclusive_low: bool) -> bool:
    if not np.isfinite(value):
        return False
    if low is not None and (value <= low if exclusive_low else value < low):
        return False
    return high is None or value <= high


def _parse_date(value: Any, path: Path, key: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"not a date (expected YYYY-MM-DD), got {value!r}", source=str(path),
                         field=key) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice (PyYAML silently keeps the last one)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} given twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _read_patient_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError("file not found", source=str(path))
    try:
        text = _decode(path.read_bytes(), path)
        content = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 — a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", source=str(path)) from None
    except (OSError, ValueError, TypeError) as exc:  # e.g. an unhashable key
        raise InputError(f"cannot read: {type(exc).__name__}", source=str(path)) from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise InputError(f"expected a mapping of fields, got {type(content).__name__}",
                         source=str(path))
    return content


def read_patient_info(path: Path) -> dict[str, Any]:
    info = _read_patient_yaml(path)
    for key in info:
        if key not in PATIENT_KEYS:
            raise InputError(f"unknown key (allowed: {', '.join(PATIENT_KEYS)})", source=str(path),
                             field=str(key))
    for key, expected in PATIENT_KEYS.items():
        if key not in info or info[key] is None:
            continue  # unknown values are allowed; the decision treats them as failing criteria
        value = info[key]
        ok = isinstance(value, bool) if expected is bool else (
            isinstance(value, expected) and not isinstance(value, bool))
        if not ok:
            raise InputError(f"expected {TYPE_WORDS[expected]}, got {value!r}", source=str(path),
                             field=key)
    if "patient_id" not in info:
        raise InputError("missing", source=str(path), field="patient_id")
    if not str(info["patient_id"]).strip():
        raise InputError("empty", source=str(path), field="patient_id")
    if info.get("sex") not in (None, "F", "M"):
        raise InputError(f"expected F or M, got {info['sex']!r}", source=str(path), field="sex")
    age = info.get("age_years")
    if age is not None and not _in_range(float(age), *AGE_YEARS_RANGE, False):
        raise InputError(f"{float(age):g} years outside the cohort schema's range "
                         f"(a number in years, ≥ {AGE_YEARS_RANGE[0]:g}, ≤ {AGE_YEARS_RANGE[1]:g})",
                         source=str(path), field="age_years")
    gfr = info.get("baseline_gfr_ml_min")
    if gfr is not None and not _in_range(float(gfr), GFR_ML_MIN_MIN, GFR_ML_MIN_MAX, False):
        raise InputError(f"{float(gfr):g} ml/min outside the plausible range "
                         f"{GFR_ML_MIN_MIN:g}–{GFR_ML_MIN_MAX:g} ml/min",
                         source=str(path), field="baseline_gfr_ml_min")
    if info.get("inclusion_date") is not None:
        included = _parse_date(info["inclusion_date"], path, "inclusion_date")
        if included > (datetime.now(UTC) + FUTURE_SLACK).date():
            raise InputError(f"{included.isoformat()} is in the future", source=str(path),
                             field="inclusion_date")
        info["inclusion_date"] = included
    for key in ("weight_kg", "height_cm"):
        if info.get(key) is not None and not info[key] > 0:
            raise InputError(f"must be > 0, got {info[key]!r}", source=str(path), field=key)
    return info


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start}); save the table as UTF-8 CSV",
                         source=str(path)) from None


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """Read a CSV table as text cells, checking its shape first: every row has the header's
    number of fields (pandas would silently shift a row with an extra field into an index)."""
    if not path.is_file():
        raise InputError("file not found", source=str(path))
    try:
        text = _decode(path.read_bytes(), path)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=str(path)) from None
    if "\x00" in text:
        raise InputError("holds NUL bytes: not a text table", source=str(path))
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise InputError(f"not a readable CSV table: {exc}", source=str(path)) from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]  # blank lines
    if not rows:
        raise InputError(f"empty file: expected a header line with {', '.join(required)}",
                         source=str(path))
    header = [cell.strip() for cell in rows[0]]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise InputError("column named more than once in the header", source=str(path),
                         field=", ".join(duplicated))
    missing = [column for column in required if column not in header]
    if missing:
        raise InputError(f"missing column(s); the header has {header}",
                         source=str(path), field=", ".join(missing))
    for number, row in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise InputError(f"row {number}: {len(row)} fields, the header has {len(header)} "
                             "(an extra or missing comma?)", source=str(path))
    cells = [[cell.strip() or None for cell in row] for row in rows[1:]]
    return pd.DataFrame(cells, columns=header, dtype=object)


def _row(index: Hashable) -> str:
    """``row N`` of a table read with the default RangeIndex (1-based data row)."""
    return f"row {int(cast(int, index)) + 1}"


def _numbers(table: pd.DataFrame, column: str, path: Path, *, required: bool = True) -> pd.Series:
    values = pd.to_numeric(table[column], errors="coerce").astype(float)
    for index in table.index[~np.isfinite(values.to_numpy())]:
        raw = table.at[index, column]
        if pd.isna(raw) and not required:
            continue
        what = ("missing value" if pd.isna(raw) else
                f"not a number: {raw!r}" if np.isnan(values[index]) else
                f"not a finite number: {raw!r}")
        raise InputError(f"{_row(index)}: {what}", source=str(path), field=column)
    return values


def _integers(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    values = _numbers(table, column, path)
    for index, value in values.items():
        if value != round(value):
            raise InputError(f"{_row(index)}: expected a whole number, got "
                             f"{table.at[index, column]!r}",
                             source=str(path), field=column)
    return values.astype(int)


def _datetimes(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    parsed = []
    for index, raw in table[column].items():
        if pd.isna(raw):
            raise InputError(f"{_row(index)}: missing value", source=str(path), field=column)
        try:
            value = datetime.fromisoformat(str(raw).strip())
        except ValueError:
            raise InputError(f"{_row(index)}: not an ISO 8601 date and time: {raw!r}",
                             source=str(path), field=column) from None
        if value.tzinfo is None:
            raise InputError(f"{_row(index)}: {raw!r} has no UTC offset (e.g. +01:00); a time "
                             "without its zone can be an hour off", source=str(path), field=column)
        parsed.append(pd.Timestamp(value))
    return pd.Series(parsed, index=table.index, dtype=object)


def read_cycles(path: Path) -> pd.DataFrame:
    table = _read_csv(path, CYCLE_COLUMNS)
    out = pd.DataFrame(index=table.index)
    if table.empty:
        raise InputError("no cycle: the table has a header but no rows", source=str(path))
    cycle = _integers(table, "cycle", path)
    expected = np.arange(1, len(table) + 1)
    if not np.array_equal(cycle.to_numpy(), expected):
        found = ", ".join(str(int(c)) for c in cycle)
        raise InputError(f"cycles must be numbered 1, 2, … in order; found {found}",
                         source=str(path), field="cycle")
    out["cycle"] = cycle.astype(int)
    out["administration_datetime"] = _datetimes(table, "administration_datetime", path)
    times = out["administration_datetime"].tolist()
    for position in range(1, len(times)):
        if times[position] <= times[position - 1]:
            raise InputError(f"{_row(position)}: cycle {position + 1} is not after cycle "
                             f"{position}",
                             source=str(path), field="administration_datetime")
    activity = _numbers(table, "administered_activity_mbq", path)
    low, high = ADMINISTERED_MBQ_RANGE
    for index, value in activity.items():
        if not low <= value <= high:
            hint = (" — this looks like GBq" if 0 < value < 50 else
                    " — this looks like Bq or kBq" if value > 1e5 else "")
            raise InputError(f"{_row(index)}: {value:g} MBq outside the plausible {low:g}–{high:g} "
                             f"MBq{hint}", source=str(path), field="administered_activity_mbq")
    out["administered_activity_mbq"] = activity
    for kidney in KIDNEYS:
        column = f"{kidney}_kidney_mass_g"
        masses = _numbers(table, column, path)
        low, high = KIDNEY_MASS_G_RANGE
        for index, value in masses.items():
            if not low <= value <= high:
                raise InputError(
                    f"{_row(index)}: {value:g} g outside the plausible {low:g}–{high:g} g",
                    source=str(path),
                    field=column,
                )
        out[column] = masses
    gfr = _numbers(table, "gfr_ml_min", path, required=False)
    for index, value in gfr.items():
        if pd.notna(value) and not _in_range(value, GFR_ML_MIN_MIN, GFR_ML_MIN_MAX, False):
            raise InputError(f"{_row(index)}: {value:g} ml/min outside the plausible range "
                             f"{GFR_ML_MIN_MIN:g}–{GFR_ML_MIN_MAX:g} ml/min",
                             source=str(path), field="gfr_ml_min")
    out["gfr_ml_min"] = gfr
    grades = _numbers(table, "worst_toxicity_grade", path, required=False)
    bad = grades.notna() & ~grades.isin([0, 1, 2, 3, 4, 5])
    if bad.any():
        index = bad.idxmax()
        raise InputError(f"{_row(index)}: CTCAE grade must be 0–5, got {grades[index]:g}",
                         source=str(path), field="worst_toxicity_grade")
    out["worst_toxicity_grade"] = grades.astype("Int64")
    return out


def read_kidney_activity(path: Path, cycles: pd.DataFrame) -> pd.DataFrame:
    table = _read_csv(path, ACTIVITY_COLUMNS)
    if table.empty:
        raise InputError("no scan: the table has a header but no rows", source=str(path))
    cycle = _integers(table, "cycle", path)
    unknown = ~cycle.isin(cycles["cycle"])
    if unknown.any():
        index = unknown.idxmax()
        raise InputError(f"{_row(index)}: cycle {cycle[index]} is not in {CYCLES_FILE}",
                         source=str(path), field="cycle")
    scan = _datetimes(table, "scan_datetime", path)
    administered = cycle.map(cycles.set_index("cycle")["administration_datetime"])
    time_h = pd.Series([(s - a).total_seconds() / 3600.0 for s, a in zip(scan, administered)],
                       index=table.index)
    for early in table.index[time_h <= 0]:
        raise InputError(f"{_row(early)}: scan at {scan[early].isoformat()} is not after the "
                         f"administration of cycle {cycle[early]}", source=str(path),
                         field="scan_datetime")
    following = cycle.map(cycles.set_index("cycle")["administration_datetime"].shift(-1)
                          .set_axis(cycles["cycle"]))
    for index in table.index:
        later = following[index]
        if later is not None and not pd.isna(later) and scan[index] >= later:
            raise InputError(f"{_row(index)}: scan of cycle {cycle[index]} at "
                             f"{scan[index].isoformat()} is not before the next administration "
                             f"({later.isoformat()}): wrong cycle or date?", source=str(path),
                             field="scan_datetime")
    duplicated = pd.DataFrame({"cycle": cycle, "scan": scan}).duplicated(keep="first")
    if duplicated.any():
        first = duplicated.idxmax()
        raise InputError(f"{_row(first)}: a second scan of cycle {cycle[first]} at "
                         f"{scan[first].isoformat()} (duplicated time)", source=str(path),
                         field="scan_datetime")
    rows = []
    for kidney in KIDNEYS:
        column = f"{kidney}_kidney_activity_mbq"
        values = _numbers(table, column, path)
        for row_index, value in values.items():
            if not (np.isfinite(value) and value > 0):
                raise InputError(f"{_row(row_index)}: activity must be > 0 MBq, got {value:g}",
                                 source=str(path), field=column)
        relative_u = _activity_uncertainty(table, column, values, path)
        rows.append(pd.DataFrame({"cycle": cycle, "scan_datetime": scan, "time_h": time_h,
                                  "kidney": kidney, "activity_mbq": values,
                                  "activity_u_relative": relative_u}))
    long = pd.concat(rows, ignore_index=True)
    return long.sort_values(["cycle", "kidney", "time_h"], ignore_index=True)


def _activity_uncertainty(table: pd.DataFrame, column: str, activity_mbq: pd.Series,
                          path: Path) -> pd.Series:
    """The optional per-scan uncertainty of ``column`` as a relative standard uncertainty
    (fraction; NaN without a column). ``<column>_u_mbq`` is absolute (MBq, u/A must be ≤ 1),
    ``<column>_u_percent`` relative (0–100 %); one of them, given for every row."""
    given = [column + suffix for suffix in UNCERTAINTY_SUFFIXES if column + suffix in table]
    if not given:
        return pd.Series(np.nan, index=table.index)
    if len(given) > 1:
        raise InputError("give the uncertainty either absolute or relative, not both",
                         source=str(path), field=", ".join(given))
    name = given[0]
    for index in table.index[table[name].isna()]:
        raise InputError(f"{_row(index)}: missing value; an uncertainty column must be filled for "
                         "every scan (or left out)", source=str(path), field=name)
    values = _numbers(table, name, path)
    for index, value in values.items():
        if value < 0:
            raise InputError(f"{_row(index)}: an uncertainty must be ≥ 0, got {value:g}",
                             source=str(path), field=name)
    relative = values / 100.0 if name.endswith("_u_percent") else values / activity_mbq
    for index, value in relative.items():
        if value > 1.0:
            raise InputError(f"{_row(index)}: relative uncertainty {100 * value:.4g} % exceeds "
                             "100 % (expected a standard uncertainty of the activity)",
                             source=str(path), field=name)
    return relative.astype(float)


def load_patient(folder: str | Path, patient_id: str | None = None) -> PatientRecord:
    """Read and validate a patient's measurement-level records from ``folder``.

    ``patient_id`` (default: the folder name) must equal the ID in ``patient.yaml``; it is given
    when the tables were derived into another folder, e.g. from the patient's images.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("patient folder not found", source=str(folder))
    info = read_patient_info(folder / PATIENT_FILE)
    expected = folder.name if patient_id is None else patient_id
    if info["patient_id"] != expected:
        raise InputError(f"patient_id {info['patient_id']!r} differs from {expected!r}",
                         source=str(folder / PATIENT_FILE), field="patient_id")
    cycles = read_cycles(folder / CYCLES_FILE)
    activity = read_kidney_activity(folder / ACTIVITY_FILE, cycles)
    return PatientRecord(str(info["patient_id"]), folder, info, cycles, activity)


def find_patients(data_dir: str | Path) -> list[str]:
    """Patient IDs (folder names holding a ``patient.yaml``) under ``data_dir``."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise InputError("data folder not found", source=str(data_dir))
    return sorted(p.name for p in data_dir.iterdir() if (p / PATIENT_FILE).is_file())
