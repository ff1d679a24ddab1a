"""Tests of the CTCAE v4.03 laboratory grader.

Expected grades are written out by hand from the CTCAE v4.03 tables (NCI, 14 June 2010), never
computed by the code under test.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iluminet.errors import InputError
from iluminet.trial import ctcae
from iluminet.trial.ctcae import LABELS, TERMS, UnrecognisedUnitWarning, grade, grade_table

# ------------------------------------------------------------------------------------------
# Edges: (term, unit, edge value, keyword limits, grade just below, on the edge, just above)
# ------------------------------------------------------------------------------------------
EDGES = [
    # anemia, g/L, LLN 120
    ("anemia", "g/L", 120.0, {"lln": 120.0}, 1, 0, 0),
    ("anemia", "g/L", 100.0, {"lln": 120.0}, 2, 1, 1),
    ("anemia", "g/L", 80.0, {"lln": 120.0}, 3, 2, 2),
    ("anemia", "g/L", 40.0, {"lln": 120.0}, 3, 3, 3),  # no lab grade 4
    # platelets, 10^9/L, LLN 150
    ("platelet_count_decreased", "10^9/L", 150.0, {"lln": 150.0}, 1, 0, 0),
    ("platelet_count_decreased", "10^9/L", 75.0, {"lln": 150.0}, 2, 1, 1),
    ("platelet_count_decreased", "10^9/L", 50.0, {"lln": 150.0}, 3, 2, 2),
    ("platelet_count_decreased", "10^9/L", 25.0, {"lln": 150.0}, 4, 3, 3),
    # neutrophils, LLN 2.0
    ("neutrophil_count_decreased", "10^9/L", 2.0, {"lln": 2.0}, 1, 0, 0),
    ("neutrophil_count_decreased", "10^9/L", 1.5, {"lln": 2.0}, 2, 1, 1),
    ("neutrophil_count_decreased", "10^9/L", 1.0, {"lln": 2.0}, 3, 2, 2),
    ("neutrophil_count_decreased", "10^9/L", 0.5, {"lln": 2.0}, 4, 3, 3),
    # white blood cells, LLN 4.0
    ("white_blood_cell_decreased", "10^9/L", 4.0, {"lln": 4.0}, 1, 0, 0),
    ("white_blood_cell_decreased", "10^9/L", 3.0, {"lln": 4.0}, 2, 1, 1),
    ("white_blood_cell_decreased", "10^9/L", 2.0, {"lln": 4.0}, 3, 2, 2),
    ("white_blood_cell_decreased", "10^9/L", 1.0, {"lln": 4.0}, 4, 3, 3),
    # lymphocytes, LLN 1.1
    ("lymphocyte_count_decreased", "10^9/L", 1.1, {"lln": 1.1}, 1, 0, 0),
    ("lymphocyte_count_decreased", "10^9/L", 0.8, {"lln": 1.1}, 2, 1, 1),
    ("lymphocyte_count_decreased", "10^9/L", 0.5, {"lln": 1.1}, 3, 2, 2),
    ("lymphocyte_count_decreased", "10^9/L", 0.2, {"lln": 1.1}, 4, 3, 3),
    # chronic kidney disease, ml/min/1.73 m2, LLN 90
    ("chronic_kidney_disease", "ml/min/1.73m2", 90.0, {"lln": 90.0}, 1, 0, 0),
    ("chronic_kidney_disease", "ml/min/1.73m2", 60.0, {"lln": 90.0}, 2, 1, 1),
    ("chronic_kidney_disease", "ml/min/1.73m2", 30.0, {"lln": 90.0}, 3, 2, 2),
    ("chronic_kidney_disease", "ml/min/1.73m2", 15.0, {"lln": 90.0}, 4, 3, 3),
    # ALT / AST, U/L, ULN 40: edges 1.0, 3.0, 5.0, 20.0 x ULN
    ("alt_increased", "U/L", 40.0, {"uln": 40.0}, 0, 0, 1),
    ("alt_increased", "U/L", 120.0, {"uln": 40.0}, 1, 1, 2),
    ("alt_increased", "U/L", 200.0, {"uln": 40.0}, 2, 2, 3),
    ("alt_increased", "U/L", 800.0, {"uln": 40.0}, 3, 3, 4),
    ("ast_increased", "U/L", 35.0, {"uln": 35.0}, 0, 0, 1),
    ("ast_increased", "U/L", 105.0, {"uln": 35.0}, 1, 1, 2),
    ("ast_increased", "U/L", 175.0, {"uln": 35.0}, 2, 2, 3),
    ("ast_increased", "U/L", 700.0, {"uln": 35.0}, 3, 3, 4),
    # alkaline phosphatase, U/L, ULN 100: edges 1.0, 2.5, 5.0, 20.0 x ULN
    ("alkaline_phosphatase_increased", "U/L", 100.0, {"uln": 100.0}, 0, 0, 1),
    ("alkaline_phosphatase_increased", "U/L", 250.0, {"uln": 100.0}, 1, 1, 2),
    ("alkaline_phosphatase_increased", "U/L", 500.0, {"uln": 100.0}, 2, 2, 3),
    ("alkaline_phosphatase_increased", "U/L", 2000.0, {"uln": 100.0}, 3, 3, 4),
    # bilirubin, umol/L, ULN 20: edges 1.0, 1.5, 3.0, 10.0 x ULN
    ("blood_bilirubin_increased", "umol/L", 20.0, {"uln": 20.0}, 0, 0, 1),
    ("blood_bilirubin_increased", "umol/L", 30.0, {"uln": 20.0}, 1, 1, 2),
    ("blood_bilirubin_increased", "umol/L", 60.0, {"uln": 20.0}, 2, 2, 3),
    ("blood_bilirubin_increased", "umol/L", 200.0, {"uln": 20.0}, 3, 3, 4),
    # creatinine against the ULN (100 umol/L): edges 1.0, 1.5, 3.0, 6.0 x ULN
    ("creatinine_increased", "µmol/L", 100.0, {"uln": 100.0}, 0, 0, 1),
    ("creatinine_increased", "µmol/L", 150.0, {"uln": 100.0}, 1, 1, 2),
    ("creatinine_increased", "µmol/L", 300.0, {"uln": 100.0}, 2, 2, 3),
    ("creatinine_increased", "µmol/L", 600.0, {"uln": 100.0}, 3, 3, 4),
    # creatinine against the baseline (40 umol/L; ULN 1000 keeps the ULN grade at 0)
    ("creatinine_increased", "μmol/L", 40.0, {"uln": 1000.0, "baseline": 40.0}, 0, 0, 1),
    ("creatinine_increased", "μmol/L", 60.0, {"uln": 1000.0, "baseline": 40.0}, 1, 1, 2),
    ("creatinine_increased", "μmol/L", 120.0, {"uln": 1000.0, "baseline": 40.0}, 2, 2, 3),
    ("creatinine_increased", "μmol/L", 400.0, {"uln": 1000.0, "baseline": 40.0}, 3, 3, 3),
    # other units: g/dL, /mm3, mg/dL, ml/s, ukat/L
    ("anemia", "g/dL", 10.0, {"lln": 12.0}, 2, 1, 1),
    ("anemia", "g/dL", 8.0, {"lln": 12.0}, 3, 2, 2),
    ("anemia", "g/dL", 12.0, {"lln": 12.0}, 1, 0, 0),
    ("platelet_count_decreased", "/mm3", 75_000.0, {"lln": 150_000.0}, 2, 1, 1),
    ("platelet_count_decreased", "/mm³", 25_000.0, {"lln": 150_000.0}, 4, 3, 3),
    ("neutrophil_count_decreased", "cells/mm3", 1500.0, {"lln": 2000.0}, 2, 1, 1),
    ("neutrophil_count_decreased", "/mm3", 500.0, {"lln": 2000.0}, 4, 3, 3),
    ("white_blood_cell_decreased", "10^3/uL", 3.0, {"lln": 4.0}, 2, 1, 1),
    ("lymphocyte_count_decreased", "x10E9/L", 0.8, {"lln": 1.1}, 2, 1, 1),
    ("creatinine_increased", "mg/dL", 1.8, {"uln": 1.2}, 1, 1, 2),  # 1.5 x 1.2 in binary
    ("blood_bilirubin_increased", "mg/dL", 3.6, {"uln": 1.2}, 2, 2, 3),
    ("chronic_kidney_disease", "ml/s", 1.0, {"lln": 1.5}, 2, 1, 1),
    ("chronic_kidney_disease", "mL/min", 30.0, {"lln": 90.0}, 3, 2, 2),
    ("alt_increased", "µkat/L", 2.28, {"uln": 0.76}, 1, 1, 2),  # 3 x 0.76 in binary
]

REL_STEP = 1e-6  # well outside the edge tolerance (1e-9) and far inside any grade band


def _edge_id(row: tuple) -> str:
    term, unit, edge, kw, *_ = row
    return f"{term}-{edge:g}{unit}-" + "-".join(f"{k}{v:g}" for k, v in kw.items())


@pytest.mark.parametrize(("term", "unit", "edge", "limits", "below", "on", "above"), EDGES,
                         ids=[_edge_id(r) for r in EDGES])
def test_grade_edges(term, unit, edge, limits, below, on, above):
    assert grade(term, edge * (1 - REL_STEP), unit, **limits) == below
    assert grade(term, edge, unit, **limits) == on
    assert grade(term, edge * (1 + REL_STEP), unit, **limits) == above


def test_every_term_has_its_edges_tested():
    # grade 1 at the LLN/ULN and the entry edge of every higher grade, in the canonical unit
    n_edges = {t: 0 for t in TERMS}
    for term, unit, *_ in EDGES:
        if unit in ("g/L", "10^9/L", "ml/min/1.73m2", "U/L", "umol/L", "µmol/L", "μmol/L"):
            n_edges[term] += 1
    assert n_edges == {t: 8 if t == "creatinine_increased" else 4 for t in TERMS}


def test_binary_rounding_does_not_cross_an_edge():
    # 0.9 / 0.3 and 3 * 0.3 are not exactly 3 and 0.9 in floating point
    assert grade("alt_increased", 0.9, "ukat/L", uln=0.3) == 1
    assert grade("creatinine_increased", 0.3, "mg/dL", uln=0.1) == 2  # exactly 3 x ULN
    assert grade("platelet_count_decreased", 0.1 + 0.2, "10^9/L", lln=150) == 4


# ------------------------------------------------------------------------------------------
# Unit conversion
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "value", "unit", "limits", "expected"),
    [
        ("anemia", 9.5, "g/dL", {"lln": 12.0}, 2),  # 95 g/L
        ("anemia", 9.5, "g/dl", {"lln": 12.0}, 2),
        ("anemia", 7.9, "g/100 mL", {"lln": 12.0}, 3),
        ("anemia", 11.0, "G/DL", {"lln": 12.0}, 1),
        ("platelet_count_decreased", 60_000, "/mm3", {}, 2),  # 60 x 10^9/L
        ("platelet_count_decreased", 60_000, "/µL", {}, 2),
        ("platelet_count_decreased", 60, "10^3/µL", {}, 2),
        ("platelet_count_decreased", 60, "×10⁹/L", {}, 2),
        ("platelet_count_decreased", 60, "10E9/L", {}, 2),
        ("platelet_count_decreased", 60, "10*9/l", {}, 2),
        ("platelet_count_decreased", 60, " x 10^9 / L ", {}, 2),
        ("platelet_count_decreased", 60, "K/uL", {}, 2),
        ("neutrophil_count_decreased", 900, "cells/mm³", {}, 3),
        ("lymphocyte_count_decreased", 400.0, "10^6/L", {}, 3),  # 0.4 x 10^9/L
        ("creatinine_increased", 2.0, "mg/dL", {"uln": 1.13}, 2),  # 1.77 x ULN
        ("blood_bilirubin_increased", 2.0, "mg/dL", {"uln": 1.2}, 2),  # 1.67 x ULN
        ("chronic_kidney_disease", 0.7, "mL/s", {}, 2),  # 42 ml/min
        ("chronic_kidney_disease", 0.7, "ml/s/1.73 m²", {}, 2),
        ("chronic_kidney_disease", 45, "mL/min/1,73 m2", {}, 2),
        ("chronic_kidney_disease", 45, "ml/min per 1.73 m2", {}, 2),
        ("alt_increased", 3.5, "xULN", {}, 2),
        ("alt_increased", 3.5, "× ULN", {"uln": 1.0}, 2),
        ("alkaline_phosphatase_increased", 2.0, "µkat/L", {"uln": 1.8}, 1),
    ],
)
def test_units(term, value, unit, limits, expected):
    assert grade(term, value, unit, **limits) == expected


def test_mg_per_dl_grades_like_umol_per_l():
    # creatinine 1 mg/dL = 88.42 umol/L, bilirubin 1 mg/dL = 17.1 umol/L; grades are ratios
    cases = [(1.0, 1.1, 0.6), (2.3, 1.2, 0.9), (7.9, 1.2, 1.0), (0.9, 1.3, 0.8)]
    for v_mg, uln_mg, base_mg in cases:
        assert grade("creatinine_increased", v_mg, "mg/dL", uln=uln_mg, baseline=base_mg) == grade(
            "creatinine_increased", v_mg * 88.42, "umol/L", uln=uln_mg * 88.42,
            baseline=base_mg * 88.42)
        assert grade("blood_bilirubin_increased", v_mg, "mg/dL", uln=uln_mg) == grade(
            "blood_bilirubin_increased", v_mg * 17.1, "µmol/L", uln=uln_mg * 17.1)


def test_unknown_unit_is_unknown_grade_with_warning():
    with pytest.warns(UnrecognisedUnitWarning, match="furlongs"):
        assert grade("anemia", 70.0, "furlongs", lln=120) is None
    with pytest.warns(UnrecognisedUnitWarning):
        assert grade("platelet_count_decreased", 10.0, "10 9/L") is None  # lost superscript


@pytest.mark.parametrize("unit", [None, "", "  ", float("nan")])
def test_missing_unit_is_unknown_grade(unit):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert grade("anemia", 70.0, unit, lln=120) is None


@pytest.mark.parametrize(
    ("term", "unit"),
    [
        ("platelet_count_decreased", "g/L"),  # also what 'G/L' (giga per litre) folds to
        ("platelet_count_decreased", "G/L"),
        ("lymphocyte_count_decreased", "%"),
        ("anemia", "10^9/L"),
        ("anemia", "mmol/L"),  # ambiguous CTCAE mmol/L column
        ("creatinine_increased", "U/L"),
        ("alt_increased", "umol/L"),
        ("chronic_kidney_disease", "umol/L"),
        ("blood_bilirubin_increased", "g/dL"),
    ],
)
def test_unit_of_another_quantity_is_an_error(term, unit):
    with pytest.raises(InputError, match="unit") as err:
        grade(term, 1.0, unit, lln=1.0, uln=1.0)
    assert err.value.field == "unit"


def test_uln_multiple_with_other_uln_is_an_error():
    with pytest.raises(InputError) as err:
        grade("alt_increased", 3.5, "xULN", uln=40)
    assert err.value.field == "uln"


# ------------------------------------------------------------------------------------------
# Missing limits
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "value", "unit", "expected"),
    [
        # below the grade-2 edge: the LLN does not matter
        ("anemia", 95.0, "g/L", 2),
        ("anemia", 75.0, "g/L", 3),
        ("platelet_count_decreased", 70.0, "10^9/L", 2),
        ("platelet_count_decreased", 10.0, "10^9/L", 4),
        ("neutrophil_count_decreased", 1.2, "10^9/L", 2),
        ("white_blood_cell_decreased", 0.9, "10^9/L", 4),
        ("lymphocyte_count_decreased", 0.3, "10^9/L", 3),
        ("chronic_kidney_disease", 45.0, "ml/min", 2),
        # at or above the grade-2 edge: grade 0 or 1, unknown without the LLN
        ("anemia", 105.0, "g/L", None),
        ("anemia", 100.0, "g/L", None),
        ("anemia", 160.0, "g/L", None),
        ("platelet_count_decreased", 80.0, "10^9/L", None),
        ("neutrophil_count_decreased", 1.5, "10^9/L", None),
        ("white_blood_cell_decreased", 6.0, "10^9/L", None),
        ("lymphocyte_count_decreased", 0.9, "10^9/L", None),
        ("chronic_kidney_disease", 60.0, "ml/min", None),
        # increases are all relative to the ULN
        ("alt_increased", 5000.0, "U/L", None),
        ("ast_increased", 10.0, "U/L", None),
        ("alkaline_phosphatase_increased", 900.0, "U/L", None),
        ("blood_bilirubin_increased", 300.0, "umol/L", None),
        ("creatinine_increased", 900.0, "umol/L", None),
    ],
)
def test_missing_lln_or_uln(term, value, unit, expected):
    assert grade(term, value, unit) == expected
    assert grade(term, value, unit, lln=float("nan"), uln=float("nan")) == expected


def test_lln_below_grade2_edge_empties_grade1_band():
    # neutrophil LLN 1.4 (e.g. a Duffy-null reference range): the absolute CTCAE edges apply as
    # written, so 1.45 is grade 2 although within the laboratory's range; 1.55 is grade 0
    assert grade("neutrophil_count_decreased", 1.55, "10^9/L", lln=1.4) == 0
    assert grade("neutrophil_count_decreased", 1.45, "10^9/L", lln=1.4) == 2
    assert grade("neutrophil_count_decreased", 1.35, "10^9/L", lln=1.4) == 2


# ------------------------------------------------------------------------------------------
# Creatinine: baseline and ULN criteria
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "uln", "baseline", "expected"),
    [
        (90.0, 100.0, 50.0, 2),  # ULN grade 0, baseline 1.8x -> 2: baseline wins
        (80.0, 100.0, 20.0, 3),  # ULN grade 0, baseline 4x -> 3
        (110.0, 100.0, 100.0, 1),  # both 1.1x -> 1
        (350.0, 100.0, 300.0, 3),  # ULN 3.5x -> 3, baseline 1.17x -> 1: ULN wins
        (700.0, 100.0, 100.0, 4),  # ULN 7x -> 4, baseline 7x -> 3 (no baseline grade 4)
        (120.0, 100.0, 130.0, 1),  # below baseline, above ULN
        (77.0, 100.0, 77.0, 0),  # unchanged, within normal
        (90.0, 100.0, None, 0),  # no baseline: ULN criterion alone
        (90.0, None, 50.0, None),  # no ULN: unknown
        (700.0, None, 100.0, None),
    ],
)
def test_creatinine_worse_of_baseline_and_uln(value, uln, baseline, expected):
    assert grade("creatinine_increased", value, "umol/L", uln=uln, baseline=baseline) == expected


def test_baseline_is_ignored_for_other_terms():
    assert grade("alt_increased", 50.0, "U/L", uln=40.0, baseline=10.0) == 1


# ------------------------------------------------------------------------------------------
# The ILUMINET report's reading
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [101.0, 120.0, 135.0, 150.0])
def test_paper_creatinine_100_to_150_is_grade1_with_uln_100(value):
    assert grade("creatinine_increased", value, "µmol/L", uln=100.0) == 1


def test_paper_creatinine_outside_100_to_150():
    assert grade("creatinine_increased", 100.0, "µmol/L", uln=100.0) == 0
    assert grade("creatinine_increased", 151.0, "µmol/L", uln=100.0) == 2


@pytest.mark.parametrize("gfr", [60.5, 75.0, 85.0, 122.0])
def test_paper_gfr_above_60_is_grade_0_or_1(gfr):
    assert grade("chronic_kidney_disease", gfr, "ml/min") is None  # 0 or 1: needs the LLN
    assert grade("chronic_kidney_disease", gfr, "ml/min", lln=90.0) == (1 if gfr < 90 else 0)


@pytest.mark.parametrize("gfr", [30.0, 45.0, 50.0, 59.9])
def test_paper_gfr_30_to_60_is_grade2(gfr):
    assert grade("chronic_kidney_disease", gfr, "ml/min") == 2


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------


def test_unknown_term():
    with pytest.raises(InputError, match="term") as err:
        grade("thrombocytopenia", 50.0, "10^9/L")
    assert err.value.field == "term"


def test_term_label_accepted():
    assert grade("Platelet count decreased", 40.0, "10^9/L") == 3
    assert grade("Alanine aminotransferase increased", 41.0, "U/L", uln=40) == 1


@pytest.mark.parametrize("value", [None, float("nan"), np.nan, pd.NA])
def test_missing_value(value):
    assert grade("anemia", value, "g/L", lln=120) is None


@pytest.mark.parametrize("value", ["95", "low", True, [95.0]])
def test_non_numeric_value(value):
    with pytest.raises(InputError, match="value") as err:
        grade("anemia", value, "g/L", lln=120)
    assert err.value.field == "value"


@pytest.mark.parametrize("value", [-1.0, -1e-9, float("inf")])
def test_negative_or_infinite_value(value):
    with pytest.raises(InputError, match="value"):
        grade("anemia", value, "g/L", lln=120)


def test_zero_value_is_graded():
    assert grade("neutrophil_count_decreased", 0, "10^9/L") == 4
    assert grade("alt_increased", 0, "U/L", uln=40) == 0


@pytest.mark.parametrize("field", ["lln", "uln", "baseline"])
@pytest.mark.parametrize("bad", [0.0, -5.0, "x", float("inf")])
def test_bad_limits(field, bad):
    with pytest.raises(InputError) as err:
        grade("creatinine_increased", 90.0, "umol/L", **{"lln": 50.0, "uln": 100.0,
                                                        "baseline": 80.0, field: bad})
    assert err.value.field == field


def test_numpy_scalars():
    assert grade("anemia", np.float32(95.0), "g/L") == 2
    assert grade("platelet_count_decreased", np.int64(60_000), "/mm3") == 2


# ------------------------------------------------------------------------------------------
# Table API and metadata
# ------------------------------------------------------------------------------------------


def test_terms_and_labels():
    assert TERMS == (
        "anemia", "platelet_count_decreased", "neutrophil_count_decreased",
        "white_blood_cell_decreased", "lymphocyte_count_decreased", "alt_increased",
        "ast_increased", "blood_bilirubin_increased", "alkaline_phosphatase_increased",
        "creatinine_increased", "chronic_kidney_disease",
    )
    assert LABELS["anemia"] == "Anemia"
    assert LABELS["platelet_count_decreased"] == "Platelet count decreased"
    assert LABELS["chronic_kidney_disease"] == "Chronic kidney disease"
    assert set(LABELS) == set(TERMS)


def test_threshold_table_lists_every_term():
    t = ctcae.threshold_table()
    assert set(t["term"]) == set(TERMS)
    row = t[(t["term"] == "platelet_count_decreased")].iloc[0]
    assert (row["grade_1"], row["grade_2"], row["grade_4"]) == ("< LLN", "< 75.0", "< 25.0")
    assert t[t["term"] == "anemia"].iloc[0]["grade_4"] == ""
    assert (t["term"] == "creatinine_increased").sum() == 2


def _lab_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "term": ["anemia", "anemia", "platelet_count_decreased", "alt_increased",
                     "creatinine_increased", "creatinine_increased", "chronic_kidney_disease",
                     "anemia", "alt_increased"],
            "value": [9.5, 13.0, 60_000, 130.0, 90.0, 90.0, 75.0, None, 50.0],
            "unit": ["g/dL", "g/dL", "/mm3", "U/L", "umol/L", "umol/L", "ml/min", "g/L", None],
            "lln": [12.0, 12.0, 150_000, None, None, None, None, 120.0, None],
            "uln": [None, None, None, 40.0, 100.0, 100.0, None, None, 40.0],
            "base": [None, None, None, None, 50.0, None, None, None, None],
        },
        index=["p1-a", "p1-b", "p2", "p3", "p4", "p5", "p6", "p7", "p8"],
    )


def test_grade_table():
    df = _lab_frame()
    g = grade_table(df, baseline_col="base")
    assert str(g.dtype) == "Int64"
    assert list(g.index) == list(df.index)
    expected = [2, 0, 2, 2, 2, 0, None, None, None]
    assert [None if pd.isna(x) else int(x) for x in g] == expected


def test_grade_table_without_baseline_uses_uln_only():
    g = grade_table(_lab_frame())
    assert g["p4"] == 0


def test_grade_table_without_limit_columns():
    df = _lab_frame().drop(columns=["lln"])
    with pytest.raises(InputError, match="lln"):
        grade_table(df)
    g = grade_table(df, lln_col=None)
    assert pd.isna(g["p1-b"]) and g["p1-a"] == 2


def test_grade_table_numeric_text_from_csv():
    df = _lab_frame().astype({"value": object})
    df.loc["p1-a", "value"] = "9.5"
    assert grade_table(df)["p1-a"] == 2


def test_grade_table_errors_name_table_row_and_column():
    df = _lab_frame().rename(columns={"value": "result"}).astype({"result": object})
    df.loc["p3", "result"] = "<5"
    with pytest.raises(InputError) as err:
        grade_table(df, value_col="result", source="labs.csv")
    msg = str(err.value)
    assert "labs.csv" in msg and "'p3'" in msg and "result" in msg
    assert err.value.field == "result" and err.value.source == "labs.csv"

    df = _lab_frame()
    df.loc["p6", "uln"] = -1.0
    with pytest.raises(InputError, match="'p6'") as err:
        grade_table(df)
    assert err.value.field == "uln"

    df = _lab_frame()
    df.loc["p2", "term"] = "platelets"
    with pytest.raises(InputError, match="'p2'") as err:
        grade_table(df, source="labs")
    assert err.value.field == "term" and err.value.source == "labs"

    df = _lab_frame()
    df.loc["p2", "unit"] = "G/L"
    with pytest.raises(InputError, match="'p2'") as err:
        grade_table(df)
    assert err.value.field == "unit"


def test_grade_table_unknown_unit_warns():
    df = _lab_frame()
    df.loc["p2", "unit"] = "per microlitre"
    with pytest.warns(UnrecognisedUnitWarning, match="labs"):
        g = grade_table(df)
    assert pd.isna(g["p2"]) and g["p1-a"] == 2


# ------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------

DECREASES = [t for t in TERMS if ctcae.SPECS[t].direction == "decrease"]
INCREASES = [t for t in TERMS if ctcae.SPECS[t].direction == "increase"]
CANONICAL = {"anemia": "g/L", "chronic_kidney_disease": "ml/min/1.73m2"}
SCALE = {"anemia": 200.0, "chronic_kidney_disease": 150.0, "platelet_count_decreased": 400.0}

positive = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False)
nonneg = st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(term=st.sampled_from(DECREASES), a=st.floats(0, 1), b=st.floats(0, 1),
       lln_frac=st.floats(0.01, 1))
def test_decrease_grade_non_increasing_in_value(term, a, b, lln_frac):
    scale = SCALE.get(term, 6.0)
    unit = CANONICAL.get(term, "10^9/L")
    lo, hi = sorted((a * scale, b * scale))
    lln = lln_frac * scale
    g_lo, g_hi = grade(term, lo, unit, lln=lln), grade(term, hi, unit, lln=lln)
    assert g_lo is not None and g_hi is not None
    assert g_lo >= g_hi
    assert 0 <= g_hi and g_lo <= ctcae.SPECS[term].max_lab_grade


@settings(max_examples=300, deadline=None)
@given(term=st.sampled_from(INCREASES), a=nonneg, b=nonneg, uln=positive,
       baseline=st.none() | positive)
def test_increase_grade_non_decreasing_in_value(term, a, b, uln, baseline):
    unit = "umol/L" if term in ("creatinine_increased", "blood_bilirubin_increased") else "U/L"
    lo, hi = sorted((a, b))
    g_lo = grade(term, lo, unit, uln=uln, baseline=baseline)
    g_hi = grade(term, hi, unit, uln=uln, baseline=baseline)
    assert g_lo is not None and g_hi is not None
    assert 0 <= g_lo <= g_hi <= 4


@settings(max_examples=200, deadline=None)
@given(term=st.sampled_from(DECREASES), a=st.floats(0, 1), lln_frac=st.floats(0.01, 1))
def test_missing_lln_only_hides_grade_0_vs_1(term, a, lln_frac):
    scale = SCALE.get(term, 6.0)
    unit = CANONICAL.get(term, "10^9/L")
    without = grade(term, a * scale, unit)
    with_lln = grade(term, a * scale, unit, lln=lln_frac * scale)
    if without is None:
        assert with_lln in (0, 1)
    else:
        assert without == with_lln and without >= 2


@settings(max_examples=200, deadline=None)
@given(v=nonneg, uln=positive, baseline=positive)
def test_creatinine_baseline_never_lowers_the_uln_grade(v, uln, baseline):
    g_uln = grade("creatinine_increased", v, "umol/L", uln=uln)
    g_both = grade("creatinine_increased", v, "umol/L", uln=uln, baseline=baseline)
    assert g_both >= g_uln


@settings(max_examples=50, deadline=None)
@given(rows=st.lists(
    st.tuples(st.sampled_from(TERMS), nonneg, st.none() | positive, st.none() | positive,
              st.none() | positive),
    min_size=1, max_size=20))
def test_grade_table_agrees_with_grade(rows):
    units = {t: "U/L" for t in INCREASES} | {"creatinine_increased": "umol/L",
                                             "blood_bilirubin_increased": "mg/dL"}
    units |= {t: CANONICAL.get(t, "/mm3") for t in DECREASES}
    df = pd.DataFrame(rows, columns=["term", "value", "lln", "uln", "baseline"])
    df["unit"] = df["term"].map(units)
    got = grade_table(df, baseline_col="baseline")
    for i, r in df.iterrows():
        want = grade(r["term"], r["value"], r["unit"], lln=r["lln"], uln=r["uln"],
                     baseline=r["baseline"])
        assert (pd.isna(got[i]) and want is None) or got[i] == want
