"""qol.csv: validation per defect, CSV round trip, and the synthetic questionnaires."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from iluminet.errors import InputError
from iluminet.synthetic.trial import generate_cohort
from iluminet.synthetic.trial.qol import simulate_qol
from iluminet.trial.qol_scoring import QUESTIONNAIRES
from iluminet.trial.schema import (
    SCREENING_WINDOW_DAYS,
    TABLES,
    read_cohort,
    validate_cohort,
    write_cohort,
)


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(4, 16, fast=True).validated()


def _with_qol(cohort, qol: pd.DataFrame):
    return dataclasses.replace(cohort, qol=qol.reset_index(drop=True))


def _error(cohort, qol: pd.DataFrame) -> str:
    with pytest.raises(InputError) as info:
        validate_cohort(_with_qol(cohort, qol))
    return str(info.value)


def test_generated_questionnaires_are_valid_and_complete_forms(cohort):
    qol = cohort.qol
    assert len(qol) and set(qol["questionnaire"]) == set(QUESTIONNAIRES)
    forms = qol.groupby(["patient_id", "visit", "questionnaire"])["item"].apply(sorted)
    for (_, _, name), items in forms.items():
        assert items == sorted(QUESTIONNAIRES[name])  # a returned form lists every item
    treated = set(cohort.patients.loc[cohort.patients["treated"], "patient_id"])
    assert set(qol["patient_id"]) <= treated
    assert qol["response"].isna().mean() < 0.05


def test_response_out_of_range_names_table_row_and_column(cohort):
    qol = cohort.qol.copy()
    row = int(np.flatnonzero((qol["questionnaire"] == "QLQ-C30") & (qol["item"] == 3))[0])
    qol.loc[row, "response"] = 5  # items 1–28 are answered 1–4
    message = _error(cohort, qol)
    assert "qol" in message and f"row {row + 1}" in message and "'response'" in message
    assert "expected 1–4" in message


def test_response_above_seven_is_refused_by_the_column_range(cohort):
    qol = cohort.qol.copy()
    row = int(np.flatnonzero(qol["item"] == 29)[0])
    qol["response"] = qol["response"].astype(object)
    qol.loc[row, "response"] = 8
    message = _error(cohort, qol)
    assert f"row {row + 1}" in message and "'response'" in message and "≤ 7" in message


def test_unknown_item_names_table_row_and_column(cohort):
    qol = cohort.qol.copy()
    row = int(np.flatnonzero((qol["questionnaire"] == "QLQ-C30") & (qol["item"] == 30))[0])
    qol.loc[row, "item"] = 31  # a GI.NET21 item number on a QLQ-C30 row
    message = _error(cohort, qol)
    assert f"row {row + 1}" in message and "'item'" in message
    assert "not an item of QLQ-C30" in message and "1–30" in message


def test_unknown_questionnaire_is_refused(cohort):
    qol = cohort.qol.copy()
    qol.loc[0, "questionnaire"] = "QLQ-BR23"
    message = _error(cohort, qol)
    assert "row 1" in message and "'questionnaire'" in message


def test_visit_before_inclusion_names_table_row_and_column(cohort):
    qol = cohort.qol.copy()
    pid = qol.loc[qol["visit"] != "baseline", "patient_id"].iloc[0]
    inc = cohort.patients.set_index("patient_id").at[pid, "inclusion_date"]
    mask = (qol["patient_id"] == pid) & (qol["visit"] == qol.loc[
        (qol["patient_id"] == pid) & (qol["visit"] != "baseline"), "visit"].iloc[0])
    qol.loc[mask, "date"] = inc - pd.Timedelta(days=1)
    row = int(np.flatnonzero(mask.to_numpy())[0])
    message = _error(cohort, qol)
    assert f"row {row + 1}" in message and "'date'" in message and "before inclusion" in message


def test_baseline_may_precede_inclusion_by_the_screening_window_only(cohort):
    qol = cohort.qol.copy()
    pid = qol["patient_id"].iloc[0]
    inc = cohort.patients.set_index("patient_id").at[pid, "inclusion_date"]
    mask = (qol["patient_id"] == pid) & (qol["visit"] == "baseline")
    qol.loc[mask, "date"] = inc - pd.Timedelta(days=SCREENING_WINDOW_DAYS)
    validate_cohort(_with_qol(cohort, qol))  # within the window: accepted
    qol.loc[mask, "date"] = inc - pd.Timedelta(days=SCREENING_WINDOW_DAYS + 1)
    message = _error(cohort, qol)
    assert "'date'" in message and "before inclusion" in message


def test_duplicate_visit_names_table_row_and_column(cohort):
    qol = cohort.qol.copy()
    form = qol[(qol["patient_id"] == qol["patient_id"].iloc[0]) & (qol["visit"] == "baseline")]
    again = form.copy()
    again["date"] = again["date"] + pd.Timedelta(days=3)  # the same visit entered twice
    message = _error(cohort, pd.concat([qol, again], ignore_index=True))
    assert f"row {len(qol) + 1}" in message and "duplicate key" in message
    assert "'item'" in message


def test_two_visits_on_one_date_are_a_duplicate_visit(cohort):
    qol = cohort.qol.copy()
    pid = qol["patient_id"].iloc[0]
    visits = qol.loc[qol["patient_id"] == pid, ["visit", "date"]].drop_duplicates()
    first, second = visits.iloc[0], visits.iloc[1]
    mask = (qol["patient_id"] == pid) & (qol["visit"] == second["visit"])
    qol.loc[mask, "date"] = first["date"]
    message = _error(cohort, qol)
    row = int(np.flatnonzero(mask.to_numpy())[0])
    assert f"row {row + 1}" in message and "'visit'" in message and "duplicate visit" in message


def test_items_of_one_visit_on_different_dates_are_refused(cohort):
    qol = cohort.qol.copy()
    qol.loc[5, "date"] = qol.loc[5, "date"] + pd.Timedelta(days=1)
    message = _error(cohort, qol)
    assert "row 6" in message and "'date'" in message and "one date per visit" in message


def test_unknown_patient_and_date_after_follow_up(cohort):
    qol = cohort.qol.copy()
    qol.loc[2, "patient_id"] = "NOBODY"
    assert "row 3" in _error(cohort, qol) and "unknown patient" in _error(cohort, qol)
    qol = cohort.qol.copy()
    pid = qol.loc[len(qol) - 1, "patient_id"]
    last = cohort.events.set_index("patient_id").at[pid, "last_followup_date"]
    mask = (qol["patient_id"] == pid) & (qol["date"] == qol.loc[len(qol) - 1, "date"])
    qol.loc[mask, "date"] = last + pd.Timedelta(days=30)
    assert "after the last follow-up" in _error(cohort, qol)


def test_csv_defect_names_the_file_row_and_column(cohort, tmp_path):
    folder = tmp_path / "cohort"
    write_cohort(cohort, folder)
    lines = (folder / "qol.csv").read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[4].split(",")
    cells[header.index("response")] = "9"
    lines[4] = ",".join(cells)
    (folder / "qol.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as info:
        read_cohort(folder)
    message = str(info.value)
    assert str(folder / "qol.csv") in message and "row 4" in message and "'response'" in message


def test_round_trip_keeps_the_questionnaires(cohort, tmp_path):
    write_cohort(cohort, tmp_path / "c")
    back = read_cohort(tmp_path / "c")
    pd.testing.assert_frame_equal(back.qol, cohort.qol)
    assert TABLES["qol"].required is False


def test_questionnaires_do_not_change_the_other_tables():
    with_qol = generate_cohort(9, 12, fast=True)
    without = generate_cohort(9, 12, fast=True, qol=False)
    assert len(with_qol.qol) and not len(without.qol)
    for name in TABLES:
        if name != "qol":
            pd.testing.assert_frame_equal(getattr(with_qol, name), getattr(without, name))


def test_simulation_is_deterministic_and_seed_dependent(cohort):
    args = (cohort.patients, cohort.cycles, cohort.events, cohort.adverse_events)
    a = simulate_qol(*args, seed=4)
    pd.testing.assert_frame_equal(a, simulate_qol(*args, seed=4))
    assert not a["response"].equals(simulate_qol(*args, seed=5)["response"])


def test_missingness_is_higher_after_progression_and_before_death():
    """The model's informative missingness shows in a large generated cohort."""
    c = generate_cohort(11, 300, fast=True)
    qol, events, patients = c.qol, c.events.set_index("patient_id"), c.patients
    returned = set(zip(qol["patient_id"], qol["visit"]))
    # rebuild the schedule of each patient from the model's rules and count returned forms
    from iluminet.synthetic.trial.qol import QolSimulationParameters, _schedule

    p = QolSimulationParameters()
    rng = np.random.default_rng(0)
    cyc = c.cycles.groupby("patient_id")["administration_date"].apply(list)
    counts = {"before_pd": [0, 0], "after_pd": [0, 0], "near_death": [0, 0]}
    for pid in cyc.index:
        e = events.loc[pid]
        inc = patients.set_index("patient_id").at[pid, "inclusion_date"]
        death = None if pd.isna(e["death_date"]) else e["death_date"]
        for visit, day in _schedule(inc, cyc[pid], e["last_followup_date"], death, p, rng):
            if visit == "baseline":
                continue
            if death is not None and (death - day).days <= p.before_death_window_days:
                key = "near_death"
            elif not pd.isna(e["progression_date"]) and day > e["progression_date"]:
                key = "after_pd"
            else:
                key = "before_pd"
            counts[key][0] += 1
            counts[key][1] += (pid, visit) in returned
    rate = {k: got / n for k, (n, got) in counts.items()}
    assert rate["before_pd"] > rate["after_pd"] + 0.1 > rate["near_death"] + 0.2
    assert abs(rate["before_pd"] - (1 - p.form_missing)) < 0.03
