"""Plausibility interlocks: numeric but implausible input withholds the decision with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iluminet.config.params import merge_parameters
from iluminet.errors import InputError
from iluminet.patient.chain import run_patient_dosimetry
from iluminet.patient.planning import Action
from iluminet.patient.plausibility import (
    PlausibilityLimits,
    dose_per_gbq_flags,
    interval_checks,
    kidney_fraction_flags,
)
from iluminet.patient.records import load_patient
from tests.interlocks.conftest import edit_csv


def _scale_activity(factor: float, cycles: tuple[int, ...] | None = None):
    def change(table: pd.DataFrame) -> None:
        chosen = table["cycle"].astype(int).isin(cycles) if cycles else table["cycle"].notna()
        rows = table.index[chosen]
        for column in ("left_kidney_activity_mbq", "right_kidney_activity_mbq"):
            table.loc[rows, column] = [f"{float(v) * factor:.6g}" for v in table.loc[rows, column]]
    return change


def test_clean_demo_patient_is_not_flagged(patient, default_params):
    result = run_patient_dosimetry(load_patient(patient), default_params)
    assert result.decision_.action is Action.NEXT_CYCLE
    assert not any("implausible" in f for f in result.cycles_["flags"])


def test_gbq_typo_in_one_cycle_withholds_and_names_the_unit(patient, default_params):
    # the overdose path: cycle 2 typed in GBq gave 0.0006 Gy/GBq and "next_cycle"
    edit_csv(patient / "kidney_activity.csv", _scale_activity(1e-3, cycles=(2,)))
    result = run_patient_dosimetry(load_patient(patient), default_params)
    decision = result.decision_
    assert decision.action is Action.WITHHOLD
    assert not decision.gives_cycle and decision.predicted_cycles_remaining is None
    reasons = " | ".join(decision.reasons)
    assert "cycle 2" in reasons and "looks like GBq" in reasons
    assert "cycle 1:" not in reasons and "cycle 3:" not in reasons  # only the wrong cycle
    assert "cycle 2: implausible: kidney dose" in reasons and "median" in reasons


@pytest.mark.parametrize("factor, unit", [(1e-3, "GBq"), (1e3, "kBq")])
def test_all_cycles_in_wrong_unit_withhold(patient, default_params, factor, unit):
    edit_csv(patient / "kidney_activity.csv", _scale_activity(factor))
    decision = run_patient_dosimetry(load_patient(patient), default_params).decision_
    assert decision.action is Action.WITHHOLD
    assert all(f"cycle {c}" in " ".join(decision.reasons) for c in (1, 2, 3))
    assert f"looks like {unit}" in " ".join(decision.reasons)


def test_per_cycle_bed_above_the_plausible_maximum_is_flagged(patient, default_params):
    params = merge_parameters(default_params,
                              ("test", {"analysis": {"plausibility": {"cycle_bed_max_gy": 4.0}}}))
    decision = run_patient_dosimetry(load_patient(patient), params).decision_
    assert decision.action is Action.WITHHOLD
    assert "above the plausible 4 Gy" in " ".join(decision.reasons)


def test_report_flags_text_shows_the_interlock(patient, default_params):
    from iluminet.report.patient_results import format_decision, format_flags

    edit_csv(patient / "kidney_activity.csv", _scale_activity(1e-3, cycles=(2,)))
    result = run_patient_dosimetry(load_patient(patient), default_params)
    assert "looks like GBq" in format_flags(result)
    assert "withhold" in format_decision(result) and "looks like GBq" in format_decision(result)


def test_limits_from_parameters_are_checked(default_params):
    limits = PlausibilityLimits.from_parameters(default_params["analysis"])
    assert limits.kidney_fraction_min < limits.kidney_fraction_max
    for key, value in (("kidney_fraction_max", float("nan")), ("cycle_consistency_factor", 0.5),
                       ("dose_per_gbq_min", 9.0)):
        section = {**default_params["analysis"]["plausibility"], key: value}
        with pytest.raises(InputError, match="plausibility"):
            PlausibilityLimits.from_parameters({"plausibility": section})
    with pytest.raises(InputError, match="missing section"):
        PlausibilityLimits.from_parameters({})


def test_kidney_fraction_uses_the_decay_corrected_administered_activity(default_params):
    limits = PlausibilityLimits.from_parameters(default_params["analysis"])
    cycles = pd.DataFrame({"cycle": [1], "administered_activity_mbq": [7400.0]})
    # 1 % of 7400 MBq decay-corrected to 159.5 h (one physical half-life): 37 MBq is 1 % — fine;
    # undecayed 0.5 % would be 37 MBq at t=0 but at one half-life 37 MBq is 1 %
    half_life_h = 6.647 * 24
    activity = pd.DataFrame({"cycle": [1, 1], "time_h": [half_life_h, half_life_h],
                             "kidney": ["left", "right"], "activity_mbq": [37.0, 0.0037]})
    flags = kidney_fraction_flags(activity, cycles, limits)
    assert len(flags[1]) == 1 and flags[1][0].startswith("right kidney")
    assert "0.0001 %" in flags[1][0] and "looks like GBq" in flags[1][0]


def test_dose_per_gbq_consistency_flags_only_the_outlier(default_params):
    limits = PlausibilityLimits.from_parameters(default_params["analysis"])
    flags = dose_per_gbq_flags({1: 0.53, 2: 0.54, 3: 1.6, 4: 0.52}, limits)
    assert list(flags) == [3] and "3.0" in flags[3][0]
    assert dose_per_gbq_flags({1: 0.53, 2: np.nan}, limits) == {}


def test_interval_short_withholds_long_warns(default_params):
    limits = PlausibilityLimits.from_parameters(default_params["analysis"])
    times = [pd.Timestamp(t) for t in ("2024-01-01T10:00+01:00", "2024-01-22T10:00+01:00",
                                       "2024-06-01T10:00+02:00")]
    check = interval_checks(list(times), 10.0, 2.0, limits)
    assert list(check.flags) == [2] and "3.0 weeks" in check.flags[2][0]
    assert len(check.warnings) == 1 and check.warnings[0].startswith("cycle 3")
