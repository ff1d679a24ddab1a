"""Planar (conjugate-view) kidney quantification.

Corrections, in the order applied to the counts of a region of interest (ROI):

1. **Scatter** — triple energy window (TEW), per pixel:
   S = (C_low/W_low + C_up/W_up) · W_peak / 2, primary P = C_peak − S (Ogawa et al. 1991).
2. **Background** — overlapping tissue in front of and behind the kidney, estimated from a
   background ROI next to the kidney (mean primary counts per pixel b), weighted by the fraction
   of the body thickness not taken by the kidney (Buijs et al. 1998):
   I = ΣP_kidneyROI − n · b · (1 − t/T), t the kidney thickness and T the body thickness along
   the projection (from the CT and the kidney VOI). Overlap with hot organs (liver, spleen,
   tumours) is *not* background: pixels where the SPECT/CT shows other hot structures along the
   projection ray are excluded from the kidney ROI (:func:`overlap_free_roi`), because a curve
   drawn from them follows the other organ's kinetics. The background ROI excludes the hot
   organs' silhouettes for the same reason.
3. **Conjugate view** — geometric mean of anterior and posterior count rates (the posterior view
   is stored mirrored; ROI sums are taken on each view with its own ROI image, which is drawn in
   that view's orientation).
4. **Attenuation** — e^(−μT) with T the patient thickness along the kidney (CT) and μ the
   broad-beam coefficient (a camera calibration input).
5. **Source thickness** — f = (μt/2)/sinh(μt/2) for a kidney of thickness t.

A = sqrt(I_A · I_P / e^(−μT)) · f / C with C the sensitivity in air (cps/MBq).

For the hybrid method only the *shape* of the planar curve matters (the level comes from SPECT),
so constant factors (sensitivity, attenuation, the share of the kidney inside a restricted ROI)
cancel; the overlap and background handling is what decides its accuracy. There the background
weights and the overlap maps come from :func:`project_to_view`, a forward projection of the
SPECT/CT with attenuation and the collimator's depth-dependent resolution: background counts per
pixel are β · W(pixel), W the projection of a unit concentration in the soft tissue outside the
kidney, β = Σ_bg P / Σ_bg W fitted on the background ROI (:func:`weighted_background_counts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from iluminet.errors import InputError
from iluminet.imaging.dicom_study import PlanarView

#: CT number (HU) above which a voxel belongs to the patient (excludes air and the couch's air gap).
BODY_HU_THRESHOLD = -500.0


# -- elementary corrections ------------------------------------------------------------------------
def tew_scatter(
    lower_counts: np.ndarray | float,
    upper_counts: np.ndarray | float,
    lower_width_kev: float,
    upper_width_kev: float,
    peak_width_kev: float,
) -> np.ndarray:
    """Triple-energy-window scatter estimate in the photopeak window.

    S = (C_low / W_low + C_up / W_up) · W_peak / 2 (counts), the trapezoid under the scatter
    spectrum across the photopeak window, from counts C in the adjacent windows of widths W (keV).
    """
    for name, w in (("lower", lower_width_kev), ("upper", upper_width_kev),
                    ("peak", peak_width_kev)):
        if not w > 0:
            raise InputError(f"{name} window width must be > 0 keV, got {w}",
                             source="TEW", field=f"{name}_width_kev")
    return (np.asarray(lower_counts, float) / lower_width_kev
            + np.asarray(upper_counts, float) / upper_width_kev) * peak_width_kev / 2.0


def primary_counts(view: PlanarView) -> np.ndarray:
    """Scatter-corrected photopeak counts per pixel, P = C_peak − S_TEW (may be < 0 with noise)."""
    w = view.windows
    scatter = tew_scatter(view.counts["lower"], view.counts["upper"], w["lower"].width_kev,
                          w["upper"].width_kev, w["peak"].width_kev)
    return view.counts["peak"] - scatter


def self_attenuation_factor(mu_per_cm: float, thickness_cm: float) -> float:
    """Source-thickness correction f = (μt/2) / sinh(μt/2) (1 for a thin source).

    For a uniform source of thickness t the conjugate-view mean of e^(−μx) over the source is
    sinh(μt/2)/(μt/2) times that of a point at its centre; f undoes it.
    """
    if mu_per_cm < 0 or thickness_cm < 0:
        raise InputError("μ and thickness must be ≥ 0", source="self-attenuation",
                         field="thickness_cm")
    x = mu_per_cm * thickness_cm / 2.0
    return 1.0 if x == 0 else float(x / np.sinh(x))


def conjugate_view_activity_mbq(
    anterior_cps: float,
    posterior_cps: float,
    *,
    mu_per_cm: float,
    body_thickness_cm: float,
    sensitivity_cps_per_mbq: float,
    source_thickness_cm: float = 0.0,
) -> float:
    """Conjugate-view activity A = sqrt(I_A · I_P / e^(−μT)) · f / C (MBq).

    Exact for a point source at any depth in a uniform attenuator of thickness T (the depth
    cancels in the geometric mean) and, with f, for a uniform slab source of thickness t.
    """
    if sensitivity_cps_per_mbq <= 0 or body_thickness_cm < 0 or mu_per_cm < 0:
        raise InputError("sensitivity must be > 0, thickness and μ ≥ 0",
                         source="conjugate view", field="sensitivity_cps_per_mbq")
    gm = np.sqrt(max(anterior_cps, 0.0) * max(posterior_cps, 0.0))
    transmission = np.exp(-mu_per_cm * body_thickness_cm)
    f = self_attenuation_factor(mu_per_cm, source_thickness_cm)
    return float(gm / np.sqrt(transmission) * f / sensitivity_cps_per_mbq)


def background_corrected_counts(
    roi_counts: float, n_roi_pixels: int, background_per_pixel: float, thickness_fraction: float
) -> float:
    """Kidney-ROI counts minus overlapping tissue: ΣP − n · b · (1 − t/T) (Buijs et al. 1998)."""
    if not 0.0 <= thickness_fraction <= 1.0:
        raise InputError(f"kidney/body thickness fraction must be in [0, 1], got "
                         f"{thickness_fraction}", source="background", field="thickness_fraction")
    return float(roi_counts - n_roi_pixels * background_per_pixel * (1.0 - thickness_fraction))


# -- geometry from SPECT/CT ------------------------------------------------------------------------
@dataclass
class KidneyProjection:
    """Per-column (z, x of the SPECT/CT grid) quantities along the antero-posterior axis.

    Attributes
    ----------
    kidney_thickness_mm, body_thickness_mm
        Path length through the kidney VOI and through the body (CT > −500 HU).
    kidney_activity, overlap_activity
        SPECT activity (any linear unit) summed along y inside the kidney VOI, and that of other
        structures hotter than the local background (excess over the background concentration,
        outside the kidney VOI dilated by ``margin_voxels``).
    """

    kidney_thickness_mm: np.ndarray
    body_thickness_mm: np.ndarray
    kidney_activity: np.ndarray
    overlap_activity: np.ndarray

    @property
    def footprint(self) -> np.ndarray:
        return self.kidney_thickness_mm > 0

    def mean_kidney_thickness_cm(self) -> float:
        """Mean path length through the kidney over its footprint = volume / projected area."""
        return float(self.kidney_thickness_mm[self.footprint].mean()) / 10.0

    def mean_body_thickness_cm(self) -> float:
        return float(self.body_thickness_mm[self.footprint].mean()) / 10.0


def kidney_projection(
    spect_activity: np.ndarray,
    kidney_mask: np.ndarray,
    ct_hu: np.ndarray,
    spacing_mm: tuple[float, float, float],
    *,
    margin_voxels: int = 2,
    shell_voxels: tuple[int, int] = (3, 5),
    hot_factor: float = 1.2,
    smooth_voxels: float = 1.5,
) -> KidneyProjection:
    """Column maps of one kidney (arrays indexed [z, y, x], y antero-posterior).

    The local background concentration is the median of the (smoothed, Gaussian σ =
    ``smooth_voxels``) SPECT in a shell ``shell_voxels`` voxels outside the kidney; other
    structures count as overlap (by their unsmoothed excess over the background) only where the
    smoothed image exceeds ``hot_factor`` times it, so the smooth background (handled by the
    background ROI) and noise are not counted.
    """
    dy = spacing_mm[1]
    kidney = kidney_mask.astype(bool)
    if not kidney.any():
        raise InputError("kidney VOI is empty", source="kidney projection", field="kidney_mask")
    near = ndimage.binary_dilation(kidney, iterations=margin_voxels)
    shell = (ndimage.binary_dilation(kidney, iterations=shell_voxels[1])
             & ~ndimage.binary_dilation(kidney, iterations=shell_voxels[0]))
    # Smoothed first: Poisson noise clipped at zero would otherwise add up to a spurious
    # "overlap" along every ray.
    smooth = ndimage.gaussian_filter(np.asarray(spect_activity, float), smooth_voxels)
    background = float(np.median(smooth[shell])) if shell.any() else 0.0
    hot = smooth > hot_factor * background
    excess = np.where(hot, np.asarray(spect_activity, float) - background, 0.0)
    body = ct_hu > BODY_HU_THRESHOLD
    return KidneyProjection(
        kidney_thickness_mm=kidney.sum(axis=1) * dy,
        body_thickness_mm=body.sum(axis=1) * dy,
        kidney_activity=np.where(kidney, spect_activity, 0.0).sum(axis=1),
        overlap_activity=np.where(near, 0.0, excess).sum(axis=1),
    )


def column_map_to_planar(
    map_zx: np.ndarray, reference: sitk.Image, view: PlanarView, *,
    order: Literal[0, 1, 2, 3, 4, 5] = 1
) -> np.ndarray:
    """Sample a map on the SPECT/CT (z, x) columns at the pixel centres of a planar view.

    Uses the planar ``ImagePositionPatient``/``ImageOrientationPatient`` (the detector plane in
    patient coordinates): pixel (r, c) lies at P = IPP + c·Δc·u_row + r·Δr·u_col; its x and z give
    the column. Pixels outside the SPECT/CT footprint get 0.
    """
    if view.image_position_mm is None or view.image_orientation is None:
        raise InputError(
            "the planar view has no ImagePositionPatient/ImageOrientationPatient in its "
            "DetectorInformationSequence; it cannot be related to the SPECT/CT",
            source=str(view.path), field="ImagePositionPatient",
        )
    rows, cols = view.counts["peak"].shape
    d_row, d_col = view.pixel_mm  # PixelSpacing: between rows, between columns
    u_row, u_col = view.image_orientation[:3], view.image_orientation[3:]
    r, c = np.mgrid[0:rows, 0:cols].astype(float)
    points = (view.image_position_mm[None, None, :]
              + c[..., None] * d_col * u_row[None, None, :]
              + r[..., None] * d_row * u_col[None, None, :])
    origin = np.asarray(reference.GetOrigin())
    spacing = np.asarray(reference.GetSpacing())
    direction = np.asarray(reference.GetDirection()).reshape(3, 3)
    index = np.linalg.solve(direction * spacing[None, :], (points - origin).reshape(-1, 3).T)
    ix, iz = index[0].reshape(rows, cols), index[2].reshape(rows, cols)
    return ndimage.map_coordinates(np.asarray(map_zx, float), np.stack([iz, ix]), order=order,
                                   mode="constant", cval=0.0)


def overlap_free_roi(
    kidney_roi: np.ndarray,
    overlap_ratio: np.ndarray,
    kidney_share: np.ndarray,
    *,
    max_overlap_ratio: float = 0.1,
    min_kidney_share: float = 0.25,
    min_fraction: float = 0.15,
) -> tuple[np.ndarray, bool]:
    """Kidney ROI pixels without hot overlapping structures.

    Keeps pixels of ``kidney_roi`` where the other structures' activity along the ray is at most
    ``max_overlap_ratio`` of the kidney's, and where the kidney column holds at least
    ``min_kidney_share`` of the kidney's maximum column activity (edge pixels are dominated by
    spill-in). Returns (mask, restricted); when fewer than ``min_fraction`` of the ROI's pixels
    survive, the whole ROI is returned with ``restricted = False`` (the caller flags it).
    """
    roi = kidney_roi.astype(bool)
    keep = roi & (overlap_ratio <= max_overlap_ratio) & (kidney_share >= min_kidney_share)
    if keep.sum() < min_fraction * roi.sum():
        return roi, False
    return keep, True


def roi_background_per_pixel(primary: np.ndarray, background_roi: np.ndarray) -> float:
    """Mean primary counts per pixel in the background ROI."""
    bg = background_roi.astype(bool)
    if not bg.any():
        raise InputError("background ROI is empty", source="planar ROI", field="background")
    return float(primary[bg].mean())


def mu_map_from_ct(
    ct_hu: np.ndarray, mu_water_per_cm: float, *, bone_slope_per_cm_per_hu: float | None = None
) -> np.ndarray:
    """Bilinear HU → μ conversion at the imaging energy (1/cm).

    Water branch μ = μ_w · (1 + HU/1000) for HU ≤ 0 (air 0, water μ_w); bone branch
    μ = μ_w + s · HU above, with s = 0.6 · μ_w / 1000 by default (bone's lower mass attenuation
    relative to its electron density at 208 keV; the breakpoint and slope are per-scanner inputs).
    """
    slope = 0.6 * mu_water_per_cm / 1000.0 if bone_slope_per_cm_per_hu is None else float(
        bone_slope_per_cm_per_hu)
    hu = np.asarray(ct_hu, float)
    mu = np.where(hu <= 0.0, mu_water_per_cm * (1.0 + hu / 1000.0), mu_water_per_cm + slope * hu)
    return np.clip(mu, 0.0, None)


@dataclass
class BackgroundWeights:
    """Attenuation-weighted path lengths per (z, x) column for each view (cm).

    ``tissue_<view>`` = Σ_y body · (1 − kidney) · e^(−τ_view(y)) · Δy over the column (tissue that
    overlaps the kidney), ``body_<view>`` the same over the whole body (for background ROI
    columns); τ_view(y) is the optical depth from voxel y to the body surface facing the view's
    detector. A uniform background of concentration c gives c · ε · weight counts per pixel in
    that view, so the background ROI calibrates c · ε and the kidney ROI's share follows.
    """

    tissue: dict[str, np.ndarray]
    body: dict[str, np.ndarray]


def background_weights(
    mu_per_cm: np.ndarray, body: np.ndarray, kidney: np.ndarray, dy_mm: float
) -> BackgroundWeights:
    """:class:`BackgroundWeights` from a μ map and masks indexed [z, y, x] (y: +posterior)."""
    tau = mu_per_cm * dy_mm / 10.0
    cum = np.cumsum(tau, axis=1)
    depth = {"anterior": cum - tau / 2.0, "posterior": cum[:, -1:, :] - cum + tau / 2.0}
    dy_cm = dy_mm / 10.0
    tissue, whole = {}, {}
    for view, d in depth.items():
        w = np.exp(-d) * dy_cm * body
        whole[view] = w.sum(axis=1)
        tissue[view] = np.where(kidney, 0.0, w).sum(axis=1)
    return BackgroundWeights(tissue, whole)


def weighted_background_counts(
    primary: np.ndarray,
    kidney_roi: np.ndarray,
    background_roi: np.ndarray,
    tissue_weight: np.ndarray,
    body_weight: np.ndarray,
) -> float:
    """Counts of overlapping background tissue in the kidney ROI of one view.

    β = Σ_bg P / Σ_bg W_body (counts per unit weighted path), background = β · Σ_roi W_tissue:
    the Buijs thickness correction done per view with the attenuation of each depth from the CT.
    """
    bg = background_roi.astype(bool)
    denominator = float(body_weight[bg].sum())
    if not bg.any() or denominator <= 0:
        raise InputError("background ROI has no body tissue under it", source="planar ROI",
                         field="background")
    beta = float(primary[bg].sum()) / denominator
    return beta * float(tissue_weight[kidney_roi.astype(bool)].sum())


# -- forward projection with the collimator response -----------------------------------------------
@dataclass(frozen=True)
class CollimatorResolution:
    """Geometric resolution of a parallel-hole collimator, FWHM(d) = fwhm_at_face_mm + slope · d.

    d is the distance (mm) from the collimator face. A camera/collimator characteristic (from the
    manufacturer's data sheet or a line-source measurement at two distances); the default,
    5 mm + 0.075·d (12.5 mm at 10 cm), is typical of a medium-energy collimator at 208 keV.
    """

    fwhm_at_face_mm: float = 5.0
    fwhm_slope: float = 0.075

    def __post_init__(self) -> None:
        if not (np.isfinite(self.fwhm_at_face_mm) and self.fwhm_at_face_mm > 0
                and np.isfinite(self.fwhm_slope) and self.fwhm_slope >= 0):
            raise InputError(f"collimator FWHM must be > 0 mm and its slope ≥ 0, got "
                             f"{self.fwhm_at_face_mm} mm + {self.fwhm_slope}·d",
                             source="options", field="planar_resolution")

    def fwhm_mm(self, distance_mm: np.ndarray | float) -> np.ndarray:
        return self.fwhm_at_face_mm + self.fwhm_slope * np.maximum(np.asarray(distance_mm), 0.0)


def project_to_view(
    volumes: dict[str, np.ndarray],
    mu_per_cm: np.ndarray,
    spacing_mm: tuple[float, float, float],
    y_mm: np.ndarray,
    face_y_mm: float,
    view: str,
    resolution: CollimatorResolution,
) -> dict[str, np.ndarray]:
    """Planar images (on the SPECT/CT (z, x) columns) of activity volumes indexed [z, y, x].

    For each plane y, the plane's activity times its transmission to the body surface facing the
    view's detector, e^(−τ_view(y)), is blurred by a 2-D Gaussian of FWHM(|y − face_y|) and the
    planes are summed:

        I_view(z, x) = Σ_y G_FWHM(d_y) ∗ [V(z, y, x) · e^(−τ_view(z, y, x))] · Δy.

    This is the primary (scatter-free) image per unit sensitivity, the same model as the
    conjugate-view formula plus the depth-dependent collimator blur; it is linear in V, so
    projecting a unit-concentration mask gives the counts per unit concentration of a uniform
    background (Δy in cm, result in concentration · cm).

    Parameters
    ----------
    volumes
        Name → array [z, y, x] (any linear activity unit per voxel).
    mu_per_cm
        Attenuation map at the imaging energy, same shape.
    spacing_mm
        (x, y, z) voxel spacing (SimpleITK order).
    y_mm
        Patient y coordinate of each y index (mm, increasing towards posterior).
    face_y_mm
        y coordinate of the collimator face (the planar view's detector position).
    view
        ``anterior`` (detector at −y) or ``posterior`` (+y).
    """
    if view not in ("anterior", "posterior"):
        raise InputError(f"view must be 'anterior' or 'posterior', got {view!r}",
                         source="planar projection", field="view")
    dx, dy, dz = (float(s) for s in spacing_mm)
    tau = mu_per_cm * dy / 10.0
    cum = np.cumsum(tau, axis=1)
    depth = cum - tau / 2.0 if view == "anterior" else cum[:, -1:, :] - cum + tau / 2.0
    transmission = np.exp(-depth)
    names = list(volumes)
    stack = np.stack([np.asarray(volumes[n], float) for n in names])
    out = np.zeros((len(names), stack.shape[1], stack.shape[3]))
    distance = np.abs(np.asarray(y_mm, float) - face_y_mm)
    fwhm = resolution.fwhm_mm(distance)
    to_sigma = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    for j in np.nonzero(stack.any(axis=(0, 1, 3)))[0]:
        plane = stack[:, :, j, :] * transmission[None, :, j, :]
        sigma = fwhm[j] * to_sigma
        out += ndimage.gaussian_filter(plane, (0.0, sigma / dz, sigma / dx), mode="constant",
                                       truncate=4.0)
    out *= dy / 10.0
    return {n: out[i] for i, n in enumerate(names)}


def hot_excess_volume(
    spect_activity: np.ndarray,
    kidney_mask: np.ndarray,
    tissue_mask: np.ndarray,
    *,
    margin_voxels: int = 2,
    slab_voxels: int = 5,
    hot_factor: float = 1.2,
    smooth_voxels: float = 1.5,
) -> tuple[np.ndarray, float]:
    """(Excess activity of hot structures other than this kidney, background concentration).

    The background concentration is the median of the smoothed SPECT (Gaussian σ =
    ``smooth_voxels``) over the soft tissue (``tissue_mask``, which should leave out the kidney
    VOIs) in the axial slab of the kidney ± ``slab_voxels`` slices: most of that tissue is muscle,
    fat and bowel, so the median is the blood/soft-tissue level even when the kidney lies against
    the liver or the spleen (a thin shell around the kidney would then measure the organ and hide
    it). Voxels whose smoothed value exceeds ``hot_factor`` times the background contribute their
    excess over it, outside the kidney dilated by ``margin_voxels``. Units of ``spect_activity`` per
    voxel.
    """
    kidney = kidney_mask.astype(bool)
    if not kidney.any():
        raise InputError("kidney VOI is empty", source="kidney projection", field="kidney_mask")
    near = ndimage.binary_dilation(kidney, iterations=margin_voxels)
    act = np.asarray(spect_activity, float)
    smooth = ndimage.gaussian_filter(act, smooth_voxels)
    z = np.nonzero(kidney.any(axis=(1, 2)))[0]
    slab = np.zeros_like(kidney)
    slab[max(z[0] - slab_voxels, 0):z[-1] + slab_voxels + 1] = True
    region = slab & tissue_mask.astype(bool) & ~near
    if not region.any():
        raise InputError("no soft tissue around the kidney to measure the background",
                         source="kidney projection", field="tissue_mask")
    background = float(np.median(smooth[region]))
    hot = (smooth > hot_factor * background) & ~near
    return np.where(hot, act - background, 0.0), background


def clean_background_roi(
    background_roi: np.ndarray,
    hot_counts: np.ndarray,
    background_counts: np.ndarray,
    *,
    max_hot_fraction: float,
    min_fraction: float = 0.25,
) -> tuple[np.ndarray, bool]:
    """Background ROI pixels where hot structures' spill adds at most ``max_hot_fraction`` of the
    tissue background (both predicted from the SPECT/CT at its time). Returns (mask, cleaned);
    when fewer than ``min_fraction`` of the pixels survive the ROI is returned whole."""
    bg = background_roi.astype(bool)
    keep = bg & (hot_counts <= max_hot_fraction * background_counts)
    if keep.sum() < min_fraction * bg.sum() or not keep.any():
        return bg, False
    return keep, True
