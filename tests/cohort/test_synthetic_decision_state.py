"""The synthetic trial's cycle decision sees what the protocol says (issue: decision state):
the worst toxicity grade and the lowest GFR over every cycle so far, and the age on the date of
the decision (age at step-2 entry), not the latest GFR and the age at inclusion."""

from __future__ import annotations

import pandas as pd
import pytest

from iluminet.patient.planning import PatientState, cumulative_state
from iluminet.synthetic.trial import generate_cohort, treatment
from iluminet.units import DAYS_PER_YEAR


@pytest.fixture(scope="module")
def calls():
    """Every decision of a generated trial: the cycles given and the state handed over."""
    seen: list[tuple[list, object]] = []
    real = treatment.decide_next_cycle

    def recording(cycles, state, protocol):
        seen.append((list(cycles), state if isinstance(state, PatientState) else list(state)))
        return real(cycles, state, protocol)

    mp = pytest.MonkeyPatch()
    mp.setattr(treatment, "decide_next_cycle", recording)
    try:
        cohort = generate_cohort(seed=2, fast=True, safety=False, qol=False)
    finally:
        mp.undo()
    return cohort, seen


def _seen(state) -> PatientState:
    return state if isinstance(state, PatientState) else cumulative_state(state)


def test_the_decision_sees_the_lowest_gfr_and_worst_grade_so_far(calls):
    _, seen = calls
    # Group the calls of each patient: a patient's calls have 1, 2, 3, ... cycles.
    runs, current = [], []
    for cycles, state in seen:
        if len(cycles) == 1 and current:
            runs.append(current)
            current = []
        current.append(state)
    runs.append(current)
    rises = 0
    for states in runs:
        latest = [_seen(s).current_gfr_ml_min for s in states]  # what each decision saw
        per_cycle = [s[-1].current_gfr_ml_min if isinstance(s, list) else s.current_gfr_ml_min
                     for s in states]
        for k in range(len(states)):
            assert latest[k] == min(per_cycle[: k + 1])
            rises += int(k > 0 and per_cycle[k] > per_cycle[k - 1])
        grades = [_seen(s).worst_toxicity_grade for s in states]
        assert grades == sorted(grades)  # never forgotten
    assert rises > 0  # the GFR does rise between cycles at times: the test can tell


def test_the_decision_sees_the_age_on_the_cycle_date(calls):
    cohort, seen = calls
    p = cohort.patients.set_index("patient_id")
    cyc = cohort.cycles
    first = cyc[cyc["cycle"] == 1].set_index("patient_id")["administration_date"]
    # the first decision of each treated patient: age at inclusion + time to the first cycle
    firsts = [s for c, s in seen if len(c) == 1]
    assert len(firsts) == len(first)
    for pid, state in zip(first.index, firsts, strict=True):
        days = (pd.Timestamp(first[pid]) - pd.Timestamp(p.at[pid, "inclusion_date"])).days
        expected = float(p.at[pid, "age_years"]) + days / DAYS_PER_YEAR
        assert _seen(state).age_years == pytest.approx(expected, abs=1e-9)


def test_no_step2_cycle_for_a_patient_over_70_at_step2_entry(calls):
    cohort, _ = calls
    p = cohort.patients.set_index("patient_id")
    cyc = cohort.cycles.assign(date=pd.to_datetime(cohort.cycles["administration_date"]))
    step2 = cyc[cyc["step"] == 2]["patient_id"].unique()
    assert len(step2) > 0
    for pid in step2:
        mine = cyc[cyc["patient_id"] == pid]
        entry = mine.loc[mine["step"] == 1, "date"].max()  # the decision that ended step 1
        age = float(p.at[pid, "age_years"]) + (
            entry - pd.Timestamp(p.at[pid, "inclusion_date"])).days / DAYS_PER_YEAR
        assert age <= 70.0, f"{pid}: {age:.2f} years at step-2 entry"
