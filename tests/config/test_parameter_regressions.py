"""Parameters that are numeric but meaningless are refused before any kernel starts (exit 2).

Each case was accepted before the typed configuration: a .nan TIA-SE limit switched off the flag
that withholds, an infinite step-2 limit made the planning loop forever, ``max_cycles=2.7``
became 2, ``--set KEY=`` unset a required key, a 100 Gy tolerance gave 22 more step-1 cycles.
Only interfaces that existed before are used, so the tests also ran (and failed) on that code.
"""

from __future__ import annotations

import pytest

from iluminet.config.params import load_parameters
from iluminet.errors import InputError
from iluminet.patient.planning import Protocol, cycles_allowed
from iluminet.synthetic.demo_patients import SCENARIOS, generate_demo_patient
from iluminet.workbook import cli, runner


@pytest.fixture()
def data_dir(tmp_path):
    data = tmp_path / "patients"
    generate_demo_patient(SCENARIOS[0], data / "P001", seed=5)
    return data


@pytest.fixture()
def no_kernel(monkeypatch):
    """Any attempt to run a notebook fails the test: validation must come first."""
    def refuse(*args, **kwargs):
        raise AssertionError("a notebook was started before the parameters were validated")

    monkeypatch.setattr(runner, "run_patients", refuse)
    monkeypatch.setattr(runner, "run_cohort", refuse)
    monkeypatch.setattr(runner, "run_notebooks", refuse)


CASES = [
    ("analysis.kinetics.max_relative_tia_se=.nan",
     "field 'analysis.kinetics.max_relative_tia_se': expected a finite number, got .nan"),
    ("protocol.step2.bed_limit_gy=.inf",
     "field 'protocol.step2.bed_limit_gy': expected a finite number, got .inf"),
    ("protocol.max_cycles=2.7",
     "field 'protocol.max_cycles': expected a whole number (integer), got 2.7"),
    ("protocol.step1.bed_limit_gy=",
     "field 'protocol.step1.bed_limit_gy': required parameter: it cannot be unset (got null)"),
    ("protocol.step1.tolerance_gy=100",
     "field 'protocol.step1.tolerance_gy': must be smaller than the limit"),
]


@pytest.mark.parametrize("pair, expected", CASES, ids=[c[0] for c in CASES])
def test_patient_command_exits_2_before_any_kernel(pair, expected, data_dir, no_kernel, capsys,
                                                  no_hang):
    status = cli.main(["patient", "P001", "--data", str(data_dir), "--no-progress", "--set", pair])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith(f"error: --set: {expected}")
    assert "Traceback" not in err and err.count("\n") == 1  # one clean line


@pytest.mark.parametrize("pair, expected", CASES, ids=[c[0] for c in CASES])
def test_params_command_refuses_the_value(pair, expected, capsys, no_hang):
    assert cli.main(["params", "--set", pair]) == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize("overrides", [
    {"analysis": {"kinetics": {"max_relative_tia_se": float("nan")}}},
    {"protocol": {"step2": {"bed_limit_gy": float("inf")}}},
    {"protocol": {"max_cycles": 2.7}},
    {"protocol": {"step1": {"bed_limit_gy": None}}},
    {"protocol": {"step1": {"tolerance_gy": 100.0}}},
])
def test_merge_refuses_the_value(overrides, no_hang):
    with pytest.raises(InputError):
        load_parameters(overrides=overrides, override_source="notebook parameters")


def test_protocol_built_directly_keeps_the_rules(default_params):
    protocol = dict(default_params["protocol"])
    with pytest.raises(InputError, match="max_cycles"):
        Protocol.from_parameters({**protocol, "max_cycles": 2.7})
    with pytest.raises(InputError, match="step2.bed_limit_gy"):
        Protocol.from_parameters({**protocol, "step2": {**protocol["step2"],
                                                        "bed_limit_gy": float("inf")}})
    with pytest.raises(InputError, match="step1.tolerance_gy"):
        Protocol.from_parameters({**protocol, "step1": {"bed_limit_gy": 27.0,
                                                        "tolerance_gy": 100.0}})


def test_infinite_limit_and_near_zero_bed_end_planning_at_once(no_hang):
    with pytest.raises(InputError):
        cycles_allowed(0.0, 4.9, float("inf"), 2.0, "within_tolerance")
    with pytest.raises(InputError):
        cycles_allowed(0.0, 1e-9, 40.0, 2.0, "within_tolerance")


def test_cohort_and_run_validate_before_any_kernel(no_kernel, capsys):
    assert cli.main(["cohort", "--set", "efficacy.conf_level=1.5"]) == 2
    assert "field 'efficacy.conf_level': expected a value in (0, 1), got 1.5" in \
        capsys.readouterr().err
    # run: a bad cohort option is refused before the demo data or any patient kernel
    assert cli.main(["run", "--no-progress", "--set", "safety.renal_years=[2, 1]"]) == 2
    assert "field 'safety.renal_years': expected strictly increasing values" in \
        capsys.readouterr().err
