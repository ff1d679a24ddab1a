"""The whole-table RECIST endpoints, lesion validation and cohort validation give the same outputs
as the per-patient implementations they replaced, kept verbatim in ``tests/reference``.

Compared column by column (values, dtypes, order; floats exactly) on the demo cohort and on a
generated 1 000-patient cohort. The reference is the earlier code, not a re-derivation, so a change
in the package that alters any output fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from reference import recist_v0, schema_v0

from iluminet.trial import recist, schema

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo" / "cohort"


def _cohorts() -> list[Any]:
    return [pytest.param("demo", id="demo"),
            pytest.param("generated_1000", id="generated_1000", marks=pytest.mark.slow)]




def _as_reference_layout(source: Path, folder: Path) -> Path:
    """The tables and columns the reference implementation knows (tables and optional columns
    added since, e.g. ``qol.csv`` or ``cycles.marrow_dose_gy``, are left out for both readers)."""
    for path in source.glob("*.csv"):
        spec = schema_v0.TABLES.get(path.stem)
        if spec is None:
            continue
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        table[[c for c in table.columns if c in spec.column_names]].to_csv(folder / path.name,
                                                                            index=False)
    return folder


def _load(name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if name == "demo":
        if not (DEMO / "lesions.csv").is_file():
            pytest.skip("demo data not generated (iluminet demo)")
        return _as_reference_layout(DEMO, tmp_path_factory.mktemp("demo_reference_layout"))
    from iluminet.synthetic.trial import generate_cohort

    folder = tmp_path_factory.mktemp("cohort1000")
    cohort = generate_cohort(seed=11, n_enrolled=1000, fast=True, safety=False)
    schema.write_cohort(cohort, folder)
    return _as_reference_layout(folder, tmp_path_factory.mktemp("cohort1000_reference_layout"))


_CACHE: dict[str, tuple[Any, Any]] = {}


def _read_both(name: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    if name not in _CACHE:
        folder = _load(name, tmp_path_factory)
        _CACHE[name] = (schema_v0.read_cohort(folder), schema.read_cohort(folder))
    return _CACHE[name]


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        pd.testing.assert_series_equal(a[col], b[col], check_exact=True, obj=f"column {col}")
    pd.testing.assert_index_equal(a.index, b.index)


@pytest.mark.parametrize("name", _cohorts())
def test_read_cohort_identical(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    old, new = _read_both(name, tmp_path_factory)
    for table in old.tables():
        reference = getattr(old, table)
        # optional columns added since the reference (e.g. cycles.marrow_dose_gy) are not compared
        _same(reference, getattr(new, table)[list(reference.columns)])


@pytest.mark.parametrize("name", _cohorts())
def test_recist_endpoints_identical(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    _, cohort = _read_both(name, tmp_path_factory)
    lesions = cohort.lesions
    tp_old = recist_v0.timepoint_responses(lesions)
    tp_new = recist.timepoint_responses(lesions)
    _same(tp_old, tp_new)
    assert tp_new["overall_response"].isin(["PD", "PR", "SD"]).any()
    inclusion = dict(zip(cohort.patients["patient_id"], cohort.patients["inclusion_date"],
                         strict=True))
    starts = {p: inclusion[p] for p in tp_old["patient_id"].unique()}
    later = {p: d + pd.Timedelta(days=200) for p, d in starts.items()}
    much_later = {p: d + pd.Timedelta(days=400) for p, d in starts.items()}
    cases: list[tuple[str, dict[str, Any]]] = [
        ("best_overall_response", {}),
        ("best_overall_response", {"confirmation": True}),
        ("best_overall_response", {"confirmation": True, "start_dates": starts,
                                   "min_confirmation_interval_days": 0}),
        ("best_overall_response", {"start_dates": starts, "min_sd_duration_days": 100}),
        ("time_to_maximum_response", {}),
        ("time_to_maximum_response", {"start_dates": starts}),
        ("time_to_maximum_response", {"include_after_progression": True}),
        ("best_percent_change", {}),
        ("best_percent_change", {"until_progression": True}),
        ("response_at", {"reference_date": "2021-06-01"}),
        ("response_at", {"reference_date": later}),
        ("response_at", {"reference_date": later, "rule": "first_after", "window_days": 90}),
        ("response_at", {"reference_date": much_later, "carry_forward_pd": False}),
    ]
    # also a filtered table (some patients with a baseline only), as the efficacy analysis passes
    subset = tp_old[~((tp_old["patient_id"].isin(list(starts)[::7])) & ~tp_old["is_baseline"])]
    for table in (tp_old, subset):
        for fn, kwargs in cases:
            _same(getattr(recist_v0, fn)(table, **kwargs), getattr(recist, fn)(table, **kwargs))


def test_endpoints_detect_a_changed_timepoint() -> None:
    """The comparison can fail: one changed time point changes the vectorized output."""
    if not (DEMO / "lesions.csv").is_file():
        pytest.skip("demo data not generated (iluminet demo)")
    tp = recist.timepoint_responses(schema.read_cohort(DEMO).lesions)
    post = tp.index[~tp["is_baseline"] & (tp["overall_response"] == "SD")]
    changed = tp.copy()
    changed.loc[post[0], "overall_response"] = "PR"
    a = recist.best_overall_response(tp).set_index("patient_id")
    b = recist.best_overall_response(changed).set_index("patient_id")
    pid = tp.at[post[0], "patient_id"]
    assert b.at[pid, "best_overall_response"] == "PR"
    with pytest.raises(AssertionError):
        _same(a.reset_index(), b.reset_index())


@pytest.mark.parametrize("name", _cohorts())
def test_safety_analysis_identical(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from reference import safety_v0

    from iluminet.trial import safety

    _, c = _read_both(name, tmp_path_factory)
    if name != "demo":  # the 1 000-patient cohort above is written without safety tables
        from iluminet.synthetic.trial.safety import simulate_safety

        c.labs, c.adverse_events = simulate_safety(c.patients, c.cycles, c.events, seed=11)
    assert len(c.labs)
    args = (c.patients, c.cycles, c.events, c.labs, c.adverse_events)
    # the reference's choices: the default creatinine criterion has changed since
    reference_choice = safety.SafetyParameters(creatinine_criterion="uln_and_baseline")
    old = safety_v0.safety_analysis(*args)
    new = safety.safety_analysis(*args, parameters=reference_choice)
    old_tables, new_tables = old.tables(), new.tables()
    # tables added since (Table 2 under both creatinine criteria) are not in the reference
    assert list(new_tables)[: len(old_tables)] == list(old_tables)
    assert set(new_tables) - set(old_tables) == {"table2_creatinine_criteria"}
    for key in old_tables:
        _same(old_tables[key], new_tables[key])
    for attr in ("graded_labs", "periods", "clinical_events"):
        reference = getattr(old, attr)
        # columns added since (both creatinine grades, the late window) are not compared
        _same(reference, getattr(new, attr)[list(reference.columns)])
    assert old.gfr_summary == new.gfr_summary or pd.Series(old.gfr_summary).equals(
        pd.Series(new.gfr_summary))
