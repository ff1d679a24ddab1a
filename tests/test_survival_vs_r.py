"""Cross-check of iluminet.trial.survival against R's survival package (Rscript subprocess).

The datasets are written to a temporary folder, ``tests/r/survival_reference.R`` computes the
reference values with ``survfit``, ``summary``, ``quantile`` and ``survdiff``, and every number is
compared to 1e-8 relative. R is part of the test environment (``make test`` installs it); set
``ILUMINET_SKIP_R=1`` to skip these tests where R cannot be installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iluminet.trial.survival import (
    KaplanMeier,
    logrank_test,
    median_follow_up,
    survival_summary,
)

pytestmark = pytest.mark.r_crosscheck

R_SCRIPT = Path(__file__).parent / "r" / "survival_reference.R"
RTOL = 1e-8
AT_TIMES = (60.0, 12.0, 0.5)
CONF_TYPES = ("log", "log-log", "plain")
INSTALL_HINT = (
    "Rscript was not found on PATH; the cross-check against R's survival package needs it. "
    "Install it with: apt-get update && apt-get install -y --no-install-recommends "
    "r-base-core r-cran-survival   (or set ILUMINET_SKIP_R=1 to skip these tests)"
)


def _datasets() -> dict[str, pd.DataFrame]:
    """Deterministic datasets covering ties, censoring, plateaus at 0.5, k = 1, 2, 3."""
    rng = np.random.default_rng(20220517)
    out: dict[str, pd.DataFrame] = {}

    # ties: integer months, ties among events and between events and censorings
    n = 40
    ev = np.ceil(rng.exponential(40.0, n))
    cens = np.ceil(rng.uniform(5, 100, n))
    out["ties"] = pd.DataFrame(
        {"time": np.minimum(ev, cens), "status": (ev <= cens).astype(int), "group": "A"}
    )

    # plateau exactly at 0.5 from t = 25 to the next event at 40 → R's median 32.5
    out["plateau"] = pd.DataFrame(
        {
            "time": [5, 10, 15, 20, 25, 30, 40, 70, 80, 90],
            "status": [1, 1, 1, 1, 1, 0, 1, 1, 0, 0],
            "group": "A",
        }
    )

    # plateau at 0.5 to the end of follow-up: print.survfit and quantile.survfit differ
    out["plateau_end"] = pd.DataFrame(
        {"time": [2, 6, 10, 12, 70, 75], "status": [1, 1, 1, 0, 0, 0], "group": "A"}
    )

    # two groups, times to 0.1 month
    sizes, scales = (50, 50), (30.0, 60.0)
    frames = []
    for label, m, scale in zip("AB", sizes, scales, strict=True):
        ev = np.round(rng.exponential(scale, m), 1)
        cens = np.round(rng.uniform(10, 120, m), 1)
        frames.append(
            pd.DataFrame(
                {"time": np.minimum(ev, cens), "status": (ev <= cens).astype(int), "group": label}
            )
        )
    out["two_groups"] = pd.concat(frames, ignore_index=True)

    # three groups, whole months (many ties across groups)
    frames = []
    for label, m, scale in zip("ABC", (30, 35, 31), (20.0, 40.0, 70.0), strict=True):
        ev = np.ceil(rng.exponential(scale, m))
        cens = np.ceil(rng.uniform(6, 110, m))
        frames.append(
            pd.DataFrame(
                {"time": np.minimum(ev, cens), "status": (ev <= cens).astype(int), "group": label}
            )
        )
    out["three_groups"] = pd.concat(frames, ignore_index=True)

    # late censored tail: events up to ~90 months, then 15 subjects censored out to 180
    ev = np.round(rng.exponential(35.0, 45), 1)
    cens = np.round(rng.uniform(20, 90, 45), 1)
    tail = np.round(rng.uniform(100, 180, 15), 1)
    out["late_tail"] = pd.DataFrame(
        {
            "time": np.concatenate([np.minimum(ev, cens), tail]),
            "status": np.concatenate([(ev <= cens).astype(int), np.zeros(15, dtype=int)]),
            "group": "A",
        }
    )

    # median and its upper limit not reached
    ev = np.round(rng.exponential(150.0, 40), 1)
    cens = np.round(rng.uniform(30, 100, 40), 1)
    out["not_reached"] = pd.DataFrame(
        {"time": np.minimum(ev, cens), "status": (ev <= cens).astype(int), "group": "A"}
    )
    return out


DATASETS = _datasets()


@pytest.fixture(scope="module")
def r_run(tmp_path_factory: pytest.TempPathFactory) -> Path | str:
    """Run the R script once; the output folder, or why it could not run."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        if os.environ.get("ILUMINET_SKIP_R") == "1":
            pytest.skip("ILUMINET_SKIP_R=1: cross-check against R skipped")
        return INSTALL_HINT
    root = tmp_path_factory.mktemp("r_survival")
    in_dir, out_dir = root / "in", root / "out"
    in_dir.mkdir()
    out_dir.mkdir()
    for name, df in DATASETS.items():
        # repr-precision floats so that R reads exactly the same doubles
        df.to_csv(in_dir / f"{name}.csv", index=False, float_format="%.17g")
    proc = subprocess.run(
        [rscript, "--vanilla", str(R_SCRIPT), str(in_dir), str(out_dir),
         *[repr(t) for t in AT_TIMES]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        return f"Rscript {R_SCRIPT.name} failed (exit {proc.returncode}):\n{proc.stderr}"
    return out_dir


def _require(r_run: Path | str) -> Path:
    # Called in the test body, not in a fixture, so that a missing R makes each test FAIL
    # (not ERROR) with the installation hint.
    if isinstance(r_run, str):
        pytest.fail(r_run, pytrace=False)
    return r_run


def _read(out_dir: Path, name: str, what: str) -> pd.DataFrame:
    # round_trip: pandas' default fast parser can be one ulp off the printed 17 digits
    return pd.read_csv(out_dir / f"{name}_{what}.csv", keep_default_na=True,
                       dtype={"group": str, "conf_type": str}, float_precision="round_trip")


def _close(actual: object, expected: object, what: str) -> None:
    np.testing.assert_allclose(
        np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
        rtol=RTOL, atol=0.0, equal_nan=True, err_msg=what,
    )


def _none_to_nan(x: float | None) -> float:
    return np.nan if x is None else x


def _groups(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return [(str(g), sub) for g, sub in df.groupby("group", sort=True)]


@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize("name", list(DATASETS))
def test_curve_and_pointwise_interval_match_r(
    r_run: Path | str, name: str, conf_type: str
) -> None:
    r_results = _require(r_run)
    ref = _read(r_results, name, "km")
    ref = ref[ref["conf_type"] == conf_type]
    for group, sub in _groups(DATASETS[name]):
        r = ref[ref["group"] == group].reset_index(drop=True)
        km = KaplanMeier(conf_type=conf_type).fit(sub["time"], sub["status"])
        tab = km.survival_table_
        assert len(tab) == len(r), f"{name}/{group}: number of rows"
        for col in ("time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower",
                    "upper"):
            _close(tab[col], r[col], f"{name}/{group}/{conf_type}: {col}")


@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize("name", list(DATASETS))
def test_median_and_ci_match_r(
    r_run: Path | str, name: str, conf_type: str
) -> None:
    r_results = _require(r_run)
    ref = _read(r_results, name, "median")
    ref = ref[ref["conf_type"] == conf_type]
    for group, sub in _groups(DATASETS[name]):
        r = ref[ref["group"] == group].iloc[0]
        km = KaplanMeier(conf_type=conf_type).fit(sub["time"], sub["status"])
        mine = [_none_to_nan(km.median_), *(_none_to_nan(v) for v in km.median_ci_)]
        _close(mine, [r["median"], r["lower"], r["upper"]],
               f"{name}/{group}/{conf_type}: print.survfit median (LCL, UCL)")
        q = km.quantile(0.5).iloc[0]
        _close([q["quantile"], q["lower"], q["upper"]], [r["q_median"], r["q_lower"],
                                                          r["q_upper"]],
               f"{name}/{group}/{conf_type}: quantile.survfit median (lower, upper)")


@pytest.mark.parametrize("conf_type", CONF_TYPES)
@pytest.mark.parametrize("name", list(DATASETS))
def test_survival_at_times_matches_r(
    r_run: Path | str, name: str, conf_type: str
) -> None:
    r_results = _require(r_run)
    path = r_results / f"{name}_times.csv"
    ref = _read(r_results, name, "times") if path.exists() else pd.DataFrame(
        columns=["conf_type", "group", "time", "surv", "lower", "upper"])
    ref = ref[ref["conf_type"] == conf_type]
    for group, sub in _groups(DATASETS[name]):
        km = KaplanMeier(conf_type=conf_type).fit(sub["time"], sub["status"])
        r = ref[ref["group"] == group]
        for t in AT_TIMES:
            row = r[np.isclose(r["time"].astype(float), t, rtol=0, atol=0)]
            if row.empty:
                # R leaves out times after the last observation; here that is NaN
                assert t > sub["time"].max()
                assert np.isnan(km.survival_at(t)).all()
                continue
            _close(km.survival_at(t), row[["surv", "lower", "upper"]].iloc[0].to_numpy(),
                   f"{name}/{group}/{conf_type}: survival at {t}")


@pytest.mark.parametrize("name", list(DATASETS))
def test_reverse_km_follow_up_matches_r(r_run: Path | str, name: str) -> None:
    r_results = _require(r_run)
    r = _read(r_results, name, "followup").iloc[0]
    df = DATASETS[name]
    fu = median_follow_up(df["time"], df["status"])
    _close([_none_to_nan(v) for v in fu], [r["median"], r["lower"], r["upper"]],
           f"{name}: reverse KM median follow-up (LCL, UCL)")


@pytest.mark.parametrize("name", ["two_groups", "three_groups"])
def test_logrank_matches_r(r_run: Path | str, name: str) -> None:
    r_results = _require(r_run)
    r = _read(r_results, name, "logrank").iloc[0]
    df = DATASETS[name]
    res = logrank_test(df["time"], df["status"], df["group"])
    assert res.df == int(r["df"])
    _close(res.statistic, r["chisq"], f"{name}: chi-square")
    _close(res.p_value, r["p"], f"{name}: p-value")


def test_summary_table_matches_r(r_run: Path | str) -> None:
    r_results = _require(r_run)
    name = "three_groups"
    med = _read(r_results, name, "median")
    med = med[med["conf_type"] == "log"].set_index("group")
    tms = _read(r_results, name, "times")
    tms = tms[(tms["conf_type"] == "log") & (tms["time"] == 60.0)].set_index("group")
    table = survival_summary(DATASETS[name], "time", "status", "group", times=[60])
    assert list(table.index) == ["A", "B", "C"]
    _close(table[["median", "median_lower", "median_upper"]].to_numpy(),
           med.loc[table.index, ["median", "lower", "upper"]].to_numpy(), "summary medians")
    # group A ends before 60 months: R leaves it out, the table shows NaN
    expected = tms.reindex(table.index)[["surv", "lower", "upper"]]
    assert expected.loc["A"].isna().all() and expected.loc[["B", "C"]].notna().all().all()
    _close(table[["surv_60", "surv_60_lower", "surv_60_upper"]].to_numpy(),
           expected.to_numpy(), "summary S(60)")
