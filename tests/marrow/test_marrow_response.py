"""Dose–response analysis: logistic fit against R's glm, nadirs on a small synthetic cohort."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from iluminet.trial import marrow_response


def _data(seed: int = 3, n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 2.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-3.0 + 2.0 * x)))).astype(float)
    return x, y


def test_logistic_fit_recovers_known_coefficients() -> None:
    x, y = _data(n=4000)
    fit = marrow_response.logistic_fit(x, y)
    assert fit.converged
    assert fit.intercept == pytest.approx(-3.0, abs=4 * fit.intercept_se)
    assert fit.slope == pytest.approx(2.0, abs=4 * fit.slope_se)


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not installed")
def test_logistic_fit_equals_r_glm(tmp_path) -> None:
    x, y = _data()
    path = tmp_path / "d.csv"
    pd.DataFrame({"x": x, "y": y}).to_csv(path, index=False)
    script = (f"d <- read.csv('{path}'); m <- glm(y ~ x, family = binomial, data = d); "
              "s <- summary(m)$coefficients; "
              "cat(sprintf('%.12g', c(s[, 1], s[, 2], deviance(m))), sep = ' ')")
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    b0, b1, se0, se1, dev = map(float, out.stdout.split())
    fit = marrow_response.logistic_fit(x, y)
    assert fit.intercept == pytest.approx(b0, rel=1e-7)
    assert fit.slope == pytest.approx(b1, rel=1e-7)
    assert fit.intercept_se == pytest.approx(se0, rel=1e-6)
    assert fit.slope_se == pytest.approx(se1, rel=1e-6)
    assert fit.deviance == pytest.approx(dev, rel=1e-8)


def test_loglinear_nadir_recovers_d0() -> None:
    rng = np.random.default_rng(1)
    d = rng.uniform(0.1, 0.8, 300)
    f = np.exp(-d / 1.3 + rng.normal(0, 0.05, d.size))
    res = marrow_response.loglinear_nadir_fit(d, f)
    assert res["d0_gy"] == pytest.approx(1.3, rel=0.1)
