"""Image-level quantification: camera calibration, DICOM study reading, planar and SPECT kidney
quantification and the hybrid (Lund) kidney time-activity curve.

Entry points: :func:`calibrate_camera`, :func:`load_calibration` / :func:`save_calibration`,
:func:`read_cycle_study`, :func:`quantify_patient`, :func:`write_measurement_tables`.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below are imported on first use (see __getattr__)
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

#: exported name -> module that defines it
_EXPORTS: dict[str, str] = {
    "CameraCalibration": "iluminet.imaging.calibration",
    "calibrate_camera": "iluminet.imaging.calibration",
    "calibration_age_flags": "iluminet.imaging.calibration",
    "load_calibration": "iluminet.imaging.calibration",
    "save_calibration": "iluminet.imaging.calibration",
    "CycleStudy": "iluminet.imaging.dicom_study",
    "read_cycle_study": "iluminet.imaging.dicom_study",
    "PatientQuantification": "iluminet.imaging.hybrid",
    "QuantificationOptions": "iluminet.imaging.hybrid",
    "quantify_cycle": "iluminet.imaging.hybrid",
    "quantify_patient": "iluminet.imaging.hybrid",
    "write_measurement_tables": "iluminet.imaging.hybrid",
}

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


def __getattr__(name: str) -> Any:
    # lazy: importing the package does not import its heavy dependencies until a name is used
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
