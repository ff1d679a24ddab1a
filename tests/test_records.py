"""Reading a patient's measurement-level records: every defect is an error naming file, row and
field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from iluminet.errors import InputError
from iluminet.patient.records import find_patients, load_patient
from iluminet.synthetic.demo_patients import SCENARIOS, generate_demo_patient


@pytest.fixture()
def patient(tmp_path) -> Path:
    folder = tmp_path / "P001"
    generate_demo_patient(SCENARIOS[0], folder, seed=1)
    return folder


def edit_csv(path: Path, change) -> None:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(table)
    table.to_csv(path, index=False)


def test_reads_valid_demo_patient(patient):
    record = load_patient(patient)
    assert record.patient_id == "P001"
    assert list(record.cycles["cycle"]) == [1, 2, 3]
    assert set(record.activity["kidney"]) == {"left", "right"}
    assert (record.activity["time_h"] > 0).all()
    first = record.activity[(record.activity["cycle"] == 1) & (record.activity["kidney"] == "left")]
    assert first["time_h"].tolist() == sorted(first["time_h"].tolist())
    # the age on the latest cycle's date (age at inclusion + time since inclusion)
    latest = record.cycles["administration_datetime"].iloc[-1].date()
    since = (latest - record.info["inclusion_date"]).days / 365.25
    assert record.state().age_years == pytest.approx(58 + since)
    assert record.info["age_years"] == 58


@pytest.mark.parametrize(
    "file, change, match",
    [
        (
            "kidney_activity.csv",
            lambda t: t.__setitem__(
                "left_kidney_activity_mbq", t["left_kidney_activity_mbq"].where(t.index != 2, "")
            ),
            r"kidney_activity.csv: field 'left_kidney_activity_mbq': row 3: missing value",
        ),
        (
            "kidney_activity.csv",
            lambda t: t.__setitem__(
                "right_kidney_activity_mbq", t["right_kidney_activity_mbq"].where(t.index != 0, "0")
            ),
            r"field 'right_kidney_activity_mbq': row 1: activity must be > 0",
        ),
        (
            "kidney_activity.csv",
            lambda t: t.__setitem__(
                "left_kidney_activity_mbq",
                t["left_kidney_activity_mbq"].where(t.index != 1, "12,5"),
            ),
            r"field 'left_kidney_activity_mbq': row 2: not a number: '12,5'",
        ),
        (
            "kidney_activity.csv",
            lambda t: t.__setitem__(
                "scan_datetime", t["scan_datetime"].where(t.index != 1, t.at[0, "scan_datetime"])
            ),
            r"field 'scan_datetime': row 2: a second scan of cycle 1 .*duplicated time",
        ),
        (
            "kidney_activity.csv",
            lambda t: t.__setitem__(
                "scan_datetime", t["scan_datetime"].where(t.index != 0, "2020-01-01T10:00:00+01:00")
            ),
            r"field 'scan_datetime': row 1: scan at .* is not after the administration of cycle 1",
        ),
        (
            "kidney_activity.csv",
            lambda t: t.__setitem__("scan_datetime", t["scan_datetime"].str.slice(0, 19)),
            r"field 'scan_datetime': row 1: .* has no UTC offset",
        ),
        (
            "kidney_activity.csv",
            lambda t: t.__setitem__("cycle", t["cycle"].where(t.index != 0, "7")),
            r"field 'cycle': row 1: cycle 7 is not in cycles.csv",
        ),
        (
            "kidney_activity.csv",
            lambda t: t.drop(columns=["right_kidney_activity_mbq"], inplace=True),
            r"field 'right_kidney_activity_mbq': missing column",
        ),
        (
            "cycles.csv",
            lambda t: t.__setitem__(
                "left_kidney_mass_g", t["left_kidney_mass_g"].where(t.index != 1, "")
            ),
            r"cycles.csv: field 'left_kidney_mass_g': row 2: missing value",
        ),
        (
            "cycles.csv",
            lambda t: t.__setitem__(
                "left_kidney_mass_g", t["left_kidney_mass_g"].where(t.index != 0, "0.15")
            ),
            r"field 'left_kidney_mass_g': row 1: 0.15 g outside the plausible",
        ),
        (
            "cycles.csv",
            lambda t: t.__setitem__(
                "administered_activity_mbq",
                t["administered_activity_mbq"].where(t.index != 0, "7.4"),
            ),
            r"field 'administered_activity_mbq': row 1: 7.4 MBq .* this looks like GBq",
        ),
        (
            "cycles.csv",
            lambda t: t.__setitem__(
                "administered_activity_mbq",
                t["administered_activity_mbq"].where(t.index != 0, "7.4e9"),
            ),
            r"administered_activity_mbq.*looks like Bq",
        ),
        (
            "cycles.csv",
            lambda t: t.__setitem__(
                "administration_datetime",
                t["administration_datetime"].where(
                    t.index != 2, t.at[0, "administration_datetime"]
                ),
            ),
            r"field 'administration_datetime': row 3: cycle 3 is not after cycle 2",
        ),
        (
            "cycles.csv",
            lambda t: t.__setitem__("cycle", ["1", "3", "2"]),
            r"field 'cycle': cycles must be numbered 1, 2, … in order",
        ),
        (
            "cycles.csv",
            lambda t: t.__setitem__("worst_toxicity_grade", ["0", "7", "1"]),
            r"field 'worst_toxicity_grade': row 2: CTCAE grade must be 0–5",
        ),
    ],
)
def test_defects_are_errors_naming_file_row_and_field(patient, file, change, match):
    edit_csv(patient / file, change)
    with pytest.raises(InputError, match=match) as excinfo:
        load_patient(patient)
    assert file in str(excinfo.value.source)


@pytest.mark.parametrize("text, match", [
    ("patient_id: P001\nage_years: 60\nweight: 70\n", r"patient.yaml: field 'weight': unknown key"),
    ("patient_id: P001\nage_years: sixty\n", r"field 'age_years': expected"),
    ("patient_id: P001\ndiabetes: 1\n", r"field 'diabetes': expected"),
    ("patient_id: P002\n", r"field 'patient_id': patient_id 'P002' differs from 'P001'"),
    ("age_years: 60\n", r"field 'patient_id': missing"),
    ("patient_id: P001\nsex: X\n", r"field 'sex': expected F or M"),
])
def test_patient_file_defects(patient, text, match):
    (patient / "patient.yaml").write_text(text)
    with pytest.raises(InputError, match=match):
        load_patient(patient)


def test_unknown_clinical_values_are_allowed_and_stay_unknown(patient):
    (patient / "patient.yaml").write_text("patient_id: P001\nage_years: null\n")
    assert load_patient(patient).state().age_years is None


def test_missing_files_and_folders(tmp_path, patient):
    with pytest.raises(InputError, match="patient folder not found"):
        load_patient(tmp_path / "P999")
    (patient / "kidney_activity.csv").unlink()
    with pytest.raises(InputError, match="kidney_activity.csv: file not found"):
        load_patient(patient)


def test_find_patients(tmp_path, patient):
    shutil.copytree(patient, tmp_path / "P002")
    (tmp_path / "not_a_patient").mkdir()
    assert find_patients(tmp_path) == ["P001", "P002"]
