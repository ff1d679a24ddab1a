"""Patient facts, timing and reader errors: each defect is an InputError naming file, row, field."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from iluminet.errors import InputError
from iluminet.patient.chain import run_patient_dosimetry
from iluminet.patient.planning import Action
from iluminet.patient.records import load_patient
from tests.interlocks.conftest import edit_csv, edit_yaml

INTERNALS = re.compile(r"np\.float64|np\.int64|<class '|Traceback|Series is ambiguous")


def _raises(folder, match: str, file: str) -> InputError:
    with pytest.raises(InputError, match=match) as info:
        load_patient(folder)
    assert info.value.source is not None and info.value.source.endswith(file)
    assert not INTERNALS.search(str(info.value))
    return info.value


@pytest.mark.parametrize("key, value, match", [
    ("age_years", "7", r"age_years.*7 years outside the cohort schema's range \(a number in "
                       r"years, ≥ 18, ≤ 100\)"),
    ("age_years", "580", "580 years outside"),
    ("baseline_gfr_ml_min", "-90", "-90 ml/min outside the plausible range"),
    ("baseline_gfr_ml_min", "900", "900 ml/min outside"),
    ("inclusion_date", "not a date", "not a date"),
    ("inclusion_date", "2999-01-01", "in the future"),
    ("age_years", "seventy", "expected a number, got 'seventy'"),
])
def test_patient_facts_are_range_checked(patient, key, value, match):
    edit_yaml(patient / "patient.yaml", key, value)
    error = _raises(patient, match, "patient.yaml")
    assert error.field == key


def test_age_7_no_longer_makes_a_patient_step2_eligible(patient):
    # the issue: age typed 7 instead of 74 turned "not eligible" into "step 2 eligible"
    edit_yaml(patient / "patient.yaml", "age_years", "7")
    with pytest.raises(InputError, match="age_years"):
        load_patient(patient)


def test_cycle_gfr_out_of_range(patient):
    edit_csv(patient / "cycles.csv", lambda t: t.__setitem__("gfr_ml_min", ["91", "-90", "89"]))
    error = _raises(patient, r"row 2: -90 ml/min outside", "cycles.csv")
    assert error.field == "gfr_ml_min"


def test_scan_after_the_next_administration_is_an_error(patient):
    # a 1-day interval between cycles: cycle 1's later scans fall after cycle 2's injection
    def change(table):
        first = pd.Timestamp(table.loc[0, "administration_datetime"])
        table.loc[1, "administration_datetime"] = (first + pd.Timedelta(days=1)).isoformat()
    edit_csv(patient / "cycles.csv", change)
    error = _raises(patient, "not before the next administration", "kidney_activity.csv")
    assert error.field == "scan_datetime"


def test_empty_csv(patient):
    (patient / "kidney_activity.csv").write_text("")
    _raises(patient, "empty file: expected a header", "kidney_activity.csv")
    (patient / "cycles.csv").write_text("")
    _raises(patient, "empty file", "cycles.csv")


def test_header_only_csv(patient):
    header = (patient / "kidney_activity.csv").read_text().splitlines()[0]
    (patient / "kidney_activity.csv").write_text(header + "\n")
    _raises(patient, "no scan", "kidney_activity.csv")


def test_row_with_an_extra_field(patient):
    lines = (patient / "kidney_activity.csv").read_text().splitlines()
    lines[3] += ",12.5"
    (patient / "kidney_activity.csv").write_text("\n".join(lines) + "\n")
    _raises(patient, r"row 3: 5 fields, the header has 4", "kidney_activity.csv")
    lines = (patient / "kidney_activity.csv").read_text().splitlines()
    lines[1] += ",12.5"  # the first data row: pandas would make the first column an index
    (patient / "kidney_activity.csv").write_text("\n".join(lines) + "\n")
    _raises(patient, r"row 1: 5 fields", "kidney_activity.csv")


@pytest.mark.parametrize("raw, match", [("inf", "not a finite number: 'inf'"),
                                        ("nan", "not a number: 'nan'"),
                                        ("-inf", "not a finite number")])
def test_non_finite_numbers(patient, raw, match):
    edit_csv(patient / "kidney_activity.csv",
             lambda t: t.__setitem__("left_kidney_activity_mbq",
                                     [raw] + list(t["left_kidney_activity_mbq"][1:])))
    _raises(patient, match, "kidney_activity.csv")


def test_fractional_cycle_number(patient):
    edit_csv(patient / "kidney_activity.csv",
             lambda t: t.__setitem__("cycle", ["1.5"] + list(t["cycle"][1:])))
    _raises(patient, "expected a whole number, got '1.5'", "kidney_activity.csv")


def test_latin1_encoding(patient):
    path = patient / "cycles.csv"
    path.write_bytes(path.read_bytes() + "é\n".encode("latin-1"))
    _raises(patient, "not UTF-8", "cycles.csv")


def test_wrong_type_message_has_no_python_internals(patient):
    edit_yaml(patient / "patient.yaml", "diabetes", "3")
    error = _raises(patient, "expected true or false, got 3", "patient.yaml")
    assert "<class" not in str(error)


def test_one_scan_cycle_withholds_that_cycle(patient, default_params):
    # the issue: "argmin of an empty sequence" failed the whole patient
    def keep_one_scan_of_cycle_3(table):
        drop = table.index[table["cycle"] == "3"][1:]
        table.drop(drop, inplace=True)
    edit_csv(patient / "kidney_activity.csv", keep_one_scan_of_cycle_3)
    result = run_patient_dosimetry(load_patient(patient), default_params)
    assert result.decision_.action is Action.WITHHOLD
    assert any(reason.startswith("cycle 3:") and "usable scan" in reason
               for reason in result.decision_.reasons)
    assert result.cycles_["bed_gy"].notna().sum() == 2


def test_cycle_without_scans_withholds(patient, default_params):
    edit_csv(patient / "kidney_activity.csv",
             lambda t: t.drop(t.index[t["cycle"] == "3"], inplace=True))
    result = run_patient_dosimetry(load_patient(patient), default_params)
    assert result.decision_.action is Action.WITHHOLD
    assert any("cycle 3: left kidney: no scan" in reason for reason in result.decision_.reasons)


def test_patient_ranges_agree_with_the_cohort_schema():
    from iluminet.patient import records
    from iluminet.trial.schema import PATIENTS

    age = PATIENTS.column("age_years")
    assert records.AGE_YEARS_RANGE == (age.minimum, age.maximum) and not age.exclusive_minimum
    gfr = PATIENTS.column("baseline_gfr_ml_min")
    assert gfr.minimum is not None and records.GFR_ML_MIN_MIN > gfr.minimum  # stricter than > 0
