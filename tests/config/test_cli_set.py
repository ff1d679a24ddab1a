"""``--set`` on each command: reaches every option the command applies, refused where it cannot
apply; ``iluminet params --schema``; end-to-end runs whose decisions and efficacy.json change."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import yaml

from iluminet.errors import InputError
from iluminet.synthetic.demo_patients import SCENARIOS, generate_demo_patient
from iluminet.workbook import cli, runner


def test_params_schema_is_printed_as_json(capsys):
    assert cli.main(["params", "--schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Parameters"
    kinetics = schema["$defs"]["Kinetics"]["properties"]
    assert kinetics["max_relative_tia_se"]["exclusiveMinimum"] == 0
    assert kinetics["max_relative_tia_se"]["maximum"] == 1
    assert kinetics["model"]["enum"] == ["mono", "biexp", "auto"]


def test_params_shows_every_section_with_the_overrides(capsys):
    assert cli.main(["params", "--set", "efficacy.confirm_responses=true",
                     "--set", "safety.late_centres_days=[90, 180]",
                     "--set", "protocol.step1.bed_limit_gy=25"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["efficacy"]["confirm_responses"] is True
    assert shown["safety"]["late_centres_days"] == [90, 180]
    assert shown["protocol"]["step1"]["bed_limit_gy"] == 25.0


@pytest.mark.parametrize("command, pair, expected", [
    (["patient", "P001"], "efficacy.confirm_responses=true",
     ("error: --set: field 'efficacy.confirm_responses': `iluminet patient` does not use the "
     "efficacy parameters (it applies to `iluminet cohort` and `iluminet run`); this command takes "
     "protocol.*, analysis.*")),
    (["cohort"], "protocol.step1.bed_limit_gy=25",
     ("error: --set: field 'protocol.step1.bed_limit_gy': `iluminet cohort` does not use the "
     "protocol parameters (it applies to `iluminet patient` and `iluminet run`); this command "
     "takes efficacy.*, safety.*")),
    (["run"], "reports.decimals=2",
     ("error: --set: field 'reports.decimals': `iluminet run` does not use the reports parameters "
     "(known sections: protocol, analysis, efficacy, safety); this command takes protocol.*, "
     "analysis.*, efficacy.*, safety.*")),
    (["params"], "protocol.step1.bed_limit_gy", ("error: --set: field "
     "'protocol.step1.bed_limit_gy': expected KEY=VALUE, got 'protocol.step1.bed_limit_gy'")),
])
def test_set_refused_where_it_cannot_apply(command, pair, expected, monkeypatch, capsys):
    monkeypatch.setattr(runner, "run_patients", lambda *a, **k: pytest.fail("kernel started"))
    monkeypatch.setattr(runner, "run_cohort", lambda *a, **k: pytest.fail("kernel started"))
    assert cli.main([*command, "--set", pair]) == 2
    assert capsys.readouterr().err.strip() == expected


def test_run_routes_each_section_to_the_notebooks_that_apply_it(monkeypatch, capsys):
    calls: dict[str, object] = {}

    def patients(ids, **kwargs):
        calls.setdefault("patients", kwargs["parameter_overrides"])
        return []

    def cohort(**kwargs):
        calls["cohort"] = kwargs["parameter_overrides"]
        return []

    monkeypatch.setattr(runner, "run_patients", patients)
    monkeypatch.setattr(runner, "run_cohort", cohort)
    monkeypatch.setattr(cli, "ensure_demo_data", lambda *a, **k: [])
    monkeypatch.setattr(cli, "_demo_patient_dirs", lambda root: [root / "no-such-folder"])
    monkeypatch.setattr("iluminet.patient.records.find_patients", lambda d: ["P001"])
    status = cli.main(["run", "--no-progress", "--set", "protocol.step1.bed_limit_gy=25",
                       "--set", "analysis.kinetics.model=biexp",
                       "--set", "efficacy.confirm_responses=true",
                       "--set", "safety.counting=worsening"])
    assert status == 0, capsys.readouterr().err
    assert calls["patients"] == {"protocol": {"step1": {"bed_limit_gy": 25}},
                                 "analysis": {"kinetics": {"model": "biexp"}}}
    assert calls["cohort"] == {"efficacy": {"confirm_responses": True},
                               "safety": {"counting": "worsening"}}


def test_each_cohort_notebook_gets_its_own_section(monkeypatch, tmp_path, workbook_root):
    seen: dict[str, dict] = {}

    def record(notebooks, parameters, report_dir, notebooks_dir, summarize=None):
        seen[notebooks[0]] = parameters["parameter_overrides"]
        staging = tmp_path / "staging" / notebooks[0]
        staging.mkdir(parents=True)
        return staging, {}, None

    monkeypatch.setattr(runner, "_stage", record)
    monkeypatch.setattr("iluminet.trial.preflight.preflight_cohort", lambda folder, **kw: None)
    runner.run_cohort(data_dir=tmp_path, reports_dir=tmp_path / "reports",
                      notebooks_dir=workbook_root / "notebooks",
                      parameter_overrides={"efficacy": {"conf_level": 0.9},
                                           "safety": {"gfr_test": "egfr"}})
    assert seen == {"04_efficacy": {"efficacy": {"conf_level": 0.9}},
                    "05_safety": {"safety": {"gfr_test": "egfr"}},
                    "08_quality_of_life": {}}
    with pytest.raises(InputError, match="the cohort notebooks do not use the 'protocol' "
                                         "parameters"):
        runner.run_cohort(data_dir=tmp_path, reports_dir=tmp_path, notebooks_dir=tmp_path,
                          parameter_overrides={"protocol": {"max_cycles": 4}})
    with pytest.raises(InputError, match="the patient notebooks do not use the 'safety'"):
        runner.run_patients(["P001"], data_dir=tmp_path, reports_dir=tmp_path,
                            notebooks_dir=tmp_path, parameter_overrides={"safety": {}},
                            progress=False)


def test_notebook_parameters_are_the_override_and_nothing_else(workbook_root):
    """Notebooks 04 and 05 declare no option of their own: params/*.yaml is the one source."""
    import papermill

    for name, expected in (("04_efficacy", {"data_dir", "results_dir", "parameter_overrides",
                                            "interactive"}),
                           ("05_safety", {"data_dir", "results_dir", "parameter_overrides"})):
        declared = papermill.inspect_notebook(str(workbook_root / "notebooks" / f"{name}.ipynb"))
        assert set(declared) == expected


def test_option_classes_match_the_yaml_defaults(default_params):
    """The dataclass defaults used by library callers equal params/efficacy.yaml, safety.yaml."""
    from iluminet.config.models import Parameters
    from iluminet.trial.efficacy import EfficacyOptions
    from iluminet.trial.safety import SafetyParameters

    typed = Parameters.model_validate(default_params)
    assert EfficacyOptions.from_config(typed.efficacy) == EfficacyOptions()
    assert SafetyParameters.from_config(typed.safety) == SafetyParameters()


# ------------------------------------------------------------------------------------------------
# end to end (notebooks run by papermill)
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_patient_step1_limit_25_changes_the_decision(tmp_path, capsys):
    # four cycles of ~5.7 Gy: 22.6 Gy so far, a fifth gives ~28.2 Gy — inside 27 ± 2, above 25 ± 2
    scenario = dataclasses.replace(SCENARIOS[0], n_cycles=4, uptake_fraction=(0.0174, 0.0161))
    data = tmp_path / "patients"
    generate_demo_patient(scenario, data / "P001", seed=5)
    decisions = {}
    for limit in (None, 25):
        reports = tmp_path / f"reports_{limit}"
        extra = [] if limit is None else ["--set", f"protocol.step1.bed_limit_gy={limit}"]
        assert cli.main(["patient", "P001", "--data", str(data), "--reports", str(reports),
                         "--no-progress", *extra]) == 0, capsys.readouterr().err
        saved = json.loads((reports / "patients" / "P001" / "results.json").read_text())
        assert saved["provenance"]["parameters"]["protocol"]["step1"]["bed_limit_gy"] == \
            (27.0 if limit is None else 25.0)
        decisions[limit] = saved["decision"]["action"]
    assert decisions == {None: "next_cycle", 25: "step1_complete_step2_eligible"}


@pytest.mark.slow
def test_cohort_efficacy_option_set_on_the_command_line_changes_efficacy_json(tmp_path, capsys):
    from iluminet.trial import read_cohort
    from iluminet.trial.efficacy import EfficacyOptions, efficacy_analysis

    out = tmp_path / "trial" / "cohort"
    assert cli.main(["simulate", "cohort", "--seed", "3", "--patients", "40", "--out", str(out),
                     "--no-comparison"]) == 0
    reports = tmp_path / "reports"
    assert cli.main(["cohort", "--data", str(out), "--reports", str(reports),
                     "--set", "efficacy.confirm_responses=false",
                     "--set", "efficacy.response_window_days=30",
                     "--set", "safety.counting=worsening"]) == 0, capsys.readouterr().err
    efficacy = json.loads((reports / "cohort" / "04_efficacy" / "efficacy.json").read_text())
    safety = json.loads((reports / "cohort" / "05_safety" / "safety.json").read_text())
    assert efficacy["options"]["confirm_responses"] is False  # the default is True
    assert efficacy["options"]["response_window_days"] == 30
    assert safety["parameters"]["counting"] == "worsening"
    # the results follow the options: recomputed here with and without them
    cohort = read_cohort(out)
    args = (cohort.patients, cohort.cycles, cohort.lesions, cohort.events)
    chosen = efficacy_analysis(*args, options=EfficacyOptions(confirm_responses=False,
                                                               response_window_days=30))
    default = efficacy_analysis(*args)
    for table in ("response_after_step1", "best_overall_response"):
        assert efficacy[table] == _json_ready(chosen.to_dict()[table])
    assert any(_json_ready(chosen.to_dict()[t]) != _json_ready(default.to_dict()[t])
               for t in ("response_after_step1", "best_overall_response"))


def _json_ready(value):
    """As efficacy.json stores it (NaN written as null)."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def test_entry_level_reaches_the_patient_notebooks(monkeypatch, tmp_path):
    """`iluminet patient P001 --entry-level images` passes the level to notebooks 02 and 03,
    which declare it as a parameter; an unknown level is refused by the command line."""
    import papermill

    from iluminet.workbook import cli, runner

    root = Path(__file__).resolve().parents[2]
    for name in ("02_kidney_dosimetry", "03_bed_cycle_decision"):
        assert "entry_level" in papermill.inspect_notebook(str(root / "notebooks" /
                                                                f"{name}.ipynb"))
    seen: list[dict] = []
    monkeypatch.setattr(runner, "run_notebooks",
                        lambda name, notebooks, parameters, *a, **k: seen.append(parameters)
                        or runner.RunResult(name, True, 0.0))
    runner.run_patients(["P001"], data_dir=tmp_path, reports_dir=tmp_path / "reports",
                        notebooks_dir=tmp_path, progress=False, entry_level="images")
    assert seen[0]["entry_level"] == "images"
    args = cli.build_parser().parse_args(["patient", "P001", "--entry-level", "measurements"])
    assert args.entry_level == "measurements"
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["patient", "P001", "--entry-level", "dicom"])
