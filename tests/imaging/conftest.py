"""Virtual-patient datasets shared by the imaging tests (generated once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iluminet.synthetic.virtual import generate_virtual_patients


@pytest.fixture(scope="session")
def one_patient(tmp_path_factory) -> Path:
    """1 patient × 1 cycle, noise-free, plus the calibration acquisitions."""
    out = tmp_path_factory.mktemp("vp_one")
    generate_virtual_patients(1, 1, 5, out, noise=False)
    return out


@pytest.fixture(scope="session")
def cohort_noise_free(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vp_nf")
    generate_virtual_patients(10, 1, 2022, out, noise=False)
    return out


@pytest.fixture(scope="session")
def cohort_noisy(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vp_noisy")
    generate_virtual_patients(10, 1, 2022, out, noise=True)
    return out


@pytest.fixture()
def cycle(one_patient, tmp_path) -> Path:
    """A private copy of the one patient's first cycle folder (with its cycles.csv)."""
    import shutil

    dst = tmp_path / "VP001"
    shutil.copytree(one_patient / "patients" / "VP001", dst)
    return dst / "cycle_01"
