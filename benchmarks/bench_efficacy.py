"""Benchmark: wall time of the cohort efficacy analysis (no notebook kernel), for the 96-patient
synthetic trial and for a 10 000-patient cohort.

The large cohort is generated directly when the generator accepts a cohort size; otherwise the
96-patient tables are replicated with new patient IDs (same dates and measurements), which keeps
the table shapes of a real trial.

The BED analyses (landmarks, Cox models with Schoenfeld tests, time-varying Cox; target ≤ 10 s
for 10 000 patients) are timed apart, ``--repeat`` times, with wall and process CPU seconds.

Run: .venv/bin/python benchmarks/bench_efficacy.py [--large 10000] [--repeat 3]
     [--cache /tmp/iluminet-bench-efficacy-10000.pkl]   (reuse the generated cohort, ≈ 5 min)
"""

from __future__ import annotations

import argparse
import inspect
import math
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pandas as pd

from iluminet.trial.efficacy import efficacy_analysis

TABLES = ("patients", "cycles", "lesions", "events")


def _tables(cohort: Any) -> dict[str, pd.DataFrame]:
    return {name: getattr(cohort, name) for name in TABLES}


def _generate(n: int, seed: int) -> dict[str, pd.DataFrame] | None:
    """A generated cohort of ``n`` enrolled patients (closed-form dosimetry for speed), or None
    if the generator does not take a cohort size."""
    from iluminet.synthetic.trial import generate_cohort

    params = inspect.signature(generate_cohort).parameters
    if "n_enrolled" not in params:
        return None
    extra = {"fast": True} if "fast" in params else {}
    if "safety" in params:  # the laboratory simulation is not read by the efficacy analysis
        extra["safety"] = False
    return _tables(generate_cohort(seed=seed, n_enrolled=n, **extra))


def replicate(tables: dict[str, pd.DataFrame], n_target: int) -> dict[str, pd.DataFrame]:
    """Copies of every table with patient IDs suffixed ``-r<k>`` until ``n_target`` enrolled."""
    n = len(tables["patients"])
    copies = math.ceil(n_target / n)
    out = {}
    for name, df in tables.items():
        parts = []
        for k in range(copies):
            part = df.copy()
            part["patient_id"] = part["patient_id"].astype(str) + f"-r{k}"
            parts.append(part)
        out[name] = pd.concat(parts, ignore_index=True)
    keep = set(out["patients"]["patient_id"].iloc[:n_target])
    return {name: df[df["patient_id"].isin(keep)].reset_index(drop=True)
            for name, df in out.items()}


def timed(tables: dict[str, pd.DataFrame], repeat: int) -> tuple[list[float], Any]:
    """Wall times of ``repeat`` runs (no tracing: tracemalloc slows pandas several-fold)."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = efficacy_analysis(**tables)
        times.append(time.perf_counter() - start)
    return times, result


def peak_memory_mb(tables: dict[str, pd.DataFrame]) -> float:
    """Peak memory traced by ``tracemalloc`` during one run (a separate, slower run)."""
    tracemalloc.start()
    efficacy_analysis(**tables)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    print(machine())
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=10_000, help="size of the large cohort")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the 96-patient analysis")
    parser.add_argument("--seed", type=int, default=20220422)
    parser.add_argument("--cache", type=Path, default=None,
                        help="pickle of the large cohort's tables: read if present, else written")
    args = parser.parse_args()
    from iluminet.synthetic.trial import generate_cohort

    start = time.perf_counter()
    trial = _tables(generate_cohort(seed=args.seed))
    print(f"generated the synthetic trial ({len(trial['patients'])} enrolled) in "
          f"{time.perf_counter() - start:.1f} s")
    times, result = timed(trial, args.repeat)
    print(f"efficacy_analysis, {result.counts['treated']} treated, "
          f"{len(trial['lesions'])} lesion rows: median {statistics.median(times):.2f} s "
          f"(min {min(times):.2f}, max {max(times):.2f}; {len(times)} runs); "
          f"peak traced memory {peak_memory_mb(trial):.0f} MB")

    start = time.perf_counter()
    large, how = None, "generated"
    if args.cache is not None and args.cache.is_file():
        large, how = pd.read_pickle(args.cache), f"read from {args.cache}"
    if large is None:
        large = _generate(args.large, args.seed)
        if large is not None and args.cache is not None:
            pd.to_pickle(large, args.cache)
    if large is None:
        large, how = replicate(trial, args.large), "replicated from the trial"
    print(f"{how}: {len(large['patients'])} enrolled, {len(large['lesions'])} lesion rows "
          f"({time.perf_counter() - start:.1f} s)")
    start_cpu = time.process_time()
    times, result = timed(large, 1)
    print(f"efficacy_analysis, {result.counts['treated']} treated: wall {times[0]:.1f} s, "
          f"cpu {time.process_time() - start_cpu:.1f} s (BED analyses included)")
    bed_effect_timing(result, large, args.repeat)


def bed_effect_timing(result: Any, tables: dict[str, pd.DataFrame], repeat: int = 1
                      ) -> list[float]:
    """Wall (and CPU) times of the BED analyses alone (landmarks, naive/adjusted Cox with
    Schoenfeld tests, time-varying Cox), as ``efficacy_analysis`` runs them; target ≤ 10 s for
    10 000 patients."""
    from iluminet.trial.bed_effect import bed_effect_analyses

    walls, cpus = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        bed = bed_effect_analyses(result.patients, tables["cycles"],
                                  landmark_months=result.options.landmark_times_months)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    print(f"BED analyses (landmark {list(result.options.landmark_times_months)} months, "
          f"{bed.cox_tests.shape[0]} Cox models, {len(bed.cox)} coefficient rows), "
          f"{result.counts['treated']} treated: wall median {statistics.median(walls):.2f} s "
          f"(min {min(walls):.2f}, max {max(walls):.2f}), cpu median "
          f"{statistics.median(cpus):.2f} s (min {min(cpus):.2f}, max {max(cpus):.2f}); "
          f"{repeat} runs; target ≤ 10 s")
    return walls


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import machine

    main()
