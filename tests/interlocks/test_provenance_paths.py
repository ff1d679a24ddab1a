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
