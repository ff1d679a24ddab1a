"""Image views for exploration: SPECT fused on CT with kidney VOI contours, and planar whole-body
views with kidney and background ROIs.

Two layers:

* readers (:func:`load_spect_ct`, :func:`load_planar`) that find the series of one cycle by their
  DICOM tags (SimpleITK for the volumes, pydicom for the planar frames and the headers) and return
  plain numpy arrays with their geometry;
* pure rendering classes (:class:`FusedSliceView`, :class:`PlanarView`) that draw into an existing
  matplotlib ``Axes`` once and then change only the data of their artists (``set_data``,
  ``set_segments``, ``set_clim``) when a control moves. Re-creating artists or figures on every
  slider step is what makes notebook viewers slow; updating them keeps a step well under 0.2 s for
  a 128³ study.

Geometry
--------
Volumes are reoriented to LPS (DICOM patient axes: x → patient left, y → posterior, z → head) and
held as ``(z, y, x)`` arrays. Every image is drawn with its physical extent in millimetres
(``extent`` from origin and spacing, ``aspect="equal"``), so anisotropic voxels and non-square
planar pixels keep their true proportions. Axial slices are shown in the radiological convention
(anterior up, patient's right on the viewer's left); coronal and sagittal slices with the head up.
The posterior planar view is stored as seen from behind the patient and shown so unless
``mirror_posterior`` is set (then it is flipped left–right to overlay the anterior view).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

import contourpy
import numpy as np
import pydicom
import SimpleITK as sitk
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import Colormap
from matplotlib.image import AxesImage
from numpy.typing import NDArray

from iluminet.errors import InputError
from iluminet.nuclide import hours_between

Plane = Literal["axial", "coronal", "sagittal"]
PLANES: tuple[Plane, ...] = ("axial", "coronal", "sagittal")
VIEWS: tuple[str, ...] = ("anterior", "posterior")

#: kidney VOI label → (name, colour) in ``voi/kidneys.nii.gz``.
KIDNEY_LABELS: dict[int, tuple[str, str]] = {1: ("left kidney", "cyan"),
                                             2: ("right kidney", "lime")}
#: planar ROI label → (name, colour, line style) in ``voi/planar_rois_<view>.nii.gz``.
PLANAR_ROI_LABELS: dict[int, tuple[str, str, str]] = {
    1: ("left kidney", "cyan", "-"), 2: ("right kidney", "lime", "-"),
    3: ("left background", "cyan", ":"), 4: ("right background", "lime", ":")}
VIEW_CODES = {"399321004": "anterior", "399001007": "posterior"}  # SNOMED CT, DICOM CID 26

FloatArray = NDArray[np.float64]


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpectCtVolumes:
    """A SPECT/CT study on the CT grid, as ``(z, y, x)`` arrays in LPS orientation.

    Attributes
    ----------
    ct_hu
        CT in Hounsfield units.
    spect_counts
        Reconstructed SPECT counts per voxel, resampled (trilinear) onto the CT grid.
    kidney_labels
        Kidney VOI labels (1 left, 2 right, 0 elsewhere), resampled (nearest neighbour) onto the
        CT grid.
    spacing_mm
        Voxel spacing ``(x, y, z)`` in mm.
    origin_mm
        Centre of voxel ``(0, 0, 0)`` as ``(x, y, z)`` in mm (LPS).
    """

    ct_hu: FloatArray
    spect_counts: FloatArray
    kidney_labels: NDArray[np.integer]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]

    def __post_init__(self) -> None:
        shapes = {self.ct_hu.shape, self.spect_counts.shape, self.kidney_labels.shape}
        if len(shapes) != 1 or self.ct_hu.ndim != 3:
            raise InputError(f"CT, SPECT and VOI must be 3-D arrays of one shape, got {shapes}",
                             source="SpectCtVolumes", field="shape")
        if not all(s > 0 for s in self.spacing_mm):
            raise InputError(f"spacing must be > 0 mm, got {self.spacing_mm}",
                             source="SpectCtVolumes", field="spacing_mm")

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        return self.ct_hu.shape

    def n_slices(self, plane: Plane) -> int:
        """Number of slices along the axis normal to ``plane``."""
        return self.shape_zyx[_normal_axis(plane)]


@dataclass(frozen=True)
class PlanarStudy:
    """Planar whole-body scans of one cycle.

    Attributes
    ----------
    time_h
        Time of each scan after administration (h), increasing.
    counts
        ``counts[i][view]`` is a ``(n_windows, rows, columns)`` array of counts of scan ``i``.
    window_names
        Energy window names in frame order (e.g. ``PEAK 208``, ``SCATTER LOW``).
    pixel_spacing_mm
        ``(row spacing, column spacing)`` in mm.
    rois
        ``rois[view]`` is the ``(rows, columns)`` ROI label image (:data:`PLANAR_ROI_LABELS`),
        in the view's stored orientation.
    """

    time_h: FloatArray
    counts: list[dict[str, FloatArray]]
    window_names: tuple[str, ...]
    pixel_spacing_mm: tuple[float, float]
    rois: dict[str, NDArray[np.integer]] = field(default_factory=dict)

    @property
    def time_labels(self) -> list[str]:
        return [f"{t:.0f} h" for t in self.time_h]


def _read_header(path: Path) -> pydicom.Dataset | None:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (pydicom.errors.InvalidDicomError, OSError):
        return None


def _dicom_headers(folder: Path) -> list[tuple[Path, pydicom.Dataset]]:
    if not folder.is_dir():
        raise InputError("folder not found", source=str(folder))
    headers = [(p, h) for p in sorted(folder.rglob("*")) if p.is_file()
               for h in [_read_header(p)] if h is not None]
    if not headers:
        raise InputError("no DICOM file found", source=str(folder))
    return headers


def _is_tomo(image_type: Sequence[str]) -> bool:
    """NM ImageType value 3 is "RECON TOMO" for a reconstruction ("TOMO" alone: projections)."""
    return any("TOMO" in value for value in image_type)


def _to_lps(image: sitk.Image) -> sitk.Image:
    return sitk.DICOMOrient(image, "LPS")


def load_spect_ct(cycle_dir: str | Path, voi_file: str | Path | None = None) -> SpectCtVolumes:
    """Read one cycle's SPECT (NM, ImageType RECON TOMO), CT series and kidney VOI.

    Series are found by their tags under ``cycle_dir/dicom`` (Modality, ImageType), not by file
    names; the VOI is ``cycle_dir/voi/kidneys.nii.gz`` unless ``voi_file`` is given. SPECT and VOI
    are resampled onto the CT grid in patient coordinates (SimpleITK ``Resample``), so the three
    overlay correctly even when their grids differ.

    Raises
    ------
    InputError
        When the CT series, the SPECT reconstruction or the VOI is missing.
    """
    cycle_dir = Path(cycle_dir)
    headers = _dicom_headers(cycle_dir / "dicom")
    ct_series: dict[str, list[Path]] = {}
    spect_files: list[Path] = []
    for path, h in headers:
        modality = str(getattr(h, "Modality", ""))
        image_type = [str(v).upper() for v in getattr(h, "ImageType", [])]
        if modality == "CT":
            ct_series.setdefault(str(h.SeriesInstanceUID), []).append(path)
        elif modality == "NM" and _is_tomo(image_type):
            spect_files.append(path)
    source = str(cycle_dir / "dicom")
    if not ct_series:
        raise InputError("no CT series (Modality CT) found", source=source, field="Modality")
    if not spect_files:
        raise InputError("no SPECT reconstruction (Modality NM, ImageType RECON TOMO) found",
                         source=source, field="ImageType")
    ct_folder_files = max(ct_series.values(), key=len)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(
        list(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(ct_folder_files[0].parent),
                                                           _series_uid(ct_folder_files[0])))
        or [str(p) for p in ct_folder_files])
    ct = _to_lps(sitk.Cast(reader.Execute(), sitk.sitkFloat32))
    spect = _to_lps(sitk.Cast(sitk.ReadImage(str(spect_files[0])), sitk.sitkFloat32))
    voi_path = Path(voi_file) if voi_file is not None else cycle_dir / "voi" / "kidneys.nii.gz"
    if not voi_path.is_file():
        raise InputError("kidney VOI not found (expected 1 = left, 2 = right kidney)",
                         source=str(voi_path))
    voi = _to_lps(sitk.ReadImage(str(voi_path)))
    spect_on_ct = sitk.Resample(spect, ct, sitk.Transform(), sitk.sitkLinear, 0.0)
    voi_on_ct = sitk.Resample(voi, ct, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    return SpectCtVolumes(
        ct_hu=sitk.GetArrayFromImage(ct).astype(np.float64),
        spect_counts=sitk.GetArrayFromImage(spect_on_ct).astype(np.float64),
        kidney_labels=sitk.GetArrayFromImage(voi_on_ct).astype(np.int16),
        spacing_mm=tuple(float(s) for s in ct.GetSpacing()),  # type: ignore[arg-type]
        origin_mm=tuple(float(o) for o in ct.GetOrigin()),  # type: ignore[arg-type]
    )


def _series_uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SeriesInstanceUID)


def _dicom_datetime(date: str, time: str, offset: str | None, *, source: str,
                    field_name: str) -> datetime:
    if not offset:
        raise InputError("no TimezoneOffsetFromUTC: scan time would be ambiguous", source=source,
                         field="TimezoneOffsetFromUTC")
    try:
        naive = datetime.strptime(f"{date}{time.split('.')[0]:0<6}", "%Y%m%d%H%M%S")
        sign = -1 if offset.startswith("-") else 1
        digits = offset.lstrip("+-")
        zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))
    except (ValueError, IndexError):
        raise InputError(f"unreadable date/time {date!r} {time!r} {offset!r}", source=source,
                         field=field_name) from None
    return naive.replace(tzinfo=zone)


def _planar_view(h: pydicom.Dataset, source: str) -> str:
    for det in getattr(h, "DetectorInformationSequence", []):
        for code in getattr(det, "ViewCodeSequence", []):
            view = VIEW_CODES.get(str(code.CodeValue))
            if view:
                return view
    raise InputError("view (anterior/posterior) not coded in DetectorInformationSequence",
                     source=source, field="ViewCodeSequence")


def load_planar(cycle_dir: str | Path) -> PlanarStudy:
    """Read one cycle's planar whole-body scans (NM, not TOMO) with their energy windows and ROIs.

    Each NM file holds one view with one frame per energy window (``EnergyWindowVector``). The
    scan time is ``AcquisitionDate``/``AcquisitionTime`` with ``TimezoneOffsetFromUTC``; the
    time after administration is taken from ``RadiopharmaceuticalStartDateTime``. ROIs are read
    from ``voi/planar_rois_<view>.nii.gz`` and must match the image matrix.
    """
    cycle_dir = Path(cycle_dir)
    scans: dict[float, dict[str, FloatArray]] = {}
    window_names: tuple[str, ...] | None = None
    spacing: tuple[float, float] | None = None
    for path, h in _dicom_headers(cycle_dir / "dicom"):
        image_type = [str(v).upper() for v in getattr(h, "ImageType", [])]
        if str(getattr(h, "Modality", "")) != "NM" or _is_tomo(image_type):
            continue
        source = str(path)
        view = _planar_view(h, source)
        acquired = _dicom_datetime(str(h.AcquisitionDate), str(h.AcquisitionTime),
                                   getattr(h, "TimezoneOffsetFromUTC", None), source=source,
                                   field_name="AcquisitionDate/AcquisitionTime")
        radio = h.RadiopharmaceuticalInformationSequence[0]
        start_text = str(getattr(radio, "RadiopharmaceuticalStartDateTime", ""))
        if not start_text:
            raise InputError("missing administration time", source=source,
                             field="RadiopharmaceuticalStartDateTime")
        start = pydicom.valuerep.DT(start_text)
        if start.tzinfo is None:
            raise InputError("administration time has no UTC offset", source=source,
                             field="RadiopharmaceuticalStartDateTime")
        time_h = round(hours_between(start, acquired, source=source), 3)
        pixels = pydicom.dcmread(path).pixel_array.astype(np.float64)
        if pixels.ndim == 2:
            pixels = pixels[None]
        names = tuple(str(getattr(w, "EnergyWindowName", f"window {i + 1}"))
                      for i, w in enumerate(getattr(h, "EnergyWindowInformationSequence", [])))
        windows = [int(v) for v in getattr(h, "EnergyWindowVector", range(1, pixels.shape[0] + 1))]
        ordered = tuple(names[w - 1] if w - 1 < len(names) else f"window {w}" for w in windows)
        if window_names is None:
            window_names = ordered
        elif ordered != window_names:
            raise InputError(f"energy windows {ordered} differ from {window_names}",
                             source=source, field="EnergyWindowVector")
        spacing = (float(h.PixelSpacing[0]), float(h.PixelSpacing[1]))
        scans.setdefault(time_h, {})[view] = pixels
    if not scans or window_names is None or spacing is None:
        raise InputError("no planar NM image found", source=str(cycle_dir / "dicom"),
                         field="Modality")
    times = sorted(scans)
    for t in times:
        missing = [v for v in VIEWS if v not in scans[t]]
        if missing:
            raise InputError(f"scan at {t:.1f} h lacks the {', '.join(missing)} view",
                             source=str(cycle_dir / "dicom"), field="ViewCodeSequence")
    shape = scans[times[0]]["anterior"].shape[1:]
    rois: dict[str, NDArray[np.integer]] = {}
    for view in VIEWS:
        roi_path = cycle_dir / "voi" / f"planar_rois_{view}.nii.gz"
        if roi_path.is_file():
            roi = sitk.GetArrayFromImage(sitk.ReadImage(str(roi_path))).astype(np.int16)
            if roi.shape != shape:
                raise InputError(f"ROI image {roi.shape} does not match the planar matrix {shape}",
                                 source=str(roi_path), field="shape")
            rois[view] = roi
    return PlanarStudy(np.array(times, dtype=float), [scans[t] for t in times], window_names,
                       spacing, rois)


# ------------------------------------------------------------------------------------------------
# pure slicing and geometry
# ------------------------------------------------------------------------------------------------
def _normal_axis(plane: Plane) -> int:
    """Index into the ``(z, y, x)`` shape of the axis normal to ``plane``."""
    try:
        return {"axial": 0, "coronal": 1, "sagittal": 2}[plane]
    except KeyError:
        raise InputError(f"expected one of {PLANES}, got {plane!r}", source="image view",
                         field="plane") from None


def extract_slice(volume_zyx: NDArray, plane: Plane, index: int) -> NDArray:
    """The 2-D slice of a ``(z, y, x)`` volume, rows along the plane's vertical axis.

    axial → ``(y, x)``; coronal → ``(z, x)``; sagittal → ``(z, y)``. Rows run in increasing
    coordinate; drawing with ``origin="lower"`` and :func:`slice_axes_mm` places them correctly.
    """
    axis = _normal_axis(plane)
    n = volume_zyx.shape[axis]
    if not 0 <= int(index) < n:
        raise InputError(f"slice index must be in 0..{n - 1}, got {index!r}", source="image view",
                         field="index")
    return np.take(volume_zyx, int(index), axis=axis)


def slice_axes_mm(volumes: SpectCtVolumes, plane: Plane) -> tuple[FloatArray, FloatArray]:
    """Voxel-centre coordinates (mm) along the horizontal and vertical axes of ``plane``."""
    nz, ny, nx = volumes.shape_zyx
    (sx, sy, sz), (ox, oy, oz) = volumes.spacing_mm, volumes.origin_mm
    x, y, z = ox + sx * np.arange(nx), oy + sy * np.arange(ny), oz + sz * np.arange(nz)
    return {"axial": (x, y), "coronal": (x, z), "sagittal": (y, z)}[plane]  # type: ignore[return-value]


def extent_mm(h_centres: FloatArray, v_centres: FloatArray) -> tuple[float, float, float, float]:
    """``imshow`` extent (left, right, bottom, top) covering whole pixels given their centres."""
    dh = float(h_centres[1] - h_centres[0]) if h_centres.size > 1 else 1.0
    dv = float(v_centres[1] - v_centres[0]) if v_centres.size > 1 else 1.0
    return (float(h_centres[0]) - dh / 2, float(h_centres[-1]) + dh / 2,
            float(v_centres[0]) - dv / 2, float(v_centres[-1]) + dv / 2)


def slice_position_mm(volumes: SpectCtVolumes, plane: Plane, index: int) -> float:
    """Coordinate (mm, LPS) of slice ``index`` along the plane's normal."""
    axis_xyz = {"axial": 2, "coronal": 1, "sagittal": 0}[plane]
    return volumes.origin_mm[axis_xyz] + volumes.spacing_mm[axis_xyz] * int(index)


def window_limits(level_hu: float, width_hu: float) -> tuple[float, float]:
    """Display range of a CT window: ``level ∓ width/2`` (HU); width must be > 0."""
    if not width_hu > 0:
        raise InputError(f"window width must be > 0 HU, got {width_hu!r}", source="image view",
                         field="width_hu")
    return level_hu - width_hu / 2.0, level_hu + width_hu / 2.0


def mask_contours(mask: NDArray, h_centres: FloatArray, v_centres: FloatArray
                  ) -> list[FloatArray]:
    """Outline of a binary ``mask`` (rows = vertical axis) as polylines in mm.

    The iso-line at 0.5 of the mask, interpolated between voxel centres (contourpy, the engine
    behind matplotlib's ``contour``), so it runs half-way between inside and outside voxels.
    """
    m = np.asarray(mask, dtype=np.float64)
    if m.shape != (v_centres.size, h_centres.size):
        raise InputError(f"mask shape {m.shape} does not match the axes "
                         f"{(v_centres.size, h_centres.size)}", source="image view", field="mask")
    if not m.any() or m.all():
        return []
    generator = contourpy.contour_generator(h_centres, v_centres, m)
    return [np.asarray(line) for line in generator.lines(0.5) if len(line) > 1]


def label_contours(labels: NDArray, h_centres: FloatArray, v_centres: FloatArray,
                   values: Sequence[int]) -> dict[int, list[FloatArray]]:
    """:func:`mask_contours` of each label value in ``values``."""
    return {v: mask_contours(labels == v, h_centres, v_centres) for v in values}


def transparent_below(cmap_name: str) -> Colormap:
    """A copy of a colormap whose values below ``vmin`` are fully transparent (SPECT overlay)."""
    import matplotlib

    clear = (0.0, 0.0, 0.0, 0.0)
    return matplotlib.colormaps[cmap_name].with_extremes(under=clear, bad=clear)


def roi_counts(counts_2d: NDArray, rois: NDArray) -> dict[str, float]:
    """Sum of counts inside each planar ROI (:data:`PLANAR_ROI_LABELS`) and its pixel count."""
    if counts_2d.shape != rois.shape:
        raise InputError(f"ROI image {rois.shape} does not match the counts {counts_2d.shape}",
                         source="planar view", field="rois")
    out: dict[str, float] = {}
    for value, (name, _, _) in PLANAR_ROI_LABELS.items():
        inside = rois == value
        out[f"{name} counts"] = float(counts_2d[inside].sum())
        out[f"{name} pixels"] = float(inside.sum())
    return out


# ------------------------------------------------------------------------------------------------
# artists updated in place
# ------------------------------------------------------------------------------------------------
class FusedSliceView:
    """SPECT on CT with kidney VOI contours, drawn once into ``ax`` and updated in place.

    Parameters
    ----------
    ax
        The axes to draw into (its figure may hold other axes).
    volumes
        The study (:func:`load_spect_ct`).
    plane, index
        Slice orientation and index (default: the slice through the kidneys' centre, or the
        middle slice when there is no VOI).
    level_hu, width_hu
        CT window (HU).
    opacity
        SPECT overlay opacity, 0–1.
    threshold
        SPECT values below this fraction of the study maximum are transparent.

    Attributes
    ----------
    ct_image, spect_image : AxesImage
    contours : dict[int, LineCollection]
        One collection per kidney label.
    """

    def __init__(self, ax: Axes, volumes: SpectCtVolumes, plane: Plane = "axial",
                 index: int | None = None, *, level_hu: float = 40.0, width_hu: float = 400.0,
                 opacity: float = 0.5, threshold: float = 0.05) -> None:
        self.ax, self.volumes = ax, volumes
        self.spect_max = float(volumes.spect_counts.max()) or 1.0
        self.threshold = float(threshold)
        self.plane: Plane = plane
        self.index = self.default_index(plane) if index is None else int(index)
        vmin, vmax = window_limits(level_hu, width_hu)
        self.level_hu, self.width_hu, self.opacity = (
            float(level_hu),
            float(width_hu),
            float(opacity),
        )
        h, v = slice_axes_mm(volumes, plane)
        ext = extent_mm(h, v)
        self.ct_image: AxesImage = ax.imshow(
            extract_slice(volumes.ct_hu, plane, self.index), cmap="gray", vmin=vmin, vmax=vmax,
            origin="lower", extent=ext, interpolation="nearest", aspect="equal")
        self.spect_image: AxesImage = ax.imshow(
            extract_slice(volumes.spect_counts, plane, self.index),
            cmap=transparent_below("hot"), vmin=self.threshold * self.spect_max,
            vmax=self.spect_max, origin="lower", extent=ext, interpolation="bilinear",
            alpha=self.opacity, aspect="equal")
        self.contours: dict[int, LineCollection] = {}
        for value, (name, colour) in KIDNEY_LABELS.items():
            lc = LineCollection([], colors=colour, linewidths=1.2, label=name)
            ax.add_collection(lc)
            self.contours[value] = lc
        self._set_contours()
        self._set_axes(ext)

    def default_index(self, plane: Plane) -> int:
        """Slice through the centre of mass of the kidney VOI (middle slice without VOI)."""
        axis = _normal_axis(plane)
        mask = self.volumes.kidney_labels > 0
        if not mask.any():
            return self.volumes.shape_zyx[axis] // 2
        return round(float(np.nonzero(mask)[axis].mean()))

    def _set_contours(self) -> None:
        h, v = slice_axes_mm(self.volumes, self.plane)
        labels = extract_slice(self.volumes.kidney_labels, self.plane, self.index)
        for value, lines in label_contours(labels, h, v, list(KIDNEY_LABELS)).items():
            self.contours[value].set_segments(lines)

    def _set_axes(self, ext: tuple[float, float, float, float]) -> None:
        left, right, bottom, top = ext
        self.ax.set_xlim(left, right)
        # Axial: anterior (small y) at the top; coronal/sagittal: head (large z) at the top.
        self.ax.set_ylim((top, bottom) if self.plane == "axial" else (bottom, top))
        hname, vname = {"axial": ("x", "y"), "coronal": ("x", "z"),
                        "sagittal": ("y", "z")}[self.plane]
        self.ax.set_xlabel(f"{hname} (mm)")
        self.ax.set_ylabel(f"{vname} (mm)")
        self.ax.set_title(self.title())

    def title(self) -> str:
        n = self.volumes.n_slices(self.plane)
        pos = slice_position_mm(self.volumes, self.plane, self.index)
        return f"{self.plane} slice {self.index + 1}/{n} at {pos:.1f} mm"

    def update(self, *, plane: Plane | None = None, index: int | None = None,
               level_hu: float | None = None, width_hu: float | None = None,
               opacity: float | None = None) -> None:
        """Change what is shown; only the artists' data, limits and alpha change."""
        plane_changed = plane is not None and plane != self.plane
        if plane_changed:
            self.plane = plane  # type: ignore[assignment]
            if index is None:
                index = self.default_index(self.plane)
        if index is not None or plane_changed:
            new_index = self.index if index is None else int(index)
            n = self.volumes.n_slices(self.plane)
            if not 0 <= new_index < n:
                raise InputError(f"slice index must be in 0..{n - 1}, got {new_index!r}",
                                 source="image view", field="index")
            self.index = new_index
            self.ct_image.set_data(extract_slice(self.volumes.ct_hu, self.plane, self.index))
            self.spect_image.set_data(
                extract_slice(self.volumes.spect_counts, self.plane, self.index))
            self._set_contours()
        if plane_changed:
            ext = extent_mm(*slice_axes_mm(self.volumes, self.plane))
            self.ct_image.set_extent(ext)
            self.spect_image.set_extent(ext)
            self._set_axes(ext)
        else:
            self.ax.set_title(self.title())
        if level_hu is not None or width_hu is not None:
            self.level_hu = self.level_hu if level_hu is None else float(level_hu)
            self.width_hu = self.width_hu if width_hu is None else float(width_hu)
            self.ct_image.set_clim(*window_limits(self.level_hu, self.width_hu))
        if opacity is not None:
            if not 0.0 <= opacity <= 1.0:
                raise InputError(f"opacity must be in 0..1, got {opacity!r}", source="image view",
                                 field="opacity")
            self.opacity = float(opacity)
            self.spect_image.set_alpha(self.opacity)

    def voi_counts(self) -> dict[str, float]:
        """SPECT counts inside each kidney VOI in the shown slice."""
        labels = extract_slice(self.volumes.kidney_labels, self.plane, self.index)
        spect = extract_slice(self.volumes.spect_counts, self.plane, self.index)
        return {name: float(spect[labels == value].sum())
                for value, (name, _) in KIDNEY_LABELS.items()}


class PlanarView:
    """One planar view (anterior or posterior) at one time point and energy window, with the
    kidney (solid) and background (dotted) ROIs, drawn once into ``ax`` and updated in place.

    ``display_fraction`` sets the top of the grey scale as a fraction of the image maximum (the
    bladder and liver otherwise dominate); ``mirror_posterior`` flips the posterior view
    left–right so it overlays the anterior one (it is stored as seen from behind).
    """

    def __init__(self, ax: Axes, study: PlanarStudy, time_index: int = 0,
                 view: str = "anterior", window: int = 0, *, display_fraction: float = 0.3,
                 mirror_posterior: bool = False, cmap: str = "gray_r") -> None:
        self.ax, self.study = ax, study
        self.mirror_posterior = bool(mirror_posterior)
        self.time_index, self.view, self.window = 0, "anterior", 0
        self.display_fraction = float(display_fraction)
        self._check(time_index, view, window)
        self.time_index, self.view, self.window = int(time_index), view, int(window)
        rows, cols = self.frame().shape
        dr, dc = study.pixel_spacing_mm
        # Row 0 at the top (head); the extent in mm keeps the physical aspect ratio.
        self.image: AxesImage = ax.imshow(self.frame(), cmap=cmap, origin="upper",
                                          extent=(0.0, cols * dc, rows * dr, 0.0),
                                          interpolation="nearest", aspect="equal")
        self.rois: dict[int, LineCollection] = {}
        for value, (name, colour, style) in PLANAR_ROI_LABELS.items():
            lc = LineCollection([], colors=colour, linewidths=1.0, linestyles=style, label=name)
            ax.add_collection(lc)
            self.rois[value] = lc
        ax.set_xlabel("mm")
        ax.set_ylabel("mm")
        self._refresh()

    def _check(self, time_index: int, view: str, window: int) -> None:
        if view not in VIEWS:
            raise InputError(f"expected one of {VIEWS}, got {view!r}", source="planar view",
                             field="view")
        if not 0 <= int(time_index) < len(self.study.time_h):
            raise InputError(f"time index must be in 0..{len(self.study.time_h) - 1}, got "
                             f"{time_index!r}", source="planar view", field="time_index")
        if not 0 <= int(window) < len(self.study.window_names):
            raise InputError(f"energy window index must be in 0..{len(self.study.window_names) - 1}"
                             f", got {window!r}", source="planar view", field="window")

    def _mirrored(self) -> bool:
        return self.mirror_posterior and self.view == "posterior"

    def frame(self) -> NDArray:
        """The counts shown (after the optional mirroring of the posterior view)."""
        data = self.study.counts[self.time_index][self.view][self.window]
        return data[:, ::-1] if self._mirrored() else data

    def roi_image(self) -> NDArray | None:
        rois = self.study.rois.get(self.view)
        if rois is None:
            return None
        return rois[:, ::-1] if self._mirrored() else rois

    def _refresh(self) -> None:
        data = self.frame()
        self.image.set_data(data)
        top = float(data.max()) * self.display_fraction
        self.image.set_clim(0.0, top if top > 0 else 1.0)
        rois = self.roi_image()
        rows, cols = data.shape
        dr, dc = self.study.pixel_spacing_mm
        h = np.asarray(dc * (np.arange(cols) + 0.5), dtype=np.float64)
        v = np.asarray(dr * (np.arange(rows) + 0.5), dtype=np.float64)
        for value, lc in self.rois.items():
            lc.set_segments([] if rois is None else mask_contours(rois == value, h, v))
        side = " (seen from behind)" if self.view == "posterior" and not self._mirrored() else ""
        self.ax.set_title(f"{self.view}{side}, {self.study.time_labels[self.time_index]}, "
                          f"{self.study.window_names[self.window]}", fontsize="medium")

    def update(self, *, time_index: int | None = None, view: str | None = None,
               window: int | None = None, display_fraction: float | None = None) -> None:
        """Change time point, view, energy window or grey scale; only artist data change."""
        t = self.time_index if time_index is None else int(time_index)
        v = self.view if view is None else view
        w = self.window if window is None else int(window)
        self._check(t, v, w)
        self.time_index, self.view, self.window = t, v, w
        if display_fraction is not None:
            if not 0.0 < display_fraction <= 1.0:
                raise InputError(f"display fraction must be in (0, 1], got {display_fraction!r}",
                                 source="planar view", field="display_fraction")
            self.display_fraction = float(display_fraction)
        self._refresh()

    def counts(self) -> Mapping[str, float]:
        """ROI counts (:func:`roi_counts`) of the shown frame; empty without ROIs."""
        rois = self.roi_image()
        return {} if rois is None else roi_counts(self.frame(), rois)
