"""Known-answer and property tests of each correction (hand-computable cases)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from iluminet.errors import InputError
from iluminet.imaging.hybrid import interpolate_log_linear
from iluminet.imaging.planar import (
    CollimatorResolution,
    background_corrected_counts,
    background_weights,
    clean_background_roi,
    conjugate_view_activity_mbq,
    hot_excess_volume,
    mu_map_from_ct,
    project_to_view,
    self_attenuation_factor,
    tew_scatter,
    weighted_background_counts,
)
from iluminet.imaging.spect import (
    RecoveryCurve,
    activity_image_mbq,
    small_voi_concentration,
    sphere_recovery,
    voi_activity,
    voi_recovery,
)


# -- TEW -------------------------------------------------------------------------------------------
def test_tew_flat_spectrum_gives_peak_window_share():
    # A flat scatter spectrum of 10 counts/keV: 208 counts in the 20.8 keV windows, 416 in the
    # 41.6 keV photopeak window, all of it scatter.
    s = tew_scatter(208.0, 208.0, 20.8, 20.8, 41.6)
    assert s == pytest.approx(416.0)


def test_tew_linear_spectrum_trapezoid():
    # Scatter density falling linearly: 12 counts/keV in the lower, 4 in the upper window.
    # Trapezoid over 41.6 keV: (12 + 4)/2 · 41.6 = 332.8.
    s = tew_scatter(12 * 20.8, 4 * 20.8, 20.8, 20.8, 41.6)
    assert s == pytest.approx(332.8)


def test_tew_rejects_zero_width():
    with pytest.raises(InputError, match="width"):
        tew_scatter(1.0, 1.0, 0.0, 20.8, 41.6)


# -- conjugate view, attenuation, self-attenuation
# --------------------------------------------------
@given(depth_frac=st.floats(0.0, 1.0), thickness=st.floats(5.0, 40.0),
       activity=st.floats(1.0, 1e4), mu=st.floats(0.05, 0.2))
@settings(max_examples=50, deadline=None)
def test_conjugate_view_point_source_any_depth(depth_frac, thickness, activity, mu):
    sensitivity = 6.0
    d = depth_frac * thickness
    i_ant = sensitivity * activity * math.exp(-mu * d)
    i_post = sensitivity * activity * math.exp(-mu * (thickness - d))
    a = conjugate_view_activity_mbq(i_ant, i_post, mu_per_cm=mu, body_thickness_cm=thickness,
                                    sensitivity_cps_per_mbq=sensitivity)
    assert a == pytest.approx(activity, rel=1e-9)


def test_conjugate_view_point_source_known_numbers():
    # 100 MBq at 8 cm depth in 20 cm water (μ = 0.135/cm), C = 6 cps/MBq.
    i_ant = 600.0 * math.exp(-0.135 * 8)
    i_post = 600.0 * math.exp(-0.135 * 12)
    assert i_ant == pytest.approx(203.75, abs=0.01)
    a = conjugate_view_activity_mbq(i_ant, i_post, mu_per_cm=0.135, body_thickness_cm=20.0,
                                    sensitivity_cps_per_mbq=6.0)
    assert a == pytest.approx(100.0, rel=1e-12)


def test_self_attenuation_uniform_slab_numeric():
    # A uniform slab source of thickness t centred at depth d: integrate the two views.
    mu, T, t, d, activity, c = 0.135, 20.0, 6.0, 9.0, 50.0, 6.0
    x = np.linspace(d - t / 2, d + t / 2, 20001)
    ant = c * activity * np.trapezoid(np.exp(-mu * x), x) / t
    post = c * activity * np.trapezoid(np.exp(-mu * (T - x)), x) / t
    without = conjugate_view_activity_mbq(ant, post, mu_per_cm=mu, body_thickness_cm=T,
                                          sensitivity_cps_per_mbq=c)
    with_f = conjugate_view_activity_mbq(ant, post, mu_per_cm=mu, body_thickness_cm=T,
                                         sensitivity_cps_per_mbq=c, source_thickness_cm=t)
    assert without > activity * 1.01  # the correction matters
    assert with_f == pytest.approx(activity, rel=1e-6)
    assert self_attenuation_factor(mu, 0.0) == 1.0
    x0 = mu * t / 2
    assert self_attenuation_factor(mu, t) == pytest.approx(x0 / math.sinh(x0))


def test_background_buijs_hand_case():
    # 1000 ROI counts over 50 pixels, 8 counts/pixel background, kidney 5 of 20 cm.
    assert background_corrected_counts(1000.0, 50, 8.0, 0.25) == pytest.approx(700.0)
    with pytest.raises(InputError):
        background_corrected_counts(1000.0, 50, 8.0, 1.5)


def test_weighted_background_uniform_tissue_is_exact():
    # A uniform background in a slab phantom with a kidney-sized hole: the kidney ROI's
    # background counts follow from the background ROI through the attenuation weights.
    nz, ny, nx, dy = 4, 40, 10, 5.0
    mu = np.full((nz, ny, nx), 0.135)
    body = np.ones((nz, ny, nx), bool)
    kidney = np.zeros_like(body)
    kidney[:, 28:34, 2:5] = True
    w = background_weights(mu, body, kidney, dy)
    for view in ("anterior", "posterior"):
        # counts per pixel of a uniform background c·ε = 3: 3 × weight of tissue in the column
        primary = 3.0 * w.tissue[view]
        roi = kidney.any(axis=1)
        bg = ~roi
        est = weighted_background_counts(primary, roi, bg, w.tissue[view], w.body[view])
        assert est == pytest.approx(primary[roi].sum(), rel=1e-12)
    # the kidney removes more background from the posterior view (it is nearer that detector)
    col = (0, 3)
    share = {v: w.tissue[v][col] / w.body[v][col] for v in ("anterior", "posterior")}
    assert share["posterior"] < share["anterior"]


def test_mu_map_bilinear():
    mu = mu_map_from_ct(np.array([-1000.0, 0.0, 1000.0]), 0.135)
    assert mu[0] == 0.0 and mu[1] == pytest.approx(0.135)
    assert mu[2] == pytest.approx(0.135 * 1.6)


# -- recovery --------------------------------------------------------------------------------------
def test_sphere_recovery_limits():
    # Large sphere: the spill-out is a thin surface layer, 1 − RC ≈ 3σ/(R√(2π)) · √(π/2)·… → small
    big = sphere_recovery(1e6, 10.0)
    radius = (3 * 1e9 / (4 * np.pi)) ** (1 / 3)
    sigma = 10.0 / 2.3548
    assert 1 - big == pytest.approx(3 * sigma / (radius * math.sqrt(2 * math.pi)), rel=0.05)
    assert sphere_recovery(0.01, 20.0) < 0.05
    values = [sphere_recovery(v, 11.0) for v in (0.5, 5, 50, 500)]
    assert np.all(np.diff(values) > 0)


def test_voi_recovery_of_sphere_matches_analytic():
    # Uniform sphere of radius 30 mm on a 1 mm grid, blurred with FWHM 11 mm.
    n = 81
    z, y, x = np.mgrid[:n, :n, :n] - n // 2
    mask = x**2 + y**2 + z**2 <= 30**2
    rc_voxel = voi_recovery(mask, (1.0, 1.0, 1.0), 11.0)
    rc_analytic = sphere_recovery(mask.sum() / 1000.0, 11.0)
    assert rc_voxel == pytest.approx(rc_analytic, abs=0.005)


def test_recovery_curve_fits_known_fwhm():
    volumes = np.array([0.5, 1.2, 2.6, 5.6, 11.5, 26.5, 113.0])
    rc = np.array([sphere_recovery(v, 12.5) for v in volumes])
    curve = RecoveryCurve().fit(volumes, rc)
    assert curve.fwhm_mm_ == pytest.approx(12.5, rel=1e-4)
    assert curve.predict(140.0)[0] == pytest.approx(sphere_recovery(140.0, 12.5))


def test_voi_activity_uniform_sphere_in_background():
    # Sphere 40 ml at 1 MBq/ml in a 0.1 MBq/ml background, blurred with FWHM 11 mm (2 mm voxels).
    n, h = 70, 2.0
    z, y, x = (np.mgrid[:n, :n, :n] - n / 2 + 0.5) * h
    radius = (3 * 40_000 / (4 * np.pi)) ** (1 / 3)
    mask = x**2 + y**2 + z**2 <= radius**2
    voxel_ml = h**3 / 1000
    true = np.where(mask, 1.0, 0.1) * voxel_ml
    sigma = 11.0 / 2.3548 / h
    blurred = ndimage.gaussian_filter(true, sigma, mode="nearest")
    curve = RecoveryCurve(11.0)
    truth = float(mask.sum() * voxel_ml * 1.0)
    for method in ("voi_shape", "volume_curve"):
        res = voi_activity(blurred, mask, (h, h, h), curve, method=method)
        assert res.background_mbq_per_ml == pytest.approx(0.1, rel=0.02)
        assert res.activity_mbq == pytest.approx(truth, rel=0.01)
    uncorrected = voi_activity(blurred, mask, (h, h, h), curve, method="none").activity_mbq
    assert uncorrected < 0.97 * truth


def test_small_voi_concentration_uniform_object():
    n, h = 60, 2.0
    z, y, x = (np.mgrid[:n, :n, :n] - n / 2 + 0.5) * h
    mask = (x / 40) ** 2 + (y / 30) ** 2 + (z / 50) ** 2 <= 1
    act = np.where(mask, 0.5 * h**3 / 1000, 0.0)
    conc, centres = small_voi_concentration(act, mask, (h, h, h), radius_mm=7.5, n_vois=3)
    assert len(centres) == 3
    assert conc == pytest.approx(0.5, rel=1e-9)


def test_activity_image_units():
    # 1.2e6 counts in 1200 s with CF 1e5 Bq/cps → 1000 cps → 1e8 Bq = 100 MBq
    assert activity_image_mbq(np.array([1.2e6]), 1200.0, 1e5)[0] == pytest.approx(100.0)


# -- hybrid scaling --------------------------------------------------------------------------------
@given(lam=st.floats(0.003, 0.05), a0=st.floats(1.0, 500.0), at=st.floats(20.0, 30.0))
@settings(max_examples=50, deadline=None)
def test_log_linear_interpolation_exact_for_exponential(lam, a0, at):
    t = np.array([1.0, 24.0, 96.0, 168.0])
    y = a0 * np.exp(-lam * t)
    assert interpolate_log_linear(t, y, at) == pytest.approx(a0 * math.exp(-lam * at), rel=1e-9)


def test_hybrid_tia_equals_lund_identity():
    # Noise-free mono-exponential planar shape scaled to SPECT at 24.5 h: the fitted TIA must
    # equal A_SPECT · e^(λ·t_SPECT) / λ (Sundlöv 2018, docs/references.md).
    from iluminet.patient.kinetics import fit_time_activity

    lam, t_spect, a_spect = math.log(2) / 50.0, 24.5, 60.0
    t = np.array([24.0, 96.0, 168.0])
    shape = 1234.0 * np.exp(-lam * t)  # arbitrary units
    scale = a_spect / interpolate_log_linear(t, shape, t_spect)
    fit = fit_time_activity(t, shape * scale, "mono")
    assert fit.tia_mbq_h_ == pytest.approx(a_spect * math.exp(lam * t_spect) / lam, rel=1e-6)


# -- forward projection, hot structures, background ROI cleaning
# -------------------------------------
def _slab(nz: int = 30, ny: int = 40, nx: int = 30, dy: float = 5.0):
    mu = np.full((nz, ny, nx), 0.135)
    y_mm = (np.arange(ny) + 0.5) * dy  # body surfaces at y = 0 and y = ny·dy
    return mu, (4.0, dy, 4.0), y_mm


def test_projection_without_blur_equals_attenuation_weights():
    # A vanishing collimator FWHM turns the projection into the column sums of e^(−τ)·Δy that
    # background_weights computes: two implementations of the same attenuation model.
    mu, spacing, y_mm = _slab()
    body = np.ones(mu.shape, bool)
    kidney = np.zeros_like(body)
    kidney[10:20, 25:32, 8:14] = True
    w = background_weights(mu, body, kidney, spacing[1])
    sharp = CollimatorResolution(1e-6, 0.0)
    for view, face in (("anterior", -30.0), ("posterior", y_mm[-1] + 30.0)):
        proj = project_to_view({"bg": (body & ~kidney).astype(float)}, mu, spacing, y_mm, face,
                               view, sharp)["bg"]
        np.testing.assert_allclose(proj, w.tissue[view], rtol=1e-12)


@given(j=st.integers(0, 39), fwhm0=st.floats(10.0, 20.0), slope=st.floats(0.0, 0.1))
@settings(max_examples=25, deadline=None)
def test_projection_of_a_point_is_attenuated_and_blurred_by_depth(j, fwhm0, slope):
    # A point at depth index j: total counts = e^(−μ·depth)·Δy (blur conserves counts) and the
    # image's spread along x equals the collimator σ at its distance from the detector.
    mu, spacing, y_mm = _slab(nz=41, nx=41)
    point = np.zeros(mu.shape)
    point[20, j, 20] = 1.0
    face = y_mm[-1] + 30.0
    res = CollimatorResolution(fwhm0, slope)
    img = project_to_view({"p": point}, mu, spacing, y_mm, face, "posterior", res)["p"]
    depth_cm = (mu.shape[1] - j - 0.5) * spacing[1] / 10.0
    assert img.sum() == pytest.approx(math.exp(-0.135 * depth_cm) * spacing[1] / 10.0, rel=1e-6)
    sigma_mm = float(res.fwhm_mm(face - y_mm[j])) / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    x = (np.arange(41) - 20) * spacing[0]
    profile = img.sum(axis=0)
    measured = math.sqrt(float((profile * x**2).sum() / profile.sum()))
    assert measured == pytest.approx(sigma_mm, rel=0.03)  # σ ≥ 1 pixel: sampled kernel ≈ σ


def test_projection_is_linear():
    mu, spacing, y_mm = _slab()
    rng = np.random.default_rng(1)
    a, b = rng.random(mu.shape), rng.random(mu.shape)
    res = CollimatorResolution()
    p = project_to_view({"a": a, "b": b, "ab": 2 * a + 3 * b}, mu, spacing, y_mm, -30.0,
                        "anterior", res)
    np.testing.assert_allclose(p["ab"], 2 * p["a"] + 3 * p["b"], rtol=1e-10)
    with pytest.raises(InputError, match="view"):
        project_to_view({"a": a}, mu, spacing, y_mm, -30.0, "lateral", res)
    with pytest.raises(InputError):
        CollimatorResolution(0.0, 0.1)


def test_organ_against_the_kidney_is_hot_not_background():
    # An organ four times the tissue concentration touching the kidney: a thin shell around the
    # kidney would be half organ; the slab median still finds the tissue level and the organ
    # counts as a hot structure (with its excess over the tissue).
    shape = (30, 64, 64)
    act = np.full(shape, 1.0)
    kidney = np.zeros(shape, bool)
    kidney[10:20, 15:25, 10:18] = True
    organ = np.zeros(shape, bool)
    organ[4:26, 9:31, 4:34] = True  # wraps the kidney, like a liver around the right kidney
    organ &= ~kidney
    act[organ] = 4.0
    act[kidney] = 10.0
    shell = ndimage.binary_dilation(kidney, iterations=5) & ~ndimage.binary_dilation(kidney,
                                                                                     iterations=3)
    assert np.median(act[shell]) == 4.0  # a shell around the kidney measures the organ
    tissue = ~kidney
    excess, background = hot_excess_volume(act, kidney, tissue)
    assert background == pytest.approx(1.0, rel=1e-3)
    assert excess[organ & (np.arange(64) >= 24)[None, None, :]] == pytest.approx(3.0, rel=1e-3)
    assert np.abs(excess[~organ]).max() < 1e-3  # tissue and the kidney are not hot
    with pytest.raises(InputError, match="empty"):
        hot_excess_volume(act, np.zeros(shape, bool), tissue)


def test_clean_background_roi():
    bg = np.zeros((6, 6), bool)
    bg[0, :] = True
    hot = np.zeros((6, 6))
    hot[0, :2] = 5.0
    keep, cleaned = clean_background_roi(bg, hot, np.full((6, 6), 100.0), max_hot_fraction=0.02)
    assert cleaned and keep.sum() == 4 and not keep[0, :2].any()
    hot[0, :] = 5.0  # spill everywhere: keep the whole ROI and report it
    keep, cleaned = clean_background_roi(bg, hot, np.full((6, 6), 100.0), max_hot_fraction=0.02)
    assert not cleaned and keep.sum() == 6
