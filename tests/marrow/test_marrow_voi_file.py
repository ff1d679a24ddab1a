"""Image-based marrow from a VOI file: known answers on a small SPECT, and bad VOI files named by
file, voxel (slice, row, column) and label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from iluminet.errors import InputError
from iluminet.imaging.marrow_voi import vertebral_marrow_from_voi_file

SPACING_MM = (4.0, 4.0, 4.0)
VOXEL_ML = 0.064


def _spect(values: np.ndarray, origin=(0.0, 0.0, 0.0)) -> sitk.Image:
    img = sitk.GetImageFromArray(values.astype(np.float32))
    img.SetSpacing(SPACING_MM)
    img.SetOrigin(origin)
    return img


def _write_voi(tmp_path: Path, labels: np.ndarray, *, spacing=SPACING_MM,
               origin=(0.0, 0.0, 0.0)) -> Path:
    img = sitk.GetImageFromArray(labels.astype(np.uint8))
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    path = tmp_path / "voi" / "marrow.nii.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(img, str(path))
    return path


def test_activity_equals_sum_of_concentration_times_volume_over_recovery(tmp_path: Path) -> None:
    c = np.full((10, 12, 12), 0.01)
    c[3:7, 4:8, 4:8] = 0.2  # "vertebrae": 64 voxels at 0.2 MBq/ml
    labels = np.zeros(c.shape)
    labels[3:7, 4:8, 4:8] = 1
    vert = vertebral_marrow_from_voi_file(_spect(c), _write_voi(tmp_path, labels), recovery=0.8)
    assert vert.activity_mbq == pytest.approx(64 * 0.2 * VOXEL_ML / 0.8, rel=1e-6)
    assert not vert.skeletal_lesion


def test_a_lesion_label_is_excluded_lowering_the_activity_by_its_own(tmp_path: Path) -> None:
    c = np.full((10, 12, 12), 0.01)
    c[3:7, 4:8, 4:8] = 0.2
    c[4, 5, 5] = 5.0  # hot lesion voxel
    labels = np.zeros(c.shape)
    labels[3:7, 4:8, 4:8] = 1
    labels[4, 5, 5] = 2
    path = _write_voi(tmp_path, labels)
    vert = vertebral_marrow_from_voi_file(_spect(c), path, recovery=1.0, lesion_margin_voxels=0,
                                          rescale_excluded=False)
    assert vert.skeletal_lesion and vert.flags
    assert vert.excluded_activity_mbq == pytest.approx(5.0 * VOXEL_ML, rel=1e-6)
    assert vert.activity_mbq == pytest.approx(63 * 0.2 * VOXEL_ML, rel=1e-6)


def test_voi_on_a_larger_ct_grid_is_resampled_to_the_spect(tmp_path: Path) -> None:
    c = np.full((10, 12, 12), 0.01)
    c[3:7, 4:8, 4:8] = 0.2
    labels = np.zeros((20, 24, 24))  # 2 mm CT grid covering the same extent
    labels[6:14, 8:16, 8:16] = 1
    path = _write_voi(tmp_path, labels, spacing=(2.0, 2.0, 2.0), origin=(-1.0, -1.0, -1.0))
    vert = vertebral_marrow_from_voi_file(_spect(c), path, recovery=1.0)
    assert vert.activity_mbq == pytest.approx(64 * 0.2 * VOXEL_ML, rel=1e-6)


def test_marrow_voi_outside_the_spect_names_file_voxel_and_label(tmp_path: Path) -> None:
    c = np.full((10, 12, 12), 0.01)
    labels = np.zeros((10, 12, 12))
    labels[3:7, 4:8, 4:8] = 1
    # the VOI file's grid is shifted 20 mm in z: marrow slices 3-4 (z = 32, 36 mm) lie inside the
    # SPECT (z up to 38 mm), slices 5-6 (40, 44 mm) beyond it
    path = _write_voi(tmp_path, labels, origin=(0.0, 0.0, 20.0))
    with pytest.raises(InputError) as err:
        vertebral_marrow_from_voi_file(_spect(c), path, recovery=1.0)
    text = str(err.value)
    assert str(path) in text and "label 1" in text
    assert "outside the SPECT field of view" in text
    assert "slice 5, row 4, column 4 of the VOI file" in text


def test_marrow_voi_over_unreconstructed_spect_voxels_is_refused(tmp_path: Path) -> None:
    c = np.full((10, 12, 12), 0.01)
    c[5:, :, :] = np.nan  # beyond the reconstructed axial extent
    labels = np.zeros(c.shape)
    labels[3:7, 4:8, 4:8] = 1
    path = _write_voi(tmp_path, labels)
    with pytest.raises(InputError, match=r"slice 5, row 4, column 4") as err:
        vertebral_marrow_from_voi_file(_spect(c), path, recovery=1.0)
    assert str(path) in str(err.value) and "label 1" in str(err.value)


def test_empty_marrow_label_and_missing_file_are_named(tmp_path: Path) -> None:
    c = np.full((10, 12, 12), 0.01)
    path = _write_voi(tmp_path, np.zeros(c.shape))
    with pytest.raises(InputError, match="empty") as err:
        vertebral_marrow_from_voi_file(_spect(c), path, recovery=1.0)
    assert str(path) in str(err.value)
    with pytest.raises(InputError, match="not found"):
        vertebral_marrow_from_voi_file(_spect(c), tmp_path / "nope.nii.gz", recovery=1.0)


def test_spine_recovery_against_a_blurred_cylinder_and_its_limits() -> None:
    """RC of the eroded VOI of a long uniform cylinder (the spine's size, cold background): the
    simulator blurs the cylinder itself (iluminet.synthetic.virtual.marrow.recovery_calibration);
    spine_recovery rebuilds the bone from the VOI alone (grown one voxel in-plane)."""
    from iluminet.imaging.marrow_voi import spine_recovery
    from iluminet.synthetic.virtual.marrow import _GRID, recovery_calibration, spine_marrow_voi
    from iluminet.synthetic.virtual.phantom import Tissue

    x, y, z = _GRID.mesh_mm()
    cylinder = ((x / 17.0) ** 2 + (y / 17.0) ** 2 <= 1.0) & (np.abs(z) < 200.0)
    labels = np.where(cylinder, int(Tissue.BONE), 0).astype(np.uint8)
    voi = spine_marrow_voi(labels, _GRID, 0.0)
    rc = spine_recovery(voi, _GRID.spacing_mm, 11.0)
    assert rc == pytest.approx(recovery_calibration(), abs=0.05)
    assert spine_recovery(voi, _GRID.spacing_mm, 0.01) == pytest.approx(1.0, abs=1e-9)
    assert spine_recovery(voi, _GRID.spacing_mm, 20.0) < rc < 1.0
    with pytest.raises(InputError, match="resolution"):
        spine_recovery(voi, _GRID.spacing_mm, None)
