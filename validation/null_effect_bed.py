"""Null-effect simulation: how often does each analysis call kidney BED significant when BED has no
effect at all?

The synthetic trial generator (:func:`iluminet.synthetic.trial.generate_cohort`, default model,
closed-form dosimetry) is run with every BED hazard ratio set to 1 (progression and death, both
BED groups), so BED has no effect on PFS or OS by construction. Each cohort is analysed with the
workbook's default efficacy definitions (endpoints and analysis sets of
:func:`iluminet.trial.efficacy.efficacy_analysis`, the BED analyses of
:func:`iluminet.trial.bed_effect.bed_effect_analyses`), and the p-values of the BED comparison are
recorded:

* ``naive_logrank``: log-rank by *delivered*-BED group (the paper's Figures 1b and 2b);
* ``naive_cox_group``: univariable Cox, delivered-BED group (joint Wald test, 2 df);
* ``landmark_12_logrank``, ``landmark_18_logrank``: log-rank by the BED group reached at 12 / 18
  months among patients event-free then (:mod:`iluminet.trial.landmark`);
* ``time_varying_cox``: Cox model with the cumulative BED as a time-varying covariate (Wald).

Output: ``validation/null_effect_bed.csv``, one row per seed and endpoint (small; committed), read
by :func:`iluminet.report.trial_statistics.null_effect_summary` for notebook 04.

Run: .venv/bin/python validation/null_effect_bed.py [--seeds 1-50] [--jobs 2]
(≈ 7 s of CPU per seed.)
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from iluminet.synthetic.trial import CohortParameters, generate_cohort
from iluminet.trial.bed_effect import bed_effect_analyses
from iluminet.trial.efficacy import EfficacyOptions, endpoint_table
from iluminet.trial.schema import Cohort
from iluminet.trial.survival import KaplanMeier, logrank_test
from iluminet.trial.tables import patient_characteristics

NULL_BED = {"hr_bed_25_29": 1.0, "hr_bed_over_29": 1.0, "death_hr_bed_25_29": 1.0,
            "death_hr_bed_over_29": 1.0}


def seed_range(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def analysis_patients(c: Cohort) -> pd.DataFrame:
    """The efficacy analysis' per-patient table (characteristics, endpoints, evaluable sets) as
    :func:`iluminet.trial.efficacy.efficacy_analysis` builds it, without the response analyses
    this simulation does not need: the post-baseline assessments are the lesion-table dates after
    each patient's first (baseline) date, as :func:`iluminet.trial.recist.timepoint_responses`
    defines them."""
    options = EfficacyOptions()
    ch = patient_characteristics(c.patients, c.cycles, bed_edges=options.bed_edges_gy)
    visits = c.lesions[["patient_id", "assessment_date"]].drop_duplicates()
    visits = visits[visits["patient_id"].isin(ch.index)]
    first = visits.groupby("patient_id")["assessment_date"].transform("min")
    post = visits[visits["assessment_date"] > first].groupby("patient_id")["assessment_date"]
    assessments = pd.DataFrame({"n_post_assessments": post.size(),
                                "last_assessment_date": post.max()}).reindex(ch.index)
    assessments["n_post_assessments"] = assessments["n_post_assessments"].fillna(0).astype(int)
    return ch.join(endpoint_table(ch, c.events, assessments, options))


def one_seed(seed: int, parameters: CohortParameters) -> list[dict[str, object]]:
    c = generate_cohort(seed=seed, parameters=parameters, fast=True, safety=False).validated()
    data = analysis_patients(c)
    # the same analyses as the efficacy report, only the models whose p-values are counted
    bed = bed_effect_analyses(data, c.cycles, landmark_months=(12.0, 18.0),
                              adjusted=False, univariable=("bed_group",), ph_test=False)
    p = bed.bed_p_values()
    rows = []
    for ep in ("pfs", "os"):
        d = data if ep == "os" else data[data["pfs_evaluable"].astype(bool)]
        lr = logrank_test(d[f"{ep}_months"], d[f"{ep}_event"], d["bed_group"])
        med = d.groupby("bed_group", observed=False)[[f"{ep}_months", f"{ep}_event"]].apply(
            lambda g: KaplanMeier().fit(g.iloc[:, 0], g.iloc[:, 1]).median_ if len(g) else None)
        rows.append({
            "seed": seed, "endpoint": ep, "naive_logrank": lr.p_value,
            "naive_cox_group": p[f"{ep}_naive_cox_group"],
            "landmark_12_logrank": p.get(f"{ep}_landmark_12_logrank", float("nan")),
            "landmark_18_logrank": p.get(f"{ep}_landmark_18_logrank", float("nan")),
            "time_varying_cox": p[f"{ep}_time_varying_cox"],
            "median_low_bed_months": med.get("< 25 Gy"), "median_mid_bed_months":
                med.get("25–29 Gy"),
        })
    return rows


PARTS = Path(__file__).with_name("null_effect_bed_parts")  # per-seed results (git-ignored)


def _run(seed: int) -> list[dict[str, object]]:
    part = PARTS / f"seed_{seed:03d}.csv"
    if part.is_file():  # resume an interrupted run
        return list(pd.read_csv(part).to_dict(orient="records"))
    rows = one_seed(seed, dataclasses.replace(CohortParameters(), **NULL_BED))
    PARTS.mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(part, index=False, float_format="%.10g")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1-50")
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".csv")))
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    args = ap.parse_args(argv)
    seeds = seed_range(args.seeds)
    rows: list[dict[str, object]] = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for seed, result in zip(seeds, pool.map(_run, seeds), strict=True):
            rows.extend(result)
            print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr,
                  flush=True)
    table = pd.DataFrame(rows).sort_values(["seed", "endpoint"], ascending=[True, False])
    table.to_csv(args.out, index=False, float_format="%.6g")
    shutil.rmtree(PARTS, ignore_errors=True)
    from iluminet.report.trial_statistics import format_null_effect, null_effect_summary

    print(format_null_effect(null_effect_summary(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
