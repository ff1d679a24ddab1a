"""The two entry levels meet in one record: image-level quantification feeds the same chain."""

from __future__ import annotations

import json

import pytest

from iluminet.errors import InputError
from iluminet.patient.chain import run_patient_dosimetry
from iluminet.patient.entry import prepare_patient
from iluminet.synthetic.demo_patients import SCENARIOS, generate_demo_patient
from iluminet.synthetic.virtual import generate_virtual_patients


@pytest.fixture(scope="module")
def virtual(tmp_path_factory):
    out = tmp_path_factory.mktemp("virtual")
    generate_virtual_patients(1, 1, 11, out, noise=False)
    return out / "patients"


def test_auto_entry_uses_images_and_matches_truth(virtual, tmp_path, default_params):
    patient_id = "VP001"
    prepared = prepare_patient(virtual, patient_id, default_params, work_dir=tmp_path)
    assert prepared.entry_level == "images"
    assert (tmp_path / "image_quantification" / "kidney_activity.csv").is_file()
    assert not (virtual / patient_id / "kidney_activity.csv").exists()  # raw data untouched
    truth = json.loads((virtual / patient_id / "cycle_01" / "truth.json").read_text())
    result = run_patient_dosimetry(prepared.record, default_params)
    for side in ("left", "right"):
        fitted = result.fits_[(result.fits_.cycle == 1) & (result.fits_.kidney == side)]
        assert fitted.tia_mbq_h.item() == pytest.approx(
            truth["kidneys"][side]["tia_mbq_h"], rel=0.05
        )
        mass = result.kidney_doses_[result.kidney_doses_.kidney == side].mass_g.item()
        assert mass == pytest.approx(truth["kidneys"][side]["mass_g"], rel=0.01)
    dicom_inputs = [p for p in prepared.input_files() if p.suffix == ".dcm"]
    assert dicom_inputs  # provenance covers the images


def test_entry_level_choices(tmp_path, virtual, default_params):
    generate_demo_patient(SCENARIOS[0], tmp_path / "P001", seed=1)
    assert prepare_patient(tmp_path, "P001", default_params).entry_level == "measurements"
    with pytest.raises(InputError, match=r"entry_level.*no image folder.*cycle_\(\\d\+\)"):
        prepare_patient(tmp_path, "P001", default_params, entry_level="images")
    with pytest.raises(InputError, match="the patient has images"):
        prepare_patient(virtual, "VP001", default_params, entry_level="measurements")
    with pytest.raises(InputError, match="field 'entry_level'"):
        prepare_patient(tmp_path, "P001", default_params, entry_level="dicom")
