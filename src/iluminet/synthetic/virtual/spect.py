"""Reconstructed SPECT images: the true activity blurred by the system resolution, in counts.

The reconstruction is taken to be fully corrected for attenuation and scatter (as an OSEM
reconstruction with CT-based attenuation and TEW scatter correction converges to), but not for
resolution: the image is the true activity map convolved with an isotropic 3-D Gaussian of FWHM
``fwhm_mm`` (≈ 11 mm for 177Lu with medium-energy collimators). Voxel values are counts for the
whole acquisition:

    N_v = ε_SPECT · T_acq · (G ∗ A)_v,   A in MBq per voxel,

with ε_SPECT the tomographic sensitivity (cps/MBq) and T_acq the acquisition duration (s). The
calibration factor that converts a count rate back to activity is therefore

    CF = 10⁶ / ε_SPECT   (Bq per count/s),   A_v (Bq) = CF · N_v / T_acq.

Noise: independent Poisson per voxel (a simplification: reconstructed noise is spatially
correlated). Counts are at the acquisition start (no decay correction; decay during a 20 min
acquisition is < 0.5 % for a 50 h effective half-life and is not modelled).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from iluminet.errors import InputError
from iluminet.synthetic.virtual.phantom import Grid
from iluminet.synthetic.virtual.planar import FWHM_TO_SIGMA


@dataclass(frozen=True)
class SpectCamera:
    """Tomographic acquisition and reconstruction parameters.

    Attributes
    ----------
    sensitivity_cps_per_mbq
        Counts per second per MBq in the reconstructed (corrected) image.
    fwhm_mm
        System resolution of the reconstructed image (isotropic Gaussian).
    projections, seconds_per_projection, detectors
        Acquisition: projections in total (over all heads) and time per projection; the acquisition
        lasts projections / detectors × seconds_per_projection.
    """

    sensitivity_cps_per_mbq: float = 10.0
    fwhm_mm: float = 11.0
    projections: int = 120
    seconds_per_projection: float = 20.0
    detectors: int = 2

    def __post_init__(self) -> None:
        for name in ("sensitivity_cps_per_mbq", "fwhm_mm", "seconds_per_projection"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise InputError(
                    f"{name} must be > 0, got {value}", source="SPECT camera", field=name
                )
        if self.projections < 1 or self.detectors < 1 or self.projections % self.detectors:
            raise InputError(
                "projections must be a positive multiple of the number of detectors",
                source="SPECT camera",
                field="projections",
            )

    @property
    def acquisition_duration_s(self) -> float:
        """T_acq = projections per detector × seconds per projection."""
        return self.projections / self.detectors * self.seconds_per_projection

    @property
    def calibration_factor_bq_per_cps(self) -> float:
        """CF = 10⁶ / ε (Bq per count/s): A_v (Bq) = CF · N_v / T_acq."""
        return 1e6 / self.sensitivity_cps_per_mbq

    def as_dict(self) -> dict:
        return {
            "sensitivity_cps_per_mbq": self.sensitivity_cps_per_mbq,
            "fwhm_mm": self.fwhm_mm,
            "projections": self.projections,
            "seconds_per_projection": self.seconds_per_projection,
            "detectors": self.detectors,
            "acquisition_duration_s": self.acquisition_duration_s,
            "calibration_factor_bq_per_cps": self.calibration_factor_bq_per_cps,
            "voxel_value": "counts over the whole acquisition: N = sensitivity * T_acq * (G * A); "
            "activity (Bq) = calibration_factor_bq_per_cps * N / T_acq",
            "corrections": "attenuation and scatter fully corrected; resolution not corrected; "
            "no decay correction (activity at acquisition start)",
        }


def reconstructed_counts(
    activity_mbq: np.ndarray,
    grid: Grid,
    camera: SpectCamera,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Reconstructed SPECT image in counts (float64 expectations; Poisson counts with ``rng``)."""
    act = np.asarray(activity_mbq, dtype=np.float64)
    if act.shape != grid.shape_zyx:
        raise InputError(
            f"activity map shape {act.shape} differs from the grid {grid.shape_zyx}",
            source="SPECT simulation",
            field="activity_mbq",
        )
    if np.any(act < 0) or not np.all(np.isfinite(act)):
        raise InputError(
            "activity must be finite and ≥ 0 MBq", source="SPECT simulation", field="activity_mbq"
        )
    dx, dy, dz = grid.spacing_mm
    sigma_vox = tuple(camera.fwhm_mm * FWHM_TO_SIGMA / s for s in (dz, dy, dx))
    blurred = ndimage.gaussian_filter(act, sigma=sigma_vox, mode="constant", truncate=4.0)
    expected = (
        np.clip(blurred, 0.0, None) * camera.sensitivity_cps_per_mbq * camera.acquisition_duration_s
    )
    if rng is None:
        return expected
    return rng.poisson(expected).astype(np.float64)
