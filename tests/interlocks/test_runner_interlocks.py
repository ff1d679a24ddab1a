"""Runner robustness: locking, unique backups, stale staging, clean setup errors and Ctrl-C."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pytest

from iluminet.errors import InputError
from iluminet.workbook import cli, runner

SWAPS_PER_PROCESS = 40


def _fake_execute(notebook: Path, output: Path, parameters: dict) -> None:
    """Stands in for papermill: writes the run's token into two files, slowly enough to overlap."""
    token = parameters["token"]
    (output.parent / "part1.txt").write_text(token)
    os.sched_yield()
    (output.parent / "part2.txt").write_text(token)


def _swap_many(args: tuple[str, str, int]) -> list[bool]:
    reports, notebooks, count = args
    runner.execute_notebook = _fake_execute  # type: ignore[assignment]
    runner.export_html = lambda executed, html, subject="": html.write_text("<html/>")  # type: ignore
    outcomes = []
    for _ in range(count):
        result = runner.run_notebooks("P001", ["nb"], {"token": uuid.uuid4().hex},
                                      Path(reports) / "patients" / "P001", Path(notebooks))
        outcomes.append(result.ok)
    return outcomes


@pytest.fixture()
def notebooks(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "nb.ipynb").write_text("{}")
    return folder


def test_four_processes_racing_one_patient(tmp_path, notebooks):
    # the issue: 58 of 160 swaps failed and 56 hidden staging folders were left
    reports = tmp_path / "reports"
    with ProcessPoolExecutor(4, mp_context=get_context("fork")) as pool:
        outcomes = [ok for chunk in pool.map(
            _swap_many, [(str(reports), str(notebooks), SWAPS_PER_PROCESS)] * 4) for ok in chunk]
    assert len(outcomes) == 4 * SWAPS_PER_PROCESS and all(outcomes)
    final = reports / "patients" / "P001"
    assert (final / "part1.txt").read_text() == (final / "part2.txt").read_text()  # one run's
    hidden = [p.name for p in final.parent.iterdir() if p.name.startswith(".")]
    assert hidden == [runner.LOCKS_DIR]


def test_stale_staging_and_backups_are_removed_under_the_lock(tmp_path, notebooks, monkeypatch):
    # _swap_many patches the runner module; in this process the patch must not outlive the test
    monkeypatch.setattr(runner, "execute_notebook", runner.execute_notebook)
    monkeypatch.setattr(runner, "export_html", runner.export_html)
    patients = tmp_path / "reports" / "patients"
    stale = [patients / ".P001.staging-abc123", patients / ".P001.previous-0f0f"]
    other = patients / ".P0011.staging-keepme"  # another patient's: never touched
    for folder in (*stale, other):
        folder.mkdir(parents=True)
    assert _swap_many((str(tmp_path / "reports"), str(notebooks), 1)) == [True]
    assert not any(p.exists() for p in stale) and other.is_dir()


def test_interrupted_run_keeps_the_previous_report_and_leaves_no_staging(tmp_path, notebooks,
                                                                         monkeypatch):
    final = tmp_path / "reports" / "patients" / "P001"
    final.mkdir(parents=True)
    (final / "results.json").write_text("previous")

    def interrupted(notebook, output, parameters):
        (output.parent / "half.txt").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "execute_notebook", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner.run_notebooks("P001", ["nb"], {}, final, notebooks)
    assert (final / "results.json").read_text() == "previous"
    assert sorted(p.name for p in final.parent.iterdir()) == sorted([runner.LOCKS_DIR, "P001"])


def test_failed_run_prints_where_its_notebooks_are(tmp_path, notebooks, monkeypatch):
    def failing(notebook, output, parameters):
        raise InputError("bad table", source="x.csv")

    monkeypatch.setattr(runner, "execute_notebook", failing)
    result = runner.run_notebooks("P001", ["nb"], {}, tmp_path / "r" / "P001", notebooks)
    summary = runner.format_summary([result])
    assert "FAILED" in summary and f"executed notebooks kept in {tmp_path / 'r' / 'P001.failed'}" \
        in summary


def test_backup_names_are_unique(tmp_path):
    final = tmp_path / "P001"
    for round_ in range(3):
        staging = tmp_path / f".P001.staging-{round_}"
        staging.mkdir()
        (staging / "n.txt").write_text(str(round_))
        runner._replace_dir(staging, final)
    assert (final / "n.txt").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["P001"]


def test_reports_path_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "reports"
    target.write_text("not a folder")
    data = tmp_path / "patients"
    (data / "P001").mkdir(parents=True)
    (data / "P001" / "patient.yaml").write_text("patient_id: P001\n")
    status = cli.main(["patient", "P001", "--data", str(data), "--reports", str(target),
                       "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2 and "is a file, not a folder" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_read_only_reports_path(tmp_path, monkeypatch, capsys):
    target = tmp_path / "reports"
    target.mkdir()
    if os.geteuid() != 0:
        target.chmod(0o500)
    else:  # root may write anywhere: simulate the file system's refusal
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(runner.tempfile, "NamedTemporaryFile", refuse)
    try:
        with pytest.raises(InputError, match="cannot write there \\(Permission denied\\)"):
            runner.check_reports_dir(target)
    finally:
        target.chmod(0o700)


def test_ctrl_c_ends_with_one_line_and_exit_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "_cmd_params", interrupted)
    assert cli.main(["params"]) == 130
    err = capsys.readouterr().err
    assert err.startswith("interrupted") and len(err.strip().splitlines()) == 1


def test_unreachable_dask_scheduler(tmp_path, monkeypatch, capsys):
    pytest.importorskip("distributed")
    monkeypatch.setattr(runner, "DASK_CONNECT_TIMEOUT_S", 2)
    with pytest.raises(InputError, match="cannot reach the Dask scheduler"):
        runner._run_on_dask("tcp://127.0.0.1:9", ["P001"], {}, 1, None)


def test_same_id_twice_runs_once(tmp_path):
    data = tmp_path / "patients"
    (data / "P001").mkdir(parents=True)
    (data / "P001" / "patient.yaml").write_text("patient_id: P001\n")
    assert cli._locate(["P001", "P001"], [data]) == [(data, ["P001"])]
