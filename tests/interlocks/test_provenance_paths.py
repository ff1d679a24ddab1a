"""Provenance: inputs relative to the data root (recorded once), stable across runs."""

from __future__ import annotations

from iluminet.patient.entry import prepare_patient
from iluminet.provenance import provenance, relative_input


def test_inputs_are_relative_to_the_data_root(patient, default_params):
    data_root = patient.parent
    prepared = prepare_patient(data_root, "P001", default_params)
    first = provenance(prepared.input_files(), {}, data_root=prepared.data_root())
    second = provenance(prepared.input_files(), {}, data_root=prepared.data_root())
    assert first["data_root"] == data_root.resolve().as_posix()
    assert sorted(first["inputs"]) == ["P001/cycles.csv", "P001/kidney_activity.csv",
                                       "P001/patient.yaml"]
    assert first["inputs"] == second["inputs"]
    assert not any(key.startswith("/") for key in first["inputs"])


def test_file_outside_the_data_root_is_named_without_its_folders(tmp_path):
    outside = tmp_path / "Smith_John" / "table.csv"
    outside.parent.mkdir()
    outside.write_text("x")
    assert relative_input(outside, tmp_path / "data") == "(outside the data root)/table.csv"


def test_image_level_inputs_are_the_raw_files_not_the_staging_tables(tmp_path, patient):
    from types import SimpleNamespace

    from iluminet.patient.entry import PreparedPatient
    from iluminet.patient.records import load_patient

    raw = patient  # stands for the image patient folder: tables + cycle_01/dicom
    (raw / "cycle_01" / "dicom").mkdir(parents=True)
    (raw / "cycle_01" / "dicom" / "nm.dcm").write_bytes(b"x")
    (raw / "cycle_01" / "truth.json").write_text("{}")
    staging = tmp_path / "reports" / ".P001.staging-abc" / "image_quantification"
    staging.mkdir(parents=True)
    for name in ("patient.yaml", "cycles.csv", "kidney_activity.csv"):
        (staging / name).write_bytes((raw / name).read_bytes())
    prepared = PreparedPatient(load_patient(staging, "P001"), "images",
                               SimpleNamespace(folder=raw), source_folder=raw)
    block = provenance(prepared.input_files(), {}, data_root=prepared.data_root())
    assert sorted(block["inputs"]) == ["P001/cycle_01/dicom/nm.dcm", "P001/cycles.csv",
                                       "P001/patient.yaml"]
    assert "staging" not in str(block)


def test_cohort_results_record_inputs_relative_to_the_cohort_folder(tmp_path):
    """The cohort notebooks pass absolute (or ``../``) paths of the cohort tables: the provenance
    keys them by file name, with the cohort folder recorded once (before: absolute paths)."""
    import json

    import pandas as pd

    from iluminet.trial.efficacy import cohort_input_files
    from iluminet.trial.safety import SafetyParameters, SafetyResults, write_safety_outputs

    cohort = tmp_path / "Smith_John" / "cohort"
    cohort.mkdir(parents=True)
    for name in ("patients.csv", "cycles.csv", "events.csv", "lesions.csv"):
        (cohort / name).write_text("patient_id\nP1\n")
    import dataclasses

    values = {f.name: {} if f.name.endswith("_summary") else pd.DataFrame()
              for f in dataclasses.fields(SafetyResults)}
    values.update(parameters=SafetyParameters(), n_treated=0)
    results = SafetyResults(**values)
    inputs = [cohort / ".." / "cohort" / "patients.csv", *sorted(cohort.glob("c*.csv"))]
    written = write_safety_outputs(results, tmp_path / "out", input_files=inputs)
    block = json.loads(written[0].read_text())["provenance"]
    assert sorted(block["inputs"]) == ["cycles.csv", "patients.csv"]
    assert block["data_root"] == cohort.resolve().as_posix()
    assert "Smith_John" not in json.dumps(block["inputs"])
    assert [p.name for p in cohort_input_files(cohort)][:2] == ["patients.csv", "cycles.csv"]
