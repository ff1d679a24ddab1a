"""Per-patient report: decision box first, SYNTHETIC DATA banner for generated data, flagged
values marked, titled HTML, and reports/index.html listing every patient."""

from __future__ import annotations

import json
import re

import pytest

from iluminet.config.params import load_parameters
from iluminet.patient.chain import run_patient_dosimetry
from iluminet.patient.entry import prepare_patient
from iluminet.report import patient_page
from iluminet.report.data_source import cohort_source, patient_source
from iluminet.report.export import render_index, write_report_index
from iluminet.report.html import FLAG_STYLE, escape
from iluminet.synthetic.demo_patients import SCENARIOS, generate_demo_patient


def _result(data_dir, pid):
    parameters = load_parameters(pid, {}, override_source="test")
    prepared = prepare_patient(data_dir, pid, parameters, entry_level="auto", work_dir="")
    return run_patient_dosimetry(prepared.record, parameters)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    data = tmp_path_factory.mktemp("patients")
    withhold = next(s for s in SCENARIOS if s.expected.startswith("withhold"))
    generate_demo_patient(SCENARIOS[0], data / "P001", seed=5)
    generate_demo_patient(withhold, data / "P004", seed=5)
    return data


def test_decision_box_and_banner_for_a_demo_patient(demo):
    result = _result(demo, "P001")
    html = str(patient_page.patient_header(result))
    assert "SYNTHETIC DATA" in html and "synthetic-banner" in html
    box = html[html.index("decision-box"):]
    decision = result.decision_
    assert f"give cycle {decision.next_cycle}" in box
    # when: the date window of the next cycle
    assert decision.earliest_date.date().isoformat() in box
    assert decision.latest_date.date().isoformat() in box
    # why, and which kidney
    assert decision.reasons and all(escape(reason) in box for reason in decision.reasons)
    assert "mean of both kidneys" in box and "left" in box and "right" in box
    assert html.index("synthetic-banner") < html.index("decision-box")


def test_no_banner_when_the_data_are_not_marked_synthetic(demo, tmp_path):
    import shutil

    real = tmp_path / "P001"
    shutil.copytree(demo / "P001", real)
    yaml_file = real / "patient.yaml"
    yaml_file.write_text("".join(line for line in yaml_file.read_text().splitlines(True)
                                 if not line.startswith("#")))
    assert not patient_source(real).synthetic
    html = str(patient_page.patient_header(_result(tmp_path, "P001")))
    assert "SYNTHETIC" not in html and "decision-box" in html


def test_flagged_cycle_is_marked_and_withheld(demo):
    result = _result(demo, "P004")
    html = str(patient_page.patient_header(result))
    assert "data-action='withhold'" in html and "Withhold" in html
    assert "cycle 2" in html and "not counted" in html
    cycles = patient_page.cycles_table(result).to_html()
    # the flagged cycle's BED cell carries the flag style, the first cycle's does not
    flagged_css = FLAG_STYLE.split(";")[0].replace(" ", "")
    styles = re.sub(r"\s", "", cycles.split("</style>")[0])
    assert flagged_css in styles
    rule = re.search(r"#T_[a-z0-9]+_row1_col5[^{]*\{([^}]*)\}", styles)
    assert rule is not None and flagged_css in rule.group(1)
    assert not re.search(r"#T_[a-z0-9]+_row0_col5[^{]*\{[^}]*" + re.escape(flagged_css), styles)
    assert "not computable" in cycles  # cumulative BED after a flagged cycle


def test_tables_have_units_and_column_precision(demo):
    result = _result(demo, "P001")
    cycles = patient_page.cycles_table(result).to_html()
    assert "Activity (MBq)" in cycles and "administered_activity_mbq" not in cycles
    activity = result.cycles_["administered_activity_mbq"].iloc[0]
    assert f"{activity:,.0f}" in cycles and f"{activity:.3f}" not in cycles
    doses = patient_page.kidney_doses_table(result).to_html()
    mass = result.kidney_doses_["mass_g"].iloc[0]
    assert "Mass (g)" in doses and f">{mass:.0f}<" in doses and f"{mass:.3f}" not in doses


def test_cohort_source_marks():
    from pathlib import Path

    assert not cohort_source(Path("/nonexistent")).synthetic


@pytest.mark.slow
def test_batch_html_has_title_decision_box_banner_and_index(demo, tmp_path, workbook_root):
    from iluminet.workbook.runner import run_patients

    reports = tmp_path / "reports"
    results = run_patients(["P001", "P004"], data_dir=demo, reports_dir=reports,
                           notebooks_dir=workbook_root / "notebooks", workers=1, progress=False)
    assert all(r.ok for r in results), [r.error for r in results]
    for notebook in ("02_kidney_dosimetry", "03_bed_cycle_decision"):
        html = (reports / "patients" / "P001" / f"{notebook}.html").read_text(encoding="utf-8")
        title = re.search(r"<title>(.*?)</title>", html).group(1)
        assert title.startswith("P001 — ") and notebook[:2] in title
        assert "SYNTHETIC DATA" in html and "decision-box" in html
        # the decision comes before the numbers
        first_styled_table = html.find("<table id=\"T_")
        assert html.index("decision-box") < first_styled_table
        assert "7447.000" not in html and "NBVAL_CHECK_OUTPUT" not in html
    saved = json.loads((reports / "patients" / "P001" / "results.json").read_text())
    assert saved["data_source"]["synthetic"] is True
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert "patients/P001/03_bed_cycle_decision.html" in index
    assert "patients/P004/02_kidney_dosimetry.html" in index
    assert "withhold" in index and "SYNTHETIC DATA" in index
    assert f"{saved['cycles'][-1]['cumulative_bed_gy']:.2f}" in index
    assert render_index(reports).count("<tr>") >= 3
    # rebuilt atomically from disk: a failed patient shows as failed
    (reports / "patients" / "P009.failed").mkdir()
    write_report_index(reports)
    assert "P009" in (reports / "index.html").read_text() and "failed" in (
        reports / "index.html").read_text()


def test_virtual_patient_is_marked_by_its_manifest(tmp_path):
    folder = tmp_path / "images" / "patients" / "VP001"
    folder.mkdir(parents=True)
    (folder / "patient.yaml").write_text("patient_id: VP001\n")
    assert not patient_source(folder).synthetic
    manifest = tmp_path / "images" / "virtual_patients.json"
    manifest.write_text(json.dumps({"generator": "iluminet.simulate", "seed": 7,
                                    "patients": ["VP001"]}))
    source = patient_source(folder)
    assert source.synthetic and source.seed == 7 and "virtual patient" in source.description
    manifest.write_text(json.dumps({"generator": "iluminet.simulate", "patients": ["VP002"]}))
    assert not patient_source(folder).synthetic  # the manifest names other patients
