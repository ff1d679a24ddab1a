"""Is a report's data generated? Each generator marks what it writes, and this module reads the
marks so every report can carry a **SYNTHETIC DATA** banner:

* demo patients (:mod:`iluminet.synthetic.demo_patients`): ``patient.yaml`` opens with a
  ``# SYNTHETIC …`` comment;
* virtual patients (:mod:`iluminet.synthetic.virtual`): the folder holding the patient folders has
  a ``virtual_patients.json`` manifest naming its ``generator``;
* synthetic trial cohorts (:mod:`iluminet.synthetic.trial`): ``provenance.json`` with a true
  ``synthetic`` key or a ``generator`` entry, or a ``README.md`` that says "synthetic".

Data without any of these marks are reported as supplied.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DataSource", "cohort_source", "patient_source"]

VIRTUAL_MANIFEST = "virtual_patients.json"


@dataclass(frozen=True)
class DataSource:
    """Where the data of a report come from."""

    synthetic: bool
    description: str
    seed: int | None = None


def _json(path: Path) -> Mapping[str, Any]:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return content if isinstance(content, Mapping) else {}


def patient_source(patient_folder: str | Path) -> DataSource:
    """The data source of one patient folder (``<data_dir>/<patient_id>/``)."""
    folder = Path(patient_folder)
    yaml_file = folder / "patient.yaml"
    if yaml_file.is_file():
        head = yaml_file.read_text(encoding="utf-8").lstrip().splitlines()[:3]
        comments = " ".join(line.lstrip("# ") for line in head if line.startswith("#"))
        if "synthetic" in comments.casefold():
            return DataSource(True, "generated demo patient (iluminet.synthetic.demo_patients)"
                                    " — not real patient data")
    for parent in (folder.parent, folder.parent.parent):
        manifest = parent / VIRTUAL_MANIFEST
        if manifest.is_file():
            content = _json(manifest)
            names = content.get("patients") or []
            if "generator" in content and (not names or folder.name in names):
                seed = content.get("seed")
                return DataSource(True, "virtual patient: DICOM images simulated by "
                                        f"{content['generator']} — not real patient data",
                                  seed if isinstance(seed, int) else None)
    return DataSource(False, "patient data as supplied (not marked synthetic)")


def cohort_source(cohort_folder: str | Path) -> DataSource:
    """The data source of a cohort folder (the trial tables)."""
    folder = Path(cohort_folder)
    synthetic, seed = False, None
    prov = folder / "provenance.json"
    if prov.is_file():
        content = _json(prov)
        synthetic = bool(content.get("synthetic")) or "generator" in content
        parameters = content.get("parameters")
        seed = content.get("seed", parameters.get("seed") if isinstance(parameters, Mapping)
                           else None)
    readme = folder / "README.md"
    if not synthetic and readme.is_file():
        synthetic = "synthetic" in readme.read_text(encoding="utf-8").casefold()
    if synthetic:
        return DataSource(True, "a simulated ILUMINET-like cohort, not the trial's patients; its "
                                "numbers illustrate the analysis and do not reproduce the paper.",
                          seed if isinstance(seed, int) else None)
    return DataSource(False, "cohort tables as supplied (not marked synthetic)")
