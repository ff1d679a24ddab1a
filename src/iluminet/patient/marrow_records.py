"""Optional marrow inputs of a patient: ``blood_samples.csv`` and ``whole_body_activity.csv``.

Layouts in ``data/README.md``. Both are long tables with a ``cycle`` column (one block of rows per
cycle, like ``kidney_activity.csv``). Every problem is reported with the file, the 1-based data row
and the column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from iluminet.errors import InputError
from iluminet.patient.records import _datetimes, _numbers, _read_csv, _row

BLOOD_FILE = "blood_samples.csv"
WHOLE_BODY_FILE = "whole_body_activity.csv"
#: written by :func:`iluminet.imaging.hybrid.write_measurement_tables` from ``voi/marrow.nii.gz``
MARROW_SPECT_FILE = "marrow_spect.csv"
BLOOD_COLUMNS = ("cycle", "sample_datetime", "activity_concentration_kbq_per_ml", "haematocrit")
WHOLE_BODY_COLUMNS = ("cycle", "scan_datetime", "whole_body_activity_mbq")
MARROW_SPECT_COLUMNS = ("cycle", "scan_datetime", "vertebral_marrow_activity_mbq")
HAEMATOCRIT_RANGE = (0.1, 0.7)
_OPTIONAL_WB = "organs_activity_mbq"


def _positive(table: pd.DataFrame, column: str, path: Path, what: str, unit: str) -> pd.Series:
    """The numbers of ``column``, each > 0, else an error naming the row."""
    values = _numbers(table, column, path)
    for index, value in values.items():
        if not value > 0:
            raise InputError(f"{_row(index)}: {what} must be > 0 {unit}, got {value:g}",
                             source=str(path), field=column)
    return values


def _times_after(table: pd.DataFrame, path: Path, cycles: pd.DataFrame, time_column: str
                 ) -> tuple[pd.Series, pd.Series]:
    cycle = _numbers(table, "cycle", path)
    for index, value in cycle.items():
        if value not in set(cycles["cycle"].astype(float)):
            raise InputError(f"{_row(index)}: cycle {value:g} is not in cycles.csv",
                             source=str(path), field="cycle")
    cycle = cycle.astype(int)
    when = _datetimes(table, time_column, path)
    administered = cycle.map(cycles.set_index("cycle")["administration_datetime"])
    time_h = pd.Series([(w - a).total_seconds() / 3600.0 for w, a in zip(when, administered)],
                       index=table.index, dtype=float)
    for index in table.index:
        if not time_h[index] > 0:
            raise InputError(f"{_row(index)}: {when[index].isoformat()} is not after the "
                             f"administration of cycle {cycle[index]}", source=str(path),
                             field=time_column)
    for index in table.index[1:]:
        if cycle[index] == cycle[index - 1] and not time_h[index] > time_h[index - 1]:
            raise InputError(f"{_row(index)}: {when[index].isoformat()} is not after the previous "
                             f"row's {when[index - 1].isoformat()} (rows of a cycle must be in "
                             "time order)", source=str(path), field=time_column)
    return cycle, time_h


def read_blood_samples(path: str | Path, cycles: pd.DataFrame) -> pd.DataFrame:
    """Validated blood samples: ``cycle``, ``time_h``, ``concentration_mbq_per_ml``,
    ``haematocrit``.

    Rules: each cycle's rows in strictly increasing time, after its administration; concentration
    > 0 kBq/ml; haematocrit (a fraction, not %) within 0.1–0.7, or empty.
    """
    path = Path(path)
    table = _read_csv(path, BLOOD_COLUMNS)
    cycle, time_h = _times_after(table, path, cycles, "sample_datetime")
    conc = _positive(table, "activity_concentration_kbq_per_ml", path, "concentration", "kBq/ml")
    hct = _numbers(table, "haematocrit", path, required=False)
    low, high = HAEMATOCRIT_RANGE
    for index, value in hct.items():
        if np.isnan(value):
            continue
        if not low <= value <= high:
            hint = " — a percentage? give the fraction, e.g. 0.42" if 10 <= value <= 70 else ""
            raise InputError(f"{_row(index)}: haematocrit {value:g} outside {low:g}–{high:g}{hint}",
                             source=str(path), field="haematocrit")
    return pd.DataFrame({"cycle": cycle, "time_h": time_h,
                         "concentration_mbq_per_ml": conc / 1000.0, "haematocrit": hct}
                        ).reset_index(drop=True)


def read_whole_body_activity(path: str | Path, cycles: pd.DataFrame) -> pd.DataFrame:
    """Validated whole-body activities: ``cycle``, ``time_h``, ``whole_body_activity_mbq``,
    ``organs_activity_mbq`` (kidneys, liver, spleen, tumours: subtracted for the remainder of body;
    0 when the optional column is absent). Organs ≤ whole body, both ≥ 0."""
    path = Path(path)
    table = _read_csv(path, WHOLE_BODY_COLUMNS)
    cycle, time_h = _times_after(table, path, cycles, "scan_datetime")
    wb = _positive(table, "whole_body_activity_mbq", path, "whole-body activity", "MBq")
    organs = (_numbers(table, _OPTIONAL_WB, path) if _OPTIONAL_WB in table.columns
              else pd.Series(0.0, index=table.index))
    for index in table.index:
        if not 0 <= organs[index] < wb[index]:
            raise InputError(f"{_row(index)}: organ activity {organs[index]:g} MBq must be ≥ 0 and "
                             f"below the whole body's {wb[index]:g} MBq", source=str(path),
                             field=_OPTIONAL_WB)
    return pd.DataFrame({"cycle": cycle, "time_h": time_h, "whole_body_activity_mbq": wb,
                         "organs_activity_mbq": organs}).reset_index(drop=True)


def read_marrow_spect(path: str | Path, cycles: pd.DataFrame) -> pd.DataFrame:
    """Validated image-based marrow levels: ``cycle``, ``time_h``,
    ``vertebral_marrow_activity_mbq`` (> 0), ``skeletal_lesion`` (bool; False when the optional
    column is absent). One row per cycle, after its administration."""
    path = Path(path)
    table = _read_csv(path, MARROW_SPECT_COLUMNS)
    cycle, time_h = _times_after(table, path, cycles, "scan_datetime")
    activity = _positive(table, "vertebral_marrow_activity_mbq", path,
                         "vertebral marrow activity", "MBq")
    seen: set[int] = set()
    for index, value in cycle.items():
        if int(value) in seen:
            raise InputError(f"{_row(index)}: a second row for cycle {int(value)} (one SPECT "
                             "marrow level per cycle)", source=str(path), field="cycle")
        seen.add(int(value))
    lesion = pd.Series(False, index=table.index)
    if "skeletal_lesion" in table.columns:
        text = table["skeletal_lesion"].astype(str).str.strip().str.lower()
        for index, value in text.items():
            if value not in ("true", "false", "1", "0"):
                raise InputError(f"{_row(index)}: expected true or false, got {value!r}",
                                 source=str(path), field="skeletal_lesion")
        lesion = text.isin(("true", "1"))
    return pd.DataFrame({"cycle": cycle, "time_h": time_h,
                         "vertebral_marrow_activity_mbq": activity,
                         "skeletal_lesion": lesion}).reset_index(drop=True)
