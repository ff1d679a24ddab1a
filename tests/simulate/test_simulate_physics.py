"""Known-answer and property tests of the simulator's physics: anatomy, kinetics, planar, SPECT."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import integrate

from iluminet.errors import InputError
from iluminet.nuclide import LU177
from iluminet.synthetic.virtual.calibration_sources import (
    planar_source_in_air,
    spect_phantom,
    spect_phantom_truth,
)
from iluminet.synthetic.virtual.ct import MU_WATER_208KEV_PER_CM, hu_map, mu_map_208kev_per_cm
from iluminet.synthetic.virtual.organ_kinetics import (
    ExponentialCurve,
    PatientKinetics,
    cycle_kinetics,
)
from iluminet.synthetic.virtual.phantom import (
    AnatomyParameters,
    Ellipsoid,
    Grid,
    Tissue,
    build_phantom,
)
from iluminet.synthetic.virtual.planar import (
    FWHM_TO_SIGMA,
    PlanarCamera,
    PlanarProjector,
    tew_scatter,
)
from iluminet.synthetic.virtual.spect import SpectCamera, reconstructed_counts
from iluminet.synthetic.virtual.study import kidney_s_value_gy_per_mbq_h

# -- anatomy ---------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
@example(1554)  # regression: a liver metastasis was painted over part of the right kidney
def test_kidney_masses_realistic_and_voxelised_close_to_analytic(seed):
    anatomy = AnatomyParameters.sample(np.random.default_rng(seed))
    phantom = build_phantom(anatomy)  # clinical grid, 4.8 mm
    for side, nominal in (
        ("left", anatomy.kidney_mass_left_g),
        ("right", anatomy.kidney_mass_right_g),
    ):
        mass = phantom.mass_g(f"kidney_{side}")
        # the sampled (nominal) mass is realistic; voxelisation may put it a little either side
        assert 120.0 <= nominal <= 200.0
        assert mass == pytest.approx(nominal, rel=0.03)
    # tumours of the liver lie inside the liver's ellipsoid, the cortex surrounds the medulla
    liver = phantom.nominal["liver"]
    x, y, z = phantom.grid.mesh_mm()
    for name in phantom.tumour_names[:-1]:
        mask = phantom.mask(name)
        assert mask.any()
        assert np.all(np.broadcast_to(liver.contains(x, y, z), mask.shape)[mask])
    assert (
        phantom.mask("kidney_left_cortex").sum()
        > 2 * (phantom.labels == Tissue.KIDNEY_LEFT_MEDULLA).sum()
    )


def test_phantom_is_deterministic_and_varies_between_patients():
    a = build_phantom(AnatomyParameters.sample(np.random.default_rng(7)))
    b = build_phantom(AnatomyParameters.sample(np.random.default_rng(7)))
    c = build_phantom(AnatomyParameters.sample(np.random.default_rng(8)))
    assert np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.labels, c.labels)
    # the patient's left kidney lies at +x (LPS), the liver on the patient's right (−x)
    x, _, _ = a.grid.mesh_mm()
    xs = np.broadcast_to(x, a.labels.shape)
    assert xs[a.mask("kidney_left")].mean() > 30 and xs[a.mask("liver")].mean() < -30


def test_ellipsoid_volume_and_bad_axes():
    assert Ellipsoid((0, 0, 0), (10.0, 10.0, 10.0)).volume_ml == pytest.approx(4.18879, rel=1e-5)
    with pytest.raises(InputError, match="semi-axes"):
        Ellipsoid((0, 0, 0), (10.0, -1.0, 10.0))


def test_ct_numbers_and_mu_map():
    labels = np.array(
        [[[Tissue.AIR, Tissue.SOFT_TISSUE, Tissue.LUNG, Tissue.BONE, Tissue.BLADDER]]],
        dtype=np.uint8,
    )
    mu = mu_map_208kev_per_cm(labels)[0, 0]
    assert mu[0] < 1e-3
    assert mu[4] == pytest.approx(0.135 * 1.01, rel=0.01)  # urine ≈ water
    assert 0.025 < mu[2] < 0.045  # lung ≈ 0.26 g/ml
    assert mu[3] > 0.17  # bone denser than water
    assert MU_WATER_208KEV_PER_CM == pytest.approx(0.135, abs=0.001)
    hu = hu_map(labels)[0, 0]
    assert hu[0] == -1000 and hu[3] > 300
    noisy = hu_map(np.ones((20, 20, 20), np.uint8), np.random.default_rng(0), noise_hu=12.0)
    assert noisy.std() == pytest.approx(12.0, rel=0.1)


# -- kinetics --------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    a=st.floats(1.0, 500.0),
    t_eff=st.floats(5.0, 150.0),
    t_up=st.floats(0.2, 4.0),
    fast=st.floats(0.0, 2.0),
    t_fast=st.floats(0.3, 4.0),
)
def test_tia_closed_form_equals_numerical_integral(a, t_eff, t_up, fast, t_fast):
    curve = ExponentialCurve.uptake_washout(a, t_up, t_eff) + ExponentialCurve.monoexponential(
        a * fast, t_fast
    )
    numeric, _ = integrate.quad(lambda t: curve.activity_mbq(t), 0.0, np.inf, limit=200)
    assert curve.tia_mbq_h() == pytest.approx(numeric, rel=1e-6)
    numeric_168, _ = integrate.quad(lambda t: curve.activity_mbq(t), 0.0, 168.0, limit=200)
    assert curve.tia_mbq_h(168.0) == pytest.approx(numeric_168, rel=1e-6)
    assert np.all(np.asarray(curve.activity_mbq(np.linspace(0, 1000, 500))) >= 0)


def test_monoexponential_known_answer():
    curve = ExponentialCurve.monoexponential(100.0, 50.0)
    assert curve.activity_mbq(50.0) == pytest.approx(50.0)
    assert curve.tia_mbq_h() == pytest.approx(100.0 * 50.0 / math.log(2.0))
    assert curve.activity_mbq(-1.0) == 0.0


@pytest.mark.parametrize(
    "bad",
    [
        lambda: ExponentialCurve.monoexponential(-5.0, 50.0),
        lambda: ExponentialCurve.monoexponential(5.0, 0.0),
        lambda: ExponentialCurve.uptake_washout(5.0, 60.0, 50.0),
        lambda: ExponentialCurve((1.0, -2.0), (0.1, 0.2)),  # negative at t = 0
        lambda: ExponentialCurve((1.0,), (-0.1,)),
    ],
)
def test_bad_kinetic_parameters_raise(bad):
    with pytest.raises(InputError):
        bad()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(["monoexponential", "biexponential"]))
def test_cycle_kinetics_realistic(seed, model):
    rng = np.random.default_rng(seed)
    traits = PatientKinetics.sample(rng)
    kin = cycle_kinetics(traits, 7400.0, {"tumour_1": 20.0, "tumour_2": 40.0}, rng, model)
    t = np.linspace(0.0, 2000.0, 400)
    assert np.all(np.asarray(kin.total_in_body_mbq(t)) <= 7400.0)
    for side in ("left", "right"):
        curve = kin.curves[f"kidney_{side}"]
        assert 0.002 * 7400 < curve.activity_mbq(24.0) < 0.04 * 7400  # a few % of IA
        assert 20.0 < curve.slowest_half_life_h < LU177.half_life_h
    if model == "monoexponential":
        assert len(kin.curves["kidney_left"].amplitudes_mbq) == 1


def test_negative_injected_activity_raises():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="injected_activity_mbq"):
        cycle_kinetics(PatientKinetics.sample(rng), -7400.0, {}, rng)


def test_kidney_s_value_known_answer():
    # docs/references.md, Kidney S values: electron-only bound 0.2752 mGy/(MBq h) for a 310 g kidney
    assert kidney_s_value_gy_per_mbq_h(310.0) * 1e3 == pytest.approx(0.2752, rel=2e-3)
    assert kidney_s_value_gy_per_mbq_h(275.0) * 1e3 == pytest.approx(0.3102, rel=2e-3)
    with pytest.raises(InputError):
        kidney_s_value_gy_per_mbq_h(0.0)


# -- planar ----------------------------------------------------------------------------------------
PIXEL = 4.8


def _slab_setup(
    thickness_vox: int,
    source_j: int | None,
    *,
    mu: float = MU_WATER_208KEV_PER_CM,
    source_i: int = 16,
    ny: int = 40,
):
    """A water slab (voxels j0..j0+thickness−1 along y) with a point source at voxel (12, j, i)."""
    grid = Grid.centred((24, ny, 32), PIXEL)
    mu_map = np.zeros(grid.shape_zyx)
    j0 = (ny - thickness_vox) // 2
    mu_map[:, j0 : j0 + thickness_vox, :] = mu
    act = np.zeros(grid.shape_zyx)
    act[12, source_j if source_j is not None else ny // 2, source_i] = 100.0
    camera = PlanarCamera(matrix_rows=96, matrix_columns=32, top_row=36)
    return grid, mu_map, act, camera, j0


def test_point_source_in_air_reproduces_activity_sensitivity_duration():
    grid, _, act, camera, _ = _slab_setup(0, None)
    mu_map = np.zeros(grid.shape_zyx)
    for view in ("anterior", "posterior"):
        img = PlanarProjector(mu_map, grid, camera, view).image(act, 300.0)
        expected = 100.0 * camera.sensitivity_cps_per_mbq * 300.0
        assert img.peak.sum() == pytest.approx(expected, rel=1e-9)  # well within 1 %
        assert img.scatter.sum() == 0.0 and img.lower.sum() == 0.0


def test_disc_source_calibration_acquisition():
    acq = planar_source_in_air(150.0, 300.0, PlanarCamera())
    assert acq.measured_sensitivity_cps_per_mbq("anterior") == pytest.approx(6.0, rel=1e-6)
    noisy = planar_source_in_air(150.0, 300.0, PlanarCamera(), np.random.default_rng(1))
    # Poisson: 270 000 counts, relative σ ≈ 0.2 %
    assert noisy.measured_sensitivity_cps_per_mbq("posterior") == pytest.approx(6.0, rel=0.01)


@pytest.mark.parametrize("depth_vox", [0, 3, 8, 15])
def test_point_source_attenuation_per_view_and_geometric_mean(depth_vox):
    thickness = 20
    ny = 40
    j0 = (ny - thickness) // 2
    grid, mu_map, act, camera, _ = _slab_setup(thickness, j0 + depth_vox, ny=ny)
    air = PlanarProjector(np.zeros_like(mu_map), grid, camera, "anterior").image(act, 1.0)
    ant = PlanarProjector(mu_map, grid, camera, "anterior").image(act, 1.0)
    post = PlanarProjector(mu_map, grid, camera, "posterior").image(act, 1.0)
    mu_per_mm = MU_WATER_208KEV_PER_CM / 10.0
    d_ant = (depth_vox + 0.5) * PIXEL  # from the voxel centre to the anterior face
    thickness_mm = thickness * PIXEL
    p_air = air.primary.sum()
    assert ant.primary.sum() / p_air == pytest.approx(math.exp(-mu_per_mm * d_ant), rel=1e-9)
    assert post.primary.sum() / p_air == pytest.approx(
        math.exp(-mu_per_mm * (thickness_mm - d_ant)), rel=1e-9
    )
    geometric_mean = math.sqrt(ant.primary.sum() * post.primary.sum())
    assert geometric_mean / p_air == pytest.approx(
        math.exp(-mu_per_mm * thickness_mm / 2), rel=1e-9
    )
    # TEW on the noise-free windows recovers the scatter, hence the primary, exactly
    for img in (ant, post):
        primary_tew = img.peak - tew_scatter(img.lower, img.upper)
        assert np.allclose(primary_tew, img.primary, rtol=1e-9, atol=1e-9)
        assert img.scatter.sum() > 0


def test_collimator_blur_grows_linearly_with_distance():
    grid, _, _, camera, _ = _slab_setup(0, None, ny=40)
    mu_map = np.zeros(grid.shape_zyx)
    projector = PlanarProjector(mu_map, grid, camera, "anterior")
    for j in (5, 20, 35):
        act = np.zeros(grid.shape_zyx)
        act[12, j, 16] = 1.0
        img = projector.image(act, 1.0).peak
        cols = np.arange(img.shape[1])
        profile = img.sum(axis=0)
        mean = (profile * cols).sum() / profile.sum()
        sigma_px = math.sqrt((profile * (cols - mean) ** 2).sum() / profile.sum())
        expected = camera.fwhm_mm(projector.distance_mm[j]) * FWHM_TO_SIGMA / PIXEL
        assert sigma_px == pytest.approx(expected, rel=0.03)


def test_left_source_appears_on_correct_side_of_each_view():
    # patient's left = +x = high voxel index i
    grid, mu_map, act, camera, _ = _slab_setup(10, None, source_i=28)
    ant = PlanarProjector(mu_map, grid, camera, "anterior")
    post = PlanarProjector(mu_map, grid, camera, "posterior")
    img_a, img_p = ant.image(act, 1.0).peak, post.image(act, 1.0).peak
    col_a = np.unravel_index(np.argmax(img_a), img_a.shape)[1]
    col_p = np.unravel_index(np.argmax(img_p), img_p.shape)[1]
    assert (
        col_a > camera.matrix_columns / 2 > col_p
    )  # anterior: left on image right; posterior mirrored
    # flipping the posterior left-right aligns it with the anterior view
    flipped = np.fliplr(img_p)
    assert np.unravel_index(np.argmax(flipped), img_p.shape) == np.unravel_index(
        np.argmax(img_a), img_a.shape
    )
    row_a = np.unravel_index(np.argmax(img_a), img_a.shape)[0]
    assert (row_a, col_a) == ant.matrix_position(12, 28)


def test_poisson_noise_is_seeded_and_unbiased():
    grid, mu_map, act, camera, _ = _slab_setup(10, None)
    proj = PlanarProjector(mu_map, grid, camera, "anterior")
    a = proj.image(act, 100.0, np.random.default_rng(3))
    b = proj.image(act, 100.0, np.random.default_rng(3))
    c = proj.image(act, 100.0, np.random.default_rng(4))
    assert np.array_equal(a.peak, b.peak) and not np.array_equal(a.peak, c.peak)
    assert np.all(a.peak == np.round(a.peak))
    expected = a.primary.sum() + a.scatter.sum()
    assert abs(a.peak.sum() - expected) < 5 * math.sqrt(expected)


def test_planar_bad_inputs():
    grid, mu_map, act, camera, _ = _slab_setup(10, None)
    proj = PlanarProjector(mu_map, grid, camera, "anterior")
    with pytest.raises(InputError, match="activity"):
        proj.image(-act, 1.0)
    with pytest.raises(InputError, match="exposure"):
        proj.image(act, 0.0)
    with pytest.raises(InputError, match="view"):
        PlanarProjector(mu_map, grid, camera, "lateral")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="sensitivity"):
        PlanarCamera(sensitivity_cps_per_mbq=-6.0)
    with pytest.raises(InputError, match="does not fit"):
        PlanarProjector(
            mu_map, grid, PlanarCamera(matrix_rows=30, matrix_columns=32, top_row=2), "anterior"
        )


# -- SPECT -----------------------------------------------------------------------------------------


def test_spect_counts_and_calibration_factor_recover_activity():
    grid = Grid.centred((30, 30, 30), PIXEL)
    act = np.zeros(grid.shape_zyx)
    act[15, 15, 15] = 40.0
    act[10:14, 12:18, 12:18] = 0.5
    cam = SpectCamera()
    counts = reconstructed_counts(act, grid, cam)
    recovered_mbq = (
        counts.sum() / cam.acquisition_duration_s * cam.calibration_factor_bq_per_cps / 1e6
    )
    assert recovered_mbq == pytest.approx(act.sum(), rel=1e-9)
    # the point source's width equals the system FWHM
    profile = counts[15, 15, :] - counts[15, 15, :].min()
    x = np.arange(30)
    sigma = math.sqrt((profile * (x - 15) ** 2).sum() / profile.sum()) * PIXEL
    assert sigma == pytest.approx(cam.fwhm_mm * FWHM_TO_SIGMA, rel=0.05)
    noisy = reconstructed_counts(act, grid, cam, np.random.default_rng(0))
    assert abs(noisy.sum() - counts.sum()) < 5 * math.sqrt(counts.sum())
    assert cam.acquisition_duration_s == 1200.0 and cam.calibration_factor_bq_per_cps == 1e5


def test_spect_phantom_recovery_coefficients_increase_with_size():
    phantom = spect_phantom()
    truth = spect_phantom_truth(phantom, SpectCamera())
    rcs = [s["recovery_coefficient_mean"] for s in truth["spheres"]]
    diameters = [s["diameter_mm"] for s in truth["spheres"]]
    assert diameters == sorted(diameters)
    assert all(a < b for a, b in zip(rcs, rcs[1:]))
    assert rcs[0] < 0.6 and rcs[-1] < 1.0
    # large sphere: thin-shell estimate RC ≈ 1 − (3/R)·σ/√(2π)·(1 − 1/contrast)
    sigma = SpectCamera().fwhm_mm * FWHM_TO_SIGMA
    radius = diameters[-1] / 2
    assert rcs[-1] == pytest.approx(1 - 3 / radius * sigma / math.sqrt(2 * math.pi) * 0.9, abs=0.03)
    for sphere in truth["spheres"]:  # partial-volume voxelisation keeps the true sphere volume
        assert sphere["voxelised_volume_ml"] == pytest.approx(sphere["volume_ml"], rel=0.03)
    assert truth["total_activity_mbq"] == pytest.approx(
        0.05 * truth["cylinder_volume_ml"] + sum(s["volume_ml"] * 0.45 for s in truth["spheres"]),
        rel=0.01,
    )
