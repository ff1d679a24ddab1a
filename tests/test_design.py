"""Randomized-trial design: Schoenfeld's events, patients under exponential accrual/follow-up,
power, the response-rate sample size; hand-computed values, R's hand formulas, and the simulated
log-rank power against the closed form."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iluminet.errors import InputError
from iluminet.trial.design import (
    SurvivalDesign,
    event_probability,
    events_required,
    patients_required,
    power_from_events,
    response_rate_patients_per_arm,
    sample_size_table,
    simulated_power,
)


def test_schoenfeld_hand_computed_example() -> None:
    """HR 0.7, two-sided α 0.05, power 0.8, 1:1: (1.959964 + 0.841621)² / (0.25 · ln²0.7)
    = 7.848879 / 0.031804 = 246.79 events (the textbook 247)."""
    expected = (1.959963985 + 0.841621234) ** 2 / (0.25 * math.log(0.7) ** 2)
    assert expected == pytest.approx(246.787, abs=1e-3)
    assert events_required(0.7) == pytest.approx(expected, rel=1e-9)
    assert math.ceil(events_required(0.7)) == 247


def test_event_probability_limits() -> None:
    # no accrual period: everybody followed F months
    assert event_probability(0.1, 0.0, 12.0) == pytest.approx(1 - math.exp(-1.2))
    # P(event) lies between follow-up F and A + F for everyone
    p = event_probability(0.05, 24.0, 12.0)
    assert 1 - math.exp(-0.05 * 12) < p < 1 - math.exp(-0.05 * 36)


@settings(max_examples=60, deadline=None)
@given(st.floats(0.3, 0.95), st.floats(0.6, 0.95), st.floats(0.2, 0.8))
def test_power_inverts_events(hr: float, power: float, allocation: float) -> None:
    d = events_required(hr, power=power, allocation=allocation)
    assert power_from_events(d, hr, allocation=allocation) == pytest.approx(power, abs=1e-9)
    # an effect further from 1 needs fewer events
    assert events_required(hr * 0.9, power=power, allocation=allocation) < d


def test_bad_design_values_are_named() -> None:
    with pytest.raises(InputError) as err:
        events_required(1.0)
    assert err.value.field == "hazard_ratio"
    with pytest.raises(InputError) as err:
        events_required(0.7, power=1.2)
    assert err.value.field == "power"
    with pytest.raises(InputError) as err:
        SurvivalDesign(-3.0, 0.7, 24, 24).patients()
    assert err.value.field == "control_median_months"


def test_sample_size_table_monotone() -> None:
    table = sample_size_table([0.6, 0.7, 0.8], control_median_months=29.0, accrual_months=24.0,
                              follow_up_months=24.0)
    assert list(table["events"]) == sorted(table["events"])
    assert (table["patients"] >= table["events"]).all()


@pytest.mark.slow
@pytest.mark.parametrize("hr", [0.65, 0.75])
def test_simulated_log_rank_power_matches_the_closed_form(hr: float) -> None:
    """2000 simulated trials (exponential PFS, uniform accrual, analysis at A + F) of the size
    the closed form gives for 80 % power: the log-rank test rejects in 80 ± 3 % of them
    (Monte Carlo SE ≈ 0.9 %)."""
    design = SurvivalDesign(29.0, hr, 24.0, 24.0)
    power = simulated_power(design, patients_required(design), n_trials=2000, seed=7)
    assert power == pytest.approx(0.80, abs=0.03)


@pytest.mark.r_crosscheck
def test_closed_forms_agree_with_r_hand_formulas(tmp_path: Path) -> None:
    if os.environ.get("ILUMINET_SKIP_R"):
        pytest.skip("ILUMINET_SKIP_R set")
    rscript = shutil.which("Rscript")
    assert rscript, "Rscript not found: make test installs r-base-core"
    cases = pd.DataFrame([
        {"hr": 0.7, "alpha": 0.05, "power": 0.8, "allocation": 0.5, "sides": 2, "median": 29.0,
         "accrual": 24.0, "follow_up": 24.0, "events_given": 200.0, "p1": 0.16, "p2": 0.30},
        {"hr": 0.6, "alpha": 0.025, "power": 0.9, "allocation": 2 / 3, "sides": 1,
         "median": 17.0, "accrual": 36.0, "follow_up": 12.0, "events_given": 150.0,
         "p1": 0.2, "p2": 0.4},
        {"hr": 1.3, "alpha": 0.05, "power": 0.85, "allocation": 0.5, "sides": 2, "median": 40.0,
         "accrual": 18.0, "follow_up": 30.0, "events_given": 400.0, "p1": 0.5, "p2": 0.35},
    ])
    cases.to_csv(tmp_path / "cases.csv", index=False)
    subprocess.run([rscript, str(Path(__file__).parent / "r" / "design_reference.R"),
                    str(tmp_path / "cases.csv"), str(tmp_path / "out.csv")], check=True,
                   capture_output=True, timeout=None)
    reference = pd.read_csv(tmp_path / "out.csv")
    for (_, c), (_, r) in zip(cases.iterrows(), reference.iterrows(), strict=True):
        design = SurvivalDesign(c["median"], c["hr"], c["accrual"], c["follow_up"],
                                c["alpha"], c["power"], c["allocation"], int(c["sides"]))
        assert design.events() == pytest.approx(r["events"], rel=1e-10)
        assert design.patients() == pytest.approx(r["patients"], rel=1e-10)
        assert power_from_events(c["events_given"], c["hr"], alpha=c["alpha"],
                                 allocation=c["allocation"], sides=int(c["sides"])) == \
            pytest.approx(r["power"], rel=1e-10)
        assert response_rate_patients_per_arm(c["p1"], c["p2"], alpha=c["alpha"],
                                              power=c["power"], sides=int(c["sides"])) == \
            math.ceil(r["rr_per_arm"] - 1e-9)
