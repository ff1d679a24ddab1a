"""Direct papermill use: a misspelled or missing parameter cannot produce another patient's report.

The notebooks' ``patient_id`` and ``data_dir`` default to empty (which is an error); the demo's
values live in the stored ``injected-parameters`` cell, which nbval executes as stored and which
papermill replaces with the parameters it is given. A typo (``-p patientid P002``) therefore leaves
``patient_id`` empty and the run fails instead of silently showing the demo patient.
"""

from __future__ import annotations

import nbformat
import pytest

from iluminet.errors import InputError
from iluminet.patient.entry import prepare_patient
from iluminet.workbook.runner import PATIENT_NOTEBOOKS

KERNEL = "python3"


@pytest.mark.parametrize("name", PATIENT_NOTEBOOKS)
def test_defaults_are_empty_and_the_demo_is_in_the_replaceable_cell(workbook_root, name):
    notebook = nbformat.read(workbook_root / "notebooks" / f"{name}.ipynb", as_version=4)
    tags = [cell.metadata.get("tags", []) for cell in notebook.cells]
    parameters = next(i for i, t in enumerate(tags) if "parameters" in t)
    assert "injected-parameters" in tags[parameters + 1]
    source = notebook.cells[parameters].source
    assert 'patient_id: str = ""' in source and 'data_dir: str = ""' in source
    assert 'patient_id = "P001"' in notebook.cells[parameters + 1].source


@pytest.mark.parametrize("field", ["patient_id", "data_dir"])
def test_empty_patient_or_data_folder_is_an_error(tmp_path, default_params, field):
    arguments = {"patient_id": "P001", "data_dir": str(tmp_path)}
    arguments[field] = ""
    with pytest.raises(InputError, match=f"field '{field}': not set"):
        prepare_patient(arguments["data_dir"], arguments["patient_id"], default_params)


@pytest.mark.slow
def test_papermill_typo_fails_instead_of_reporting_the_demo_patient(tmp_path, workbook_root):
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = workbook_root / "notebooks" / "03_bed_cycle_decision.ipynb"
    demo = workbook_root / "data" / "demo" / "patients"
    with pytest.raises(PapermillExecutionError) as info:
        papermill.execute_notebook(
            str(notebook), str(tmp_path / "out.ipynb"),
            parameters={"patientid": "P002", "data_dir": str(demo), "results_dir": str(tmp_path)},
            kernel_name=KERNEL, cwd=str(notebook.parent), progress_bar=False, log_output=False)
    assert info.value.ename == "InputError" and "patient_id" in info.value.evalue
    assert not (tmp_path / "results.json").exists()
