"""Red-marrow dosimetry: accuracy on virtual patients with marrow truth, and timings.

Accuracy (independent simulation, iluminet.synthetic.virtual.marrow): blood-based and image-based
marrow TIA against the truth, mean / SD / max of the relative error over n patients, without and
with a vertebral lesion, noise-free and with Poisson noise. Timings: one blood-curve fit, one
virtual patient (phantom + SPECT), one patient's marrow chain on the demo data.

Run: .venv/bin/python benchmarks/bench_marrow.py [--n 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from iluminet.patient.marrow import BloodCurveFitter
from iluminet.synthetic.virtual.marrow import evaluate_marrow_methods, simulate_marrow_patient


def _time(label: str, func, repeat: int = 5) -> None:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        timings.append(time.perf_counter() - start)
    print(f"{label}: median {1000 * statistics.median(timings):.1f} ms over {repeat} run(s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30)
    n = parser.parse_args().n
    t = np.array([0.5, 2.0, 6.0, 24.0, 168.0])
    c = 1.0 * np.exp(-0.45 * t) + 0.01 * np.exp(-0.012 * t)
    _time("blood-curve fit (auto, 5 samples)", lambda: BloodCurveFitter("auto").fit(t, c), 50)
    _time("virtual marrow patient (phantom + SPECT)", lambda: simulate_marrow_patient(1), 3)
    for lesion in (False, True):
        for noise in (False, True):
            df = pd.DataFrame(evaluate_marrow_methods(range(100, 100 + n), lesion=lesion,
                                                      noise=noise))
            print(f"lesion={lesion} noise={noise} n={len(df)}; flag fired {int(df.flag.sum())}")
            for col in ("blood_ratio", "image_ratio", "image_ratio_no_exclusion",
                        "vertebral_level_ratio"):
                e = 100 * (df[col] - 1)
                print(f"  {col:26s} mean {e.mean():+6.1f} %  SD {e.std():5.1f} %  "
                      f"max|e| {e.abs().max():5.1f} %  "
                      f"share within 15 % {np.mean(e.abs() <= 15):.2f}"
                      f", within 20 % {np.mean(e.abs() <= 20):.2f}")


if __name__ == "__main__":
    main()
