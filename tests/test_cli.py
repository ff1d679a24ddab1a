"""The command line's structure: --version, real sub-commands with help, one meaning of --data and
--out, lazy imports (``iluminet --help`` loads neither the simulator nor SimpleITK), progress."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from iluminet.workbook import cli

ROOT = Path(__file__).resolve().parents[1]


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as stop:
        cli.main([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"iluminet {version('iluminet')}"


def test_help_imports_neither_the_simulator_nor_simpleitk() -> None:
    code = ("import sys\n"
            "import iluminet.workbook.cli as cli\n"
            "cli.build_parser().format_help()\n"
            "try:\n    cli.main(['simulate', 'cohort', '--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in sys.modules if m.startswith(('iluminet.synthetic', "
            "'SimpleITK', 'pydicom', 'papermill', 'matplotlib', 'lifelines')))\n"
            "print('LOADED', heavy)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    assert "LOADED []" in result.stdout, result.stdout


@pytest.mark.parametrize("argv", [[], ["run"], ["patient"], ["cohort"], ["demo"], ["simulate"],
                                  ["simulate", "images"], ["simulate", "cohort"], ["params"]])
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    text = _help(capsys, *argv)
    assert text.startswith("usage: iluminet")


def test_simulate_cohort_is_a_listed_sub_command(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "simulate")
    assert "images" in text and "cohort" in text
    cohort = _help(capsys, "simulate", "cohort")
    assert "--seed" in cohort and "--patients" in cohort and "--out" in cohort


def test_help_defaults_are_the_simulators_constants(capsys: pytest.CaptureFixture[str]) -> None:
    """The help is built without importing the simulator; its defaults must still be the real
    ones."""
    from iluminet.synthetic.trial.generator import DEFAULT_SEED
    from iluminet.synthetic.virtual.study import DEFAULT_ACTIVITY_MBQ

    assert f"(default {DEFAULT_SEED})" in " ".join(_help(capsys, "simulate", "cohort").split())
    assert f"default {DEFAULT_ACTIVITY_MBQ:g})" in " ".join(
        _help(capsys, "simulate", "images").split())


def test_data_is_always_the_folder_read_and_out_the_folder_written(
        capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["patient"], ["cohort"]):
        text = " ".join(_help(capsys, *argv).split())
        assert "--data DATA folder holding the" in text
        assert "--out OUT" not in text
    for argv in (["demo"], ["simulate", "images"], ["simulate", "cohort"]):
        text = " ".join(_help(capsys, *argv).split())
        assert "--out OUT" in text and "folder to write" in text
        assert "--data DATA" not in text


def test_cohort_data_names_the_folder_it_cannot_read(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no_trial_here"
    assert cli.main(["cohort", "--data", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err


def test_old_simulate_form_still_works_as_simulate_images(
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = cli._legacy_argv(["simulate", "--patients", "2", "--cycles", "1", "--seed", "3",
                             "--out", "x"])
    assert argv[:2] == ["simulate", "images"]
    args = cli.build_parser().parse_args(argv)
    assert args.handler.__module__ == "iluminet.workbook.cli_virtual"
    assert "simulate images" in capsys.readouterr().err


def test_demo_reports_progress_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """With the demo data present, generating is skipped but the patients step still reports."""
    demo = ROOT / cli.DEMO_DIR
    if not (demo / "cohort" / "patients.csv").is_file():
        pytest.skip("demo data not generated (make demo-data)")
    assert cli.main(["demo"]) == 0
    captured = capsys.readouterr()
    assert "demo: measurement-level patients" in captured.err and "done in" in captured.err
    assert str(demo / "cohort") in captured.out  # stdout: the folders, nothing else
    assert cli.main(["demo", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_cached_demo_images_of_an_older_format_are_regenerated(tmp_path, monkeypatch):
    """A demo folder written before a change of the virtual DICOM files (no or another format
    stamp) is regenerated, not reused: stale whole-body files would fail the new reader."""
    from iluminet.synthetic import virtual
    from iluminet.synthetic.virtual.study import MANIFEST
    from iluminet.workbook import cli, cli_trial

    calls = []

    def fake_images(n, cycles, seed, out, force=False):
        calls.append(force)
        out.mkdir(parents=True, exist_ok=True)
        (out / MANIFEST).write_text("{}")

    monkeypatch.setattr(virtual, "generate_virtual_patients", fake_images)
    def fake_cohort(arguments, quiet=False):
        out = Path(arguments[arguments.index("--out") + 1])
        out.mkdir(parents=True, exist_ok=True)
        for name in ("patients.csv", "qol.csv"):
            (out / name).write_text("")
        return 0

    monkeypatch.setattr(cli_trial, "main", fake_cohort)
    cli.ensure_demo_data(tmp_path, progress=False)
    cli.ensure_demo_data(tmp_path, progress=False)
    assert calls == [False]  # generated once, then reused
    (tmp_path / cli.DEMO_IMAGES_STAMP).write_text("1\n")
    cli.ensure_demo_data(tmp_path, progress=False)
    assert calls == [False, True]
    assert (tmp_path / cli.DEMO_IMAGES_STAMP).read_text().strip() == str(
        cli.DEMO_IMAGES_FORMAT)
