"""Generated datasets: DICOM readable by pydicom and SimpleITK with correct geometry, ground truth
consistent with the images and the kinetic model, patient tables, and refusal of bad arguments."""

from __future__ import annotations

import argparse
import csv
import json
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import yaml
from scipy import integrate
from sim_helpers import SEED, load_truth, small_settings

from iluminet.errors import InputError
from iluminet.nuclide import LU177, hours_between
from iluminet.synthetic.virtual import generate_virtual_patients
from iluminet.synthetic.virtual.organ_kinetics import ExponentialCurve
from iluminet.synthetic.virtual.planar import tew_scatter
from iluminet.workbook import cli_virtual as cli

NM_STORAGE = "1.2.840.10008.5.1.4.1.1.20"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def _cycle(dataset: Path, cycle: int = 1) -> Path:
    return dataset / "patients" / "VP001" / f"cycle_{cycle:02d}"


def _all_dicom(folder: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p) for p in sorted(folder.rglob("*.dcm"))]


def _dicom_datetime(ds: pydicom.Dataset) -> datetime:
    text = f"{ds.AcquisitionDate}{ds.AcquisitionTime}{ds.TimezoneOffsetFromUTC}"
    return datetime.strptime(text, "%Y%m%d%H%M%S.%f%z")


def _read_ct(cycle_dir: Path) -> sitk.Image:
    folder = next(cycle_dir.glob("dicom/spect_ct_*/CT"))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


# -- layout and DICOM ------------------------------------------------------------------------------


def test_layout_and_every_series_has_times_and_pseudonymous_identity(noise_free_dataset):
    cycle_dir = _cycle(noise_free_dataset)
    assert (noise_free_dataset / "virtual_patients.json").is_file()
    for name in (
        "truth.json",
        "voi/kidneys.nii.gz",
        "voi/organs.nii.gz",
        "voi/planar_rois_anterior.nii.gz",
        "voi/planar_rois_posterior.nii.gz",
    ):
        assert (cycle_dir / name).is_file(), name
    datasets = _all_dicom(cycle_dir)
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 4 + 2  # 4 whole-body, SPECT, CT
    for ds in datasets:
        assert ds.PatientID == "VP001" and str(ds.PatientName) == "VIRTUAL^VP001"
        assert ds.PatientBirthDate == ""
        assert ds.TimezoneOffsetFromUTC in ("+0100", "+0200")
        _dicom_datetime(ds)  # parses: date, time and offset all present


def test_planar_views_windows_and_radiopharmaceutical(noise_free_dataset):
    cycle_dir = _cycle(noise_free_dataset)
    truth = load_truth(cycle_dir)
    planar = [ds for ds in _all_dicom(cycle_dir) if "WHOLE BODY" in ds.ImageType]
    assert len(planar) == 4 * 2
    views = set()
    for ds in planar:
        assert ds.SOPClassUID == NM_STORAGE and ds.Modality == "NM"
        assert ds.NumberOfFrames == 3 and ds.pixel_array.shape == (3, 256, 64)
        assert list(ds.EnergyWindowVector) == [1, 2, 3]
        limits = [
            (
                float(w.EnergyWindowRangeSequence[0].EnergyWindowLowerLimit),
                float(w.EnergyWindowRangeSequence[0].EnergyWindowUpperLimit),
            )
            for w in ds.EnergyWindowInformationSequence
        ]
        assert limits == [(187.2, 228.8), (166.4, 187.2), (228.8, 249.6)]
        view = ds.DetectorInformationSequence[0].ViewCodeSequence[0]
        assert view.CodingSchemeDesignator == "SCT"
        views.add(view.CodeMeaning)
        expected_orientation = ["L", "F"] if view.CodeMeaning.startswith("Anterior") else ["R", "F"]
        assert list(ds.PatientOrientation) == expected_orientation
        assert [float(v) for v in ds.PixelSpacing] == [9.6, 9.6]
        # a sweep as the vendors store it: dwell = axial FOV / table speed = 400 mm / (10 cm/min)
        det = ds.DetectorInformationSequence[0]
        assert float(det.FieldOfViewDimensions[1]) / float(ds.ScanVelocity) == pytest.approx(240.0)
        assert ds.ActualFrameDuration == round((256 * 9.6 + 400.0) / float(ds.ScanVelocity) * 1e3)
        rp = ds.RadiopharmaceuticalInformationSequence[0]
        assert float(rp.RadionuclideTotalDose) == pytest.approx(
            truth["administration"]["activity_mbq"], abs=1e-3
        )
        start = datetime.strptime(rp.RadiopharmaceuticalStartDateTime, "%Y%m%d%H%M%S.%f%z")
        assert start == datetime.fromisoformat(truth["administration"]["datetime"])
    assert views == {"Anterior projection", "Posterior projection"}


def test_scan_times_in_dicom_match_truth(noise_free_dataset):
    cycle_dir = _cycle(noise_free_dataset)
    truth = load_truth(cycle_dir)
    admin = datetime.fromisoformat(truth["administration"]["datetime"])
    by_uid = {s["series_instance_uid"]: s for s in truth["scans"]}
    for ds in _all_dicom(cycle_dir):
        scan = by_uid[ds.SeriesInstanceUID]
        elapsed = hours_between(admin, _dicom_datetime(ds))
        assert elapsed == pytest.approx(scan["time_h"], abs=1e-6)
    nominal = sorted(
        s["nominal_time_h"] for s in truth["scans"] if s["kind"] == "planar_whole_body"
    )
    assert nominal == [1.0, 24.0, 96.0, 168.0]


def test_spect_and_ct_share_frame_of_reference_and_geometry(noise_free_dataset):
    cycle_dir = _cycle(noise_free_dataset)
    datasets = _all_dicom(cycle_dir / "dicom")
    frames = {ds.FrameOfReferenceUID for ds in datasets if "FrameOfReferenceUID" in ds}
    assert len(frames) == 1
    spect_ds = pydicom.dcmread(next(cycle_dir.glob("dicom/spect_ct_*/NM_RECON.dcm")))
    assert "RECON TOMO" in spect_ds.ImageType
    spect = sitk.ReadImage(str(next(cycle_dir.glob("dicom/spect_ct_*/NM_RECON.dcm"))))
    ct = _read_ct(cycle_dir)
    voi = sitk.ReadImage(str(cycle_dir / "voi" / "kidneys.nii.gz"))
    truth = load_truth(cycle_dir)
    for image in (spect, ct, voi):
        assert image.GetSize() == (64, 64, 50)
        assert np.allclose(image.GetOrigin(), truth["grid"]["origin_xyz_mm"])
        assert np.allclose(image.GetSpacing(), (9.6, 9.6, 9.6))
        assert np.allclose(image.GetDirection(), np.eye(3).ravel())
    # CT numbers through the rescale: air outside, water-like inside, bone denser
    hu = sitk.GetArrayFromImage(ct)
    assert hu[0, 0, 0] == -1000 and hu[25, 32, 32] > -100
    # the kidney VOI lies where the SPECT shows kidney uptake (left kidney at +x)
    labels = sitk.GetArrayFromImage(voi)
    counts = sitk.GetArrayFromImage(spect).astype(float)
    assert counts[labels == 1].mean() > 3 * counts[labels == 0].mean()
    left_x = np.nonzero(labels == 1)[2].mean() * 9.6 + truth["grid"]["origin_xyz_mm"][0]
    assert left_x > 30.0


def test_spect_counts_calibrate_to_true_activity(noise_free_dataset):
    cycle_dir = _cycle(noise_free_dataset)
    truth = load_truth(cycle_dir)
    spect_scan = next(s for s in truth["scans"] if s["kind"] == "spect")
    counts = sitk.GetArrayFromImage(sitk.ReadImage(str(cycle_dir / spect_scan["file"]))).astype(
        float
    )
    cam = truth["cameras"]["spect"]
    total_mbq = (
        counts.sum() * cam["calibration_factor_bq_per_cps"] / cam["acquisition_duration_s"] / 1e6
    )
    assert total_mbq == pytest.approx(sum(spect_scan["activity_mbq"].values()), rel=0.01)
    # in the kidney VOI the calibrated activity shows partial-volume loss (11 mm FWHM, 9.6 mm
    # voxels) but stays of the right size
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(cycle_dir / "voi" / "kidneys.nii.gz")))
    for label, side in ((1, "left"), (2, "right")):
        kidney_mbq = (
            counts[labels == label].sum()
            * cam["calibration_factor_bq_per_cps"]
            / cam["acquisition_duration_s"]
            / 1e6
        )
        ratio = kidney_mbq / spect_scan["activity_mbq"][f"kidney_{side}"]
        assert 0.5 < ratio < 1.0


def test_planar_dicom_counts_match_truth_and_tew(noise_free_dataset):
    cycle_dir = _cycle(noise_free_dataset)
    truth = load_truth(cycle_dir)
    for scan in (s for s in truth["scans"] if s["kind"] == "planar_whole_body"):
        for info in scan["views"].values():
            ds = pydicom.dcmread(cycle_dir / info["file"])
            peak, low, up = (f.astype(float) for f in ds.pixel_array)
            expected = info["noise_free_primary_counts"] + info["noise_free_scatter_counts"]
            assert peak.sum() == pytest.approx(expected, rel=0.01)
            primary = peak - tew_scatter(low, up)
            assert primary.sum() == pytest.approx(info["noise_free_primary_counts"], rel=0.01)


def test_planar_rois_on_correct_side(noise_free_dataset):
    cycle_dir = _cycle(noise_free_dataset)
    for view, left_on_right in (("anterior", True), ("posterior", False)):
        rois = sitk.ReadImage(str(cycle_dir / "voi" / f"planar_rois_{view}.nii.gz"))
        assert np.allclose(rois.GetSpacing(), (9.6, 9.6))
        arr = sitk.GetArrayFromImage(rois)
        assert arr.shape == (256, 64)
        assert set(np.unique(arr)) == {0, 1, 2, 3, 4}
        left_col = np.nonzero(arr == 1)[1].mean()
        right_col = np.nonzero(arr == 2)[1].mean()
        assert (left_col > right_col) == left_on_right
        # the kidney ROI holds the brightest kidney-region counts of the view
        ds = pydicom.dcmread(next(cycle_dir.glob(f"dicom/wb_024h/NM_{view[:3].upper()}*.dcm")))
        peak = ds.pixel_array[0].astype(float)
        assert peak[arr == 1].mean() > peak[arr == 3].mean()


def test_noisy_dataset_has_poisson_counts(noisy_dataset, noise_free_dataset):
    noisy = pydicom.dcmread(_cycle(noisy_dataset) / "dicom" / "wb_024h" / "NM_ANT.dcm")
    truth = load_truth(_cycle(noisy_dataset))
    info = next(
        s
        for s in truth["scans"]
        if s["nominal_time_h"] == 24.0 and s["kind"] == "planar_whole_body"
    )["views"]["anterior"]
    expected = info["noise_free_primary_counts"] + info["noise_free_scatter_counts"]
    total = noisy.pixel_array[0].astype(float).sum()
    assert total != pytest.approx(expected, rel=1e-6)
    assert abs(total - expected) < 5 * math.sqrt(expected)
    assert truth["noise"] is True
    # noise does not change the ground truth: same seed, same kinetics, times and masses
    clean = load_truth(_cycle(noise_free_dataset))
    for key in ("kidneys", "administration", "kinetics", "masses_g"):
        assert truth[key] == clean[key]


# -- ground truth ----------------------------------------------------------------------------------


def test_truth_tia_matches_numerical_integral_and_dose_model(noise_free_dataset):
    truth = load_truth(_cycle(noise_free_dataset))
    for side in ("left", "right"):
        params = truth["kinetics"]["compartments"][f"kidney_{side}"]
        a = np.array(params["amplitudes_mbq"])
        lam = np.array(params["rate_constants_per_h"])
        numeric, _ = integrate.quad(
            lambda t, a=a, lam=lam: float((a * np.exp(-lam * t)).sum()), 0, np.inf, limit=200
        )
        kidney = truth["kidneys"][side]
        assert kidney["tia_mbq_h"] == pytest.approx(numeric, rel=1e-6)
        expected_s = LU177.electron_energy_j * 3.6e9 / (kidney["mass_g"] / 1000)
        assert kidney["s_value_gy_per_mbq_h"] == pytest.approx(expected_s, rel=1e-12)
        assert kidney["absorbed_dose_gy"] == pytest.approx(numeric * expected_s, rel=1e-6)
        # activities at the scan times lie on the curve
        curve = ExponentialCurve(tuple(a), tuple(lam))
        for scan in truth["scans"]:
            if "activity_mbq" in scan:
                assert scan["activity_mbq"][f"kidney_{side}"] == pytest.approx(
                    curve.activity_mbq(scan["time_h"]), rel=1e-12
                )
        # clinical orientation: 0.2–1.2 Gy/GBq per kidney
        gy_per_gbq = kidney["absorbed_dose_gy"] / truth["administration"]["activity_mbq"] * 1000
        assert 0.15 < gy_per_gbq < 1.5
    assert "electron-only" in truth["kidney_dose_model"]


def test_truth_kidney_mass_matches_voi(noise_free_dataset):
    cycle_dir = _cycle(noise_free_dataset)
    truth = load_truth(cycle_dir)
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(cycle_dir / "voi" / "kidneys.nii.gz")))
    voxel_ml = 9.6**3 / 1000
    assert (labels == 1).sum() * voxel_ml * 1.05 == pytest.approx(
        truth["kidneys"]["left"]["mass_g"], rel=1e-9
    )
    assert (labels == 2).sum() * voxel_ml * 1.05 == pytest.approx(
        truth["kidneys"]["right"]["mass_g"], rel=1e-9
    )


def test_patient_tables(noise_free_dataset):
    patient_dir = noise_free_dataset / "patients" / "VP001"
    info = yaml.safe_load((patient_dir / "patient.yaml").read_text())
    assert info["patient_id"] == "VP001"
    assert set(info) == {
        "patient_id",
        "age_years",
        "sex",
        "inclusion_date",
        "baseline_gfr_ml_min",
        "diabetes",
        "uncontrolled_hypertension",
        "previous_liver_embolization",
        "previous_chemotherapy",
    }
    assert info["sex"] in ("F", "M")
    with open(patient_dir / "cycles.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["cycle"]) for r in rows] == [1, 2]
    previous = None
    for row in rows:
        truth = load_truth(patient_dir / f"cycle_{int(row['cycle']):02d}")
        when = datetime.fromisoformat(row["administration_datetime"])
        assert when.tzinfo is not None
        assert when == datetime.fromisoformat(truth["administration"]["datetime"])
        assert float(row["administered_activity_mbq"]) == pytest.approx(
            truth["administration"]["activity_mbq"], abs=0.05
        )
        assert 7400 * 0.93 < float(row["administered_activity_mbq"]) < 7400 * 1.05
        assert float(row["left_kidney_mass_g"]) == pytest.approx(
            truth["kidneys"]["left"]["mass_g"], abs=0.05
        )
        assert 0 <= int(row["worst_toxicity_grade"]) <= 5
        if previous is not None:
            weeks = hours_between(previous, when) / 24 / 7
            assert 8 <= weeks <= 12.5
        previous = when


def test_calibration_acquisitions(noise_free_dataset):
    cal = noise_free_dataset / "calibration"
    truth = json.loads((cal / "planar_sensitivity" / "truth.json").read_text())
    ds = pydicom.dcmread(cal / "planar_sensitivity" / "dicom" / "NM_ANT.dcm")
    assert "STATIC" in ds.ImageType
    rp = ds.RadiopharmaceuticalInformationSequence[0]
    reference = datetime.strptime(rp.RadiopharmaceuticalStartDateTime, "%Y%m%d%H%M%S.%f%z")
    elapsed = hours_between(reference, _dicom_datetime(ds))
    activity = float(rp.RadionuclideTotalDose) * math.exp(-LU177.decay_constant_per_h * elapsed)
    rate = ds.pixel_array[0].astype(float).sum() / (ds.ActualFrameDuration / 1000)
    assert rate / activity == pytest.approx(truth["true_sensitivity_cps_per_mbq"], rel=0.01)
    phantom_truth = json.loads((cal / "spect_phantom" / "truth.json").read_text())
    spect = sitk.ReadImage(str(cal / "spect_phantom" / "dicom" / "NM_RECON.dcm"))
    spheres = sitk.ReadImage(str(cal / "spect_phantom" / "voi" / "spheres.nii.gz"))
    assert np.allclose(spect.GetOrigin(), spheres.GetOrigin())
    counts = sitk.GetArrayFromImage(spect).astype(float)
    cf = phantom_truth["camera"]["calibration_factor_bq_per_cps"]
    t_acq = phantom_truth["camera"]["acquisition_duration_s"]
    assert counts.sum() * cf / t_acq / 1e6 == pytest.approx(
        phantom_truth["total_activity_mbq"], rel=0.01
    )
    assert len(phantom_truth["spheres"]) == 7


# -- determinism and arguments --------------------------------------------------------------------


def test_deterministic_from_seed(tmp_path, noise_free_dataset):
    generate_virtual_patients(
        1, 1, SEED, tmp_path / "again", noise=False, settings=small_settings()
    )
    first = load_truth(_cycle(noise_free_dataset))
    again = load_truth(_cycle(tmp_path / "again"))
    assert first == again
    a = (_cycle(noise_free_dataset) / "dicom" / "wb_096h" / "NM_POST.dcm").read_bytes()
    b = (_cycle(tmp_path / "again") / "dicom" / "wb_096h" / "NM_POST.dcm").read_bytes()
    assert a == b
    generate_virtual_patients(
        1, 1, SEED + 1, tmp_path / "other", noise=False, settings=small_settings()
    )
    assert load_truth(_cycle(tmp_path / "other"))["kidneys"] != first["kidneys"]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(n_patients=0), "n_patients"),
        (dict(n_cycles=0), "n_cycles"),
        (dict(n_patients=-2), "n_patients"),
        (dict(seed=-1), "seed"),
        (dict(activity_mbq=-7400.0), "activity_mbq"),
        (dict(activity_mbq=0.0), "activity_mbq"),
    ],
)
def test_bad_arguments_raise_input_error(tmp_path, kwargs, field):
    args = dict(n_patients=1, n_cycles=1, seed=1, out_dir=tmp_path / "out")
    args.update(kwargs)
    with pytest.raises(InputError) as err:
        generate_virtual_patients(**args)
    assert err.value.field == field
    assert not (tmp_path / "out").exists()


def test_refuses_folder_with_other_data(tmp_path):
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(InputError, match="other data"):
        generate_virtual_patients(1, 1, 1, tmp_path, force=True, settings=small_settings())
    assert (tmp_path / "notes.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        generate_virtual_patients(1, 1, 1, target, settings=small_settings())


def test_existing_dataset_needs_force(tmp_path):
    out = tmp_path / "vp"
    generate_virtual_patients(1, 1, 5, out, noise=False, settings=small_settings())
    truth_path = _cycle(out) / "truth.json"
    before = truth_path.read_bytes()
    with pytest.raises(InputError, match="force"):
        generate_virtual_patients(1, 1, 6, out, noise=False, settings=small_settings())
    assert truth_path.read_bytes() == before
    # a dataset with a foreign file added is never replaced, even with force
    (out / "mine.csv").write_text("x")
    with pytest.raises(InputError, match="not generated"):
        generate_virtual_patients(1, 1, 6, out, force=True, noise=False, settings=small_settings())
    (out / "mine.csv").unlink()
    paths = generate_virtual_patients(
        1, 1, 6, out, force=True, noise=False, settings=small_settings()
    )
    assert paths == [out / "patients" / "VP001"]
    assert truth_path.read_bytes() != before
    assert json.loads((out / "virtual_patients.json").read_text())["seed"] == 6


def test_cli_arguments_and_exit_codes(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(
        [
            "--patients",
            "0",
            "--cycles",
            "1",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "x"),
            "--no-noise",
        ]
    )
    assert args.noise is False and args.force is False
    assert cli.run(args) == 2
    assert "n_patients" in capsys.readouterr().err
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "data.txt").write_text("x")
    args = parser.parse_args(
        ["--patients", "1", "--cycles", "1", "--seed", "3", "--out", str(tmp_path / "y"), "--force"]
    )
    assert cli.run(args) == 2
    assert "other data" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_generates_clinical_grid_dataset(tmp_path):
    """Full-size grid through the command line (≈ 2 s per cycle)."""
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    out = tmp_path / "demo"
    args = parser.parse_args(
        ["--patients", "1", "--cycles", "1", "--seed", "11", "--out", str(out)]
    )
    assert cli.run(args) == 0
    cycle_dir = _cycle(out)
    ct = _read_ct(cycle_dir)
    assert ct.GetSize() == (128, 128, 100) and np.allclose(ct.GetSpacing(), 4.8)
    ant = pydicom.dcmread(cycle_dir / "dicom" / "wb_001h" / "NM_ANT.dcm")
    assert ant.pixel_array.shape == (3, 512, 128)
    truth = load_truth(cycle_dir)
    for side in ("left", "right"):
        assert 120 <= truth["kidneys"][side]["mass_g"] <= 200


def test_scan_times_across_daylight_saving_change():
    from zoneinfo import ZoneInfo

    from iluminet.synthetic.virtual.study import _scan_datetime

    tz = ZoneInfo("Europe/Stockholm")
    admin = datetime(2024, 3, 29, 10, 0, tzinfo=tz)  # CET, +01:00; summer time from 31 March
    scan = _scan_datetime(admin, 168.0, tz)
    assert scan.utcoffset().total_seconds() == 7200  # CEST
    assert (scan.hour, scan.day) == (11, 5)  # wall clock moves on by one hour
    # elapsed time through the ISO strings written to truth.json/cycles.csv (fixed UTC offsets)
    elapsed = hours_between(
        datetime.fromisoformat(admin.isoformat()), datetime.fromisoformat(scan.isoformat())
    )
    assert elapsed == pytest.approx(168.0, abs=1e-9)


def test_planar_dicom_geometry_readable_by_simpleitk(noise_free_dataset):
    cycle_dir = _cycle(noise_free_dataset)
    truth = load_truth(cycle_dir)
    for view, row_direction in (("ANT", 1.0), ("POST", -1.0)):
        path = cycle_dir / "dicom" / "wb_024h" / f"NM_{view}.dcm"
        image = sitk.ReadImage(str(path))
        assert image.GetSize()[:2] == (64, 256)
        assert np.allclose(image.GetSpacing()[:2], (9.6, 9.6))
        direction = np.array(image.GetDirection()).reshape(3, 3)
        assert direction[0, 0] == pytest.approx(row_direction)  # columns run along ±x
        assert direction[2, 1] == pytest.approx(-1.0)  # rows run towards the feet
        # the most superior phantom slice sits at row top_row
        origin_z = image.GetOrigin()[2]
        top_row = truth["cameras"]["planar_placement"]["top_row_of_most_superior_slice"]
        z_top = truth["grid"]["origin_xyz_mm"][2] + 49 * 9.6
        assert origin_z - top_row * 9.6 == pytest.approx(z_top)
        assert np.array_equal(sitk.GetArrayFromImage(image), pydicom.dcmread(path).pixel_array)
