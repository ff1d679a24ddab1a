"""The synthetic trial over seeds 1–50: every "paper vs this run" quantity per seed, for the
calibrated model and (treatment flow and BED split only) the model with the published kidney
spread (``generate_cohort(kidney_spread="published")``).

Output: ``validation/paper_ensemble.csv`` (one row per seed and spread; committed), summarised by
:func:`iluminet.synthetic.trial.ensemble.ensemble_summary` and
:func:`~iluminet.synthetic.trial.ensemble.kidney_spread_comparison` in notebook 04.

Run: .venv/bin/python validation/paper_ensemble.py [--seeds 1-50] [--jobs 2]
(≈ 8 s of CPU per seed; closed-form dosimetry, no laboratory simulation.)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from iluminet.synthetic.trial import generate_cohort
from iluminet.synthetic.trial.ensemble import (
    ensemble_row,
    ensemble_summary,
    format_ensemble,
    format_kidney_spread,
    kidney_spread_comparison,
)

PARTS = Path(__file__).with_name("paper_ensemble_parts")  # per-seed results (git-ignored)


def _run(seed: int) -> list[dict[str, object]]:
    part = PARTS / f"seed_{seed:03d}.csv"
    if part.is_file():  # resume an interrupted run
        return list(pd.read_csv(part).to_dict(orient="records"))
    rows: list[dict[str, object]] = []
    for spread, full in (("calibrated", True), ("published", False)):
        cohort = generate_cohort(seed=seed, fast=True, safety=False,
                                 kidney_spread=spread).validated()
        rows.append({"seed": seed, "kidney_spread": spread, **ensemble_row(cohort, full=full)})
    PARTS.mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(part, index=False, float_format="%.10g")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1-50")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).with_suffix(".csv")))
    args = ap.parse_args(argv)
    lo, _, hi = args.seeds.partition("-")
    seeds = list(range(int(lo), int(hi or lo) + 1))
    rows: list[dict[str, object]] = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for seed, result in zip(seeds, pool.map(_run, seeds), strict=True):
            rows.extend(result)
            print(f"seed {seed} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr,
                  flush=True)
    pd.DataFrame(rows).to_csv(args.out, index=False, float_format="%.6g")
    shutil.rmtree(PARTS, ignore_errors=True)
    print(format_ensemble(ensemble_summary(args.out)))
    print()
    print(format_kidney_spread(kidney_spread_comparison(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
