"""The papermill runner and the command line: per-patient reports, failures isolated, atomic
output."""

from __future__ import annotations

import json
import shutil

import pytest

from iluminet.errors import InputError
from iluminet.synthetic.demo_patients import SCENARIOS, generate_demo_patient
from iluminet.workbook import cli
from iluminet.workbook.runner import check_parameters, format_summary, run_patients


@pytest.fixture()
def data_dir(tmp_path):
    data = tmp_path / "patients"
    generate_demo_patient(SCENARIOS[0], data / "P001", seed=5)
    generate_demo_patient(SCENARIOS[1], data / "P002", seed=5)
    return data


def test_unknown_notebook_parameter_is_refused(workbook_root):
    notebook = workbook_root / "notebooks" / "03_bed_cycle_decision.ipynb"
    check_parameters(notebook, {"patient_id": "P001", "data_dir": "x"})
    with pytest.raises(InputError, match="unknown notebook parameter.*patient_idd"):
        check_parameters(notebook, {"patient_idd": "P001"})


@pytest.mark.slow
def test_batch_isolates_a_failing_patient_and_keeps_its_previous_report(tmp_path, data_dir,
                                                                         workbook_root):
    reports = tmp_path / "reports"
    previous = reports / "patients" / "P002"
    previous.mkdir(parents=True)
    (previous / "results.json").write_text('{"previous": true}')
    # P002's activity table loses a column after its previous report was made
    table = (data_dir / "P002" / "kidney_activity.csv").read_text().splitlines()
    (data_dir / "P002" / "kidney_activity.csv").write_text(
        "\n".join(",".join(line.split(",")[:3]) for line in table) + "\n")

    results = run_patients(["P001", "P002"], data_dir=data_dir, reports_dir=reports,
                           notebooks_dir=workbook_root / "notebooks", workers=2, progress=False)

    ok, failed = results
    assert ok.name == "P001" and ok.ok and failed.name == "P002" and not failed.ok
    assert "right_kidney_activity_mbq" in failed.error
    saved = json.loads((reports / "patients" / "P001" / "results.json").read_text())
    assert [c["cycle"] for c in saved["cycles"]] == [1, 2, 3]
    assert saved["decision"]["action"] == "next_cycle"
    assert saved["provenance"]["inputs"] and saved["provenance"]["versions"]["iluminet"]
    assert {p.name for p in (reports / "patients" / "P001").iterdir()} >= {
        "02_kidney_dosimetry.ipynb", "02_kidney_dosimetry.html", "03_bed_cycle_decision.html",
        "results.json", "cycles.csv", "fits.csv", "kidney_doses.csv"}
    html = (reports / "patients" / "P001" / "03_bed_cycle_decision.html").read_text()
    assert "run_patient_dosimetry" not in html  # rendered without code
    assert json.loads((previous / "results.json").read_text()) == {"previous": True}
    assert (reports / "patients" / "P002.failed" / "02_kidney_dosimetry.ipynb").is_file()
    summary = format_summary(results)
    assert "1 succeeded, 1 failed" in summary and "FAILED" in summary
    leftovers = [p.name for p in (reports / "patients").iterdir()
                 if p.name.startswith(".") and p.name != ".locks"]
    assert leftovers == []


@pytest.mark.slow
def test_cli_patient_exit_status_and_override(tmp_path, data_dir, capsys):
    reports = tmp_path / "reports"
    status = cli.main(["patient", "P001", "--data", str(data_dir), "--reports", str(reports),
                       "--no-progress", "--set", "protocol.step1.bed_limit_gy=12"])
    assert status == 0
    saved = json.loads((reports / "patients" / "P001" / "results.json").read_text())
    assert saved["decision"]["action"].startswith("step1_complete")
    assert saved["provenance"]["parameters"]["protocol"]["step1"]["bed_limit_gy"] == 12
    assert "1 succeeded, 0 failed" in capsys.readouterr().out


def test_cli_errors(tmp_path, data_dir, capsys):
    assert cli.main(["patient", "P404", "--data", str(data_dir)]) == 2
    assert "P404" in capsys.readouterr().err
    assert cli.main(["params", "--set", "protocol.step1.bed_limt_gy=23"]) == 2
    assert "field 'protocol.step1.bed_limt_gy': unknown parameter" in capsys.readouterr().err
    assert cli.main(["patient", "P001", "--data", str(data_dir), "--workers", "0"]) == 2
    assert cli.main(["params", "--set", "protocol.step1.bed_limit_gy=23"]) == 0
    assert "bed_limit_gy: 23" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_demo_does_not_overwrite_without_force(tmp_path):
    out = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out)]) == 0
    assert (out / "images" / "virtual_patients.json").is_file()
    assert (out / "cohort" / "labs.csv").is_file()
    cycles = out / "patients" / "P001" / "cycles.csv"
    cycles.write_text("edited by hand\n")
    assert cli.main(["demo", "--out", str(out)]) == 0
    assert cycles.read_text() == "edited by hand\n"
    assert cli.main(["demo", "--out", str(out), "--force"]) == 0
    assert cycles.read_text().startswith("cycle,")
    shutil.rmtree(out)


def test_cli_simulate_refuses_bad_arguments_and_existing_dataset(tmp_path, capsys):
    assert cli.main(["simulate", "--patients", "0", "--cycles", "1", "--seed", "1",
                     "--out", str(tmp_path / "a")]) == 2
    assert cli.main(["simulate", "--patients", "1", "--cycles", "1", "--seed", "1",
                     "--out", str(tmp_path / "b"), "--activity-mbq", "-5"]) == 2
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("someone else's data")
    assert cli.main(["simulate", "--patients", "1", "--cycles", "1", "--seed", "1",
                     "--out", str(tmp_path / "c")]) == 2
    assert (tmp_path / "c" / "notes.txt").read_text() == "someone else's data"


@pytest.mark.slow
def test_dask_local_cluster_runs_patients(tmp_path, data_dir, workbook_root):
    results = run_patients(["P001", "P002"], data_dir=data_dir, reports_dir=tmp_path / "reports",
                           notebooks_dir=workbook_root / "notebooks", workers=2, progress=False,
                           dask_address="local")
    assert [r.name for r in results] == ["P001", "P002"] and all(r.ok for r in results)
    decision = json.loads((tmp_path / "reports" / "patients" / "P002" / "results.json").read_text())
    assert decision["decision"]["action"] == "step1_complete_step2_eligible"


@pytest.mark.slow
def test_cli_simulate_cohort_then_cohort_notebooks(tmp_path, capsys):
    out = tmp_path / "trial"
    assert (
        cli.main(["simulate", "cohort", "--seed", "3", "--patients", "40", "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "paper" in printed and "this_run" in printed
    assert (
        cli.main(["simulate", "cohort", "--seed", "3", "--patients", "40", "--out", str(out)]) == 2
    )
    reports = tmp_path / "reports"
    # --out of simulate cohort is --data of cohort: the folder holding the tables
    assert cli.main(["cohort", "--data", str(out), "--reports", str(reports)]) == 0
    efficacy = json.loads((reports / "cohort" / "04_efficacy" / "efficacy.json").read_text())
    safety = json.loads((reports / "cohort" / "05_safety" / "safety.json").read_text())
    assert efficacy["counts"]["treated"] == 39  # 40 enrolled, one never treated
    qol = json.loads((reports / "cohort" / "08_quality_of_life" / "qol.json").read_text())
    assert efficacy["provenance"]["inputs"] and safety["provenance"]["inputs"]
    assert qol["provenance"]["inputs"] and qol["counts"]["treated"] == 39


def test_cli_cohort_with_a_defect_names_table_row_and_column(tmp_path, capsys):
    from iluminet.synthetic.trial import generate_cohort
    from iluminet.trial import write_cohort

    folder = tmp_path / "trial"
    write_cohort(generate_cohort(4, 20, safety=False), folder)
    patients = (folder / "patients.csv").read_text().splitlines()
    (folder / "patients.csv").write_text("\n".join(patients + [patients[1]]) + "\n")  # duplicate
    assert cli.main(["cohort", "--data", str(folder)]) == 2
    error = capsys.readouterr().err
    assert "patients.csv" in error and "patient_id" in error and "row 21" in error
