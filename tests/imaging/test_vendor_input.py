"""Image input as other vendors write it: whole-body timing, VOI resampling and containment.

Each test edits copies of generated files the way another vendor's export differs, and states the
defect it guards against.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from iluminet.errors import InputError
from iluminet.imaging.dicom_study import read_planar_file


@pytest.fixture()
def cycle(one_patient, tmp_path) -> Path:
    src = one_patient / "patients" / "VP001"
    dst = tmp_path / "VP001"
    shutil.copytree(src, dst)
    return dst / "cycle_01"


def _whole_body_files(cycle: Path) -> list[Path]:
    out = []
    for path in sorted((cycle / "dicom").rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if ds.Modality == "NM" and "WHOLE BODY" in list(ds.ImageType):
            out.append(path)
    assert out
    return out


def test_whole_body_exposure_is_the_dwell_time_not_the_scan_duration(cycle: Path) -> None:
    """A sweep's ActualFrameDuration is the whole scan (here ≈ 29 min); each pixel is exposed for
    the axial field of view / table speed (400 mm at 10 cm/min = 240 s). Reading the scan
    duration as the exposure made every planar count rate ~7 × too low."""
    path = _whole_body_files(cycle)[0]
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert ds.ActualFrameDuration / 1000.0 > 1000.0  # the whole sweep
    (view,) = read_planar_file(path)
    assert view.exposure_s == pytest.approx(240.0, rel=1e-6)


def test_whole_body_dwell_follows_the_tags(cycle: Path) -> None:
    """Half the table speed doubles the dwell time; a round field uses its diameter."""
    path = _whole_body_files(cycle)[0]
    ds = pydicom.dcmread(path)
    ds.ScanVelocity = float(ds.ScanVelocity) / 2.0
    ds.save_as(path)
    assert read_planar_file(path)[0].exposure_s == pytest.approx(480.0, rel=1e-6)
    ds.DetectorInformationSequence[0].FieldOfViewShape = "ROUND"
    ds.DetectorInformationSequence[0].FieldOfViewDimensions = [300]
    ds.save_as(path)
    assert read_planar_file(path)[0].exposure_s == pytest.approx(300.0 / float(ds.ScanVelocity))


@pytest.mark.parametrize(("keyword", "where"), [("ScanVelocity", "dataset"),
                                                 ("FieldOfViewDimensions", "detector")])
def test_whole_body_without_timing_tags_is_a_clear_error(cycle: Path, keyword: str,
                                                         where: str) -> None:
    path = _whole_body_files(cycle)[0]
    ds = pydicom.dcmread(path)
    delattr(ds if where == "dataset" else ds.DetectorInformationSequence[0], keyword)
    ds.save_as(path)
    with pytest.raises(InputError) as err:
        read_planar_file(path)
    assert err.value.field == keyword and str(path) in str(err.value)
