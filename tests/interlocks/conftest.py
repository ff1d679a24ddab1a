"""Fixtures of the interlock tests: a copy of the first demo patient to corrupt."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from iluminet.synthetic.demo_patients import SCENARIOS, generate_demo_patient


@pytest.fixture()
def patient(tmp_path: Path) -> Path:
    folder = tmp_path / "patients" / "P001"
    generate_demo_patient(SCENARIOS[0], folder, seed=1)
    return folder


@pytest.fixture()
def demo_cohort_copy(workbook_root, tmp_path) -> Path:
    """A private copy of the demo cohort tables (skipped when the demo is not generated)."""
    import shutil

    source = workbook_root / "data" / "demo" / "cohort"
    if not (source / "patients.csv").is_file():
        pytest.skip("demo cohort not generated (iluminet demo)")
    target = tmp_path / "trial" / "cohort"
    shutil.copytree(source, target)
    return target


def edit_csv(path: Path, change: Callable[[pd.DataFrame], None]) -> None:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(table)
    table.to_csv(path, index=False)


def edit_yaml(path: Path, key: str, value: str) -> None:
    lines = [line for line in path.read_text().splitlines() if not line.startswith(f"{key}:")]
    path.write_text("\n".join(lines + [f"{key}: {value}"]) + "\n")
