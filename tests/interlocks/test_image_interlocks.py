"""Image level: the DICOM PatientID must match the patient; kidney VOIs on the right side and on
the activity."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from iluminet.errors import InputError
from iluminet.imaging.dicom_study import _classify, index_dicom, read_cycle_study
from iluminet.imaging.hybrid import check_patient_identity
from iluminet.patient.entry import DICOM_ID_MAP_FILE, expected_dicom_patient_id

FOREIGN_ID = "OTHER-4711"


@pytest.fixture()
def patient_folder(workbook_root, tmp_path) -> Path:
    source = workbook_root / "data" / "demo" / "images" / "patients" / "VP001"
    if not source.is_dir():
        pytest.skip("demo images not generated (iluminet demo)")
    target = tmp_path / "patients" / "VP001"
    shutil.copytree(source / "cycle_01", target / "cycle_01")
    for name in ("patient.yaml", "cycles.csv"):
        shutil.copy(source / name, target / name)
    return target


def _set_patient_id(folder: Path, value: str) -> None:
    for entry in index_dicom(folder):
        ds = pydicom.dcmread(entry.path)
        ds.PatientID = value
        ds.save_as(entry.path)


def test_foreign_patient_id_is_an_error_without_echoing_it(patient_folder):
    cycle = patient_folder / "cycle_01"
    check_patient_identity(cycle, "VP001")
    _set_patient_id(cycle, FOREIGN_ID)
    with pytest.raises(InputError, match="PatientID other than the one expected") as info:
        check_patient_identity(cycle, expected_dicom_patient_id(patient_folder, "VP001"))
    assert FOREIGN_ID not in str(info.value) and info.value.field == "PatientID"


def test_dicom_patient_id_in_patient_yaml_or_site_mapping(patient_folder):
    assert expected_dicom_patient_id(patient_folder, "VP001") == "VP001"
    (patient_folder.parent / DICOM_ID_MAP_FILE).write_text("patient_id,dicom_patient_id\n"
                                                           f"VP001,{FOREIGN_ID}\n")
    assert expected_dicom_patient_id(patient_folder, "VP001") == FOREIGN_ID
    with open(patient_folder / "patient.yaml", "a") as handle:
        handle.write("dicom_patient_id: SITE-1\n")
    assert expected_dicom_patient_id(patient_folder, "VP001") == "SITE-1"


def test_one_foreign_series_in_a_cycle_is_not_echoed(patient_folder):
    cycle = patient_folder / "cycle_01"
    entry = index_dicom(cycle)[0]
    ds = pydicom.dcmread(entry.path)
    ds.PatientID = FOREIGN_ID
    ds.save_as(entry.path)
    with pytest.raises(InputError, match="series from another patient") as info:
        read_cycle_study(cycle)
    assert FOREIGN_ID not in str(info.value)


def _edit_voi(cycle: Path, change) -> None:
    path = cycle / "voi" / "kidneys.nii.gz"
    image = sitk.ReadImage(str(path))
    array = change(sitk.GetArrayFromImage(image))
    edited = sitk.GetImageFromArray(array.astype(np.uint8))
    edited.CopyInformation(image)
    sitk.WriteImage(edited, str(path))


def test_swapped_kidney_vois_are_an_error(patient_folder):
    cycle = patient_folder / "cycle_01"
    _edit_voi(cycle, lambda a: np.where(a == 1, 2, np.where(a == 2, 1, a)))
    with pytest.raises(InputError, match="labels swapped"):
        read_cycle_study(cycle)


def test_voi_two_cm_off_the_kidney_is_flagged(patient_folder):
    cycle = patient_folder / "cycle_01"
    assert not any("misplaced VOI" in f for f in read_cycle_study(cycle).flags)
    spacing_mm = sitk.ReadImage(str(cycle / "voi" / "kidneys.nii.gz")).GetSpacing()[0]
    shift = int(round(20.0 / spacing_mm))
    _edit_voi(cycle, lambda a: np.roll(a, shift, axis=1))  # 2 cm along y (posterior)
    flags = read_cycle_study(cycle).flags
    assert sum("misplaced VOI" in f for f in flags) == 2


@pytest.mark.parametrize("kind", ["planar", "spect", "voi"])
def test_truncated_file_is_an_input_error_naming_it(patient_folder, kind):
    cycle = patient_folder / "cycle_01"
    if kind == "voi":
        path = cycle / "voi" / "kidneys.nii.gz"
    else:
        path = next(e.path for e in index_dicom(cycle) if _classify(e) == kind)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot read the image data|not") as info:
        read_cycle_study(cycle)
    assert info.value.source is not None and Path(info.value.source).name in (path.name,
                                                                                path.parent.name)


def _only_cycle_1(folder: Path) -> None:
    import pandas as pd

    cycles = pd.read_csv(folder / "cycles.csv", dtype=str)
    cycles[cycles["cycle"] == "1"].to_csv(folder / "cycles.csv", index=False)


def test_misplaced_voi_withholds_the_cycle_decision(patient_folder, default_params, tmp_path):
    """A VOI 2 cm off the kidney (CT outline) withholds the decision with the reason; before,
    the SPECT-count check only warned and the decision was made on the wrong activity."""
    from iluminet.patient.chain import run_patient_dosimetry
    from iluminet.patient.entry import prepare_patient
    from iluminet.patient.planning import Action

    _only_cycle_1(patient_folder)
    prepared = prepare_patient(patient_folder.parent, "VP001", default_params,
                               work_dir=tmp_path / "clean")
    clean = run_patient_dosimetry(prepared.record, default_params).decision_
    assert clean.action is not Action.WITHHOLD, clean.reasons
    cycle = patient_folder / "cycle_01"
    spacing_mm = sitk.ReadImage(str(cycle / "voi" / "kidneys.nii.gz")).GetSpacing()[0]
    _edit_voi(cycle, lambda a: np.roll(a, int(round(20.0 / spacing_mm)), axis=1))
    prepared = prepare_patient(patient_folder.parent, "VP001", default_params,
                               work_dir=tmp_path / "moved")
    decision = run_patient_dosimetry(prepared.record, default_params).decision_
    assert decision.action is Action.WITHHOLD, decision.action
    assert any("misplaced VOI" in r and "kidney-density tissue on the CT" in r
               for r in decision.reasons), decision.reasons
    assert set(prepared.record.cycle_flags) == {1}


def _phantom(hu_inside: float, hu_outside: float = -20.0) -> tuple[sitk.Image, sitk.Image]:
    """A 40³ grid (4 mm): a kidney-shaped block of ``hu_inside`` in tissue of ``hu_outside``,
    air beyond x ≥ 30; labels 1 (left, +x) and 2 (right)."""
    hu = np.full((40, 40, 40), hu_outside, dtype=np.float32)
    hu[:, :, 30:] = -1000.0
    labels = np.zeros((40, 40, 40), dtype=np.uint8)
    labels[10:30, 15:25, 20:26] = 1
    labels[10:30, 15:25, 4:10] = 2
    hu[labels > 0] = hu_inside
    ct, voi = sitk.GetImageFromArray(hu), sitk.GetImageFromArray(labels)
    for image in (ct, voi):
        image.SetSpacing((4.0, 4.0, 4.0))
    return ct, voi


def test_ct_outline_check_on_the_ct_not_the_counts(tmp_path):
    from iluminet.imaging.dicom_study import voi_ct_outline_flags

    ct, voi = _phantom(35.0)
    assert voi_ct_outline_flags(voi, ct, tmp_path / "kidneys.nii.gz") == []
    fat, _ = _phantom(-100.0)  # the VOI drawn on fat: no kidney on the CT there
    flags = voi_ct_outline_flags(voi, fat, tmp_path / "kidneys.nii.gz")
    assert len(flags) == 2 and all("0 % of the" in f and "misplaced VOI" in f for f in flags)
    array = sitk.GetArrayFromImage(voi)
    out = np.roll(array, 8, axis=2)  # the left VOI now reaches into the air beyond x = 30
    moved = sitk.GetImageFromArray(out)
    moved.CopyInformation(voi)
    flags = voi_ct_outline_flags(moved, ct, tmp_path / "kidneys.nii.gz")
    assert any("left kidney VOI" in f and "outside the body" in f for f in flags)


def test_an_error_in_a_derived_table_names_the_dicom_series(patient_folder, default_params,
                                                            tmp_path):
    """Cycle 2 given 3 days after cycle 1: the cycle-1 scans at 96 h and 168 h come after it.
    The error names the planar DICOM series of the first such scan (description, UID, file in
    the patient folder), not the work folder of the derived tables or only the image folder."""
    import pandas as pd

    from iluminet.patient.entry import prepare_patient

    cycles = pd.read_csv(patient_folder / "cycles.csv", dtype=str)
    cycles.loc[cycles["cycle"] == "2", "administration_datetime"] = "2023-06-29T11:00:00+02:00"
    cycles.to_csv(patient_folder / "cycles.csv", index=False)
    with pytest.raises(InputError, match="not before the next administration") as info:
        prepare_patient(patient_folder.parent, "VP001", default_params, work_dir=tmp_path / "w")
    message, source = str(info.value), Path(info.value.source)
    planar = [e for e in index_dicom(patient_folder / "cycle_01") if _classify(e) == "planar"]
    first_late = next(e for e in planar if "096h" in e.path.parent.name or "096h" in e.path.name)
    assert source == first_late.path
    assert f"SeriesInstanceUID {first_late.ds.SeriesInstanceUID}" in message
    assert repr(str(first_late.ds.SeriesDescription)) in message
    assert f"cycle_01/{first_late.path.relative_to(patient_folder / 'cycle_01').as_posix()}" \
        in message
    assert "scaled to the SPECT series" in message
    assert "image_quantification" not in message
    assert str(tmp_path / "w") not in message  # the work folder of the derived tables


def test_a_kidney_mass_error_names_the_ct_series(patient_folder, default_params, tmp_path):
    """A left kidney VOI of a few voxels gives an implausible CT-VOI mass in the derived
    cycles.csv: the error names the CT series it was measured on."""
    from iluminet.patient.entry import prepare_patient

    _only_cycle_1(patient_folder)
    cycle = patient_folder / "cycle_01"

    def shrink(a):
        left = np.argwhere(a == 1)
        out = np.where(a == 1, 0, a)
        for z, y, x in left[:60]:
            out[z, y, x] = 1
        return out

    _edit_voi(cycle, shrink)
    with pytest.raises(InputError, match="left_kidney_mass_g") as info:
        prepare_patient(patient_folder.parent, "VP001", default_params, work_dir=tmp_path / "w")
    message = str(info.value)
    ct = [e for e in index_dicom(cycle) if _classify(e) == "ct"]
    assert "kidney VOI volume on the CT series" in message
    assert f"SeriesInstanceUID {ct[0].ds.SeriesInstanceUID}" in message
    assert Path(info.value.source) in {e.path for e in ct}
