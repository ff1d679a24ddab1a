"""Landmark analysis and counting-process data by cumulative BED: known answers on small tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iluminet.errors import InputError
from iluminet.trial.cox import CoxModel, counting_process_bed, design_matrix
from iluminet.trial.landmark import bed_by_time, landmark_analysis
from iluminet.trial.tables import DAYS_PER_MONTH

INC = pd.Timestamp("2015-01-01")


def _day(months: float) -> pd.Timestamp:
    return INC + pd.Timedelta(days=round(months * DAYS_PER_MONTH))


def _m(months: float) -> float:  # months as the analysis computes them (whole days)
    return round(months * DAYS_PER_MONTH) / DAYS_PER_MONTH


@pytest.fixture()
def tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    # A: 6 cycles of 5 Gy every 2.5 months, event-free to 40 months
    # B: 2 cycles, event (death) at 8 months
    # C: 4 cycles of 7 Gy, event at 20 months
    # D: 3 cycles of 4 Gy, censored at 30 months
    patients = pd.DataFrame({
        "inclusion_date": [INC] * 4,
        "os_months": [_m(40), _m(8), _m(20), _m(30)], "os_event": [0, 1, 1, 0],
    }, index=pd.Index(list("ABCD"), name="patient_id"))
    rows = []
    for pid, n, bed in (("A", 6, 5.0), ("B", 2, 5.0), ("C", 4, 7.0), ("D", 3, 4.0)):
        for k in range(n):
            rows.append({"patient_id": pid, "administration_date": _day(0.5 + 2.5 * k),
                         "kidney_bed_gy": bed})
    return patients, pd.DataFrame(rows)


def test_bed_by_time_counts_cycles_given_by_then(tables):
    patients, cycles = tables
    at6 = bed_by_time(patients, cycles, 6.0)  # cycles at 0.5, 3.0, 5.5 months
    assert at6.to_dict() == {"A": 15.0, "B": 10.0, "C": 21.0, "D": 12.0}
    at12 = bed_by_time(patients, cycles, 12.0)
    assert at12.to_dict() == {"A": 25.0, "B": 10.0, "C": 28.0, "D": 12.0}


def test_landmark_keeps_event_free_patients_and_restarts_the_clock(tables):
    patients, cycles = tables
    lm = landmark_analysis(patients, cycles, "os", 12.0)
    assert set(lm.data.index) == {"A", "C", "D"}  # B died at 8 months, before the landmark
    assert lm.n_excluded == 1
    np.testing.assert_allclose(lm.data.loc["C", "time_months"], _m(20) - 12.0)
    groups = lm.data["landmark_bed_group"].astype(str).to_dict()
    assert groups == {"A": "25–29 Gy", "C": "25–29 Gy", "D": "< 25 Gy"}
    # A's later cycles (27.5 Gy... 30 Gy at 13 months) do not move A to "> 29 Gy"
    assert lm.table.set_index("group").loc["25–29 Gy", "n"] == 2


def test_landmark_rejects_a_bad_time(tables):
    patients, cycles = tables
    with pytest.raises(InputError, match="landmark"):
        landmark_analysis(patients, cycles, "os", 0.0)


def test_counting_process_rows_step_at_each_cycle(tables):
    patients, cycles = tables
    cp = counting_process_bed(patients, cycles, "os")
    b = cp[cp["patient_id"] == "B"].reset_index(drop=True)
    np.testing.assert_allclose(b["start_months"], [0.0, _m(0.5), _m(3.0)])
    np.testing.assert_allclose(b["stop_months"], [_m(0.5), _m(3.0), _m(8)])
    assert b["cumulative_bed_gy"].tolist() == [0.0, 5.0, 10.0]
    assert b["event"].tolist() == [0, 0, 1]
    # C: the cycles at 0.5, 3, 5.5, 8 months, event at 20 → BED 28 in the last interval
    c = cp[cp["patient_id"] == "C"]
    assert c["cumulative_bed_gy"].iloc[-1] == 28.0 and c["event"].sum() == 1
    # every patient's intervals tile (0, T]
    for pid, g in cp.groupby("patient_id"):
        assert g["start_months"].iloc[0] == 0.0
        np.testing.assert_allclose(g["start_months"].iloc[1:], g["stop_months"].iloc[:-1])
        assert g["stop_months"].iloc[-1] == pytest.approx(patients.at[pid, "os_months"])


def test_cycles_after_the_end_of_follow_up_do_not_enter(tables):
    patients, cycles = tables
    late = pd.concat([cycles, pd.DataFrame([{"patient_id": "B", "administration_date": _day(9),
                                             "kidney_bed_gy": 5.0}])], ignore_index=True)
    a = counting_process_bed(patients, cycles, "os")
    b = counting_process_bed(patients, late, "os")
    pd.testing.assert_frame_equal(a, b)


def test_design_matrix_indicators_and_complete_cases():
    d = pd.DataFrame({"g": pd.Categorical(["a", "b", "c", "b", None], categories=list("abc")),
                      "x": [1.0, 2.0, 3.0, np.nan, 5.0]})
    x, names = design_matrix(d, ["g", "x"])
    assert list(x.index) == [0, 1, 2]
    assert names == {"g": ["g[b]", "g[c]"], "x": ["x"]}
    assert x["g[b]"].tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(InputError, match="missing column"):
        design_matrix(d, ["nope"])


def test_cox_rejects_a_covariate_without_variation():
    d = pd.DataFrame({"t": [1.0, 2.0, 3.0], "e": [1, 0, 1], "x": [1.0, 1.0, 1.0]})
    with pytest.raises(InputError, match="single value"):
        CoxModel().fit(d, "t", "e", ["x"])
