"""Kidney VOIs as centres export them: one label map, one file per kidney, or a DICOM RTSTRUCT.

Whatever the input, the result is one label map on the VOI's own grid with the workbook's labels
(:data:`iluminet.imaging.dicom_study.KIDNEY_LABELS`: 1 left, 2 right):

* **label map** (NIfTI or any format SimpleITK reads): the site's label values
  (``analysis.imaging.kidney_voi_labels``) are mapped to 1 and 2;
* **one file per kidney**: a path holding ``{side}`` (e.g. ``voi/kidney_{side}.nii.gz``), each
  file's non-zero voxels the kidney; both files on one grid;
* **DICOM SEG** (read with highdicom): the segments labelled as in
  ``analysis.imaging.kidney_roi_names``, each segment's volume on the SEG's own grid;
* **DICOM RTSTRUCT**: the ROIs named as in ``analysis.imaging.kidney_roi_names`` (compared
  without case, spaces, ``-`` and ``_``, so ``Kidney_L``, ``Kidney Left`` and ``kidney_left``
  match), their planar contours filled on the CT slices they lie on (a voxel is inside when its
  centre is inside the polygon, :meth:`matplotlib.path.Path.contains_points`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from matplotlib.path import Path as Polygon

from iluminet.errors import InputError

__all__ = ["DEFAULT_ROI_NAMES", "is_dicom_file", "kidney_label_map", "rtstruct_masks"]

SIDES = ("left", "right")
#: ROI names recognised per kidney when the site gives none.
DEFAULT_ROI_NAMES: dict[str, tuple[str, ...]] = {
    "left": ("Kidney_L", "Kidney_Left", "kidney_left", "Left kidney", "L Kidney", "Niere_li"),
    "right": ("Kidney_R", "Kidney_Right", "kidney_right", "Right kidney", "R Kidney", "Niere_re"),
}


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _named(by_number: Mapping[int, str], names: Mapping[str, Sequence[str]], side: str,
           path: Path, what: str, field: str) -> int:
    """The one structure number whose name is one of the side's kidney names."""
    wanted = {_key(n) for n in names[side]}
    found = [num for num, name in by_number.items() if _key(name) in wanted]
    if len(found) != 1:
        raise InputError(
            f"{'no' if not found else len(found)} {what} as the {side} kidney "
            f"({', '.join(names[side])}); the file has {sorted(by_number.values())} (set "
            "analysis.imaging.kidney_roi_names)", source=str(path), field=field)
    return found[0]


def is_dicom_file(path: Path) -> bool:
    """Whether ``path`` is a DICOM Part 10 file (128-byte preamble, then ``DICM``)."""
    try:
        with Path(path).open("rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except OSError:
        return False


def _read_image(path: Path) -> sitk.Image:
    from iluminet.imaging.dicom_study import read_label_image

    return read_label_image(path)


def _from_label_map(path: Path, labels: Mapping[str, int]) -> sitk.Image:
    image = _read_image(path)
    arr = sitk.GetArrayFromImage(image)
    out = np.zeros(arr.shape, np.uint8)
    for code, side in enumerate(SIDES, start=1):
        value = labels[side]
        if not (arr == value).any():
            raise InputError(f"the {side} VOI (label {value}) is empty: no voxel has this label "
                             f"(labels present: {sorted(int(v) for v in np.unique(arr) if v)}; "
                             "set analysis.imaging.kidney_voi_labels)", source=str(path),
                             field=f"label {value}")
        out[arr == value] = code
    result = sitk.GetImageFromArray(out)
    result.CopyInformation(image)
    return result


def _from_files_per_kidney(folder: Path, pattern: str) -> tuple[sitk.Image, Path]:
    images = {side: (_read_image(folder / pattern.format(side=side)),
                     folder / pattern.format(side=side)) for side in SIDES}
    (left, left_path), (right, right_path) = images["left"], images["right"]
    same = (left.GetSize() == right.GetSize()
            and np.allclose(left.GetOrigin(), right.GetOrigin(), atol=1e-3)
            and np.allclose(left.GetSpacing(), right.GetSpacing(), atol=1e-6)
            and np.allclose(left.GetDirection(), right.GetDirection(), atol=1e-6))
    if not same:
        raise InputError(f"the kidney VOI files are on different grids ({left_path.name}, "
                         f"{right_path.name}); export both on one grid (e.g. the CT's)",
                         source=str(right_path), field="grid")
    a_left, a_right = sitk.GetArrayFromImage(left) != 0, sitk.GetArrayFromImage(right) != 0
    if (a_left & a_right).any():
        raise InputError(f"the two kidney VOIs overlap in {int((a_left & a_right).sum())} "
                         "voxels", source=str(right_path), field="mask")
    out = np.zeros(a_left.shape, np.uint8)
    out[a_left], out[a_right] = 1, 2
    result = sitk.GetImageFromArray(out)
    result.CopyInformation(left)
    return result, left_path


def rtstruct_masks(path: Path, reference: sitk.Image,
                   names: Mapping[str, Sequence[str]]) -> dict[str, np.ndarray]:
    """``{side: mask (z, y, x)}`` of the RTSTRUCT ROIs named for each kidney, filled on the
    ``reference`` (CT) grid slice by slice."""
    try:
        ds = pydicom.dcmread(path)
    except (OSError, ValueError, pydicom.errors.InvalidDicomError) as exc:
        raise InputError(f"cannot read the RTSTRUCT ({type(exc).__name__})", source=str(path)
                         ) from None
    if str(getattr(ds, "Modality", "")) != "RTSTRUCT":
        raise InputError(f"expected an RTSTRUCT, got Modality {getattr(ds, 'Modality', None)!r}",
                         source=str(path), field="Modality")
    by_number = {int(r.ROINumber): str(r.ROIName) for r in getattr(ds, "StructureSetROISequence",
                                                                    [])}
    contours = {int(c.ReferencedROINumber): c for c in getattr(ds, "ROIContourSequence", [])}
    direction = np.asarray(reference.GetDirection(), float).reshape(3, 3)
    matrix = direction @ np.diag(reference.GetSpacing())
    inverse = np.linalg.inv(matrix)
    origin = np.asarray(reference.GetOrigin(), float)
    nx, ny, nz = reference.GetSize()
    grid_y, grid_x = np.mgrid[0:ny, 0:nx]
    centres = np.column_stack([grid_x.ravel(), grid_y.ravel()]).astype(float)
    out: dict[str, np.ndarray] = {}
    for side in SIDES:
        number = _named(by_number, names, side, path, "ROI named", "ROIName")
        mask = np.zeros((nz, ny, nx), bool)
        item = contours.get(number)
        for contour in getattr(item, "ContourSequence", []) if item is not None else []:
            points = np.asarray(contour.ContourData, float).reshape(-1, 3)
            index = (points - origin) @ inverse.T  # continuous (x, y, z) indices
            k = int(round(float(np.median(index[:, 2]))))
            if not 0 <= k < nz or np.ptp(index[:, 2]) > 0.5:
                raise InputError(f"a {side} kidney contour does not lie on one CT slice "
                                 f"(slice index {np.median(index[:, 2]):.1f} of {nz})",
                                 source=str(path), field="ContourData")
            inside = Polygon(index[:, :2]).contains_points(centres).reshape(ny, nx)
            mask[k] ^= inside  # a contour inside another (a hole) toggles, as RTSTRUCT defines
        if not mask.any():
            raise InputError(f"the {side} kidney ROI {by_number[number]!r} has no contour "
                             "on the CT", source=str(path), field="ContourSequence")
        out[side] = mask
    return out


def _seg_label_map(path: Path, names: Mapping[str, Sequence[str]]) -> sitk.Image:
    """The SEG's kidney segments as one label map (1 left, 2 right) on the SEG's own grid."""
    import highdicom as hd

    try:
        seg = hd.seg.segread(path)
    except Exception as exc:  # noqa: BLE001 — highdicom raises many types for invalid files
        raise InputError(f"cannot read the DICOM SEG ({type(exc).__name__}: {exc})",
                         source=str(path)) from None
    labels = {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}
    numbers = {side: _named(labels, names, side, path, "segment labelled", "SegmentLabel")
               for side in SIDES}
    volume = seg.get_volume(segment_numbers=[numbers["left"], numbers["right"]],
                            combine_segments=True, relabel=True)
    arr = np.asarray(volume.array)  # (i, j, k) with x = affine · (i, j, k, 1)
    affine = np.asarray(volume.affine, float)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    image = sitk.GetImageFromArray(np.transpose(arr, (2, 1, 0)).astype(np.uint8))
    image.SetSpacing([float(v) for v in spacing])
    image.SetOrigin([float(v) for v in affine[:3, 3]])
    image.SetDirection([float(v) for v in (affine[:3, :3] / spacing).ravel()])
    return image


def _modality(path: Path) -> str:
    try:
        return str(pydicom.dcmread(path, stop_before_pixels=True).get("Modality", ""))
    except (OSError, ValueError, pydicom.errors.InvalidDicomError) as exc:
        raise InputError(f"cannot read the DICOM VOI ({type(exc).__name__})", source=str(path)
                         ) from None


def kidney_label_map(cycle_folder: Path, voi: str, *, labels: Mapping[str, int],
                     roi_names: Mapping[str, Sequence[str]],
                     ct_image: sitk.Image | None) -> tuple[sitk.Image, Path]:
    """The kidney VOIs of a cycle as one label map (1 left, 2 right) on the VOI's own grid, and
    the file it came from (module notes); ``voi`` is relative to ``cycle_folder``."""
    if "{side}" in voi:
        return _from_files_per_kidney(cycle_folder, voi)
    path = cycle_folder / voi
    if not path.is_file():
        raise InputError("VOI file not found (analysis.imaging.kidney_voi)", source=str(path),
                         field="path")
    if is_dicom_file(path) and _modality(path) == "SEG":
        return _seg_label_map(path, roi_names), path
    if is_dicom_file(path):
        if ct_image is None:
            raise InputError("an RTSTRUCT is filled on the CT grid, but the cycle has no CT",
                             source=str(path), field="CT")
        masks = rtstruct_masks(path, ct_image, roi_names)
        out = np.zeros(masks["left"].shape, np.uint8)
        out[masks["left"]], out[masks["right"] & ~masks["left"]] = 1, 2
        image = sitk.GetImageFromArray(out)
        image.CopyInformation(ct_image)
        return image, path
    return _from_label_map(path, labels), path
