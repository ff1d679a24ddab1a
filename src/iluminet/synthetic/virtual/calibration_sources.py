"""Calibration acquisitions: a planar source in air and a SPECT phantom with spheres.

* **Planar sensitivity**: a thin disc source (Petri dish, 50 mm diameter, 4.8 mm thick) of known
  activity midway between the two heads, in air; a static acquisition gives
  sensitivity = counts / (exposure · activity) in cps/MBq.
* **SPECT phantom**: a water-filled cylinder (200 mm diameter, 200 mm long) with six hot spheres of
  the NEMA IEC body-phantom diameters (10, 13, 17, 22, 28, 37 mm) plus a 60 mm sphere of kidney-like
  size, sphere-to-background concentration ratio 10:1. Sphere activity is voxelised with partial
  volume (5 × 5 × 5 sub-samples per voxel), so the true activity in each sphere is the analytic
  volume × concentration to within the sub-sampling error. The truth gives the calibration factor
  and the recovery coefficient of each sphere: RC = mean reconstructed concentration in the
  sphere's voxel-centre VOI / true concentration, from the noise-free image.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from iluminet.errors import InputError
from iluminet.synthetic.virtual.phantom import Ellipsoid, Grid
from iluminet.synthetic.virtual.planar import (
    VIEWS,
    PlanarCamera,
    PlanarImage,
    PlanarProjector,
    View,
)
from iluminet.synthetic.virtual.spect import SpectCamera, reconstructed_counts

NEMA_SPHERE_DIAMETERS_MM: tuple[float, ...] = (10.0, 13.0, 17.0, 22.0, 28.0, 37.0, 60.0)


@dataclass
class PlanarSourceAcquisition:
    """A static planar acquisition of a source in air (both heads)."""

    activity_mbq: float
    exposure_s: float
    images: dict[View, PlanarImage]
    camera: PlanarCamera
    pixel_mm: float = 4.8
    image_planes: dict[View, tuple[list[float], list[float]]] = field(default_factory=dict)

    def measured_sensitivity_cps_per_mbq(self, view: View = "anterior") -> float:
        """Photopeak counts / (exposure · activity)."""
        return float(self.images[view].peak.sum()) / (self.exposure_s * self.activity_mbq)


def planar_source_in_air(
    activity_mbq: float,
    exposure_s: float,
    camera: PlanarCamera,
    rng: np.random.Generator | None = None,
    *,
    pixel_mm: float = 4.8,
    diameter_mm: float = 50.0,
) -> PlanarSourceAcquisition:
    """Static planar acquisition (128 × 128 matrix) of a disc source in air."""
    if not (np.isfinite(activity_mbq) and activity_mbq > 0):
        raise InputError(
            f"source activity must be > 0 MBq, got {activity_mbq}",
            source="planar calibration",
            field="activity_mbq",
        )
    nx = 64
    grid = Grid.centred((32, 21, nx), pixel_mm)
    x, y, z = grid.mesh_mm()
    disc = ((x**2 + z**2) <= (diameter_mm / 2.0) ** 2) & (np.abs(y) < pixel_mm / 2.0)
    disc = np.broadcast_to(disc, grid.shape_zyx)
    activity = np.where(disc, activity_mbq / disc.sum(), 0.0)
    static = replace(camera, matrix_rows=128, matrix_columns=128, top_row=(128 - 32) // 2)
    mu = np.zeros(grid.shape_zyx)
    projectors = {view: PlanarProjector(mu, grid, static, view) for view in VIEWS}
    images = {view: proj.image(activity, exposure_s, rng) for view, proj in projectors.items()}
    planes = {view: proj.image_plane() for view, proj in projectors.items()}
    return PlanarSourceAcquisition(
        float(activity_mbq), float(exposure_s), images, static, float(pixel_mm), planes
    )


@dataclass
class SpectPhantom:
    """A cylinder with hot spheres on a voxel grid, and its simulated reconstruction."""

    grid: Grid
    activity_mbq: np.ndarray
    hu: np.ndarray
    mu_per_cm: np.ndarray
    sphere_labels: np.ndarray
    spheres: list[dict] = field(default_factory=list)
    background_concentration_mbq_per_ml: float = 0.0
    cylinder_volume_ml: float = 0.0


def _fractional_occupancy(shape: Ellipsoid, grid: Grid, sub: int = 5) -> np.ndarray:
    """Fraction of each voxel inside ``shape`` from sub × sub × sub sample points."""
    dx, dy, dz = grid.spacing_mm
    x, y, z = grid.axes_mm()
    frac = np.zeros(grid.shape_zyx)
    (cx, cy, cz), (ax, ay, az) = shape.centre_mm, shape.semi_axes_mm
    sel = [
        np.nonzero(np.abs(c - cc) <= a + s)[0]
        for c, cc, a, s in ((x, cx, ax, dx), (y, cy, ay, dy), (z, cz, az, dz))
    ]
    if any(s.size == 0 for s in sel):
        return frac
    offs = (np.arange(sub) + 0.5) / sub - 0.5
    xs = (x[sel[0]][:, None] + offs[None, :] * dx).ravel()
    ys = (y[sel[1]][:, None] + offs[None, :] * dy).ravel()
    zs = (z[sel[2]][:, None] + offs[None, :] * dz).ravel()
    inside = shape.contains(xs[None, None, :], ys[None, :, None], zs[:, None, None])
    nzs, nys, nxs = len(sel[2]), len(sel[1]), len(sel[0])
    block = inside.reshape(nzs, sub, nys, sub, nxs, sub).mean(axis=(1, 3, 5))
    frac[np.ix_(sel[2], sel[1], sel[0])] = block
    return frac


def spect_phantom(
    background_concentration_mbq_per_ml: float = 0.05,
    sphere_ratio: float = 10.0,
    *,
    grid: Grid | None = None,
    diameters_mm: tuple[float, ...] = NEMA_SPHERE_DIAMETERS_MM,
) -> SpectPhantom:
    """Cylinder (Ø 200 mm × 200 mm, water) with hot spheres on a ring in the central slice."""
    if not (background_concentration_mbq_per_ml > 0 and sphere_ratio > 0):
        raise InputError(
            "concentrations must be > 0",
            source="SPECT phantom",
            field="background_concentration_mbq_per_ml",
        )
    grid = grid or Grid.centred((56, 64, 64), 4.8)
    x, y, z = grid.mesh_mm()
    cylinder = np.broadcast_to((x**2 + y**2 <= 100.0**2) & (np.abs(z) <= 100.0), grid.shape_zyx)
    voxel_ml = grid.voxel_volume_ml
    c_bg = float(background_concentration_mbq_per_ml)
    c_sph = c_bg * float(sphere_ratio)
    occupied = np.zeros(grid.shape_zyx)
    activity = np.where(cylinder, c_bg * voxel_ml, 0.0)
    labels = np.zeros(grid.shape_zyx, dtype=np.uint8)
    spheres = []
    n = len(diameters_mm)
    for idx, diameter in enumerate(diameters_mm):
        angle = 2.0 * np.pi * idx / n
        ring = 60.0 if diameter < 50 else 0.0  # the large sphere sits in the centre
        centre = (ring * np.cos(angle), ring * np.sin(angle), 0.0 if diameter < 50 else 55.0)
        shape = Ellipsoid(centre, (diameter / 2.0,) * 3)
        frac = _fractional_occupancy(shape, grid)
        occupied += frac
        activity += frac * (c_sph - c_bg) * voxel_ml
        voi = shape.contains(x, y, z)
        labels[voi] = idx + 1
        spheres.append(
            {
                "label": idx + 1,
                "diameter_mm": float(diameter),
                "centre_xyz_mm": [float(c) for c in centre],
                "volume_ml": shape.volume_ml,
                "voxelised_volume_ml": float(frac.sum() * voxel_ml),
                "voi_voxels": int(voi.sum()),
                "concentration_mbq_per_ml": c_sph,
                "activity_mbq": float(frac.sum() * voxel_ml * c_sph),
            }
        )
    if occupied.max() > 1.0 + 1e-9:
        raise InputError("spheres overlap", source="SPECT phantom", field="diameters_mm")
    hu = np.where(cylinder, 0.0, -1000.0)
    mu = np.where(cylinder, 0.1350, 0.0)
    return SpectPhantom(
        grid, activity, hu, mu, labels, spheres, c_bg, float(cylinder.sum() * voxel_ml)
    )


def spect_phantom_truth(phantom: SpectPhantom, camera: SpectCamera) -> dict:
    """Calibration factor and recovery coefficients from the noise-free reconstruction."""
    counts = reconstructed_counts(phantom.activity_mbq, phantom.grid, camera)
    voxel_ml = phantom.grid.voxel_volume_ml
    to_mbq_per_ml = (
        camera.calibration_factor_bq_per_cps / 1e6 / camera.acquisition_duration_s / voxel_ml
    )
    spheres = []
    for sphere in phantom.spheres:
        voi = phantom.sphere_labels == sphere["label"]
        measured = float(counts[voi].mean()) * to_mbq_per_ml if voi.any() else float("nan")
        spheres.append(
            {**sphere, "recovery_coefficient_mean": measured / sphere["concentration_mbq_per_ml"]}
        )
    return {
        "total_activity_mbq": float(phantom.activity_mbq.sum()),
        "background_concentration_mbq_per_ml": phantom.background_concentration_mbq_per_ml,
        "cylinder_volume_ml": phantom.cylinder_volume_ml,
        "spheres": spheres,
        "recovery_definition": "mean reconstructed concentration in the voxel-centre sphere VOI "
        "(label map spheres.nii.gz) / true concentration, noise-free image",
        "camera": camera.as_dict(),
    }
