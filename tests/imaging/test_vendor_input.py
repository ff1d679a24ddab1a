"""Image input as other vendors write it: whole-body timing, VOI resampling and containment.

Each test edits copies of generated files the way another vendor's export differs, and states the
defect it guards against.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from iluminet.errors import InputError
from iluminet.imaging.dicom_study import read_planar_file


def _whole_body_files(cycle: Path) -> list[Path]:
    out = []
    for path in sorted((cycle / "dicom").rglob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        if ds.Modality == "NM" and "WHOLE BODY" in list(ds.ImageType):
            out.append(path)
    assert out
    return out


def test_whole_body_exposure_is_the_dwell_time_not_the_scan_duration(cycle: Path) -> None:
    """A sweep's ActualFrameDuration is the whole scan (here ≈ 29 min); each pixel is exposed for
    the axial field of view / table speed (400 mm at 10 cm/min = 240 s). Reading the scan
    duration as the exposure made every planar count rate ~7 × too low."""
    path = _whole_body_files(cycle)[0]
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert ds.ActualFrameDuration / 1000.0 > 1000.0  # the whole sweep
    (view,) = read_planar_file(path)
    assert view.exposure_s == pytest.approx(240.0, rel=1e-6)


def test_whole_body_dwell_follows_the_tags(cycle: Path) -> None:
    """Half the table speed doubles the dwell time; a round field uses its diameter."""
    path = _whole_body_files(cycle)[0]
    ds = pydicom.dcmread(path)
    ds.ScanVelocity = float(ds.ScanVelocity) / 2.0
    ds.save_as(path)
    assert read_planar_file(path)[0].exposure_s == pytest.approx(480.0, rel=1e-6)
    ds.DetectorInformationSequence[0].FieldOfViewShape = "ROUND"
    ds.DetectorInformationSequence[0].FieldOfViewDimensions = [300]
    ds.save_as(path)
    assert read_planar_file(path)[0].exposure_s == pytest.approx(300.0 / float(ds.ScanVelocity))


@pytest.mark.parametrize(("keyword", "where"), [("ScanVelocity", "dataset"),
                                                 ("FieldOfViewDimensions", "detector")])
def test_whole_body_without_timing_tags_is_a_clear_error(cycle: Path, keyword: str,
                                                         where: str) -> None:
    path = _whole_body_files(cycle)[0]
    ds = pydicom.dcmread(path)
    delattr(ds if where == "dataset" else ds.DetectorInformationSequence[0], keyword)
    ds.save_as(path)
    with pytest.raises(InputError) as err:
        read_planar_file(path)
    assert err.value.field == keyword and str(path) in str(err.value)


# -- VOIs on another grid ------------------------------------------------------------------------
def _quantify(cycle: Path):
    import pandas as pd

    from iluminet.imaging import calibrate_camera
    from iluminet.imaging.hybrid import quantify_cycle

    calibration, _, _ = calibrate_camera(cycle.parents[2] / "calibration", "virtual")
    row = pd.read_csv(cycle.parent / "cycles.csv").iloc[0]
    record = {"administration_datetime": __import__("datetime").datetime.fromisoformat(
        row["administration_datetime"]), "administered_activity_mbq":
        float(row["administered_activity_mbq"])}
    return quantify_cycle(cycle, calibration, cycle=1, cycle_record=record)


@pytest.mark.parametrize("factor", [0.5, 1.3])
def test_kidney_voi_on_another_grid_gives_the_same_volume_and_activity(one_patient, tmp_path,
                                                                       factor: float) -> None:
    """A VOI drawn on a finer (CT-like) or a 1.3× coarser grid, shifted by a fraction of a
    voxel: the volume on its own grid and the SPECT activity over the covered voxel fractions
    match the SPECT-grid VOI. Nearest-neighbour resampling onto the SPECT grid changed kidney
    volumes by up to 5 % and refused VOIs lying inside as "partly outside"."""
    import SimpleITK as sitk

    base = tmp_path / "base"
    shutil.copytree(one_patient, base)
    cycle = base / "patients" / "VP001" / "cycle_01"
    reference = _quantify(cycle)
    path = cycle / "voi" / "kidneys.nii.gz"
    voi = sitk.ReadImage(str(path))
    spacing = [s * factor for s in voi.GetSpacing()]
    size = [int(n / factor) + 2 for n in voi.GetSize()]
    origin = [o - 0.5 * s + 0.5 * t + 0.3 * t for o, s, t in
              zip(voi.GetOrigin(), voi.GetSpacing(), spacing, strict=True)]
    other = sitk.Resample(voi, size, sitk.Transform(), sitk.sitkNearestNeighbor, origin, spacing,
                          voi.GetDirection(), 0, voi.GetPixelID())
    sitk.WriteImage(other, str(path))
    moved = _quantify(cycle)
    own = {side: float((sitk.GetArrayViewFromImage(other) == lab).sum()) * float(
        np.prod(spacing)) / 1000.0 for side, lab in (("left", 1), ("right", 2))}
    for side in ("left", "right"):
        assert moved.volumes_ml[side] == pytest.approx(own[side], rel=1e-9)
        assert own[side] == pytest.approx(reference.volumes_ml[side], rel=0.05)
        a_ref = reference.spect.set_index("kidney").at[side, "voi_activity_mbq"]
        a_new = moved.spect.set_index("kidney").at[side, "voi_activity_mbq"]
        # the same kidney redrawn on another grid: the sum follows the covered volume
        assert a_new == pytest.approx(a_ref * own[side] / reference.volumes_ml[side], rel=0.03)


def test_a_recorded_kidney_mass_that_differs_is_flagged_not_silently_replaced(one_patient,
                                                                              tmp_path) -> None:
    """cycles.csv says 30 % more left-kidney mass than the CT VOI: both masses are kept in the
    derived kidney_masses.csv and the cycle is flagged, naming the mass used for the dose."""
    import pandas as pd

    from iluminet.imaging import calibrate_camera, quantify_patient, write_measurement_tables

    base = tmp_path / "base"
    shutil.copytree(one_patient, base)
    patient = base / "patients" / "VP001"
    calibration, _, _ = calibrate_camera(base / "calibration", "virtual")
    before = quantify_patient(patient, calibration)
    assert not [f for f in before.flags if "kidney mass" in f]
    image_mass = float(before.kidney_masses_g.at[0, "left_kidney_mass_g"])
    cycles = pd.read_csv(patient / "cycles.csv")
    cycles.loc[0, "left_kidney_mass_g"] = round(1.3 * image_mass, 1)
    cycles.to_csv(patient / "cycles.csv", index=False)
    after = quantify_patient(patient, calibration)
    (flag,) = [f for f in after.flags if "kidney mass" in f]
    assert "cycle 1: left kidney" in flag and "the dose uses the CT-VOI mass" in flag
    write_measurement_tables(after, tmp_path / "tables")
    masses = pd.read_csv(tmp_path / "tables" / "kidney_masses.csv")
    assert masses.at[0, "left_kidney_mass_g_recorded"] == pytest.approx(1.3 * image_mass, abs=0.1)
    assert masses.at[0, "left_kidney_mass_g"] == pytest.approx(image_mass, abs=0.1)


def test_rescale_slope_is_applied_and_is_not_a_clinical_warning(cycle: Path, caplog) -> None:
    """uint16 SPECT stored with RescaleSlope 0.5 (twice the stored values): the reader applies
    it, and the note goes to the log, not to the cycle's clinical warnings."""
    import logging

    import SimpleITK as sitk

    from iluminet.imaging.dicom_study import read_cycle_study

    spect_path = next(p for p in sorted((cycle / "dicom").rglob("*.dcm"))
                      if "RECON TOMO" in list(pydicom.dcmread(p, stop_before_pixels=True)
                                              .ImageType))
    before = float(sitk.GetArrayFromImage(read_cycle_study(cycle).spect.image).sum())
    ds = pydicom.dcmread(spect_path)
    stored = ds.pixel_array
    assert int(stored.max()) * 2 < 65536
    ds.PixelData = (stored * 2).astype(stored.dtype).tobytes()
    ds.RescaleSlope = 0.5
    ds.RescaleIntercept = 0.0
    ds.save_as(spect_path)
    with caplog.at_level(logging.INFO, logger="iluminet"):
        study = read_cycle_study(cycle)
    after = float(sitk.GetArrayFromImage(study.spect.image).sum())
    assert after == pytest.approx(before, rel=1e-9)
    assert not [f for f in study.flags if "RescaleSlope" in f]
    assert any("RescaleSlope" in r.getMessage() for r in caplog.records)


def test_images_in_another_layout_are_named_not_a_missing_csv(one_patient, tmp_path,
                                                              default_params) -> None:
    """A cycle folder called "Cycle 1/DICOM": before, the patient fell back silently to the
    measurement level and failed with "kidney_activity.csv: file not found"."""
    from iluminet.config.params import merge_parameters
    from iluminet.patient.entry import prepare_patient

    data = tmp_path / "site"
    shutil.copytree(one_patient / "patients" / "VP001", data / "VP001")
    (data / "VP001" / "cycle_01").rename(data / "VP001" / "Cycle 1")
    (data / "VP001" / "Cycle 1" / "dicom").rename(data / "VP001" / "Cycle 1" / "DICOM")
    with pytest.raises(InputError, match="holds DICOM files.*no image folder in the expected "
                                         "layout") as err:
        prepare_patient(data, "VP001", default_params)
    assert err.value.field == "analysis.imaging.cycle_folder_pattern"
    assert "Cycle 1" in str(err.value)
    site = merge_parameters(default_params, ("site", {"analysis": {"imaging": {
        "cycle_folder_pattern": r"Cycle (\d+)", "dicom_folder": "DICOM"}}}))
    prepared = prepare_patient(data, "VP001", site, work_dir=tmp_path / "work")
    assert prepared.entry_level == "images"
    assert list(prepared.record.cycles["cycle"]) == [1]


def test_planar_roi_contours_are_drawn_where_the_roi_pixels_are(cycle: Path) -> None:
    """Each ROI contour encloses its mask's pixels in the drawn image's coordinates. Before, the
    contours were drawn upside down relative to the image (row 0 at the bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from iluminet.imaging.dicom_study import read_cycle_study
    from iluminet.report.imaging_figures import ROI_COLOURS, plot_planar_with_rois

    study = read_cycle_study(cycle)
    scan = study.planar[0]
    fig = plot_planar_with_rois(scan, study.planar_rois, rows=slice(0, 256))
    for ax, (name, view) in zip(fig.axes[:2], sorted(scan.views.items()), strict=True):
        d_row, d_col = view.pixel_mm
        roi = study.planar_rois[name]
        contours = [c for c in ax.collections if hasattr(c, "get_paths")
                    and any(len(p.vertices) for p in c.get_paths())]
        drawn = [lab for lab in ROI_COLOURS if (roi == lab).any()]
        assert len(contours) == len(drawn)
        for lab, contour in zip(drawn, contours, strict=True):
            rows, cols = np.nonzero(roi == lab)
            xy = np.concatenate([p.vertices for p in contour.get_paths()])
            # the contour's extent matches the mask's pixel extent (within one pixel)
            assert xy[:, 0].min() == pytest.approx(cols.min() * d_col + d_col / 2, abs=d_col)
            assert xy[:, 0].max() == pytest.approx(cols.max() * d_col + d_col / 2, abs=d_col)
            assert xy[:, 1].min() == pytest.approx(rows.min() * d_row + d_row / 2, abs=d_row)
            assert xy[:, 1].max() == pytest.approx(rows.max() * d_row + d_row / 2, abs=d_row)
    plt.close(fig)


@pytest.mark.parametrize("defect", ["unmirrored", "swapped"])
def test_a_posterior_roi_not_mirrored_or_swapped_is_a_clear_error(one_patient, tmp_path,
                                                                  defect: str) -> None:
    """The posterior ROIs drawn without mirroring (or with the kidneys' labels swapped): before,
    the activities came out 23 % low to 7 % high with only an "overlap" warning."""
    import SimpleITK as sitk

    base = tmp_path / "base"
    shutil.copytree(one_patient, base)
    cycle = base / "patients" / "VP001" / "cycle_01"
    path = cycle / "voi" / "planar_rois_posterior.nii.gz"
    image = sitk.ReadImage(str(path))
    arr = sitk.GetArrayFromImage(image)
    if defect == "unmirrored":
        arr = arr[:, ::-1].copy()
    else:
        arr = np.select([arr == 1, arr == 2, arr == 3, arr == 4], [2, 1, 4, 3], 0).astype(
            arr.dtype)
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(image)
    sitk.WriteImage(out, str(path))
    with pytest.raises(InputError, match=r"kidney ROI of the posterior view holds \d+ % .*"
                                         "swapped, or not mirrored") as err:
        _quantify(cycle)
    assert err.value.field in ("label 1", "label 2")
    assert "planar_rois_posterior" in str(err.value)


def test_every_quantification_option_is_a_parameter(default_params) -> None:
    """Each field of QuantificationOptions is set from params/analysis.yaml (and so from --set),
    with the validated defaults of the dataclass."""
    import dataclasses

    from iluminet.config.params import as_parameters
    from iluminet.imaging import QuantificationOptions

    imaging = as_parameters(default_params).analysis.imaging
    defaults = QuantificationOptions()
    named_elsewhere = {"tissue_density_g_per_ml": "analysis.dosimetry",
                       "planar_resolution": "collimator_fwhm_at_face_mm/_slope"}
    for f in dataclasses.fields(QuantificationOptions):
        if f.name in named_elsewhere:
            continue
        value = getattr(imaging, f.name)
        expected = getattr(defaults, f.name)
        assert (tuple(value) if isinstance(expected, tuple) else value) == expected, f.name
    assert (imaging.collimator_fwhm_at_face_mm, imaging.collimator_fwhm_slope) == (
        defaults.planar_resolution.fwhm_at_face_mm, defaults.planar_resolution.fwhm_slope)


# -- VOI formats ---------------------------------------------------------------------------------
def _write_rtstruct(label_map, ct_image, path: Path, names: dict[int, str], *,
                    patient_id: str) -> None:
    """A minimal RTSTRUCT of the label map's kidneys: one closed planar contour per connected
    outline and slice (contourpy's 0.5 iso-line through the pixel centres), on the CT's frame."""
    import contourpy
    import SimpleITK as sitk
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    on_ct = sitk.Resample(label_map, ct_image, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    arr = sitk.GetArrayFromImage(on_ct)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Modality = "RTSTRUCT"
    ds.PatientID = patient_id
    ds.StructureSetROISequence = Sequence()
    ds.ROIContourSequence = Sequence()
    for number, (label, name) in enumerate(names.items(), start=1):
        roi = Dataset()
        roi.ROINumber, roi.ROIName = number, name
        ds.StructureSetROISequence.append(roi)
        item = Dataset()
        item.ReferencedROINumber = number
        item.ContourSequence = Sequence()
        for k in range(arr.shape[0]):
            mask = (arr[k] == label).astype(float)
            if not mask.any():
                continue
            padded = np.pad(mask, 1)
            for line in contourpy.contour_generator(z=padded).lines(0.5):
                xy = np.asarray(line)[:-1] - 1.0  # (x, y) pixel indices, closed ring
                physical = [ct_image.TransformContinuousIndexToPhysicalPoint(
                    (float(x), float(y), float(k))) for x, y in xy]
                contour = Dataset()
                contour.ContourGeometricType = "CLOSED_PLANAR"
                contour.NumberOfContourPoints = len(physical)
                contour.ContourData = [round(v, 4) for p in physical for v in p]
                item.ContourSequence.append(contour)
        ds.ROIContourSequence.append(item)
    ds.save_as(path, enforce_file_format=True)


def _write_seg(label_map, ct_files: list[Path], path: Path, names: dict[int, str]) -> None:
    """A binary DICOM SEG (highdicom) of the label map's kidneys on the CT slices."""
    import highdicom as hd
    import SimpleITK as sitk
    from pydicom.sr.codedict import codes

    sources = sorted((pydicom.dcmread(p) for p in ct_files),
                     key=lambda d: float(d.ImagePositionPatient[2]))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for p in ct_files])
    ct_image = reader.Execute()
    on_ct = sitk.GetArrayFromImage(sitk.Resample(label_map, ct_image, sitk.Transform(),
                                                 sitk.sitkNearestNeighbor, 0))
    index = [int(round(ct_image.TransformPhysicalPointToContinuousIndex(
        [float(v) for v in d.ImagePositionPatient])[2])) for d in sources]
    mask = np.stack([np.stack([on_ct[k] == label for label in names], axis=-1) for k in index])
    descriptions = [hd.seg.SegmentDescription(
        segment_number=n, segment_label=name, segmented_property_category=codes.SCT.Organ,
        segmented_property_type=codes.SCT.Kidney,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
        for n, name in enumerate(names.values(), start=1)]
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=mask.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=99,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="site",
        manufacturer_model_name="contouring", software_versions="1",
        device_serial_number="1")
    seg.save_as(path)


@pytest.mark.parametrize("layout", ["files_per_kidney", "site_labels", "rtstruct", "seg"])
def test_kidney_vois_in_other_formats_give_the_same_quantification(one_patient, tmp_path,
                                                                   layout: str) -> None:
    """The same kidneys as one label map (the reference), one file per kidney, a label map with
    the site's label values, or a DICOM RTSTRUCT with common ROI names: the same volumes and
    SPECT activities."""
    import pandas as pd
    import SimpleITK as sitk

    from iluminet.imaging import QuantificationOptions, calibrate_camera
    from iluminet.imaging.hybrid import quantify_cycle

    base = tmp_path / "base"
    shutil.copytree(one_patient, base)
    cycle = base / "patients" / "VP001" / "cycle_01"
    calibration, _, _ = calibrate_camera(base / "calibration", "virtual")
    row = pd.read_csv(cycle.parent / "cycles.csv").iloc[0]
    from datetime import datetime

    record = {"administration_datetime": datetime.fromisoformat(row["administration_datetime"]),
              "administered_activity_mbq": float(row["administered_activity_mbq"])}
    reference = quantify_cycle(cycle, calibration, cycle=1, cycle_record=record)
    label_map = sitk.ReadImage(str(cycle / "voi" / "kidneys.nii.gz"))
    arr = sitk.GetArrayFromImage(label_map)
    (cycle / "voi" / "kidneys.nii.gz").unlink()
    if layout == "files_per_kidney":
        for side, lab in (("left", 1), ("right", 2)):
            one = sitk.GetImageFromArray((arr == lab).astype(np.uint8))
            one.CopyInformation(label_map)
            sitk.WriteImage(one, str(cycle / "voi" / f"Kidney_{side}.nii.gz"))
        options = QuantificationOptions(kidney_voi="voi/Kidney_{side}.nii.gz")
    elif layout == "site_labels":
        site = np.select([arr == 1, arr == 2], [7, 3], 0).astype(np.uint8)
        image = sitk.GetImageFromArray(site)
        image.CopyInformation(label_map)
        sitk.WriteImage(image, str(cycle / "voi" / "organs.nii.gz"))
        options = QuantificationOptions(kidney_voi="voi/organs.nii.gz",
                                        kidney_voi_labels={"left": 7, "right": 3})
    elif layout == "seg":
        ct_files = sorted(p for p in (cycle / "dicom").rglob("*.dcm")
                          if pydicom.dcmread(p, stop_before_pixels=True).Modality == "CT")
        _write_seg(label_map, ct_files, cycle / "voi" / "SEG.dcm",
                   {1: "Kidney Left", 2: "Kidney Right"})
        options = QuantificationOptions(kidney_voi="voi/SEG.dcm")
    else:
        ct_files = sorted(p for p in (cycle / "dicom").rglob("*.dcm")
                          if pydicom.dcmread(p, stop_before_pixels=True).Modality == "CT")
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames([str(p) for p in ct_files])
        ct_image = reader.Execute()
        _write_rtstruct(label_map, ct_image, cycle / "voi" / "RS.dcm",
                        {1: "Kidney_Left", 2: "kidney right"},
                        patient_id=str(pydicom.dcmread(ct_files[0]).PatientID))
        options = QuantificationOptions(kidney_voi="voi/RS.dcm")
    moved = quantify_cycle(cycle, calibration, cycle=1, cycle_record=record, options=options)
    tolerance = 0.02 if layout == "rtstruct" else 1e-6
    for side in ("left", "right"):
        assert moved.volumes_ml[side] == pytest.approx(reference.volumes_ml[side], rel=tolerance)
        a_ref = reference.spect.set_index("kidney").at[side, "activity_mbq"]
        a_new = moved.spect.set_index("kidney").at[side, "activity_mbq"]
        assert a_new == pytest.approx(a_ref, rel=tolerance)


def test_rtstruct_without_a_kidney_name_lists_what_it_has(tmp_path) -> None:
    import SimpleITK as sitk

    from iluminet.imaging.voi_input import DEFAULT_ROI_NAMES, rtstruct_masks

    ct = sitk.Image([8, 8, 4], sitk.sitkInt16)
    arr = np.zeros((4, 8, 8), np.uint8)
    arr[1:3, 2:5, 2:5] = 1
    mask = sitk.GetImageFromArray(arr)
    _write_rtstruct(mask, ct, tmp_path / "RS.dcm", {1: "Liver"}, patient_id="X")
    with pytest.raises(InputError, match=r"no ROI named as the left kidney.*\['Liver'\]") as err:
        rtstruct_masks(tmp_path / "RS.dcm", ct, DEFAULT_ROI_NAMES)
    assert err.value.field == "ROIName"
    # names compare without case; the filled contour reproduces the mask voxel for voxel
    masks = rtstruct_masks(tmp_path / "RS.dcm", ct, {"left": ["liver"], "right": ["LIVER"]})
    assert np.array_equal(masks["left"], arr == 1)
