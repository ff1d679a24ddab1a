"""The dose-calibrator log of the calibration sources: activity, reference time, acquisition.

The activity of a calibration source is measured in the dose calibrator; the DICOM header of the
calibration acquisition often does not carry it (or carries a nominal value). The log names, per
acquisition, the activity and when it was measured, and takes precedence over the header.

Format (CSV with a header row, or JSON: a list of objects with the same keys):

==================  ==========================================================================
``acquisition``     ``planar_sensitivity`` or ``spect_phantom``
``activity_mbq``    the measured activity (MBq, > 0)
``reference_datetime`` when it was measured: ISO 8601 with its UTC offset
``zone``            optional: the IANA zone (documentation; the offset decides)
==================  ==========================================================================
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from iluminet.errors import InputError

__all__ = ["ACQUISITIONS", "SourceActivity", "read_dose_calibrator_log"]

ACQUISITIONS = ("planar_sensitivity", "spect_phantom")


@dataclass(frozen=True)
class SourceActivity:
    """A source activity as measured in the dose calibrator."""

    activity_mbq: float
    reference: datetime
    source: str


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the JSON ({exc})", source=str(path)) from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InputError("expected a list of objects with acquisition, activity_mbq and "
                             "reference_datetime", source=str(path))
        return data
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read the CSV ({type(exc).__name__})", source=str(path)
                         ) from None
    return [{str(k): v for k, v in r.items()} for r in table.to_dict(orient="records")]


def read_dose_calibrator_log(path: str | Path) -> dict[str, SourceActivity]:
    """``{acquisition: SourceActivity}`` from the log (module notes); every defect is an
    :class:`InputError` naming the file, the 1-based row and the field."""
    path = Path(path)
    if not path.is_file():
        raise InputError("dose-calibrator log not found", source=str(path))
    out: dict[str, SourceActivity] = {}
    for i, row in enumerate(_rows(path), start=1):
        where = f"{path} row {i}"
        for key in ("acquisition", "activity_mbq", "reference_datetime"):
            if str(row.get(key, "")).strip() == "":
                raise InputError(f"row {i}: missing {key}", source=str(path), field=key)
        name = str(row["acquisition"]).strip()
        if name not in ACQUISITIONS:
            raise InputError(f"row {i}: unknown acquisition {name!r}; expected one of "
                             f"{', '.join(ACQUISITIONS)}", source=str(path), field="acquisition")
        if name in out:
            raise InputError(f"row {i}: a second entry for {name}", source=str(path),
                             field="acquisition")
        try:
            activity = float(row["activity_mbq"])
        except (TypeError, ValueError):
            activity = math.nan
        if not (math.isfinite(activity) and activity > 0):
            raise InputError(f"row {i}: activity_mbq {row['activity_mbq']!r}: expected a "
                             "positive number of MBq", source=str(path), field="activity_mbq")
        try:
            when = datetime.fromisoformat(str(row["reference_datetime"]).strip())
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            raise InputError(f"row {i}: reference_datetime {row['reference_datetime']!r}: "
                             "expected ISO 8601 with its UTC offset, e.g. "
                             "2024-03-05T09:30:00+01:00", source=str(path),
                             field="reference_datetime")
        out[name] = SourceActivity(activity, when, where)
    return out
