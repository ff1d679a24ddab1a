"""The package's architecture rules (import-linter contracts in pyproject.toml) and the constants
that must have one definition."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(config: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} missing: install the dev extra (pip install -e '.[dev]')")
    return subprocess.run([str(LINT_IMPORTS), "--config", str(config), "--no-cache"],
                          cwd=ROOT, capture_output=True, text=True, check=False)


def test_import_contracts_are_kept(tmp_path: Path) -> None:
    result = _lint_imports(ROOT / "pyproject.toml", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    # every contract of pyproject.toml was checked, the trial/synthetic rule among them
    assert "The analysis of a trial never imports the synthetic trial generator KEPT" in " ".join(
        result.stdout.split())


def test_a_broken_contract_is_reported(tmp_path: Path) -> None:
    """The linter really analyses the package: the simulator does import the trial analysis (it
    writes the cohort tables with the trial's vocabulary), so forbidding that must fail."""
    config = tmp_path / "contracts.toml"
    config.write_text('[tool.importlinter]\nroot_package = "iluminet"\n\n'
                      '[[tool.importlinter.contracts]]\nname = "simulator without trial"\n'
                      'type = "forbidden"\nsource_modules = ["iluminet.synthetic"]\n'
                      'forbidden_modules = ["iluminet.trial"]\n')
    result = _lint_imports(config, tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "iluminet.synthetic" in result.stdout


def test_trial_vocabulary_is_shared_with_the_simulator() -> None:
    from iluminet.synthetic.trial import safety as synthetic_safety
    from iluminet.trial import safety, vocabulary

    assert synthetic_safety.CLINICAL_LABELS is vocabulary.CLINICAL_LABELS
    assert synthetic_safety.LAB_COLUMNS is vocabulary.LAB_COLUMNS
    assert safety.CANONICAL_UNITS is vocabulary.CANONICAL_UNITS
    assert safety.TEST_UNITS is vocabulary.TEST_UNITS


def test_days_per_month_has_one_definition() -> None:
    """Every ``DAYS_PER_MONTH = ...`` assignment in the package is the one in iluminet.units."""
    definitions = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "src" / "iluminet").rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if line.replace(" ", "").startswith(("DAYS_PER_MONTH=", "DAYS_PER_MONTH:"))
    ]
    assert definitions == ["src/iluminet/units.py:14"]
    from iluminet.trial import recist, safety, tables
    from iluminet.units import DAYS_PER_MONTH

    assert DAYS_PER_MONTH == pytest.approx(30.4375)
    assert tables.DAYS_PER_MONTH is recist.DAYS_PER_MONTH is safety.DAYS_PER_MONTH


def test_bed_group_edges_have_one_definition() -> None:
    from iluminet.synthetic.trial import outcomes
    from iluminet.trial.safety import SafetyParameters
    from iluminet.trial.tables import BED_EDGES_GY

    assert SafetyParameters().bed_group_edges_gy == BED_EDGES_GY
    assert outcomes.BED_EDGES_GY is BED_EDGES_GY
