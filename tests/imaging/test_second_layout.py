"""A second vendor's export of the same virtual patient runs with no manual step and gives the
same dose as the project's own layout.

The export differs where vendors differ: cycle folders ``Cycle 1/DICOM/...`` with opaque file
names, one multi-frame whole-body file per time point holding 3 energy windows × 2 detectors in a
permuted frame order, the kidney VOIs as one NIfTI file per kidney (or a DICOM RTSTRUCT), and a
flat calibration folder. Only site parameters change.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.sequence import Sequence

from iluminet.config.params import merge_parameters
from iluminet.patient.chain import run_patient_dosimetry
from iluminet.patient.entry import prepare_patient

#: frame order of the merged file: (detector, energy window), detector 1 anterior
_PERMUTED = [(2, 2), (1, 1), (2, 1), (1, 3), (1, 2), (2, 3)]


def _merge_views(folder: Path, target: Path) -> None:
    """NM_ANT.dcm + NM_POST.dcm (one detector, 3 windows each) → one 2-detector file."""
    ant = pydicom.dcmread(folder / "NM_ANT.dcm")
    post = pydicom.dcmread(folder / "NM_POST.dcm")
    pixels = {1: ant.pixel_array, 2: post.pixel_array}
    frames = np.stack([pixels[det][window - 1] for det, window in _PERMUTED])
    dtype = pixels[1].dtype
    merged = ant
    merged.NumberOfFrames = len(_PERMUTED)
    merged.DetectorVector = [det for det, _ in _PERMUTED]
    merged.EnergyWindowVector = [window for _, window in _PERMUTED]
    merged.NumberOfDetectors = 2
    merged.DetectorInformationSequence = Sequence([ant.DetectorInformationSequence[0],
                                                   post.DetectorInformationSequence[0]])
    merged.PixelData = frames.astype(dtype).tobytes()
    merged.SOPInstanceUID = pydicom.uid.generate_uid()
    merged.file_meta.MediaStorageSOPInstanceUID = merged.SOPInstanceUID
    target.parent.mkdir(parents=True, exist_ok=True)
    merged.save_as(target)


def _vendor_b(patient: Path, out: Path, voi_format: str) -> None:
    shutil.copytree(patient, out, ignore=shutil.ignore_patterns("cycle_*"))
    for cycle in sorted(patient.glob("cycle_*")):
        number = int(cycle.name.split("_")[1])
        target = out / f"Cycle {number}"
        (target / "voi").mkdir(parents=True)
        for roi in cycle.glob("voi/planar_rois_*.nii.gz"):
            shutil.copy(roi, target / "voi" / roi.name)
        n = 0
        for series in sorted((cycle / "dicom").iterdir()):
            if (series / "NM_ANT.dcm").is_file():
                n += 1
                _merge_views(series, target / "DICOM" / f"S{n:03d}" / "IMG00001")
                continue
            for path in sorted(series.rglob("*.dcm")):
                n += 1
                dest = target / "DICOM" / f"S{n:03d}" / f"IMG{n:05d}"
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, dest)
        labels = sitk.ReadImage(str(cycle / "voi" / "kidneys.nii.gz"))
        arr = sitk.GetArrayFromImage(labels)
        if voi_format == "nifti_per_kidney":
            for side, lab in (("left", 1), ("right", 2)):
                one = sitk.GetImageFromArray((arr == lab).astype(np.uint8))
                one.CopyInformation(labels)
                sitk.WriteImage(one, str(target / "voi" / f"Kidney_{side}.nii.gz"))
        else:
            from tests.imaging.test_vendor_input import _write_rtstruct

            ct_files = sorted(p for p in (cycle / "dicom").rglob("*.dcm")
                              if pydicom.dcmread(p, stop_before_pixels=True).Modality == "CT")
            reader = sitk.ImageSeriesReader()
            reader.SetFileNames([str(p) for p in ct_files])
            _write_rtstruct(labels, reader.Execute(), target / "voi" / "RTSTRUCT.dcm",
                            {1: "Kidney_L", 2: "Kidney_R"},
                            patient_id=str(pydicom.dcmread(ct_files[0]).PatientID))


@pytest.mark.parametrize(("voi_format", "kidney_voi", "tolerance"), [
    ("nifti_per_kidney", "voi/Kidney_{side}.nii.gz", 1e-6),
    ("rtstruct", "voi/RTSTRUCT.dcm", 0.005),
])
def test_vendor_b_export_gives_the_same_dose(one_patient, tmp_path, default_params,
                                             voi_format: str, kidney_voi: str,
                                             tolerance: float) -> None:
    from iluminet.imaging.calibration import calibrate_camera, save_calibration
    from tests.imaging.test_calibration_input import _flat

    own = one_patient / "patients"
    site = tmp_path / "site"
    _vendor_b(own / "VP001", site / "VP001", voi_format)
    # each layout calibrated from its own calibration export (sub-folders / one flat folder)
    own_camera = save_calibration(calibrate_camera(one_patient / "calibration", "own")[0],
                                  tmp_path / "cameras")
    flat = _flat(one_patient / "calibration", tmp_path)
    site_camera = save_calibration(calibrate_camera(flat, "site")[0], tmp_path / "cameras")
    own_params = merge_parameters(default_params, ("own", {"analysis": {"imaging": {
        "camera_calibration": str(own_camera)}}}))
    reference = run_patient_dosimetry(
        prepare_patient(own, "VP001", own_params, work_dir=tmp_path / "own").record, own_params)
    site_params = merge_parameters(default_params, ("site", {"analysis": {"imaging": {
        "cycle_folder_pattern": r"Cycle (\d+)", "dicom_folder": "DICOM",
        "kidney_voi": kidney_voi, "camera_calibration": str(site_camera)}}}))
    prepared = prepare_patient(site, "VP001", site_params, work_dir=tmp_path / "site_work")
    assert prepared.entry_level == "images"
    result = run_patient_dosimetry(prepared.record, site_params)
    ref = reference.kidney_doses_.set_index(["cycle", "kidney"])["dose_gy"]
    new = result.kidney_doses_.set_index(["cycle", "kidney"])["dose_gy"]
    assert list(new.index) == list(ref.index)
    np.testing.assert_allclose(new.to_numpy(float), ref.to_numpy(float), rtol=tolerance)
