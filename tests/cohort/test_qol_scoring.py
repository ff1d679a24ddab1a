"""QLQ-C30 / QLQ-GI.NET21 scoring: hand-computed forms, the half-items rule, directions, summary.

Every expected number below is worked out by hand from the EORTC QLQ-C30 Scoring Manual formulas
(raw score RS = mean of the answered items; functional S = (1 − (RS − 1)/range)·100; symptom and
global health S = (RS − 1)/range·100; range 3, or 6 for items 29–30) and the summary score of
Giesinger et al. (2016); the arithmetic is in the comments.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iluminet.errors import InputError
from iluminet.trial.qol_scoring import (
    C30,
    GINET21,
    QUESTIONNAIRES,
    SUMMARY_SCALES,
    scales,
    score_responses,
    score_scale,
    summary_score,
)

# item: response of a hand-scored QLQ-C30 form
FORM_A = {1: 1, 2: 2, 3: 2, 4: 3, 5: 4, 6: 2, 7: 3, 8: 2, 9: 3, 10: 2, 11: 1, 12: 2, 13: 4,
          14: 1, 15: 2, 16: 3, 17: 2, 18: 3, 19: 4, 20: 1, 21: 2, 22: 2, 23: 1, 24: 1, 25: 3,
          26: 4, 27: 4, 28: 2, 29: 5, 30: 6}
EXPECTED_A = {
    "PF2": 160 / 3,   # RS = (1+2+2+3+4)/5 = 2.4 → (1 − 1.4/3)·100 = 53.33
    "RF2": 50.0,      # RS = 2.5 → (1 − 1.5/3)·100
    "EF": 250 / 3,    # RS = (2+2+1+1)/4 = 1.5 → (1 − 0.5/3)·100 = 83.33
    "CF": 200 / 3,    # items 20, 25: RS = 2 → (1 − 1/3)·100 = 66.67
    "SF": 0.0,        # RS = 4 → (1 − 3/3)·100
    "FA": 400 / 9,    # items 10, 12, 18: RS = 7/3 → (4/3)/3·100 = 44.44
    "NV": 50 / 3,     # RS = 1.5 → 0.5/3·100 = 16.67
    "PA": 250 / 3,    # items 9, 19: RS = 3.5 → 2.5/3·100 = 83.33
    "DY": 100 / 3,    # item 8 = 2 → 1/3·100
    "SL": 0.0,        # item 11 = 1
    "AP": 100.0,      # item 13 = 4
    "CO": 200 / 3,    # item 16 = 3
    "DI": 100 / 3,    # item 17 = 2
    "FI": 100 / 3,    # item 28 = 2
    "QL2": 75.0,      # items 29, 30: RS = 5.5 → 4.5/6·100
}
# Summary: mean of PF, RF, EF, CF, SF and 100 − (FA, NV, PA, DY, SL, AP, CO, DI)
# = (480 + 450 + 750 + 600 + 0 + 500 + 750 + 150 + 600 + 900 + 0 + 300 + 600)/9/13 = 6080/117
EXPECTED_A_SUMMARY = 6080 / 117


def _form(responses: dict[int, float], questionnaire: str = C30) -> pd.DataFrame:
    items = sorted(QUESTIONNAIRES[questionnaire])
    return pd.DataFrame([{i: responses.get(i, np.nan) for i in items}])


def test_every_c30_scale_on_a_hand_scored_form():
    scored = score_responses(_form(FORM_A), C30).iloc[0]
    assert set(EXPECTED_A) == {s.code for s in scales(C30)}
    for code, expected in EXPECTED_A.items():
        assert scored[code] == pytest.approx(expected, abs=1e-12), code
    assert scored["SUM"] == pytest.approx(EXPECTED_A_SUMMARY, abs=1e-12)


def test_extreme_answers_show_the_direction_of_each_kind_of_scale():
    best = {i: 1 for i in range(1, 29)} | {29: 7, 30: 7}
    worst = {i: 4 for i in range(1, 29)} | {29: 1, 30: 1}
    kinds = {s.code: s.kind for s in scales(C30)}
    b = score_responses(_form(best), C30).iloc[0]
    w = score_responses(_form(worst), C30).iloc[0]
    for code, kind in kinds.items():
        if kind in ("functional", "global"):
            assert (b[code], w[code]) == (100.0, 0.0), code  # functional reversed: 1 → 100
        else:
            assert (b[code], w[code]) == (0.0, 100.0), code
    assert (b["SUM"], w["SUM"]) == (100.0, 0.0)


def test_functional_scale_falls_as_responses_rise():
    pf = next(s for s in scales(C30) if s.code == "PF2")
    values = [score_scale(np.full((1, 5), r, dtype=float), pf)[0] for r in (1, 2, 3, 4)]
    assert values == pytest.approx([100.0, 200 / 3, 100 / 3, 0.0])


@pytest.mark.parametrize(("answered", "expected"), [
    # PF (5 items): 3 answered (1, 2, 2) → RS 5/3 → (1 − (2/3)/3)·100 = 77.78
    ({1: 1, 2: 2, 3: 2}, {"PF2": 700 / 9}),
    # PF with 2 of 5 answered → fewer than half → missing
    ({1: 1, 2: 2}, {"PF2": math.nan}),
    # RF (2 items): 1 answered (3) → (1 − 2/3)·100 = 33.33
    ({6: 3}, {"RF2": 100 / 3}),
    # EF (4 items): 2 answered (2, 2) → (1 − 1/3)·100 = 66.67; 1 answered → missing
    ({21: 2, 24: 2}, {"EF": 200 / 3}),
    ({21: 2}, {"EF": math.nan}),
    # FA (3 items): 2 answered (2, 4) → RS 3 → 2/3·100 = 66.67; 1 answered → missing
    ({10: 2, 18: 4}, {"FA": 200 / 3}),
    ({10: 2}, {"FA": math.nan}),
    # global health: item 29 alone (4) → 3/6·100 = 50
    ({29: 4}, {"QL2": 50.0}),
    # single item unanswered → missing
    ({}, {"DY": math.nan, "FI": math.nan}),
])
def test_half_of_the_items_rule(answered, expected):
    scored = score_responses(_form(answered), C30).iloc[0]
    for code, value in expected.items():
        if math.isnan(value):
            assert math.isnan(scored[code]), code
        else:
            assert scored[code] == pytest.approx(value, abs=1e-12), code


def test_summary_score_needs_all_13_scales_and_ignores_global_health_and_finances():
    base = score_responses(_form(FORM_A), C30)
    changed = FORM_A | {28: 4, 29: 1, 30: 1}  # FI and QL2 change
    assert score_responses(_form(changed), C30)["SUM"].iloc[0] == pytest.approx(
        base["SUM"].iloc[0], abs=1e-12)
    missing = dict(FORM_A)
    del missing[8]  # dyspnoea (single item) unscored → no summary
    assert math.isnan(score_responses(_form(missing), C30)["SUM"].iloc[0])
    assert len(SUMMARY_SCALES) == 13 and "QL2" not in SUMMARY_SCALES and "FI" not in SUMMARY_SCALES
    with pytest.raises(InputError, match="PF2"):
        summary_score(base.drop(columns="PF2"))


def test_ginet21_scales_on_a_hand_scored_form():
    responses = {i: 2 for i in range(31, 52)} | {31: 1, 32: 2, 33: 4}
    scored = score_responses(_form(responses, GINET21), GINET21).iloc[0]
    assert scored["ED"] == pytest.approx(400 / 9)  # RS 7/3 → (4/3)/3·100
    for code in ("GI", "TR", "WG", "MB", "SO", "BI", "DR", "IN"):
        assert scored[code] == pytest.approx(100 / 3), code  # every item 2 → 1/3·100
    assert "SUM" not in scored.index


@pytest.mark.parametrize("questionnaire", [C30, GINET21])
def test_each_item_belongs_to_exactly_one_scale(questionnaire):
    items = [i for s in scales(questionnaire) for i in s.items]
    assert sorted(items) == sorted(QUESTIONNAIRES[questionnaire])


def test_wrong_shape_is_an_input_error():
    pf = next(s for s in scales(C30) if s.code == "PF2")
    with pytest.raises(InputError, match="shape"):
        score_scale(np.ones((2, 3)), pf)


_responses = st.fixed_dictionaries(
    {i: st.one_of(st.none(), st.integers(1, QUESTIONNAIRES[C30][i])) for i in range(1, 31)})


@settings(max_examples=150, deadline=None)
@given(_responses)
def test_scores_are_within_0_100_and_item_order_does_not_matter(answers):
    form = _form({i: v for i, v in answers.items() if v is not None})
    scored = score_responses(form, C30).iloc[0]
    finite = scored[scored.notna()]
    assert ((finite >= 0) & (finite <= 100)).all()
    for s in scales(C30):
        block = form[list(s.items)].to_numpy(dtype=float)
        assert np.array_equal(score_scale(block[:, ::-1], s), score_scale(block, s),
                              equal_nan=True)


@settings(max_examples=100, deadline=None)
@given(_responses, st.integers(1, 5))
def test_raising_a_physical_item_never_raises_physical_functioning(answers, item):
    answers = {i: (v if v is not None else 2) for i, v in answers.items()}
    before = score_responses(_form(answers), C30)["PF2"].iloc[0]
    answers[item] = min(4, answers[item] + 1)
    after = score_responses(_form(answers), C30)["PF2"].iloc[0]
    assert after <= before


# ---------------------------------------------------------------------------------------------
# Cross-check against an independent implementation: the R package PROscorer (qlq_c30(), which
# also scores the Giesinger 2016 summary score as C30SUMMARY). 40 forms drawn at random with
# ~12 % unanswered items, plus the all-best and all-worst forms; PROscorer's scores were written by
# tests/r/proscorer_c30_reference.R (package commit and regeneration command in that script).
# ---------------------------------------------------------------------------------------------
PROSCORER_DIR = Path(__file__).resolve().parents[1] / "r" / "proscorer"
PROSCORER_NAMES = {"QL": "QL2", "PF": "PF2", "RF": "RF2", "C30SUMMARY": "SUM"}


def test_every_c30_scale_and_the_summary_score_equal_proscorer_on_forms_with_missing_items():
    responses = pd.read_csv(PROSCORER_DIR / "c30_responses.csv")
    responses.columns = [c.removeprefix("q") for c in responses.columns]
    reference = pd.read_csv(PROSCORER_DIR / "c30_scores_proscorer.csv").rename(
        columns=PROSCORER_NAMES)
    ours = score_responses(responses, C30)
    assert set(reference.columns) == {s.code for s in scales(C30)} | {"SUM"}
    for code in reference.columns:
        expected = reference[code].to_numpy(dtype=float)
        got = ours[code].to_numpy(dtype=float)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=code)
        np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)],
                                   rtol=0, atol=1e-9, err_msg=code)
    # the forms exercise the half-items rule and the summary's all-13-scales rule
    assert 0 < int(reference["SUM"].isna().sum()) < len(reference)
    assert int(reference.drop(columns="SUM").isna().to_numpy().sum()) > 0
