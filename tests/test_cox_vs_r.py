"""Cross-check of iluminet.trial.cox against R's ``survival::coxph`` (Rscript subprocess).

Both use Efron's method for tied event times (R's default, lifelines' only method). Datasets with
tied times (0.1-month resolution), three-level factors, a continuous covariate and counting-process
intervals are written to a temporary folder; ``tests/r/cox_reference.R`` fits the same models and
every coefficient, standard error, z, p-value, log-likelihood, likelihood-ratio and Wald statistic
is compared to 1e-6 relative. R is part of the test environment; set ``ILUMINET_SKIP_R=1`` to skip
where R cannot be installed (as ``tests/test_survival_vs_r.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iluminet.trial.cox import CoxModel, TimeVaryingCoxModel

pytestmark = pytest.mark.r_crosscheck

R_SCRIPT = Path(__file__).parent / "r" / "cox_reference.R"
RTOL = 1e-6


def _ph_data() -> pd.DataFrame:
    rng = np.random.default_rng(20221117)
    n = 150
    grp = rng.choice(["A", "B", "C"], n, p=[0.5, 0.3, 0.2])
    ecog = rng.choice([0, 1, 2], n, p=[0.5, 0.4, 0.1])
    x = np.round(rng.normal(20.0, 5.0, n), 2)
    lp = np.select([grp == "B", grp == "C"], [-0.4, -0.8], 0.0) + 0.03 * (x - 20) + 0.5 * ecog
    ev = rng.exponential(30.0 * np.exp(-lp))
    cens = rng.uniform(5, 90, n)
    return pd.DataFrame({"time": np.round(np.minimum(ev, cens), 1),
                         "status": (ev <= cens).astype(int), "grp": grp, "x": x, "ecog": ecog})


def _tv_data() -> pd.DataFrame:
    """Cumulative 'dose' stepping up every ~2.5 months for a random number of cycles."""
    rng = np.random.default_rng(777)
    rows = []
    for i in range(120):
        ecog = int(rng.choice([0, 1, 2], p=[0.5, 0.4, 0.1]))
        end = float(np.round(rng.exponential(35.0) + 0.5, 1))
        event = int(rng.random() < 0.7)
        t0, cum = 0.0, 0.0
        for _ in range(int(rng.integers(1, 8))):
            t = float(np.round(t0 + rng.uniform(1.5, 3.5), 1))
            if t >= end:
                break
            rows.append((f"P{i}", t0, t, 0, cum, ecog))
            t0, cum = t, cum + float(np.round(rng.uniform(3.0, 6.0), 3))
        rows.append((f"P{i}", t0, end, event, cum, ecog))
    return pd.DataFrame(rows, columns=["id", "start", "stop", "status", "cum", "ecog"])


PH, TV = _ph_data(), _tv_data()


@pytest.fixture(scope="module")
def r_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rscript = shutil.which("Rscript")
    if rscript is None:
        if os.environ.get("ILUMINET_SKIP_R") == "1":
            pytest.skip("ILUMINET_SKIP_R=1: cross-check against R skipped")
        pytest.fail("Rscript not found on PATH; install r-base-core r-cran-survival "
                    "(or set ILUMINET_SKIP_R=1)", pytrace=False)
    root = tmp_path_factory.mktemp("r_cox")
    in_dir, out_dir = root / "in", root / "out"
    in_dir.mkdir()
    out_dir.mkdir()
    PH.to_csv(in_dir / "ph.csv", index=False, float_format="%.17g")
    TV.to_csv(in_dir / "tv.csv", index=False, float_format="%.17g")
    proc = subprocess.run([rscript, "--vanilla", str(R_SCRIPT), str(in_dir), str(out_dir)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"Rscript {R_SCRIPT.name} failed:\n{proc.stderr}", pytrace=False)
    return out_dir


def _cat(df: pd.DataFrame) -> pd.DataFrame:
    d = df.copy()
    if "grp" in d:
        d["grp"] = pd.Categorical(d["grp"], categories=["A", "B", "C"])
    d["ecog"] = pd.Categorical(d["ecog"].astype(str), categories=["0", "1", "2"])
    return d


def _fit(name: str) -> CoxModel | TimeVaryingCoxModel:
    if name == "ph_grp":
        return CoxModel().fit(_cat(PH), "time", "status", ["grp"])
    if name == "ph_multi":
        return CoxModel().fit(_cat(PH), "time", "status", ["grp", "x", "ecog"])
    terms = ["cum"] if name == "tv_cum" else ["cum", "ecog"]
    return TimeVaryingCoxModel().fit(_cat(TV), "id", "start", "stop", "status", terms)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, float_precision="round_trip")


@pytest.mark.parametrize("name", ["ph_grp", "ph_multi", "tv_cum", "tv_multi"])
def test_coefficients_match_r(r_out: Path, name: str) -> None:
    ref = _read(r_out / f"{name}_coef.csv")
    c = _fit(name).coefficients_
    assert len(c) == len(ref)
    for col, rcol in (("coef", "coef"), ("se", "se"), ("z", "z"), ("p_value", "p")):
        np.testing.assert_allclose(c[col].to_numpy(float), ref[rcol].to_numpy(float), rtol=RTOL,
                                   atol=0.0, err_msg=f"{name}: {col}")


@pytest.mark.parametrize("name", ["ph_grp", "ph_multi", "tv_cum", "tv_multi"])
def test_model_tests_match_r(r_out: Path, name: str) -> None:
    r = _read(r_out / f"{name}_tests.csv").iloc[0]
    m = _fit(name).model_tests()
    assert m["n"] == (int(r["n"]) if name.startswith("ph") else TV["id"].nunique())
    assert m["events"] == int(r["events"])
    pairs = (("log_likelihood_null", "loglik0"), ("log_likelihood", "loglik"),
             ("lr_statistic", "lr"), ("lr_p_value", "lr_p"), ("wald_statistic", "wald"),
             ("wald_p_value", "wald_p"))
    for mine, theirs in pairs:
        np.testing.assert_allclose(m[mine], float(r[theirs]), rtol=RTOL, atol=0.0,
                                   err_msg=f"{name}: {mine}")
    assert m["lr_df"] == int(r["lr_df"]) and m["wald_df"] == int(r["wald_df"])
