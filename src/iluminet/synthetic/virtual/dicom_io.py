"""DICOM writers for the simulated acquisitions (pydicom), laid out like vendor exports.

* **CT**: CT Image Storage, one file per slice, ``RescaleSlope``/``RescaleIntercept`` (stored value
  = HU + 1024), ``ImagePositionPatient`` per slice, identity ``ImageOrientationPatient``.
* **Planar whole body / static**: NM Image Storage, one file per view with three frames (one per
  energy window): ``EnergyWindowVector`` = 1\\2\\3, ``DetectorVector`` = 1\\1\\1,
  ``EnergyWindowInformationSequence`` with ``EnergyWindowRangeSequence`` limits,
  ``DetectorInformationSequence`` with ``ViewCodeSequence`` (SNOMED CT, DICOM CID 26: anterior
  projection 399321004, posterior projection 399001007), ``PatientOrientation``, ``PixelSpacing``,
  ``ActualFrameDuration`` (ms: the exposure of a static view, the whole sweep of a whole-body
  scan) and, for whole-body scans, ``ScanVelocity``, ``ScanLength`` and the detector's
  ``FieldOfViewDimensions``. Both views of one acquisition share a series.
* **SPECT**: NM Image Storage, ImageType ``RECON TOMO``, one multi-frame file (one frame per slice,
  ``FrameIncrementPointer`` → ``SliceVector``), geometry in ``DetectorInformationSequence``
  (``ImagePositionPatient`` of the first frame, ``ImageOrientationPatient``) and
  ``SpacingBetweenSlices``: the layout of vendor reconstructions, which SimpleITK/GDCM read as a
  3-D image with correct origin, spacing and direction (a per-slice NM series loses the geometry in
  GDCM). Counts are stored as unsigned 16-bit integers without rescaling.

Every series carries ``AcquisitionDate``/``AcquisitionTime`` and ``TimezoneOffsetFromUTC``; NM
objects carry ``RadiopharmaceuticalInformationSequence`` with ``RadiopharmaceuticalStartDateTime``
(with UTC offset) and ``RadionuclideTotalDose``. The unit of ``RadionuclideTotalDose`` follows the
NM Isotope module of the DICOM standard (C.8.4.10.1.7): **MBq** (the PET module uses Bq).
UIDs are derived deterministically from the simulation seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid

from iluminet.errors import InputError
from iluminet.nuclide import LU177
from iluminet.synthetic.virtual.phantom import Grid
from iluminet.synthetic.virtual.planar import EnergyWindow

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
NM_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.20"
VIEW_CODES = {  # SNOMED CT, DICOM CID 26 "Nuclear Medicine Projections"
    "anterior": ("399321004", "SCT", "Anterior projection"),
    "posterior": ("399001007", "SCT", "Posterior projection"),
}
PATIENT_ORIENTATION = {"anterior": ["L", "F"], "posterior": ["R", "F"]}
RADIOPHARMACEUTICAL = "177Lu-DOTATATE"
MANUFACTURER = "iluminet virtual camera"


def uid_from(*parts: object) -> str:
    """A deterministic UID (pydicom root) from the given parts."""
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InputError(
            f"{name} {value.isoformat()} has no timezone", source="DICOM writer", field=name
        )


def dicom_date(value: datetime) -> str:
    return value.strftime("%Y%m%d")


def dicom_time(value: datetime) -> str:
    return value.strftime("%H%M%S.%f")


def dicom_offset(value: datetime) -> str:
    """UTC offset as ±HHMM (TimezoneOffsetFromUTC)."""
    _require_aware(value, "datetime")
    minutes = int(value.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def dicom_datetime(value: datetime) -> str:
    """DT value with UTC offset, e.g. ``20240305093000.000000+0100``."""
    return value.strftime("%Y%m%d%H%M%S.%f") + dicom_offset(value)


@dataclass(frozen=True)
class PatientInfo:
    """Pseudonymous patient identity (no birth date, no real names)."""

    patient_id: str
    sex: str = "O"
    age_years: int | None = None

    @property
    def patient_name(self) -> str:
        return f"VIRTUAL^{self.patient_id}"


@dataclass(frozen=True)
class SeriesInfo:
    """Study/series identity and times of one acquisition (timezone-aware datetimes)."""

    study_uid: str
    series_uid: str
    series_number: int
    series_description: str
    study_datetime: datetime
    acquisition_datetime: datetime
    frame_of_reference_uid: str | None = None
    study_id: str = "1"
    accession_number: str = ""


@dataclass(frozen=True)
class Administration:
    """Radiopharmaceutical administration written to NM objects."""

    start: datetime
    activity_mbq: float
    radiopharmaceutical: str = RADIOPHARMACEUTICAL


def _base(
    sop_class: str, sop_uid: str, modality: str, patient: PatientInfo, series: SeriesInfo
) -> Dataset:
    for name in ("study_datetime", "acquisition_datetime"):
        _require_aware(getattr(series, name), name)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    acq, study = series.acquisition_datetime, series.study_datetime
    ds.StudyDate, ds.StudyTime = dicom_date(study), dicom_time(study)
    ds.SeriesDate, ds.SeriesTime = dicom_date(acq), dicom_time(acq)
    ds.AcquisitionDate, ds.AcquisitionTime = dicom_date(acq), dicom_time(acq)
    ds.ContentDate, ds.ContentTime = dicom_date(acq), dicom_time(acq)
    ds.TimezoneOffsetFromUTC = dicom_offset(acq)
    ds.Modality = modality
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = "iluminet.synthetic.virtual"
    ds.InstitutionName = "Virtual therapy centre"
    ds.ReferringPhysicianName = ""
    ds.AccessionNumber = series.accession_number
    ds.StudyDescription = "177Lu-DOTATATE dosimetry"
    ds.SeriesDescription = series.series_description
    ds.PatientName = patient.patient_name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = patient.sex
    if patient.age_years is not None:
        ds.PatientAge = f"{int(patient.age_years):03d}Y"
    ds.PatientIdentityRemoved = "YES"
    ds.StudyInstanceUID = series.study_uid
    ds.SeriesInstanceUID = series.series_uid
    ds.StudyID = series.study_id
    ds.SeriesNumber = series.series_number
    if series.frame_of_reference_uid:
        ds.FrameOfReferenceUID = series.frame_of_reference_uid
        ds.PositionReferenceIndicator = ""
    return ds


def _pixels_uint16(values: np.ndarray, name: str) -> np.ndarray:
    """Round to integers and check the unsigned 16-bit range."""
    out = np.rint(np.asarray(values, dtype=np.float64))
    if out.size and (out.min() < 0 or out.max() > 65535):
        raise InputError(
            f"{name} values {out.min():.0f}–{out.max():.0f} do not fit 16 bits; "
            f"shorten the acquisition",
            source="DICOM writer",
            field=name,
        )
    return out.astype(np.uint16)


def _set_pixel_module(ds: Dataset, rows: int, columns: int, pixels: np.ndarray) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(rows), int(columns)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()


def _save(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


# -- CT --------------------------------------------------------------------------------------------
def write_ct_series(
    folder: Path,
    hu: np.ndarray,
    grid: Grid,
    patient: PatientInfo,
    series: SeriesInfo,
    *,
    kvp: float = 120.0,
) -> list[Path]:
    """Write a CT volume (HU, array [z, y, x] on ``grid``), one CT Image Storage file per slice."""
    if series.frame_of_reference_uid is None:
        raise InputError(
            "a CT series needs a FrameOfReferenceUID",
            source="DICOM writer",
            field="FrameOfReferenceUID",
        )
    hu = np.asarray(hu)
    if hu.shape != grid.shape_zyx:
        raise InputError(
            f"CT array shape {hu.shape} differs from the grid {grid.shape_zyx}",
            source="DICOM writer",
            field="hu",
        )
    stored = _pixels_uint16(np.clip(hu, -1024, 64511) + 1024, "CT pixel")
    nz, ny, nx = grid.shape_zyx
    dx, dy, dz = grid.spacing_mm
    x0, y0, z0 = grid.origin_mm
    paths = []
    for k in range(nz):
        uid = uid_from(series.series_uid, "slice", k)
        ds = _base(CT_IMAGE_STORAGE, uid, "CT", patient, series)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.KVP = kvp
        ds.PatientPosition = "HFS"
        ds.InstanceNumber = k + 1
        ds.AcquisitionNumber = 1
        ds.ImagePositionPatient = [float(x0), float(y0), float(z0 + k * dz)]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.SliceLocation = float(z0 + k * dz)
        ds.SliceThickness = float(dz)
        ds.PixelSpacing = [float(dy), float(dx)]  # row spacing (y), column spacing (x)
        ds.RescaleIntercept = -1024.0
        ds.RescaleSlope = 1.0
        ds.RescaleType = "HU"
        ds.WindowCenter, ds.WindowWidth = 40.0, 400.0
        _set_pixel_module(ds, ny, nx, stored[k])
        paths.append(_save(ds, folder / f"CT_{k + 1:04d}.dcm"))
    return paths


# -- NM common -------------------------------------------------------------------------------------
def _radiopharmaceutical(admin: Administration) -> Dataset:
    _require_aware(admin.start, "administration start")
    item = Dataset()
    item.Radiopharmaceutical = admin.radiopharmaceutical
    item.RadiopharmaceuticalStartDateTime = dicom_datetime(admin.start)
    item.RadiopharmaceuticalStartTime = dicom_time(admin.start)
    item.RadionuclideTotalDose = round(float(admin.activity_mbq), 4)  # MBq (NM Isotope module)
    item.RadionuclideHalfLife = LU177.half_life_h * 3600.0
    item.RadionuclideCodeSequence = []
    return item


def _energy_windows(windows: Sequence[EnergyWindow]) -> list[Dataset]:
    items = []
    for w in windows:
        rng_item = Dataset()
        rng_item.EnergyWindowLowerLimit = float(w.lower_kev)
        rng_item.EnergyWindowUpperLimit = float(w.upper_kev)
        item = Dataset()
        item.EnergyWindowRangeSequence = [rng_item]
        item.EnergyWindowName = w.name
        items.append(item)
    return items


def _view_code(view: str) -> Dataset:
    value, scheme, meaning = VIEW_CODES[view]
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, scheme, meaning
    return code


def write_nm_planar(
    path: Path,
    frames: Sequence[np.ndarray],
    windows: Sequence[EnergyWindow],
    view: str,
    pixel_mm: float,
    exposure_s: float,
    patient: PatientInfo,
    series: SeriesInfo,
    admin: Administration,
    *,
    instance_number: int,
    whole_body: bool = True,
    scan_velocity_mm_s: float | None = None,
    distance_to_source_mm: float | None = None,
    image_plane: tuple[list[float], list[float]] | None = None,
    comments: str = "",
) -> Path:
    """One planar view: NM Image with one frame per energy window (counts, uint16).

    ``image_plane`` = (ImagePositionPatient, ImageOrientationPatient) of the projection, written to
    the DetectorInformationSequence item (GDCM/SimpleITK need them to read NM images).

    A static view's ``ActualFrameDuration`` is its exposure time (ms). A whole-body view is written
    as the vendors do: ``ActualFrameDuration`` is the duration of the whole sweep, and the exposure
    of each pixel follows from the detector's ``FieldOfViewDimensions`` (axial = ``exposure_s`` ×
    ``scan_velocity_mm_s``) and ``ScanVelocity`` (mm/s).
    """
    if view not in VIEW_CODES:
        raise InputError(
            f"view must be anterior or posterior, got {view!r}", source="DICOM writer", field="view"
        )
    if len(frames) != len(windows):
        raise InputError(
            "one frame per energy window is required", source="DICOM writer", field="frames"
        )
    stack = _pixels_uint16(np.stack(frames), "planar counts")
    n, rows, cols = stack.shape
    uid = uid_from(series.series_uid, view, instance_number)
    ds = _base(NM_IMAGE_STORAGE, uid, "NM", patient, series)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "WHOLE BODY" if whole_body else "STATIC", "EMISSION"]
    ds.InstanceNumber = instance_number
    ds.NumberOfFrames = n
    ds.FrameIncrementPointer = [0x00540010, 0x00540020]  # EnergyWindowVector, DetectorVector
    ds.EnergyWindowVector = list(range(1, n + 1))
    ds.NumberOfEnergyWindows = n
    ds.EnergyWindowInformationSequence = _energy_windows(windows)
    ds.DetectorVector = [1] * n
    ds.NumberOfDetectors = 1
    det = Dataset()
    det.ViewCodeSequence = [_view_code(view)]
    det.CollimatorGridName = "MEGP"
    det.CollimatorType = "PARA"
    det.ZoomFactor = [1.0, 1.0]
    if distance_to_source_mm is not None:
        det.DistanceSourceToDetector = float(distance_to_source_mm)
    position, orientation = image_plane or ([0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0, -1.0])
    det.ImagePositionPatient = [float(v) for v in position]
    det.ImageOrientationPatient = [float(v) for v in orientation]
    ds.DetectorInformationSequence = [det]
    ds.RadiopharmaceuticalInformationSequence = [_radiopharmaceutical(admin)]
    ds.PatientOrientation = PATIENT_ORIENTATION[view]
    ds.PixelSpacing = [float(pixel_mm), float(pixel_mm)]
    ds.CountsAccumulated = int(stack.astype(np.int64).sum())
    if whole_body:
        if scan_velocity_mm_s is None:
            raise InputError("a whole-body view needs its scan velocity", source="DICOM writer",
                             field="scan_velocity_mm_s")
        # as the vendors store a sweep: the detector's field of view (across, along the scan),
        # the table speed, and ActualFrameDuration = the whole scan's duration
        axial_fov_mm = exposure_s * float(scan_velocity_mm_s)
        det.FieldOfViewShape = "RECTANGLE"
        det.FieldOfViewDimensions = [int(round(cols * pixel_mm)), round(axial_fov_mm, 3)]
        ds.WholeBodyTechnique = ["1PS"]
        ds.ScanVelocity = float(scan_velocity_mm_s)
        ds.ScanLength = int(round(rows * pixel_mm))
        scan_s = (rows * pixel_mm + axial_fov_mm) / float(scan_velocity_mm_s)
        ds.ActualFrameDuration = int(round(scan_s * 1000.0))
    else:
        ds.ActualFrameDuration = int(round(exposure_s * 1000.0))
    ds.CorrectedImage = ["UNIF", "COR"]
    if comments:
        ds.ImageComments = comments[:10240]
    _set_pixel_module(ds, rows, cols, stack)
    return _save(ds, path)


def write_nm_recon(
    path: Path,
    counts: np.ndarray,
    grid: Grid,
    patient: PatientInfo,
    series: SeriesInfo,
    admin: Administration,
    *,
    window: EnergyWindow,
    seconds_per_projection: float,
    projections_per_detector: int,
    detectors: int,
    comments: str = "",
) -> Path:
    """Reconstructed SPECT (counts, array [z, y, x] on ``grid``) as a multi-frame NM RECON TOMO."""
    if series.frame_of_reference_uid is None:
        raise InputError(
            "a SPECT series needs a FrameOfReferenceUID",
            source="DICOM writer",
            field="FrameOfReferenceUID",
        )
    if np.asarray(counts).shape != grid.shape_zyx:
        raise InputError(
            f"SPECT array shape {np.shape(counts)} differs from the grid {grid.shape_zyx}",
            source="DICOM writer",
            field="counts",
        )
    stack = _pixels_uint16(counts, "SPECT counts")
    nz, ny, nx = grid.shape_zyx
    dx, dy, dz = grid.spacing_mm
    uid = uid_from(series.series_uid, "recon")
    ds = _base(NM_IMAGE_STORAGE, uid, "NM", patient, series)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.InstanceNumber = 1
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = [0x00540080]  # SliceVector
    ds.SliceVector = list(range(1, nz + 1))
    ds.NumberOfSlices = nz
    ds.EnergyWindowVector = [1] * nz
    ds.NumberOfEnergyWindows = 1
    ds.EnergyWindowInformationSequence = _energy_windows([window])
    ds.DetectorVector = [1] * nz
    ds.NumberOfDetectors = 1  # a reconstruction has a single "detector" carrying the geometry
    det = Dataset()
    det.ImagePositionPatient = [float(v) for v in grid.origin_mm]
    det.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    det.CollimatorGridName = "MEGP"
    det.CollimatorType = "PARA"
    ds.DetectorInformationSequence = [det]
    rot = Dataset()
    rot.StartAngle = 0.0
    rot.AngularStep = 360.0 / (projections_per_detector * detectors)
    rot.RotationDirection = "CW"
    rot.ScanArc = 360.0 / detectors
    rot.ActualFrameDuration = int(round(seconds_per_projection * 1000.0))
    rot.NumberOfFramesInRotation = projections_per_detector
    ds.RotationInformationSequence = [rot]
    ds.NumberOfRotations = 1
    ds.RadiopharmaceuticalInformationSequence = [_radiopharmaceutical(admin)]
    ds.PixelSpacing = [float(dy), float(dx)]
    ds.SliceThickness = float(dz)
    ds.SpacingBetweenSlices = float(dz)
    ds.CorrectedImage = ["UNIF", "COR", "ATTN", "SCAT"]
    ds.PatientPosition = "HFS"
    if comments:
        ds.ImageComments = comments[:10240]
    _set_pixel_module(ds, ny, nx, stack)
    return _save(ds, path)
