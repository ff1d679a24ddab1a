"""DICOM defects: each gives an InputError naming the file and field, or a flagged correction.

Defects are made by editing copies of generated files with pydicom.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from iluminet.errors import InputError
from iluminet.imaging.dicom_study import acquisition_datetime, read_cycle_study


def _record(cycle: Path) -> dict:
    import pandas as pd

    row = pd.read_csv(cycle.parent / "cycles.csv").iloc[0]
    return {"administration_datetime": datetime.fromisoformat(row["administration_datetime"]),
            "administered_activity_mbq": float(row["administered_activity_mbq"])}


def _nm(cycle: Path, kind: str) -> Path:
    """A file found by its tags (never by name): kind 'planar' or 'spect'."""
    for path in sorted((cycle / "dicom").rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if ds.Modality != "NM":
            continue
        is_spect = "RECON TOMO" in list(ds.ImageType)
        if (kind == "spect") == is_spect:
            return path
    raise AssertionError(kind)


def _ct_files(cycle: Path) -> list[Path]:
    return [p for p in sorted((cycle / "dicom").rglob("*.dcm"))
            if pydicom.dcmread(p, stop_before_pixels=True).Modality == "CT"]


def _edit(path: Path, **changes) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in changes.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.save_as(path)


def _expect(cycle: Path, field: str, path: Path | None, match: str, **kwargs) -> InputError:
    with pytest.raises(InputError, match=match) as info:
        read_cycle_study(cycle, cycle_record=_record(cycle), **kwargs)
    assert info.value.field == field
    if path is not None:
        assert info.value.source == str(path)
    return info.value


def test_clean_copy_reads(cycle):
    study = read_cycle_study(cycle, cycle_record=_record(cycle))
    assert study.flags == []
    assert len(study.planar) == 4 and study.spect is not None and study.ct is not None
    hours = [(s.acquired - study.administration.datetime).total_seconds() / 3600
             for s in study.planar]
    assert hours == sorted(hours) and hours[-1] > 150  # across several days


def test_missing_acquisition_date(cycle):
    path = _nm(cycle, "planar")
    _edit(path, AcquisitionDate=None, AcquisitionTime=None)
    _expect(cycle, "AcquisitionDate", path, "missing acquisition date")


def test_time_of_day_only(cycle):
    path = _nm(cycle, "planar")
    _edit(path, AcquisitionDate=None)
    _expect(cycle, "AcquisitionDate", path, "only a time of day")


def test_missing_utc_offset_refused_or_site_zone_flagged(cycle):
    path = _nm(cycle, "planar")
    _edit(path, TimezoneOffsetFromUTC=None)
    _expect(cycle, "TimezoneOffsetFromUTC", path, "no UTC offset")
    study = read_cycle_study(cycle, cycle_record=_record(cycle), site_timezone="Europe/Stockholm")
    assert any("site time zone" in f for f in study.flags)


def test_series_from_another_patient(cycle):
    path = _nm(cycle, "spect")
    _edit(path, PatientID="SOMEONE_ELSE")
    err = _expect(cycle, "PatientID", path, "another patient")
    assert "SOMEONE_ELSE" not in str(err)  # a foreign ID is never echoed into reports


def test_spect_and_ct_different_frames_of_reference(cycle):
    for path in _ct_files(cycle):
        _edit(path, FrameOfReferenceUID="1.2.3.4.5.6.7.8.9")
    _expect(cycle, "FrameOfReferenceUID", None, "different frames of reference")


def test_empty_voi(cycle):
    path = cycle / "voi" / "kidneys.nii.gz"
    image = sitk.ReadImage(str(path))
    arr = sitk.GetArrayFromImage(image)
    arr[arr == 2] = 0
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(image)
    sitk.WriteImage(out, str(path))
    _expect(cycle, "label 2", path, "right VOI .* is empty")


def test_voi_outside_the_image(cycle):
    path = cycle / "voi" / "kidneys.nii.gz"
    image = sitk.ReadImage(str(path))
    image.SetOrigin(tuple(o + 2000.0 for o in image.GetOrigin()))
    sitk.WriteImage(image, str(path))
    _expect(cycle, "label 1", path, "outside the SPECT/CT field of view")


def test_voi_on_another_grid_is_resampled(cycle):
    path = cycle / "voi" / "kidneys.nii.gz"
    image = sitk.ReadImage(str(path))
    fine = sitk.Resample(image, [2 * s for s in image.GetSize()], sitk.Transform(),
                         sitk.sitkNearestNeighbor, image.GetOrigin(),
                         [s / 2 for s in image.GetSpacing()], image.GetDirection(), 0,
                         image.GetPixelID())
    sitk.WriteImage(fine, str(path))
    study = read_cycle_study(cycle, cycle_record=_record(cycle))
    original = sitk.GetArrayFromImage(image)
    resampled = sitk.GetArrayFromImage(study.kidney_voi)
    assert np.array_equal(original, resampled) or (original != resampled).mean() < 0.01


def test_missing_energy_window_information(cycle):
    path = _nm(cycle, "planar")
    _edit(path, EnergyWindowInformationSequence=None)
    _expect(cycle, "EnergyWindowInformationSequence", path, "no energy-window information")


def test_missing_scatter_windows(cycle):
    path = _nm(cycle, "planar")
    ds = pydicom.dcmread(path)
    for item in ds.EnergyWindowInformationSequence[1:]:
        item.EnergyWindowRangeSequence[0].EnergyWindowLowerLimit = 20.0
        item.EnergyWindowRangeSequence[0].EnergyWindowUpperLimit = 30.0
    ds.save_as(path)
    _expect(cycle, "EnergyWindowInformationSequence", path, "no scatter windows")


def _set_dose(path: Path, value: float) -> None:
    ds = pydicom.dcmread(path)
    ds.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose = value
    ds.save_as(path)


def _nm_files(cycle: Path) -> list[Path]:
    return [p for p in sorted((cycle / "dicom").rglob("*.dcm"))
            if pydicom.dcmread(p, stop_before_pixels=True).Modality == "NM"]


def test_activity_in_bq_confirmed_by_record_is_converted_and_flagged(cycle):
    record = _record(cycle)
    for path in _nm_files(cycle):
        _set_dose(path, record["administered_activity_mbq"] * 1e6)
    study = read_cycle_study(cycle, cycle_record=record)
    assert study.administration.activity_mbq == pytest.approx(record["administered_activity_mbq"])
    assert any("in Bq" in f for f in study.flags)


def test_activity_in_bq_without_record_is_refused(cycle):
    for path in _nm_files(cycle):
        _set_dose(path, 7.4e9)
    with pytest.raises(InputError, match="looks like Bq") as info:
        read_cycle_study(cycle, cycle_record=None)
    assert info.value.field == "RadionuclideTotalDose"


def test_activity_disagreeing_with_record_is_refused(cycle):
    record = _record(cycle)
    for path in _nm_files(cycle):
        _set_dose(path, record["administered_activity_mbq"] * 0.8)
    _expect(cycle, "RadionuclideTotalDose", None, "differs from")


def test_missing_rotation_information(cycle):
    path = _nm(cycle, "spect")
    _edit(path, RotationInformationSequence=None)
    _expect(cycle, "RotationInformationSequence", path, "acquisition duration")


# -- times -----------------------------------------------------------------------------------------
def _ds(**values) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    for k, v in values.items():
        setattr(ds, k, v)
    return ds


def test_times_across_midnight_and_days():
    admin = datetime(2024, 3, 5, 23, 30, tzinfo=timezone(timedelta(hours=1)))
    ds = _ds(AcquisitionDate="20240306", AcquisitionTime="003000", TimezoneOffsetFromUTC="+0100")
    t = acquisition_datetime(ds, Path("x.dcm"))
    assert (t - admin).total_seconds() / 3600 == pytest.approx(1.0)
    ds = _ds(AcquisitionDate="20240312", AcquisitionTime="233000.5",
             TimezoneOffsetFromUTC="+0100")
    t = acquisition_datetime(ds, Path("x.dcm"))
    assert (t - admin).total_seconds() / 3600 == pytest.approx(168.0 + 0.5 / 3600)


def test_times_across_a_dst_change_with_site_zone():
    # Stockholm: 31 March 2024 02:00 CET → 03:00 CEST. Administration Friday 10:00 CET,
    # scan Monday 10:00 CEST = 71 h later, not 72 h.
    admin = datetime(2024, 3, 29, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    flags: list[str] = []
    ds = _ds(AcquisitionDate="20240401", AcquisitionTime="100000")
    t = acquisition_datetime(ds, Path("x.dcm"), site_timezone="Europe/Stockholm", flags=flags)
    assert (t - admin).total_seconds() / 3600 == pytest.approx(71.0)
    assert flags
