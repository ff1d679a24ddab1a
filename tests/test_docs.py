"""The README's commands run as written, every reference cited in the code is in
docs/references.md, and the package data declared in pyproject.toml is in the wheel."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from iluminet.workbook import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
REFERENCES = ROOT / "docs" / "references.md"


def readme_commands() -> list[str]:
    """Every command line of the README's ```bash blocks, comments stripped."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _iluminet_argv(command: str) -> list[str]:
    words = shlex.split(command)
    assert words[0] == ".venv/bin/iluminet", command
    return words[1:]


def test_readme_has_the_commands_this_test_knows() -> None:
    commands = readme_commands()
    assert "make run" in commands and "make test" in commands
    assert any("simulate cohort" in c for c in commands)
    assert all(c.startswith((".venv/bin/iluminet ", "make ")) for c in commands), commands


@pytest.mark.parametrize("command", [c for c in readme_commands() if c.startswith("make ")])
def test_readme_make_targets_exist(command: str) -> None:
    target = command.split()[1]
    assert re.search(rf"^{re.escape(target)}:", (ROOT / "Makefile").read_text(), flags=re.M)


@pytest.mark.parametrize("command", [c for c in readme_commands() if "iluminet" in c])
def test_every_readme_command_parses(command: str) -> None:
    """Every iluminet command of the README is accepted by the command line as written (a
    placeholder such as <ID> stands for a patient ID)."""
    argv = cli._legacy_argv(_iluminet_argv(command.replace("<ID>", "P001")))
    args = cli.build_parser().parse_args(argv)
    assert callable(args.handler)


def test_readme_params_command_runs(capsys: pytest.CaptureFixture[str]) -> None:
    commands = [c for c in readme_commands() if " params " in c]
    assert commands
    for command in commands:
        assert cli.main(_iluminet_argv(command)) == 0
        assert "bed_limit_gy" in capsys.readouterr().out


@pytest.mark.slow
def test_readme_synthetic_trial_runs_as_written(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The two commands of "The synthetic trial", with /tmp replaced by a fresh folder."""
    commands = [c for c in readme_commands() if "/tmp/trial" in c]
    assert len(commands) == 2, commands
    reports = tmp_path / "reports"
    for command in commands:
        argv = [w.replace("/tmp", str(tmp_path)) for w in _iluminet_argv(command)]
        if argv[0] == "cohort":
            argv += ["--reports", str(reports), "--no-progress"]
        assert cli.main(argv) == 0, command
    assert (reports / "cohort" / "04_efficacy" / "efficacy.json").is_file()
    assert (reports / "cohort" / "05_safety" / "safety.json").is_file()


def test_readme_module_map_names_existing_modules() -> None:
    import importlib

    text = README.read_text(encoding="utf-8")
    section = text.split("## Where each result is computed", 1)[1].split("\n## ", 1)[0]
    modules = set(re.findall(r"`(iluminet(?:\.[a-z_]+)*)`", section))
    assert {"iluminet.units", "iluminet.trial.vocabulary", "iluminet.patient.planning"} <= modules
    for name in sorted(modules):
        importlib.import_module(name)


# --------------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------------


def _sources() -> list[Path]:
    return [p for folder in ("src", "tests", "params", "notebooks", "benchmarks", "data")
            for p in sorted((ROOT / folder).rglob("*"))
            if p.suffix in {".py", ".yaml", ".ipynb", ".md"} and "demo" not in p.parts]


def test_no_citation_points_outside_the_repository() -> None:
    outside = re.compile(r"/work/shared|\.\./shared|reference/physics\.md|physics\.md|clinical\.md")
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in _sources()
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if outside.search(line) and p.name != "test_docs.py"]
    assert offenders == []


def test_cited_reference_sections_exist() -> None:
    headings = set(re.findall(r"^## (.+)$", REFERENCES.read_text(encoding="utf-8"), flags=re.M))
    cited = {m for p in _sources()
             for m in re.findall(r"docs/references\.md, [\"']([^\"']+)[\"']",
                                 p.read_text(encoding="utf-8"))}
    assert cited, "no section of docs/references.md is cited"
    assert cited <= headings, cited - headings


def test_kidney_s_values_are_the_referenced_ones() -> None:
    from iluminet.patient.dosimetry import KIDNEY_PHANTOMS

    text = REFERENCES.read_text(encoding="utf-8")
    for name in ("adult_male", "adult_female"):
        phantom = KIDNEY_PHANTOMS[name]
        assert f"**{phantom.self_s_mgy_per_mbq_h:.4f} mGy/(MBq·h)**" in text
        assert f"{phantom.mass_g:.0f} g" in text
        assert "docs/references.md" in phantom.source


# --------------------------------------------------------------------------------------------
# Package data
# --------------------------------------------------------------------------------------------


def _package_data() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["setuptools"]["package-data"]["iluminet"])


def test_every_declared_package_data_pattern_matches_files() -> None:
    package = ROOT / "src" / "iluminet"
    for pattern in _package_data():
        assert list(package.glob(pattern)), f"package-data {pattern!r} matches nothing"


@pytest.mark.slow
def test_wheel_holds_the_declared_package_data(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("iluminet-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "src" / "iluminet"
    declared = {f"iluminet/{p.relative_to(package).as_posix()}"
                for pattern in _package_data() for p in package.glob(pattern)}
    modules = {f"iluminet/{p.relative_to(package).as_posix()}" for p in package.rglob("*.py")}
    assert declared and declared <= names
    assert modules <= names
