"""Cohort tables: declarative validation, cross-table rules, CSV round trip."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from iluminet.errors import InputError
from iluminet.trial.schema import (
    TABLES,
    Cohort,
    read_cohort,
    validate_cohort,
    validate_table,
    write_cohort,
)


def _csv(header: str, *rows: str) -> str:
    return "\n".join((header, *rows)) + "\n"


PATIENTS = _csv(
    ",".join(TABLES["patients"].column_names),
    "P01,2015-03-01,true,64,F,small_intestine,2,0,2011-05-10,false,false,false,true,false,true,"
    "false,false,false,70,80,130,6.1,3.4,220",
    "P02,2015-04-01,true,55,M,pancreas,12,,,false,true,true,false,false,false,false,false,false,"
    ",,,,,",
    "P03,2015-05-01,false,71,M,lung,,1,,true,false,false,false,false,false,false,false,false,"
    "90,60,120,5,3,200",
)
CYCLES = _csv(
    ",".join(TABLES["cycles"].column_names),
    "P01,1,2015-03-20,7400,1,4.5,4.9",
    "P01,2,2015-05-29,7390,1,4.4,4.8",
    "P02,1,2015-04-15,7410,1,,",
)
ACTIVITY = _csv(
    ",".join(TABLES["kidney_activity"].column_names),
    "P01,1,1.0,100.5,98.2",
    "P01,1,24.0,70.1,69.9",
    "P01,2,24.0,71.0,70.0",
)
LESIONS = _csv(
    ",".join(TABLES["lesions"].column_names),
    "P01,2015-02-20,L1,liver,false,target,30,false,",
    "P01,2015-02-20,L2,lymph node,true,non_target,12,false,present",
    "P01,2015-06-01,L1,liver,false,target,25,false,",
    "P01,2015-06-01,L2,lymph node,true,non_target,11,false,present",
    "P02,2015-04-01,L1,pancreas,false,target,40,false,",
)
EVENTS = _csv(
    ",".join(TABLES["events"].column_names),
    "P01,2015-05-29,toxicity,false,,,,2019-12-31",
    "P02,2015-04-15,death,false,,2015-06-30,tumour,2015-06-30",
)
FILES = {"patients.csv": PATIENTS, "cycles.csv": CYCLES, "kidney_activity.csv": ACTIVITY,
         "lesions.csv": LESIONS, "events.csv": EVENTS}


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _with(name: str, old: str, new: str) -> dict[str, str]:
    files = dict(FILES)
    assert old in files[name], old
    files[name] = files[name].replace(old, new, 1)
    return files


def _error(tmp_path: Path, files: dict[str, str]) -> InputError:
    folder = _write(tmp_path / "cohort", files)
    with pytest.raises(InputError) as info:
        read_cohort(folder)
    return info.value


def test_minimal_cohort_reads_typed(tmp_path):
    cohort = read_cohort(_write(tmp_path / "c", FILES))
    p = cohort.patients
    assert p["inclusion_date"].dtype == "datetime64[ns]"
    assert p["treated"].tolist() == [True, True, False]
    assert str(p["ecog"].dtype) == "Int64" and pd.isna(p.at[1, "ecog"])
    assert math.isnan(p.at[2, "ki67_percent"])
    assert cohort.events.at[0, "death_cause"] is None
    assert cohort.labs.empty and list(cohort.labs.columns) == TABLES["labs"].column_names


def test_round_trip(tmp_path):
    first = read_cohort(_write(tmp_path / "a", FILES))
    write_cohort(first, tmp_path / "b")
    second = read_cohort(tmp_path / "b")
    for name, table in first.tables().items():
        assert_frame_equal(table, getattr(second, name), check_dtype=True)


@pytest.mark.parametrize("name, old, new, source, field, text", [
    ("patients.csv", "P02,2015-04-01", "P01,2015-04-01", "patients.csv", "patient_id",
     "row 2: duplicate key"),
    ("events.csv", ",2015-06-30,tumour", ",2015-03-30,tumour", "events.csv", "death_date",
     "row 2: death 2015-03-30 before inclusion"),
    ("patients.csv", "small_intestine,2,0", "small_intestine,G2,0", "patients.csv",
     "ki67_percent", "row 1: expected a number"),
    ("lesions.csv", "P01,2015-06-01,L2,lymph node,true,non_target,11,false,present",
     "P01,2015-06-01,L3,lymph node,true,non_target,11,false,present", "lesions.csv", "lesion_id",
     "has no baseline row"),
    ("cycles.csv", "P01,2,2015-05-29", "P01,2,2015-03-10", "cycles.csv", "administration_date",
     "row 2: cycle 2 of patient 'P01' on 2015-03-10 is not after cycle 1"),
    ("patients.csv", "M,lung", "M,liver", "patients.csv", "origin", "row 3: expected one of"),
    ("patients.csv", "2015-04-01,true,55,M", "2015-04-01,true,55,", "patients.csv", "sex",
     "row 2: missing required value"),
    ("patients.csv", "P02,2015-04-01,true", "P02,2015-04-01,false", "cycles.csv", "patient_id",
     "row 3: a cycle for patient 'P02', who is not treated"),
    ("cycles.csv", "P01,2,2015-05-29,7390,1", "P01,3,2015-05-29,7390,1", "cycles.csv", "cycle",
     "expected consecutive"),
    ("cycles.csv", "P01,2,2015-05-29,7390,1", "P01,2,2015-05-29,7390,2", "events.csv",
     "step1_completed", "has step-2 cycles"),
    ("events.csv", "P01,2015-05-29,toxicity", "P01,2015-05-28,toxicity", "events.csv",
     "treatment_end_date", "not the date of the last cycle"),
    ("events.csv", "tumour,2015-06-30", "tumour,2015-07-30", "events.csv", "last_followup_date",
     "expected last_followup_date = death_date"),
    ("events.csv", "false,,,,2019-12-31", "false,2020-01-10,,,2019-12-31", "events.csv",
     "progression_date", "after the last follow-up"),
    ("kidney_activity.csv", "P01,2,24.0", "P01,3,24.0", "kidney_activity.csv", "cycle",
     "no cycle 3 of patient 'P01'"),
    ("lesions.csv", "P02,2015-04-01,L1", "P09,2015-04-01,L1", "lesions.csv", "patient_id",
     "unknown patient 'P09'"),
    ("patients.csv", "2015-03-01,true,64", "2015-03-01T10:00,true,64", "patients.csv",
     "inclusion_date", "no time of day"),
    ("cycles.csv", "P01,1,2015-03-20,7400", "P01,1,2015-02-20,7400", "cycles.csv",
     "administration_date", "before inclusion"),
])
def test_defect_is_named(tmp_path, name, old, new, source, field, text):
    err = _error(tmp_path, _with(name, old, new))
    assert err.source is not None and err.source.endswith(source)
    assert err.field == field
    assert text in str(err)


def test_missing_required_file(tmp_path):
    files = dict(FILES)
    del files["events.csv"]
    err = _error(tmp_path, files)
    assert err.source.endswith("events.csv") and "missing" in str(err)


def test_unknown_column(tmp_path):
    files = _with("events.csv", "last_followup_date\n", "last_followup_date,note\n")
    files["events.csv"] = files["events.csv"].replace("2019-12-31\n", "2019-12-31,x\n")
    files["events.csv"] = files["events.csv"].replace("2015-06-30\n", "2015-06-30,y\n")
    err = _error(tmp_path, files)
    assert err.field == "note"


def test_treated_patient_needs_events_row(tmp_path):
    files = dict(FILES)
    files["events.csv"] = "\n".join(EVENTS.splitlines()[:2]) + "\n"
    err = _error(tmp_path, files)
    assert err.field == "treated" and "no row in events" in str(err)


def test_baseline_scan_may_precede_inclusion_within_screening_window(tmp_path):
    # baseline CT 9 days before inclusion is accepted (above); 60 days is not
    err = _error(tmp_path, {**FILES, "lesions.csv": LESIONS.replace("2015-02-20", "2014-12-31")})
    assert err.field == "assessment_date" and "before inclusion" in str(err)


def test_write_refuses_existing_cohort_and_foreign_files(tmp_path):
    cohort = read_cohort(_write(tmp_path / "a", FILES))
    out = tmp_path / "out"
    write_cohort(cohort, out)
    with pytest.raises(InputError, match="already holds a cohort"):
        write_cohort(cohort, out)
    write_cohort(cohort, out, force=True)  # allowed
    (out / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="other files"):
        write_cohort(cohort, out, force=True)
    with pytest.raises(InputError, match="extra files"):
        write_cohort(cohort, tmp_path / "z", extra_files={"evil.sh": ""})


def test_write_validates_first(tmp_path):
    cohort = read_cohort(_write(tmp_path / "a", FILES))
    cohort.patients.loc[0, "sex"] = "X"
    with pytest.raises(InputError, match="expected one of"):
        write_cohort(cohort, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_force_removes_stale_optional_table(tmp_path):
    cohort = read_cohort(_write(tmp_path / "a", FILES))
    with_labs = Cohort(**{**cohort.tables(), "labs": pd.DataFrame({
        "patient_id": ["P01"], "date": [pd.Timestamp("2015-03-10")], "test": ["hb"],
        "value": [120.0], "unit": ["g/L"], "lln": [117.0], "uln": [153.0]})})
    write_cohort(with_labs, tmp_path / "b")
    assert len(read_cohort(tmp_path / "b").labs) == 1
    write_cohort(cohort, tmp_path / "b", force=True)
    assert not (tmp_path / "b" / "labs.csv").exists()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(18, 100, allow_nan=False),
                          st.one_of(st.none(), st.floats(0, 100, allow_nan=False)),
                          st.one_of(st.none(), st.sampled_from([0, 1, 2])), st.booleans()),
                min_size=1, max_size=8))
def test_patients_table_round_trips_through_text(rows):
    """Any valid patients table → CSV text → validated table gives back the same values."""
    from iluminet.trial.schema import _to_csv_text

    n = len(rows)
    base = validate_table(pd.read_csv(io.StringIO(PATIENTS), dtype=str, keep_default_na=False),
                          TABLES["patients"])
    table = pd.concat([base.iloc[[0]]] * n, ignore_index=True)
    table["patient_id"] = [f"X{i}" for i in range(n)]
    table["age_years"] = [r[0] for r in rows]
    table["ki67_percent"] = [np.nan if r[1] is None else r[1] for r in rows]
    table["ecog"] = pd.array([r[2] for r in rows], dtype="Int64")
    table["diabetes"] = [r[3] for r in rows]
    typed = validate_table(table, TABLES["patients"])
    text = _to_csv_text(typed, TABLES["patients"])
    back = validate_table(pd.read_csv(io.StringIO(text), dtype=str,
                                      keep_default_na=False), TABLES["patients"])
    assert_frame_equal(typed, back)


def test_validate_cohort_accepts_typed_tables(tmp_path):
    cohort = read_cohort(_write(tmp_path / "a", FILES))
    again = validate_cohort(cohort)
    assert_frame_equal(again.events, cohort.events)
