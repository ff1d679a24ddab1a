"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def workbook_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def default_params(workbook_root):
    from iluminet.config.params import load_parameters

    return load_parameters(root=workbook_root)
