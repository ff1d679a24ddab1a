"""Parameter merging: precedence, unknown keys, wrong types."""

from __future__ import annotations

import pytest

from iluminet.config.params import dotted_overrides, load_parameters, merge_parameters
from iluminet.errors import InputError

DEFAULTS = {"a": 1.0, "section": {"limit_gy": 27.0, "flag": True, "name": "x"}, "optional": None}


def test_defaults_hold_the_published_protocol(default_params):
    protocol = default_params["protocol"]
    assert protocol["activity_per_cycle_gbq"] == 7.4
    assert protocol["interval"] == {"nominal_weeks": 10, "tolerance_weeks": 2}
    assert protocol["radiobiology"] == {"alpha_beta_gy": 2.6, "repair_half_time_h": 2.8}
    assert (protocol["step1"]["bed_limit_gy"], protocol["step1"]["tolerance_gy"]) == (27.0, 2.0)
    assert (protocol["step2"]["bed_limit_gy"], protocol["step2"]["tolerance_gy"]) == (40.0, 2.0)
    assert protocol["step2"]["criteria"]["max_age_years"] == 70


def test_later_layers_win_and_untouched_keys_stay():
    merged = merge_parameters(DEFAULTS, ("site", {"a": 2.0, "section": {"limit_gy": 23.0}}),
                              ("patient", {"section": {"limit_gy": 25.0}}))
    assert merged["a"] == 2.0
    assert merged["section"] == {"limit_gy": 25.0, "flag": True, "name": "x"}
    assert DEFAULTS["section"]["limit_gy"] == 27.0  # defaults are not mutated


def test_unknown_key_is_an_error_naming_source_and_path():
    with pytest.raises(InputError, match=r"patient.yaml: field 'section.limt_gy': unknown"):
        merge_parameters(DEFAULTS, ("patient.yaml", {"section": {"limt_gy": 1.0}}))


@pytest.mark.parametrize("layer, field", [
    ({"a": "2"}, "a"),
    ({"section": {"flag": 1}}, "section.flag"),
    ({"section": 3}, "section"),
    ({"section": {"limit_gy": True}}, "section.limit_gy"),
])
def test_wrong_type_is_an_error(layer, field):
    with pytest.raises(InputError) as excinfo:
        merge_parameters(DEFAULTS, ("cli", layer))
    assert excinfo.value.field == field


def test_integer_accepted_where_float_expected_and_null_default_accepts_anything():
    merged = merge_parameters(DEFAULTS, ("cli", {"a": 3, "optional": 5}))
    assert merged["a"] == 3 and merged["optional"] == 5


def test_patient_file_then_explicit_overrides(tmp_path, workbook_root):
    import shutil

    params = tmp_path / "params"
    shutil.copytree(workbook_root / "params", params, ignore=shutil.ignore_patterns("patients"))
    (params / "patients").mkdir()
    (params / "site.yaml").write_text("protocol:\n  step1:\n    bed_limit_gy: 25.0\n")
    (params / "patients" / "P9.yaml").write_text(
        "protocol:\n  step1:\n    tolerance_gy: 1.0\n    bed_limit_gy: 26.0\n")
    loaded = load_parameters("P9", {"protocol": {"step1": {"tolerance_gy": 0.5}}}, root=tmp_path)
    assert loaded["protocol"]["step1"] == {"bed_limit_gy": 26.0, "tolerance_gy": 0.5}
    other = load_parameters("P8", root=tmp_path)
    assert other["protocol"]["step1"]["bed_limit_gy"] == 25.0

    (params / "patients" / "P7.yaml").write_text("protocol:\n  stepp1: {}\n")
    with pytest.raises(InputError, match="P7.yaml.*stepp1"):
        load_parameters("P7", root=tmp_path)
    (params / "patients" / "P6.yaml").write_text("- just\n- a list\n")
    with pytest.raises(InputError, match="P6.yaml.*mapping"):
        load_parameters("P6", root=tmp_path)


def test_dotted_overrides():
    assert dotted_overrides(
        {"protocol.step1.bed_limit_gy": 23, "analysis.kinetics.model": "biexp"}
    ) == {"protocol": {"step1": {"bed_limit_gy": 23}}, "analysis": {"kinetics": {"model": "biexp"}}}
