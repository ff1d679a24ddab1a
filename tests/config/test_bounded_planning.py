"""Planning over future cycles is closed-form and bounded: no input makes it loop."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iluminet.config.models import MAX_PLANNED_CYCLES
from iluminet.errors import InputError
from iluminet.patient.planning import POLICIES, allows_another_cycle, cycles_allowed


def stepwise(cumulative: float, per_cycle: float, limit: float, tolerance: float,
             policy: str) -> int:
    """The rule applied cycle by cycle (the former loop), as the reference."""
    count = 0
    while allows_another_cycle(cumulative + count * per_cycle, per_cycle, limit, tolerance,
                               policy):
        count += 1
    return count


@settings(max_examples=400, deadline=None)
@given(policy=st.sampled_from(POLICIES), cumulative=st.floats(0, 60),
       per_cycle=st.floats(0.5, 12), limit=st.floats(5, 60), tolerance=st.floats(0, 4))
def test_closed_form_equals_the_cycle_by_cycle_rule(policy, cumulative, per_cycle, limit,
                                                    tolerance):
    expected = stepwise(cumulative, per_cycle, limit, tolerance, policy)  # ≤ 128 here
    if expected > MAX_PLANNED_CYCLES:
        with pytest.raises(InputError, match="more than any plan"):
            cycles_allowed(cumulative, per_cycle, limit, tolerance, policy)
    else:
        assert cycles_allowed(cumulative, per_cycle, limit, tolerance, policy) == expected


@pytest.mark.parametrize("policy", POLICIES)
def test_exact_boundaries(policy):
    # 20 Gy so far, 3 Gy per cycle, 27 ± 2 Gy: 23, 26, 29 after 1, 2, 3 more cycles
    expected = {"within_tolerance": 3, "within_limit": 2, "reach_lower_bound": 2, "nearest": 2,
                "risk_limited": 3}  # without an uncertainty: as within_tolerance
    assert cycles_allowed(20.0, 3.0, 27.0, 2.0, policy) == expected[policy]
    assert cycles_allowed(20.0, 3.0, 27.0, 2.0, policy, cap=1) == min(expected[policy], 1)


@pytest.mark.parametrize("arguments, field", [
    ((0.0, 4.9, math.inf, 2.0), "bed_limit_gy"),
    ((0.0, 4.9, 40.0, math.inf), "tolerance_gy"),
    ((0.0, math.nan, 40.0, 2.0), "bed_gy"),
    ((math.inf, 4.9, 40.0, 2.0), "cumulative_bed_gy"),
])
@pytest.mark.parametrize("policy", POLICIES)
def test_infinite_input_returns_at_once_with_an_error(no_hang, arguments, field, policy):
    with pytest.raises(InputError, match="expected a finite number") as excinfo:
        cycles_allowed(*arguments, policy)
    assert excinfo.value.field == field


@pytest.mark.parametrize("policy", POLICIES)
def test_a_near_zero_bed_per_cycle_returns_at_once_with_an_error(no_hang, policy):
    with pytest.raises(InputError, match=r"predicted BED of 1e-09 Gy per cycle would need about "
                                         r"\d+ more cycles .* more than any plan \(100\)"):
        cycles_allowed(0.0, 1e-9, 27.0, 2.0, policy)
    with pytest.raises(InputError, match="more than any plan"):  # a cap does not hide it
        cycles_allowed(0.0, 1e-9, 27.0, 2.0, policy, cap=3)


def test_zero_or_negative_bed_per_cycle_is_an_error():
    with pytest.raises(InputError, match="must be > 0"):
        cycles_allowed(0.0, 0.0, 27.0, 2.0, "within_tolerance")
    with pytest.raises(InputError, match="expected one of"):
        cycles_allowed(0.0, 4.0, 27.0, 2.0, "whatever")
