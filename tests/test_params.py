"""Parameter merging: precedence, unknown keys, wrong types, the patient and override layers."""

from __future__ import annotations

import shutil

import pytest

from iluminet.config.params import (
    default_parameters,
    dotted_overrides,
    load_config,
    load_parameters,
    merge_parameters,
)
from iluminet.errors import InputError


@pytest.fixture()
def workbook(tmp_path, workbook_root):
    """A copy of the workbook's params/ (site and patient files are added by the tests)."""
    params = tmp_path / "params"
    shutil.copytree(workbook_root / "params", params, ignore=shutil.ignore_patterns("patients",
                                                                                   "site.yaml"))
    (params / "patients").mkdir()
    return tmp_path


def test_defaults_hold_the_published_protocol(default_params):
    protocol = default_params["protocol"]
    assert protocol["activity_per_cycle_gbq"] == 7.4
    assert protocol["interval"] == {"nominal_weeks": 10, "tolerance_weeks": 2}
    assert protocol["radiobiology"] == {"alpha_beta_gy": 2.6, "repair_half_time_h": 2.8}
    assert (protocol["step1"]["bed_limit_gy"], protocol["step1"]["tolerance_gy"]) == (27.0, 2.0)
    assert (protocol["step2"]["bed_limit_gy"], protocol["step2"]["tolerance_gy"]) == (40.0, 2.0)
    assert protocol["step2"]["criteria"]["max_age_years"] == 70
    assert set(default_params) == {"protocol", "analysis", "efficacy", "safety"}


def test_later_layers_win_and_untouched_keys_stay(default_params):
    merged = merge_parameters(default_params,
                              ("site", {"protocol": {"activity_per_cycle_gbq": 7.0,
                                                     "step1": {"bed_limit_gy": 23.0}}}),
                              ("patient", {"protocol": {"step1": {"bed_limit_gy": 25.0}}}))
    assert merged["protocol"]["activity_per_cycle_gbq"] == 7.0
    assert merged["protocol"]["step1"] == {"bed_limit_gy": 25.0, "tolerance_gy": 2.0}
    assert merged["analysis"] == default_params["analysis"]
    assert default_params["protocol"]["step1"]["bed_limit_gy"] == 27.0  # base not mutated


def test_unknown_key_is_an_error_naming_source_and_path(default_params):
    with pytest.raises(InputError, match=r"patient.yaml: field 'protocol.step1.limt_gy': unknown "
                                         r"parameter \(allowed here: bed_limit_gy, tolerance_gy\)"):
        merge_parameters(default_params, ("patient.yaml", {"protocol": {"step1": {"limt_gy": 1}}}))


@pytest.mark.parametrize("layer, field", [
    ({"protocol": {"activity_per_cycle_gbq": "2"}}, "protocol.activity_per_cycle_gbq"),
    ({"protocol": {"step2": {"criteria": {"exclude_diabetes": 1}}}},
     "protocol.step2.criteria.exclude_diabetes"),
    ({"protocol": {"step1": 3}}, "protocol.step1"),
    ({"protocol": {"step1": {"bed_limit_gy": True}}}, "protocol.step1.bed_limit_gy"),
    ({"analysis": {"kinetics": {"min_points": 3.0}}}, "analysis.kinetics.min_points"),
])
def test_wrong_type_is_an_error(default_params, layer, field):
    with pytest.raises(InputError) as excinfo:
        merge_parameters(default_params, ("cli", layer))
    assert excinfo.value.field == field and excinfo.value.source == "cli"


def test_integer_accepted_where_a_number_is_expected_and_null_where_optional(default_params):
    merged = merge_parameters(default_params, ("cli", {"protocol": {"activity_per_cycle_gbq": 7,
                                                                    "max_cycles": 6}}))
    assert merged["protocol"]["activity_per_cycle_gbq"] == 7.0
    assert merged["protocol"]["max_cycles"] == 6
    back = merge_parameters(merged, ("cli", {"protocol": {"max_cycles": None}}))
    assert back["protocol"]["max_cycles"] is None


def test_site_then_patient_file_then_explicit_overrides(workbook):
    params = workbook / "params"
    (params / "site.yaml").write_text("protocol:\n  step1:\n    bed_limit_gy: 25.0\n"
                                      "efficacy:\n  confirm_responses: true\n")
    (params / "patients" / "P9.yaml").write_text(
        "protocol:\n  step1:\n    tolerance_gy: 1.0\n    bed_limit_gy: 26.0\n")
    loaded = load_parameters("P9", {"protocol": {"step1": {"tolerance_gy": 0.5}}}, root=workbook)
    assert loaded["protocol"]["step1"] == {"bed_limit_gy": 26.0, "tolerance_gy": 0.5}
    assert loaded["efficacy"]["confirm_responses"] is True
    other = load_config("P8", root=workbook)
    assert other.protocol.step1.bed_limit_gy == 25.0  # typed access

    (params / "patients" / "P7.yaml").write_text("protocol:\n  stepp1: {}\n")
    with pytest.raises(InputError, match="P7.yaml: field 'protocol.stepp1': unknown parameter"):
        load_parameters("P7", root=workbook)
    (params / "patients" / "P6.yaml").write_text("- just\n- a list\n")
    with pytest.raises(InputError, match="P6.yaml.*mapping"):
        load_parameters("P6", root=workbook)


def test_a_patient_file_cannot_set_cohort_options(workbook):
    (workbook / "params" / "patients" / "P5.yaml").write_text("safety:\n  counting: worsening\n")
    with pytest.raises(InputError, match=r"P5.yaml: field 'safety': section 'safety' cannot be "
                                         r"set here \(a patient file sets per-patient parameters; "
                                         r"allowed: protocol, analysis\)"):
        load_parameters("P5", root=workbook)


def test_an_error_names_the_layer_that_introduced_it(workbook):
    params = workbook / "params"
    (params / "site.yaml").write_text("protocol:\n  step1:\n    tolerance_gy: 1.5\n")
    # valid after the site file; the patient file's limit then breaks the tolerance relation
    (params / "patients" / "P4.yaml").write_text("protocol:\n  step1:\n    bed_limit_gy: 1.0\n")
    with pytest.raises(InputError) as excinfo:
        load_parameters("P4", root=workbook)
    assert excinfo.value.source == str(params / "patients" / "P4.yaml")
    assert excinfo.value.field == "protocol.step1.tolerance_gy"


def test_a_broken_default_file_is_named(workbook):
    path = workbook / "params" / "analysis.yaml"
    path.write_text(path.read_text().replace("min_points: 3", "min_points: 1"))
    with pytest.raises(InputError) as excinfo:
        default_parameters(workbook)
    assert excinfo.value.source == str(path)
    assert str(excinfo.value).endswith("field 'analysis.kinetics.min_points': expected a value in "
                                       "[3, 100], got 1")


def test_overrides_restricted_to_the_sections_a_caller_applies(workbook):
    with pytest.raises(InputError, match=r"notebook parameters: field 'protocol': section "
                                         r"'protocol' cannot be set here"):
        load_config(overrides={"protocol": {"max_cycles": 3}}, root=workbook,
                    override_source="notebook parameters", sections=("efficacy",))
    typed = load_config(overrides={"efficacy": {"conf_level": 0.9}}, root=workbook,
                        sections=("efficacy",))
    assert typed.efficacy.conf_level == 0.9


def test_dotted_overrides():
    assert dotted_overrides(
        {"protocol.step1.bed_limit_gy": 23, "analysis.kinetics.model": "biexp"}
    ) == {"protocol": {"step1": {"bed_limit_gy": 23}}, "analysis": {"kinetics": {"model": "biexp"}}}


@pytest.mark.parametrize("pairs, message", [
    ({"protocol..bed_limit_gy": 1}, "expected a dotted parameter name"),
    ({"protocol.step1": 3, "protocol.step1.bed_limit_gy": 2}, "used as a section"),
    ({"protocol.step1.bed_limit_gy": 2, "protocol.step1": 3}, "used as a section"),
])
def test_dotted_overrides_refuse_ambiguous_keys(pairs, message):
    with pytest.raises(InputError, match=message):
        dotted_overrides(pairs)
