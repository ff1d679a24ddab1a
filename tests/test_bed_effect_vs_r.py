"""Every Cox figure of the demo cohort's BED analyses (``efficacy.json`` → ``bed_effect``) against
R's ``survival::coxph`` on the same data (Rscript subprocess, ``tests/r/cox_models_reference.R``).

For each endpoint and model of :func:`iluminet.trial.bed_effect.bed_effect_analyses` the design
matrix the package fitted (indicator columns of :func:`iluminet.trial.cox.design_matrix`; for the
time-varying models the counting-process rows of :func:`iluminet.trial.cox.counting_process_bed`)
is written out and refitted in R (Efron ties, eps 1e-12). Coefficients, standard errors, hazard
ratios with their 95 % limits, z, p, log-likelihoods, likelihood-ratio and Wald tests and the
joint Wald test of each term agree to 1e-6 relative. The Schoenfeld PH test is not compared (R's
``cox.zph`` computes another test since survival 3.0, see :mod:`iluminet.trial.cox`). R is part of
the test environment (``make system-deps``); ``ILUMINET_SKIP_R=1`` skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iluminet.trial.bed_effect import ADJUSTMENT, bed_effect_analyses
from iluminet.trial.cox import counting_process_bed, design_matrix

pytestmark = pytest.mark.r_crosscheck

R_SCRIPT = Path(__file__).parent / "r" / "cox_models_reference.R"
RTOL = 1e-6


def _terms(model: str) -> list[str]:
    if model.startswith("univariable: "):
        return [model.removeprefix("univariable: ")]
    base = {"multivariable, BED group": ["bed_group"],
            "multivariable, delivered BED": ["delivered_bed_gy"],
            "time-varying, cumulative BED": ["cumulative_bed_gy"],
            "time-varying, cumulative BED adjusted": ["cumulative_bed_gy"]}[model]
    return base if model == "time-varying, cumulative BED" else [*base, *ADJUSTMENT]


@pytest.fixture(scope="module")
def demo(workbook_root):
    from iluminet.trial import read_cohort
    from iluminet.trial.efficacy import efficacy_analysis

    folder = workbook_root / "data" / "demo" / "cohort"
    if not (folder / "patients.csv").is_file():
        pytest.skip("demo cohort not generated (iluminet demo)")
    cohort = read_cohort(folder)
    result = efficacy_analysis(cohort.patients, cohort.cycles, cohort.lesions, cohort.events)
    assert result.bed_effect is not None
    bed = bed_effect_analyses(result.patients, cohort.cycles,
                              landmark_months=result.options.landmark_times_months)
    pd.testing.assert_frame_equal(bed.cox, result.bed_effect.cox)  # the same inputs
    return result.patients, cohort.cycles, bed


@pytest.fixture(scope="module")
def r_out(demo, tmp_path_factory):
    rscript = shutil.which("Rscript")
    if rscript is None:
        if os.environ.get("ILUMINET_SKIP_R") == "1":
            pytest.skip("ILUMINET_SKIP_R=1: cross-check against R skipped")
        pytest.fail("Rscript not found on PATH; install r-base-core r-cran-survival "
                    "(or set ILUMINET_SKIP_R=1)", pytrace=False)
    patients, cycles, bed = demo
    root = tmp_path_factory.mktemp("r_bed")
    in_dir, out_dir = root / "in", root / "out"
    in_dir.mkdir()
    out_dir.mkdir()
    manifest = []
    for i, (endpoint, model) in enumerate(bed.cox_tests[["endpoint", "model"]].itertuples(
            index=False)):
        d = patients if endpoint == "os" else patients[patients["pfs_evaluable"].astype(bool)]
        terms = _terms(model)
        if model.startswith("time-varying"):
            cp = counting_process_bed(d, cycles, endpoint, ADJUSTMENT)
            x, names = design_matrix(cp, terms)
            frame = pd.DataFrame({"start": cp.loc[x.index, "start_months"],
                                  "stop": cp.loc[x.index, "stop_months"],
                                  "event": cp.loc[x.index, "event"]})
            kind = "tv"
        else:
            x, names = design_matrix(d, terms)
            frame = pd.DataFrame({"time": d.loc[x.index, f"{endpoint}_months"].astype(float),
                                  "event": d.loc[x.index, f"{endpoint}_event"].astype(int)})
            kind = "ph"
        covs = [f"x{j}" for j in range(x.shape[1])]
        frame[covs] = x.to_numpy(float)
        term_of = {c: t for t, cols in names.items() for c in cols}
        name = f"m{i:02d}"
        frame.to_csv(in_dir / f"{name}.csv", index=False, float_format="%.17g")
        manifest.append({"name": name, "kind": kind, "covariates": "|".join(covs),
                         "terms": "|".join(term_of[c] for c in x.columns),
                         "endpoint": endpoint, "model": model})
    pd.DataFrame(manifest).to_csv(in_dir / "manifest.csv", index=False)
    proc = subprocess.run([rscript, "--vanilla", str(R_SCRIPT), str(in_dir), str(out_dir)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"Rscript {R_SCRIPT.name} failed:\n{proc.stderr}", pytrace=False)
    return out_dir, pd.DataFrame(manifest)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, float_precision="round_trip")


def test_every_cox_coefficient_equals_r(demo, r_out):
    _, _, bed = demo
    out_dir, manifest = r_out
    compared, skipped = 0, 0
    for m in manifest.itertuples(index=False):
        mine = bed.cox[(bed.cox["endpoint"] == m.endpoint) & (bed.cox["model"] == m.model)]
        ref = _read(out_dir / f"{m.name}_coef.csv")
        assert len(mine) == len(ref), (m.endpoint, m.model)
        finite = ~mine["infinite_estimate"].to_numpy(bool)  # no estimate to agree on otherwise
        skipped += int((~finite).sum())
        mine, ref = mine[finite], ref[finite]
        for col, rcol in (("coef", "coef"), ("se", "se"), ("z", "z"), ("p_value", "p"),
                          ("hr", "hr"), ("hr_lower", "hr_lower"), ("hr_upper", "hr_upper")):
            np.testing.assert_allclose(mine[col].to_numpy(float), ref[rcol].to_numpy(float),
                                       rtol=RTOL, atol=0.0, err_msg=f"{m.endpoint} {m.model} {col}")
            compared += len(ref)
    assert len(manifest) == len(bed.cox_tests) >= 18
    assert compared == 7 * (len(bed.cox) - skipped) and skipped <= 2


def test_every_model_test_equals_r(demo, r_out):
    _, _, bed = demo
    out_dir, manifest = r_out
    for m in manifest.itertuples(index=False):
        mine = bed.cox_tests[(bed.cox_tests["endpoint"] == m.endpoint)
                             & (bed.cox_tests["model"] == m.model)].iloc[0]
        r = _read(out_dir / f"{m.name}_tests.csv").iloc[0]
        assert int(mine["events"]) == int(r["events"])
        if m.kind == "ph":
            assert int(mine["n"]) == int(r["n"])
        coefs = bed.cox[(bed.cox["endpoint"] == m.endpoint) & (bed.cox["model"] == m.model)]
        infinite = set(coefs.loc[coefs["infinite_estimate"].astype(bool), "term"])
        pairs = [("log_likelihood_null", "loglik0"), ("log_likelihood", "loglik"),
                 ("lr_statistic", "lr"), ("lr_p_value", "lr_p")]
        if not infinite:  # a Wald test of an infinite estimate is no test
            pairs += [("wald_statistic", "wald"), ("wald_p_value", "wald_p")]
        for mine_col, rcol in pairs:
            np.testing.assert_allclose(float(mine[mine_col]), float(r[rcol]), rtol=RTOL,
                                       atol=0.0, err_msg=f"{m.endpoint} {m.model} {mine_col}")
        terms = bed.term_tests[(bed.term_tests["endpoint"] == m.endpoint)
                               & (bed.term_tests["model"] == m.model)].set_index("term")
        ref = _read(out_dir / f"{m.name}_terms.csv").set_index("term")
        assert sorted(terms.index) == sorted(ref.index)
        for term in ref.index:
            assert int(terms.at[term, "df"]) == int(ref.at[term, "df"])
            if term in infinite:
                continue
            np.testing.assert_allclose(
                [terms.at[term, "wald_statistic"], terms.at[term, "p_value"]],
                [ref.at[term, "wald"], ref.at[term, "p"]], rtol=RTOL, atol=0.0,
                err_msg=f"{m.endpoint} {m.model} term {term}")
