"""Image-based marrow activity from a SPECT image and a vertebral marrow VOI file.

The VOI file (NIfTI or any label image SimpleITK reads, e.g. ``voi/marrow.nii.gz``) holds the
lumbar-vertebrae marrow as ``marrow_label`` (default 1) and, optionally, skeletal lesions drawn by
the reader as ``lesion_label`` (default 2). It may be on the CT grid or the SPECT grid; every
marrow voxel must map into the SPECT field of view and onto a reconstructed (finite) SPECT value.
A voxel that does not is reported by file, its (slice, row, column) index in the VOI file and
label, so it can be found in any viewer.

The activity itself is :func:`iluminet.patient.marrow.vertebral_marrow_activity` on the SPECT grid
(``A = Σ_{VOI∖L} c·V / RC``, lesions excluded and flagged).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from iluminet.errors import InputError
from iluminet.imaging.dicom_study import _same_grid, read_label_image
from iluminet.imaging.spect import FWHM_TO_SIGMA, RecoveryCurve
from iluminet.patient import marrow

__all__ = ["marrow_voi_on_spect_grid", "spine_recovery", "vertebral_marrow_from_voi_file"]


def _first_outside(voi: sitk.Image, spect: sitk.Image, mask: np.ndarray) -> tuple[int, ...] | None:
    """Index (slice, row, column) of the first VOI voxel whose centre is outside the SPECT."""
    kji = np.argwhere(mask)
    size = np.array(spect.GetSize(), dtype=float)  # x, y, z
    for k, j, i in kji:
        point = voi.TransformIndexToPhysicalPoint((int(i), int(j), int(k)))
        idx = np.array(spect.TransformPhysicalPointToContinuousIndex(point))
        if np.any(idx < -0.5) or np.any(idx > size - 0.5):
            return int(k), int(j), int(i)
    return None


def marrow_voi_on_spect_grid(voi: sitk.Image, spect: sitk.Image, path: Path, *,
                             marrow_label: int = 1,
                             lesion_label: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Marrow and lesion masks of a VOI label image on the SPECT grid (arrays z, y, x).

    Raises
    ------
    InputError
        Naming ``path`` and the label: the marrow label is empty, a marrow voxel lies outside
        the SPECT field of view (its slice, row and column in the VOI file), or the SPECT has no
        reconstructed value (NaN/inf) under the marrow VOI (slice, row and column on the SPECT
        grid).
    """
    arr = sitk.GetArrayFromImage(voi)
    field = f"label {marrow_label}"
    marrow_mask = arr == marrow_label
    if not marrow_mask.any():
        raise InputError(f"the marrow VOI (label {marrow_label}) is empty", source=str(path),
                         field=field)
    if _same_grid(voi, spect):
        on_grid = arr
    else:
        outside = _first_outside(voi, spect, marrow_mask)
        if outside is not None:
            k, j, i = outside
            n_out = int(marrow_mask.sum())
            raise InputError(
                f"the marrow VOI (label {marrow_label}, {n_out} voxels) extends outside the SPECT "
                f"field of view: voxel at slice {k}, row {j}, column {i} of the VOI file is "
                f"outside the SPECT", source=str(path), field=field)
        on_grid = sitk.GetArrayFromImage(sitk.Resample(
            sitk.Cast(voi, sitk.sitkUInt8), spect, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
            sitk.sitkUInt8))
    marrow_on = on_grid == marrow_label
    if not marrow_on.any():
        raise InputError(f"the marrow VOI (label {marrow_label}) has no voxel on the SPECT grid "
                         f"(VOI smaller than a SPECT voxel?)", source=str(path), field=field)
    values = sitk.GetArrayViewFromImage(spect)
    bad = marrow_on & ~np.isfinite(values)
    if bad.any():
        k, j, i = (int(v) for v in np.argwhere(bad)[0])
        raise InputError(
            f"the marrow VOI (label {marrow_label}) covers SPECT voxels without a reconstructed "
            f"value ({int(bad.sum())} voxels; first at slice {k}, row {j}, column {i} of the SPECT "
            f"grid): outside the reconstructed field of view", source=str(path), field=field)
    return marrow_on, on_grid == lesion_label


def spine_recovery(voi: np.ndarray, spacing_xyz_mm: tuple[float, ...],
                   fwhm_mm: float | None, *, bone_margin_voxels: int = 1) -> float:
    """RC of a vertebral marrow VOI inside the spine, from the camera's resolution.

    The VOI is drawn inside the vertebrae, which continue above and below it and extend
    ``bone_margin_voxels`` beyond it in-plane (the VOI is eroded off the cortical edge), all
    holding marrow. The activity is modelled as uniform in that bone — the VOI grown by the margin
    in-plane and by 2 FWHM at both axial ends — in a cold background; RC is the mean of the
    Gaussian-blurred (FWHM ``fwhm_mm``) bone indicator over the VOI. A warm background adds
    spill-in this RC does not remove (overestimate of a few per cent).
    """
    if fwhm_mm is None or not fwhm_mm > 0:
        raise InputError("camera resolution (fitted recovery curve) needed for the marrow RC",
                         source="recovery curve", field="fwhm_mm")
    sx, sy, sz = (float(v) for v in spacing_xyz_mm)
    mask = np.asarray(voi, dtype=bool)
    plane = np.zeros((1, 3, 3), dtype=bool)
    plane[0] = ndimage.generate_binary_structure(2, 1)
    bone = ndimage.binary_dilation(mask, plane, iterations=bone_margin_voxels) \
        if bone_margin_voxels else mask.copy()
    reach = int(math.ceil(2.0 * fwhm_mm / sz))
    slices = np.nonzero(bone.any(axis=(1, 2)))[0]
    lo, hi = int(slices.min()), int(slices.max())
    for k in range(max(lo - reach, 0), lo):
        bone[k] = bone[lo]
    for k in range(hi + 1, min(hi + reach + 1, bone.shape[0])):
        bone[k] = bone[hi]
    sigma = [fwhm_mm * FWHM_TO_SIGMA / s for s in (sz, sy, sx)]
    blurred = ndimage.gaussian_filter(bone.astype(float), sigma, mode="constant")
    return float(blurred[mask].mean())


def vertebral_marrow_from_voi_file(spect_mbq_per_ml: sitk.Image, voi_path: str | Path, *,
                                   recovery: float | RecoveryCurve, marrow_label: int = 1,
                                   lesion_label: int = 2,
                                   lesion_margin_voxels: int = 1, rescale_excluded: bool = True,
                                   bone_volume_ml: float | None = None,
                                   vertebra_margin_voxels: int | None = None,
                                   detect_lesions_factor: float | None = None
                                   ) -> marrow.VertebralMarrow:
    """Vertebral marrow activity (MBq) at the scan time from a calibrated SPECT and a VOI file.

    Parameters
    ----------
    spect_mbq_per_ml
        Calibrated SPECT (activity concentration, MBq/ml) with its geometry.
    voi_path
        Label image: ``marrow_label`` = vertebral marrow, ``lesion_label`` = skeletal lesions
        inside the vertebrae (the VOI is the union; lesions are excluded, grown by
        ``lesion_margin_voxels``, and flagged).
    recovery
        Recovery coefficient of the VOI, or the camera's :class:`~iluminet.imaging.spect.
        RecoveryCurve`, whose fitted resolution gives :func:`spine_recovery`.
    rescale_excluded, bone_volume_ml
        As in :func:`iluminet.patient.marrow.vertebral_marrow_activity`.
    vertebra_margin_voxels
        When ``bone_volume_ml`` is not given: the vertebrae are taken as the VOI grown by this
        many voxels in-plane (the VOI was eroded off the cortical edge by as many), and the
        activity is the VOI's mean recovery-corrected concentration × that volume — the
        vertebrae the reference marrow fraction refers to. ``None``: the VOI's own activity.
    detect_lesions_factor
        Also exclude the voxels of the VOI above this multiple of its median concentration
        (:func:`iluminet.patient.marrow.detect_hot_lesions`): lesions a CT-drawn VOI does not show.
    """
    path = Path(voi_path)
    voi = read_label_image(path)
    marrow_mask, lesion_mask = marrow_voi_on_spect_grid(
        voi, spect_mbq_per_ml, path, marrow_label=marrow_label, lesion_label=lesion_label)
    voxel_ml = float(np.prod(spect_mbq_per_ml.GetSpacing())) / 1000.0
    values = sitk.GetArrayFromImage(spect_mbq_per_ml)
    # the vertebrae are marrow ∪ lesion (a lesion label replaces marrow in the reader's map)
    vertebrae = marrow_mask | lesion_mask
    if bone_volume_ml is None and vertebra_margin_voxels:
        plane = np.zeros((1, 3, 3), dtype=bool)
        plane[0] = ndimage.generate_binary_structure(2, 1)
        grown = ndimage.binary_dilation(vertebrae, plane, iterations=int(vertebra_margin_voxels))
        bone_volume_ml = float(grown.sum()) * voxel_ml
    if isinstance(recovery, RecoveryCurve):
        recovery = spine_recovery(vertebrae, spect_mbq_per_ml.GetSpacing(), recovery.fwhm_mm_)
    if detect_lesions_factor is not None:
        lesion_mask = lesion_mask | marrow.detect_hot_lesions(values, vertebrae,
                                                              factor=detect_lesions_factor)
    return marrow.vertebral_marrow_activity(
        values, voxel_ml, vertebrae,
        lesion_mask if lesion_mask.any() else None, recovery=recovery,
        lesion_margin_voxels=lesion_margin_voxels if lesion_mask.any() else 0,
        rescale_excluded=rescale_excluded, bone_volume_ml=bone_volume_ml, source=str(path))
