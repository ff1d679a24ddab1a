"""Fixtures for the viewer tests: small generated datasets, so the tests need no demo run."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def measurement_patients(tmp_path_factory) -> Path:
    """The four measurement-level demo patients, generated into a temporary folder."""
    from iluminet.synthetic.demo_patients import generate_demo_patients

    out = tmp_path_factory.mktemp("viewer_patients")
    generate_demo_patients(out)
    return out


@pytest.fixture(scope="session")
def dosimetry(measurement_patients, workbook_root):
    """Batch-chain results of the demo patients, by patient ID."""
    from iluminet.config.params import load_parameters
    from iluminet.patient.chain import run_patient_dosimetry
    from iluminet.patient.records import load_patient

    return {pid: run_patient_dosimetry(load_patient(measurement_patients / pid),
                                       load_parameters(pid, root=workbook_root))
            for pid in ("P001", "P002", "P003", "P004")}


@pytest.fixture(scope="session")
def virtual_cycle(tmp_path_factory) -> Path:
    """One noise-free virtual patient, one cycle: DICOM SPECT/CT, planar scans, VOIs."""
    from iluminet.synthetic.virtual import generate_virtual_patients

    out = tmp_path_factory.mktemp("viewer_vp")
    generate_virtual_patients(1, 1, 5, out, noise=False)
    (cycle,) = sorted((out / "patients").glob("*/cycle_01"))
    return cycle


@pytest.fixture(scope="session")
def efficacy_results(tmp_path_factory):
    """Efficacy analysis of the default synthetic cohort (seed 25, as the demo)."""
    from iluminet.trial import efficacy as eff
    from iluminet.trial import read_cohort
    from iluminet.workbook import cli_trial as cli

    out = tmp_path_factory.mktemp("viewer_cohort")
    assert cli.main(["--out", str(out), "--no-comparison"]) == 0
    cohort = read_cohort(out)
    return eff.efficacy_analysis(cohort.patients, cohort.cycles, cohort.lesions, cohort.events)
