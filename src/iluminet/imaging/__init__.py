"""Image-level quantification: camera calibration, DICOM study reading, planar and SPECT kidney
quantification and the hybrid (Lund) kidney time-activity curve.

Entry points: :func:`calibrate_camera`, :func:`load_calibration` / :func:`save_calibration`,
:func:`read_cycle_study`, :func:`quantify_patient`, :func:`write_measurement_tables`.
"""

from iluminet.imaging.calibration import (
    CameraCalibration,
    calibrate_camera,
    calibration_age_flags,
    load_calibration,
    save_calibration,
)
from iluminet.imaging.dicom_study import CycleStudy, read_cycle_study
from iluminet.imaging.hybrid import (
    PatientQuantification,
    QuantificationOptions,
    quantify_cycle,
    quantify_patient,
    write_measurement_tables,
)

__all__ = [
    "CameraCalibration",
    "CycleStudy",
    "PatientQuantification",
    "QuantificationOptions",
    "calibrate_camera",
    "calibration_age_flags",
    "load_calibration",
    "quantify_cycle",
    "quantify_patient",
    "read_cycle_study",
    "save_calibration",
    "write_measurement_tables",
]
