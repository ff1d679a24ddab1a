"""The Makefile's targets: lint before the tests, pytest and nbval both always run, JupyterLab
starts as root."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")


def _dry_run(target: str) -> str:
    """The commands ``make TARGET`` would run (prerequisites included), none executed."""
    result = subprocess.run(["make", "-n", "-W", "pyproject.toml", target], cwd=ROOT,
                            capture_output=True, text=True, check=True)
    return result.stdout


def test_test_target_lints_first_and_runs_pytest_and_nbval_independently() -> None:
    commands = _dry_run("test")
    ruff, mypy, contracts = (commands.index(c) for c in ("ruff check", "mypy", "lint-imports"))
    pytest_run, nbval_run = commands.index("-m pytest -n 2"), commands.index("--nbval-lax")
    assert ruff < mypy < contracts < pytest_run < nbval_run
    # a failure of the unit tests records a status instead of stopping the recipe
    assert "|| status=1" in commands[pytest_run:nbval_run]
    assert "exit $status" in commands[nbval_run:]


def test_test_target_fails_if_either_part_failed() -> None:
    """The Makefile's own recipe, with the unit-test and nbval commands replaced by true/false:
    both parts run, and the recipe fails when either failed."""
    commands = _dry_run("test")
    recipe = commands[commands.index("status=0;"):commands.index("exit $status")] + "exit $status"
    lines = recipe.replace("\\\n", "\n").splitlines()
    unit = next(line for line in lines if "-m pytest -n 2" in line).split(" || ")[0].strip()
    nbval = next(line for line in lines if "--nbval-lax" in line).split(" || ")[0].strip()
    for a, b, expected in (("true", "true", 0), ("false", "true", 1), ("true", "false", 1)):
        script = recipe.replace(unit, f"{a}; echo ran-unit").replace(nbval, f"{b}; echo ran-nbval")
        script = script.replace("; echo ran-unit || status=1", " || status=1; echo ran-unit")
        script = script.replace("; echo ran-nbval || status=1", " || status=1; echo ran-nbval")
        ran = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
        assert ran.returncode == expected, (a, b, script)
        assert "ran-unit" in ran.stdout and "ran-nbval" in ran.stdout  # both always run


def test_lab_allows_root_only_for_root() -> None:
    commands = _dry_run("lab")
    lab = next(line for line in commands.splitlines() if "jupyter lab" in line)
    assert '[ "$(id -u)" = 0 ] && echo --allow-root' in lab
    expanded = subprocess.run(["bash", "-c", f"echo {lab.split('notebooks', 1)[1]}"],
                              capture_output=True, text=True, check=True).stdout
    assert ("--allow-root" in expanded) == (os.getuid() == 0)
