"""Pure image rendering: slicing, geometry, contours, and views updated in place."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from iluminet.errors import InputError
from iluminet.viewers import images as im


def _volumes(shape=(20, 30, 40), spacing=(2.0, 3.0, 5.0), origin=(-40.0, -45.0, -50.0),
             box=((5, 12), (10, 20), (8, 30))) -> im.SpectCtVolumes:
    z, y, x = np.indices(shape)
    ct = (1000.0 * z + 10.0 * y + x).astype(float)  # every voxel distinct: slices identifiable
    labels = np.zeros(shape, dtype=np.int16)
    (z0, z1), (y0, y1), (x0, x1) = box
    labels[z0:z1, y0:y1, x0:x1] = 1
    spect = np.where(labels > 0, 100.0, 1.0) + 0.01 * ct
    return im.SpectCtVolumes(ct, spect, labels, spacing, origin)


def test_extract_slice_orientation():
    v = _volumes()
    assert im.extract_slice(v.ct_hu, "axial", 3).shape == (30, 40)
    assert im.extract_slice(v.ct_hu, "coronal", 3).shape == (20, 40)
    assert im.extract_slice(v.ct_hu, "sagittal", 3).shape == (20, 30)
    np.testing.assert_array_equal(im.extract_slice(v.ct_hu, "coronal", 7), v.ct_hu[:, 7, :])
    with pytest.raises(InputError, match="slice index"):
        im.extract_slice(v.ct_hu, "axial", 20)
    with pytest.raises(InputError, match="plane"):
        im.extract_slice(v.ct_hu, "oblique", 0)  # type: ignore[arg-type]


def test_extent_keeps_physical_aspect():
    v = _volumes()  # spacing x 2, y 3, z 5 mm
    left, right, bottom, top = im.extent_mm(*im.slice_axes_mm(v, "coronal"))
    assert right - left == pytest.approx(40 * 2.0)
    assert top - bottom == pytest.approx(20 * 5.0)
    assert left == pytest.approx(-40.0 - 1.0)  # origin is a voxel centre
    left, right, bottom, top = im.extent_mm(*im.slice_axes_mm(v, "axial"))
    assert (right - left, top - bottom) == pytest.approx((80.0, 90.0))
    assert im.slice_position_mm(v, "axial", 4) == pytest.approx(-50.0 + 4 * 5.0)


def test_window_limits():
    assert im.window_limits(40.0, 400.0) == (-160.0, 240.0)
    with pytest.raises(InputError, match="width"):
        im.window_limits(40.0, 0.0)


@settings(max_examples=40, deadline=None)
@given(r0=st.integers(1, 8), nr=st.integers(1, 6), c0=st.integers(1, 8), nc=st.integers(1, 6),
       dh=st.floats(0.5, 5.0), dv=st.floats(0.5, 5.0))
def test_mask_contour_runs_half_way_between_voxel_centres(r0, nr, c0, nc, dh, dv):
    mask = np.zeros((16, 16), dtype=bool)
    mask[r0:r0 + nr, c0:c0 + nc] = True
    h, v = dh * np.arange(16), dv * np.arange(16)
    lines = im.mask_contours(mask, h, v)
    assert len(lines) == 1
    pts = lines[0]
    assert pts[:, 0].min() == pytest.approx(h[c0] - dh / 2)
    assert pts[:, 0].max() == pytest.approx(h[c0 + nc - 1] + dh / 2)
    assert pts[:, 1].min() == pytest.approx(v[r0] - dv / 2)
    assert pts[:, 1].max() == pytest.approx(v[r0 + nr - 1] + dv / 2)


def test_mask_contours_empty_and_shape_check():
    assert im.mask_contours(np.zeros((4, 5)), np.arange(5.0), np.arange(4.0)) == []
    with pytest.raises(InputError, match="shape"):
        im.mask_contours(np.zeros((4, 5)), np.arange(4.0), np.arange(4.0))


def test_fused_view_updates_artists_in_place():
    v = _volumes()
    ax = Figure().add_subplot()
    view = im.FusedSliceView(ax, v, "axial")
    assert view.index == 8  # centre of mass of the VOI along z (rows 5..11)
    ct_artist, spect_artist = view.ct_image, view.spect_image
    n_images = len(ax.images)
    view.update(index=3, level_hu=0.0, width_hu=100.0, opacity=0.25)
    assert view.ct_image is ct_artist and view.spect_image is spect_artist
    assert len(ax.images) == n_images
    np.testing.assert_array_equal(ct_artist.get_array(), v.ct_hu[3])
    np.testing.assert_array_equal(spect_artist.get_array(), v.spect_counts[3])
    assert ct_artist.get_clim() == (-50.0, 50.0)
    assert spect_artist.get_alpha() == 0.25
    assert view.contours[1].get_segments() == []  # slice 3 is outside the VOI
    view.update(index=6)
    (segment,) = view.contours[1].get_segments()
    h, vv = im.slice_axes_mm(v, "axial")
    assert segment[:, 0].min() == pytest.approx(h[8] - 1.0)  # x spacing 2 mm
    assert segment[:, 1].max() == pytest.approx(vv[19] + 1.5)  # y spacing 3 mm


def test_fused_view_plane_change_sets_extent_and_head_up():
    v = _volumes()
    ax = Figure().add_subplot()
    view = im.FusedSliceView(ax, v, "axial")
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # axial: anterior (small y) at the top
    view.update(plane="coronal")
    np.testing.assert_array_equal(view.ct_image.get_array(), v.ct_hu[:, view.index, :])
    assert view.index == 14  # VOI rows 10..19 in y: mean 14.5, rounded half to even
    assert view.ct_image.get_extent() == pytest.approx([-41.0, 39.0, -52.5, 47.5])
    assert ax.get_ylim()[0] < ax.get_ylim()[1]  # head up
    with pytest.raises(InputError, match="opacity"):
        view.update(opacity=1.5)


def test_voi_counts_in_slice():
    v = _volumes()
    view = im.FusedSliceView(Figure().add_subplot(), v, "axial", 6)
    expected = v.spect_counts[6][v.kidney_labels[6] == 1].sum()
    assert view.voi_counts()["left kidney"] == pytest.approx(expected)
    assert view.voi_counts()["right kidney"] == 0.0


def test_roi_counts_known_answer():
    counts = np.arange(12.0).reshape(3, 4)
    rois = np.array([[1, 1, 0, 2], [0, 3, 0, 2], [4, 4, 4, 0]])
    out = im.roi_counts(counts, rois)
    assert out["left kidney counts"] == 0 + 1
    assert out["right kidney counts"] == 3 + 7
    assert out["left background counts"] == 5
    assert out["right background pixels"] == 3
    with pytest.raises(InputError, match="does not match"):
        im.roi_counts(counts, rois[:2])


def test_load_spect_ct_geometry(virtual_cycle):
    import SimpleITK as sitk

    v = im.load_spect_ct(virtual_cycle)
    assert v.ct_hu.shape == v.spect_counts.shape == v.kidney_labels.shape
    assert set(np.unique(v.kidney_labels)) == {0, 1, 2}
    voi = sitk.ReadImage(str(virtual_cycle / "voi" / "kidneys.nii.gz"))
    assert v.spacing_mm == pytest.approx(voi.GetSpacing(), abs=1e-4)
    # The kidneys are where the SPECT is hot: mean counts inside ≫ outside.
    inside = v.spect_counts[v.kidney_labels > 0].mean()
    assert inside > 5 * v.spect_counts[v.kidney_labels == 0].mean()
    # left kidney (label 1) lies at positive x (patient's left, LPS)
    x_left = np.nonzero(v.kidney_labels == 1)[2].mean()
    x_right = np.nonzero(v.kidney_labels == 2)[2].mean()
    assert x_left > x_right


def test_load_spect_ct_errors(tmp_path, virtual_cycle):
    with pytest.raises(InputError, match="folder not found"):
        im.load_spect_ct(tmp_path)
    (tmp_path / "dicom").mkdir()
    (tmp_path / "dicom" / "notes.txt").write_text("not DICOM")
    with pytest.raises(InputError, match="no DICOM file"):
        im.load_spect_ct(tmp_path)
    with pytest.raises(InputError, match="kidney VOI not found"):
        im.load_spect_ct(virtual_cycle, voi_file=tmp_path / "missing.nii.gz")


def test_planar_view_time_points_windows_and_rois(virtual_cycle):
    study = im.load_planar(virtual_cycle)
    assert study.time_h == pytest.approx([1.0, 24.0, 96.0, 168.0], abs=1.0)
    assert study.window_names[0].startswith("PEAK")
    ax = Figure().add_subplot()
    view = im.PlanarView(ax, study, 0, "anterior", 0)
    rows, cols = study.counts[0]["anterior"].shape[1:]
    left, right, bottom, top = view.image.get_extent()
    assert (right - left, bottom - top) == pytest.approx(
        (cols * study.pixel_spacing_mm[1], rows * study.pixel_spacing_mm[0]))
    early = view.counts()["left kidney counts"]
    artist = view.image
    view.update(time_index=3)
    assert view.image is artist
    np.testing.assert_array_equal(artist.get_array(), study.counts[3]["anterior"][0])
    assert view.counts()["left kidney counts"] < early  # activity clears
    view.update(window=1)
    np.testing.assert_array_equal(artist.get_array(), study.counts[3]["anterior"][1])
    assert all(view.rois[k].get_segments() for k in (1, 2, 3, 4))
    with pytest.raises(InputError, match="energy window"):
        view.update(window=9)


def test_posterior_mirroring(virtual_cycle):
    study = im.load_planar(virtual_cycle)
    stored = im.PlanarView(Figure().add_subplot(), study, 1, "posterior", 0)
    mirrored = im.PlanarView(Figure().add_subplot(), study, 1, "posterior", 0,
                             mirror_posterior=True)
    np.testing.assert_array_equal(mirrored.frame(), stored.frame()[:, ::-1])
    # ROIs follow the image: the same counts either way
    assert mirrored.counts() == stored.counts()
    # Mirrored, the left kidney ROI lies on the same side as in the anterior view.
    anterior = study.rois["anterior"]
    def col(roi: np.ndarray) -> float:
        return float(np.nonzero(roi == 1)[1].mean())

    assert (col(mirrored.roi_image()) - anterior.shape[1] / 2) * \
        (col(anterior) - anterior.shape[1] / 2) > 0
