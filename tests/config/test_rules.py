"""Each validation rule of the typed configuration, with the exact message a user sees."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iluminet.config.models import Parameters
from iluminet.config.params import dotted_overrides, load_config, parameters_schema
from iluminet.errors import InputError


def message(dotted: dict, workbook_root) -> str:
    with pytest.raises(InputError) as excinfo:
        load_config(overrides=dotted_overrides(dotted), root=workbook_root, override_source="--set")
    return str(excinfo.value)


RULES = [
    # finite numbers
    ({"protocol.step2.bed_limit_gy": math.inf},
     "field 'protocol.step2.bed_limit_gy': expected a finite number, got .inf"),
    ({"analysis.kinetics.max_relative_tia_se": math.nan},
     "field 'analysis.kinetics.max_relative_tia_se': expected a finite number, got .nan"),
    # integers that are integers
    ({"protocol.max_cycles": 2.7}, ("field 'protocol.max_cycles': expected a whole number "
                                   "(integer), got 2.7")),
    ({"protocol.step2.criteria.max_toxicity_grade": 2.0},
     ("field 'protocol.step2.criteria.max_toxicity_grade': expected a whole number (integer), "
     "got 2")),
    # ranges
    ({"analysis.kinetics.max_relative_tia_se": 0},
     "field 'analysis.kinetics.max_relative_tia_se': expected a value in (0, 1], got 0"),
    ({"analysis.kinetics.max_relative_tia_se": 1.5},
     "field 'analysis.kinetics.max_relative_tia_se': expected a value in (0, 1], got 1.5"),
    ({"analysis.kinetics.min_points": 2},
     "field 'analysis.kinetics.min_points': expected a value in [3, 100], got 2"),
    ({"protocol.activity_per_cycle_gbq": 7400},
     "field 'protocol.activity_per_cycle_gbq': expected a value in (0, 15], got 7400"),
    ({"protocol.max_cycles": 0},
     "field 'protocol.max_cycles': expected a value in [1, 100], got 0"),
    ({"protocol.step2.criteria.gfr_max_decrease_fraction": 40},
     ("field 'protocol.step2.criteria.gfr_max_decrease_fraction': expected a value in [0, 1], "
     "got 40")),
    ({"efficacy.conf_level": 1.0},
     "field 'efficacy.conf_level': expected a value in (0, 1), got 1"),
    ({"safety.late_half_width_days": -1},
     "field 'safety.late_half_width_days': expected a value ≥ 0, got -1"),
    # relations
    ({"protocol.step1.tolerance_gy": 100},
     ("field 'protocol.step1.tolerance_gy': must be smaller than the limit bed_limit_gy = 27 Gy, "
     "got 100 Gy")),
    ({"protocol.step1.bed_limit_gy": 37},
     ("field 'protocol.step2.bed_limit_gy': step 1's window must lie below step 2's: "
     "step1.bed_limit_gy + step1.tolerance_gy = 39 Gy must be < step2.bed_limit_gy − "
     "step2.tolerance_gy = 38 Gy")),
    ({"protocol.interval.tolerance_weeks": 10},
     ("field 'protocol.interval.tolerance_weeks': must be shorter than the nominal interval "
     "nominal_weeks = 10 weeks, got 10 weeks")),
    ({"efficacy.bed_edges_gy": [29, 25]},
     "field 'efficacy.bed_edges_gy': expected two increasing edges ≥ 0 (Gy), got [29.0, 25.0]"),
    ({"safety.bed_group_edges_gy": [25]},
     "field 'safety.bed_group_edges_gy': expected two increasing edges ≥ 0 (Gy), got [25.0]"),
    ({"safety.renal_years": [0, 2, 1]},
     "field 'safety.renal_years': expected strictly increasing values, got [0, 2, 1]"),
    # no unsetting of required keys
    ({"protocol.step1.bed_limit_gy": None},
     "field 'protocol.step1.bed_limit_gy': required parameter: it cannot be unset (got null)"),
    ({"analysis.kinetics.model": None},
     ("field 'analysis.kinetics.model': required parameter: it cannot be unset; expected one of "
     "'mono', 'biexp' or 'auto'")),
    # choices, types, unknown keys
    ({"analysis.kinetics.model": "biexponential"},
     ("field 'analysis.kinetics.model': expected one of 'mono', 'biexp' or 'auto', got "
     "'biexponential'")),
    ({"efficacy.pfs_evaluable": "everyone"},
     ("field 'efficacy.pfs_evaluable': expected one of 'assessed_or_died', 'assessed' or "
     "'all_treated', got 'everyone'")),
    ({"protocol.step2.criteria.exclude_diabetes": "yes"},
     "field 'protocol.step2.criteria.exclude_diabetes': expected true or false, got 'yes'"),
    ({"protocol.step1.bed_limit_gy": "27 Gy"},
     "field 'protocol.step1.bed_limit_gy': expected a finite number, got '27 Gy'"),
    ({"analysis.imaging.camera_calibration": ""},
     "field 'analysis.imaging.camera_calibration': expected non-empty text"),
    ({"safety.countng": "any"},
     ("field 'safety.countng': unknown parameter (allowed here: early_end_days, late_centres_days, "
     "late_half_width_days, counting, creatinine_criterion, include_unlisted_terms, "
     "screening_window_days, renal_years, renal_window_days, gfr_test, bed_group_edges_gy, "
     "termination_window_days, site_ae_terms)")),
    ({"report.decimals": 3},
     ("field 'report': unknown parameter section (allowed here: protocol, analysis, efficacy, "
     "safety)")),
]


@pytest.mark.parametrize("dotted, expected", RULES, ids=[next(iter(r[0])) + "=" + repr(
    next(iter(r[0].values()))) for r in RULES])
def test_rule_message(dotted, expected, workbook_root):
    assert message(dotted, workbook_root) == f"--set: {expected}"


def test_several_errors_are_all_reported(workbook_root):
    text = message({"protocol.step1.bed_limit_gy": math.nan, "protocol.step1.tolerance_gy": -1},
                   workbook_root)
    assert text == ("--set: field 'protocol.step1.bed_limit_gy': expected a finite number, got "
                    ".nan; also field 'protocol.step1.tolerance_gy': expected a value ≥ 0, got -1")


def test_messages_hold_no_python_internals(workbook_root):
    for dotted, _ in RULES:
        text = message(dotted, workbook_root)
        for internal in ("pydantic", "errors.pydantic.dev", "input_value", "<class", "np.float64",
                         "Input should"):
            assert internal not in text, (dotted, text)


def test_valid_edges_of_each_range_are_accepted(workbook_root):
    typed = load_config(overrides=dotted_overrides({
        "analysis.kinetics.max_relative_tia_se": 1.0, "analysis.kinetics.min_points": 3,
        "protocol.max_cycles": 1, "protocol.step1.bed_limit_gy": 35.9,
        "protocol.step1.tolerance_gy": 2.0, "protocol.step2.tolerance_gy": 0.0}),
        root=workbook_root)
    # 35.9 + 2 < 40 − 0: the windows do not touch
    assert typed.protocol.step1.bed_limit_gy == 35.9 and typed.protocol.max_cycles == 1
    assert typed.protocol.step2.tolerance_gy == 0.0


def test_models_refuse_what_the_yaml_does_not_define():
    schema = parameters_schema()
    assert set(schema["required"]) == {"protocol", "analysis", "efficacy", "safety"}
    definitions = schema["$defs"]
    assert all(d.get("additionalProperties") is False for d in definitions.values()
               if d.get("type") == "object")
    json.dumps(schema)  # serialisable as printed by `iluminet params --schema`


def test_typed_tree_round_trips(default_params):
    assert Parameters.model_validate(default_params).to_dict() == default_params


@settings(max_examples=100, deadline=None)
@given(limit1=st.floats(1, 100), tol1=st.floats(0, 10), limit2=st.floats(1, 200),
       tol2=st.floats(0, 10))
def test_step_relations_hold_for_every_accepted_protocol(limit1, tol1, limit2, tol2,
                                                         default_params):
    protocol = dict(default_params["protocol"])
    protocol["step1"] = {"bed_limit_gy": limit1, "tolerance_gy": tol1}
    protocol["step2"] = {**protocol["step2"], "bed_limit_gy": limit2, "tolerance_gy": tol2}
    tree = {**default_params, "protocol": protocol}
    valid = tol1 < limit1 and tol2 < limit2 and limit1 + tol1 < limit2 - tol2
    try:
        Parameters.model_validate(tree)
    except ValueError:
        assert not valid
    else:
        assert valid
