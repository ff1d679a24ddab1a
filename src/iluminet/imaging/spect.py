"""SPECT kidney quantification: calibrated activity in a VOI with recovery correction.

Voxel activity (MBq) = N_v / T_acq · CF / 10⁶, with N_v the reconstructed counts, T_acq the
acquisition duration (s) and CF the calibration factor (Bq per count/s) from the phantom.

Partial volume: the reconstruction is blurred by the system resolution (modelled as an isotropic
Gaussian of FWHM w, fitted to the phantom spheres' recovery, :class:`RecoveryCurve`). For a uniform
object in a uniform background of concentration c_b, the counts in the object's VOI are

    M = RC · A + c_b · V · (1 − RC),

RC the fraction of the object's own counts that stay in its VOI (spill-out) and the second term the
background's spill-in. Hence A = (M − c_b · V · (1 − RC)) / RC, with c_b the median concentration in
a shell 1.3–2.2 FWHM outside the VOI. RC is taken either from the sphere curve at the VOI's volume
(``"volume_curve"``) or, the default, from the VOI's own shape blurred by the fitted Gaussian
(``"voi_shape"``: an elongated kidney loses more than a sphere of equal volume).

Concentration alternative (small VOIs): the mean concentration in spheres of radius r placed where
the kidney is thickest (centres at least r + FWHM from the VOI surface), where partial-volume loss
is small; dose rate = concentration × E_e / density (local deposition).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate, ndimage, optimize, special

from iluminet.errors import InputError

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def activity_image_mbq(
    counts: np.ndarray, acquisition_duration_s: float, calibration_factor_bq_per_cps: float
) -> np.ndarray:
    """MBq per voxel: A_v = N_v / T_acq · CF / 10⁶."""
    if not (acquisition_duration_s > 0 and calibration_factor_bq_per_cps > 0):
        raise InputError("acquisition duration and calibration factor must be > 0",
                         source="SPECT", field="calibration_factor_bq_per_cps")
    return np.asarray(counts, float) / acquisition_duration_s * calibration_factor_bq_per_cps / 1e6


def sphere_recovery(volume_ml: float, fwhm_mm: float) -> float:
    """Mean of a uniform sphere blurred by a 3-D Gaussian, over the sphere (RC, 0–1).

    With σ = FWHM/2.355 and R the radius, the blurred value at radius r is
    g(r) = ½[erf(a) + erf(b)] − σ/(r√(2π)) · (e^(−a²) − e^(−b²)), a = (R−r)/(σ√2),
    b = (R+r)/(σ√2); RC = 3/R³ ∫₀^R g(r) r² dr (numerical quadrature).
    """
    if not (volume_ml > 0 and fwhm_mm > 0):
        raise InputError("volume and FWHM must be > 0", source="recovery", field="volume_ml")
    radius = (3.0 * volume_ml * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)
    sigma = fwhm_mm * FWHM_TO_SIGMA

    def g(r: float) -> float:
        r = max(r, 1e-9 * radius)
        a = (radius - r) / (sigma * np.sqrt(2.0))
        b = (radius + r) / (sigma * np.sqrt(2.0))
        return float(0.5 * (special.erf(a) + special.erf(b))
                     - sigma / (r * np.sqrt(2.0 * np.pi)) * (np.exp(-a * a) - np.exp(-b * b)))

    value, _ = integrate.quad(lambda r: g(r) * r * r, 0.0, radius, limit=200)
    return float(3.0 * value / radius**3)


def voi_recovery(mask: np.ndarray, spacing_mm: tuple[float, float, float], fwhm_mm: float) -> float:
    """RC of a uniform object filling ``mask`` (array [z, y, x], spacing (x, y, z) in mm)."""
    m = np.asarray(mask, bool)
    if not m.any():
        raise InputError("VOI is empty", source="recovery", field="mask")
    sigma = tuple(fwhm_mm * FWHM_TO_SIGMA / s for s in (spacing_mm[2], spacing_mm[1],
                                                         spacing_mm[0]))
    blurred = ndimage.gaussian_filter(m.astype(float), sigma, mode="constant", truncate=4.0)
    return float(blurred[m].mean())


class RecoveryCurve:
    """RC(volume) of spheres, fitted as a Gaussian system resolution.

    ``fit(volume_ml, rc)`` least-squares fits the FWHM w of :func:`sphere_recovery` to measured
    contrast recovery coefficients; ``predict(volume_ml)`` gives RC for any volume and
    ``for_voi(mask, spacing)`` the RC of a VOI's own shape.

    Attributes (after ``fit``)
    --------------------------
    fwhm_mm_ : float
    residuals_ : ndarray, measured − fitted RC
    """

    def __init__(self, fwhm_mm: float | None = None) -> None:
        self.fwhm_mm_ = fwhm_mm
        self.residuals_: np.ndarray | None = None
        self.volume_ml_: np.ndarray | None = None
        self.rc_: np.ndarray | None = None

    def fit(self, volume_ml: np.ndarray, rc: np.ndarray) -> RecoveryCurve:
        v = np.asarray(volume_ml, float)
        y = np.asarray(rc, float)
        if v.shape != y.shape or v.size < 2 or np.any(v <= 0) or not np.all(np.isfinite(y)):
            raise InputError("need ≥ 2 spheres with volume > 0 and finite RC",
                             source="recovery curve", field="volume_ml")

        def residual(w: np.ndarray) -> np.ndarray:
            return np.array([sphere_recovery(vi, float(w[0])) for vi in v]) - y

        sol = optimize.least_squares(residual, x0=[10.0], bounds=([0.5], [100.0]))
        self.fwhm_mm_ = float(sol.x[0])
        self.volume_ml_, self.rc_ = v, y
        self.residuals_ = -sol.fun
        return self

    def _require(self) -> float:
        if self.fwhm_mm_ is None:
            raise InputError("recovery curve is not fitted", source="recovery curve",
                             field="fwhm_mm")
        return self.fwhm_mm_

    def predict(self, volume_ml: float | np.ndarray) -> np.ndarray:
        w = self._require()
        return np.array([sphere_recovery(float(v), w) for v in np.atleast_1d(volume_ml)])

    def for_voi(self, mask: np.ndarray, spacing_mm: tuple[float, float, float]) -> float:
        return voi_recovery(mask, spacing_mm, self._require())


def distance_shell(mask: np.ndarray, spacing_mm: tuple[float, float, float], inner_mm: float,
                   outer_mm: float) -> np.ndarray:
    """Voxels whose distance from ``mask`` lies in (inner_mm, outer_mm] (array [z, y, x])."""
    m = np.asarray(mask, bool)
    sx, sy, sz = spacing_mm
    pad = [int(np.ceil(outer_mm / s)) + 1 for s in (sz, sy, sx)]
    idx = np.nonzero(m)
    box = tuple(slice(max(int(i.min()) - p, 0), min(int(i.max()) + p + 1, n))
                for i, p, n in zip(idx, pad, m.shape))
    dist = ndimage.distance_transform_edt(~m[box], sampling=(sz, sy, sx))
    out = np.zeros_like(m)
    out[box] = (dist > inner_mm) & (dist <= outer_mm)
    return out


@dataclass(frozen=True)
class VoiActivity:
    """SPECT activity of one VOI and its corrections."""

    voi_activity_mbq: float          # calibrated activity inside the VOI, uncorrected
    volume_ml: float
    background_mbq_per_ml: float     # local background concentration (shell median)
    recovery_coefficient: float
    activity_mbq: float              # recovery- and spill-in-corrected
    mean_concentration_mbq_per_ml: float


def voi_activity(
    activity_mbq: np.ndarray,
    mask: np.ndarray,
    spacing_mm: tuple[float, float, float],
    recovery: RecoveryCurve,
    *,
    method: str = "voi_shape",
    shell_fwhm: tuple[float, float] = (1.3, 2.2),
    exclude: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> VoiActivity:
    """Recovery-corrected activity A = (M − c_b·V·(1 − RC)) / RC of the object in ``mask``.

    The background c_b is the median concentration in a shell between ``shell_fwhm`` times the
    fitted FWHM from the VOI surface (beyond the object's own blur). ``exclude``: voxels not to
    use for the shell (e.g. the other kidney). ``weights``: the share of each voxel inside the VOI
    (0–1; a VOI drawn on another grid), so that M = Σ w·a and V = Σ w·v; the binary ``mask``
    still defines the shell and the VOI's shape for the recovery.
    """
    m = np.asarray(mask, bool)
    if not m.any():
        raise InputError("VOI is empty", source="SPECT VOI", field="mask")
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    if weights is None:
        volume = float(m.sum()) * voxel_ml
        total = float(activity_mbq[m].sum())
    else:
        w = np.asarray(weights, float)
        volume = float(w.sum()) * voxel_ml
        total = float((activity_mbq * w).sum())
    shell = distance_shell(m, spacing_mm, *(f * recovery._require() for f in shell_fwhm))
    if exclude is not None:
        shell &= ~np.asarray(exclude, bool)
    background = float(np.median(activity_mbq[shell])) / voxel_ml if shell.any() else 0.0
    if method == "voi_shape":
        rc = recovery.for_voi(m, spacing_mm)
    elif method == "volume_curve":
        rc = float(recovery.predict(volume)[0])
    elif method == "none":
        rc, background = 1.0, 0.0
    else:
        raise InputError(f"unknown recovery method {method!r}; expected voi_shape, volume_curve "
                         f"or none", source="SPECT VOI", field="recovery_method")
    corrected = (total - background * volume * (1.0 - rc)) / rc
    return VoiActivity(total, volume, background, rc, corrected, corrected / volume)


def small_voi_concentration(
    activity_mbq: np.ndarray,
    mask: np.ndarray,
    spacing_mm: tuple[float, float, float],
    *,
    radius_mm: float = 7.5,
    margin_mm: float = 5.0,
    n_vois: int = 3,
) -> tuple[float, list[tuple[int, int, int]]]:
    """Mean activity concentration (MBq/ml) in small spherical VOIs well inside the kidney.

    Centres are the ``n_vois`` hottest voxels (after smoothing over the sphere) whose distance
    to the VOI surface is at least ``radius_mm + margin_mm``, at least one diameter apart; falls
    back to the deepest voxels if none qualify. Returns (concentration, centres [z, y, x]).
    """
    m = np.asarray(mask, bool)
    if not m.any():
        raise InputError("VOI is empty", source="small VOIs", field="mask")
    sx, sy, sz = spacing_mm
    depth = ndimage.distance_transform_edt(m, sampling=(sz, sy, sx))
    zz, yy, xx = np.mgrid[-8:9, -8:9, -8:9]
    ball = (xx * sx) ** 2 + (yy * sy) ** 2 + (zz * sz) ** 2 <= radius_mm**2
    ball = ball[(slice(None),) * 3]
    mean = ndimage.convolve(activity_mbq, ball.astype(float) / ball.sum(), mode="constant")
    allowed = depth >= radius_mm + margin_mm
    if not allowed.any():
        allowed = depth >= depth.max()
    order = np.argsort(np.where(allowed, mean, -np.inf), axis=None)[::-1]
    centres: list[tuple[int, int, int]] = []
    for flat in order:
        idx = np.unravel_index(flat, m.shape)
        if not allowed[idx]:
            break
        p = np.array(idx) * np.array([sz, sy, sx])
        if all(np.linalg.norm(p - np.array(c) * np.array([sz, sy, sx])) >= 2 * radius_mm
               for c in centres):
            centres.append((int(idx[0]), int(idx[1]), int(idx[2])))
        if len(centres) == n_vois:
            break
    voxel_ml = sx * sy * sz / 1000.0
    conc = float(np.mean([mean[c] for c in centres])) / voxel_ml
    return conc, centres
