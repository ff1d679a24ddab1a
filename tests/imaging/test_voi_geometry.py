"""VOI geometry: containment in physical space, volumes preserved on coarser grids."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st

from iluminet.imaging.voi_geometry import covered_fractions, fraction_inside, label_volumes_ml


def _ellipsoid_voi(spacing_mm: float, semi_axes_mm=(30.0, 55.0, 25.0), size: int = 64,
                   centre_mm=(0.0, 0.0, 0.0)) -> sitk.Image:
    """Label 1: an ellipsoid (a kidney-sized one by default) on a cubic grid centred at 0."""
    coords = (np.arange(size) - (size - 1) / 2.0) * spacing_mm
    z, y, x = np.meshgrid(coords, coords, coords, indexing="ij")
    a, b, c = semi_axes_mm
    cx, cy, cz = centre_mm
    inside = ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 + ((z - cz) / c) ** 2 <= 1.0
    img = sitk.GetImageFromArray(inside.astype(np.uint8))
    img.SetSpacing((spacing_mm,) * 3)
    img.SetOrigin((float(coords[0]),) * 3)
    return img


def _reference(spacing_mm: float, size: int, shift_mm: float = 0.0,
               shift_x_mm: float = 0.0) -> sitk.Image:
    ref = sitk.Image([size] * 3, sitk.sitkFloat32)
    ref.SetSpacing((spacing_mm,) * 3)
    start = -(size - 1) / 2.0 * spacing_mm + shift_mm
    ref.SetOrigin((start + shift_x_mm, start, start))
    return ref


@pytest.mark.parametrize("factor", [1.2, 1.5, 2.0])
@pytest.mark.parametrize("semi_axes_mm", [(30.0, 55.0, 25.0), (8.0, 8.0, 8.0)])
def test_covered_volume_within_one_percent_on_a_coarser_grid(factor, semi_axes_mm) -> None:
    voi = _ellipsoid_voi(2.0, semi_axes_mm)
    own = label_volumes_ml(voi, {"k": 1})["k"]
    ref = _reference(2.0 * factor, int(64 / factor) + 2, shift_mm=0.37 * factor)
    frac = covered_fractions(voi, ref, {"k": 1})["k"]
    covered = float(frac.sum()) * (2.0 * factor) ** 3 / 1000.0
    assert covered == pytest.approx(own, rel=0.01)


def test_nearest_neighbour_resampling_would_change_a_small_volume() -> None:
    """The former method: a 2 ml sphere on a 1.5× coarser, shifted grid loses or gains > 5 %."""
    voi = _ellipsoid_voi(2.0, (8.0, 8.0, 8.0))
    own = label_volumes_ml(voi, {"k": 1})["k"]
    ref = _reference(3.0, 44, shift_mm=0.9)
    nn = sitk.Resample(voi, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    nn_ml = float(sitk.GetArrayViewFromImage(nn).sum()) * 27.0 / 1000.0
    covered = float(covered_fractions(voi, ref, {"k": 1})["k"].sum()) * 27.0 / 1000.0
    assert abs(nn_ml - own) / own > 0.05
    assert covered == pytest.approx(own, rel=0.01)


def test_containment_is_geometric() -> None:
    voi = _ellipsoid_voi(2.0)
    inside_ref = _reference(3.9, 40)  # 156 mm cube: holds the 110 mm long ellipsoid
    assert fraction_inside(voi, inside_ref, 1) == 1.0
    half_out = _reference(3.9, 40, shift_x_mm=78.0)  # the field of view starts at x = 0
    assert fraction_inside(voi, half_out, 1) == pytest.approx(0.5, abs=0.05)
    far = _reference(3.9, 10, shift_x_mm=400.0)
    assert fraction_inside(voi, far, 1) == 0.0


@settings(max_examples=25, deadline=None)
@given(st.floats(min_value=-3.0, max_value=3.0), st.floats(min_value=1.0, max_value=2.0))
def test_fractions_are_between_zero_and_one_and_sum_to_the_volume(shift_mm, factor) -> None:
    voi = _ellipsoid_voi(2.0, (12.0, 20.0, 10.0), size=32)
    own = label_volumes_ml(voi, {"k": 1})["k"]
    ref = _reference(2.0 * factor, int(32 / factor) + 3, shift_mm=shift_mm)
    frac = covered_fractions(voi, ref, {"k": 1})["k"]
    assert frac.min() >= 0.0 and frac.max() <= 1.0
    assert float(frac.sum()) * (2.0 * factor) ** 3 / 1000.0 == pytest.approx(own, rel=0.02)


def test_grids_with_different_axes_are_supersampled_within_two_percent() -> None:
    """A VOI stored with its axes flipped (another direction matrix) covers the same volume."""
    voi = _ellipsoid_voi(2.0)
    own = label_volumes_ml(voi, {"k": 1})["k"]
    flipped = sitk.Flip(voi, [True, False, False], flipAboutOrigin=False)  # x axis reversed
    assert not np.allclose(flipped.GetDirection(), voi.GetDirection())
    ref = _reference(3.0, 44, shift_mm=0.4)
    frac = covered_fractions(flipped, ref, {"k": 1})["k"]
    assert float(frac.sum()) * 27.0 / 1000.0 == pytest.approx(own, rel=0.02)
    assert fraction_inside(flipped, ref, 1) == 1.0
