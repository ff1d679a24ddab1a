"""Importing the package or a measurement-level notebook's modules does not pull in the image
stack (SimpleITK, pydicom, scipy.ndimage) or the widgets; using an exported name still works."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("SimpleITK", "pydicom", "scipy.ndimage", "ipywidgets", "pandas", "yaml")


def _loaded_after(code: str) -> dict[str, bool]:
    report = f"print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    probe = f"{code}\nimport json, sys\n{report}"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_bare_package_imports_nothing_heavy() -> None:
    loaded = _loaded_after("import iluminet, iluminet.imaging, iluminet.viewers, iluminet.trial")
    assert not any(loaded.values()), loaded


def test_measurement_patient_modules_skip_the_image_stack() -> None:
    loaded = _loaded_after(
        "from iluminet.report import patient_figures, patient_results\n"
        "from iluminet.config.params import load_parameters\n"
        "from iluminet.patient.chain import run_patient_dosimetry\n"
        "from iluminet.patient.entry import prepare_patient\n"
        "from iluminet import viewers")
    assert not loaded["SimpleITK"] and not loaded["pydicom"] and not loaded["scipy.ndimage"]
    assert not loaded["ipywidgets"]
    assert loaded["pandas"]  # the probe sees imports: the chain does need pandas


def test_lazy_names_resolve() -> None:
    import iluminet
    import iluminet.imaging
    import iluminet.trial

    assert iluminet.trial.read_cohort.__module__ == "iluminet.trial.schema"
    assert callable(iluminet.imaging.quantify_patient)
    assert isinstance(iluminet.__version__, str) and iluminet.__version__
    assert "read_cohort" in dir(iluminet.trial)


def test_command_line_help_skips_the_simulators() -> None:
    loaded = _loaded_after("from iluminet.workbook.cli import build_parser\nbuild_parser()")
    assert not loaded["SimpleITK"] and not loaded["pydicom"] and not loaded["scipy.ndimage"]
    assert not loaded["pandas"] and not loaded["yaml"]

