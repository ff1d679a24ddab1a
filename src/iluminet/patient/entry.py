"""The two entry levels of per-patient dosimetry, meeting in one measurement-level record.

*Measurement level*: the patient folder holds ``kidney_activity.csv`` (calibrated kidney activities
from the centre's own software). *Image level*: the folder holds ``cycle_NN/`` image folders (DICOM
planar whole body, SPECT/CT, kidney VOIs); the hybrid planar/SPECT quantification
(:mod:`iluminet.imaging`) derives the same table, with kidney masses from the CT VOIs, into a work
folder (the report folder in a batch) — raw data are never written to. Either way the result is a
:class:`~iluminet.patient.records.PatientRecord` for
:func:`~iluminet.patient.chain.run_patient_dosimetry`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from iluminet.config.models import Parameters
from iluminet.config.params import as_parameters, params_dir
from iluminet.errors import InputError
from iluminet.imaging.layout import CYCLE_FOLDER_PATTERN, DICOM_FOLDER, cycle_image_folders
from iluminet.patient.records import (
    ACTIVITY_FILE,
    CYCLES_FILE,
    PATIENT_FILE,
    PatientRecord,
    load_patient,
)

ENTRY_LEVELS = ("auto", "images", "measurements")
IMAGE_TABLES_DIR = "image_quantification"
# A site whose DICOM PatientIDs differ from the pseudonymous folder names keeps the mapping in the
# data folder (next to the patient folders): columns patient_id, dicom_patient_id.
DICOM_ID_MAP_FILE = "dicom_patient_ids.csv"


@dataclass
class PreparedPatient:
    """A patient ready for the dosimetry chain, and how it got there."""

    record: PatientRecord
    entry_level: str  # "images" or "measurements"
    quantification: Any | None = None  # iluminet.imaging.PatientQuantification
    calibration: Any | None = None  # iluminet.imaging.CameraCalibration
    warnings: list[str] = field(default_factory=list)
    source_folder: Path | None = None  # the patient's own folder under the data root

    def input_files(self) -> list[Path]:
        """Every file the results depend on (for provenance): the patient's tables, and at image
        level the DICOM and VOI files of each cycle. Tables derived from the images into a work
        folder are not inputs: the images they come from are."""
        if self.quantification is None:
            return self.record.input_files()
        folder = Path(self.quantification.folder)
        files = [folder / name for name in (PATIENT_FILE, CYCLES_FILE) if (folder / name).is_file()]
        for sub in sorted(folder.glob("cycle_*")):
            files += sorted(p for p in sub.rglob("*") if p.is_file() and p.name != "truth.json")
        return files

    def data_root(self) -> Path:
        """The folder holding the patient folders (provenance paths are relative to it)."""
        own = self.source_folder if self.source_folder is not None else self.record.folder
        return Path(own).resolve().parent


def has_images(folder: Path, pattern: str = CYCLE_FOLDER_PATTERN,
               dicom_folder: str = DICOM_FOLDER) -> bool:
    """Whether a patient folder holds image folders (default ``cycle_NN/dicom``)."""
    return bool(cycle_image_folders(folder, pattern, dicom_folder))


def _stray_dicom(folder: Path) -> Path | None:
    """A DICOM file anywhere under ``folder``, if any."""
    from iluminet.imaging.voi_input import is_dicom_file

    return next((p for p in sorted(Path(folder).rglob("*")) if p.is_file() and is_dicom_file(p)),
                None)


def expected_dicom_patient_id(folder: Path, patient_id: str) -> str:
    """The PatientID the patient's DICOM files must carry: ``dicom_patient_id`` of
    ``patient.yaml``, else the site mapping ``<data folder>/dicom_patient_ids.csv``, else the
    patient ID itself."""
    from iluminet.patient.records import _read_csv, read_patient_info

    info = read_patient_info(folder / PATIENT_FILE)
    if info.get("dicom_patient_id"):
        return str(info["dicom_patient_id"]).strip()
    mapping = folder.parent / DICOM_ID_MAP_FILE
    if mapping.is_file():
        table = _read_csv(mapping, ("patient_id", "dicom_patient_id"))
        rows = table[table["patient_id"] == patient_id]
        if len(rows) > 1:
            raise InputError(f"patient {patient_id} is listed {len(rows)} times",
                             source=str(mapping), field="patient_id")
        if len(rows) == 1 and rows["dicom_patient_id"].iloc[0]:
            return str(rows["dicom_patient_id"].iloc[0])
    return patient_id


def _quantify(folder: Path, patient_id: str, parameters: Parameters | Mapping[str, Any],
              work_dir: Path) -> PreparedPatient:
    from iluminet.imaging import (
        QuantificationOptions,
        load_calibration,
        quantify_patient,
        write_measurement_tables,
    )
    from iluminet.imaging.planar import CollimatorResolution

    analysis = as_parameters(parameters).analysis
    imaging = analysis.imaging
    calibration_file = params_dir() / imaging.camera_calibration
    if not calibration_file.is_file():
        raise InputError("camera calibration not found: run notebook 01_image_calibration with "
                         "write_params=True", source=str(calibration_file),
                         field="analysis.imaging.camera_calibration")
    calibration = load_calibration(calibration_file)
    options = QuantificationOptions(
        tissue_density_g_per_ml=analysis.dosimetry.tissue_density_g_per_ml,
        max_calibration_age_days=imaging.max_calibration_age_days,
        shape_views=imaging.shape_views, recovery_method=imaging.recovery_method,
        max_kidney_mass_difference=imaging.max_kidney_mass_difference,
        min_roi_voi_overlap=imaging.min_roi_voi_overlap,
        max_overlap_ratio=imaging.max_overlap_ratio, min_kidney_share=imaging.min_kidney_share,
        max_background_hot_fraction=imaging.max_background_hot_fraction,
        tissue_hu_range=(imaging.tissue_hu_range[0], imaging.tissue_hu_range[1]),
        activity_rtol=imaging.activity_rtol, small_voi_radius_mm=imaging.small_voi_radius_mm,
        planar_resolution=CollimatorResolution(imaging.collimator_fwhm_at_face_mm,
                                               imaging.collimator_fwhm_slope),
        site_timezone=imaging.site_timezone, kidney_voi=imaging.kidney_voi,
        kidney_voi_labels={str(k): v for k, v in imaging.kidney_voi_labels.items()},
        kidney_roi_names={k: list(v) for k, v in imaging.kidney_roi_names.items()})
    quantification = quantify_patient(folder, calibration, options=options,
                                      cycle_folders=cycle_image_folders(
                                          folder, imaging.cycle_folder_pattern,
                                          imaging.dicom_folder),
                                      expected_patient_id=expected_dicom_patient_id(folder,
                                                                                    patient_id))
    tables = work_dir / IMAGE_TABLES_DIR
    write_measurement_tables(quantification, tables)
    from iluminet.patient.marrow_records import BLOOD_FILE, WHOLE_BODY_FILE

    for name in (BLOOD_FILE, WHOLE_BODY_FILE):  # marrow inputs travel with the derived tables
        if (folder / name).is_file():
            shutil.copyfile(folder / name, tables / name)
    try:
        record = load_patient(tables, patient_id)
    except InputError as exc:
        raise derived_table_error(exc, quantification, folder) from None
    # the quantification flags (calibration age among them) are warnings for the report; a
    # misplaced kidney VOI also withholds its cycle (the kidney activity is not the kidney's)
    if quantification.withhold:
        record = replace(record, cycle_flags={
            int(c): tuple(f"implausible: {reason}" for reason in reasons)
            for c, reasons in quantification.withhold.items()})
    warnings = list(dict.fromkeys(quantification.flags))
    return PreparedPatient(record, "images", quantification, calibration, warnings,
                           source_folder=folder)


def _message_of(exc: InputError) -> str:
    """The message of ``exc`` without its ``source: field '…':`` prefix."""
    text = str(exc)
    for part in (exc.source, f"field '{exc.field}'" if exc.field else None):
        if part and text.startswith(f"{part}: "):
            text = text[len(part) + 2:]
    return text


def derived_table_error(exc: InputError, quantification: Any, folder: Path) -> InputError:
    """An error found in the tables derived from a patient's images, attributed to its source.

    The derived tables live in a work folder nobody knows; the error names what they were
    derived from instead: for a kidney activity the planar DICOM series of that scan (its
    SeriesDescription, SeriesInstanceUID and file) and the SPECT series that scales it, for a
    kidney mass the CT series (:meth:`iluminet.imaging.PatientQuantification.origin`); the error
    source is that series' first file. A value that is not derived (the patient's own
    ``patient.yaml`` or ``cycles.csv``) is named in the patient's own file.
    """
    table = Path(exc.source).name if exc.source else ""
    message = _message_of(exc)
    found = re.match(r"row (\d+)\b", message)
    row = int(found.group(1)) if found else None
    origin = (quantification.origin(table, row, exc.field)
              if hasattr(quantification, "origin") else None)
    if origin is not None:
        text, first_file = origin
        detail = re.sub(r"^row \d+:\s*", "", message)
        return InputError(f"the value derived from {text} is invalid: {detail}",
                          source=str(first_file), field=exc.field)
    if table in (PATIENT_FILE, CYCLES_FILE):
        return InputError(message, source=str(folder / table), field=exc.field)
    return InputError(f"the kidney activities derived from the images of {folder.name} "
                      f"(cycle_NN/dicom) are invalid: {message}", source=str(folder),
                      field=exc.field)


def prepare_patient(data_dir: str | Path, patient_id: str,
                    parameters: Parameters | Mapping[str, Any], *,
                    entry_level: str = "auto", work_dir: str | Path = "") -> PreparedPatient:
    """Read a patient at the requested entry level.

    Parameters
    ----------
    data_dir
        Folder holding the patient folders.
    patient_id
        The patient's folder name.
    parameters
        Merged parameters (:func:`iluminet.config.params.load_parameters`).
    entry_level
        ``images`` (quantify the DICOM studies), ``measurements`` (read ``kidney_activity.csv``)
        or ``auto`` (images when the patient has image folders, else measurements).
    work_dir
        Where the image-level tables are written (``<work_dir>/image_quantification/``); empty:
        a temporary folder.
    """
    for name, value in (("patient_id", patient_id), ("data_dir", data_dir)):
        if not str(value).strip():
            # the notebooks' defaults are empty so that a misspelled or missing parameter name
            # (papermill only warns about it) can never fall back to another patient's data
            raise InputError("not set: pass it explicitly, e.g. papermill … -p patient_id P001 "
                             "-p data_dir data/patients (a misspelled parameter name?)",
                             source="notebook parameters", field=name)
    if entry_level not in ENTRY_LEVELS:
        raise InputError(f"expected one of {', '.join(ENTRY_LEVELS)}, got {entry_level!r}",
                         source="notebook parameters", field="entry_level")
    folder = Path(data_dir) / patient_id
    if not folder.is_dir():
        raise InputError("patient folder not found", source=str(folder))
    imaging = as_parameters(parameters).analysis.imaging
    layout = (imaging.cycle_folder_pattern, imaging.dicom_folder)
    images = has_images(folder, *layout)
    expected = (f"cycle folders matching '{layout[0]}' holding a '{layout[1]}' folder "
                "(analysis.imaging.cycle_folder_pattern, analysis.imaging.dicom_folder); found "
                f"sub-folders {sorted(p.name for p in folder.iterdir() if p.is_dir())}")
    if entry_level == "images" and not images:
        raise InputError(f"no image folder: expected {expected}", source=str(folder),
                         field="entry_level")
    if entry_level == "measurements" or (entry_level == "auto" and not images):
        if not (folder / ACTIVITY_FILE).is_file() and images:
            raise InputError("no kidney_activity.csv; the patient has images: use entry_level "
                             "'images' or 'auto'", source=str(folder), field="entry_level")
        stray = None if (folder / ACTIVITY_FILE).is_file() else _stray_dicom(folder)
        if stray is not None:
            # images in another layout: say so, instead of "kidney_activity.csv not found"
            raise InputError(f"holds DICOM files (e.g. {stray.relative_to(folder)}) but no image "
                             f"folder in the expected layout: {expected}",
                             source=str(folder), field="analysis.imaging.cycle_folder_pattern")
        return PreparedPatient(load_patient(folder), "measurements", source_folder=folder)
    work = Path(work_dir) if str(work_dir) else Path(tempfile.mkdtemp(prefix="iluminet-"))
    return _quantify(folder, patient_id, parameters, work)
