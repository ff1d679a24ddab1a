"""Benchmark: a 10 000-patient synthetic cohort read from CSV and validated, its efficacy analysis
and its safety analysis, each timed in one process (no notebook kernel).

The cohort is generated once (``iluminet simulate cohort --patients N --fast``) into a cache folder
and reused. Each step is run ``--repeat`` times; min / median / max wall seconds are printed with
the machine, the date and the load average, because figures on a shared machine are noisy.

Run: .venv/bin/python benchmarks/bench_cohort_10k.py [--patients 10000] [--repeat 3]
     [--folder /tmp/iluminet-bench-cohort-10000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_CPU: dict[int, list[float]] = {}


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """Wall times of ``repeat`` runs; the process CPU times of the same runs are kept beside them
    (on a shared machine the CPU time is the steadier figure: waiting for a core is not in it)."""
    times, cpu, result = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    _CPU[id(times)] = cpu
    return times, result


def spread(times: list[float]) -> str:
    cpu = _CPU.get(id(times), [])
    text = (f"wall median {statistics.median(times):.2f} s (min {min(times):.2f}, "
            f"max {max(times):.2f}; {len(times)} runs)")
    if cpu:
        text += (f", cpu median {statistics.median(cpu):.2f} s (min {min(cpu):.2f}, "
                 f"max {max(cpu):.2f})")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--profile", action="store_true", help="print the top of a profile")
    args = parser.parse_args()
    folder = args.folder or Path(f"/tmp/iluminet-bench-cohort-{args.patients}-s{args.seed}")
    print(machine())
    if not (folder / "lesions.csv").is_file():
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "iluminet.workbook.cli", "simulate", "cohort",
                        "--seed", str(args.seed), "--patients", str(args.patients), "--fast",
                        "--out", str(folder), "--force", "--no-comparison"], check=True)
        print(f"generated {folder} in {time.perf_counter() - start:.0f} s")

    from iluminet.trial.efficacy import efficacy_analysis
    from iluminet.trial.safety import safety_analysis
    from iluminet.trial.schema import read_cohort

    t_read, cohort = timed(lambda: read_cohort(folder), args.repeat)
    print(f"read_cohort + validation, {len(cohort.patients)} patients, {len(cohort.lesions)} "
          f"lesion rows, {len(cohort.labs)} lab rows: {spread(t_read)}")
    t_eff, eff = timed(lambda: efficacy_analysis(cohort.patients, cohort.cycles, cohort.lesions,
                                                 cohort.events), args.repeat)
    print(f"efficacy_analysis, {eff.counts['treated']} treated: {spread(t_eff)}")
    t_saf, saf = timed(lambda: safety_analysis(cohort.patients, cohort.cycles, cohort.events,
                                               cohort.labs, cohort.adverse_events), args.repeat)
    print(f"safety_analysis, {saf.n_treated} treated: {spread(t_saf)}")
    if args.profile:
        for name, fn in (("efficacy", lambda: efficacy_analysis(
                cohort.patients, cohort.cycles, cohort.lesions, cohort.events)),
                ("safety", lambda: safety_analysis(cohort.patients, cohort.cycles, cohort.events,
                                                   cohort.labs, cohort.adverse_events)),
                ("read", lambda: read_cohort(folder))):
            prof = cProfile.Profile()
            prof.runcall(fn)
            print(f"--- profile: {name}")
            pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    print(machine())


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _machine import machine

    main()
