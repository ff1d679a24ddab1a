"""Modules that moved when the package was regrouped by domain, kept importable under their old
names (with a :class:`DeprecationWarning`) so code written against the old layout keeps working."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

#: old module name → new module name
MOVED_MODULES: dict[str, str] = {
    "iluminet.cli": "iluminet.workbook.cli",
    "iluminet.cohort": "iluminet.trial",
    "iluminet.cohort.cli": "iluminet.workbook.cli_trial",
    "iluminet.cohort.efficacy": "iluminet.trial.efficacy",
    "iluminet.cohort.outcomes": "iluminet.synthetic.trial.outcomes",
    "iluminet.cohort.parameters": "iluminet.synthetic.trial.parameters",
    "iluminet.cohort.population": "iluminet.synthetic.trial.population",
    "iluminet.cohort.safety": "iluminet.trial.safety",
    "iluminet.cohort.schema": "iluminet.trial.schema",
    "iluminet.cohort.synthetic": "iluminet.synthetic.trial.generator",
    "iluminet.cohort.synthetic_safety": "iluminet.synthetic.trial.safety",
    "iluminet.cohort.tables": "iluminet.trial.tables",
    "iluminet.cohort.treatment": "iluminet.synthetic.trial.treatment",
    "iluminet.cohort.tumour": "iluminet.synthetic.trial.tumour",
    "iluminet.ctcae": "iluminet.trial.ctcae",
    "iluminet.demo": "iluminet.synthetic.demo_patients",
    "iluminet.dosimetry": "iluminet.patient.dosimetry",
    "iluminet.figures": "iluminet.report.patient_figures",
    "iluminet.imaging.figures": "iluminet.report.imaging_figures",
    "iluminet.kinetics": "iluminet.patient.kinetics",
    "iluminet.params": "iluminet.config.params",
    "iluminet.patient_dosimetry": "iluminet.patient.chain",
    "iluminet.patient_entry": "iluminet.patient.entry",
    "iluminet.planning": "iluminet.patient.planning",
    "iluminet.proportions": "iluminet.trial.proportions",
    "iluminet.radiobiology": "iluminet.patient.radiobiology",
    "iluminet.recist": "iluminet.trial.recist",
    "iluminet.records": "iluminet.patient.records",
    "iluminet.reporting": "iluminet.report.patient_results",
    "iluminet.runner": "iluminet.workbook.runner",
    "iluminet.simulate": "iluminet.synthetic.virtual",
    "iluminet.simulate.calibration_sources": "iluminet.synthetic.virtual.calibration_sources",
    "iluminet.simulate.cli": "iluminet.workbook.cli_virtual",
    "iluminet.simulate.ct": "iluminet.synthetic.virtual.ct",
    "iluminet.simulate.dicom_io": "iluminet.synthetic.virtual.dicom_io",
    "iluminet.simulate.organ_kinetics": "iluminet.synthetic.virtual.organ_kinetics",
    "iluminet.simulate.phantom": "iluminet.synthetic.virtual.phantom",
    "iluminet.simulate.planar": "iluminet.synthetic.virtual.planar",
    "iluminet.simulate.spect": "iluminet.synthetic.virtual.spect",
    "iluminet.simulate.study": "iluminet.synthetic.virtual.study",
    "iluminet.survival": "iluminet.trial.survival",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new_name: str) -> None:
        self.new_name = new_name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(f"{spec.name} has moved to {self.new_name}; import it from there",
                      DeprecationWarning, stacklevel=2)
        return importlib.import_module(self.new_name)

    def exec_module(self, module: ModuleType) -> None:  # the new module is already executed
        return None


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Resolves an old module name to the module at its new place (the same module object)."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        new_name = MOVED_MODULES.get(fullname)
        if new_name is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new_name))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        # ahead of the path finder: a moved package's old submodule names would otherwise be found
        # on the new package's __path__ and loaded a second time as separate modules
        sys.meta_path.insert(0, MovedModuleFinder())
