"""Planar (conjugate-view) gamma-camera images of a voxel activity map.

Model, per view (anterior detector in front of the patient, posterior detector behind):

* **Primary** photons: each voxel of activity A (MBq) contributes A · ε · exp(−∫μ dl) count/s to the
  photopeak, with ε the system sensitivity in air (cps/MBq, photopeak window) and the line integral
  of the 208 keV μ map taken along the ray parallel to the anterior–posterior axis, from the voxel
  centre to the body surface facing the detector (half of the voxel's own μ·Δy included).
* **Collimator blur**: the attenuated image of each voxel plane at distance d (mm) from the
  collimator face is convolved with a 2-D Gaussian of FWHM(d) = FWHM₀ + k·d (depth-dependent
  geometric resolution of a parallel-hole collimator).
* **Scatter** in the photopeak window: S = ζ · G_s ∗ (U − P), where U is the blurred image without
  attenuation, P the blurred primary image, ζ the fraction of attenuated (scattered) photons still
  detected in the photopeak and G_s a broad Gaussian (FWHM_s). There is no scatter in air.
* **Scatter windows**: the lower (166.4–187.2 keV) and upper (228.8–249.6 keV) windows hold
  C_low = 2·r·S·W_low/W_peak and C_up = 2·(1 − r)·S·W_up/W_peak, so that the triple-energy-window
  estimate (C_low/W_low + C_up/W_up)·W_peak/2 recovers S exactly on noise-free data (r = share of
  the estimate carried by the lower window, 0.85 by default: for 177Lu little lies above 229 keV).
* **Counts** = count rate × exposure time per pixel, Poisson-distributed (seeded) unless noise-free.
  For a whole-body scan the exposure time per pixel is the detector's axial field of view divided by
  the scan speed; it is written to DICOM ActualFrameDuration (ms).

Image orientation (matrix rows × columns, default 512 × 128 pixels of 4.8 mm = 2458 × 614 mm):
row 0 is at the head, rows run towards the feet. The **anterior** view is stored as seen from the
front (patient's right on the image left, columns run towards the patient's left: DICOM
PatientOrientation ``L\\F``); the **posterior** view as seen from behind (patient's left on the
image left, columns run towards the patient's right: ``R\\F``), i.e. mirrored with respect to the
anterior view. Flip the posterior image left–right (``np.fliplr``) before combining pixels of the
two views, e.g. for the geometric mean.

Not modelled: septal penetration, dead time, the 113 keV line's down-scatter, decay during the
acquisition (counts use the activity at the acquisition start; for a 4-min exposure and a 50 h
effective half-life the error is < 0.1 %), and activity outside the phantom grid (head and legs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import ndimage

from iluminet.errors import InputError
from iluminet.synthetic.virtual.phantom import Grid

View = Literal["anterior", "posterior"]
VIEWS: tuple[View, View] = ("anterior", "posterior")
FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


@dataclass(frozen=True)
class EnergyWindow:
    """An acquisition energy window (keV)."""

    name: str
    lower_kev: float
    upper_kev: float

    @property
    def width_kev(self) -> float:
        return self.upper_kev - self.lower_kev


#: 208 keV ± 10 % photopeak and the adjacent TEW scatter windows (ICRP-107; docs/references.md).
PHOTOPEAK = EnergyWindow("PEAK 208", 187.2, 228.8)
LOWER_SCATTER = EnergyWindow("SCATTER LOW", 166.4, 187.2)
UPPER_SCATTER = EnergyWindow("SCATTER UP", 228.8, 249.6)
WINDOWS: tuple[EnergyWindow, EnergyWindow, EnergyWindow] = (PHOTOPEAK, LOWER_SCATTER, UPPER_SCATTER)


def tew_scatter(
    lower_counts: np.ndarray,
    upper_counts: np.ndarray,
    lower: EnergyWindow = LOWER_SCATTER,
    upper: EnergyWindow = UPPER_SCATTER,
    peak: EnergyWindow = PHOTOPEAK,
) -> np.ndarray:
    """Triple-energy-window scatter estimate S = (C_low/W_low + C_up/W_up) · W_peak / 2."""
    return (
        (
            np.asarray(lower_counts, float) / lower.width_kev
            + np.asarray(upper_counts, float) / upper.width_kev
        )
        * peak.width_kev
        / 2.0
    )


@dataclass(frozen=True)
class PlanarCamera:
    """Dual-head camera with medium-energy parallel-hole collimators, planar mode.

    Attributes
    ----------
    sensitivity_cps_per_mbq
        Photopeak count rate per MBq for a source in air (≈ 6 cps/MBq for 177Lu, typical).
    fwhm_at_face_mm, fwhm_slope
        Collimator blur FWHM(d) = fwhm_at_face_mm + fwhm_slope · d, d in mm from the collimator face
        (5 mm + 0.075·d gives 12.5 mm at 10 cm).
    scatter_fraction
        ζ: fraction of the attenuated primary photons detected as photopeak scatter.
    scatter_fwhm_mm
        FWHM of the scatter spread kernel G_s.
    lower_window_share
        r: share of the TEW scatter estimate carried by the lower scatter window.
    body_gap_mm
        Distance between the body surface and each collimator face.
    scan_speed_mm_per_s, axial_fov_mm
        Whole-body scan speed and the detector's axial field of view: exposure per pixel =
        axial_fov_mm / scan_speed_mm_per_s (400 mm at 10 cm/min → 240 s).
    matrix_rows, matrix_columns, top_row
        Planar matrix (rows along the body axis) and the row of the phantom's most superior slice.
    """

    sensitivity_cps_per_mbq: float = 6.0
    fwhm_at_face_mm: float = 5.0
    fwhm_slope: float = 0.075
    scatter_fraction: float = 0.20
    scatter_fwhm_mm: float = 60.0
    lower_window_share: float = 0.85
    body_gap_mm: float = 30.0
    scan_speed_mm_per_s: float = 100.0 / 60.0
    axial_fov_mm: float = 400.0
    matrix_rows: int = 512
    matrix_columns: int = 128
    top_row: int = 48
    windows: tuple[EnergyWindow, EnergyWindow, EnergyWindow] = field(default=WINDOWS)

    def __post_init__(self) -> None:
        for name in (
            "sensitivity_cps_per_mbq",
            "fwhm_at_face_mm",
            "scatter_fwhm_mm",
            "scan_speed_mm_per_s",
            "axial_fov_mm",
        ):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise InputError(
                    f"{name} must be > 0, got {value}", source="planar camera", field=name
                )
        if not (
            0.0 <= self.scatter_fraction < 1.0
            and 0.0 <= self.lower_window_share <= 1.0
            and self.fwhm_slope >= 0
            and self.body_gap_mm >= 0
        ):
            raise InputError(
                "scatter_fraction must be in [0, 1), lower_window_share in [0, 1], "
                "fwhm_slope and body_gap_mm ≥ 0",
                source="planar camera",
                field="scatter_fraction",
            )

    @property
    def wholebody_exposure_s(self) -> float:
        """Exposure time of each pixel in a whole-body scan (s)."""
        return self.axial_fov_mm / self.scan_speed_mm_per_s

    def fwhm_mm(self, distance_mm: float | np.ndarray) -> float | np.ndarray:
        """Collimator FWHM at a distance from the collimator face (mm)."""
        return self.fwhm_at_face_mm + self.fwhm_slope * np.asarray(distance_mm)

    def as_dict(self) -> dict:
        return {
            "sensitivity_cps_per_mbq": self.sensitivity_cps_per_mbq,
            "sensitivity_definition": "photopeak count rate per MBq, point-like source in air",
            "fwhm_mm": f"{self.fwhm_at_face_mm} + {self.fwhm_slope} * distance_from_collimator_mm",
            "scatter_model": "S_peak = zeta * G_s * (U - P); C_low = 2 r S W_low/W_peak; "
            "C_up = 2 (1-r) S W_up/W_peak (TEW recovers S exactly without noise)",
            "scatter_fraction_zeta": self.scatter_fraction,
            "scatter_fwhm_mm": self.scatter_fwhm_mm,
            "lower_window_share_r": self.lower_window_share,
            "body_gap_mm": self.body_gap_mm,
            "scan_speed_mm_per_s": self.scan_speed_mm_per_s,
            "axial_fov_mm": self.axial_fov_mm,
            "wholebody_exposure_per_pixel_s": self.wholebody_exposure_s,
            "matrix_rows_columns": [self.matrix_rows, self.matrix_columns],
            "windows_kev": {w.name: [w.lower_kev, w.upper_kev] for w in self.windows},
            "orientation": "row 0 = head; anterior stored as seen from the front (columns towards "
            "patient left, PatientOrientation L\\F); posterior as seen from behind "
            "(columns towards patient right, R\\F): flip posterior left-right before "
            "pairing pixels",
        }


@dataclass
class PlanarImage:
    """One view's images (count rates in cps per pixel, or counts once acquired).

    ``primary`` and ``scatter`` are the noise-free photopeak components; ``peak``, ``lower`` and
    ``upper`` the three energy windows (noise-free rates or Poisson counts).
    """

    view: View
    primary: np.ndarray
    scatter: np.ndarray
    peak: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    exposure_s: float = 1.0
    is_counts: bool = False

    def windows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(photopeak, lower scatter, upper scatter) in the order of :data:`WINDOWS`."""
        return self.peak, self.lower, self.upper


class PlanarProjector:
    """Projects activity maps on a fixed attenuation map to one planar view.

    Parameters
    ----------
    mu_map_per_cm
        Linear attenuation coefficients at 208 keV (1/cm), array (nz, ny, nx) on ``grid``.
    grid
        The voxel grid; its x and z spacings must both equal the planar pixel size.
    camera
        Camera model.
    view
        ``"anterior"`` (detector on the −y side) or ``"posterior"`` (+y side).
    """

    def __init__(self, mu_map_per_cm: np.ndarray, grid: Grid, camera: PlanarCamera, view: View):
        if view not in VIEWS:
            raise InputError(
                f"view must be 'anterior' or 'posterior', got {view!r}",
                source="planar projection",
                field="view",
            )
        mu = np.asarray(mu_map_per_cm, dtype=np.float64)
        if mu.shape != grid.shape_zyx:
            raise InputError(
                f"μ map shape {mu.shape} differs from the grid {grid.shape_zyx}",
                source="planar projection",
                field="mu_map_per_cm",
            )
        if np.any(mu < 0) or not np.all(np.isfinite(mu)):
            raise InputError(
                "μ map must be finite and ≥ 0", source="planar projection", field="mu_map_per_cm"
            )
        dx, dy, dz = grid.spacing_mm
        if not np.isclose(dx, dz):
            raise InputError(
                f"planar pixels are square: grid x and z spacing must be equal, got "
                f"{dx} and {dz} mm",
                source="planar projection",
                field="spacing_mm",
            )
        nz, ny, nx = grid.shape_zyx
        self.grid, self.camera, self.view = grid, camera, view
        self.pixel_mm = float(dx)
        # Optical depth from each voxel centre to the surface facing the detector (half own voxel).
        tau = mu * (dy / 10.0)
        cum = np.cumsum(tau, axis=1)
        if view == "anterior":
            depth = cum - tau / 2.0
        else:
            depth = cum[:, -1:, :] - cum + tau / 2.0
        self.transmission = np.exp(-depth)
        # Collimator face: body_gap_mm beyond the outermost attenuating voxel (or the grid edge).
        _, y_mm, _ = grid.axes_mm()
        body_rows = np.nonzero((mu > 0.01).any(axis=(0, 2)))[0]
        if view == "anterior":
            surface = (y_mm[body_rows[0]] if body_rows.size else y_mm[0]) - dy / 2.0
            self.face_y_mm = surface - camera.body_gap_mm
            self.distance_mm = y_mm - self.face_y_mm
        else:
            surface = (y_mm[body_rows[-1]] if body_rows.size else y_mm[-1]) + dy / 2.0
            self.face_y_mm = surface + camera.body_gap_mm
            self.distance_mm = self.face_y_mm - y_mm
        sigma_max = float(np.max(camera.fwhm_mm(self.distance_mm))) * FWHM_TO_SIGMA / self.pixel_mm
        sigma_scatter = camera.scatter_fwhm_mm * FWHM_TO_SIGMA / self.pixel_mm
        self.pad = int(np.ceil(4.0 * max(sigma_max, sigma_scatter))) + 1
        # Placement on the planar matrix (head at row 0).
        self.col0 = (camera.matrix_columns - nx) // 2
        first = camera.top_row - self.pad
        last = camera.top_row + nz + self.pad
        if first < 0 or last > camera.matrix_rows or self.col0 < 0:
            raise InputError(
                f"the phantom ({nz} × {nx} pixels plus {self.pad} rows of blur margin) "
                f"does not fit the planar matrix {camera.matrix_rows} × "
                f"{camera.matrix_columns} at top_row {camera.top_row}",
                source="planar camera",
                field="matrix_rows",
            )

    # -- geometry -------------------------------------------------------------------------------
    def footprint_to_matrix(self, image_zx: np.ndarray, pad: int = 0) -> np.ndarray:
        """Place an image on the grid's (z, x) footprint (rows = z index ascending, optionally
        padded by ``pad`` rows on both ends) into this view's planar matrix orientation."""
        cam = self.camera
        out = np.zeros((cam.matrix_rows, cam.matrix_columns), dtype=np.float64)
        flipped = image_zx[::-1, :]  # head (largest z) first
        nz_p, nx = flipped.shape
        r0 = cam.top_row - pad
        out[r0 : r0 + nz_p, self.col0 : self.col0 + nx] = flipped
        if self.view == "posterior":
            out = out[:, ::-1]
        return out

    def matrix_position(self, z_index: float, x_index: float) -> tuple[float, float]:
        """(row, column) on the planar matrix of a voxel position (fractional indices allowed)."""
        nz = self.grid.shape_zyx[0]
        row = self.camera.top_row + (nz - 1 - z_index)
        col = self.col0 + x_index
        if self.view == "posterior":
            col = self.camera.matrix_columns - 1 - col
        return float(row), float(col)

    def image_plane(self) -> tuple[list[float], list[float]]:
        """(ImagePositionPatient, ImageOrientationPatient) of the planar matrix in patient
        coordinates: the centre of pixel (0, 0) on the collimator face, and the directions of
        increasing column (+x anterior, −x posterior) and increasing row (−z, towards the feet)."""
        x0, _, z0 = self.grid.origin_mm
        dx, _, dz = self.grid.spacing_mm
        nz = self.grid.shape_zyx[0]
        z_top = z0 + (nz - 1 + self.camera.top_row) * dz
        if self.view == "anterior":
            x_first, row_dir = x0 - self.col0 * dx, [1.0, 0.0, 0.0]
        else:
            x_first = x0 + (self.camera.matrix_columns - 1 - self.col0) * dx
            row_dir = [-1.0, 0.0, 0.0]
        return [float(x_first), float(self.face_y_mm), float(z_top)], [*row_dir, 0.0, 0.0, -1.0]

    # -- projection -----------------------------------------------------------------------------
    def project_rates(self, activity_mbq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Noise-free photopeak primary and unattenuated count rates (cps per pixel) on the padded
        (z, x) footprint, both blurred by the depth-dependent collimator response."""
        act = np.asarray(activity_mbq, dtype=np.float64)
        if act.shape != self.grid.shape_zyx:
            raise InputError(
                f"activity map shape {act.shape} differs from the grid {self.grid.shape_zyx}",
                source="planar projection",
                field="activity_mbq",
            )
        if np.any(act < 0) or not np.all(np.isfinite(act)):
            raise InputError(
                "activity must be finite and ≥ 0 MBq",
                source="planar projection",
                field="activity_mbq",
            )
        nz, ny, nx = act.shape
        p = self.pad
        primary = np.zeros((nz + 2 * p, nx))
        unattenuated = np.zeros_like(primary)
        eps = self.camera.sensitivity_cps_per_mbq
        slab = np.zeros((2, nz + 2 * p, nx))
        for j in np.nonzero(act.any(axis=(0, 2)))[0]:
            slab[:] = 0.0
            slab[0, p : p + nz] = act[:, j, :] * self.transmission[:, j, :]
            slab[1, p : p + nz] = act[:, j, :]
            sigma = float(self.camera.fwhm_mm(self.distance_mm[j])) * FWHM_TO_SIGMA / self.pixel_mm
            blurred = ndimage.gaussian_filter(
                slab, sigma=(0.0, sigma, sigma), mode="constant", truncate=4.0
            )
            primary += blurred[0]
            unattenuated += blurred[1]
        return primary * eps, unattenuated * eps

    def image(
        self, activity_mbq: np.ndarray, exposure_s: float, rng: np.random.Generator | None = None
    ) -> PlanarImage:
        """Counts in the three windows for an exposure of ``exposure_s`` per pixel.

        With ``rng`` the windows hold Poisson counts (the components ``primary`` and ``scatter``
        stay the noise-free expectations); without it, noise-free expected counts (floats).
        """
        if not (np.isfinite(exposure_s) and exposure_s > 0):
            raise InputError(
                f"exposure must be > 0 s, got {exposure_s}",
                source="planar projection",
                field="exposure_s",
            )
        cam = self.camera
        primary_fp, unatt_fp = self.project_rates(activity_mbq)
        sigma_s = cam.scatter_fwhm_mm * FWHM_TO_SIGMA / self.pixel_mm
        scatter_fp = cam.scatter_fraction * ndimage.gaussian_filter(
            np.clip(unatt_fp - primary_fp, 0.0, None), sigma_s, mode="constant", truncate=4.0
        )
        peak_w, low_w, up_w = cam.windows
        r = cam.lower_window_share
        primary = self.footprint_to_matrix(primary_fp, self.pad) * exposure_s
        scatter = self.footprint_to_matrix(scatter_fp, self.pad) * exposure_s
        lower = 2.0 * r * scatter * low_w.width_kev / peak_w.width_kev
        upper = 2.0 * (1.0 - r) * scatter * up_w.width_kev / peak_w.width_kev
        peak = primary + scatter
        if rng is not None:
            peak, lower, upper = (rng.poisson(x).astype(np.float64) for x in (peak, lower, upper))
        return PlanarImage(
            self.view,
            primary,
            scatter,
            peak,
            lower,
            upper,
            float(exposure_s),
            is_counts=rng is not None,
        )


def conjugate_view_pair(
    mu_map_per_cm: np.ndarray, grid: Grid, camera: PlanarCamera
) -> dict[View, PlanarProjector]:
    """Anterior and posterior projectors for one attenuation map."""
    return {view: PlanarProjector(mu_map_per_cm, grid, camera, view) for view in VIEWS}
