"""Derived cohort columns and Tables 1 and 3 on small hand-built cohorts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from iluminet.errors import InputError
from iluminet.trial.tables import (
    BED_GROUPS,
    bed_group,
    delivered_bed_gy,
    ecog_level,
    format_count_percent,
    format_median_range,
    format_number,
    format_table,
    ki67_group,
    months_between,
    number_of_cycles,
    origin_group,
    patient_characteristics,
    step2_patients,
    table1,
    table3,
    total_activity_mbq,
)


def make_patients(n: int = 4) -> pd.DataFrame:
    """n treated patients plus one untreated; fields chosen so every count is known."""
    rows = []
    spec = [
        # id, sex, origin, ki67, ecog, age, chemo, liver, surgery, ssa_only
        ("A", "M", "small_intestine", 1.0, 0, 70.0, False, True, True, False),
        ("B", "F", "pancreas", 10.0, 1, 50.0, True, False, False, False),
        ("C", "M", "lung", 15.0, None, 60.0, False, False, True, True),
        ("D", "M", "small_intestine", 3.0, 0, 80.0, False, True, True, False),
        ("U", "F", "colon", 5.0, 2, 40.0, False, False, False, True),
    ]
    for pid, sex, origin, ki67, ecog, age, chemo, liver, surgery, ssa in spec[:n] + [spec[-1]]:
        rows.append({
            "patient_id": pid, "inclusion_date": "2020-01-01", "treated": pid != "U",
            "age_years": age, "sex": sex, "origin": origin, "ki67_percent": ki67, "ecog": ecog,
            "diagnosis_date": "2016-01-01", "previous_ssa_only": ssa,
            "previous_chemotherapy": chemo, "previous_targeted_therapy": False,
            "previous_surgery": surgery, "previous_prrt": False,
            "previous_liver_directed": liver, "diabetes": False,
            "uncontrolled_hypertension": False, "protocol_deviation": False,
            "baseline_creatinine_umol_l": 70.0 + 10 * len(rows), "baseline_gfr_ml_min": 80.0,
            "baseline_hb_g_l": 130.0, "baseline_wbc_1e9_l": 6.0, "baseline_anc_1e9_l": 3.5,
            "baseline_platelets_1e9_l": 220.0,
        })
    return pd.DataFrame(rows)


def make_cycles() -> pd.DataFrame:
    """A: 4 cycles (BED 24.9); B: 5 cycles, two in step 2 (BED 25 + 4.0 = 29.0);
    C: 6 cycles (BED 30); D: 1 cycle (BED 5)."""
    rows = []

    def add(pid: str, beds: list[float], steps: list[int]) -> None:
        for i, (bed, step) in enumerate(zip(beds, steps, strict=True), start=1):
            rows.append({"patient_id": pid, "cycle": i,
                         "administration_date": (pd.Timestamp("2020-01-10")
                                                 + pd.Timedelta(weeks=10 * (i - 1))).date()
                         .isoformat(),
                         "administered_activity_mbq": 7400.0, "step": step,
                         "kidney_dose_gy": bed * 0.9, "kidney_bed_gy": bed})

    add("A", [6.0, 6.0, 6.0, 6.9], [1, 1, 1, 1])
    add("B", [6.25, 6.25, 6.25, 6.25, 4.0], [1, 1, 1, 1, 2])
    add("C", [5.0] * 6, [1] * 6)
    add("D", [5.0], [1])
    return pd.DataFrame(rows)


def test_bed_group_edges():
    # 25.0 and 29.0 fall in "25–29 Gy" (both edges included, as the label reads).
    got = bed_group(pd.Series([0.0, 24.999, 25.0, 27.0, 29.0, 29.0001, math.nan]))
    assert got.tolist()[:6] == ["< 25 Gy", "< 25 Gy", "25–29 Gy", "25–29 Gy", "25–29 Gy",
                                "> 29 Gy"]
    assert pd.isna(got.iloc[6])
    assert list(got.cat.categories) == list(BED_GROUPS)
    assert got.cat.ordered


def test_bed_group_custom_edges_and_bad_edges():
    assert bed_group([22.0, 23.0], (23.0, 27.0)).tolist() == ["< 23 Gy", "23–27 Gy"]
    with pytest.raises(InputError, match="edges"):
        bed_group([1.0], (29.0, 25.0))


@given(st.lists(st.floats(0, 60, allow_nan=False), min_size=1, max_size=50))
def test_bed_group_is_monotone(values):
    codes = bed_group(values).cat.codes.to_numpy()
    order = np.argsort(values, kind="stable")
    assert np.all(np.diff(codes[order]) >= 0)


def test_derived_cycle_columns():
    cyc = make_cycles()
    bed = delivered_bed_gy(cyc)
    assert bed.to_dict() == pytest.approx({"A": 24.9, "B": 29.0, "C": 30.0, "D": 5.0})
    assert bed_group(bed).tolist() == ["< 25 Gy", "25–29 Gy", "> 29 Gy", "< 25 Gy"]
    assert number_of_cycles(cyc).to_dict() == {"A": 4, "B": 5, "C": 6, "D": 1}
    assert total_activity_mbq(cyc)["C"] == pytest.approx(6 * 7400.0)
    assert step2_patients(cyc).to_dict() == {"A": False, "B": True, "C": False, "D": False}


def test_delivered_bed_missing_cycle_is_missing():
    cyc = make_cycles()
    cyc.loc[(cyc["patient_id"] == "A") & (cyc["cycle"] == 2), "kidney_bed_gy"] = np.nan
    bed = delivered_bed_gy(cyc)
    assert math.isnan(bed["A"]) and bed["C"] == pytest.approx(30.0)


def test_ki67_origin_ecog_groups():
    assert ki67_group(pd.Series([0, 2, 2.5, 3, 10, 11, 20, 21, np.nan])).astype(object).tolist()[
        :8] == ["0–2", "0–2", "3–10", "3–10", "3–10", "11–20", "11–20", "> 20"]
    assert origin_group(pd.Series(["small_intestine", "pancreas", "lung", "unknown_primary"])
                        ).tolist() == ["Small intestine", "Pancreas", "Other", "Other"]
    assert ecog_level(pd.Series([0, 1.0, None, 2])).tolist() == ["0", "1", "Missing", "2"]


def test_months_between():
    s = pd.Series(pd.to_datetime(["2020-01-01"]))
    e = pd.Series(pd.to_datetime(["2021-01-01"]))
    assert months_between(s, e).iloc[0] == pytest.approx(366 / (365.25 / 12))


def test_formatting_conventions():
    assert format_number(207.0) == "207" and format_number(1.94) == "1.9"
    assert format_number(6.0) == "6.0" and format_number(9.96) == "10"
    assert format_median_range(pd.Series([2.4, 6.0, 20.0])) == "6.0 [2.4–20]"
    assert format_count_percent(54, 96) == "54 (56)"
    assert format_count_percent(44, 96) == "44 (46)"
    assert format_count_percent(0, 9) == "0"
    assert format_median_range(pd.Series([np.nan])) == "—"


def test_table1_counts_and_percentages():
    ch = patient_characteristics(make_patients(), make_cycles())
    assert list(ch.index) == ["A", "B", "C", "D"]  # untreated U left out
    t = table1(ch).set_index(["variable", "level"])
    all_col, s2_col = "Step 1 (n=4)", "Step 1 + 2 (n=1)"
    assert list(t.columns) == [all_col, s2_col]
    assert t.loc[("Sex, count (%)", "Male"), all_col] == "3 (75)"
    assert t.loc[("Sex, count (%)", "Female"), all_col] == "1 (25)"
    assert t.loc[("Sex, count (%)", "Female"), s2_col] == "1 (100)"
    assert t.loc[("Ki67, count (%)", "0–2"), all_col] == "1 (25)"
    assert t.loc[("Ki67, count (%)", "3–10"), all_col] == "2 (50)"
    assert t.loc[("Ki67, count (%)", "11–20"), all_col] == "1 (25)"
    assert ("Ki67, count (%)", "> 20") not in t.index
    assert t.loc[("Tumor origin, count (%)", "Small intestine"), all_col] == "2 (50)"
    assert t.loc[("Tumor origin, count (%)", "Other"), all_col] == "1 (25)"
    assert t.loc[("ECOG, count (%)", "0"), all_col] == "2 (50)"
    assert t.loc[("ECOG, count (%)", "Missing"), all_col] == "1 (25)"
    assert t.loc[("ECOG, count (%)", "2"), all_col] == "0"
    assert t.loc[("Previous treatment, count (%)", "Liver directed"), all_col] == "2 (50)"
    assert t.loc[("Previous treatment, count (%)", "Chemotherapy"), s2_col] == "1 (100)"
    assert t.loc[("Previous treatment, count (%)", "None (except SSA)"), all_col] == "1 (25)"
    assert t.loc[("Age (years)", "median [min–max]"), all_col] == "65 [50–80]"
    assert t.loc[("Laboratory findings", "Creatinine (µmol/L), median [min–max]"),
                 all_col] == "85 [70–100]"
    assert t.loc[("Time from diagnosis (months)", "median [min–max]"), all_col] == "48 [48–48]"


def test_table3_by_origin():
    ch = patient_characteristics(make_patients(), make_cycles())
    ttmr = pd.Series({"A": 12.0, "B": 18.5, "C": 3.2})
    t = table3(ch, ttmr).set_index(["variable", "level"])
    assert list(t.columns) == ["Small intestine (n=2)", "Pancreas (n=1)", "Other (n=1)",
                               "All (n=4)"]
    bed = "Delivered kidney BED, count (%)"
    assert t.loc[(bed, "< 25 Gy"), "Small intestine (n=2)"] == "2 (100)"
    assert t.loc[(bed, "25–29 Gy"), "Pancreas (n=1)"] == "1 (100)"
    assert t.loc[(bed, "> 29 Gy"), "All (n=4)"] == "1 (25)"
    cycles = ("Number of treatment cycles", "median [min–max]")
    assert t.loc[cycles, "All (n=4)"] == "4.5 [1–6]"
    assert t.loc[cycles, "Small intestine (n=2)"] == "2.5 [1–4]"
    ttmr_row = ("Time to max tumor response (months)", "median [min–max]")
    assert t.loc[ttmr_row, "All (n=4)"] == "12 [3.2–18]"
    assert t.loc[("Time to max tumor response (months)", "n"), "All (n=4)"] == "3"
    assert t.loc[("Ki67 (%)", "median [min–max]"), "All (n=4)"] == "6.5 [1–15]"
    text = format_table(table3(ch, ttmr))
    assert "Small intestine (n=2)" in text and "12 [3.2–18]" in text


def test_missing_columns_are_named():
    with pytest.raises(InputError, match="patients.*ecog"):
        patient_characteristics(make_patients().drop(columns="ecog"), make_cycles())
    with pytest.raises(InputError, match="cycles.*kidney_bed_gy"):
        delivered_bed_gy(make_cycles().drop(columns="kidney_bed_gy"))


def test_cycles_of_unknown_patient_rejected():
    cyc = make_cycles()
    cyc.loc[0, "patient_id"] = "Z"
    with pytest.raises(InputError, match="Z"):
        patient_characteristics(make_patients(), cyc)


def test_bad_date_is_named():
    pat = make_patients()
    pat.loc[1, "inclusion_date"] = "2020-13-45"
    with pytest.raises(InputError, match="inclusion_date"):
        patient_characteristics(pat, make_cycles())
