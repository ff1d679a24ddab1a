"""Cohort: every check before any cohort report is replaced; reports swapped together."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from iluminet.errors import InputError
from iluminet.trial.preflight import preflight_cohort
from iluminet.workbook import cli, runner


@pytest.fixture()
def cohort(demo_cohort_copy) -> Path:
    return demo_cohort_copy


def _edit(path: Path, change) -> None:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(table)
    table.to_csv(path, index=False)


def test_demo_cohort_passes(cohort):
    assert len(preflight_cohort(cohort).patients) > 0


def test_future_date(cohort):
    def future_followup(table: pd.DataFrame) -> None:
        alive = table.index[table["death_date"] == ""][0]  # a death date must equal follow-up
        table.loc[alive, "last_followup_date"] = "2199-01-01"

    _edit(cohort / "events.csv", future_followup)
    with pytest.raises(InputError, match="after the data cut-off") as info:
        preflight_cohort(cohort)
    assert info.value.source.endswith("events.csv") and info.value.field == "last_followup_date"


def test_500_gy_cycle_bed(cohort):
    _edit(cohort / "cycles.csv", lambda t: t.__setitem__(
        "kidney_bed_gy", ["500"] + list(t["kidney_bed_gy"][1:])))
    with pytest.raises(InputError, match="500 Gy in one cycle"):
        preflight_cohort(cohort)


def test_misspelt_ae_term(cohort):
    _edit(cohort / "adverse_events.csv", lambda t: t.__setitem__(
        "term", ["fatigeu"] + list(t["term"][1:])))
    with pytest.raises(InputError, match="unknown adverse event term 'fatigeu'; did you mean "
                                         "'fatigue'") as info:
        preflight_cohort(cohort)
    assert info.value.source.endswith("adverse_events.csv")


def test_ae_before_the_first_cycle(cohort):
    first = pd.read_csv(cohort / "cycles.csv").groupby("patient_id")["administration_date"].min()

    def change(table):
        pid = table.at[0, "patient_id"]
        onset = pd.Timestamp(first[pid]) - pd.Timedelta(days=3)
        table.at[0, "onset_date"] = onset.date().isoformat()
    _edit(cohort / "adverse_events.csv", change)
    with pytest.raises(InputError, match="before the first cycle"):
        preflight_cohort(cohort)


def test_lab_defect_found_before_any_report(cohort):
    _edit(cohort / "labs.csv", lambda t: t.__setitem__("test", ["plateletz"] + list(t["test"][1:])))
    with pytest.raises(InputError, match="labs.csv"):
        preflight_cohort(cohort)


def test_empty_cohort(cohort):
    for path in cohort.glob("*.csv"):
        header = path.read_text().splitlines()[0]
        path.write_text(header + "\n")
    with pytest.raises(InputError, match="empty cohort"):
        preflight_cohort(cohort)


def test_cli_cohort_refuses_before_replacing_any_report(cohort, tmp_path, capsys):
    reports = tmp_path / "reports"
    previous = reports / "cohort" / "04_efficacy"
    previous.mkdir(parents=True)
    (previous / "efficacy.json").write_text("previous")
    _edit(cohort / "adverse_events.csv", lambda t: t.__setitem__(
        "term", ["fatigeu"] + list(t["term"][1:])))
    assert cli.main(["cohort", "--data", str(cohort), "--reports", str(reports)]) == 2
    assert "fatigeu" in capsys.readouterr().err
    assert (previous / "efficacy.json").read_text() == "previous"


def test_cohort_reports_are_swapped_together(cohort, tmp_path, monkeypatch, workbook_root):
    reports = tmp_path / "reports"
    for name in runner.COHORT_NOTEBOOKS:
        (reports / "cohort" / name).mkdir(parents=True)
        (reports / "cohort" / name / "old.json").write_text("previous")

    def stage(notebooks, parameters, report_dir, notebooks_dir, summarize):
        staging = report_dir.with_name(f".{report_dir.name}.{runner.STAGING_TAG}-t")
        staging.mkdir()
        (staging / "new.json").write_text("new")
        return staging, ({} if notebooks[0] != "05_safety" else None), \
            (None if notebooks[0] != "05_safety" else "InputError: labs")

    monkeypatch.setattr(runner, "_stage", stage)
    results = runner.run_cohort(data_dir=cohort, reports_dir=reports,
                                notebooks_dir=workbook_root / "notebooks")
    assert [r.ok for r in results] == [False] * len(runner.COHORT_NOTEBOOKS)
    assert "swap together" in results[0].error
    for name in runner.COHORT_NOTEBOOKS:
        assert (reports / "cohort" / name / "old.json").read_text() == "previous"
        assert not (reports / "cohort" / name / "new.json").exists()


def test_date_beyond_pandas_range_is_an_input_error(cohort):
    _edit(cohort / "events.csv", lambda t: t.__setitem__(
        "last_followup_date", ["2999-01-01"] + list(t["last_followup_date"][1:])))
    with pytest.raises(InputError, match="not plausible"):
        preflight_cohort(cohort)
