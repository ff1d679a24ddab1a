"""Benchmark: quality of life — simulating the questionnaires of the demo-sized cohort,
validating the qol table, scoring every form and the whole analysis (windows, means, responders,
time to deterioration, mixed model).

Run: .venv/bin/python benchmarks/bench_qol.py [--data data/demo/cohort]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from iluminet.synthetic.trial.qol import simulate_qol
from iluminet.trial import read_cohort
from iluminet.trial.qol_analysis import qol_analysis, score_qol
from iluminet.trial.schema import TABLES, validate_table


def _time(label: str, func: Callable[[], Any], repeat: int = 3) -> Any:
    timings, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        timings.append(time.perf_counter() - start)
    print(f"{label}: median {statistics.median(timings):.2f} s over {repeat} run(s)")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data/demo/cohort"))
    args = parser.parse_args()
    cohort = read_cohort(args.data)
    forms = cohort.qol.groupby(["patient_id", "visit", "questionnaire"]).ngroups
    print(f"{len(cohort.qol)} item rows, {forms} forms")
    _time("simulate questionnaires", lambda: simulate_qol(
        cohort.patients, cohort.cycles, cohort.events, cohort.adverse_events, seed=25))
    _time("validate qol table (column rules)", lambda: validate_table(cohort.qol, TABLES["qol"]))
    _time("score every form", lambda: score_qol(cohort.qol, cohort.patients))
    tracemalloc.start()
    _time("whole QoL analysis", lambda: qol_analysis(cohort.patients, cohort.cycles,
                                                     cohort.events, cohort.qol))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"whole QoL analysis: peak traced memory {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
