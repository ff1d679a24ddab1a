"""Fixtures for the simulator tests: small generated datasets shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_helpers import SEED, small_settings

from iluminet.synthetic.virtual import generate_virtual_patients


@pytest.fixture(scope="session")
def noise_free_dataset(tmp_path_factory) -> Path:
    """One patient, two cycles, noise-free, on the small grid."""
    out = tmp_path_factory.mktemp("vp_noise_free")
    generate_virtual_patients(1, 2, SEED, out, noise=False, settings=small_settings())
    return out


@pytest.fixture(scope="session")
def noisy_dataset(tmp_path_factory) -> Path:
    """One patient, one cycle, with noise, on the small grid."""
    out = tmp_path_factory.mktemp("vp_noisy")
    generate_virtual_patients(1, 1, SEED, out, noise=True, settings=small_settings())
    return out
