"""Where a patient's image folders are: one folder per cycle, found by a name pattern.

Light on purpose (no image library): the entry level of a patient is decided from it before any
image is read.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["CYCLE_FOLDER_PATTERN", "DICOM_FOLDER", "cycle_image_folders"]

#: Default image layout: ``cycle_01/dicom/…`` (``analysis.imaging.cycle_folder_pattern``, a regular
#: expression whose first group is the cycle number, and ``analysis.imaging.dicom_folder``).
CYCLE_FOLDER_PATTERN = r"cycle_(\d+)"
DICOM_FOLDER = "dicom"


def cycle_image_folders(folder: Path, pattern: str = CYCLE_FOLDER_PATTERN,
                        dicom_folder: str | None = DICOM_FOLDER) -> dict[int, Path]:
    """``{cycle: cycle folder}`` of the sub-folders whose name matches ``pattern`` (a regular
    expression whose first group is the cycle number) and that hold ``dicom_folder`` (``None``:
    any matching folder)."""
    regex = re.compile(pattern)
    found: dict[int, Path] = {}
    for sub in sorted(Path(folder).iterdir()) if Path(folder).is_dir() else []:
        match = regex.fullmatch(sub.name)
        if sub.is_dir() and match and (dicom_folder is None or (sub / dicom_folder).is_dir()):
            found[int(match.group(1))] = sub
    return found
