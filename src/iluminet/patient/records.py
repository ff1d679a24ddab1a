"""A patient's measurement-level records: ``patient.yaml``, ``cycles.csv``, ``kidney_activity.csv``.

The layout and every column are documented in ``data/README.md``. Reading validates everything the
dosimetry relies on, and each problem is reported with the file, the row (as a 1-based data row
number, header excluded) and the column, so a wrong dose can never come from a silently repaired
table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iluminet.config.params import read_yaml
from iluminet.errors import InputError
from iluminet.patient.planning import PatientState

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

# Plausibility ranges that catch unit mistakes (GBq or Bq instead of MBq, kg instead of g).
ADMINISTERED_MBQ_RANGE = (500.0, 15000.0)
KIDNEY_MASS_G_RANGE = (40.0, 500.0)


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
    """

    patient_id: str
    folder: Path
    info: dict[str, Any]
    cycles: pd.DataFrame
    activity: pd.DataFrame

    def state(self) -> PatientState:
        """The patient's state for the decision after the latest cycle."""
        last = self.cycles.iloc[-1] if len(self.cycles) else None

        def latest(column: str) -> Any:
            if last is None or pd.isna(last[column]):
                return None
            return last[column]

        grade = latest("worst_toxicity_grade")
        gfr = latest("gfr_ml_min")
        return PatientState(
            age_years=self.info.get("age_years"),
            baseline_gfr_ml_min=self.info.get("baseline_gfr_ml_min"),
            current_gfr_ml_min=None if gfr is None else float(gfr),
            worst_toxicity_grade=None if grade is None else int(grade),
            diabetes=self.info.get("diabetes"),
            uncontrolled_hypertension=self.info.get("uncontrolled_hypertension"),
            previous_liver_embolization=self.info.get("previous_liver_embolization"),
            previous_chemotherapy=self.info.get("previous_chemotherapy"),
        )

    def input_files(self) -> list[Path]:
        return [self.folder / name for name in (PATIENT_FILE, CYCLES_FILE, ACTIVITY_FILE)]


def read_patient_info(path: Path) -> dict[str, Any]:
    info = read_yaml(path)
    for key in info:
        if key not in PATIENT_KEYS:
            raise InputError(f"unknown key (allowed: {', '.join(PATIENT_KEYS)})", source=str(path),
                             field=key)
    for key, expected in PATIENT_KEYS.items():
        if key not in info or info[key] is None:
            continue  # unknown values are allowed; the decision treats them as failing criteria
        value = info[key]
        ok = isinstance(value, bool) if expected is bool else (
            isinstance(value, expected) and not isinstance(value, bool))
        if not ok:
            raise InputError(f"expected {expected}, got {value!r}", source=str(path), field=key)
    if "patient_id" not in info:
        raise InputError("missing", source=str(path), field="patient_id")
    if info.get("sex") not in (None, "F", "M"):
        raise InputError(f"expected F or M, got {info['sex']!r}", source=str(path), field="sex")
    for key in ("age_years", "baseline_gfr_ml_min", "weight_kg", "height_cm"):
        if info.get(key) is not None and not info[key] > 0:
            raise InputError(f"must be > 0, got {info[key]!r}", source=str(path), field=key)
    return info


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    if not path.is_file():
        raise InputError("file not found", source=str(path))
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"not a readable CSV table: {exc}", source=str(path)) from None
    table.columns = [column.strip() for column in table.columns]
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise InputError(f"missing column(s); the header has {list(table.columns)}",
                         source=str(path), field=", ".join(missing))
    return table


def _row(index: int) -> str:
    return f"row {index + 1}"


def _numbers(table: pd.DataFrame, column: str, path: Path, *, required: bool = True) -> pd.Series:
    values = pd.to_numeric(table[column], errors="coerce")
    for index in table.index[values.isna()]:
        raw = table.at[index, column]
        if pd.isna(raw) and not required:
            continue
        what = "missing value" if pd.isna(raw) else f"not a number: {raw!r}"
        raise InputError(f"{_row(index)}: {what}", source=str(path), field=column)
    return values.astype(float)


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
    cycle = _numbers(table, "cycle", path)
    expected = np.arange(1, len(table) + 1)
    if not np.array_equal(cycle.to_numpy(), expected):
        raise InputError(f"cycles must be numbered 1, 2, … in order; found {cycle.tolist()}",
                         source=str(path), field="cycle")
    out["cycle"] = cycle.astype(int)
    out["administration_datetime"] = _datetimes(table, "administration_datetime", path)
    for index in table.index[1:]:
        if out.at[index, "administration_datetime"] <= out.at[index - 1, "administration_datetime"]:
            raise InputError(f"{_row(index)}: cycle {index + 1} is not after cycle {index}",
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
    out["gfr_ml_min"] = _numbers(table, "gfr_ml_min", path, required=False)
    grades = _numbers(table, "worst_toxicity_grade", path, required=False)
    bad = grades.notna() & ~grades.isin([0, 1, 2, 3, 4, 5])
    if bad.any():
        index = bad.idxmax()
        raise InputError(f"{_row(index)}: CTCAE grade must be 0–5, got {grades[index]!r}",
                         source=str(path), field="worst_toxicity_grade")
    out["worst_toxicity_grade"] = grades.astype("Int64")
    return out


def read_kidney_activity(path: Path, cycles: pd.DataFrame) -> pd.DataFrame:
    table = _read_csv(path, ACTIVITY_COLUMNS)
    cycle = _numbers(table, "cycle", path).astype(int)
    unknown = ~cycle.isin(cycles["cycle"])
    if unknown.any():
        index = unknown.idxmax()
        raise InputError(f"{_row(index)}: cycle {cycle[index]} is not in {CYCLES_FILE}",
                         source=str(path), field="cycle")
    scan = _datetimes(table, "scan_datetime", path)
    administered = cycle.map(cycles.set_index("cycle")["administration_datetime"])
    time_h = pd.Series([(s - a).total_seconds() / 3600.0 for s, a in zip(scan, administered)],
                       index=table.index)
    for index in table.index[time_h <= 0]:
        raise InputError(f"{_row(index)}: scan at {scan[index].isoformat()} is not after the "
                         f"administration of cycle {cycle[index]}", source=str(path),
                         field="scan_datetime")
    duplicated = pd.DataFrame({"cycle": cycle, "scan": scan}).duplicated(keep="first")
    if duplicated.any():
        index = duplicated.idxmax()
        raise InputError(f"{_row(index)}: a second scan of cycle {cycle[index]} at "
                         f"{scan[index].isoformat()} (duplicated time)", source=str(path),
                         field="scan_datetime")
    rows = []
    for kidney in KIDNEYS:
        column = f"{kidney}_kidney_activity_mbq"
        values = _numbers(table, column, path)
        for index, value in values.items():
            if not (np.isfinite(value) and value > 0):
                raise InputError(f"{_row(index)}: activity must be > 0 MBq, got {value:g}",
                                 source=str(path), field=column)
        rows.append(pd.DataFrame({"cycle": cycle, "scan_datetime": scan, "time_h": time_h,
                                  "kidney": kidney, "activity_mbq": values}))
    long = pd.concat(rows, ignore_index=True)
    return long.sort_values(["cycle", "kidney", "time_h"], ignore_index=True)


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
