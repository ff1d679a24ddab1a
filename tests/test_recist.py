"""RECIST 1.1: measurability, target selection, SLD, time-point and best overall response, plots."""

from __future__ import annotations

import itertools
import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from iluminet.errors import InputError
from iluminet.trial.recist import (
    CR,
    LESION_COLUMNS,
    NE,
    NON_CR_NON_PD,
    NON_TARGET_RESPONSES,
    NOT_APPLICABLE,
    PD,
    PR,
    RESPONSE_COLORS,
    SD,
    TARGET_RESPONSES,
    best_overall_response,
    best_percent_change,
    is_measurable,
    is_pathological_node,
    non_target_response,
    overall_response,
    response_at,
    select_targets,
    sum_of_diameters,
    target_response,
    time_to_maximum_response,
    timepoint_responses,
    validate_lesions,
    waterfall_plot,
)

BASE = date(2020, 1, 15)


def day(n: int) -> date:
    return BASE + timedelta(days=n)


def lesion(pid: str, d: int, lid: str, organ: str, cat: str, diam: float = math.nan, *,
           node: bool = False, small: bool = False, status: object = np.nan) -> dict:
    return {"patient_id": pid, "assessment_date": day(d), "lesion_id": lid, "organ": organ,
            "is_lymph_node": node, "category": cat, "diameter_mm": diam,
            "too_small_to_measure": small, "non_target_status": status}


def table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(LESION_COLUMNS))


def valid_table() -> pd.DataFrame:
    """Two patients, baseline + two follow-ups each."""
    rows = []
    for pid in ("P01", "P02"):
        rows += [
            lesion(pid, 0, "T1", "liver", "target", 40.0),
            lesion(pid, 0, "T2", "lung", "target", 20.0),
            lesion(pid, 0, "N1", "lung", "non_target", status="present"),
            lesion(pid, 90, "T1", "liver", "target", 30.0),
            lesion(pid, 90, "T2", "lung", "target", 10.0),
            lesion(pid, 90, "N1", "lung", "non_target", status="present"),
            lesion(pid, 180, "T1", "liver", "target", 25.0),
            lesion(pid, 180, "T2", "lung", "target", 10.0),
            lesion(pid, 180, "N1", "lung", "non_target", status="present"),
        ]
    return table(rows)


def tp(pid: str, course: list[tuple[int, str]]) -> pd.DataFrame:
    """A minimal time-point table: baseline at day 0 plus (day, overall response) pairs."""
    rows = [{"patient_id": pid, "assessment_date": pd.Timestamp(day(0)), "is_baseline": True,
             "overall_response": None, "sld_mm": 100.0, "sld_baseline_mm": 100.0,
             "pct_change_from_baseline": 0.0}]
    for n, r in course:
        rows.append({"patient_id": pid, "assessment_date": pd.Timestamp(day(n)),
                     "is_baseline": False, "overall_response": r, "sld_mm": 100.0,
                     "sld_baseline_mm": 100.0, "pct_change_from_baseline": 0.0})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------
# Measurability and target selection
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("diameter", "node", "expected"),
    [(10.0, False, True), (9.9, False, False), (15.0, True, True), (14.9, True, False),
     (12.0, True, False), (math.nan, False, False), (0.0, False, False)],
)
def test_is_measurable_thresholds(diameter, node, expected):
    assert is_measurable(diameter, node) is expected


def test_is_measurable_rejects_negative():
    with pytest.raises(InputError, match="diameter_mm"):
        is_measurable(-1.0, False)


def test_pathological_node_boundary():
    assert is_pathological_node(10.0) and not is_pathological_node(9.9)


def _baseline_many() -> pd.DataFrame:
    rows = [
        ("L1", "liver", False, 50.0), ("L2", "liver", False, 40.0), ("L3", "liver", False, 30.0),
        ("U1", "lung", False, 25.0), ("U2", "lung", False, 20.0),
        ("N1", "mediastinum", True, 30.0), ("N2", "abdomen", True, 20.0),
        ("N3", "pelvis", True, 12.0), ("B1", "bone", False, math.nan),
    ]
    return pd.DataFrame([{"patient_id": "P01", "lesion_id": i, "organ": o, "is_lymph_node": n,
                          "diameter_mm": d} for i, o, n, d in rows])


def test_select_targets_caps_total_and_per_organ():
    out = select_targets(_baseline_many())
    targets = set(out.loc[out["category"] == "target", "lesion_id"])
    # largest first: L1 50, L2 40, then L3 30 is the third liver lesion -> skipped; N1 30 and N2 20
    # (nodes are one organ though in different regions), U1 25; five reached.
    assert targets == {"L1", "L2", "N1", "N2", "U1"}
    assert set(out.loc[out["category"] == "non_target", "lesion_id"]) == {"L3", "U2", "N3", "B1"}
    assert list(out["lesion_id"]) == list(_baseline_many()["lesion_id"])  # input order kept
    assert out.loc[out["category"] == "non_target", "non_target_status"].eq("present").all()
    assert out.loc[out["category"] == "target", "non_target_status"].isna().all()


def test_select_targets_represent_all_organs():
    rows = [("U1", "lung", False, 60.0), ("U2", "lung", False, 55.0),
            ("L1", "liver", False, 50.0), ("L2", "liver", False, 45.0),
            ("N1", "abdomen", True, 16.0), ("K1", "kidney", False, 12.0)]
    df = pd.DataFrame([{"patient_id": "P", "lesion_id": i, "organ": o, "is_lymph_node": n,
                        "diameter_mm": d} for i, o, n, d in rows])
    plain = select_targets(df)
    assert set(plain.loc[plain["category"] == "target", "lesion_id"]) == {"U1", "U2", "L1", "L2",
                                                                          "N1"}
    rep = select_targets(df, represent_all_organs=True)
    assert set(rep.loc[rep["category"] == "target", "lesion_id"]) == {"U1", "L1", "N1", "K1", "U2"}


def test_select_targets_tie_rule_is_lesion_id_and_row_order_free():
    df = pd.DataFrame([{"patient_id": "P", "lesion_id": i, "organ": "liver",
                        "is_lymph_node": False, "diameter_mm": 30.0} for i in ("c", "b", "a")])
    for frame in (df, df.iloc[::-1]):
        out = select_targets(frame)
        assert set(out.loc[out["category"] == "target", "lesion_id"]) == {"a", "b"}


def test_select_targets_refuses_normal_node():
    df = pd.DataFrame([{"patient_id": "P", "lesion_id": "N", "organ": "neck",
                        "is_lymph_node": True, "diameter_mm": 8.0}])
    with pytest.raises(InputError, match=r"baseline lesions.*diameter_mm.*normal"):
        select_targets(df)


def test_select_targets_output_is_a_valid_baseline():
    out = select_targets(_baseline_many())
    out["assessment_date"] = BASE
    validated = validate_lesions(out)
    assert (validated["category"] == "target").sum() == 5


# --------------------------------------------------------------------------------------------------
# Sum of diameters and target response
# --------------------------------------------------------------------------------------------------


def test_sum_of_diameters_too_small_counts_5mm():
    assert sum_of_diameters([10.0, 20.0, math.nan], [False, False, True]) == 35.0


def test_sum_of_diameters_unmeasured_is_not_evaluable():
    assert math.isnan(sum_of_diameters([10.0, math.nan], [False, False]))
    assert sum_of_diameters([]) == 0.0
    with pytest.raises(InputError):
        sum_of_diameters([-1.0])


def test_five_mm_absolute_rule():
    # 10 -> 13 mm is +30 % over the nadir but only +3 mm: SD, not PD
    assert target_response(13.0, 10.0, 10.0, False, False) == SD
    assert target_response(15.0, 10.0, 10.0, False, False) == PD  # +50 % and +5 mm


def test_nadir_rule_progression_while_below_baseline():
    # 40 % below baseline but +20 % and +10 mm over the nadir of 50 mm: PD takes precedence over PR
    assert target_response(60.0, 100.0, 50.0, False, False) == PD
    assert target_response(59.0, 100.0, 50.0, False, False) == PR  # +18 %: still PR


def test_pr_after_nadir():
    # SLD rises from a nadir of 60 to 70: +16.7 % from nadir (not PD), -30 % from baseline: PR
    assert target_response(70.0, 100.0, 60.0, False, False) == PR
    assert target_response(71.0, 100.0, 60.0, False, False) == SD  # -29 %, +18 %


@pytest.mark.parametrize(("now", "base"), [(70.0, 100.0), (24.5, 35.0), (21.7, 31.0)])
def test_pr_boundary_is_inclusive(now, base):
    assert target_response(now, base, base, False, False) == PR


def test_pd_boundary_is_inclusive():
    assert target_response(30.0, 40.0, 25.0, False, False) == PD  # exactly +20 %, +5 mm
    assert target_response(29.9, 40.0, 25.0, False, False) == SD


def test_cr_precedes_pd_for_normal_nodes():
    # two normal nodes growing 4 -> 9 mm each: large relative increase, but nodes < 10 mm are normal
    assert target_response(18.0, 40.0, 8.0, True, True) == CR


def test_target_not_evaluable_unless_measured_part_is_pd():
    assert target_response(math.nan, 50.0, 50.0, False, False) == NE
    assert target_response(math.nan, 50.0, 50.0, False, False, sld_measured_mm=80.0) == PD
    assert target_response(math.nan, 50.0, 50.0, False, False, sld_measured_mm=55.0) == NE


@pytest.mark.parametrize(("base", "nadir"), [(0.0, 0.0), (math.nan, 10.0), (50.0, 60.0),
                                             (50.0, math.nan)])
def test_target_response_refuses_bad_reference(base, nadir):
    with pytest.raises(InputError, match="target_response"):
        target_response(40.0, base, nadir, False, False)


# --------------------------------------------------------------------------------------------------
# Non-target and overall response
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [(["absent", "absent"], CR), (["absent", "present"], NON_CR_NON_PD),
     (["present", np.nan], NE), ([np.nan, "unequivocal_progression"], PD),
     (["absent", None], NE), ([], NOT_APPLICABLE)],
)
def test_non_target_response(statuses, expected):
    assert non_target_response(statuses) == expected


def test_non_target_response_refuses_unknown_status():
    with pytest.raises(InputError, match="non_target_status"):
        non_target_response(["gone"])


NON_PD = (CR, NON_CR_NON_PD, NE, NOT_APPLICABLE)
# RECIST 1.1 Table 1 (Eisenhauer 2009), rows without PD; "none" non-target disease is NA.
TABLE_1 = [
    (CR, CR, CR), (CR, NOT_APPLICABLE, CR), (CR, NON_CR_NON_PD, PR), (CR, NE, PR),
    *[(PR, nt, PR) for nt in NON_PD],
    *[(SD, nt, SD) for nt in NON_PD],
    (NE, CR, NE), (NE, NON_CR_NON_PD, NE), (NE, NOT_APPLICABLE, NE), (NE, NE, NE),
]


@pytest.mark.parametrize(("target", "non_target", "expected"), TABLE_1)
def test_overall_response_table_without_new_lesion(target, non_target, expected):
    assert overall_response(target, non_target, False) == expected


@pytest.mark.parametrize(("target", "non_target", "new"),
                         list(itertools.product(TARGET_RESPONSES, NON_TARGET_RESPONSES,
                                                (False, True))))
def test_overall_response_pd_rows(target, non_target, new):
    """Target PD, non-target PD or a new lesion is PD whatever else; every combination covered."""
    got = overall_response(target, non_target, new)
    if new or target == PD or non_target == PD:
        assert got == PD
    else:
        assert got == dict(((t, n), e) for t, n, e in TABLE_1)[(target, non_target)]


@pytest.mark.parametrize(("args", "field"), [(("XX", CR, False), "target"),
                                             ((CR, "SD", False), "non_target"),
                                             ((CR, CR, "no"), "new_lesion")])
def test_overall_response_refuses_unknown_codes(args, field):
    with pytest.raises(InputError, match=field):
        overall_response(*args)


# --------------------------------------------------------------------------------------------------
# Time-point responses from a lesions table
# --------------------------------------------------------------------------------------------------


def test_timepoints_known_answer():
    tps = timepoint_responses(valid_table())
    p = tps[tps["patient_id"] == "P01"].reset_index(drop=True)
    assert list(p["sld_mm"]) == [60.0, 40.0, 35.0]
    assert list(p["sld_nadir_mm"]) == [60.0, 60.0, 40.0]
    assert p["pct_change_from_baseline"].tolist()[1:] == pytest.approx([-100 / 3, -125 / 3])
    assert p["pct_change_from_nadir"].iloc[2] == pytest.approx(-12.5)
    assert list(p["overall_response"]) == [None, PR, PR]
    assert list(p["target_response"]) == [None, PR, PR]
    assert list(p["non_target_response"]) == [None, NON_CR_NON_PD, NON_CR_NON_PD]
    assert list(p["days_from_baseline"]) == [0, 90, 180]
    assert p["is_baseline"].tolist() == [True, False, False]


def _node_patient(node_follow_up_mm: float) -> pd.DataFrame:
    return table([
        lesion("P", 0, "T1", "liver", "target", 20.0),
        lesion("P", 0, "T2", "abdomen", "target", 18.0, node=True),
        lesion("P", 90, "T1", "liver", "target", 0.0),
        lesion("P", 90, "T2", "abdomen", "target", node_follow_up_mm, node=True),
    ])


def test_cr_with_node_shrinking_to_9mm_but_not_10mm():
    cr = timepoint_responses(_node_patient(9.0)).iloc[1]
    assert (cr["sld_mm"], cr["target_response"], cr["overall_response"]) == (9.0, CR, CR)
    pr = timepoint_responses(_node_patient(10.0)).iloc[1]
    assert (pr["sld_mm"], pr["target_response"], pr["overall_response"]) == (10.0, PR, PR)


def test_too_small_to_measure_counts_5mm_and_is_not_disappeared():
    df = table([
        lesion("P", 0, "T1", "liver", "target", 20.0),
        lesion("P", 0, "T2", "lung", "target", 15.0),
        lesion("P", 90, "T1", "liver", "target", small=True),
        lesion("P", 90, "T2", "lung", "target", 0.0),
    ])
    r = timepoint_responses(df).iloc[1]
    assert r["sld_mm"] == 5.0
    assert r["target_response"] == PR  # a non-nodal lesion still present: not CR


def test_new_lesion_and_non_target_progression_are_pd():
    base = [lesion("P", 0, "T1", "liver", "target", 40.0),
            lesion("P", 0, "N1", "bone", "non_target", status="present")]
    new = table(base + [lesion("P", 90, "T1", "liver", "target", 20.0),
                        lesion("P", 90, "N1", "bone", "non_target", status="present"),
                        lesion("P", 90, "X1", "liver", "new")])
    r = timepoint_responses(new).iloc[1]
    assert (r["target_response"], r["new_lesion"], r["overall_response"]) == (PR, True, PD)
    prog = table(base + [lesion("P", 90, "T1", "liver", "target", 20.0),
                         lesion("P", 90, "N1", "bone", "non_target",
                                status="unequivocal_progression")])
    assert timepoint_responses(prog).iloc[1]["overall_response"] == PD


def test_missing_rows_are_not_evaluated():
    base = [lesion("P", 0, "T1", "liver", "target", 40.0),
            lesion("P", 0, "T2", "lung", "target", 20.0),
            lesion("P", 0, "N1", "bone", "non_target", status="present")]
    # non-target not re-assessed: target PR + non-target NE -> PR
    df = table(base + [lesion("P", 90, "T1", "liver", "target", 20.0),
                       lesion("P", 90, "T2", "lung", "target", 10.0)])
    r = timepoint_responses(df).iloc[1]
    assert (r["non_target_response"], r["overall_response"]) == (NE, PR)
    # one target not measured: SLD not evaluable -> NE; but the measured one alone is PD -> PD
    df = table(base + [lesion("P", 90, "T1", "liver", "target", 30.0),
                       lesion("P", 90, "N1", "bone", "non_target", status="present")])
    r = timepoint_responses(df).iloc[1]
    assert math.isnan(r["sld_mm"]) and r["overall_response"] == NE
    df = table(base + [lesion("P", 90, "T1", "liver", "target", 80.0),
                       lesion("P", 90, "N1", "bone", "non_target", status="present")])
    assert timepoint_responses(df).iloc[1]["overall_response"] == PD


def test_nadir_skips_unevaluable_assessments():
    df = table([
        lesion("P", 0, "T1", "liver", "target", 50.0),
        lesion("P", 90, "T1", "liver", "target", 30.0),
        lesion("P", 180, "T1", "liver", "target", math.nan),
        lesion("P", 270, "T1", "liver", "target", 36.0),
    ])
    tps = timepoint_responses(df)
    assert tps["sld_nadir_mm"].iloc[3] == 30.0
    assert list(tps["overall_response"]) == [None, PR, NE, PD]  # +20 %, +6 mm over the nadir


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------


def _mutate(df: pd.DataFrame, label: int, **changes) -> pd.DataFrame:
    out = df.copy()
    for k, v in changes.items():
        out[k] = out[k].astype(object)
        out.at[label, k] = v
    return out


@pytest.mark.parametrize(
    ("make", "row", "field", "text"),
    [
        (lambda d: _mutate(d, 3, category="tumour"), 3, "category", "expected one of"),
        (lambda d: _mutate(d, 4, diameter_mm=-2.0), 4, "diameter_mm", ">= 0"),
        (lambda d: _mutate(d, 4, diameter_mm="big"), 4, "diameter_mm", "number"),
        (lambda d: _mutate(d, 0, diameter_mm=math.nan), 0, "diameter_mm",
         "without a baseline measurement"),
        (lambda d: _mutate(d, 0, diameter_mm=8.0), 0, "diameter_mm", "not measurable"),
        (lambda d: _mutate(d, 5, category="target", non_target_status=np.nan, diameter_mm=5.0),
         5, "category", "was 'non_target' at baseline"),
        (lambda d: _mutate(d, 3, lesion_id="T9"), 3, "lesion_id", "no baseline row"),
        (lambda d: _mutate(d, 4, lesion_id="T1"), 4, "lesion_id", "duplicate"),
        (lambda d: _mutate(d, 3, too_small_to_measure=True), 3, "diameter_mm", "too small"),
        (lambda d: _mutate(d, 3, non_target_status="present"), 3, "non_target_status",
         "only non-target"),
        (lambda d: _mutate(d, 2, category="new", non_target_status=np.nan), 2, "category",
         "'new' lesion at the baseline"),
        (lambda d: _mutate(d, 1, is_lymph_node="yes"), 1, "is_lymph_node", "True or False"),
        (lambda d: _mutate(d, 6, assessment_date="2020-13-45"), 6, "assessment_date",
         "calendar date"),
        (lambda d: _mutate(d, 6, assessment_date=pd.Timestamp("2020-07-13 10:30")), 6,
         "assessment_date", "without time of day"),
        (lambda d: _mutate(d, 3, organ="spleen"), 3, "organ", "changes organ"),
        (lambda d: _mutate(d, 5, non_target_status="bigger"), 5, "non_target_status",
         "expected one of"),
        (lambda d: _mutate(d, 2, non_target_status="absent"), 2, "non_target_status",
         "must be 'present'"),
        (lambda d: _mutate(d, 0, patient_id=""), 0, "patient_id", "non-empty string"),
    ],
)
def test_validation_names_table_row_and_column(make, row, field, text):
    df = make(valid_table())
    with pytest.raises(InputError) as exc:
        validate_lesions(df, source="lesions.csv")
    msg = str(exc.value)
    assert exc.value.field == field and exc.value.source == "lesions.csv"
    assert msg.startswith(f"lesions.csv: field '{field}'")
    assert f"row {row}" in msg and text in msg


def test_validation_missing_column():
    with pytest.raises(InputError, match=r"lesions table: field 'organ'.*missing column"):
        validate_lesions(valid_table().drop(columns=["organ"]))


def test_validation_too_many_targets():
    rows = [lesion("P", 0, f"T{i}", organ, "target", 20.0)
            for i, organ in enumerate(["liver", "lung", "kidney", "spleen", "bone", "brain"])]
    with pytest.raises(InputError, match=r"row 5 .*6 target lesions"):
        validate_lesions(table(rows))
    rows = [lesion("P", 0, f"T{i}", "liver", "target", 20.0) for i in range(3)]
    with pytest.raises(InputError, match=r"field 'organ'.*row 2 .*in organ 'liver'"):
        validate_lesions(table(rows))
    rows = [lesion("P", 0, f"N{i}", f"region {i}", "target", 20.0, node=True) for i in range(3)]
    with pytest.raises(InputError, match="in organ 'lymph node'"):
        validate_lesions(table(rows))


def test_validation_patient_without_target():
    rows = [lesion("P", 0, "N1", "bone", "non_target", status="present")]
    with pytest.raises(InputError, match="no target lesion"):
        validate_lesions(table(rows))


def test_validation_returns_normalised_copy():
    df = valid_table()
    out = validate_lesions(df)
    assert out["assessment_date"].dtype.kind == "M"
    assert out["diameter_mm"].dtype == float
    assert df["assessment_date"].iloc[0] == BASE  # input untouched


# --------------------------------------------------------------------------------------------------
# Best overall response
# --------------------------------------------------------------------------------------------------


def _bor(course, **kw) -> tuple[str, object]:
    r = best_overall_response(tp("P", course), **kw).iloc[0]
    return r["best_overall_response"], r["best_response_date"]


def test_bor_without_and_with_confirmation():
    course = [(90, PR), (180, SD), (270, PD)]
    assert _bor(course)[0] == PR
    assert _bor(course, confirmation=True)[0] == SD  # unconfirmed PR, SD duration met
    confirmed = [(90, PR), (180, PR), (270, PD)]
    assert _bor(confirmed, confirmation=True) == (PR, pd.Timestamp(day(90)))


def test_bor_confirmation_interval():
    assert _bor([(90, CR), (120, CR)], confirmation=True)[0] == CR  # 30 days apart
    assert _bor([(90, CR), (110, CR)], confirmation=True)[0] == SD  # 20 days: not confirmed
    assert _bor([(90, CR), (110, CR)], confirmation=True,
                min_confirmation_interval_days=14)[0] == CR


def test_bor_confirmation_rules_of_table_3():
    assert _bor([(90, CR), (180, PR)], confirmation=True)[0] == PR
    assert _bor([(90, PR), (180, CR)], confirmation=True)[0] == PR
    assert _bor([(90, PR), (150, NE), (180, PR)], confirmation=True)[0] == PR  # NE skipped
    assert _bor([(90, PR), (150, SD), (180, PR)], confirmation=True)[0] == SD  # SD interrupts
    # CR then PD: SD if the SD duration is met, otherwise PD
    assert _bor([(90, CR), (180, PD)], confirmation=True)[0] == SD
    assert _bor([(30, CR), (60, PD)], confirmation=True)[0] == PD
    assert _bor([(30, PR), (60, NE)], confirmation=True)[0] == NE


def test_bor_sd_minimum_duration():
    assert _bor([(30, SD), (60, PD)]) == (PD, pd.Timestamp(day(60)))
    assert _bor([(30, SD)])[0] == NE
    assert _bor([(30, SD)], min_sd_duration_days=28)[0] == SD
    # measured from the start date (inclusion), not from the baseline scan
    r = best_overall_response(tp("P", [(30, SD)]), start_dates={"P": day(-20)}).iloc[0]
    assert r["best_overall_response"] == SD


def test_bor_stops_at_first_pd():
    r = best_overall_response(tp("P", [(90, PD), (180, PR)])).iloc[0]
    assert r["best_overall_response"] == PD and r["first_pd_date"] == pd.Timestamp(day(90))
    assert r["n_assessments"] == 1
    assert _bor([])[0] == NE


def test_bor_from_lesions_table():
    bor = best_overall_response(timepoint_responses(valid_table()), confirmation=True)
    assert list(bor["best_overall_response"]) == [PR, PR]
    assert bor["confirmed"].all()


# --------------------------------------------------------------------------------------------------
# Response at a time, time to maximum response, waterfall
# --------------------------------------------------------------------------------------------------


def test_response_at_nearest_and_first_after():
    tps = tp("P", [(90, SD), (180, PR), (270, SD)])
    r = response_at(tps, day(200), window_days=45).iloc[0]
    assert (r["response"], r["assessment_date"], r["days_from_reference"]) == (
        PR, pd.Timestamp(day(180)), -20)
    r = response_at(tps, day(200), window_days=90, rule="first_after").iloc[0]
    assert r["response"] == SD and r["assessment_date"] == pd.Timestamp(day(270))
    r = response_at(tps, day(225), window_days=45).iloc[0]  # 45 days either side: the later one
    assert r["assessment_date"] == pd.Timestamp(day(270))
    r = response_at(tps, day(400), window_days=45).iloc[0]
    assert r["response"] == NE and pd.isna(r["assessment_date"])


def test_response_at_prefers_evaluable_and_carries_pd_forward():
    r = response_at(tp("P", [(170, NE), (200, SD)]), day(175), window_days=45).iloc[0]
    assert r["response"] == SD
    prog = tp("P", [(90, PD), (180, SD)])
    r = response_at(prog, day(180), window_days=30).iloc[0]
    assert (r["response"], r["carried_forward"], r["assessment_date"]) == (
        PD, True, pd.Timestamp(day(90)))
    r = response_at(prog, day(180), window_days=30, carry_forward_pd=False).iloc[0]
    assert r["response"] == SD


def test_response_at_per_patient_reference_dates():
    tps = pd.concat([tp("A", [(90, PR)]), tp("B", [(180, SD)])])
    out = response_at(tps, {"A": day(91), "B": day(185), "C": day(90)})
    assert list(out["response"]) == [PR, SD, NE]  # C has no assessments


def _sld_course(pid: str, slds: list[tuple[int, float]]) -> pd.DataFrame:
    rows = [lesion(pid, n, "T1", "liver", "target", s) for n, s in slds]
    return table(rows)


def test_time_to_maximum_response():
    df = pd.concat([
        _sld_course("A", [(0, 100), (90, 80), (180, 60), (270, 60), (360, 90), (450, 50)]),
        _sld_course("B", [(0, 100), (90, 110), (180, 105)]),
    ], ignore_index=True)
    tps = timepoint_responses(df)
    assert tps.loc[tps["patient_id"] == "A", "overall_response"].tolist()[4] == PD
    ttm = time_to_maximum_response(tps, start_dates={"A": day(-10), "B": day(0)})
    a, b = ttm.iloc[0], ttm.iloc[1]
    assert a["nadir_date"] == pd.Timestamp(day(180))  # first time at the minimum, before PD
    assert a["time_to_max_response_days"] == 190.0
    assert a["time_to_max_response_months"] == pytest.approx(190 / 30.4375)
    assert a["shrank"] and a["pct_change_at_nadir"] == pytest.approx(-40.0)
    assert b["nadir_date"] == pd.Timestamp(day(180)) and not b["shrank"]
    after = time_to_maximum_response(tps, include_after_progression=True).iloc[0]
    assert after["nadir_date"] == pd.Timestamp(day(450))


def _waterfall_input() -> pd.DataFrame:
    df = pd.concat([
        _sld_course("A", [(0, 100), (90, 60)]),
        _sld_course("B", [(0, 100), (90, 130)]),
        _sld_course("C", [(0, 50), (90, 45), (180, 40)]),
        _sld_course("D", [(0, 50), (90, math.nan)]),
    ], ignore_index=True)
    tps = timepoint_responses(df)
    return best_percent_change(tps).merge(best_overall_response(tps), on="patient_id")


def test_best_percent_change():
    best = _waterfall_input().set_index("patient_id")
    assert best.loc["A", "best_pct_change"] == pytest.approx(-40.0)
    assert best.loc["B", "best_pct_change"] == pytest.approx(30.0)
    assert best.loc["C", "best_pct_change"] == pytest.approx(-20.0)
    assert math.isnan(best.loc["D", "best_pct_change"])


def test_waterfall_plot():
    data = _waterfall_input()
    fig = waterfall_plot(data)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    bars = ax.patches
    heights = sorted((b.get_x(), b.get_height()) for b in bars)
    assert [h for _, h in heights] == pytest.approx([30.0, -20.0, -40.0])  # sorted, D left out
    colours = {round(b.get_height()): b.get_facecolor() for b in bars}
    assert colours[-40] == to_rgba(RESPONSE_COLORS[PR])
    assert colours[30] == to_rgba(RESPONSE_COLORS[PD])
    lines = {round(line.get_ydata()[0], 6) for line in ax.lines}
    assert {-30.0, 20.0} <= lines
    assert "1 without evaluable follow-up" in ax.get_xlabel()


def test_waterfall_plot_into_given_axes_and_other_grouping():
    data = _waterfall_input().assign(bed_group=["< 25 Gy", "> 29 Gy", "< 25 Gy", "> 29 Gy"])
    fig = Figure()
    ax = fig.add_subplot()
    assert waterfall_plot(data, color_by="bed_group", ax=ax) is fig
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["< 25 Gy", "> 29 Gy"]
    with pytest.raises(InputError, match="ecog"):
        waterfall_plot(data, color_by="ecog")


# --------------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------------

mm = st.floats(min_value=0.0, max_value=300.0, allow_nan=False)
positive_mm = st.floats(min_value=1.0, max_value=300.0, allow_nan=False)
factor = st.floats(min_value=0.05, max_value=20.0, allow_nan=False)


@given(base=positive_mm, nadir_frac=st.floats(0.0, 1.0), now=mm, k=factor)
def test_scaling_moves_classification_only_through_the_5mm_rule(base, nadir_frac, now, k):
    nadir = base * nadir_frac
    before = target_response(now, base, nadir, False, False)
    after = target_response(k * now, k * base, k * nadir, False, False)
    relative = target_response(now, base, nadir, False, False, pd_min_increase_mm=0.0)
    # without the absolute rule the classification is scale free
    assert target_response(k * now, k * base, k * nadir, False, False,
                           pd_min_increase_mm=0.0) == relative
    never_pd = target_response(now, base, nadir, False, False, pd_min_increase_mm=math.inf)
    if after != before:
        # enlarging can only add progressions (more mm), shrinking can only remove them, and what
        # is left then is the scale-free PR/SD classification from baseline
        assert (k > 1 and after == PD) or (k < 1 and before == PD and after == never_pd)


@given(a=st.lists(positive_mm, max_size=5), b=st.lists(positive_mm, max_size=5),
       small_a=st.lists(st.booleans(), min_size=5, max_size=5))
def test_sld_is_additive(a, b, small_a):
    sa = small_a[: len(a)]
    total = sum_of_diameters(a + b, sa + [False] * len(b))
    assert total == pytest.approx(sum_of_diameters(a, sa) + sum_of_diameters(b))


@st.composite
def lesion_tables(draw) -> pd.DataFrame:
    rows = []
    organs = ["liver", "lung", "kidney", "spleen", "bone"]
    for p in range(draw(st.integers(1, 3))):
        pid = f"P{p}"
        n_t = draw(st.integers(1, 4))
        nodes = [i < 2 and draw(st.booleans()) for i in range(n_t)]  # nodes: one organ, <= 2
        base = [draw(st.floats(15.0, 80.0)) for _ in range(n_t)]
        n_visits = draw(st.integers(1, 4))
        for v in range(n_visits + 1):
            for i in range(n_t):
                if v == 0:
                    d, small = base[i], False
                else:
                    choice = draw(st.sampled_from(["measure", "measure", "small", "nan", "zero"]))
                    d = {"measure": draw(st.floats(0.0, 120.0)), "small": math.nan,
                         "nan": math.nan, "zero": 0.0}[choice]
                    small = choice == "small"
                rows.append(lesion(pid, 90 * v, f"T{i}", organs[i], "target", d, node=nodes[i],
                                   small=small))
            status = "present" if v == 0 else draw(st.sampled_from(
                ["present", "absent", "unequivocal_progression", np.nan]))
            rows.append(lesion(pid, 90 * v, "N0", "bone", "non_target", status=status))
            if v > 0 and draw(st.integers(0, 9)) == 0:
                rows.append(lesion(pid, 90 * v, f"X{v}", "liver", "new"))
    return table(rows)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=lesion_tables(), seed=st.integers(0, 2**31 - 1))
def test_responses_invariant_to_row_order(df, seed):
    shuffled = df.sample(frac=1.0, random_state=seed)
    a, b = timepoint_responses(df), timepoint_responses(shuffled)
    pd.testing.assert_frame_equal(a, b)
    for conf in (False, True):
        pd.testing.assert_frame_equal(best_overall_response(a, confirmation=conf),
                                      best_overall_response(b, confirmation=conf))
    # every time point is classified with a valid code; a new lesion always means PD
    post = a[~a["is_baseline"]]
    assert post["overall_response"].isin([CR, PR, SD, PD, NE]).all()
    assert (post.loc[post["new_lesion"], "overall_response"] == PD).all()
