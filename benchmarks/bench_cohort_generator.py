"""Benchmark: the synthetic cohort generator (97 patients with the kinetic fit and with the
closed form; 10 000 patients with the closed form), writing/reading with validation, and the
paper comparison.

Run: .venv/bin/python benchmarks/bench_cohort_generator.py [--large N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from iluminet.synthetic.trial.generator import generate_cohort, paper_comparison
from iluminet.trial import read_cohort, write_cohort


def _time(label: str, func, repeat: int = 1):
    timings, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        timings.append(time.perf_counter() - start)
    print(f"{label}: median {statistics.median(timings):.2f} s over {repeat} run(s)")
    return result


def main() -> None:
    print(machine())
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--large", type=int, default=10_000, help="size of the large cohort")
    args = parser.parse_args()
    cohort = _time("97 patients, kinetic fit", lambda: generate_cohort(), repeat=3)
    _time("97 patients, closed form (fast)", lambda: generate_cohort(fast=True), repeat=3)
    with tempfile.TemporaryDirectory() as tmp:
        _time("write 97 (validate + atomic CSV)", lambda: write_cohort(cohort, Path(tmp) / "c",
                                                                      force=True), repeat=3)
        _time("read 97 (parse + validate)", lambda: read_cohort(Path(tmp) / "c"), repeat=3)
    _time("paper comparison (RECIST + survival)", lambda: paper_comparison(cohort), repeat=3)
    big = _time(f"{args.large} patients, closed form (fast)",
                lambda: generate_cohort(n_enrolled=args.large, fast=True))
    print(f"  rows: cycles {len(big.cycles)}, kidney_activity {len(big.kidney_activity)}, "
          f"lesions {len(big.lesions)}")
    with tempfile.TemporaryDirectory() as tmp:
        _time(f"write {args.large}", lambda: write_cohort(big, Path(tmp) / "c"))
        _time(f"read {args.large}", lambda: read_cohort(Path(tmp) / "c"))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import machine

    main()
