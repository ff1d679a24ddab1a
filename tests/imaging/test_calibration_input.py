"""Calibration input by tags: one flat folder, static vs whole-body sources, the dose-calibrator
log, and clear errors for what is missing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
import yaml

from iluminet.errors import InputError
from iluminet.imaging.calibration import calibrate_camera, planar_sensitivity
from iluminet.imaging.dose_calibrator import read_dose_calibrator_log


@pytest.fixture()
def calibration(one_patient, tmp_path) -> Path:
    out = tmp_path / "calibration"
    shutil.copytree(one_patient / "calibration", out)
    return out


def _flat(calibration: Path, tmp_path: Path) -> Path:
    """Another vendor's export: one folder, the phantom described by phantom.yaml."""
    flat = tmp_path / "flat"
    shutil.copytree(calibration / "planar_sensitivity" / "dicom", flat / "planar source")
    shutil.copytree(calibration / "spect_phantom" / "dicom", flat / "phantom")
    shutil.copytree(calibration / "spect_phantom" / "voi", flat / "voi")
    truth = json.loads((calibration / "spect_phantom" / "truth.json").read_text())
    spec = {k: truth[k] for k in ("spheres", "background_concentration_mbq_per_ml")}
    spec["concentration_datetime"] = truth["acquisition_datetime"]
    (flat / "phantom.yaml").write_text(yaml.safe_dump(spec))
    return flat


def _key_numbers(cal) -> tuple[float, float, float]:
    return (cal.planar_sensitivity_cps_per_mbq, cal.spect_sensitivity_cps_per_mbq,
            cal.recovery_fwhm_mm)


def test_a_flat_folder_gives_the_same_calibration(calibration, tmp_path) -> None:
    """Before, the sub-folders planar_sensitivity/ and spect_phantom/ were required and their
    absence was blamed on ImageType."""
    reference, _, _ = calibrate_camera(calibration, "virtual")
    flat, _, _ = calibrate_camera(_flat(calibration, tmp_path), "virtual")
    assert _key_numbers(flat) == pytest.approx(_key_numbers(reference), rel=1e-9)


def test_the_dose_calibrator_log_gives_the_source_activities(calibration, tmp_path) -> None:
    flat = _flat(calibration, tmp_path)
    reference, _, _ = calibrate_camera(flat, "virtual")
    planar_truth = json.loads((calibration / "planar_sensitivity" / "truth.json").read_text())
    phantom_truth = json.loads((calibration / "spect_phantom" / "truth.json").read_text())
    (flat / "activities.csv").write_text(
        "acquisition,activity_mbq,reference_datetime,zone\n"
        f"planar_sensitivity,{1.1 * planar_truth['activity_at_reference_mbq']!r},"
        f"{planar_truth['reference_datetime']},Europe/Stockholm\n"
        f"spect_phantom,{phantom_truth['activity_at_reference_mbq']!r},"
        f"{phantom_truth['reference_datetime']},Europe/Stockholm\n")
    logged, _, _ = calibrate_camera(flat, "virtual", dose_calibrator_log="activities.csv")
    # 10 % more activity in the log: 10 % less planar sensitivity; the phantom as in its header
    assert logged.planar_sensitivity_cps_per_mbq == pytest.approx(
        reference.planar_sensitivity_cps_per_mbq / 1.1, rel=1e-9)
    assert logged.spect_sensitivity_cps_per_mbq == pytest.approx(
        reference.spect_sensitivity_cps_per_mbq, rel=1e-6)


@pytest.mark.parametrize(("row", "field"), [
    ("planar,200,2023-01-05T12:00:00+01:00", "acquisition"),
    ("planar_sensitivity,-5,2023-01-05T12:00:00+01:00", "activity_mbq"),
    ("planar_sensitivity,200,2023-01-05 12:00", "reference_datetime"),
    ("planar_sensitivity,,2023-01-05T12:00:00+01:00", "activity_mbq"),
])
def test_a_bad_log_row_is_named(tmp_path, row: str, field: str) -> None:
    path = tmp_path / "log.csv"
    path.write_text(f"acquisition,activity_mbq,reference_datetime\n{row}\n")
    with pytest.raises(InputError) as err:
        read_dose_calibrator_log(path)
    assert err.value.field == field and "row 1" in str(err.value) and str(path) in str(err.value)


def _as_whole_body(static: Path, target: Path) -> None:
    """The static source view rewritten as a whole-body sweep with the same dwell time."""
    ds = pydicom.dcmread(static)
    dwell_s = ds.ActualFrameDuration / 1000.0
    ds.ImageType = ["ORIGINAL", "PRIMARY", "WHOLE BODY", "EMISSION"]
    ds.WholeBodyTechnique = ["1PS"]
    ds.ScanVelocity = 400.0 / dwell_s
    det = ds.DetectorInformationSequence[0]
    det.FieldOfViewShape = "RECTANGLE"
    det.FieldOfViewDimensions = [540, 400]
    ds.ActualFrameDuration = int(5 * ds.ActualFrameDuration)  # the whole sweep
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target)


def test_static_and_whole_body_sources_are_told_apart(calibration) -> None:
    """A folder with both kinds: an error unless one is chosen, and each is timed as its kind
    requires (before: the file sorting last won, a sweep read with the scan duration gave a
    fraction of the true sensitivity)."""
    folder = calibration / "planar_sensitivity"
    static = planar_sensitivity(folder)
    series_uid = pydicom.uid.generate_uid()
    for path in sorted((folder / "dicom").glob("*.dcm")):
        _as_whole_body(path, folder / "wb" / path.name)
        ds = pydicom.dcmread(folder / "wb" / path.name)
        ds.SeriesInstanceUID = series_uid  # both views of one sweep share a series
        ds.save_as(folder / "wb" / path.name)
    with pytest.raises(InputError, match="both a static and a whole-body") as err:
        planar_sensitivity(folder)
    assert err.value.field == "planar_technique"
    sweep = planar_sensitivity(folder, technique="whole_body")
    assert sweep.conjugate_cps_per_mbq == pytest.approx(static.conjugate_cps_per_mbq, rel=1e-9)
    assert planar_sensitivity(folder, technique="static").conjugate_cps_per_mbq == \
        pytest.approx(static.conjugate_cps_per_mbq, rel=1e-12)


def test_two_series_of_one_kind_are_an_error(calibration) -> None:
    folder = calibration / "planar_sensitivity"
    series_uid = pydicom.uid.generate_uid()
    for path in sorted((folder / "dicom").glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        (folder / "again").mkdir(exist_ok=True)
        ds.save_as(folder / "again" / path.name)
    with pytest.raises(InputError, match="2 static planar series") as err:
        planar_sensitivity(folder)
    assert err.value.field == "SeriesInstanceUID"


def test_a_missing_sphere_voi_is_named_and_its_path_is_settable(calibration) -> None:
    voi = calibration / "spect_phantom" / "voi" / "spheres.nii.gz"
    moved = calibration / "spect_phantom" / "spheres_on_ct.nii.gz"
    voi.rename(moved)
    with pytest.raises(InputError, match="VOI file not found") as err:
        calibrate_camera(calibration, "virtual")
    assert "spheres.nii.gz" in str(err.value)
    cal, _, _ = calibrate_camera(calibration, "virtual", spheres_voi="spheres_on_ct.nii.gz")
    assert cal.spect_sensitivity_cps_per_mbq > 0
